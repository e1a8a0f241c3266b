//! Where a run keeps its files, all under `.colony/` in the repository.
//!
//! ```text
//! .colony/colony.db                      the store (SQLite)
//! .colony/worktrees/<task>-a<n>/         attempt n's worktree, removed when it ends
//! .colony/runs/<task>/a<n>/log.jsonl     attempt n's normalized agent log
//! .colony/runs/<task>/a<n>/task.json     the task, for COLONY_TASK_FILE
//! .colony/runs/<task>/a<n>/feedback.md   the last round's feedback, for COLONY_FEEDBACK_FILE
//! .colony/baseline/<pid>/                a process's look at an integration tip, gated
//! .colony/baseline/<pid>.jsonl           its gates' output
//! .colony/setup-cache/<key>/             what a worktree's setup made, kept to copy into the next
//! ```
//!
//! Attempt files live outside the worktree so the agent cannot commit them.
//! Task branches are `colony-task/<plan>/<task>-a<n>`: not under the
//! integration branch `colony/<plan>`, since git cannot hold both a ref and
//! refs below it. Both names are made (and checked against git's rules)
//! in [`crate::branch`].

use std::path::{Path, PathBuf};

use crate::TaskId;

/// The paths of one repository's colony state.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// `repo` is the repository's top level.
    pub fn new(repo: impl Into<PathBuf>) -> Self {
        Layout { root: repo.into() }
    }

    pub fn repo(&self) -> &Path {
        &self.root
    }

    pub fn colony_dir(&self) -> PathBuf {
        self.root.join(".colony")
    }

    pub fn worktrees(&self) -> PathBuf {
        self.colony_dir().join("worktrees")
    }

    pub fn worktree(&self, task: &TaskId, attempt: u32) -> PathBuf {
        self.worktrees().join(format!("{task}-a{attempt}"))
    }

    pub fn attempt_dir(&self, task: &TaskId, attempt: u32) -> PathBuf {
        self.colony_dir().join("runs").join(task.as_str()).join(format!("a{attempt}"))
    }

    pub fn log(&self, task: &TaskId, attempt: u32) -> PathBuf {
        self.attempt_dir(task, attempt).join("log.jsonl")
    }

    pub fn task_file(&self, task: &TaskId, attempt: u32) -> PathBuf {
        self.attempt_dir(task, attempt).join("task.json")
    }

    /// A project's own prompt templates, `<role>.md` each.
    pub fn prompts(&self) -> PathBuf {
        self.colony_dir().join("prompts")
    }

    pub fn feedback_file(&self, task: &TaskId, attempt: u32) -> PathBuf {
        self.attempt_dir(task, attempt).join("feedback.md")
    }

    /// Where process `pid` checks an integration tip out to gate it; not
    /// under the worktrees, whose leftovers another process sweeps.
    pub fn baseline(&self, pid: u32) -> PathBuf {
        self.colony_dir().join("baseline").join(pid.to_string())
    }

    pub fn baseline_log(&self, pid: u32) -> PathBuf {
        self.colony_dir().join("baseline").join(format!("{pid}.jsonl"))
    }

    /// Where what worktrees' setup made is kept (`[worktree]
    /// reuse_setup`), one directory per key.
    pub fn setup_cache(&self) -> PathBuf {
        self.colony_dir().join("setup-cache")
    }

    /// What the setup keyed `key` made, as its paths in the worktree.
    pub fn setup_cache_entry(&self, key: &str) -> PathBuf {
        self.setup_cache().join(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let l = Layout::new("/r");
        let t = TaskId::new("db-schema").unwrap();
        assert_eq!(l.worktree(&t, 2), Path::new("/r/.colony/worktrees/db-schema-a2"));
        assert_eq!(l.log(&t, 2), Path::new("/r/.colony/runs/db-schema/a2/log.jsonl"));
    }
}
