//! Process supervision: every child colony starts (agent, gate, reviewer)
//! leads its own process group, is stopped by SIGTERM to the group, a grace
//! period and SIGKILL to the group, and leaves nothing of its group behind.

mod escalate;
mod group;
mod line;
mod run;
mod spec;
#[cfg(unix)]
mod unix;

pub use group::{GroupEnd, Pgid, group_alive, kill_group};
pub use line::MAX_LINE;
pub use run::run;
pub use spec::{ChildSpec, DEFAULT_GRACE, Exit, OutputLine, RunObserver, RunOutcome, StdinSource, StopReason, Stream};
pub use unix::boot_id;
