//! The process table as Linux's `/proc` shows it, and the calls that act on
//! single processes: SIGKILL to one pid, reaping one pid, becoming a
//! subreaper. Elsewhere the table is empty and nothing is adopted, so
//! strays are not found: process groups remain the whole of supervision.

use std::io;

use super::strays::{Me, Seen};

/// colony's own pid and process group.
pub(crate) fn me() -> Me {
    let pid = i32::try_from(std::process::id()).expect("pids fit in i32");
    Me { pid, pgid: super::unix::own_group() }
}

/// The fields of `/proc/PID/stat` supervision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    pub pid: i32,
    pub state: char,
    pub ppid: i32,
    pub pgid: i32,
    pub start: u64,
}

impl Stat {
    /// Exited and waiting to be reaped (`Z`), or on its way out (`X`).
    pub(crate) fn dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Parses a `/proc/PID/stat` line: `pid (comm) state ppid pgrp session
/// tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime
/// cstime priority nice num_threads itrealvalue starttime ...`, where
/// `comm` may hold spaces and `)`.
pub(crate) fn parse_stat(line: &str) -> Option<Stat> {
    let close = line.rfind(')')?;
    let pid = line[..line.find('(')?].trim().parse().ok()?;
    let fields: Vec<&str> = line[close + 1..].split_whitespace().collect();
    Some(Stat {
        pid,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgid: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// The stat of one process, if it exists.
#[cfg(target_os = "linux")]
pub(crate) fn stat(pid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn stat(_pid: i32) -> Option<Stat> {
    None
}

/// The stat of every process; `None` where there is no `/proc`.
#[cfg(target_os = "linux")]
pub(crate) fn stats() -> Option<Vec<Stat>> {
    let dir = std::fs::read_dir("/proc").ok()?;
    let pids = dir.flatten().filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok());
    // A process can vanish between listing and reading: it is skipped.
    Some(pids.filter_map(stat).collect())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn stats() -> Option<Vec<Stat>> {
    None
}

/// Every process with its tag. Only a live process's environment can be
/// read, and only one of this user's (or any, as root).
pub(crate) fn table() -> Vec<Seen> {
    stats()
        .unwrap_or_default()
        .into_iter()
        .map(|s| Seen {
            pid: s.pid,
            ppid: s.ppid,
            pgid: s.pgid,
            start: s.start,
            zombie: s.dead(),
            tag: if s.dead() { None } else { environ(s.pid).as_deref().and_then(super::strays::tag_in) },
        })
        .collect()
}

#[cfg(target_os = "linux")]
fn environ(pid: i32) -> Option<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/environ")).ok()
}

#[cfg(not(target_os = "linux"))]
fn environ(_pid: i32) -> Option<Vec<u8>> {
    None
}

/// SIGKILL to the process `seen` showed, if it is still that process: a
/// pid whose start time changed has been reused by another.
pub(crate) fn kill(seen: &Seen) {
    if stat(seen.pid).is_some_and(|now| now.start == seen.start && !now.dead()) {
        // SAFETY: kill(2) has no memory-safety preconditions; pid > 0 as
        // read from /proc. A process that died meanwhile gives ESRCH,
        // which is what was wanted.
        unsafe { libc::kill(seen.pid, libc::SIGKILL) };
    }
}

/// Reaps `pid`, a zombie child of this process, without blocking.
pub(crate) fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: waitpid(2) on one pid writes only to `status`. ECHILD (some
    // other waiter was first) and 0 (not dead after all) leave nothing to do.
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
}

/// Makes this process the subreaper of its descendants: an orphan among
/// them is reparented to it rather than to init.
#[cfg(target_os = "linux")]
pub(crate) fn become_subreaper() -> io::Result<()> {
    // SAFETY: prctl(2) with PR_SET_CHILD_SUBREAPER reads only its integer
    // arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn become_subreaper() -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "only Linux has subreapers"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_awkward_command_names_parse() {
        let line = "42 (a b) c) Z 1 7 7 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 0 0";
        assert_eq!(parse_stat(line), Some(Stat { pid: 42, state: 'Z', ppid: 1, pgid: 7, start: 987654 }));
        assert!(parse_stat(line).unwrap().dead());
        assert_eq!(parse_stat("42 (sleep) S 1 40"), None, "too short");
        assert_eq!(parse_stat("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_in_the_table_with_its_group() {
        let me = me();
        let mine = stat(me.pid).expect("its own stat");
        assert_eq!((mine.pid, mine.pgid, mine.dead()), (me.pid, me.pgid, false));
        assert!(table().iter().any(|s| s.pid == me.pid && s.start == mine.start));
    }
}
