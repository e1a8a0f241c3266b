//! Between projection columns and [`Task`].

use colony_core::{Event, EventKind, Lease, Millis, PlanName, Task, TaskId, TaskState, TaskStatus};

use crate::error::StoreError;

/// The projection columns of a task row, as read.
pub(crate) struct TaskCols {
    pub id: String,
    pub plan: String,
    pub digest: String,
    pub status: String,
    pub attempt: i64,
    pub tries: i64,
    pub max_attempts: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub not_before: Option<i64>,
    pub reason: Option<String>,
    pub blocked_by: Option<String>,
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt { what, source: serde::de::Error::custom("inconsistent row") }
}

impl TaskCols {
    pub fn into_task(self) -> Result<Task, StoreError> {
        let bad = |field: &str| corrupt(format!("task {} ({field})", self.id));
        let status: TaskStatus = self.status.parse().map_err(|_| bad("status"))?;
        let lease = || -> Result<Lease, StoreError> {
            match (&self.lease_owner, self.lease_until) {
                (Some(worker), Some(until)) => Ok(Lease { worker: worker.clone(), until }),
                _ => Err(bad("lease")),
            }
        };
        let state = match status {
            TaskStatus::Pending => TaskState::Pending,
            TaskStatus::Ready => TaskState::Ready { not_before: self.not_before },
            TaskStatus::Running => TaskState::Running { lease: lease()? },
            TaskStatus::Checking => TaskState::Checking { lease: lease()? },
            TaskStatus::Merging => TaskState::Merging { lease: lease()? },
            TaskStatus::AwaitingApproval => TaskState::AwaitingApproval,
            TaskStatus::AwaitingInput => TaskState::AwaitingInput {
                question: self.reason.clone().ok_or_else(|| bad("question"))?,
                until: self.not_before.ok_or_else(|| bad("until"))?,
            },
            TaskStatus::Done => TaskState::Done,
            TaskStatus::Failed => TaskState::Failed { reason: self.reason.clone().unwrap_or_default() },
            TaskStatus::Blocked => {
                let by =
                    self.blocked_by.as_deref().and_then(|b| TaskId::new(b).ok()).ok_or_else(|| bad("blocked_by"))?;
                TaskState::Blocked { by }
            }
            TaskStatus::Cancelled => TaskState::Cancelled,
            TaskStatus::Replaced => TaskState::Replaced,
            TaskStatus::Proposed => TaskState::Proposed,
            TaskStatus::Dropped => TaskState::Dropped,
        };
        Ok(Task {
            id: TaskId::new(&self.id).map_err(|_| bad("id"))?,
            plan: PlanName::new(&self.plan).map_err(|_| bad("plan"))?,
            spec_digest: self.digest,
            state,
            attempt: self.attempt as u32,
            tries: self.tries as u32,
            max_attempts: self.max_attempts as u32,
        })
    }
}

/// The columns a state writes: status, lease owner and end, not-before,
/// reason, blocked-by. A question waiting for its answer is kept as the
/// reason, and until when it waits as the not-before.
pub(crate) struct StateCols<'a> {
    pub status: &'static str,
    pub lease_owner: Option<&'a str>,
    pub lease_until: Option<Millis>,
    pub not_before: Option<Millis>,
    pub reason: Option<&'a str>,
    pub blocked_by: Option<&'a str>,
}

pub(crate) fn state_cols(state: &TaskState) -> StateCols<'_> {
    let lease = state.lease();
    StateCols {
        status: state.status().as_str(),
        lease_owner: lease.map(|l| l.worker.as_str()),
        lease_until: lease.map(|l| l.until),
        not_before: match state {
            TaskState::Ready { not_before } => *not_before,
            TaskState::AwaitingInput { until, .. } => Some(*until),
            _ => None,
        },
        reason: match state {
            TaskState::Failed { reason } => Some(reason.as_str()),
            TaskState::AwaitingInput { question, .. } => Some(question.as_str()),
            _ => None,
        },
        blocked_by: match state {
            TaskState::Blocked { by } => Some(by.as_str()),
            _ => None,
        },
    }
}

pub(crate) fn event_from(seq: i64, at: i64, task: Option<String>, data: &str) -> Result<Event, StoreError> {
    let kind: EventKind =
        serde_json::from_str(data).map_err(|source| StoreError::Corrupt { what: format!("event {seq}"), source })?;
    let task = match task {
        Some(t) => Some(TaskId::new(&t).map_err(|_| corrupt(format!("event {seq} (task)")))?),
        None => None,
    };
    Ok(Event { seq, at, task, kind })
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(what: impl Into<String>, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::Corrupt { what: what.into(), source })
}
