//! Waiting for the user to stop a long-running command (`events -f`).
//!
//! Ctrl-C sends SIGINT; service managers and `timeout` send SIGTERM. Either
//! ends the command cleanly, with exit code 0.

use std::future::Future;

use anyhow::Result;

/// Installs the handlers now, so a signal that arrives before the first
/// poll is not lost (or left to kill the process), and returns a future
/// that resolves when SIGINT or SIGTERM arrives.
#[cfg(unix)]
pub fn stop_requested() -> Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Returns a future that resolves on Ctrl-C.
#[cfg(not(unix))]
pub fn stop_requested() -> Result<impl Future<Output = ()>> {
    Ok(async {
        // An error means no handler could be installed: then nothing stops
        // the command but closing it.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}
