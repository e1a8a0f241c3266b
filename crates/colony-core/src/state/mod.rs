//! The task state machine: one enum, one transition function.
//!
//! [`Task::apply`] is the only place a task's state changes. The store calls
//! it before every write and replays the event log through it in tests, so
//! the projection and the log cannot disagree. [`settle`] decides what a task
//! that has not started should be, given its dependencies.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::event::{EventKind, Millis, Phase};
use crate::id::{PlanName, TaskId};

/// The name of a state, without its data: what lists filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Pending,
    Ready,
    Running,
    Checking,
    Merging,
    AwaitingApproval,
    AwaitingInput,
    Done,
    Failed,
    Blocked,
    Cancelled,
    Replaced,
    Proposed,
    Dropped,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 14] = [
        TaskStatus::Pending,
        TaskStatus::Ready,
        TaskStatus::Running,
        TaskStatus::Checking,
        TaskStatus::Merging,
        TaskStatus::AwaitingApproval,
        TaskStatus::AwaitingInput,
        TaskStatus::Done,
        TaskStatus::Failed,
        TaskStatus::Blocked,
        TaskStatus::Cancelled,
        TaskStatus::Replaced,
        TaskStatus::Proposed,
        TaskStatus::Dropped,
    ];

    /// The states a run can still move a task on from by itself: waiting
    /// on deps, runnable, being worked, or waiting for the answer to its
    /// agent's question (which, unanswered, fails it in time). A run is
    /// over when no task is in one of them.
    pub const UNFINISHED: [TaskStatus; 6] = [
        TaskStatus::Pending,
        TaskStatus::Ready,
        TaskStatus::Running,
        TaskStatus::Checking,
        TaskStatus::Merging,
        TaskStatus::AwaitingInput,
    ];

    /// The states a run moves on by itself. When no task is in one, the
    /// pending ones wait for something only a person can do (approve a
    /// dependency, retry a failure), and the run is over.
    pub const MOVING: [TaskStatus; 5] =
        [TaskStatus::Ready, TaskStatus::Running, TaskStatus::Checking, TaskStatus::Merging, TaskStatus::AwaitingInput];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Ready => "ready",
            TaskStatus::Running => "running",
            TaskStatus::Checking => "checking",
            TaskStatus::Merging => "merging",
            TaskStatus::AwaitingApproval => "awaiting_approval",
            TaskStatus::AwaitingInput => "awaiting_input",
            TaskStatus::Done => "done",
            TaskStatus::Failed => "failed",
            TaskStatus::Blocked => "blocked",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::Replaced => "replaced",
            TaskStatus::Proposed => "proposed",
            TaskStatus::Dropped => "dropped",
        }
    }

    /// Nothing more is wanted of it: done, done by the tasks that replaced
    /// it, or a proposal a person dropped.
    pub fn is_finished(self) -> bool {
        matches!(self, TaskStatus::Done | TaskStatus::Replaced | TaskStatus::Dropped)
    }

    /// A worker holds a lease on the task.
    pub fn is_leased(self) -> bool {
        matches!(self, TaskStatus::Running | TaskStatus::Checking | TaskStatus::Merging)
    }

    /// No attempt has begun since the task last (re)entered the queue.
    pub fn is_waiting(self) -> bool {
        matches!(self, TaskStatus::Pending | TaskStatus::Ready | TaskStatus::Blocked)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TaskStatus::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = TaskStatus::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown status `{s}`; one of: {}", names.join(", "))
        })
    }
}

/// A worker's hold on a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub worker: String,
    pub until: Millis,
}

/// A state with the data valid in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TaskState {
    Pending,
    Ready {
        /// A retried task waits out its backoff until then.
        not_before: Option<Millis>,
    },
    Running {
        lease: Lease,
    },
    Checking {
        lease: Lease,
    },
    Merging {
        lease: Lease,
    },
    AwaitingApproval,
    /// Its agent asked a person a question (`ask_human`) and ended its
    /// turn; its work so far is on the task branch. Unanswered by `until`,
    /// the task fails with the question as reason.
    AwaitingInput {
        question: String,
        until: Millis,
    },
    Done,
    Failed {
        reason: String,
    },
    Blocked {
        by: TaskId,
    },
    Cancelled,
    /// Its work is done by the tasks that replaced it (`colony replan`).
    Replaced,
    /// A follow-up an agent proposed, waiting for a person to approve it
    /// (it becomes `pending`) or drop it.
    Proposed,
    /// A proposed follow-up a person dropped.
    Dropped,
}

impl TaskState {
    pub fn status(&self) -> TaskStatus {
        match self {
            TaskState::Pending => TaskStatus::Pending,
            TaskState::Ready { .. } => TaskStatus::Ready,
            TaskState::Running { .. } => TaskStatus::Running,
            TaskState::Checking { .. } => TaskStatus::Checking,
            TaskState::Merging { .. } => TaskStatus::Merging,
            TaskState::AwaitingApproval => TaskStatus::AwaitingApproval,
            TaskState::AwaitingInput { .. } => TaskStatus::AwaitingInput,
            TaskState::Done => TaskStatus::Done,
            TaskState::Failed { .. } => TaskStatus::Failed,
            TaskState::Blocked { .. } => TaskStatus::Blocked,
            TaskState::Cancelled => TaskStatus::Cancelled,
            TaskState::Replaced => TaskStatus::Replaced,
            TaskState::Proposed => TaskStatus::Proposed,
            TaskState::Dropped => TaskStatus::Dropped,
        }
    }

    pub fn lease(&self) -> Option<&Lease> {
        match self {
            TaskState::Running { lease } | TaskState::Checking { lease } | TaskState::Merging { lease } => Some(lease),
            _ => None,
        }
    }
}

/// The projection of one task: what the event log says about it now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    pub plan: PlanName,
    pub spec_digest: String,
    /// Serialized inline: `{"id": …, "status": "running", "lease": …}`.
    #[serde(flatten)]
    pub state: TaskState,
    /// The number of the latest attempt; it never goes down, so a write
    /// from an older attempt can always be told apart (fencing).
    pub attempt: u32,
    /// Attempts used since the task last entered the queue; `retry` and a
    /// forced update reset it.
    pub tries: u32,
    pub max_attempts: u32,
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTransition {
    #[error("task {task}: `{event}` is not allowed while it is {status}")]
    NotAllowed { task: TaskId, status: TaskStatus, event: &'static str },
    /// A write from an attempt that no longer holds the lease.
    #[error("task {task}: attempt {attempt} no longer holds the lease (current attempt {current}, {status})")]
    LeaseLost { task: TaskId, attempt: u32, current: u32, status: TaskStatus },
    #[error("task {task}: the first event must be `task_added`")]
    NotAdded { task: TaskId },
}

impl Task {
    /// The task as a `task_added` event creates it.
    pub fn added(id: TaskId, event: &EventKind) -> Result<Task, InvalidTransition> {
        match event {
            EventKind::TaskAdded { plan, spec, max_attempts, proposal } => Ok(Task {
                id,
                plan: plan.clone(),
                spec_digest: spec.digest(),
                state: match proposal {
                    Some(p) if p.held => TaskState::Proposed,
                    _ => TaskState::Pending,
                },
                attempt: 0,
                tries: 0,
                max_attempts: *max_attempts,
            }),
            _ => Err(InvalidTransition::NotAdded { task: id }),
        }
    }

    pub fn status(&self) -> TaskStatus {
        self.state.status()
    }

    /// Whether a failure of the current attempt leaves attempts to retry.
    pub fn has_attempts_left(&self) -> bool {
        self.tries < self.max_attempts
    }

    /// The state after `event`, or why it cannot happen. The one place a
    /// task's state changes.
    pub fn apply(&self, event: &EventKind) -> Result<Task, InvalidTransition> {
        use TaskState as S;
        let status = self.status();
        let mut next = self.clone();
        let not_allowed = || InvalidTransition::NotAllowed { task: self.id.clone(), status, event: event.name() };
        let fenced = |attempt: u32| -> Result<&Lease, InvalidTransition> {
            match self.state.lease() {
                Some(lease) if self.attempt == attempt => Ok(lease),
                _ => {
                    Err(InvalidTransition::LeaseLost { task: self.id.clone(), attempt, current: self.attempt, status })
                }
            }
        };
        let after_failure = |retry_at: &Option<Millis>, reason: &str| match retry_at {
            Some(at) => S::Ready { not_before: Some(*at) },
            None => S::Failed { reason: reason.to_owned() },
        };
        next.state = match event {
            EventKind::PlanAdded { .. }
            | EventKind::PlanUpdated { .. }
            | EventKind::TaskAdded { .. }
            | EventKind::WorkHalted { .. }
            | EventKind::RunFinished { .. } => {
                return Err(not_allowed());
            }
            EventKind::TaskUpdated { spec, max_attempts, forced } => {
                if !forced && !status.is_waiting() {
                    return Err(not_allowed());
                }
                next.spec_digest = spec.digest();
                next.max_attempts = *max_attempts;
                if *forced {
                    next.tries = 0;
                    S::Pending
                } else {
                    self.state.clone()
                }
            }
            EventKind::Ready => match &self.state {
                S::Pending => S::Ready { not_before: None },
                _ => return Err(not_allowed()),
            },
            EventKind::Waiting => match &self.state {
                S::Ready { .. } => S::Pending,
                _ => return Err(not_allowed()),
            },
            EventKind::Blocked { by } => match &self.state {
                S::Pending | S::Ready { .. } | S::Blocked { .. } => S::Blocked { by: by.clone() },
                _ => return Err(not_allowed()),
            },
            EventKind::Unblocked => match &self.state {
                S::Blocked { .. } => S::Pending,
                _ => return Err(not_allowed()),
            },
            EventKind::Claimed { attempt, worker, lease_until } => match &self.state {
                S::Ready { .. } if *attempt == self.attempt + 1 => {
                    next.attempt = *attempt;
                    next.tries += 1;
                    S::Running { lease: Lease { worker: worker.clone(), until: *lease_until } }
                }
                _ => return Err(not_allowed()),
            },
            EventKind::PhaseChanged { attempt, phase } => {
                let lease = fenced(*attempt)?.clone();
                match (status, phase) {
                    (TaskStatus::Running, Phase::Checking) => S::Checking { lease },
                    (TaskStatus::Running | TaskStatus::Checking, Phase::Merging) => S::Merging { lease },
                    _ => return Err(not_allowed()),
                }
            }
            EventKind::ApprovalRequested { attempt } => {
                fenced(*attempt)?;
                match status {
                    TaskStatus::Checking => S::AwaitingApproval,
                    _ => return Err(not_allowed()),
                }
            }
            EventKind::InputRequested { attempt, question, until } => {
                fenced(*attempt)?;
                match status {
                    TaskStatus::Running | TaskStatus::Checking => {
                        S::AwaitingInput { question: question.clone(), until: *until }
                    }
                    _ => return Err(not_allowed()),
                }
            }
            // As a person's decision, the answer gives the try back.
            EventKind::Answered { attempt, .. } => match status {
                TaskStatus::AwaitingInput if *attempt == self.attempt => {
                    next.tries = self.tries.saturating_sub(1);
                    S::Ready { not_before: None }
                }
                _ => return Err(not_allowed()),
            },
            EventKind::Unanswered { attempt } => match &self.state {
                S::AwaitingInput { question, .. } if *attempt == self.attempt => {
                    S::Failed { reason: crate::event::unanswered(question) }
                }
                _ => return Err(not_allowed()),
            },
            // The decision's attempt is the waiting one. Claiming it again
            // takes a try, which a person's decision should not cost.
            EventKind::Approved { attempt: 0 } if status == TaskStatus::Proposed => S::Pending,
            EventKind::Rejected { attempt: 0, .. } if status == TaskStatus::Proposed => S::Dropped,
            EventKind::Approved { attempt } | EventKind::Rejected { attempt, .. } => match status {
                TaskStatus::AwaitingApproval if *attempt == self.attempt => {
                    next.tries = self.tries.saturating_sub(1);
                    S::Ready { not_before: None }
                }
                _ => return Err(not_allowed()),
            },
            EventKind::ReviewRecorded { attempt, .. } => {
                if *attempt == 0 || *attempt > self.attempt {
                    return Err(not_allowed());
                }
                self.state.clone()
            }
            EventKind::FeedbackRound { attempt, .. } | EventKind::ProgressReported { attempt, .. } => {
                fenced(*attempt)?;
                self.state.clone()
            }
            EventKind::UsageRecorded { attempt, .. }
            | EventKind::CheckoutChanged { attempt, .. }
            | EventKind::AgentWaiting { attempt, .. }
            | EventKind::FollowupsDropped { attempt, .. } => {
                if *attempt == 0 || *attempt > self.attempt {
                    return Err(not_allowed());
                }
                self.state.clone()
            }
            EventKind::Completed { attempt } => {
                fenced(*attempt)?;
                S::Done
            }
            EventKind::AttemptFailed { attempt, reason, retry_at } => {
                fenced(*attempt)?;
                after_failure(retry_at, reason)
            }
            EventKind::LeaseExpired { attempt, retry_at, worker } => {
                fenced(*attempt)?;
                after_failure(retry_at, &format!("lease of {worker} expired"))
            }
            EventKind::Killed { attempt, retry_at, .. } => {
                fenced(*attempt)?;
                after_failure(retry_at, crate::event::KILLED)
            }
            EventKind::Released { attempt, .. } => {
                fenced(*attempt)?;
                next.tries = self.tries.saturating_sub(1);
                S::Ready { not_before: None }
            }
            EventKind::Cancelled => match status {
                TaskStatus::Done | TaskStatus::Cancelled | TaskStatus::Replaced | TaskStatus::Dropped => {
                    return Err(not_allowed());
                }
                _ => S::Cancelled,
            },
            EventKind::Replaced { .. } => match status {
                TaskStatus::Failed | TaskStatus::Blocked => S::Replaced,
                _ => return Err(not_allowed()),
            },
            EventKind::Retried => match status {
                TaskStatus::Failed | TaskStatus::Cancelled => {
                    next.tries = 0;
                    S::Pending
                }
                _ => return Err(not_allowed()),
            },
        };
        Ok(next)
    }
}

/// What a task that has not started should become, given its dependencies'
/// current states, or `None` when it is already right. Only `pending`,
/// `ready` and `blocked` tasks are settled; the rest keep their state.
pub fn settle(task: &Task, deps: &[&Task]) -> Option<EventKind> {
    if !task.status().is_waiting() {
        return None;
    }
    let root_cause = deps.iter().find_map(|d| match &d.state {
        TaskState::Failed { .. } | TaskState::Cancelled | TaskState::Replaced | TaskState::Dropped => {
            Some(d.id.clone())
        }
        TaskState::Blocked { by } => Some(by.clone()),
        _ => None,
    });
    let all_done = deps.iter().all(|d| d.status() == TaskStatus::Done);
    match (&task.state, root_cause) {
        (TaskState::Blocked { by }, Some(cause)) if *by == cause => None,
        (_, Some(cause)) => Some(EventKind::Blocked { by: cause }),
        (TaskState::Blocked { .. }, None) => Some(EventKind::Unblocked),
        (TaskState::Pending, None) if all_done => Some(EventKind::Ready),
        (TaskState::Ready { .. }, None) if !all_done => Some(EventKind::Waiting),
        _ => None,
    }
}

/// Folds an event log into the tasks it describes, the way the store's
/// projection was built. A store is consistent when this equals its task
/// table (apart from lease ends, which heartbeats move without an event).
pub fn replay<'a>(
    events: impl IntoIterator<Item = &'a crate::event::Event>,
) -> Result<std::collections::BTreeMap<TaskId, Task>, InvalidTransition> {
    let mut tasks = std::collections::BTreeMap::new();
    for event in events {
        let Some(id) = &event.task else { continue };
        let next = match tasks.get(id) {
            None => Task::added(id.clone(), &event.kind)?,
            Some(task) => Task::apply(task, &event.kind)?,
        };
        tasks.insert(id.clone(), next);
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests;
