//! The run: recovery, the workers, the rescuer, and the report.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use colony_agents::{LogWriter, Shutdown};
use colony_core::resolve::{AgentChoice, TaskSettings, resolve};
use colony_core::{PlanName, TaskId, TaskSpec, TaskState, TaskStatus, Usage};
use colony_git::Repo;
use colony_store::{Claim, Counts, Store, StoreError, TaskFilter};

use crate::attempt::{Attempt, ChosenAgent, Ending, Reviewers};
use crate::base::{Base, PlanRun};
use crate::error::{EngineError, error_chain};
use crate::queue::Queue;
use crate::settings::Settings;
use crate::shared::Inner;

/// How often an idle worker looks for work while the store's wakeups come
/// in: for tasks whose retry time comes, and to see the run end.
const LISTENING_POLL: Duration = Duration::from_secs(1);
/// Waits between tries to listen to the store again.
const LISTEN_RETRY_FIRST: Duration = Duration::from_millis(500);
const LISTEN_RETRY_MAX: Duration = Duration::from_secs(10);

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
    /// Tasks whose agents asked a person a question, with the question:
    /// left waiting when the run was stopped.
    pub asking: Vec<(TaskId, String)>,
    /// Follow-ups agents proposed, waiting for a person, with their titles.
    pub proposed: Vec<(TaskId, String)>,
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
    /// Every task is done, or replaced by tasks that are.
    pub fn all_done(&self) -> bool {
        self.counts.finished() == self.counts.total
    }
}

/// Drives a store's tasks to the end with a number of workers.
pub struct Engine<S> {
    inner: Arc<Inner<S>>,
}

impl<S: Store + 'static> Engine<S> {
    pub fn new(store: Arc<S>, repo: Repo, settings: Settings) -> Self {
        let stop_now = tokio_util::sync::CancellationToken::new();
        let store = Arc::new(store.patient(crate::patient::patience(settings.notices.clone(), stop_now.clone())));
        let queue = Queue::new(&settings);
        Engine { inner: Arc::new(Inner::new(Base::new(store, repo, settings), queue, stop_now)) }
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
        inner.watch.look_at_checkout(&inner.base).await;
        if let Some(fails) = inner.check_baselines().await? {
            inner.pacing.halt(fails.to_string());
        }
        let done = tokio_util::sync::CancellationToken::new();
        let rescuer = tokio::spawn(rescue_loop(inner.clone(), done.clone()));
        let listener = tokio::spawn(listen_loop(inner.clone(), done.clone()));
        let talker = tokio::spawn(talk_loop(inner.clone(), done.clone()));
        let halts = tokio::spawn(record_halt(inner.clone(), done.clone()));
        let grace = tokio::spawn(grace_timer(shutdown.clone(), inner.settings.config.run.shutdown_grace, done.clone()));
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
        let _ = tokio::join!(rescuer, grace, listener, talker, halts);
        if let Some(e) = first_error {
            return Err(e);
        }
        inner.watch.look_at_checkout(&inner.base).await;
        inner.queue.fetch_integration_branches(&inner.base).await?;
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

/// Serves the MCP sessions of this process's attempts' agents (`talk`)
/// on a socket of its own, when the run gives agents one, until the run
/// ends. A socket that cannot be made is said once; agents then run
/// without it.
async fn talk_loop<S: Store + 'static>(inner: Arc<Inner<S>>, done: tokio_util::sync::CancellationToken) {
    if inner.settings.talk.is_none() {
        return;
    }
    let (path, listener) = match crate::talk::bind() {
        Ok(bound) => bound,
        Err(e) => {
            inner.settings.notices.say(&format!("agents cannot talk back to colony this run: {e}"));
            return;
        }
    };
    inner.talk.listening(path.clone());
    loop {
        tokio::select! {
            () = done.cancelled() => break,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(crate::talk::serve(inner.clone(), stream));
                }
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// Records in the log when this process stops taking new work, for
/// `[notify]` to tell (only then: the run's end summary says it anyway).
async fn record_halt<S: Store + 'static>(inner: Arc<Inner<S>>, done: tokio_util::sync::CancellationToken) {
    if !inner.settings.config.notify.on.contains(&colony_core::config::NoticeKind::Halted)
        || !inner.settings.config.notify.is_on()
    {
        return;
    }
    tokio::select! {
        () = inner.pacing.halted() => {}
        () = done.cancelled() => return,
    }
    if let Some(reason) = inner.pacing.halt_reason()
        && let Err(e) = inner.store.work_halted(&reason).await
    {
        inner.settings.notices.say(&format!("could not record that new work halted: {}", error_chain(&e)));
    }
}

/// Takes back tasks whose worker stopped heartbeating, in this process or
/// any other sharing the store.
async fn rescue_loop<S: Store + 'static>(inner: Arc<Inner<S>>, done: tokio_util::sync::CancellationToken) {
    let every = (inner.settings.config.run.lease / 2).max(Duration::from_millis(100));
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
    /// Before any agent starts, the gates on the integration branch of
    /// every plan with work to do (`baseline.rs`): the first that fails
    /// there, unless failing gates are allowed.
    async fn check_baselines(&self) -> Result<Option<crate::base::baseline::FailsOnBase>, EngineError> {
        if self.settings.config.gates.commands.is_empty() {
            return Ok(None);
        }
        let mut plans = std::collections::BTreeSet::new();
        for task in self.store.tasks(&TaskFilter::default()).await? {
            let status = task.task.status();
            if (status.is_waiting() && status != TaskStatus::Blocked) || status.is_leased() {
                plans.insert(task.task.plan.clone());
            }
        }
        let mut integrations = Vec::new();
        for plan in plans {
            let plan = self.plan_info(&plan).await?;
            self.queue.ensure_integration(&self.base, &plan).await?;
            integrations.push(plan.integration_branch.clone());
        }
        self.base.check(&integrations, &self.stop_now).await
    }

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
            match self.store.claim_where(&worker, self.settings.config.run.lease, &accept).await? {
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
        crate::round::log_note(log, format!("the disk is full ({why}); the task goes back to the queue"));
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

    /// After an attempt found no block of ports free: waits for an attempt
    /// of this process to end (or a while, for one of another process),
    /// rather than claim again at once and find none again.
    async fn wait_for_ports(&self, shutdown: &Shutdown) {
        tokio::select! {
            () = self.attempt_ended.notified() => {}
            () = tokio::time::sleep(crate::ports::NO_BLOCK_WAIT) => {}
            () = shutdown.draining() => {}
        }
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
            self.settings.config.run.lease,
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
            env: std::sync::OnceLock::new(),
            session: std::sync::Mutex::new(None),
            moved_on: std::sync::Mutex::new(Some(moved_on)),
            permit: std::sync::Mutex::new(Some(permit)),
            shutdown: shutdown.clone(),
            version_recorded: AtomicBool::new(false),
            place: std::sync::Mutex::new(None),
            from: std::sync::OnceLock::new(),
            role: std::sync::OnceLock::new(),
            voice: self.talk.enter(&task, attempt),
        };
        let ending = run.run(&mut log).await;
        // Its worker slot is free before any wait below.
        drop(run);
        heartbeat.abort();
        let outcome = match ending {
            Ok(Ending::Merged | Ending::LeaseLost | Ending::AwaitingApproval | Ending::AwaitingInput) => Ok(()),
            Ok(Ending::Failed(reason)) => {
                self.store.fail(&task, attempt, &reason, self.settings.backoff(tries)).await.map(drop)
            }
            Ok(Ending::Stopped) => self.store.release(&task, attempt, "colony was stopped").await,
            Ok(Ending::NoRoom(why)) => self.out_of_room(&task, attempt, &why, &mut log).await,
            Ok(Ending::OnBase(why)) => {
                crate::round::log_note(&mut log, format!("{why}; the task goes back to the queue"));
                self.pacing.halt(why.clone());
                self.store.release(&task, attempt, &why).await
            }
            Err(e) if crate::room::out_of_room(&e) => {
                self.out_of_room(&task, attempt, &error_chain(&e), &mut log).await
            }
            Ok(Ending::NoPorts(why)) => {
                crate::round::log_note(&mut log, format!("{why}; the task goes back to the queue"));
                self.say_once(format!("{why}; tasks wait for running attempts to end"));
                let released = self.store.release(&task, attempt, &why).await;
                self.wait_for_ports(shutdown).await;
                released
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
                crate::round::log_note(&mut log, reason.clone());
                self.store.fail(&task, attempt, &reason, self.settings.backoff(tries)).await.map(drop)
            }
        };
        self.attempt_ended.notify_waiters();
        match outcome {
            Ok(()) | Err(StoreError::LeaseLost { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// What the task runs with: `colony_core::resolve` over its plan's
    /// defaults and the config, the one place that decides it.
    pub(crate) fn task_settings(&self, spec: &TaskSpec, plan: &PlanRun) -> TaskSettings {
        resolve(spec, &plan.defaults, &self.settings.config)
    }

    /// The agent a task runs with, and the model.
    pub(crate) fn agent_for(&self, spec: &TaskSpec, plan: &PlanRun) -> Result<ChosenAgent, EngineError> {
        let choice =
            self.task_settings(spec, plan).agent.ok_or_else(|| EngineError::NoAgent { task: spec.id.to_string() })?;
        self.chosen(spec, choice)
    }

    /// The task's reviewers; none: no review.
    pub(crate) fn reviewers_for(&self, spec: &TaskSpec, plan: &PlanRun) -> Result<Reviewers, EngineError> {
        let review = self.task_settings(spec, plan).review;
        let agents = review.reviewers.into_iter().map(|choice| self.chosen(spec, choice)).collect::<Result<_, _>>()?;
        Ok(Reviewers { agents, policy: review.policy })
    }

    /// Whether a person approves the task's merge.
    pub(crate) fn approval_required(&self, spec: &TaskSpec, plan: &PlanRun) -> bool {
        self.task_settings(spec, plan).approval
    }

    /// The resolved agent with its harness.
    fn chosen(&self, spec: &TaskSpec, choice: AgentChoice) -> Result<ChosenAgent, EngineError> {
        let setup = self.settings.agents.get(&choice.name).ok_or_else(|| EngineError::UnknownAgent {
            task: spec.id.to_string(),
            agent: choice.name.clone(),
            known: self.settings.agents.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
        Ok(ChosenAgent {
            harness: setup.harness.clone(),
            name: choice.name,
            model: choice.model,
            task_model: choice.task_model,
        })
    }

    async fn report(
        &self,
        wall: Duration,
        interrupted: bool,
        recovered: Vec<String>,
    ) -> Result<RunReport, EngineError> {
        let counts = self.store.counts().await?;
        let statuses = vec![
            TaskStatus::Failed,
            TaskStatus::Blocked,
            TaskStatus::AwaitingApproval,
            TaskStatus::AwaitingInput,
            TaskStatus::Proposed,
        ];
        let filter = TaskFilter { statuses, plan: None };
        let mut failed = Vec::new();
        let mut blocked = Vec::new();
        let mut awaiting = Vec::new();
        let mut asking = Vec::new();
        let mut proposed = Vec::new();
        for rec in self.store.tasks(&filter).await? {
            match rec.task.state {
                TaskState::Failed { reason } => failed.push((rec.task.id, reason)),
                TaskState::Blocked { by } => blocked.push((rec.task.id, by)),
                TaskState::AwaitingApproval => awaiting.push(rec.task.id),
                TaskState::AwaitingInput { question, .. } => asking.push((rec.task.id, question)),
                TaskState::Proposed => proposed.push((rec.task.id, rec.title)),
                _ => {}
            }
        }
        let branches = self.integration_branches().await?;
        let usage = self.pacing.spent();
        let halted = self.pacing.halt_reason();
        Ok(RunReport {
            counts,
            failed,
            blocked,
            awaiting,
            asking,
            proposed,
            branches,
            wall,
            interrupted,
            recovered,
            usage,
            halted,
        })
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
