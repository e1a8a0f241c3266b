//! colony's run engine: it claims ready tasks from the store, runs each
//! attempt in its own worktree through an agent harness, checks it with the
//! project's gates, and merges it, one at a time, into the integration
//! branch. It recovers what a crashed run left behind.
//!
//! The engine writes every state change to the store; whoever shows
//! progress (the CLI, the coming dashboard) reads the store's event log.
//!
//! With a shared store and a git remote (`Settings::remote`), processes on
//! several machines work one run together: the store holds the queue, the
//! leases and the merge lock; the remote holds the integration branch,
//! which moves by lease-checked push (`remote.rs`).

mod attempt;
mod conflict;
mod error;
mod failpoint;
mod follow;
mod held;
pub mod layout;
mod lock;
mod merge;
mod merged;
mod pacing;
mod patient;
mod probe;
mod recover;
mod remote;
mod review;
mod room;
mod round;
mod run;
mod settings;
mod shutdown;
mod train;
mod transcript;
mod waiting;
mod watch;

pub use error::EngineError;
pub use follow::LogFollower;
pub use layout::{Layout, integration_branch, task_branch};
pub use run::{Engine, RunReport};
pub use settings::{AgentSetup, Notices, Settings};
pub use shutdown::Shutdown;
pub use waiting::{AgentWaiting, agents_waiting};
