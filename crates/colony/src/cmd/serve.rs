//! `colony serve [--addr]`: the dashboard and its API, until Ctrl-C. Also
//! the dashboard of `colony run --serve`, which serves while it runs.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use colony_agents::Shutdown;
use colony_core::resolve::DefaultAgents;
use colony_store::SqlStore;
use colony_web::{EVENT_POLL, ServeConfig, Server, Token, WebError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cli::ServeArgs;
use crate::ctx::{Ctx, STATE_DIR};
use crate::exit::bad_input;
use crate::{settings, signal};

pub async fn run(ctx: &Ctx, args: ServeArgs, out: &mut impl Write) -> Result<()> {
    let config = settings::load_config(&ctx.root)?;
    let server = Dashboard::bind(args.addr).await?;
    let store = Arc::new(ctx.open_store().await?);
    let outcome = async {
        let dashboard = Dashboard::start(
            ctx,
            server,
            &store,
            &config.run.integration_branch,
            DefaultAgents::of(&config),
            None,
            out,
        )?;
        writeln!(out, "Ctrl-C stops the server")?;
        out.flush()?;
        signal::stop_requested()?.await;
        dashboard.stop().await
    }
    .await;
    store.close().await;
    outcome
}

/// A dashboard serving in the background.
pub struct Dashboard {
    stop: CancellationToken,
    serving: JoinHandle<Result<(), WebError>>,
}

impl Dashboard {
    /// Binds `addr`. Called before anything is written (the store opened,
    /// a plan imported, the token created), so that a taken or unusable
    /// address, which is bad input, leaves everything as it was.
    pub async fn bind(addr: SocketAddr) -> Result<Server> {
        Server::bind(addr).await.map_err(|e| match e {
            WebError::AddrInUse { .. } => bad_input(e.to_string()),
            WebError::Bind { .. } => bad_input(format!(
                "{e}: {}",
                std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default()
            )),
            other => other.into(),
        })
    }

    /// Serves the store on the bound `server`; prints the URL to open,
    /// which carries the token (`/?token=…` sets the cookie and drops it
    /// from the address bar).
    pub fn start(
        ctx: &Ctx,
        server: Server,
        store: &Arc<SqlStore>,
        branch_pattern: &str,
        default_agents: DefaultAgents,
        run: Option<Shutdown>,
        out: &mut dyn Write,
    ) -> Result<Dashboard> {
        let token = Token::load_or_create(&ctx.root.join(STATE_DIR)).map_err(|e| match e {
            // What is in the file, not the system, is wrong: bad input.
            WebError::EmptyToken { .. } | WebError::BadTokenFile { .. } => bad_input(e.to_string()),
            other => anyhow::Error::new(other).context("the dashboard's token"),
        })?;
        let bound = server.local_addr();
        writeln!(out, "dashboard: http://{bound}/?token={}", token.as_str())?;
        if !bound.ip().is_loopback() {
            writeln!(
                out,
                "warning: serving on {bound}: anyone who can reach it can read the dashboard; the controls still need the token"
            )?;
        }
        out.flush()?;
        let stop = CancellationToken::new();
        let config = ServeConfig {
            repo: ctx.root.clone(),
            branch_pattern: branch_pattern.to_owned(),
            default_agents,
            token,
            run,
            event_poll: EVENT_POLL,
        };
        let serving = tokio::spawn(server.serve(store.clone(), config, stop.clone()));
        Ok(Dashboard { stop, serving })
    }

    /// Stops serving: open pages see the server go.
    pub async fn stop(self) -> Result<()> {
        self.stop.cancel();
        self.serving.await.context("the dashboard panicked")?.context("the dashboard stopped on an error")
    }
}
