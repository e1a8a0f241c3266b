//! colony's domain, with no IO: ids, plans and their validation, the task
//! DAG, the task state machine and the events it is driven by.
//!
//! Everything here is plain data and pure functions, so the store, the
//! engine and the tests share one definition of what a task is and how it
//! may change.

pub mod branch;
pub mod config;
pub mod dag;
pub mod event;
pub mod files;
pub mod id;
pub mod input;
pub mod kind;
pub mod layout;
pub mod plan;
pub mod ports;
pub mod record;
pub mod resolve;
pub mod reuse;
pub mod review;
pub mod spec;
pub mod state;
pub mod time;

pub use event::{Event, EventKind, Millis, Phase, ReviewOutcome, RoundCause, Usage};
pub use id::{IdError, PlanName, TaskId};
pub use spec::{Approval, Defaults, Plan, Review, TaskSpec};
pub use state::{InvalidTransition, Lease, Task, TaskState, TaskStatus, settle};
