//! Diffs for people to read: what a task's work changes, for the
//! dashboard, and which files a merge brought in, for the prompts of the
//! tasks that build on it.

use crate::error::Result;
use crate::repo::{Oid, Repo};
use crate::run::{argv, failure, run_git, run_git_unchecked, stdout_line, unexpected};

impl Repo {
    /// The patch that takes `from` to `to`, as `git diff` prints it without
    /// colour or external diff drivers. Bytes that are not UTF-8 are
    /// replaced.
    pub fn diff(&self, from: &Oid, to: &Oid) -> Result<String> {
        let output = run_git(
            self.top_level(),
            &argv!["diff", "--no-color", "--no-ext-diff", "--no-textconv", "--end-of-options", from, to],
        )?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The paths `commit` changed against its first parent (for a merge:
    /// what it brought in), sorted, renames as a deletion and an addition.
    /// Names that are not UTF-8 are shown lossily.
    pub fn changed_paths(&self, commit: &Oid) -> Result<Vec<String>> {
        let parent = format!("{commit}^1");
        let args =
            argv!["diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", "--end-of-options", parent, commit];
        let output = run_git(self.top_level(), &args)?;
        let mut paths = crate::run::stdout_paths(&output);
        paths.sort();
        Ok(paths)
    }

    /// The best common ancestor of two commits, `None` when their histories
    /// never meet.
    pub fn merge_base(&self, a: &Oid, b: &Oid) -> Result<Option<Oid>> {
        let args = argv!["merge-base", "--end-of-options", a, b];
        let output = run_git_unchecked(self.top_level(), &args, &[])?;
        match output.status.code() {
            Some(0) => Oid::parse(&stdout_line(&output)).map(Some).ok_or_else(|| unexpected(&args, &output.stdout)),
            Some(1) => Ok(None),
            _ => Err(failure(self.top_level(), &args, &output)),
        }
    }
}
