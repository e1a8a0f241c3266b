//! Running a store call again: at once on a transient conflict, and, for a
//! patient store, after a growing wait while the database cannot be
//! reached or written.
//!
//! A shared PostgreSQL server restarts, a network blinks, an administrator
//! ends a session, the disk under the database fills up: none of it is the
//! fault of the task at hand, so a run must not fail one for it. A store
//! made [`patient`](crate::SqlStore::patient) runs each call again, waiting
//! 250 ms and doubling up to 5 s, for as long as the error is a connection
//! error or a full disk, and says so (at most once a second) until its stop
//! token is cancelled; then the call gives up with its error. Claims wait
//! like every other call, so a full disk pauses new work until there is
//! room again. Other errors pass through at once. A command a person runs
//! uses the store as opened, which waits for nothing.
//!
//! A write whose commit reached the server but whose answer was lost is
//! run again too; the fencing makes that harmless: the second `complete`
//! or `fail` of an attempt finds the task moved on and changes nothing,
//! and a phase change or approval request found already made counts as
//! made (see [`Retry::after_outage`]). A claim lost that way leaves its
//! task leased to no one until the lease runs out and the rescuer hands it
//! on.

use std::ops::ControlFlow;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::error::StoreError;
use crate::tx::Result;

/// Conflicts (deadlock, busy) are retried this many times.
const TRANSIENT_RETRIES: u32 = 12;
/// The first wait after a connection error; it doubles up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(250);
const MAX_WAIT: Duration = Duration::from_secs(5);
/// Many calls fail at once when the store goes away; one notice a second
/// says it.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// What a patient store tells its owner while the database is away.
#[derive(Debug, Clone, Copy)]
pub enum Outage<'a> {
    /// A call failed with `error` (a connection error or a full disk) and
    /// runs again after `retry_in`.
    Waiting { error: &'a StoreError, retry_in: Duration },
    /// A call went through after an outage that was said; `disk_full`
    /// when that outage was a full disk.
    Over { disk_full: bool },
}

/// How a patient store waits: whom it tells, and what ends its waiting.
pub struct Patience {
    say: Box<dyn Fn(Outage<'_>) + Send + Sync>,
    /// Cancelled when the owner must stop at once: a call still failing
    /// then gives up with its error.
    stop: CancellationToken,
    /// When the last outage was said, and whether it was a full disk.
    last_report: Mutex<Option<(Instant, bool)>>,
}

impl Patience {
    pub fn new(say: impl Fn(Outage<'_>) + Send + Sync + 'static, stop: CancellationToken) -> Self {
        Patience { say: Box::new(say), stop, last_report: Mutex::new(None) }
    }

    /// Says the outage unless one was said less than a second ago.
    fn report(&self, error: &StoreError, retry_in: Duration) {
        let mut last = self.last_report.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|(at, _)| at.elapsed() < REPORT_EVERY) {
            return;
        }
        *last = Some((Instant::now(), error.is_disk_full()));
        (self.say)(Outage::Waiting { error, retry_in });
    }

    /// Says that the outage said last is over, once.
    fn recovered(&self) {
        let last = self.last_report.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some((_, disk_full)) = last {
            (self.say)(Outage::Over { disk_full });
        }
    }
}

/// One call's tries: how many transient conflicts it met, how long it
/// waits next for the database, and whether it waited at all.
pub(crate) struct Retry {
    conflicts: u32,
    wait: Duration,
    waited: bool,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { conflicts: 0, wait: FIRST_WAIT, waited: false }
    }
}

impl Retry {
    /// An earlier try of this call failed on the connection or a full
    /// disk, so its commit may have landed unseen: a write that finds its
    /// change made already takes it as its own.
    pub(crate) fn after_outage(&self) -> bool {
        self.waited
    }

    /// Decides on a try's `outcome`: `Continue` to run the call again
    /// (after the wait it calls for), `Break` with the call's result.
    pub(crate) async fn again<T>(&mut self, outcome: Result<T>, patience: Option<&Patience>) -> ControlFlow<Result<T>> {
        match outcome {
            Err(e) if e.is_transient() && self.conflicts < TRANSIENT_RETRIES => {
                self.conflicts += 1;
                tokio::time::sleep(Duration::from_millis(2u64 << self.conflicts.min(8))).await;
                ControlFlow::Continue(())
            }
            Err(e) if e.is_connection() || e.is_disk_full() => match patience.filter(|p| !p.stop.is_cancelled()) {
                Some(patience) => self.wait(e, patience).await,
                None => ControlFlow::Break(Err(e)),
            },
            other => {
                if let Some(patience) = patience.filter(|_| self.waited) {
                    patience.recovered();
                }
                ControlFlow::Break(other)
            }
        }
    }

    /// Says the outage `e` and waits it out, or gives up with `e` when
    /// the patience's stop token is cancelled first.
    async fn wait<T>(&mut self, e: StoreError, patience: &Patience) -> ControlFlow<Result<T>> {
        self.waited = true;
        patience.report(&e, self.wait);
        tokio::select! {
            () = tokio::time::sleep(self.wait) => {}
            () = patience.stop.cancelled() => return ControlFlow::Break(Err(e)),
        }
        self.wait = (self.wait * 2).min(MAX_WAIT);
        ControlFlow::Continue(())
    }
}
