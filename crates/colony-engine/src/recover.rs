//! Crash recovery: what colony processes that died on this host left
//! behind, taken back at a run's start and, for processes that die while
//! this one runs, at every tick of the rescuer.
//!
//! Its agents' process groups are stopped, and the processes that left
//! them but still carry its tags (`COLONY_PROCESS_TAG`).
//!
//! A colony that dies is not its agents' failure: a task it held goes back
//! to the queue without counting a try (`released`). Only this host can
//! tell a dead holder from a slow one, by its pid (and the boot it ran in);
//! a holder on another host is taken back when its lease runs out, which
//! counts, since it may be alive and only cut off.
//!
//! Then what no live attempt owns goes: worktrees and their directories,
//! and the task branches of attempts whose work is not kept (merged, or
//! ended by a stop or a death). A failed attempt's branch stays for people
//! to look at; an attempt that waits for a person keeps its work there.

use std::collections::HashSet;

use colony_agents::{Pgid, boot_id, end_strays_of, kill_group, process_alive};
use colony_core::branch::task_branch;
use colony_store::{Claim, LiveAttempt, Store, StoreError};

use crate::error::EngineError;
use crate::queue::{MERGE_LOCK, merge_holder};
use crate::shared::Inner;

/// Attempt outcomes whose branch holds nothing anyone needs.
const DISCARDED: &[&str] = &["done", "released", "expired", "abandoned", "killed"];

impl<S: Store + 'static> Inner<S> {
    /// At a run's start: takes back what dead colony processes of this
    /// host held, then removes what no live attempt owns. Returns what it
    /// did, for the run's report.
    pub(crate) async fn recover(&self) -> Result<Vec<String>, EngineError> {
        let mut notes = self.take_back_dead().await?;
        notes.extend(self.sweep_worktrees().await?);
        self.sweep_baselines()?;
        notes.extend(self.sweep_branches().await?);
        Ok(notes)
    }

    /// The attempts held by colony processes of this host that are gone:
    /// their agents' process groups are stopped, a merge lock they held is
    /// freed, and their tasks are released, the try not counted.
    pub(crate) async fn take_back_dead(&self) -> Result<Vec<String>, EngineError> {
        let mut notes = Vec::new();
        let this_boot = boot_id();
        let mut dead = HashSet::new();
        for live in self.store.live_attempts().await? {
            let Some(pid) = self.dead_holder(&live, this_boot.as_deref()) else {
                continue;
            };
            if let (Some(pgid), Some(boot)) = (live.pgid, &live.boot_id)
                && this_boot.as_ref() == Some(boot)
                && let Ok(pgid) = Pgid::new(pgid as i32)
            {
                kill_group(pgid, self.settings.config.run.grace).await?;
                notes.push(format!(
                    "stopped the agent processes of {} attempt {} (group {})",
                    live.task,
                    live.attempt,
                    pgid.get()
                ));
            }
            // Its tags tell what left the groups; a tag lives only as long
            // as its process, so no boot check is needed.
            if dead.insert(pid) {
                let killed = end_strays_of(pid).await;
                if killed > 0 {
                    let what = if killed == 1 { "process" } else { "processes" };
                    notes.push(format!("stopped {killed} {what} the dead run {pid} left outside its groups"));
                }
            }
            self.store.unlock(MERGE_LOCK, &merge_holder(&live.worker, &live.task, live.attempt)).await?;
            let why = format!("colony process {pid} on {} died; the try is not counted", self.host);
            match self.store.release(&live.task, live.attempt, &why).await {
                Ok(()) => notes.push(format!("{} attempt {}: {why}", live.task, live.attempt)),
                // Taken back meanwhile, by another process of this host.
                Err(StoreError::LeaseLost { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(notes)
    }

    /// The pid of the attempt's holder if it is a colony process of this
    /// host that is gone: no such process runs, or it ran in another boot.
    fn dead_holder(&self, live: &LiveAttempt, this_boot: Option<&str>) -> Option<u32> {
        let (host, pid) = parse_worker(&live.worker)?;
        if host != self.host || pid == self.pid {
            return None;
        }
        let other_boot = live.boot_id.as_deref().is_some_and(|b| this_boot.is_some_and(|this| this != b));
        (other_boot || !process_alive(pid)).then_some(pid)
    }

    /// Removes the worktrees, and directories under the worktrees'
    /// directory, that belong to no live attempt.
    async fn sweep_worktrees(&self) -> Result<Vec<String>, EngineError> {
        let mut notes = Vec::new();
        // Another colony may be running on this repository. A worktree is
        // made only after its attempt's claim has committed, so asking the
        // store about each one after listing it never takes a live one.
        let root = self.layout.worktrees();
        for wt in self.worktree_git(|r| r.worktree_list())? {
            if wt.path.starts_with(&root) && !self.attempt_is_live(wt.path.file_name()).await? {
                self.worktree_git(|r| r.worktree_remove(&wt.path))?;
                notes.push(format!("removed the leftover worktree {}", wt.path.display()));
            }
        }
        if let Ok(entries) = std::fs::read_dir(&root) {
            for entry in entries.flatten() {
                let path = entry.path();
                if !self.attempt_is_live(path.file_name()).await? {
                    std::fs::remove_dir_all(&path).map_err(|source| EngineError::Io { path: path.clone(), source })?;
                    notes.push(format!("removed the leftover directory {}", path.display()));
                }
            }
        }
        Ok(notes)
    }

    /// Removes the looks at integration tips (`baseline.rs`) that colony
    /// processes of this host left when they died mid-look.
    fn sweep_baselines(&self) -> Result<(), EngineError> {
        let Ok(entries) = std::fs::read_dir(self.layout.colony_dir().join("baseline")) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let pid = name.to_str().and_then(|n| n.trim_end_matches(".jsonl").parse::<u32>().ok());
            if let Some(pid) = pid.filter(|pid| *pid != self.pid && !process_alive(*pid)) {
                let dir = self.layout.baseline(pid);
                self.git(|r| r.worktree_discard(&dir))?;
                self.worktree_git(|r| r.worktree_forget(&dir))?;
                let log = self.layout.baseline_log(pid);
                std::fs::remove_file(&log)
                    .or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
                    .map_err(|source| EngineError::Io { path: log, source })?;
            }
        }
        Ok(())
    }

    /// Deletes the task branches of attempts whose work is not kept.
    async fn sweep_branches(&self) -> Result<Vec<String>, EngineError> {
        let mut deleted = Vec::new();
        for branch in self.git(|r| r.branches(colony_core::branch::TASK_BRANCHES))? {
            let Some((task, attempt)) = branch.rsplit('/').next().and_then(parse_worktree_name) else {
                continue;
            };
            let Some(detail) = self.store.task(task).await? else {
                continue;
            };
            let discarded = detail
                .attempts
                .iter()
                .find(|a| a.attempt == attempt)
                .and_then(|a| a.outcome.as_deref())
                .is_some_and(|outcome| DISCARDED.contains(&outcome));
            if discarded && self.git(|r| r.checked_out_in(&colony_git::branch_ref(&branch)))?.is_none() {
                self.git(|r| r.delete_branch(&branch))?;
                deleted.push(branch);
            }
        }
        Ok(match deleted.len() {
            0 => Vec::new(),
            n => vec![format!(
                "deleted {n} task branch{} of attempts whose work was merged or given up: {}",
                if n == 1 { "" } else { "es" },
                deleted.join(", ")
            )],
        })
    }

    /// Deletes the branches of `task`'s earlier attempts whose work is not
    /// kept, here and on a shared remote: called once the task merged.
    /// An attempt that ends by itself deletes its own; one whose colony
    /// died, or whose lease was taken, while this run went on did not, and
    /// no sweep at a run's start comes before this run ends.
    pub(crate) async fn sweep_task_branches(&self, claim: &Claim) -> Result<(), EngineError> {
        let Some(detail) = self.store.task(claim.task.as_str()).await? else {
            return Ok(());
        };
        let discarded = detail.attempts.iter().filter(|a| {
            a.attempt != claim.attempt && a.outcome.as_deref().is_some_and(|outcome| DISCARDED.contains(&outcome))
        });
        for earlier in discarded {
            let branch = task_branch(&claim.plan, &claim.task, earlier.attempt);
            if self.git(|r| r.branch_exists(&branch))?
                && self.git(|r| r.checked_out_in(&colony_git::branch_ref(&branch)))?.is_none()
            {
                self.git(|r| r.delete_branch(&branch))?;
            }
            self.queue.integration().unpublish(&self.base, &branch)?;
        }
        Ok(())
    }

    /// Whether the worktree named `name` (`<task>-a<n>`) belongs to an
    /// attempt that holds its task's lease now.
    async fn attempt_is_live(&self, name: Option<&std::ffi::OsStr>) -> Result<bool, EngineError> {
        let Some((task, attempt)) = name.and_then(|n| n.to_str()).and_then(parse_worktree_name) else {
            return Ok(false);
        };
        let Some(detail) = self.store.task(task).await? else {
            return Ok(false);
        };
        let t = &detail.record.task;
        Ok(t.attempt == attempt && t.status().is_leased())
    }
}

/// `<task>-a<n>` back into the task and attempt.
fn parse_worktree_name(name: &str) -> Option<(&str, u32)> {
    let (task, attempt) = name.rsplit_once("-a")?;
    Some((task, attempt.parse().ok()?))
}

/// `host:pid:slot` back into its host and pid.
fn parse_worker(worker: &str) -> Option<(&str, u32)> {
    let mut parts = worker.rsplitn(3, ':');
    let _slot = parts.next()?;
    let pid = parts.next()?.parse().ok()?;
    Some((parts.next()?, pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worktree_names_round_trip() {
        assert_eq!(parse_worktree_name("db-schema-a12"), Some(("db-schema", 12)));
        assert_eq!(parse_worktree_name("x-a-a2"), Some(("x-a", 2)));
        assert_eq!(parse_worktree_name("stray"), None);
    }

    #[test]
    fn worker_ids_round_trip() {
        assert_eq!(parse_worker("host-1:4242:3"), Some(("host-1", 4242)));
        assert_eq!(parse_worker("a:b:c:7:0"), Some(("a:b:c", 7)));
        assert_eq!(parse_worker("w1"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_free_pid_is_not() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(u32::MAX - 1));
    }
}
