//! Process groups by number: the id colony stores for every child, and
//! stopping a group that a previous, crashed colony left behind.
//!
//! A restarted colony is not the parent of those processes, so it gets no
//! exit notice for them; it can only ask the kernel whether the group still
//! has members. [`kill_group`] therefore polls, with a short interval and a
//! bound, where [`run`](super::run) waits on the child's exit.

use std::fmt;
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::escalate::{Action, GroupSignal, Happening, Stage, step};
use super::unix;
use crate::AgentError;

/// How often [`kill_group`] asks whether the group is gone.
const POLL: Duration = Duration::from_millis(20);

/// How long [`kill_group`] waits for the group to vanish after SIGKILL.
/// SIGKILL cannot be refused; only a process stuck in the kernel (a hung
/// NFS read) takes longer than this to die.
const KILL_SETTLE: Duration = Duration::from_secs(2);

/// A process group id that is safe to signal: greater than 1, so never
/// "every process" (-1), "my own group" (0) or init's group (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pgid(i32);

impl Pgid {
    /// Accepts a stored pgid; refuses 1 and below.
    pub fn new(raw: i32) -> Result<Self, AgentError> {
        if raw <= 1 {
            return Err(AgentError::UnsafePgid { pgid: raw });
        }
        Ok(Self(raw))
    }

    pub fn get(self) -> i32 {
        self.0
    }

    /// Sends `signal` to every process of the group.
    pub(crate) fn signal(self, signal: GroupSignal) -> Result<(), AgentError> {
        unix::signal_group(self.0, signal).map_err(|source| AgentError::Signal {
            pgid: self.0,
            signal: unix::signal_number(signal),
            source,
        })
    }
}

impl fmt::Display for Pgid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Whether any process of the group is still running (zombies awaiting
/// their parent's `wait` do not count).
pub fn group_alive(pgid: Pgid) -> bool {
    unix::group_alive(pgid.get())
}

/// How [`kill_group`] left a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupEnd {
    /// Nothing of the group was running.
    AlreadyGone,
    /// SIGTERM was enough.
    Terminated,
    /// The grace period ran out; SIGKILL ended it.
    Killed,
    /// SIGKILL was sent, yet a member still ran after a further two seconds
    /// (stuck in uninterruptible IO).
    Lingering,
}

/// Stops every process of group `pgid`: SIGTERM, up to `grace` for the
/// group to empty, then SIGKILL. For groups colony did not start in this
/// process (crash recovery); a child of [`run`](super::run) is stopped
/// through its cancellation token instead.
///
/// Refuses colony's own group. The pgid must come from this boot: compare a
/// stored [`boot_id`](super::boot_id) first, since after a reboot the
/// number names some unrelated group.
pub async fn kill_group(pgid: Pgid, grace: Duration) -> Result<GroupEnd, AgentError> {
    if pgid.get() == unix::own_group() {
        return Err(AgentError::OwnGroup { pgid: pgid.get() });
    }
    if !group_alive(pgid) {
        return Ok(GroupEnd::AlreadyGone);
    }
    let mut stage = Stage::Running;
    let mut happening = Happening::StopAsked;
    let mut grace_until = None;
    let mut settle_until = None;
    loop {
        let (next, actions) = step(stage, happening);
        for action in actions {
            match action {
                Action::Signal(signal) => pgid.signal(*signal)?,
                Action::ArmGrace => grace_until = Some(Instant::now() + grace),
            }
        }
        if next == Stage::Exited {
            return Ok(match stage {
                Stage::Killed => GroupEnd::Killed,
                _ => GroupEnd::Terminated,
            });
        }
        if next == Stage::Killed && stage != Stage::Killed {
            settle_until = Some(Instant::now() + KILL_SETTLE);
        }
        stage = next;
        happening = loop {
            if !group_alive(pgid) {
                break Happening::LeaderExited { members_left: false };
            }
            let now = Instant::now();
            if stage == Stage::Terminating && grace_until.is_some_and(|t| now >= t) {
                break Happening::GraceOver;
            }
            if settle_until.is_some_and(|t| now >= t) {
                return Ok(GroupEnd::Lingering);
            }
            sleep(POLL).await;
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgids_that_would_reach_everyone_are_refused() {
        for raw in [-5, -1, 0, 1] {
            assert!(matches!(Pgid::new(raw), Err(AgentError::UnsafePgid { pgid }) if pgid == raw));
        }
        assert_eq!(Pgid::new(2).unwrap().get(), 2);
    }

    #[tokio::test]
    async fn colony_refuses_to_kill_its_own_group() {
        let own = Pgid::new(unix::own_group()).unwrap();
        assert!(matches!(kill_group(own, Duration::ZERO).await, Err(AgentError::OwnGroup { .. })));
        assert!(group_alive(own));
    }
}
