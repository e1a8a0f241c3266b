//! What the store takes and gives back, apart from the core domain types.

use std::collections::BTreeMap;

use colony_core::{Event, Millis, PlanName, Task, TaskId, TaskSpec, TaskStatus, Usage};
use serde::Serialize;

/// A task handed to a worker: run attempt `attempt` until `lease_until`,
/// heartbeating to keep it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claim {
    pub task: TaskId,
    pub plan: PlanName,
    pub attempt: u32,
    /// Attempts used since the task last entered the queue, this one
    /// included: what retry backoff grows with.
    pub tries: u32,
    pub lease_until: Millis,
    pub spec: TaskSpec,
    /// A person's decision on an earlier attempt that awaited approval, or
    /// the answer to its agent's question, which this attempt carries out.
    pub decision: Option<Decision>,
}

/// What a person decided about an attempt that awaited approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The attempt whose work was judged.
    pub attempt: u32,
    /// `None`: approved, merge it. Else what to change, or the answer to
    /// `question`.
    pub feedback: Option<String>,
    /// Set when `feedback` answers the question its agent asked.
    pub question: Option<String>,
}

/// How `add_plan` treats tasks that changed.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddOptions {
    /// Update tasks that have started or finished too, sending them back to
    /// the queue.
    pub force: bool,
}

/// What `add_plan` did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AddReport {
    pub plan: String,
    /// The plan was not in the store before.
    pub new_plan: bool,
    /// The plan's own settings (base, defaults) changed.
    pub plan_updated: bool,
    pub added: Vec<TaskId>,
    pub updated: Vec<TaskId>,
    pub unchanged: usize,
    /// Tasks in the store that the file no longer lists; they are kept.
    pub not_in_file: Vec<TaskId>,
}

impl AddReport {
    pub fn changed_nothing(&self) -> bool {
        !self.new_plan && !self.plan_updated && self.added.is_empty() && self.updated.is_empty()
    }
}

/// One task as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRecord {
    #[serde(flatten)]
    pub task: Task,
    pub title: String,
    pub priority: i32,
    /// Length of the longest chain of work from this task to the end.
    pub path_weight: f64,
    pub deps: Vec<TaskId>,
    pub updated_at: Millis,
}

/// One attempt at a task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub worker: String,
    pub started_at: Millis,
    pub ended_at: Option<Millis>,
    /// `done`, `failed`, `expired`, `killed`, `released`, `cancelled`,
    /// `awaiting_approval`, `awaiting_input` or `abandoned`; none while it runs.
    pub outcome: Option<String>,
    pub reason: Option<String>,
    /// What its agent spent, over all its rounds.
    pub usage: Usage,
    /// The version its agent CLI reported, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// The agent session its rounds ran in, as its CLI named it, when it
    /// named one: a person can resume it by hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// What its agent said last when it was done (bounded), when it said
    /// something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The block of ports it held (`[worktree] ports`), when it took one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<colony_core::ports::Ports>,
}

/// A pull request's review comment that `colony pr-fixes` made into a
/// task, and the reply `colony land --pr` sent once the task merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewComment {
    pub plan: String,
    pub task: String,
    /// `github` or `gitlab`.
    pub forge: String,
    /// The pull request's number (a merge request's iid).
    pub pull: u64,
    /// Its head branch, where the fixes are pushed.
    pub head: String,
    /// What a reply goes to: GitHub's comment id, GitLab's discussion id.
    pub comment: String,
    /// The commit the reply named, once it was sent.
    pub replied: Option<String>,
}

/// A colony process working on the store: a `colony run` or `colony worker`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunEntry {
    /// `host:pid:started_at`.
    pub id: String,
    pub host: String,
    pub pid: u32,
    /// The boot it started in, where the system says: a pid from before a
    /// reboot is not this process.
    pub boot_id: Option<String>,
    pub started_at: Millis,
    /// When it last said it was alive (every few seconds while it runs).
    pub seen_at: Millis,
    /// Started by `colony run --detach`.
    pub detached: bool,
    /// Its dashboard's address, under `--serve`.
    pub dashboard: Option<String>,
}

/// How far one way of telling a person (`[notify]`) has got through the
/// event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotifyCursor {
    /// `command`, `webhook` or `desktop`.
    pub sink: String,
    /// The last event whose notice is delivered or given up on.
    pub seq: i64,
    /// Why its deliveries fail, while they do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing: Option<String>,
    /// Since when they fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<Millis>,
}

/// An agent that cannot take work for now: its tasks are passed over by
/// claims, in every process sharing the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentWait {
    pub agent: String,
    /// What the agent said, on one line.
    pub reason: String,
    /// When the wait began.
    pub since: Millis,
    /// When a rate limit lifts; `None`: when a person has acted (logged
    /// the agent in, raised a spend cap) and started `colony run` again.
    pub ends_at: Option<Millis>,
}

/// Everything the store knows of one task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskDetail {
    #[serde(flatten)]
    pub record: TaskRecord,
    pub spec: TaskSpec,
    pub dependents: Vec<TaskId>,
    pub attempts: Vec<AttemptRecord>,
    pub events: Vec<Event>,
}

/// Which tasks a list shows.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub statuses: Vec<TaskStatus>,
    pub plan: Option<String>,
}

/// Which tasks a page of a list shows: like [`TaskFilter`], plus a text
/// to look for and the page's place.
#[derive(Debug, Clone, Default)]
pub struct TaskQuery {
    pub statuses: Vec<TaskStatus>,
    pub plan: Option<String>,
    /// Matched, ignoring ASCII case, against the id and the title.
    pub text: Option<String>,
    /// Tasks to skip, in plan order.
    pub offset: u64,
    pub limit: u64,
}

/// One page of tasks and how many match the query in all.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TaskPage {
    pub total: u64,
    pub tasks: Vec<TaskRecord>,
}

/// A leased task as a worker holds it: what the workers view shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunningAttempt {
    pub task: TaskId,
    pub title: String,
    /// `running`, `checking` or `merging`.
    pub status: TaskStatus,
    pub attempt: u32,
    pub worker: String,
    pub lease_until: Millis,
    /// When the attempt began; `None` only if its row is missing.
    pub started_at: Option<Millis>,
    /// What its agent last reported over colony's MCP server.
    pub progress: Option<String>,
}

/// Finished attempts, for estimating how long the rest will take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct AttemptStats {
    /// Attempts that ended merged.
    pub done: u64,
    /// Their summed wall time.
    pub done_ms: i64,
}

/// A plan in the store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanInfo {
    pub name: PlanName,
    pub source: String,
    pub tasks: usize,
    pub added_at: Millis,
}

/// Tasks counted by state, for `status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub total: usize,
    pub by_status: BTreeMap<TaskStatus, usize>,
}

impl Counts {
    pub fn get(&self, s: TaskStatus) -> usize {
        self.by_status.get(&s).copied().unwrap_or(0)
    }

    /// Tasks whose work is in: done, or replaced by others.
    pub fn finished(&self) -> usize {
        TaskStatus::ALL.into_iter().filter(|s| s.is_finished()).map(|s| self.get(s)).sum()
    }
}

/// A leased task and the process its attempt recorded, for recovery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveAttempt {
    pub task: TaskId,
    pub attempt: u32,
    pub worker: String,
    pub lease_until: Millis,
    pub pgid: Option<i64>,
    pub boot_id: Option<String>,
}

/// A task taken back from its worker: by the rescuer when the lease ran
/// out, or by a person's kill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rescued {
    pub task: TaskId,
    pub attempt: u32,
    pub worker: String,
    /// `ready` again, or `failed` when the attempts are used up.
    pub now: TaskStatus,
}
