//! When to send which signal: the stop sequence as a plain state machine.
//!
//! Both [`run`](super::run) (a child colony started) and
//! [`kill_group`](super::kill_group) (a group a crashed colony left) feed
//! what happened into [`step`] and carry out the actions it returns, so the
//! escalation — SIGTERM to the group, a grace period, SIGKILL to the group,
//! and SIGKILL for whatever of the group outlives its leader — is decided in
//! one place and tested here without a single process.

/// A signal colony sends to a whole process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupSignal {
    Term,
    Kill,
}

/// Where a supervised group is in its stop sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Nobody has asked it to stop.
    Running,
    /// SIGTERM was sent; waiting for the leader until the grace period ends.
    Terminating,
    /// SIGKILL was sent; waiting for the leader, which cannot refuse.
    Killed,
    /// The leader is gone and its group has been dealt with.
    Exited,
}

/// What the supervisor saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Happening {
    /// A timeout fired or the caller cancelled.
    StopAsked,
    /// The grace period after SIGTERM ran out.
    GraceOver,
    /// The leader exited (or, for a group colony did not start, the group
    /// emptied). `members_left`: other processes of its group still live.
    LeaderExited { members_left: bool },
}

/// What the supervisor must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Signal(GroupSignal),
    /// Start the grace timer; [`Happening::GraceOver`] when it runs out.
    ArmGrace,
}

/// The next stage and the actions that lead there.
///
/// A second stop request changes nothing (the first reason stands and the
/// grace period is not restarted); a grace timer that fires after the child
/// already moved on is ignored.
pub(crate) fn step(stage: Stage, happening: Happening) -> (Stage, &'static [Action]) {
    use Action::{ArmGrace, Signal};
    use GroupSignal::{Kill, Term};
    match (stage, happening) {
        (Stage::Exited, _) => (Stage::Exited, &[]),
        // Grandchildren (npx wrappers, MCP servers, `cmd &`) outlive a leader
        // that exits on its own or on SIGTERM; they must not outlive colony.
        (_, Happening::LeaderExited { members_left: true }) => (Stage::Exited, &[Signal(Kill)]),
        (_, Happening::LeaderExited { members_left: false }) => (Stage::Exited, &[]),
        (Stage::Running, Happening::StopAsked) => (Stage::Terminating, &[Signal(Term), ArmGrace]),
        (Stage::Terminating, Happening::GraceOver) => (Stage::Killed, &[Signal(Kill)]),
        (stage, Happening::StopAsked | Happening::GraceOver) => (stage, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::Action::{ArmGrace, Signal};
    use super::GroupSignal::{Kill, Term};
    use super::*;

    const ALONE: Happening = Happening::LeaderExited { members_left: false };
    const WITH_OTHERS: Happening = Happening::LeaderExited { members_left: true };

    #[test]
    fn a_stop_sends_sigterm_and_starts_the_grace_period() {
        assert_eq!(step(Stage::Running, Happening::StopAsked), (Stage::Terminating, &[Signal(Term), ArmGrace][..]));
    }

    #[test]
    fn grace_running_out_sends_sigkill() {
        assert_eq!(step(Stage::Terminating, Happening::GraceOver), (Stage::Killed, &[Signal(Kill)][..]));
    }

    #[test]
    fn a_leader_that_exits_in_time_ends_the_sequence() {
        for stage in [Stage::Running, Stage::Terminating, Stage::Killed] {
            assert_eq!(step(stage, ALONE), (Stage::Exited, &[][..]), "{stage:?}");
        }
    }

    #[test]
    fn whatever_outlives_the_leader_is_killed_at_once() {
        for stage in [Stage::Running, Stage::Terminating, Stage::Killed] {
            assert_eq!(step(stage, WITH_OTHERS), (Stage::Exited, &[Signal(Kill)][..]), "{stage:?}");
        }
    }

    #[test]
    fn a_second_stop_neither_resends_nor_restarts_the_grace_period() {
        assert_eq!(step(Stage::Terminating, Happening::StopAsked), (Stage::Terminating, &[][..]));
        assert_eq!(step(Stage::Killed, Happening::StopAsked), (Stage::Killed, &[][..]));
    }

    #[test]
    fn a_stale_grace_timer_is_ignored() {
        assert_eq!(step(Stage::Running, Happening::GraceOver), (Stage::Running, &[][..]));
        assert_eq!(step(Stage::Killed, Happening::GraceOver), (Stage::Killed, &[][..]));
    }

    #[test]
    fn nothing_happens_after_exit() {
        for h in [Happening::StopAsked, Happening::GraceOver, ALONE, WITH_OTHERS] {
            assert_eq!(step(Stage::Exited, h), (Stage::Exited, &[][..]), "{h:?}");
        }
    }

    #[test]
    fn the_full_sequence_for_a_child_that_ignores_sigterm() {
        let mut stage = Stage::Running;
        let mut sent = Vec::new();
        for h in [Happening::StopAsked, Happening::StopAsked, Happening::GraceOver, WITH_OTHERS] {
            let (next, actions) = step(stage, h);
            stage = next;
            sent.extend(actions.iter().filter_map(|a| match a {
                Signal(s) => Some(*s),
                ArmGrace => None,
            }));
        }
        assert_eq!(stage, Stage::Exited);
        assert_eq!(sent, [Term, Kill, Kill]);
    }
}
