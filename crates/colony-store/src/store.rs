//! The `Store` trait and its one SQL implementation over two backends.

use std::future::Future;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use colony_core::ports::Ports;
use colony_core::{Event, EventKind, Millis, Phase, Plan, ReviewOutcome, RoundCause, TaskId, TaskStatus, Usage};

use crate::clock::Clock;
use crate::error::StoreError;
use crate::ops::{self, Accept, Bindable};
use crate::patience::{Patience, Retry};
use crate::postgres::{Listener, Postgres};
use crate::sqlite::Sqlite;
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
    /// Records how far the leased attempt's agent says it is (`message`
    /// as `colony_core::event::progress_message` made it).
    fn report_progress(&self, task: &TaskId, attempt: u32, message: &str) -> impl Future<Output = Result<()>> + Send;
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
    /// Ends a leased attempt whose agent asked a person `question`: the
    /// task waits for `answer`, holding no worker, for `wait` at most.
    fn request_input(
        &self,
        task: &TaskId,
        attempt: u32,
        question: &str,
        wait: std::time::Duration,
    ) -> impl Future<Output = Result<()>> + Send;
    /// A person's answer to the question of a task awaiting input: the task
    /// is ready for a worker to take the answer to its agent.
    fn answer(&self, task: &TaskId, text: &str) -> impl Future<Output = Result<()>> + Send;
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
    /// Records a colony process working on the store; its `started_at` and
    /// `seen_at` are set to now. Returns it as recorded.
    /// Records the review comments `colony pr-fixes` made into tasks.
    fn add_review_comments(&self, comments: &[crate::types::ReviewComment]) -> impl Future<Output = Result<()>> + Send;
    /// Every review comment made into a task.
    fn review_comments(&self) -> impl Future<Output = Result<Vec<crate::types::ReviewComment>>> + Send;
    /// Records that the comment task `task` of `plan` addresses was answered
    /// naming `commit`.
    fn set_replied(&self, plan: &str, task: &str, commit: &str) -> impl Future<Output = Result<()>> + Send;
    fn register_run(&self, run: crate::types::RunEntry) -> impl Future<Output = Result<crate::types::RunEntry>> + Send;
    /// Says the process `id` is alive now.
    fn touch_run(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Takes the process `id` out: it has ended.
    fn end_run(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Every process recorded, alive or not, oldest first.
    fn runs(&self) -> impl Future<Output = Result<Vec<crate::types::RunEntry>>> + Send;
    /// Every `[notify]` sink's place in the event log.
    fn notify_cursors(&self) -> impl Future<Output = Result<Vec<crate::types::NotifyCursor>>> + Send;
    /// Moves a `[notify]` sink's place in the event log: only while
    /// `holder` holds the named lock `lock` ([`StoreError::LockLost`]), so
    /// one process delivers notices at a time.
    fn advance_notify(
        &self,
        cursor: &crate::types::NotifyCursor,
        lock: (&str, &str),
    ) -> impl Future<Output = Result<()>> + Send;
    /// Records that this process stopped taking new work, and why.
    fn work_halted(&self, reason: &str) -> impl Future<Output = Result<()>> + Send;
    /// Records that this process finished its run: `summary` in one line,
    /// and the reports written of it, by path.
    fn run_finished(&self, summary: &str, reports: &[String]) -> impl Future<Output = Result<()>> + Send;
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
    /// Takes back every task whose lease ran out, and fails every task whose
    /// agent's question went unanswered for the time it could wait.
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
    /// Records what the attempt's agent said last when it was done; a
    /// later round's answer replaces an earlier one's.
    fn record_answer(&self, task: &TaskId, attempt: u32, answer: &str) -> impl Future<Output = Result<()>> + Send;
    /// Keeps the follow-up tasks the attempt's agent proposed; they join
    /// the plan when the attempt's work merges. What it proposes later is
    /// added to what it proposed before, a task replacing the one with its
    /// id (`Proposed::after`). Returns what would become of them all now.
    fn record_followups(
        &self,
        task: &TaskId,
        attempt: u32,
        proposed: &colony_core::plan::Proposed,
    ) -> impl Future<Output = Result<colony_core::plan::Judged>> + Send;
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
    /// Gives the live attempt the lowest block of `want.1` ports of the
    /// range `want.0` that overlaps no live block and whose every port
    /// `bindable` accepts, and records it on the attempt; `None` when
    /// there is none. The block is the attempt's until it ends or loses
    /// its lease; nothing needs to let it go. Fenced by the lease.
    fn take_ports(
        &self,
        task: &TaskId,
        attempt: u32,
        want: (Ports, u16),
        bindable: Bindable<'_>,
    ) -> impl Future<Output = Result<Option<Ports>>> + Send;
    /// As [`Store::take_ports`], for `holder`, which is not an attempt:
    /// the block is its own for `ttl`, or until [`Store::free_ports`].
    fn hold_ports(
        &self,
        holder: &str,
        want: (Ports, u16),
        ttl: Duration,
        bindable: Bindable<'_>,
    ) -> impl Future<Output = Result<Option<Ports>>> + Send;
    /// Lets go of `holder`'s block of ports.
    fn free_ports(&self, holder: &str) -> impl Future<Output = Result<()>> + Send;
    /// The merge commits recorded by [`Store::fence_merge`] for the task's
    /// attempts, by attempt number.
    fn merge_commits(&self, task: &TaskId) -> impl Future<Output = Result<Vec<(u32, String)>>> + Send;
    /// Wakes idle workers of every process sharing the store when tasks
    /// become claimable (PostgreSQL's LISTEN/NOTIFY); `None` on a backend
    /// without it (SQLite), whose workers poll.
    fn ready_listener(&self) -> impl Future<Output = Result<Option<Listener>>> + Send;
    /// Wakes a tail of the event log when any process sharing the store
    /// writes events, as [`Store::ready_listener`]; `None` on SQLite.
    fn event_listener(&self) -> impl Future<Output = Result<Option<Listener>>> + Send;
    /// Sends failed or cancelled tasks back to the queue, all or none.
    fn retry(&self, ids: &[TaskId]) -> impl Future<Output = Result<()>> + Send;
    /// Cancels tasks, all or none; their dependents become blocked.
    fn cancel(&self, ids: &[TaskId]) -> impl Future<Output = Result<()>> + Send;
    /// Replaces a failed or blocked task, in one transaction: `plan` (the
    /// task's plan as it is to be, without it, its dependents rewired to
    /// the new tasks; `colony_core::plan::replace`) is imported from
    /// `source`, then the task is `replaced` by the new ones.
    fn replace_task(
        &self,
        plan: &Plan,
        source: &str,
        replaced: &TaskId,
    ) -> impl Future<Output = Result<AddReport>> + Send;

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

    /// This store, on the same connections, waiting out connection errors
    /// and a full disk as `patience` says (see [`crate::patience`]): what
    /// a run uses, which must not fail a task because the database was
    /// away for a while.
    fn patient(&self, patience: Patience) -> Self;
}

/// How a database opens transactions.
pub(crate) trait Backend: Send + Sync + 'static {
    type Tx: Tx;
    /// A transaction that will write: on SQLite `BEGIN IMMEDIATE`, so it
    /// holds the write lock from the start and never fails to upgrade.
    fn begin_write(&self) -> impl Future<Output = Result<Self::Tx>> + Send;
    fn begin_read(&self) -> impl Future<Output = Result<Self::Tx>> + Send;
    /// Listens on `channel`; see [`Store::ready_listener`].
    fn listen(&self, channel: Channel) -> impl Future<Output = Result<Option<Listener>>> + Send;
    /// Closes the connection pool.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// What a [`Listener`] hears of.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Channel {
    /// Tasks became claimable.
    Ready,
    /// Events were written.
    Events,
}

/// The database a store is on, chosen when it is opened.
pub(crate) enum Db {
    Sqlite(Sqlite),
    Postgres(Postgres),
}

/// The store: one implementation of [`Store`] over SQLite or PostgreSQL.
///
/// Clones share the database's connections. A handle made
/// [`patient`](Store::patient) waits out connection errors and a full
/// disk (see [`crate::patience`]); one as opened returns them at once.
#[derive(Clone)]
pub struct SqlStore {
    pub(crate) db: Arc<Db>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) patience: Option<Arc<Patience>>,
}

/// Evaluates `$body` with `$b` bound to the store's backend, whichever it
/// is: the body is written once and compiled for each.
macro_rules! on_backend {
    ($self:ident, |$b:ident| $body:expr) => {
        match &*$self.db {
            Db::Sqlite($b) => $body,
            Db::Postgres($b) => $body,
        }
    };
}

/// Runs a call's tries until [`Retry::again`] has its result: `$try`
/// evaluates one try, seeing the call's `Retry` as `$retry`.
macro_rules! retrying {
    ($self:ident, |$retry:ident| $try:expr) => {{
        let mut $retry = Retry::default();
        loop {
            let outcome = $try;
            if let ControlFlow::Break(result) = $retry.again(outcome, $self.patience.as_deref()).await {
                break result;
            }
        }
    }};
}

/// Runs `$body` in a write transaction named `$tx` at time `$now`, commits,
/// and runs it again on a transient conflict and, when the store is
/// patient, on an outage (`$retried`, if named, is then true). A failed
/// body is rolled back before this returns: a transaction merely dropped is
/// rolled back later, and until then its row locks make `SKIP LOCKED`
/// claims pass over rows that are free. The body's error is the one
/// returned: a rollback that fails too (a full disk fails both) leaves the
/// connection closed, not in doubt (see `sql.rs`).
macro_rules! write_tx {
    ($self:ident, |$tx:ident, $now:ident $(, $retried:ident)?| $body:expr) => {
        retrying!($self, |retry| {
            $(let $retried = retry.after_outage();)?
            on_backend!($self, |backend| async {
                let mut $tx = backend.begin_write().await?;
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
            .await)
        })
    };
}

/// Runs `$body` in a read transaction named `$tx`, again on an outage when
/// the store is patient.
macro_rules! read_tx {
    ($self:ident, |$tx:ident| $body:expr) => {
        retrying!($self, |_retry| on_backend!($self, |backend| async {
            #[allow(unused_mut)]
            let mut $tx = backend.begin_read().await?;
            $body
        }
        .await))
    };
}

impl SqlStore {
    pub(crate) fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        SqlStore { db: Arc::new(db), clock, patience: None }
    }

    /// Closes the store's connections.
    pub async fn close(&self) {
        on_backend!(self, |backend| backend.close().await)
    }
}

impl Store for SqlStore {
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
        write_tx!(self, |tx, now, retried| ops::set_phase(&mut tx, task, attempt, phase, retried, now).await?)
    }

    async fn feedback_round(&self, task: &TaskId, attempt: u32, round: u32, cause: RoundCause) -> Result<()> {
        write_tx!(self, |tx, now| ops::feedback_round(&mut tx, task, attempt, round, cause.clone(), now).await?)
    }

    async fn report_progress(&self, task: &TaskId, attempt: u32, message: &str) -> Result<()> {
        let said = EventKind::ProgressReported { attempt, message: message.to_owned() };
        write_tx!(self, |tx, now| ops::record_fenced(&mut tx, task, said.clone(), now).await?)
    }

    async fn request_approval(&self, task: &TaskId, attempt: u32) -> Result<()> {
        write_tx!(self, |tx, now, retried| ops::request_approval(&mut tx, task, attempt, retried, now).await?)
    }

    async fn request_input(&self, task: &TaskId, attempt: u32, question: &str, wait: Duration) -> Result<()> {
        let wait = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        write_tx!(self, |tx, now, retried| ops::request_input(
            &mut tx,
            task,
            attempt,
            question,
            now.saturating_add(wait),
            retried,
            now
        )
        .await?)
    }

    async fn answer(&self, task: &TaskId, text: &str) -> Result<()> {
        write_tx!(self, |tx, now| ops::answer(&mut tx, task, text, now).await?)
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
        read_tx!(self, |tx| tx.agent_waits(now).await)
    }

    async fn add_review_comments(&self, comments: &[crate::types::ReviewComment]) -> Result<()> {
        write_tx!(self, |tx, _now| tx.put_review_comments(comments).await?)
    }

    async fn review_comments(&self) -> Result<Vec<crate::types::ReviewComment>> {
        read_tx!(self, |tx| tx.review_comments().await)
    }

    async fn set_replied(&self, plan: &str, task: &str, commit: &str) -> Result<()> {
        write_tx!(self, |tx, _now| tx.set_replied(plan, task, commit).await?)
    }

    async fn register_run(&self, run: crate::types::RunEntry) -> Result<crate::types::RunEntry> {
        write_tx!(self, |tx, now| {
            let run = crate::types::RunEntry {
                id: format!("{}:{}:{now}", run.host, run.pid),
                started_at: now,
                seen_at: now,
                ..run.clone()
            };
            tx.put_run(&run).await?;
            run
        })
    }

    async fn touch_run(&self, id: &str) -> Result<()> {
        write_tx!(self, |tx, now| tx.touch_run(id, now).await?)
    }

    async fn end_run(&self, id: &str) -> Result<()> {
        write_tx!(self, |tx, _now| tx.delete_run(id).await?)
    }

    async fn runs(&self) -> Result<Vec<crate::types::RunEntry>> {
        read_tx!(self, |tx| tx.runs().await)
    }

    async fn notify_cursors(&self) -> Result<Vec<crate::types::NotifyCursor>> {
        read_tx!(self, |tx| tx.notify_cursors().await)
    }

    async fn advance_notify(&self, cursor: &crate::types::NotifyCursor, lock: (&str, &str)) -> Result<()> {
        let (name, holder) = lock;
        write_tx!(self, |tx, now| {
            if !tx.holds_lock(name, holder, now).await? {
                return Err(StoreError::LockLost { name: name.to_owned(), holder: holder.to_owned() });
            }
            tx.set_notify_cursor(cursor, now).await?
        })
    }

    async fn work_halted(&self, reason: &str) -> Result<()> {
        let said = EventKind::WorkHalted { reason: reason.to_owned() };
        write_tx!(self, |tx, now| tx.append(&[(None, said.clone())], now).await?)
    }

    async fn run_finished(&self, summary: &str, reports: &[String]) -> Result<()> {
        let said = EventKind::RunFinished { summary: summary.to_owned(), reports: reports.to_vec() };
        write_tx!(self, |tx, now| tx.append(&[(None, said.clone())], now).await?)
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
        let late = read_tx!(self, |tx| {
            let now = self.clock.now();
            let mut late = tx.expired(now).await?;
            late.extend(tx.unanswered(now).await?);
            Ok::<_, StoreError>(late)
        })?;
        if late.is_empty() {
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

    async fn record_answer(&self, task: &TaskId, attempt: u32, answer: &str) -> Result<()> {
        write_tx!(self, |tx, _now| tx.set_answer(task, attempt, answer).await?)
    }

    async fn record_followups(
        &self,
        task: &TaskId,
        attempt: u32,
        proposed: &colony_core::plan::Proposed,
    ) -> Result<colony_core::plan::Judged> {
        write_tx!(self, |tx, _now| ops::record_followups(&mut tx, task, attempt, proposed).await?)
    }

    async fn record_process(&self, task: &TaskId, attempt: u32, pgid: i64, boot_id: &str) -> Result<()> {
        write_tx!(self, |tx, _now| {
            tx.record_process(task, attempt, pgid, boot_id).await?;
        })
    }

    async fn live_attempts(&self) -> Result<Vec<LiveAttempt>> {
        read_tx!(self, |tx| tx.live_attempts().await)
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

    async fn take_ports(
        &self,
        task: &TaskId,
        attempt: u32,
        want: (Ports, u16),
        bindable: Bindable<'_>,
    ) -> Result<Option<Ports>> {
        write_tx!(self, |tx, now| ops::take_ports(&mut tx, task, attempt, want, bindable, now).await?)
    }

    async fn hold_ports(
        &self,
        holder: &str,
        want: (Ports, u16),
        ttl: Duration,
        bindable: Bindable<'_>,
    ) -> Result<Option<Ports>> {
        write_tx!(self, |tx, now| ops::hold_ports(&mut tx, holder, want, now + ops::millis(ttl), bindable, now).await?)
    }

    async fn free_ports(&self, holder: &str) -> Result<()> {
        write_tx!(self, |tx, _now| tx.delete_port_hold(holder).await?)
    }

    async fn merge_commits(&self, task: &TaskId) -> Result<Vec<(u32, String)>> {
        read_tx!(self, |tx| tx.merge_commits(task.as_str()).await)
    }

    async fn ready_listener(&self) -> Result<Option<Listener>> {
        on_backend!(self, |backend| backend.listen(Channel::Ready).await)
    }

    async fn event_listener(&self) -> Result<Option<Listener>> {
        on_backend!(self, |backend| backend.listen(Channel::Events).await)
    }

    async fn retry(&self, ids: &[TaskId]) -> Result<()> {
        write_tx!(self, |tx, now| ops::retry(&mut tx, ids, now).await?)
    }

    async fn cancel(&self, ids: &[TaskId]) -> Result<()> {
        write_tx!(self, |tx, now| ops::cancel(&mut tx, ids, now).await?)
    }

    async fn replace_task(&self, plan: &Plan, source: &str, replaced: &TaskId) -> Result<AddReport> {
        write_tx!(self, |tx, now| ops::replace_task(&mut tx, plan, source, replaced, now).await?)
    }

    async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRecord>> {
        read_tx!(self, |tx| tx.list(filter).await)
    }

    async fn task_page(&self, query: &TaskQuery) -> Result<TaskPage> {
        read_tx!(self, |tx| tx.page(query).await)
    }

    async fn running(&self) -> Result<Vec<RunningAttempt>> {
        read_tx!(self, |tx| tx.running().await)
    }

    async fn attempt_stats(&self) -> Result<AttemptStats> {
        read_tx!(self, |tx| tx.attempt_stats().await)
    }

    async fn task(&self, id: &str) -> Result<Option<TaskDetail>> {
        read_tx!(self, |tx| {
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
        })
    }

    async fn spend(&self) -> Result<Usage> {
        read_tx!(self, |tx| tx.total_usage().await)
    }

    async fn plan_spend(&self, plan: &str) -> Result<Usage> {
        read_tx!(self, |tx| tx.plan_usage(plan).await)
    }

    async fn counts(&self) -> Result<Counts> {
        let rows = read_tx!(self, |tx| tx.status_counts().await)?;
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
        read_tx!(self, |tx| tx.events(since, limit.min(i64::MAX as usize) as i64).await)
    }

    async fn last_seq(&self) -> Result<i64> {
        read_tx!(self, |tx| tx.last_seq().await)
    }

    async fn plans(&self) -> Result<Vec<PlanInfo>> {
        read_tx!(self, |tx| tx.plans().await)
    }

    async fn export_plan(&self, name: &str) -> Result<Plan> {
        read_tx!(self, |tx| ops::stored_plan(&mut tx, name).await)
    }

    fn patient(&self, patience: Patience) -> Self {
        SqlStore { patience: Some(Arc::new(patience)), ..self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use colony_core::{PlanName, TaskSpec};

    use super::*;
    use crate::clock::SystemClock;

    const LEASE: Duration = Duration::from_secs(60);

    /// A SQLite store holding one task, claimed and moved to checking.
    async fn checking() -> (tempfile::TempDir, SqlStore, TaskId) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqlStore::open_sqlite(&dir.path().join("c.db"), Arc::new(SystemClock)).await.unwrap();
        let id = TaskId::new("t").unwrap();
        let tasks = vec![TaskSpec::new(id.clone(), "T", "Do it.")];
        let plan = Plan { name: PlanName::new("p").unwrap(), base: None, defaults: Default::default(), tasks };
        store.add_plan(&plan, "p.yaml", AddOptions::default()).await.unwrap();
        store.claim("w", LEASE).await.unwrap().unwrap();
        store.set_phase(&id, 1, Phase::Checking).await.unwrap();
        (dir, store, id)
    }

    /// A phase change or approval request tried again after an outage,
    /// whose first try committed unseen, finds its change made and counts
    /// it as its own; the same write without an outage is refused.
    #[tokio::test]
    async fn a_write_retried_after_an_outage_takes_its_change_found_made_as_its_own() {
        let (_dir, store, id) = checking().await;
        let again = |attempt, retried| {
            let (store, id) = (&store, &id);
            async move {
                write_tx!(store, |tx, now| ops::set_phase(&mut tx, id, attempt, Phase::Checking, retried, now).await?)
            }
        };
        assert!(matches!(again(1, false).await, Err(StoreError::NotAllowed(_))));
        again(1, true).await.unwrap();
        assert!(
            matches!(again(2, true).await, Err(StoreError::LeaseLost { .. })),
            "another attempt's is not found made"
        );

        store.request_approval(&id, 1).await.unwrap();
        let approve = |retried| {
            let (store, id) = (&store, &id);
            async move { write_tx!(store, |tx, now| ops::request_approval(&mut tx, id, 1, retried, now).await?) }
        };
        assert!(approve(false).await.is_err());
        approve(true).await.unwrap();
        let events = store.events(0, usize::MAX).await.unwrap();
        let approvals = events.iter().filter(|e| matches!(e.kind, EventKind::ApprovalRequested { .. })).count();
        assert_eq!(approvals, 1, "the retried request wrote nothing more");
    }
}
