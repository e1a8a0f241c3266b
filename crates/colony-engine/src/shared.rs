//! What the workers and attempts of one engine share: the [`Base`] every
//! part builds on, the merge queue, and the run's own bookkeeping (worker
//! slots, wakeups, pacing, room on the disk, the watch on the checkout).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::sync::Mutex;

use crate::base::Base;
use crate::error::EngineError;
use crate::pacing::Pacing;
use crate::queue::Queue;

pub(crate) struct Inner<S> {
    pub base: Base<S>,
    pub queue: Queue,
    /// Rung when an attempt of this process ends: its dependents may have
    /// become ready, so idle workers look at once rather than at their next
    /// poll (which still catches work other processes free).
    pub attempt_ended: tokio::sync::Notify,
    /// Rung when the store says tasks became claimable (PostgreSQL's
    /// NOTIFY, from any process on any machine).
    pub ready: tokio::sync::Notify,
    /// The store's wakeups are coming in: idle workers need only poll now
    /// and then (for retry times and the run's end), not every `idle_poll`.
    pub listening: AtomicBool,
    /// Cancelled when the run must stop at once: store calls stop waiting
    /// out connection errors.
    pub stop_now: tokio_util::sync::CancellationToken,
    pub pacing: Pacing,
    /// New work waits while the disk has no room.
    pub room: crate::room::Room,
    /// The user's checkout, watched for agents that write outside their
    /// worktrees.
    pub watch: crate::watch::Watch,
    /// Worker slots not in use: a worker whose attempt waits to merge
    /// takes another (see `Inner::run_attempt`).
    pub free_slots: std::sync::Mutex<std::collections::BTreeSet<usize>>,
    pub next_slot: std::sync::atomic::AtomicUsize,
    /// Attempts whose worker moved on while they merge or wait out a
    /// rate limit.
    pub merging: std::sync::Mutex<Vec<tokio::task::JoinHandle<Result<(), EngineError>>>>,
    /// One permit per worker: held by an attempt while its agent may run,
    /// given back while it waits (a rate limit) or merges, so that tasks
    /// for other agents go on.
    pub slots: Arc<tokio::sync::Semaphore>,
    /// Each agent's version as its `--version` says, asked once a run.
    pub versions: Mutex<HashMap<String, Option<String>>>,
    /// Worktree setup commands that failed in a row.
    pub setup_failures: crate::base::setup::Failures,
    /// The keys of attempts whose agents may talk back, and their socket.
    pub talk: crate::talk::Talk,
}

impl<S> Inner<S> {
    pub(crate) fn new(base: Base<S>, queue: Queue, stop_now: tokio_util::sync::CancellationToken) -> Self {
        let workers = base.settings.workers.max(1);
        let watch = crate::watch::Watch::new(base.settings.sandbox.is_none());
        Inner {
            base,
            queue,
            attempt_ended: tokio::sync::Notify::new(),
            ready: tokio::sync::Notify::new(),
            listening: AtomicBool::new(false),
            stop_now,
            pacing: Pacing::default(),
            room: crate::room::Room::default(),
            watch,
            free_slots: std::sync::Mutex::new(Default::default()),
            next_slot: std::sync::atomic::AtomicUsize::new(0),
            merging: std::sync::Mutex::new(Vec::new()),
            slots: Arc::new(tokio::sync::Semaphore::new(workers)),
            versions: Mutex::new(HashMap::new()),
            setup_failures: crate::base::setup::Failures::default(),
            talk: crate::talk::Talk::default(),
        }
    }
}

/// The run's parts reach the store, git and the settings as its own.
impl<S> std::ops::Deref for Inner<S> {
    type Target = Base<S>;

    fn deref(&self) -> &Base<S> {
        &self.base
    }
}
