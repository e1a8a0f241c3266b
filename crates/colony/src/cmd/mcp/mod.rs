//! `colony mcp`: colony as an MCP server on stdio, and `colony mcp
//! install`, which adds it to an agent client's configuration.
//!
//! [`tools`] is what each tool takes and the command it runs (pure),
//! [`server`] the handler that runs them and follows the event log for
//! resource notifications, [`install`] the clients' configuration files.
//! [`attempt`] is the server an attempt's agent starts: a pipe to the
//! colony running it (`colony_engine::talk`).

mod attempt;
mod install;
mod server;
mod tools;

use std::io::IsTerminal;

use anyhow::{Context, Result};
use rmcp::ServiceExt;

use crate::cli::{Global, McpAction, McpArgs};
use crate::ctx::Ctx;

pub async fn run(global: &Global, args: McpArgs) -> Result<()> {
    match args.action {
        Some(McpAction::Install(args)) => {
            let out = &mut crate::terminal::Safe::new(std::io::stdout().lock());
            install::run(global, args, out)
        }
        Some(McpAction::Attempt) => attempt::run().await,
        None => serve(global).await,
    }
}

/// Serves until the client closes standard input.
async fn serve(global: &Global) -> Result<()> {
    let ctx = Ctx::new(global)?;
    if std::io::stdin().is_terminal() {
        eprintln!(
            "colony mcp speaks MCP on standard input and output, for an agent client to start; \
             `colony mcp install CLIENT` adds it to one (docs/mcp.md). Ctrl-D ends it."
        );
    }
    let server = server::Server::new(ctx, global.store.clone()).await.context("could not start the MCP server")?;
    let running = server.serve(rmcp::transport::stdio()).await.context("the MCP client did not initialize")?;
    running.waiting().await.context("the MCP session ended in error")?;
    Ok(())
}
