//! The run: recovery, the workers, the rescuer, and the report.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use colony_agents::LogWriter;
use colony_core::{Approval, PlanName, Review, TaskId, TaskSpec, TaskState, TaskStatus, Usage};
use colony_git::{Oid, Repo, branch_ref};
use colony_store::{Claim, Counts, Store, StoreError, TaskFilter};
use tokio::sync::Mutex;

use crate::attempt::{Attempt, ChosenAgent, Ending};
use crate::error::{EngineError, error_chain};
use crate::layout::{Layout, integration_branch};
use crate::pacing::Pacing;
use crate::review::Reviewers;
use crate::settings::Settings;
use crate::shutdown::Shutdown;

/// Times a failed `git worktree` command is tried again.
const WORKTREE_RETRIES: u64 = 3;

/// How often an idle worker looks for work while the store's wakeups come
/// in: for tasks whose retry time comes, and to see the run end.
const LISTENING_POLL: Duration = Duration::from_secs(1);
/// Waits between tries to listen to the store again.
const LISTEN_RETRY_FIRST: Duration = Duration::from_millis(500);
const LISTEN_RETRY_MAX: Duration = Duration::from_secs(10);

/// What a plan's attempts share.
#[derive(Debug, Clone)]
pub(crate) struct PlanRun {
    pub integration_branch: String,
    pub base: Option<String>,
    pub default_agent: Option<String>,
    pub default_model: Option<String>,
    pub default_timeout: Option<Duration>,
    pub default_review: Option<Review>,
    pub default_approval: Option<Approval>,
}

pub(crate) struct Inner<S> {
    /// Every call waits out connection errors and a full disk (see
    /// `patient.rs`).
    pub store: Arc<S>,
    pub repo: Repo,
    pub layout: Layout,
    pub settings: Settings,
    pub(crate) host: String,
    pub(crate) pid: u32,
    plans: Mutex<HashMap<PlanName, Arc<PlanRun>>>,
    /// Creating an integration branch is check-then-create; on a shared
    /// remote, fetches into it are queued here too (git cannot update one
    /// ref from two fetches at once).
    pub(crate) branch_gate: Mutex<()>,
    /// This process's merges queue here before the store's merge lock: a
    /// waiter wakes the moment the one before it lets go, instead of at its
    /// next poll of the store.
    pub(crate) merge_gate: Mutex<()>,
    /// Attempts waiting for their turn at `merge_gate`, for a merge train.
    pub(crate) platform: crate::train::Platform,
    /// See [`Inner::worktree_git`].
    worktree_gate: std::sync::Mutex<()>,
    /// Rung when an attempt of this process ends: its dependents may have
    /// become ready, so idle workers look at once rather than at their next
    /// poll (which still catches work other processes free).
    attempt_ended: tokio::sync::Notify,
    /// Rung when the store says tasks became claimable (PostgreSQL's
    /// NOTIFY, from any process on any machine).
    ready: tokio::sync::Notify,
    /// The store's wakeups are coming in: idle workers need only poll now
    /// and then (for retry times and the run's end), not every `idle_poll`.
    listening: AtomicBool,
    /// Cancelled when the run must stop at once: store calls stop waiting
    /// out connection errors.
    stop_now: tokio_util::sync::CancellationToken,
    pub(crate) pacing: Pacing,
    /// The integration tips this process's merges left, by branch.
    tips: std::sync::Mutex<HashMap<String, Oid>>,
    /// Which tasks the integration branches hold merged.
    pub(crate) merged: crate::merged::MergedIndex,
    /// New work waits while the disk has no room.
    room: crate::room::Room,
    /// The user's checkout, watched for agents that write outside their
    /// worktrees.
    pub(crate) watch: crate::watch::Watch,
    /// Worker slots not in use: a worker whose attempt waits to merge
    /// takes another (see [`Inner::run_attempt`]).
    free_slots: std::sync::Mutex<std::collections::BTreeSet<usize>>,
    next_slot: std::sync::atomic::AtomicUsize,
    /// Attempts whose worker moved on while they merge or wait out a
    /// rate limit.
    merging: std::sync::Mutex<Vec<tokio::task::JoinHandle<Result<(), EngineError>>>>,
    /// One permit per worker: held by an attempt while its agent may run,
    /// given back while it waits (a rate limit) or merges, so that tasks
    /// for other agents go on.
    pub(crate) slots: Arc<tokio::sync::Semaphore>,
    /// Notices said once a run.
    said: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Each agent's version as its `--version` says, asked once a run.
    pub(crate) versions: Mutex<HashMap<String, Option<String>>>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub counts: Counts,
    /// Failed tasks and why.
    pub failed: Vec<(TaskId, String)>,
    /// Blocked tasks and the task that blocks them.
    pub blocked: Vec<(TaskId, TaskId)>,
    /// Tasks whose checks passed, waiting for a person.
    pub awaiting: Vec<TaskId>,
    /// The integration branch of every plan in the store.
    pub branches: Vec<String>,
    pub wall: Duration,
    /// The run was asked to stop before the work ran out.
    pub interrupted: bool,
    /// What startup recovery found and did.
    pub recovered: Vec<String>,
    /// What this run's agents spent.
    pub usage: Usage,
    /// Why the run stopped taking new work before the work ran out: the
    /// budget was spent, or an agent could not log in.
    pub halted: Option<String>,
}

impl RunReport {
    /// Every task is done.
    pub fn all_done(&self) -> bool {
        self.counts.get(TaskStatus::Done) == self.counts.total
    }
}

/// Drives a store's tasks to the end with a number of workers.
pub struct Engine<S> {
    inner: Arc<Inner<S>>,
}

impl<S: Store + 'static> Engine<S> {
    pub fn new(store: Arc<S>, repo: Repo, settings: Settings) -> Self {
        let layout = Layout::new(repo.top_level());
        let settings_workers = settings.workers.max(1);
        let stop_now = tokio_util::sync::CancellationToken::new();
        Engine {
            inner: Arc::new(Inner {
                store: Arc::new(store.patient(crate::patient::patience(settings.notices.clone(), stop_now.clone()))),
                repo,
                layout,
                settings,
                host: hostname(),
                pid: std::process::id(),
                plans: Mutex::new(HashMap::new()),
                branch_gate: Mutex::new(()),
                merge_gate: Mutex::new(()),
                platform: crate::train::Platform::default(),
                worktree_gate: std::sync::Mutex::new(()),
                attempt_ended: tokio::sync::Notify::new(),
                ready: tokio::sync::Notify::new(),
                listening: AtomicBool::new(false),
                stop_now,
                pacing: Pacing::default(),
                tips: std::sync::Mutex::new(HashMap::new()),
                merged: crate::merged::MergedIndex::default(),
                room: crate::room::Room::default(),
                watch: crate::watch::Watch::default(),
                free_slots: std::sync::Mutex::new(Default::default()),
                next_slot: std::sync::atomic::AtomicUsize::new(0),
                merging: std::sync::Mutex::new(Vec::new()),
                slots: Arc::new(tokio::sync::Semaphore::new(settings_workers)),
                said: std::sync::Mutex::new(Default::default()),
                versions: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Runs until nothing is runnable, or until `shutdown` says stop.
    ///
    /// Needs tokio's multi-thread runtime: git and the gates' bookkeeping
    /// block, and the engine says so with `block_in_place`, which the
    /// current-thread runtime cannot honour.
    pub async fn run(&self, shutdown: Shutdown) -> Result<RunReport, EngineError> {
        if tokio::runtime::Handle::current().runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Err(EngineError::Runtime);
        }
        let started = Instant::now();
        let inner = &self.inner;
        let stop_now = {
            let (shutdown, stop) = (shutdown.clone(), inner.stop_now.clone());
            tokio::spawn(async move {
                shutdown.stopping_now().await;
                stop.cancel();
            })
        };
        let recovered = inner.recover().await?;
        // A new run says the person has acted on what an agent waited for
        // (a login, a spend cap); if not, its next round says so again.
        inner.store.clear_person_waits().await?;
        inner.look_at_checkout().await;
        let done = tokio_util::sync::CancellationToken::new();
        let rescuer = tokio::spawn(rescue_loop(inner.clone(), done.clone()));
        let listener = tokio::spawn(listen_loop(inner.clone(), done.clone()));
        let grace = tokio::spawn(grace_timer(shutdown.clone(), inner.settings.shutdown_grace, done.clone()));
        let mut workers = Vec::new();
        for _ in 0..inner.settings.workers.max(1) {
            workers.push(tokio::spawn(inner.clone().worker(inner.take_slot(), shutdown.clone())));
        }
        let mut first_error = None;
        for w in workers {
            match w.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => first_error = first_error.or(Some(e)),
                Err(join) => std::panic::resume_unwind(join.into_panic()),
            }
        }
        // Merges whose workers moved on (only a stop leaves any running).
        let merging = std::mem::take(&mut *inner.merging.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for m in merging {
            match m.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => first_error = first_error.or(Some(e)),
                Err(join) => std::panic::resume_unwind(join.into_panic()),
            }
        }
        done.cancel();
        stop_now.abort();
        let _ = tokio::join!(rescuer, grace, listener);
        if let Some(e) = first_error {
            return Err(e);
        }
        inner.look_at_checkout().await;
        inner.fetch_integration_branches().await?;
        // colony's commits leave git's automatic maintenance to this one
        // call; the work is safe whether or not it succeeds.
        if let Err(e) = inner.git(|r| r.maintain()) {
            inner.settings.notices.say(&format!("git's maintenance of the repository failed: {}", error_chain(&e)));
        }
        inner.report(started.elapsed(), shutdown.is_draining(), recovered).await
    }
}

/// Stops everything at once when a drain outlasts the grace period.
async fn grace_timer(shutdown: Shutdown, grace: Duration, done: tokio_util::sync::CancellationToken) {
    tokio::select! {
        () = shutdown.draining() => {}
        () = done.cancelled() => return,
    }
    tokio::select! {
        () = tokio::time::sleep(grace) => shutdown.now(),
        () = done.cancelled() => {}
    }
}

/// Takes back tasks whose worker stopped heartbeating, in this process or
/// any other sharing the store.
async fn rescue_loop<S: Store + 'static>(inner: Arc<Inner<S>>, done: tokio_util::sync::CancellationToken) {
    let every = (inner.settings.lease / 2).max(Duration::from_millis(100));
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = done.cancelled() => return,
        }
        // Dead processes of this host first: what they held goes back
        // without costing a try, where the lease's end would cost one.
        // A failure here is retried on the next tick.
        if let Ok(notes) = inner.take_back_dead().await {
            for note in notes {
                inner.settings.notices.say(&note);
            }
        }
        let _ = inner.store.rescue_expired().await;
    }
}

/// Turns the store's notifications into wakeups of idle workers. While
/// there is no listener (it could not connect, or lost its connection and
/// cannot make a new one), workers poll every `idle_poll`.
async fn listen_loop<S: Store + 'static>(inner: Arc<Inner<S>>, done: tokio_util::sync::CancellationToken) {
    let mut wait = LISTEN_RETRY_FIRST;
    let mut listener: Option<colony_store::Listener> = None;
    loop {
        // `Ok(false)`: the store has nothing to listen to.
        let next = async {
            match &mut listener {
                Some(l) => l.next().await.map(|()| true),
                None => inner.store.ready_listener().await.map(|made| {
                    listener = made;
                    listener.is_some()
                }),
            }
        };
        let outcome = tokio::select! {
            outcome = next => outcome,
            () = done.cancelled() => return,
        };
        match outcome {
            Ok(false) => return,
            Ok(true) => {
                if !inner.listening.swap(true, Ordering::SeqCst) && wait > LISTEN_RETRY_FIRST {
                    inner.settings.notices.say("the store's wakeups are back");
                }
                wait = LISTEN_RETRY_FIRST;
                inner.ready.notify_waiters();
            }
            Err(e) => {
                // Said once an outage, not at every try.
                if inner.listening.swap(false, Ordering::SeqCst) || wait == LISTEN_RETRY_FIRST {
                    inner.settings.notices.say(&format!(
                        "the store's wakeups are lost ({}); polling every {} until they are back",
                        error_chain(&e),
                        crate::round::human(inner.settings.idle_poll),
                    ));
                }
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = done.cancelled() => return,
                }
                wait = (wait * 2).min(LISTEN_RETRY_MAX);
            }
        }
    }
}

impl<S: Store + 'static> Inner<S> {
    fn worker_id(&self, slot: usize) -> String {
        format!("{}:{}:{}", self.host, self.pid, slot)
    }

    async fn worker(self: Arc<Self>, mut slot: usize, shutdown: Shutdown) -> Result<(), EngineError> {
        loop {
            let worker = self.worker_id(slot);
            if shutdown.is_draining() || self.pacing.is_halted() || !self.wait_for_room(&shutdown).await {
                return Ok(());
            }
            let permit = tokio::select! {
                permit = self.slots.clone().acquire_owned() => permit.expect("the worker slots are never closed"),
                () = shutdown.draining() => return Ok(()),
                () = self.pacing.halted() => return Ok(()),
            };
            // Listening before the claim: an attempt that ends between an
            // empty claim and the wait still wakes this worker.
            let ended = self.attempt_ended.notified();
            let ready = self.ready.notified();
            tokio::pin!(ended, ready);
            ended.as_mut().enable();
            ready.as_mut().enable();
            let held = self.held().await?;
            if self.pacing.is_halted() {
                return Ok(());
            }
            let accept = |plan: &PlanName, spec: &TaskSpec| held.accepts(plan, spec);
            match self.store.claim_where(&worker, self.settings.lease, &accept).await? {
                Some(claim) => {
                    if self.run_attempt(claim, slot, permit, &shutdown).await? {
                        slot = self.take_slot();
                    }
                }
                None => {
                    drop(permit);
                    if self.finished().await? {
                        return Ok(());
                    }
                    tokio::select! {
                        () = tokio::time::sleep(self.idle_poll()) => {}
                        () = ended => {}
                        () = ready => {}
                        () = shutdown.draining() => {}
                        () = self.pacing.halted() => {}
                    }
                }
            }
        }
    }

    /// Says `note` once a run.
    pub(crate) fn say_once(&self, note: String) {
        if self.said.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(note.clone()) {
            self.settings.notices.say(&note);
        }
    }

    /// Runs an attempt on `slot`. An attempt that reaches a merge that
    /// rides trains says so, and goes on in the background on its slot
    /// while this worker takes another and the next task: waiting for the
    /// merge lock and gating a candidate run no agent, and holding the
    /// worker meanwhile would leave an agent's place idle. Returns whether
    /// the worker moved on.
    async fn run_attempt(
        self: &Arc<Self>,
        claim: Claim,
        slot: usize,
        permit: tokio::sync::OwnedSemaphorePermit,
        shutdown: &Shutdown,
    ) -> Result<bool, EngineError> {
        let (moved_on, merging) = tokio::sync::oneshot::channel();
        let mut attempt = tokio::spawn({
            let (inner, shutdown) = (self.clone(), shutdown.clone());
            async move { inner.attempt(claim, &inner.worker_id(slot), &shutdown, permit, moved_on).await }
        });
        tokio::select! {
            joined = &mut attempt => {
                joined.unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))?;
                Ok(false)
            }
            Ok(()) = merging => {
                let inner = self.clone();
                let rest = tokio::spawn(async move {
                    let ended = attempt.await.unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()));
                    inner.free_slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(slot);
                    ended
                });
                self.merging.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(rest);
                Ok(true)
            }
        }
    }

    /// The disk is full: the task goes back, the try not counted, and new
    /// work waits for room.
    async fn out_of_room(&self, task: &TaskId, attempt: u32, why: &str, log: &mut LogWriter) -> Result<(), StoreError> {
        crate::round::log_note(log, format!("colony: the disk is full ({why}); the task goes back to the queue"));
        if self.room.pause(why.to_owned()) {
            self.settings.notices.say(&format!(
                "the disk holding the worktrees is full ({why}); new work waits until there is room, \
                 and the tasks it stopped go back to the queue without counting a try"
            ));
        }
        self.store.release(task, attempt, &format!("the disk was full: {why}")).await
    }

    /// Waits while new work is paused for want of room, looking at the
    /// disk every few seconds. False when the run is stopping.
    async fn wait_for_room(&self, shutdown: &Shutdown) -> bool {
        while self.room.paused().is_some() {
            let place = self.layout.worktrees();
            let place = if place.is_dir() { place } else { self.layout.colony_dir() };
            if crate::room::has_room(&place) {
                if self.room.resume() {
                    self.settings.notices.say("there is room on the disk again; new work goes on");
                }
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(crate::room::LOOK_EVERY) => {}
                () = shutdown.draining() => return false,
            }
        }
        true
    }

    /// The lowest free worker slot, or a new one: the workers' first slots
    /// are 0, 1, …; a worker that moved on takes another.
    fn take_slot(&self) -> usize {
        let mut free = self.free_slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        free.pop_first().unwrap_or_else(|| self.next_slot.fetch_add(1, Ordering::SeqCst))
    }

    fn idle_poll(&self) -> Duration {
        match self.listening.load(Ordering::SeqCst) {
            true => LISTENING_POLL.max(self.settings.idle_poll),
            false => self.settings.idle_poll,
        }
    }

    /// Nothing is runnable or running anywhere: what is left, if anything,
    /// waits for a person (and, for a worker that waits for plans, there
    /// is something at all). Ready tasks that only a person can free (their
    /// agent is not logged in, their plan's budget is spent) end the run
    /// too, with the reasons as its halt.
    async fn finished(&self) -> Result<bool, EngineError> {
        let counts = self.store.counts().await?;
        if self.settings.wait_for_plans && counts.total == 0 {
            return Ok(false);
        }
        if TaskStatus::MOVING.iter().all(|s| counts.get(*s) == 0) {
            return Ok(true);
        }
        self.only_held_left().await
    }

    async fn attempt(
        &self,
        claim: Claim,
        worker: &str,
        shutdown: &Shutdown,
        permit: tokio::sync::OwnedSemaphorePermit,
        moved_on: tokio::sync::oneshot::Sender<()>,
    ) -> Result<(), EngineError> {
        let (task, attempt, tries) = (claim.task.clone(), claim.attempt, claim.tries);
        let cancel = shutdown.attempt_token();
        let lease_lost = Arc::new(AtomicBool::new(false));
        let heartbeat = tokio::spawn(heartbeat(
            self.store.clone(),
            task.clone(),
            attempt,
            self.settings.lease,
            cancel.clone(),
            lease_lost.clone(),
        ));
        let dir = self.layout.attempt_dir(&task, attempt);
        std::fs::create_dir_all(&dir).map_err(|source| EngineError::Io { path: dir.clone(), source })?;
        let mut log = LogWriter::open(self.layout.log(&task, attempt))?;
        let run = Attempt {
            inner: self,
            claim,
            worker: worker.to_owned(),
            cancel,
            lease_lost,
            made_branch: AtomicBool::new(false),
            tree: std::sync::OnceLock::new(),
            session: std::sync::Mutex::new(None),
            checking: AtomicBool::new(false),
            moved_on: std::sync::Mutex::new(Some(moved_on)),
            permit: std::sync::Mutex::new(Some(permit)),
            shutdown: shutdown.clone(),
            version_recorded: AtomicBool::new(false),
        };
        let ending = run.run(&mut log).await;
        heartbeat.abort();
        let outcome = match ending {
            Ok(Ending::Merged | Ending::LeaseLost | Ending::AwaitingApproval) => Ok(()),
            Ok(Ending::Failed(reason)) => {
                self.store.fail(&task, attempt, &reason, self.settings.backoff(tries)).await.map(drop)
            }
            Ok(Ending::Stopped) => self.store.release(&task, attempt, "colony was stopped").await,
            Ok(Ending::NoRoom(why)) => self.out_of_room(&task, attempt, &why, &mut log).await,
            Err(e) if crate::room::out_of_room(&e) => {
                self.out_of_room(&task, attempt, &error_chain(&e), &mut log).await
            }
            // `why` names the agent.
            Ok(Ending::AgentLocked { why }) => self.store.release(&task, attempt, &why).await,
            // The store could not be reached even after waiting (the run is
            // stopping now): the task is no worse for it.
            Err(EngineError::Store(e)) if e.is_connection() => {
                self.store.release(&task, attempt, "the store could not be reached").await
            }
            // A git or file error fails this attempt, not the whole run.
            Err(e) => {
                let reason = error_chain(&e);
                crate::round::log_note(&mut log, format!("colony: {reason}"));
                self.store.fail(&task, attempt, &reason, self.settings.backoff(tries)).await.map(drop)
            }
        };
        self.attempt_ended.notify_waiters();
        match outcome {
            Ok(()) | Err(StoreError::LeaseLost { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Runs git, which blocks: the runtime moves its other tasks off this
    /// thread meanwhile (see [`Engine::run`]).
    pub(crate) fn git<T>(&self, f: impl FnOnce(&Repo) -> Result<T, colony_git::GitError>) -> Result<T, EngineError> {
        Ok(tokio::task::block_in_place(|| f(&self.repo))?)
    }

    /// Runs a `git worktree` command that registers or forgets worktrees.
    /// They are not safe to run at once: one can read the half-written
    /// registration of another ("failed to read
    /// .git/worktrees/…/commondir") and fail. This process's are queued;
    /// one that still fails (another colony on the same repository) is
    /// tried again. Checkouts and deleting files need no turn.
    pub(crate) fn worktree_git<T>(
        &self,
        f: impl Fn(&Repo) -> Result<T, colony_git::GitError>,
    ) -> Result<T, EngineError> {
        self.retried(true, f)
    }

    /// Runs a git command that reads every worktree's registration, as a
    /// fetch does to check what it received against all worktrees' HEADs,
    /// and so fails now and then beside a `git worktree add`. It is tried
    /// again rather than queued: a fetch over the network is slow, and
    /// the next worktree must not wait for it.
    pub(crate) fn git_beside_worktrees<T>(
        &self,
        f: impl Fn(&Repo) -> Result<T, colony_git::GitError>,
    ) -> Result<T, EngineError> {
        self.retried(false, f)
    }

    fn retried<T>(&self, queued: bool, f: impl Fn(&Repo) -> Result<T, colony_git::GitError>) -> Result<T, EngineError> {
        tokio::task::block_in_place(|| {
            let mut tries = 0;
            loop {
                let result = match queued {
                    true => {
                        let _queue = self.worktree_gate.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        f(&self.repo)
                    }
                    false => f(&self.repo),
                };
                match result {
                    Err(_) if tries < WORKTREE_RETRIES => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(20 * tries));
                    }
                    other => return Ok(other?),
                }
            }
        })
    }

    pub(crate) async fn plan_info(&self, plan: &PlanName) -> Result<Arc<PlanRun>, EngineError> {
        let mut plans = self.plans.lock().await;
        if let Some(p) = plans.get(plan) {
            return Ok(p.clone());
        }
        let stored = self.store.export_plan(plan.as_str()).await?;
        let run = Arc::new(PlanRun {
            integration_branch: integration_branch(&self.settings.integration_branch, plan),
            base: stored.base,
            default_agent: stored.defaults.agent,
            default_model: stored.defaults.model,
            default_timeout: stored.defaults.timeout,
            default_review: stored.defaults.review,
            default_approval: stored.defaults.approval,
        });
        plans.insert(plan.clone(), run.clone());
        Ok(run)
    }

    /// The integration branch's tip, creating the branch from the plan's
    /// base (or HEAD) the first time.
    pub(crate) async fn ensure_integration(&self, plan: &PlanRun) -> Result<Oid, EngineError> {
        let _gate = self.branch_gate.lock().await;
        if let Some(remote) = &self.settings.remote {
            return self.ensure_remote_integration(remote, plan);
        }
        let name = &plan.integration_branch;
        if let Some(tip) = self.git(|r| r.rev_parse(&branch_ref(name)))? {
            return Ok(tip);
        }
        let base = plan.base.as_deref().unwrap_or("HEAD");
        if self.git(|r| r.rev_parse(base))?.is_none() {
            return Err(EngineError::NoBase { branch: name.clone() });
        }
        match tokio::task::block_in_place(|| self.repo.create_branch(name, base)) {
            Ok(tip) => Ok(tip),
            // Another colony process made it first.
            Err(e) => self.git(|r| r.rev_parse(&branch_ref(name)))?.ok_or(EngineError::Git(e)),
        }
    }

    /// Whether waiting merges ride trains: only gates make a merge dear,
    /// and on a shared remote every merge is fenced and pushed on its own.
    pub(crate) fn trains_run(&self) -> bool {
        self.settings.merge_train && !self.settings.gates.is_empty() && self.settings.remote.is_none()
    }

    /// The tip this process's last merge into `branch` left, if any.
    pub(crate) fn known_tip(&self, branch: &str) -> Option<Oid> {
        self.tips.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(branch).cloned()
    }

    pub(crate) fn remember_tip(&self, branch: &str, tip: &Oid) {
        self.tips.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(branch.to_owned(), tip.clone());
    }

    /// Someone else moved `branch`: read it next time.
    pub(crate) fn forget_tip(&self, branch: &str) {
        self.tips.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(branch);
    }

    /// The agent a task runs with, and the model: the task's, else its
    /// plan's default, else the agent's own.
    pub(crate) fn agent_for(&self, spec: &TaskSpec, plan: &PlanRun) -> Result<ChosenAgent, EngineError> {
        let name = crate::waiting::agent_of(spec, plan.default_agent.as_ref(), self.settings.default_agent.as_ref())
            .ok_or_else(|| EngineError::NoAgent { task: spec.id.to_string() })?;
        self.chosen(spec, plan, name)
    }

    /// The task's reviewers: its own `review:`, else its plan's, else the
    /// config's; `review: none` is nobody.
    pub(crate) fn reviewers_for(&self, spec: &TaskSpec, plan: &PlanRun) -> Result<Reviewers, EngineError> {
        let names: Vec<String> = match spec.review.as_ref().or(plan.default_review.as_ref()) {
            Some(Review::Skip(_)) => Vec::new(),
            Some(Review::Agent { agent }) => vec![agent.clone()],
            None => self.settings.reviewers.clone(),
        };
        let agents = names.iter().map(|name| self.chosen(spec, plan, name)).collect::<Result<_, _>>()?;
        Ok(Reviewers { agents, policy: self.settings.review_policy })
    }

    /// Whether a person approves the task's merge: the task says, else its
    /// plan, else the config.
    pub(crate) fn approval_required(&self, spec: &TaskSpec, plan: &PlanRun) -> bool {
        match spec.approval.or(plan.default_approval) {
            Some(Approval::Required) => true,
            Some(Approval::Auto) => false,
            None => self.settings.approval,
        }
    }

    fn chosen(&self, spec: &TaskSpec, plan: &PlanRun, name: &String) -> Result<ChosenAgent, EngineError> {
        let setup = self.settings.agents.get(name).ok_or_else(|| EngineError::UnknownAgent {
            task: spec.id.to_string(),
            agent: name.clone(),
            known: self.settings.agents.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
        let task_model = spec.model.clone().or_else(|| plan.default_model.clone());
        Ok(ChosenAgent {
            name: name.clone(),
            harness: setup.harness.clone(),
            model: task_model.clone().or_else(|| setup.model.clone()),
            task_model,
        })
    }

    /// The integration branch of every plan in the store.
    pub(crate) async fn integration_branches(&self) -> Result<Vec<String>, EngineError> {
        let pattern = &self.settings.integration_branch;
        Ok(self.store.plans().await?.iter().map(|p| integration_branch(pattern, &p.name)).collect())
    }

    async fn report(
        &self,
        wall: Duration,
        interrupted: bool,
        recovered: Vec<String>,
    ) -> Result<RunReport, EngineError> {
        let counts = self.store.counts().await?;
        let statuses = vec![TaskStatus::Failed, TaskStatus::Blocked, TaskStatus::AwaitingApproval];
        let filter = TaskFilter { statuses, plan: None };
        let mut failed = Vec::new();
        let mut blocked = Vec::new();
        let mut awaiting = Vec::new();
        for rec in self.store.tasks(&filter).await? {
            match rec.task.state {
                TaskState::Failed { reason } => failed.push((rec.task.id, reason)),
                TaskState::Blocked { by } => blocked.push((rec.task.id, by)),
                TaskState::AwaitingApproval => awaiting.push(rec.task.id),
                _ => {}
            }
        }
        let branches = self.integration_branches().await?;
        let usage = self.pacing.spent();
        let halted = self.pacing.halt_reason();
        Ok(RunReport { counts, failed, blocked, awaiting, branches, wall, interrupted, recovered, usage, halted })
    }
}

/// Keeps the attempt's lease; on losing it, stops the attempt.
async fn heartbeat<S: Store>(
    store: Arc<S>,
    task: TaskId,
    attempt: u32,
    lease: Duration,
    cancel: tokio_util::sync::CancellationToken,
    lease_lost: Arc<AtomicBool>,
) {
    loop {
        tokio::time::sleep(lease / 3).await;
        match store.heartbeat(&task, attempt, lease).await {
            Ok(_) => {}
            Err(StoreError::LeaseLost { .. }) => {
                lease_lost.store(true, Ordering::SeqCst);
                cancel.cancel();
                return;
            }
            // The database blinked: try again next beat; if the lease runs
            // out meanwhile, the next fenced write says so.
            Err(_) => {}
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
