//! Binding the address and serving until told to stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use colony_agents::Shutdown;
use colony_core::layout::Layout;
use colony_core::resolve::DefaultAgents;
use colony_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::{App, now};
use crate::error::WebError;
use crate::guard::Hosts;
use crate::hub::Hub;
use crate::token::Token;

/// The address `colony serve` uses unless told.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8765";

/// How often the event stream looks for new events.
pub const EVENT_POLL: Duration = Duration::from_millis(150);

/// What the server shows and may change.
pub struct ServeConfig {
    /// The repository's top level (where `.colony/` is).
    pub repo: PathBuf,
    /// The integration branch pattern, `colony/{plan}` by default.
    pub branch_pattern: String,
    /// The agent of tasks that name none.
    pub default_agents: DefaultAgents,
    pub token: Token,
    /// The run in this process, for `POST /api/run/stop`; `None` for a
    /// standalone `colony serve`.
    pub run: Option<Shutdown>,
    pub event_poll: Duration,
}

/// A bound, not yet serving, listener.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Server {
    /// Binds `addr` (port 0: any free port). A port in use is its own
    /// error, which says how to pick another.
    pub async fn bind(addr: SocketAddr) -> Result<Server, WebError> {
        let listener = TcpListener::bind(addr).await.map_err(|source| match source.kind() {
            std::io::ErrorKind::AddrInUse => WebError::AddrInUse { addr },
            _ => WebError::Bind { addr, source },
        })?;
        let addr = listener.local_addr().map_err(|source| WebError::Bind { addr, source })?;
        Ok(Server { listener, addr })
    }

    /// The address bound, with the port chosen when 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `stop` is cancelled; open event streams end then too.
    pub async fn serve<S: Store + 'static>(
        self,
        store: Arc<S>,
        config: ServeConfig,
        stop: CancellationToken,
    ) -> Result<(), WebError> {
        let from = store.last_seq().await?;
        let layout = Layout::new(config.repo);
        let app = Arc::new(App {
            hub: Hub::start(store.clone(), from, config.event_poll, stop.clone()),
            store,
            layout,
            token: config.token,
            hosts: Hosts::new(self.addr),
            branch_pattern: config.branch_pattern,
            default_agents: config.default_agents,
            run: config.run,
            started_at: now(),
        });
        axum::serve(self.listener, crate::routes::router(app))
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .map_err(WebError::Serve)
    }
}
