//! The store's one error type.

use colony_core::{InvalidTransition, PlanName, TaskId, TaskStatus};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A fenced write from an attempt that no longer holds the lease. The
    /// worker must stop its agent.
    #[error("task {task}: attempt {attempt} lost its lease (the task is at attempt {current}, {status})")]
    LeaseLost { task: TaskId, attempt: u32, current: u32, status: TaskStatus },
    /// The named lock is no longer `holder`'s: it expired and may be
    /// someone else's.
    #[error("the `{name}` lock is no longer held by {holder}")]
    LockLost { name: String, holder: String },
    #[error("no task `{0}` in the store")]
    NoSuchTask(String),
    #[error("no plan `{0}` in the store")]
    NoSuchPlan(String),
    /// The request is not allowed in the task's current state.
    #[error("{0}")]
    NotAllowed(String),
    /// Re-adding a plan would change tasks that have started or finished.
    #[error("{}", started_message(.plan, .tasks))]
    StartedTasksChanged { plan: PlanName, tasks: Vec<(TaskId, TaskStatus)> },
    /// A task id of the plan already belongs to another plan.
    #[error("task `{task}` already belongs to plan `{other}`; task ids are unique across a store")]
    IdTaken { task: TaskId, other: PlanName },
    #[error("store url `{url}` is not understood: {why}")]
    BadUrl { url: String, why: String },
    #[error("stored {what} could not be read back")]
    Corrupt {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("database error")]
    Db(#[from] sqlx::Error),
    #[error("database schema migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

fn started_message(plan: &PlanName, tasks: &[(TaskId, TaskStatus)]) -> String {
    let list: Vec<String> = tasks.iter().map(|(t, s)| format!("{t} ({s})")).collect();
    format!(
        "plan {plan}: these tasks changed but have already started: {}; add --force to update them and run them again",
        list.join(", ")
    )
}

impl StoreError {
    pub(crate) fn from_transition(e: InvalidTransition) -> Self {
        match e {
            InvalidTransition::LeaseLost { task, attempt, current, status } => {
                StoreError::LeaseLost { task, attempt, current, status }
            }
            other => StoreError::NotAllowed(other.to_string()),
        }
    }

    /// The database could not be reached or the connection broke: worth
    /// waiting and trying again, and no fault of the task at hand.
    pub fn is_connection(&self) -> bool {
        match self {
            StoreError::Db(e) => match e {
                sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Protocol(_) => true,
                // Class 08: connection exception; 57P01-57P03: the server
                // is shutting down or starting, or an administrator ended
                // the session.
                sqlx::Error::Database(db) => {
                    db.code().is_some_and(|c| c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03"))
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// The disk holding the database is full (SQLite's `SQLITE_FULL`,
    /// PostgreSQL's `disk_full`): nothing was written, and nothing can be
    /// until there is room.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(db)) => matches!(db.code().as_deref(), Some("13" | "53100")),
            _ => false,
        }
    }

    /// A transient conflict worth running the transaction again for:
    /// PostgreSQL deadlock or serialization failure, SQLite busy.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(db)) => {
                matches!(db.code().as_deref(), Some("40001" | "40P01" | "5" | "6" | "517"))
            }
            _ => false,
        }
    }
}
