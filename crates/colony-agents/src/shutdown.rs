//! Stopping a run: first gracefully, then at once. It lives beside the
//! supervision of the children it stops so that the engine, which runs
//! them, and the dashboard, which may ask for the stop, share one type
//! without the dashboard depending on the engine.

use tokio_util::sync::CancellationToken;

/// Shared by everything in a run. `drain` stops claiming new work and lets
/// running attempts finish (up to the shutdown grace); `now` stops the
/// agents and gates at once, and their tasks go back to `ready`.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    drain: CancellationToken,
    now: CancellationToken,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// The first Ctrl-C or SIGTERM.
    pub fn drain(&self) {
        self.drain.cancel();
    }

    /// A second Ctrl-C, or the grace period running out.
    pub fn now(&self) {
        self.drain.cancel();
        self.now.cancel();
    }

    pub fn is_draining(&self) -> bool {
        self.drain.is_cancelled()
    }

    pub fn is_stopping_now(&self) -> bool {
        self.now.is_cancelled()
    }

    pub async fn draining(&self) {
        self.drain.cancelled().await;
    }

    pub async fn stopping_now(&self) {
        self.now.cancelled().await;
    }

    /// A token cancelled when the run must stop at once; an attempt adds its
    /// own reasons (a lost lease) by cancelling it too.
    pub fn attempt_token(&self) -> CancellationToken {
        self.now.child_token()
    }
}
