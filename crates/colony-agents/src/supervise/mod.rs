//! Process supervision: every child colony starts (agent, gate, reviewer)
//! leads its own process group, is stopped by SIGTERM to the group, a grace
//! period and SIGKILL to the group, and leaves nothing of its group behind;
//! nor anything that left the group, as far as its environment tag tells
//! (`strays`), and colony may adopt and reap orphans (`orphans`).

mod escalate;
mod group;
mod line;
mod orphans;
mod procfs;
mod run;
mod spec;
mod strays;
#[cfg(unix)]
mod unix;

pub use group::{GroupEnd, Pgid, group_alive, kill_group};
pub use line::MAX_LINE;
pub use orphans::{adopt_orphans, end_adopted, end_strays_of};
pub use run::run;
pub use spec::{ChildSpec, DEFAULT_GRACE, Exit, OutputLine, RunObserver, RunOutcome, StdinSource, StopReason, Stream};
pub use strays::TAG_VAR;
pub use unix::{boot_id, hostname, process_alive};
