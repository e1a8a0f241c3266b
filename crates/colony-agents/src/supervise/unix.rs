//! The Unix calls behind supervision: signalling a process group, asking
//! whether one still has a live member, reading an exit status.
//!
//! Everything that touches `libc` is here, so the rest of the crate reads
//! as plain Rust.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use super::escalate::GroupSignal;
use super::procfs;
use super::spec::Exit;

/// Sends `signal` to every process in group `pgid`. A group that no longer
/// exists is not an error: that is what stopping it was for.
pub(crate) fn signal_group(pgid: i32, signal: GroupSignal) -> io::Result<()> {
    let sig = match signal {
        GroupSignal::Term => libc::SIGTERM,
        GroupSignal::Kill => libc::SIGKILL,
    };
    send(pgid, sig)?;
    if signal == GroupSignal::Term {
        // A stopped process (SIGTSTP, SIGTTIN) only acts on SIGTERM once it
        // runs again; without SIGCONT it would sit out the whole grace period.
        send(pgid, libc::SIGCONT)?;
    }
    Ok(())
}

/// The raw signal number, for error reports.
pub(crate) fn signal_number(signal: GroupSignal) -> i32 {
    match signal {
        GroupSignal::Term => libc::SIGTERM,
        GroupSignal::Kill => libc::SIGKILL,
    }
}

fn send(pgid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid
    // addresses the group. Callers never pass a pgid <= 1 (see `Pgid`).
    if unsafe { libc::kill(-pgid, sig) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ESRCH) => Ok(()),
        _ => Err(err),
    }
}

/// Whether any process of group `pgid` is still running.
///
/// `kill(-pgid, 0)` answers for the group as the kernel sees it, and that
/// includes zombies: members already dead but not yet reaped by their
/// parent. Orphans are reaped by init, which may take seconds (some
/// container inits reap on a timer), so on Linux a "yes" is checked against
/// `/proc` and only members that are not zombies count.
pub(crate) fn group_alive(pgid: i32) -> bool {
    // SAFETY: as in `send`; signal 0 only checks existence and permission.
    if unsafe { libc::kill(-pgid, 0) } != 0 {
        // EPERM: the group exists but belongs to someone else.
        return io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    }
    // Where there is no `/proc`, the kernel's answer stands.
    procfs::stats().is_none_or(|stats| stats.iter().any(|s| s.pgid == pgid && !s.dead()))
}

/// The process group colony itself is in.
pub(crate) fn own_group() -> i32 {
    // SAFETY: getpgrp(2) cannot fail and touches no memory.
    unsafe { libc::getpgrp() }
}

/// How a reaped child ended.
pub(crate) fn exit_of(status: ExitStatus) -> Exit {
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        // Neither code nor signal is only reported for a stopped or
        // continued child, which `wait` does not return; keep it visible.
        (None, None) => Exit::Code(-1),
    }
}

/// This boot's id, so a recorded pgid is only acted on in the boot that
/// recorded it (after a reboot the number names some unrelated group).
#[cfg(target_os = "linux")]
pub fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_owned()).filter(|id| !id.is_empty())
}

/// This boot's id; not known on this platform.
#[cfg(not(target_os = "linux"))]
pub fn boot_id() -> Option<String> {
    None
}

/// Whether a process runs: it exists and has not ended (a zombie, ended
/// but not yet reaped by whoever adopted it, has).
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    super::procfs::stat(pid).is_some_and(|stat| !matches!(stat.state, 'Z' | 'X'))
}

/// This machine's name, as worker names and the store's record of runs
/// carry it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn own_group_is_alive_and_boot_id_is_stable() {
        assert!(group_alive(own_group()));
        let id = boot_id().expect("linux has a boot id");
        assert_eq!(boot_id(), Some(id));
    }
}
