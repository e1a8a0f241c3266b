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
//! which moves by lease-checked push (`queue/integration.rs`).

mod attempt;
mod base;
mod ending;
mod error;
mod failpoint;
mod held;
mod lock;
pub mod notify;
mod pacing;
mod patient;
pub mod planner;
mod ports;
mod probe;
pub mod prompts;
mod queue;
mod recover;
mod room;
mod round;
mod run;
mod settings;
mod shared;
pub mod talk;
mod transcript;
mod watch;

pub use error::EngineError;
pub use run::{Engine, RunReport};
pub use settings::{AgentSetup, Notices, Settings};
