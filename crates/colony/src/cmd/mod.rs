//! One file per command; [`run`] dispatches to them.

mod add;
mod change;
mod completions;
mod demo;
mod detach;
mod doctor;
mod events;
mod export;
mod init;
mod land;
mod list;
mod logs;
mod mcp;
mod plan;
mod prompts;
mod replan;
mod report;
mod run;
mod serve;
mod show;
mod status;
mod worker;

use anyhow::Result;
use colony_store::Request;

use crate::cli::{Cli, Command};
use crate::ctx::Ctx;

pub async fn run(cli: Cli) -> Result<()> {
    // The MCP server speaks its protocol on stdout from another thread, so
    // it must not run under the stdout lock taken below.
    if let Command::Mcp(args) = cli.command {
        return mcp::run(&cli.global, args).await;
    }
    // Everything a command prints passes through the one terminal filter.
    let out = &mut crate::terminal::Safe::new(std::io::stdout().lock());
    // Every command but `completions` and `demo` works in a repository.
    let ctx = || Ctx::new(&cli.global);
    match cli.command {
        Command::Init => init::run(&ctx()?, out).await,
        Command::Plan(args) => plan::run(&ctx()?, args, out).await,
        Command::Replan(args) => replan::run(&ctx()?, args, out).await,
        Command::Add(args) => add::run(&ctx()?, args, out).await,
        Command::Run(args) => run::run(&ctx()?, args, out).await,
        Command::Serve(args) => serve::run(&ctx()?, args, out).await,
        Command::Stop(args) => detach::stop(&ctx()?, args, out).await,
        Command::Attach => detach::attach(&ctx()?, out).await,
        Command::Worker(args) => worker::run(&ctx()?, args, out).await,
        Command::List(args) => list::run(&ctx()?, args, out).await,
        Command::Show(args) => show::run(&ctx()?, args, out).await,
        Command::Status(args) => status::run(&ctx()?, args, out).await,
        Command::Logs(args) => logs::run(&ctx()?, args, out).await,
        Command::Events(args) => events::run(&ctx()?, args, out).await,
        Command::Retry(args) => change::run(&ctx()?, Request::Retry(args.ids), out).await,
        Command::Cancel(args) => change::run(&ctx()?, Request::Cancel(args.ids), out).await,
        Command::Kill(args) => change::run(&ctx()?, Request::Kill(args.ids), out).await,
        Command::Approve(args) => change::run(&ctx()?, Request::Approve(args.id), out).await,
        Command::Answer(args) => {
            let text = change::answer_text(args.text)?;
            change::run(&ctx()?, Request::Answer { task: args.id, text }, out).await
        }
        Command::Reject(args) => {
            change::run(&ctx()?, Request::Reject { task: args.id, feedback: args.feedback }, out).await
        }
        Command::Land(args) => land::run(&ctx()?, args, out).await,
        Command::PrFixes(args) => land::pr_fixes(&ctx()?, args, out).await,
        Command::Export(args) => export::run(&ctx()?, args, out).await,
        Command::Report(args) => report::run(&ctx()?, args, out).await,
        Command::Demo(args) => demo::run(args, out).await,
        Command::Doctor(args) => doctor::run(&cli.global, args, out).await,
        Command::Mcp(_) => unreachable!("handled above"),
        Command::Prompts(args) => prompts::run(&ctx()?, args, out),
        Command::Completions(args) => completions::run(&args, out),
    }
}
