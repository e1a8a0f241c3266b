//! Child processes whose output is collected and whose peak memory is
//! measured.

use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A running child whose stdout (and stderr, when piped) is read on
/// threads of their own, so it never blocks on a full pipe.
pub struct Running {
    child: Child,
    stdout: Option<JoinHandle<io::Result<Vec<String>>>>,
    stderr: Option<JoinHandle<io::Result<String>>>,
}

/// How a child ended.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: String,
    /// Peak resident set size, in KiB.
    pub max_rss_kib: i64,
    /// User plus system CPU time.
    pub cpu: Duration,
}

impl Running {
    pub fn new(mut child: Child) -> Running {
        let stdout = child.stdout.take().map(|out| thread::spawn(move || BufReader::new(out).lines().collect()));
        let stderr = child.stderr.take().map(|mut err| {
            thread::spawn(move || {
                let mut text = String::new();
                err.read_to_string(&mut text).map(|_| text)
            })
        });
        Running { child, stdout, stderr }
    }

    /// Waits for the child and its output.
    pub fn finish(self) -> io::Result<Finished> {
        let (status, usage) = wait_with_rusage(self.child)?;
        let stdout = match self.stdout {
            Some(reader) => reader.join().expect("the stdout reader does not panic")?,
            None => Vec::new(),
        };
        let stderr = match self.stderr {
            Some(reader) => reader.join().expect("the stderr reader does not panic")?,
            None => String::new(),
        };
        let cpu = timeval(usage.ru_utime) + timeval(usage.ru_stime);
        Ok(Finished { status, stdout, stderr, max_rss_kib: usage.ru_maxrss, cpu })
    }
}

/// Reaps `child` with `wait4`, which reports that one child's resource
/// usage. `getrusage(RUSAGE_CHILDREN)` would give only the maximum over
/// every child reaped so far, mixing workers, CLI runs and the PostgreSQL
/// server. Takes the child by value: once reaped, std's `wait` must not run.
fn wait_with_rusage(child: Child) -> io::Result<(ExitStatus, libc::rusage)> {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are valid for the duration of the call.
        if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } == pid {
            return Ok((ExitStatus::from_raw(status), usage));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

pub fn timeval(t: libc::timeval) -> Duration {
    Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000)
}

/// CPU time (user plus system) used so far by the processes of group
/// `pgid` and by their reaped children: for a PostgreSQL server, its
/// postmaster, its background processes and the backends of closed
/// sessions.
pub fn group_cpu(pgid: u32) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let Ok(procs) = std::fs::read_dir("/proc") else { return Duration::ZERO };
    let ticks: u64 = procs
        .flatten()
        .filter_map(|p| std::fs::read_to_string(p.path().join("stat")).ok())
        .filter_map(|stat| {
            // After the parenthesized name: state ppid pgrp ... with utime,
            // stime, cutime, cstime as fields 12 to 15 of what follows.
            let (_, rest) = stat.rsplit_once(')')?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.get(2)?.parse::<u32>().ok()? != pgid {
                return None;
            }
            Some(fields.get(11..15)?.iter().filter_map(|n| n.parse::<u64>().ok()).sum::<u64>())
        })
        .sum();
    Duration::from_millis(ticks * 1000 / ticks_per_sec)
}
