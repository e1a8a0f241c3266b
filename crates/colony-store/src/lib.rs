//! colony's durable store: the [`Store`] trait, on SQLite or PostgreSQL.
//!
//! The event log is the record and the task table its projection, updated
//! in the same transaction by [`colony_core::Task::apply`]. Claims take a
//! lease and a new attempt number; every later write for the attempt is
//! fenced by that number, so a worker that lost its lease cannot change
//! anything. See `docs/architecture.md` for why it is built this way.

mod clock;
mod error;
mod follow;
mod migrate;
mod ops;
mod patience;
mod postgres;
mod row;
mod sql;
mod sqlite;
mod steer;
mod store;
mod tail;
mod tx;
mod types;
mod url;
mod waiting;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::StoreError;
pub use follow::LogFollower;
pub use ops::{Accept, Bindable};
pub use patience::{Outage, Patience};
pub use postgres::Listener;
pub use steer::{MAX_ANSWER_BYTES, Request, RunControl, SteerError, Steered, steer};
pub use store::{SqlStore, Store};
pub use tail::Tail;
pub use types::{
    AddOptions, AddReport, AgentWait, AttemptRecord, AttemptStats, Claim, Counts, Decision, LiveAttempt, NotifyCursor,
    PlanInfo, Rescued, ReviewComment, RunEntry, RunningAttempt, TaskDetail, TaskFilter, TaskPage, TaskQuery,
    TaskRecord,
};
pub use url::StoreUrl;
pub use waiting::{AgentWaiting, Question, StoredTask, agents_waiting, questions, tasks_in};
