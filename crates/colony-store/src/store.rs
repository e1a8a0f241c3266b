//! The `Store` trait and its one SQL implementation over two backends.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use colony_core::{Event, EventKind, Millis, Phase, Plan, ReviewOutcome, RoundCause, TaskId, TaskStatus, Usage};

use crate::clock::Clock;
use crate::error::StoreError;
use crate::ops::{self, Accept, PlanHead};
use crate::postgres::ReadyListener;
use crate::tx::{Result, Tx};
use crate::types::{
    AddOptions, AddReport, AgentWait, AttemptStats, Claim, Counts, LiveAttempt, PlanInfo, Rescued, RunningAttempt,
    TaskDetail, TaskFilter, TaskPage, TaskQuery, TaskRecord,
};

/// colony's durable state: plans, the task projection, attempts and the
/// event log. Every write is one transaction that appends its events.
pub trait Store: Send + Sync {
    /// Imports validated plans, all in one transaction: new tasks are added,
    /// changed ones updated (started ones only with `force`), unchanged ones
    /// left alone. If any plan is refused, none is added.
    fn add_plans(
        &self,
        plans: &[(&Plan, &str)],
        opts: AddOptions,
    ) -> impl Future<Output = Result<Vec<AddReport>>> + Send;

    /// [`Store::add_plans`] for one plan.
    fn add_plan(&self, plan: &Plan, source: &str, opts: AddOptions) -> impl Future<Output = Result<AddReport>> + Send {
        async move {
            let mut reports = self.add_plans(&[(plan, source)], opts).await?;
            Ok(reports.remove(0))
        }
    }
    /// Takes the first ready task in ready order under a lease, or `None`.
    fn claim(&self, worker: &str, lease: Duration) -> impl Future<Output = Result<Option<Claim>>> + Send {
        self.claim_where(worker, lease, &crate::ops::any_task)
    }
    /// Claims the first ready task `accept` takes, as [`Store::claim`]:
    /// tasks whose agent cannot take work now are passed over.
    fn claim_where(
        &self,
        worker: &str,
        lease: Duration,
        accept: Accept<'_>,
    ) -> impl Future<Output = Result<Option<Claim>>> + Send;
    /// Extends the lease of `attempt`; returns its new end, or
    /// [`StoreError::LeaseLost`].
    fn heartbeat(&self, task: &TaskId, attempt: u32, lease: Duration) -> impl Future<Output = Result<Millis>> + Send;
    fn set_phase(&self, task: &TaskId, attempt: u32, phase: Phase) -> impl Future<Output = Result<()>> + Send;
    /// Records that the attempt's agent gets another round (fix or
    /// resolver), fenced like every write of the attempt.
    fn feedback_round(
        &self,
        task: &TaskId,
        attempt: u32,
        round: u32,
        cause: RoundCause,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Ends a leased attempt whose automatic checks passed: the task waits
    /// for a person's `approve` or `reject`, holding no worker.
    fn request_approval(&self, task: &TaskId, attempt: u32) -> impl Future<Output = Result<()>> + Send;
    /// A person's decision on a task awaiting approval: `None` approves its
    /// work for the merge, `Some(feedback)` sends it back to its agent.
    /// Either way the task is ready for a worker to carry it out.
    fn decide(&self, task: &TaskId, feedback: Option<&str>) -> impl Future<Output = Result<()>> + Send;
    /// Keeps one reviewer's answer on one round of an attempt.
    fn record_review(
        &self,
        task: &TaskId,
        attempt: u32,
        round: u32,
        reviewer: &str,
        outcome: ReviewOutcome,
        spent: Usage,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Adds what an agent round spent to its attempt. Not fenced by the
    /// lease: the money is spent whoever holds the task now.
    fn record_usage(&self, task: &TaskId, attempt: u32, usage: Usage) -> impl Future<Output = Result<()>> + Send;
    /// Records that the user's checkout changed (`changes`) while the
    /// attempt's agent ran. Not fenced: it happened whoever holds the task
    /// now.
    fn record_checkout_change(
        &self,
        task: &TaskId,
        attempt: u32,
        changes: &[String],
    ) -> impl Future<Output = Result<()>> + Send;
    /// Records that a round of the attempt found its agent unable to take
    /// work (`wait`), for every process sharing the store, with an event on
    /// the task. Not fenced: it is true whoever holds the task now.
    fn agent_waiting(&self, task: &TaskId, attempt: u32, wait: &AgentWait) -> impl Future<Output = Result<()>> + Send;
    /// A round of `agent` went through: its rate limit, if any, is over.
    fn agent_through(&self, agent: &str) -> impl Future<Output = Result<()>> + Send;
    /// Ends every wait for a person: a new `colony run` says the person
    /// has acted.
    fn clear_person_waits(&self) -> impl Future<Output = Result<()>> + Send;
    /// The agents that cannot take work now.
    fn agent_waits(&self) -> impl Future<Output = Result<Vec<AgentWait>>> + Send;
    /// Records the version the attempt's agent CLI reported.
    fn record_agent_version(
        &self,
        task: &TaskId,
        attempt: u32,
        version: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Marks the attempt's work merged; dependents whose deps are all done
    /// become ready.
    fn complete(&self, task: &TaskId, attempt: u32) -> impl Future<Output = Result<()>> + Send;
    /// Fails the attempt; the task is retried after `backoff` while it has
    /// attempts left. Returns the task's new status.
    fn fail(
        &self,
        task: &TaskId,
        attempt: u32,
        reason: &str,
        backoff: Duration,
    ) -> impl Future<Output = Result<TaskStatus>> + Send;
    /// Takes back every task whose lease ran out.
    fn rescue_expired(&self) -> impl Future<Output = Result<Vec<Rescued>>> + Send;
    /// Gives the task back unfinished (colony is stopping): ready again, the
    /// attempt not counted against its tries.
    fn release(&self, task: &TaskId, attempt: u32, reason: &str) -> impl Future<Output = Result<()>> + Send;
    /// Takes a task back from a worker known to be dead (its process is
    /// gone), as the rescuer would once the lease ran out.
    fn expire(&self, task: &TaskId, attempt: u32) -> impl Future<Output = Result<Rescued>> + Send;
    /// A person kills the running attempts of `ids`, all or none: each
    /// lease is taken back at once (the worker finds it gone at its next
    /// heartbeat and stops the agent), the try counts, and the task is
    /// ready again while it has attempts left, else failed.
    fn kill(&self, ids: &[TaskId]) -> impl Future<Output = Result<Vec<Rescued>>> + Send;
    /// Records the agent session the attempt's rounds ran in.
    fn record_session(&self, task: &TaskId, attempt: u32, session: &str) -> impl Future<Output = Result<()>> + Send;
    /// Records the process group the attempt's agent leads and the boot it
    /// started in, so a later colony can stop it if this one dies.
    fn record_process(
        &self,
        task: &TaskId,
        attempt: u32,
        pgid: i64,
        boot_id: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Every leased task, with its attempt's recorded process.
    fn live_attempts(&self) -> impl Future<Output = Result<Vec<LiveAttempt>>> + Send;
    /// Takes the named lock for `holder` for `ttl` if it is free, expired or
    /// already `holder`'s (which renews it). Returns whether `holder` has it.
    fn try_lock(&self, name: &str, holder: &str, ttl: Duration) -> impl Future<Output = Result<bool>> + Send;
    /// Lets go of the named lock if `holder` has it.
    fn unlock(&self, name: &str, holder: &str) -> impl Future<Output = Result<()>> + Send;
    /// The last fenced write before an attempt publishes its merge where it
    /// cannot be taken back (a push to a shared remote): succeeds only while
    /// `holder` holds lock `lock` ([`StoreError::LockLost`]) and the attempt
    /// its lease ([`StoreError::LeaseLost`]), which it extends; records
    /// `commit` as what the attempt merges.
    fn fence_merge(
        &self,
        task: &TaskId,
        attempt: u32,
        lease: Duration,
        lock: (&str, &str),
        commit: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The merge commits recorded by [`Store::fence_merge`] for the task's
    /// attempts, by attempt number.
    fn merge_commits(&self, task: &TaskId) -> impl Future<Output = Result<Vec<(u32, String)>>> + Send;
    /// Wakes idle workers of every process sharing the store when tasks
    /// become claimable (PostgreSQL's LISTEN/NOTIFY); `None` on a backend
    /// without it (SQLite), whose workers poll.
    fn ready_listener(&self) -> impl Future<Output = Result<Option<ReadyListener>>> + Send;
    /// Sends failed or cancelled tasks back to the queue, all or none.
    fn retry(&self, ids: &[TaskId]) -> impl Future<Output = Result<()>> + Send;
    /// Cancels tasks, all or none; their dependents become blocked.
    fn cancel(&self, ids: &[TaskId]) -> impl Future<Output = Result<()>> + Send;

    fn tasks(&self, filter: &TaskFilter) -> impl Future<Output = Result<Vec<TaskRecord>>> + Send;
    /// One page of the tasks `query` selects, in plan order, and how many
    /// it selects in all: what the dashboard's table shows.
    fn task_page(&self, query: &TaskQuery) -> impl Future<Output = Result<TaskPage>> + Send;
    fn task(&self, id: &str) -> impl Future<Output = Result<Option<TaskDetail>>> + Send;
    /// Every leased task with its title, phase and attempt start, oldest
    /// attempt first.
    fn running(&self) -> impl Future<Output = Result<Vec<RunningAttempt>>> + Send;
    /// How many attempts ended merged and how long they took.
    fn attempt_stats(&self) -> impl Future<Output = Result<AttemptStats>> + Send;
    fn counts(&self) -> impl Future<Output = Result<Counts>> + Send;
    /// What every attempt of every task spent.
    fn spend(&self) -> impl Future<Output = Result<Usage>> + Send;
    /// What the attempts of one plan's tasks spent.
    fn plan_spend(&self, plan: &str) -> impl Future<Output = Result<Usage>> + Send;
    /// Events after `since`, oldest first, at most `limit`.
    fn events(&self, since: i64, limit: usize) -> impl Future<Output = Result<Vec<Event>>> + Send;
    fn last_seq(&self) -> impl Future<Output = Result<i64>> + Send;
    fn plans(&self) -> impl Future<Output = Result<Vec<PlanInfo>>> + Send;
    /// The plan as stored, in the shape `add_plan` takes.
    fn export_plan(&self, name: &str) -> impl Future<Output = Result<Plan>> + Send;
}

/// How a database opens transactions.
pub trait Backend: Send + Sync + 'static {
    type Tx: Tx;
    /// A transaction that will write: on SQLite `BEGIN IMMEDIATE`, so it
    /// holds the write lock from the start and never fails to upgrade.
    fn begin_write(&self) -> impl Future<Output = Result<Self::Tx>> + Send;
    fn begin_read(&self) -> impl Future<Output = Result<Self::Tx>> + Send;
    /// See [`Store::ready_listener`].
    fn ready_listener(&self) -> impl Future<Output = Result<Option<ReadyListener>>> + Send;
}

/// The store over a SQL backend.
pub struct SqlStore<B> {
    pub(crate) backend: B,
    pub(crate) clock: Arc<dyn Clock>,
}

/// Conflicts (deadlock, busy) are retried this many times.
const TRANSIENT_RETRIES: u32 = 12;

/// Runs `$body` in a write transaction named `$tx` at time `$now`, commits,
/// and runs it again on a transient conflict. A failed body is rolled back
/// before this returns: a transaction merely dropped is rolled back later,
/// and until then its row locks make `SKIP LOCKED` claims pass over rows
/// that are free. The body's error is the one returned: a rollback that
/// fails too (a full disk fails both) leaves the connection closed, not
/// in doubt (see `sql.rs`).
macro_rules! write_tx {
    ($self:ident, |$tx:ident, $now:ident| $body:expr) => {{
        let mut tries = 0u32;
        loop {
            let outcome = async {
                let mut $tx = $self.backend.begin_write().await?;
                let $now = $self.clock.now();
                let result: Result<_> = async { Ok($body) }.await;
                match result {
                    Ok(value) => {
                        Tx::commit($tx).await?;
                        Ok(value)
                    }
                    Err(e) => {
                        let _ = Tx::rollback($tx).await;
                        Err(e)
                    }
                }
            }
            .await;
            match outcome {
                Err(e) if StoreError::is_transient(&e) && tries < TRANSIENT_RETRIES => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(2u64 << tries.min(8))).await;
                }
                other => break other,
            }
        }
    }};
}

impl<B: Backend> SqlStore<B> {
    async fn read(&self) -> Result<B::Tx> {
        self.backend.begin_read().await
    }
}

impl<B: Backend> Store for SqlStore<B> {
    async fn add_plans(&self, plans: &[(&Plan, &str)], opts: AddOptions) -> Result<Vec<AddReport>> {
        write_tx!(self, |tx, now| {
            let mut reports = Vec::with_capacity(plans.len());
            for (plan, source) in plans {
                reports.push(ops::add_plan(&mut tx, plan, source, opts, now).await?);
            }
            reports
        })
    }

    async fn claim_where(&self, worker: &str, lease: Duration, accept: Accept<'_>) -> Result<Option<Claim>> {
        write_tx!(self, |tx, now| ops::claim(&mut tx, worker, lease, accept, now).await?)
    }

    async fn heartbeat(&self, task: &TaskId, attempt: u32, lease: Duration) -> Result<Millis> {
        write_tx!(self, |tx, now| ops::heartbeat(&mut tx, task, attempt, lease, now).await?)
    }

    async fn set_phase(&self, task: &TaskId, attempt: u32, phase: Phase) -> Result<()> {
        write_tx!(self, |tx, now| ops::set_phase(&mut tx, task, attempt, phase, now).await?)
    }

    async fn feedback_round(&self, task: &TaskId, attempt: u32, round: u32, cause: RoundCause) -> Result<()> {
        write_tx!(self, |tx, now| ops::feedback_round(&mut tx, task, attempt, round, cause.clone(), now).await?)
    }

    async fn request_approval(&self, task: &TaskId, attempt: u32) -> Result<()> {
        write_tx!(self, |tx, now| ops::request_approval(&mut tx, task, attempt, now).await?)
    }

    async fn decide(&self, task: &TaskId, feedback: Option<&str>) -> Result<()> {
        write_tx!(self, |tx, now| ops::decide(&mut tx, task, feedback, now).await?)
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
        let review = EventKind::ReviewRecorded { attempt, round, reviewer: reviewer.to_owned(), outcome, spent };
        write_tx!(self, |tx, now| ops::record_review(&mut tx, task, review.clone(), now).await?)
    }

    async fn record_usage(&self, task: &TaskId, attempt: u32, usage: Usage) -> Result<()> {
        write_tx!(self, |tx, now| ops::record_usage(&mut tx, task, attempt, usage, now).await?)
    }

    async fn record_checkout_change(&self, task: &TaskId, attempt: u32, changes: &[String]) -> Result<()> {
        write_tx!(self, |tx, now| ops::record_checkout_change(&mut tx, task, attempt, changes, now).await?)
    }

    async fn agent_waiting(&self, task: &TaskId, attempt: u32, wait: &AgentWait) -> Result<()> {
        write_tx!(self, |tx, now| ops::agent_waiting(&mut tx, task, attempt, wait, now).await?)
    }

    async fn agent_through(&self, agent: &str) -> Result<()> {
        write_tx!(self, |tx, _now| tx.delete_agent_wait(agent, true).await?)
    }

    async fn clear_person_waits(&self) -> Result<()> {
        write_tx!(self, |tx, now| {
            for wait in tx.agent_waits(now).await? {
                if wait.ends_at.is_none() {
                    tx.delete_agent_wait(&wait.agent, false).await?;
                }
            }
        })
    }

    async fn agent_waits(&self) -> Result<Vec<AgentWait>> {
        let now = self.clock.now();
        self.read().await?.agent_waits(now).await
    }

    async fn record_agent_version(&self, task: &TaskId, attempt: u32, version: &str) -> Result<()> {
        write_tx!(self, |tx, _now| tx.set_agent_version(task, attempt, version).await?)
    }

    async fn complete(&self, task: &TaskId, attempt: u32) -> Result<()> {
        write_tx!(self, |tx, now| ops::complete(&mut tx, task, attempt, now).await?)
    }

    async fn fail(&self, task: &TaskId, attempt: u32, reason: &str, backoff: Duration) -> Result<TaskStatus> {
        write_tx!(self, |tx, now| ops::fail(&mut tx, task, attempt, reason, backoff, now).await?)
    }

    async fn rescue_expired(&self) -> Result<Vec<Rescued>> {
        // Workers poll this while idle; look before taking the write lock.
        if self.read().await?.expired(self.clock.now()).await?.is_empty() {
            return Ok(Vec::new());
        }
        write_tx!(self, |tx, now| ops::rescue(&mut tx, now).await?)
    }

    async fn release(&self, task: &TaskId, attempt: u32, reason: &str) -> Result<()> {
        write_tx!(self, |tx, now| ops::release(&mut tx, task, attempt, reason, now).await?)
    }

    async fn expire(&self, task: &TaskId, attempt: u32) -> Result<Rescued> {
        write_tx!(self, |tx, now| ops::expire(&mut tx, task, attempt, now).await?)
    }

    async fn kill(&self, ids: &[TaskId]) -> Result<Vec<Rescued>> {
        write_tx!(self, |tx, now| ops::kill(&mut tx, ids, now).await?)
    }

    async fn record_session(&self, task: &TaskId, attempt: u32, session: &str) -> Result<()> {
        write_tx!(self, |tx, _now| tx.set_session(task, attempt, session).await?)
    }

    async fn record_process(&self, task: &TaskId, attempt: u32, pgid: i64, boot_id: &str) -> Result<()> {
        write_tx!(self, |tx, _now| {
            tx.record_process(task, attempt, pgid, boot_id).await?;
        })
    }

    async fn live_attempts(&self) -> Result<Vec<LiveAttempt>> {
        self.read().await?.live_attempts().await
    }

    async fn try_lock(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        write_tx!(self, |tx, now| tx.try_lock(name, holder, now + ttl.as_millis() as Millis, now).await?)
    }

    async fn unlock(&self, name: &str, holder: &str) -> Result<()> {
        write_tx!(self, |tx, _now| tx.unlock(name, holder).await?)
    }

    async fn fence_merge(
        &self,
        task: &TaskId,
        attempt: u32,
        lease: Duration,
        lock: (&str, &str),
        commit: &str,
    ) -> Result<()> {
        write_tx!(self, |tx, now| ops::fence_merge(&mut tx, task, attempt, lease, lock, commit, now).await?)
    }

    async fn merge_commits(&self, task: &TaskId) -> Result<Vec<(u32, String)>> {
        self.read().await?.merge_commits(task.as_str()).await
    }

    async fn ready_listener(&self) -> Result<Option<ReadyListener>> {
        self.backend.ready_listener().await
    }

    async fn retry(&self, ids: &[TaskId]) -> Result<()> {
        write_tx!(self, |tx, now| ops::retry(&mut tx, ids, now).await?)
    }

    async fn cancel(&self, ids: &[TaskId]) -> Result<()> {
        write_tx!(self, |tx, now| ops::cancel(&mut tx, ids, now).await?)
    }

    async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRecord>> {
        self.read().await?.list(filter).await
    }

    async fn task_page(&self, query: &TaskQuery) -> Result<TaskPage> {
        self.read().await?.page(query).await
    }

    async fn running(&self) -> Result<Vec<RunningAttempt>> {
        self.read().await?.running().await
    }

    async fn attempt_stats(&self) -> Result<AttemptStats> {
        self.read().await?.attempt_stats().await
    }

    async fn task(&self, id: &str) -> Result<Option<TaskDetail>> {
        let mut tx = self.read().await?;
        let Some(record) = tx.record(id).await? else {
            return Ok(None);
        };
        Ok(Some(TaskDetail {
            record,
            spec: tx.spec(id).await?,
            dependents: tx.dependents(id).await?,
            attempts: tx.attempts(id).await?,
            events: tx.task_events(id).await?,
        }))
    }

    async fn spend(&self) -> Result<Usage> {
        self.read().await?.total_usage().await
    }

    async fn plan_spend(&self, plan: &str) -> Result<Usage> {
        self.read().await?.plan_usage(plan).await
    }

    async fn counts(&self) -> Result<Counts> {
        let rows = self.read().await?.status_counts().await?;
        let mut counts = Counts::default();
        for (status, n) in rows {
            let status: TaskStatus = status.parse().map_err(|_| StoreError::Corrupt {
                what: format!("status `{status}`"),
                source: serde::de::Error::custom("unknown status"),
            })?;
            counts.total += n as usize;
            counts.by_status.insert(status, n as usize);
        }
        Ok(counts)
    }

    async fn events(&self, since: i64, limit: usize) -> Result<Vec<Event>> {
        self.read().await?.events(since, limit.min(i64::MAX as usize) as i64).await
    }

    async fn last_seq(&self) -> Result<i64> {
        self.read().await?.last_seq().await
    }

    async fn plans(&self) -> Result<Vec<PlanInfo>> {
        self.read().await?.plans().await
    }

    async fn export_plan(&self, name: &str) -> Result<Plan> {
        let mut tx = self.read().await?;
        let head = tx.plan_head(name).await?.ok_or_else(|| StoreError::NoSuchPlan(name.to_owned()))?;
        let head: PlanHead = crate::row::json(format!("plan {name}"), &head)?;
        let tasks = tx.plan_specs(name).await?;
        Ok(Plan { name: head.name, base: head.base, defaults: head.defaults, tasks })
    }
}
