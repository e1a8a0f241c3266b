//! Hearing the user ask a long-running command to stop.
//!
//! Ctrl-C sends SIGINT; service managers and `timeout` send SIGTERM. Both
//! mean the same here. `events -f` and `logs -f` stop at the first;
//! `colony run` counts them: the first drains, the second stops at once.

use std::future::Future;

use anyhow::Result;

/// SIGINT and SIGTERM, as one stream of stop requests.
pub struct Interrupts {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Interrupts {
    /// Installs the handlers now, so a signal that arrives before the first
    /// wait is not lost (or left to kill the process).
    #[cfg(unix)]
    pub fn install() -> Result<Interrupts> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Interrupts { int: signal(SignalKind::interrupt())?, term: signal(SignalKind::terminate())? })
    }

    #[cfg(not(unix))]
    pub fn install() -> Result<Interrupts> {
        Ok(Interrupts {})
    }

    /// Waits for the next SIGINT or SIGTERM.
    #[cfg(unix)]
    pub async fn next(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }

    /// Waits for the next Ctrl-C.
    #[cfg(not(unix))]
    pub async fn next(&mut self) {
        // An error means no handler could be installed: then nothing stops
        // the command but closing it.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A future that resolves at the first SIGINT or SIGTERM; the handlers are
/// installed before this returns.
pub fn stop_requested() -> Result<impl Future<Output = ()>> {
    let mut interrupts = Interrupts::install()?;
    Ok(async move { interrupts.next().await })
}
