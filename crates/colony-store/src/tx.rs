//! The primitive operations a store transaction offers.
//!
//! [`crate::ops`] writes colony's store logic once against this trait; the
//! SQLite and PostgreSQL backends implement it with the same SQL, differing
//! only where the databases do (row locks, `SKIP LOCKED`, how a write
//! transaction begins). Every method runs inside one transaction.

use std::future::Future;

use colony_core::ports::Ports;
use colony_core::{Event, EventKind, Millis, PlanName, Task, TaskId, TaskSpec};

use crate::error::StoreError;
use crate::types::{
    AttemptRecord, AttemptStats, LiveAttempt, PlanInfo, RunningAttempt, TaskFilter, TaskPage, TaskQuery, TaskRecord,
};

pub type Result<T> = std::result::Result<T, StoreError>;

/// A new task row.
pub struct NewTask<'a> {
    pub task: &'a Task,
    pub spec: &'a TaskSpec,
    pub ord: i64,
    pub path_weight: f64,
}

pub trait Tx: Send {
    /// The task's projection; with `lock`, the row stays locked until the
    /// transaction ends (PostgreSQL; SQLite transactions are serialized).
    fn load(&mut self, id: &str, lock: bool) -> impl Future<Output = Result<Option<Task>>> + Send;
    /// Writes the projection columns of `task`.
    fn save(&mut self, task: &Task, now: Millis) -> impl Future<Output = Result<()>> + Send;
    fn insert_task(&mut self, new: NewTask<'_>, now: Millis) -> impl Future<Output = Result<()>> + Send;
    fn set_spec(&mut self, id: &TaskId, spec: &TaskSpec) -> impl Future<Output = Result<()>> + Send;
    fn set_path_weight(&mut self, id: &TaskId, weight: f64) -> impl Future<Output = Result<()>> + Send;
    fn spec(&mut self, id: &str) -> impl Future<Output = Result<TaskSpec>> + Send;
    fn replace_deps(&mut self, id: &TaskId, deps: &[TaskId]) -> impl Future<Output = Result<()>> + Send;
    fn deps(&mut self, id: &str) -> impl Future<Output = Result<Vec<TaskId>>> + Send;
    /// The projections of a task's dependencies, unlocked, in one query.
    fn dep_tasks(&mut self, id: &str) -> impl Future<Output = Result<Vec<Task>>> + Send;
    fn dependents(&mut self, id: &str) -> impl Future<Output = Result<Vec<TaskId>>> + Send;
    /// The projections of the tasks that depend on `id`, locked, in id order.
    fn dependents_locked(&mut self, id: &str) -> impl Future<Output = Result<Vec<Task>>> + Send;
    /// The first claimable task in ready order and its spec, locked
    /// (skipping rows other transactions hold).
    fn pick_ready(&mut self, now: Millis) -> impl Future<Output = Result<Option<(Task, TaskSpec)>>> + Send;
    /// Up to `limit` claimable task ids in ready order, unlocked.
    fn ready_ids(&mut self, now: Millis, limit: i64) -> impl Future<Output = Result<Vec<TaskId>>> + Send;
    /// `id` and its spec if it is still claimable, locked (or `None` if
    /// another transaction holds it).
    fn lock_ready(&mut self, id: &TaskId, now: Millis)
    -> impl Future<Output = Result<Option<(Task, TaskSpec)>>> + Send;
    /// Queues claims of tasks that declare files (PostgreSQL; SQLite writes
    /// are serialized already).
    fn lock_file_claims(&mut self) -> impl Future<Output = Result<()>> + Send;
    /// Queues allocations of ports (PostgreSQL; SQLite writes are
    /// serialized already).
    fn lock_ports(&mut self) -> impl Future<Output = Result<()>> + Send;
    /// Every block of ports live at `now`: held by a live attempt (not
    /// ended, its task's current one, its lease not run out), or by a
    /// holder whose hold has not expired.
    fn live_ports(&mut self, now: Millis) -> impl Future<Output = Result<Vec<Ports>>> + Send;
    fn set_attempt_ports(&mut self, id: &TaskId, attempt: u32, ports: Ports)
    -> impl Future<Output = Result<()>> + Send;
    fn put_port_hold(&mut self, holder: &str, ports: Ports, until: Millis) -> impl Future<Output = Result<()>> + Send;
    fn delete_port_hold(&mut self, holder: &str) -> impl Future<Output = Result<()>> + Send;
    /// The specs of every leased task.
    fn leased_specs(&mut self) -> impl Future<Output = Result<Vec<TaskSpec>>> + Send;
    fn record_process(
        &mut self,
        id: &TaskId,
        attempt: u32,
        pgid: i64,
        boot_id: &str,
    ) -> impl Future<Output = Result<u64>> + Send;
    /// Every leased task with its attempt's recorded process.
    fn live_attempts(&mut self) -> impl Future<Output = Result<Vec<LiveAttempt>>> + Send;
    /// Takes the named lock for `holder` until `until` if it is free,
    /// expired, or already `holder`'s. Returns whether it is now held.
    fn try_lock(
        &mut self,
        name: &str,
        holder: &str,
        until: Millis,
        now: Millis,
    ) -> impl Future<Output = Result<bool>> + Send;
    fn unlock(&mut self, name: &str, holder: &str) -> impl Future<Output = Result<()>> + Send;
    /// Whether `holder` holds the named lock and it has not expired at `now`.
    fn holds_lock(&mut self, name: &str, holder: &str, now: Millis) -> impl Future<Output = Result<bool>> + Send;
    /// Records the commit an attempt merges.
    fn set_merge_commit(&mut self, id: &TaskId, attempt: u32, commit: &str) -> impl Future<Output = Result<()>> + Send;
    /// The merge commits recorded for a task's attempts, by attempt.
    fn merge_commits(&mut self, id: &str) -> impl Future<Output = Result<Vec<(u32, String)>>> + Send;
    /// Leased tasks whose lease ended before `now`.
    fn expired(&mut self, now: Millis) -> impl Future<Output = Result<Vec<TaskId>>> + Send;
    /// Tasks whose agent's question waited for an answer until before `now`.
    fn unanswered(&mut self, now: Millis) -> impl Future<Output = Result<Vec<TaskId>>> + Send;
    /// Extends a lease; the number of rows changed (0: the lease is lost).
    fn extend_lease(&mut self, id: &TaskId, attempt: u32, until: Millis) -> impl Future<Output = Result<u64>> + Send;
    fn start_attempt(
        &mut self,
        id: &TaskId,
        attempt: u32,
        worker: &str,
        now: Millis,
    ) -> impl Future<Output = Result<()>> + Send;
    fn end_attempt(
        &mut self,
        id: &TaskId,
        attempt: u32,
        outcome: &str,
        reason: Option<&str>,
        now: Millis,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Reserves `n` consecutive task order numbers; returns the first.
    fn next_ords(&mut self, n: i64) -> impl Future<Output = Result<i64>> + Send;
    /// The stored head (name, base, defaults) of a plan as JSON.
    fn plan_head(&mut self, name: &str) -> impl Future<Output = Result<Option<String>>> + Send;
    fn put_plan(
        &mut self,
        name: &PlanName,
        source: &str,
        head: &str,
        now: Millis,
    ) -> impl Future<Output = Result<()>> + Send;
    fn plan_task_ids(&mut self, name: &str) -> impl Future<Output = Result<Vec<TaskId>>> + Send;
    /// Appends events with the next sequence numbers. Called last in a
    /// transaction: it takes the sequence lock, held until commit.
    fn append(
        &mut self,
        events: &[(Option<TaskId>, EventKind)],
        now: Millis,
    ) -> impl Future<Output = Result<()>> + Send;

    // Reads.
    fn list(&mut self, filter: &TaskFilter) -> impl Future<Output = Result<Vec<TaskRecord>>> + Send;
    fn record(&mut self, id: &str) -> impl Future<Output = Result<Option<TaskRecord>>> + Send;
    fn attempts(&mut self, id: &str) -> impl Future<Output = Result<Vec<AttemptRecord>>> + Send;
    fn task_events(&mut self, id: &str) -> impl Future<Output = Result<Vec<Event>>> + Send;
    fn events(&mut self, since: i64, limit: i64) -> impl Future<Output = Result<Vec<Event>>> + Send;
    fn status_counts(&mut self) -> impl Future<Output = Result<Vec<(String, i64)>>> + Send;
    /// Keeps a person's decision on the task's waiting attempt.
    fn put_decision(
        &mut self,
        id: &TaskId,
        decision: &crate::types::Decision,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The task's decision, if any, kept until an attempt carries it out
    /// (merged, failed, or waiting for a person again) or the task is
    /// given up.
    fn decision(&mut self, id: &TaskId) -> impl Future<Output = Result<Option<crate::types::Decision>>> + Send;
    /// Removes and returns the task's decision, if any.
    fn take_decision(&mut self, id: &TaskId) -> impl Future<Output = Result<Option<crate::types::Decision>>> + Send;
    /// Adds a round's spend to its attempt.
    fn add_usage(
        &mut self,
        id: &TaskId,
        attempt: u32,
        usage: &colony_core::Usage,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The spend of every attempt of every task.
    fn total_usage(&mut self) -> impl Future<Output = Result<colony_core::Usage>> + Send;
    /// The spend of every attempt of the plan's tasks.
    fn plan_usage(&mut self, plan: &str) -> impl Future<Output = Result<colony_core::Usage>> + Send;
    /// Records the version an attempt's agent CLI reported.
    fn set_agent_version(
        &mut self,
        id: &TaskId,
        attempt: u32,
        version: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Records the agent session an attempt's rounds ran in.
    fn set_session(&mut self, id: &TaskId, attempt: u32, session: &str) -> impl Future<Output = Result<()>> + Send;
    /// Records what an attempt's agent said last.
    fn set_answer(&mut self, id: &TaskId, attempt: u32, answer: &str) -> impl Future<Output = Result<()>> + Send;
    /// Keeps what an attempt's agent proposed as follow-ups (JSON).
    fn set_followups(&mut self, id: &TaskId, attempt: u32, json: &str) -> impl Future<Output = Result<()>> + Send;
    /// What an attempt's agent proposed as follow-ups, if anything.
    fn followups(&mut self, id: &TaskId, attempt: u32) -> impl Future<Output = Result<Option<String>>> + Send;
    /// The event that added the task.
    fn added_event(&mut self, id: &TaskId) -> impl Future<Output = Result<Option<colony_core::EventKind>>> + Send;
    /// Records review comments made into tasks; one already recorded for
    /// its task is left as it is.
    fn put_review_comments(
        &mut self,
        comments: &[crate::types::ReviewComment],
    ) -> impl Future<Output = Result<()>> + Send;
    /// Every review comment made into a task, by plan and task.
    fn review_comments(&mut self) -> impl Future<Output = Result<Vec<crate::types::ReviewComment>>> + Send;
    /// Records that the comment task `task` of `plan` addresses was answered
    /// naming `commit`.
    fn set_replied(&mut self, plan: &str, task: &str, commit: &str) -> impl Future<Output = Result<()>> + Send;
    /// Records a colony process working on the store.
    fn put_run(&mut self, run: &crate::types::RunEntry) -> impl Future<Output = Result<()>> + Send;
    /// Says the process `id` is alive at `now`.
    fn touch_run(&mut self, id: &str, now: colony_core::Millis) -> impl Future<Output = Result<()>> + Send;
    /// Takes the process `id` out.
    fn delete_run(&mut self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Every process recorded, oldest first.
    fn runs(&mut self) -> impl Future<Output = Result<Vec<crate::types::RunEntry>>> + Send;
    /// Every `[notify]` sink's place in the event log.
    fn notify_cursors(&mut self) -> impl Future<Output = Result<Vec<crate::types::NotifyCursor>>> + Send;
    /// Sets a `[notify]` sink's place in the event log, and why it fails.
    fn set_notify_cursor(
        &mut self,
        cursor: &crate::types::NotifyCursor,
        now: Millis,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The agent's wait, if it has one.
    fn agent_wait(&mut self, agent: &str) -> impl Future<Output = Result<Option<crate::types::AgentWait>>> + Send;
    /// Replaces the agent's wait.
    fn put_agent_wait(&mut self, wait: &crate::types::AgentWait) -> impl Future<Output = Result<()>> + Send;
    /// Ends the agent's wait: a timed one only, or any.
    fn delete_agent_wait(&mut self, agent: &str, timed_only: bool) -> impl Future<Output = Result<()>> + Send;
    /// Every wait still in force at `now`.
    fn agent_waits(
        &mut self,
        now: colony_core::Millis,
    ) -> impl Future<Output = Result<Vec<crate::types::AgentWait>>> + Send;
    fn plans(&mut self) -> impl Future<Output = Result<Vec<PlanInfo>>> + Send;
    fn plan_specs(&mut self, name: &str) -> impl Future<Output = Result<Vec<TaskSpec>>> + Send;
    fn last_seq(&mut self) -> impl Future<Output = Result<i64>> + Send;
    fn page(&mut self, query: &TaskQuery) -> impl Future<Output = Result<TaskPage>> + Send;
    fn running(&mut self) -> impl Future<Output = Result<Vec<RunningAttempt>>> + Send;
    fn attempt_stats(&mut self) -> impl Future<Output = Result<AttemptStats>> + Send;

    fn commit(self) -> impl Future<Output = Result<()>> + Send;
    fn rollback(self) -> impl Future<Output = Result<()>> + Send;
}
