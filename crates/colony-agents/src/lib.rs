//! colony's agent side: starting children and stopping them whole, the
//! [`Harness`] trait every agent CLI adapter implements, the `command`
//! harness, the [`adapters`] for agent CLIs ([`CliHarness`]), and the
//! per-attempt log.
//!
//! Nothing here knows about the store or the scheduler: the engine hands in
//! a [`ChildSpec`] (usually built by a harness from an [`AgentRun`]) and
//! gets back the output lines as they come and a [`RunOutcome`]; it keeps
//! the pgid the observer hears of, so a restarted colony can
//! [`kill_group`] what a crashed one left. A run's [`Shutdown`] (drain,
//! then stop at once) is here too, shared by the engine and the dashboard.

#[cfg(not(unix))]
compile_error!("colony-agents supervises Unix process groups; it does not build elsewhere");

pub mod adapters;
pub mod cut;
mod error;
pub mod harness;
pub mod log;
mod probe;
pub mod sandbox;
mod shutdown;
pub mod supervise;

pub use adapters::{CliFacts, CliHarness, CliKind, CliOptions, CliVersion};
pub use error::AgentError;
pub use harness::{
    AgentRun, AgentVerdict, CommandHarness, Entry, ErrorClass, Harness, Invocation, TalkServer, agent_env, stderr_tail,
    write_task_file,
};
pub use log::{LogReader, LogRecord, LogWriter, millis};
pub use probe::ask_version;
pub use shutdown::Shutdown;
pub use supervise::{
    ChildSpec, DEFAULT_GRACE, Exit, GroupEnd, MAX_LINE, OutputLine, Pgid, RunObserver, RunOutcome, StdinSource,
    StopReason, Stream, TAG_VAR, adopt_orphans, boot_id, end_adopted, end_strays_of, group_alive, hostname, kill_group,
    process_alive, run,
};
