//! Ending what supervised children leave outside their process groups, and
//! reaping the orphans colony adopts: the IO around [`strays::sweep`].
//!
//! Three moments call for it: a supervised child ended (its tag's strays,
//! from [`run`](super::run)), a colony found the attempts of a dead one
//! ([`end_strays_of`]), and a run ended ([`end_adopted`]). Each looks at
//! the process table, kills what the sweep names, reaps what it allows,
//! and looks again until nothing of the target runs, polling as
//! [`kill_group`](super::kill_group) does: the processes are not all
//! colony's children, so there is no exit to wait on.
//!
//! Reaping needs care because colony has children that others wait for:
//! tokio waits for each supervised leader, std for each git. git stays in
//! colony's own process group, which no sweep reaps. A leader is
//! registered, with its start time, from its spawn until tokio has waited
//! for it, under the lock a sweep holds while it looks and reaps, so no
//! sweep sees a leader's zombie without knowing to leave it alone.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep};

use super::procfs;
use super::strays::{self, Seen, Sweep, Target};
use crate::AgentError;

/// How often [`end`] looks again while what it killed dies.
const POLL: Duration = Duration::from_millis(20);

/// How long [`end`] waits for what it killed to be gone. SIGKILL cannot be
/// refused; only a process stuck in the kernel, or one that forks faster
/// than it is killed, outlasts this.
const SETTLE: Duration = Duration::from_secs(2);

/// (pid, start) of each supervised leader tokio has yet to wait for.
static LEADERS: Mutex<Vec<(i32, u64)>> = Mutex::new(Vec::new());

/// Set once this process is a subreaper: only then are zombies reaped.
static ADOPTING: AtomicBool = AtomicBool::new(false);

/// Children given a tag so far.
static TAGGED: AtomicU64 = AtomicU64::new(0);

/// Random to this process, so that tags of colonies that shared a pid (in
/// two pid namespaces, or one after the other) differ.
static NONCE: OnceLock<u64> = OnceLock::new();

fn leaders() -> MutexGuard<'static, Vec<(i32, u64)>> {
    LEADERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A new tag, for the next supervised child.
pub(crate) fn next_tag() -> String {
    let nonce = *NONCE.get_or_init(|| RandomState::new().hash_one(std::process::id()));
    strays::tag(std::process::id(), nonce, TAGGED.fetch_add(1, Ordering::Relaxed))
}

/// A supervised leader, as registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Leader {
    pid: i32,
    start: u64,
}

/// Spawns `command` and registers the child as a leader before any sweep
/// can look.
pub(crate) fn spawn_leader(command: &mut Command) -> io::Result<(Child, Leader)> {
    let mut leaders = leaders();
    let child = command.spawn()?;
    let pid = child.id().expect("a child that was just spawned is not yet reaped");
    let pid = i32::try_from(pid).expect("pids fit in i32");
    let start = procfs::stat(pid).map_or(0, |s| s.start);
    leaders.push((pid, start));
    Ok((child, Leader { pid, start }))
}

/// tokio has waited for `leader`: its zombie is gone and its pid free.
pub(crate) fn forget(leader: Leader) {
    leaders().retain(|&l| l != (leader.pid, leader.start));
}

/// One look at the table: reaps what may be reaped, kills what `target`
/// names; returns the sweep and the table it was made from.
fn pass(target: Target) -> (Sweep, Vec<Seen>) {
    let (sweep, table) = {
        let mut leaders = leaders();
        let table = procfs::table();
        // A leader gone from the table was waited for, or left to tokio
        // when its run was dropped, and tokio has reaped it since.
        leaders.retain(|&(pid, start)| table.iter().any(|s| (s.pid, s.start) == (pid, start)));
        let sweep = strays::sweep(&table, procfs::me(), &leaders, target, ADOPTING.load(Ordering::SeqCst));
        for zombie in &sweep.reap {
            procfs::reap(zombie.pid);
        }
        (sweep, table)
    };
    for stray in &sweep.kill {
        procfs::kill(stray);
    }
    (sweep, table)
}

/// How [`end`] left its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ended {
    /// Processes that were running and were killed.
    pub killed: usize,
    /// Some still ran when [`SETTLE`] was over.
    pub lingering: bool,
}

/// Kills every process of `target`, and looks again until none is left
/// running and each one killed is gone, or a zombie that is not colony's
/// to reap (its parent, or init, reaps it).
pub(crate) async fn end(target: Target<'_>) -> Ended {
    let until = Instant::now() + SETTLE;
    let mut killed = HashSet::new();
    loop {
        let (sweep, table) = pass(target);
        killed.extend(sweep.kill.iter().map(|s| (s.pid, s.start)));
        // Reaped in this pass, but still in the table it looked at.
        let reaped = |s: &Seen| sweep.reap.contains(s);
        let settled = sweep.kill.is_empty()
            && !table.iter().any(|s| killed.contains(&(s.pid, s.start)) && (!s.zombie || reaped(s)));
        if settled {
            return Ended { killed: killed.len(), lingering: false };
        }
        if Instant::now() >= until {
            return Ended { killed: killed.len(), lingering: true };
        }
        sleep(POLL).await;
    }
}

/// One pass of [`end`] without waiting, for a `Drop`: what it kills is
/// reaped by a later sweep.
pub(crate) fn end_now(target: Target) {
    pass(target);
}

/// Makes this process the subreaper of everything it starts, so that a
/// process that leaves its group, and then its parent, is reparented to
/// colony rather than to init; sweeps then reap such orphans when they
/// die. For a process that owns what it runs (the `colony` binary):
/// every process-group leader it starts must be started by
/// [`run`](super::run), since a zombie outside its own group that `run` did
/// not register is taken for an orphan and reaped. Linux only.
pub fn adopt_orphans() -> Result<(), AgentError> {
    procfs::become_subreaper().map_err(|source| AgentError::Subreaper { source })?;
    ADOPTING.store(true, Ordering::SeqCst);
    Ok(())
}

/// Ends every process this one adopted that still runs, and reaps them:
/// orphans that cleared their environment, so that no child's end could
/// tell they were its. For the end of a run. Returns how many it killed.
pub async fn end_adopted() -> usize {
    end(Target::Adopted).await.killed
}

/// Ends the processes that the colony process `colony_pid`, now dead, left
/// running outside its process groups (they carry its tags). Returns how
/// many it killed.
pub async fn end_strays_of(colony_pid: u32) -> usize {
    end(Target::TagsOf(colony_pid)).await.killed
}
