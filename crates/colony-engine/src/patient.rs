//! Riding out a store that cannot be reached or written.
//!
//! A shared PostgreSQL server restarts, a network blinks, an administrator
//! ends a session, the disk under the database fills up: none of it is the
//! fault of the task at hand, so none of it may fail one. The engine talks
//! to its store through [`Patient`], which runs each call again, with a
//! growing wait, for as long as the error is a connection error or a full
//! disk, and says so through the run's notices. Claims wait like every
//! other call, so a full disk pauses new work until there is room again.
//! Other errors pass through at once.
//!
//! A write whose commit reached the server but whose answer was lost is
//! run again too; the fencing makes that harmless: the second `complete`
//! or `fail` of an attempt finds the task moved on and changes nothing,
//! and a phase change found already made counts as made. A claim lost
//! that way leaves its task leased to no one until the lease runs out and
//! the rescuer hands it on.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use colony_core::{Event, Millis, Phase, Plan, ReviewOutcome, RoundCause, TaskId, TaskStatus, Usage};
use colony_store::{
    Accept, AddOptions, AddReport, AgentWait, AttemptStats, Claim, Counts, LiveAttempt, PlanInfo, ReadyListener,
    Rescued, RunningAttempt, Store, StoreError, TaskDetail, TaskFilter, TaskPage, TaskQuery, TaskRecord,
};
use tokio_util::sync::CancellationToken;

use crate::round::human;
use crate::settings::Notices;

type Result<T> = std::result::Result<T, StoreError>;

/// The first wait after a connection error; it doubles up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(250);
const MAX_WAIT: Duration = Duration::from_secs(5);
/// Many calls fail at once when the store goes away; one line a second
/// says it.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// A store whose connection errors are waited out.
pub(crate) struct Patient<S> {
    store: Arc<S>,
    notices: Notices,
    /// Cancelled when the run must stop at once: a call still failing then
    /// gives up with its error.
    stop: CancellationToken,
    /// When the last outage was said, and whether it was a full disk.
    last_report: std::sync::Mutex<Option<(Instant, bool)>>,
}

impl<S: Store> Patient<S> {
    pub(crate) fn new(store: Arc<S>, notices: Notices, stop: CancellationToken) -> Self {
        Patient { store, notices, stop, last_report: std::sync::Mutex::new(None) }
    }

    async fn patiently<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.patiently_noting(op).await.0
    }

    /// [`Patient::patiently`], and whether any try failed on the connection
    /// (so an earlier try's commit may have landed unseen).
    async fn patiently_noting<T, F, Fut>(&self, op: F) -> (Result<T>, bool)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut wait = FIRST_WAIT;
        let mut failed = false;
        loop {
            match op().await {
                Err(e) if (e.is_connection() || e.is_disk_full()) && !self.stop.is_cancelled() => {
                    failed = true;
                    self.report(&e, wait);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = self.stop.cancelled() => return (Err(e), true),
                    }
                    wait = (wait * 2).min(MAX_WAIT);
                }
                other => {
                    if failed {
                        self.recovered();
                    }
                    return (other, failed);
                }
            }
        }
    }

    fn report(&self, e: &StoreError, wait: Duration) {
        let mut last = self.last_report.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|(at, _)| at.elapsed() < REPORT_EVERY) {
            return;
        }
        *last = Some((Instant::now(), e.is_disk_full()));
        let why = crate::error::error_chain(e);
        self.notices.say(&match e.is_disk_full() {
            true => format!(
                "the disk holding the store is full ({why}); new work waits until there is room, trying again in {}",
                human(wait)
            ),
            false => format!("the store is unreachable ({why}); retrying in {}", human(wait)),
        });
    }

    fn recovered(&self) {
        let mut last = self.last_report.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match last.take() {
            Some((_, true)) => self.notices.say("the store can be written again; new work goes on"),
            Some((_, false)) => self.notices.say("the store is reachable again"),
            None => {}
        }
    }
}

impl<S: Store> Store for Patient<S> {
    async fn add_plans(&self, plans: &[(&Plan, &str)], opts: AddOptions) -> Result<Vec<AddReport>> {
        self.patiently(|| self.store.add_plans(plans, opts)).await
    }
    async fn claim_where(&self, worker: &str, lease: Duration, accept: Accept<'_>) -> Result<Option<Claim>> {
        self.patiently(|| self.store.claim_where(worker, lease, accept)).await
    }
    async fn heartbeat(&self, task: &TaskId, attempt: u32, lease: Duration) -> Result<Millis> {
        self.patiently(|| self.store.heartbeat(task, attempt, lease)).await
    }
    /// A phase change whose first try committed unseen is refused when
    /// tried again (the task is in that phase already): that is success.
    async fn set_phase(&self, task: &TaskId, attempt: u32, phase: Phase) -> Result<()> {
        match self.patiently_noting(|| self.store.set_phase(task, attempt, phase)).await {
            (Err(StoreError::NotAllowed(why)), true) => {
                let now = self.patiently(|| self.store.task(task.as_str())).await?.map(|d| d.record.task);
                let status = match phase {
                    Phase::Checking => TaskStatus::Checking,
                    Phase::Merging => TaskStatus::Merging,
                };
                match now {
                    Some(t) if t.attempt == attempt && t.status() == status => Ok(()),
                    _ => Err(StoreError::NotAllowed(why)),
                }
            }
            (result, _) => result,
        }
    }
    async fn feedback_round(&self, task: &TaskId, attempt: u32, round: u32, cause: RoundCause) -> Result<()> {
        self.patiently(|| self.store.feedback_round(task, attempt, round, cause.clone())).await
    }
    async fn record_usage(&self, task: &TaskId, attempt: u32, usage: Usage) -> Result<()> {
        self.patiently(|| self.store.record_usage(task, attempt, usage)).await
    }
    async fn record_checkout_change(&self, task: &TaskId, attempt: u32, changes: &[String]) -> Result<()> {
        self.patiently(|| self.store.record_checkout_change(task, attempt, changes)).await
    }
    /// As [`Patient::set_phase`]: a request that committed unseen is
    /// refused when tried again, the task awaiting approval already.
    async fn request_approval(&self, task: &TaskId, attempt: u32) -> Result<()> {
        match self.patiently_noting(|| self.store.request_approval(task, attempt)).await {
            (Err(StoreError::NotAllowed(why)), true) => {
                let now = self.patiently(|| self.store.task(task.as_str())).await?.map(|d| d.record.task);
                match now {
                    Some(t) if t.attempt == attempt && t.status() == TaskStatus::AwaitingApproval => Ok(()),
                    _ => Err(StoreError::NotAllowed(why)),
                }
            }
            (result, _) => result,
        }
    }
    async fn decide(&self, task: &TaskId, feedback: Option<&str>) -> Result<()> {
        self.patiently(|| self.store.decide(task, feedback)).await
    }
    async fn record_review(
        &self,
        task: &TaskId,
        attempt: u32,
        round: u32,
        reviewer: &str,
        outcome: ReviewOutcome,
        spent: Usage,
    ) -> Result<()> {
        self.patiently(|| self.store.record_review(task, attempt, round, reviewer, outcome.clone(), spent)).await
    }
    async fn complete(&self, task: &TaskId, attempt: u32) -> Result<()> {
        self.patiently(|| self.store.complete(task, attempt)).await
    }
    async fn fail(&self, task: &TaskId, attempt: u32, reason: &str, backoff: Duration) -> Result<TaskStatus> {
        self.patiently(|| self.store.fail(task, attempt, reason, backoff)).await
    }
    async fn rescue_expired(&self) -> Result<Vec<Rescued>> {
        self.patiently(|| self.store.rescue_expired()).await
    }
    async fn release(&self, task: &TaskId, attempt: u32, reason: &str) -> Result<()> {
        self.patiently(|| self.store.release(task, attempt, reason)).await
    }
    async fn expire(&self, task: &TaskId, attempt: u32) -> Result<Rescued> {
        self.patiently(|| self.store.expire(task, attempt)).await
    }
    async fn kill(&self, ids: &[TaskId]) -> Result<Vec<Rescued>> {
        self.patiently(|| self.store.kill(ids)).await
    }
    async fn record_session(&self, task: &TaskId, attempt: u32, session: &str) -> Result<()> {
        self.patiently(|| self.store.record_session(task, attempt, session)).await
    }
    async fn record_process(&self, task: &TaskId, attempt: u32, pgid: i64, boot_id: &str) -> Result<()> {
        self.patiently(|| self.store.record_process(task, attempt, pgid, boot_id)).await
    }
    async fn live_attempts(&self) -> Result<Vec<LiveAttempt>> {
        self.patiently(|| self.store.live_attempts()).await
    }
    async fn try_lock(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        self.patiently(|| self.store.try_lock(name, holder, ttl)).await
    }
    async fn unlock(&self, name: &str, holder: &str) -> Result<()> {
        self.patiently(|| self.store.unlock(name, holder)).await
    }
    async fn fence_merge(
        &self,
        task: &TaskId,
        attempt: u32,
        lease: Duration,
        lock: (&str, &str),
        commit: &str,
    ) -> Result<()> {
        self.patiently(|| self.store.fence_merge(task, attempt, lease, lock, commit)).await
    }
    async fn merge_commits(&self, task: &TaskId) -> Result<Vec<(u32, String)>> {
        self.patiently(|| self.store.merge_commits(task)).await
    }
    /// Not waited out: the listener's loop falls back to polling instead.
    async fn ready_listener(&self) -> Result<Option<ReadyListener>> {
        self.store.ready_listener().await
    }
    async fn retry(&self, ids: &[TaskId]) -> Result<()> {
        self.patiently(|| self.store.retry(ids)).await
    }
    async fn cancel(&self, ids: &[TaskId]) -> Result<()> {
        self.patiently(|| self.store.cancel(ids)).await
    }
    async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRecord>> {
        self.patiently(|| self.store.tasks(filter)).await
    }
    async fn task_page(&self, query: &TaskQuery) -> Result<TaskPage> {
        self.patiently(|| self.store.task_page(query)).await
    }
    async fn running(&self) -> Result<Vec<RunningAttempt>> {
        self.patiently(|| self.store.running()).await
    }
    async fn attempt_stats(&self) -> Result<AttemptStats> {
        self.patiently(|| self.store.attempt_stats()).await
    }
    async fn task(&self, id: &str) -> Result<Option<TaskDetail>> {
        self.patiently(|| self.store.task(id)).await
    }
    async fn counts(&self) -> Result<Counts> {
        self.patiently(|| self.store.counts()).await
    }
    async fn spend(&self) -> Result<Usage> {
        self.patiently(|| self.store.spend()).await
    }
    async fn plan_spend(&self, plan: &str) -> Result<Usage> {
        self.patiently(|| self.store.plan_spend(plan)).await
    }
    async fn agent_waiting(&self, task: &TaskId, attempt: u32, wait: &AgentWait) -> Result<()> {
        self.patiently(|| self.store.agent_waiting(task, attempt, wait)).await
    }
    async fn agent_through(&self, agent: &str) -> Result<()> {
        self.patiently(|| self.store.agent_through(agent)).await
    }
    async fn clear_person_waits(&self) -> Result<()> {
        self.patiently(|| self.store.clear_person_waits()).await
    }
    async fn agent_waits(&self) -> Result<Vec<AgentWait>> {
        self.patiently(|| self.store.agent_waits()).await
    }
    async fn record_agent_version(&self, task: &TaskId, attempt: u32, version: &str) -> Result<()> {
        self.patiently(|| self.store.record_agent_version(task, attempt, version)).await
    }
    async fn events(&self, since: i64, limit: usize) -> Result<Vec<Event>> {
        self.patiently(|| self.store.events(since, limit)).await
    }
    async fn last_seq(&self) -> Result<i64> {
        self.patiently(|| self.store.last_seq()).await
    }
    async fn plans(&self) -> Result<Vec<PlanInfo>> {
        self.patiently(|| self.store.plans()).await
    }
    async fn export_plan(&self, name: &str) -> Result<Plan> {
        self.patiently(|| self.store.export_plan(name)).await
    }
}
