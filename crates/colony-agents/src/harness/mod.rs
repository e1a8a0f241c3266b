//! Agent harnesses: the [`Harness`] trait, the normalized [`Entry`] every
//! adapter produces, and the `command` harness.

mod command;
mod contract;

pub use command::{CommandHarness, agent_env, stderr_tail, write_task_file};
pub use contract::{AgentRun, AgentVerdict, Entry, ErrorClass, Harness, Invocation, TalkServer};
