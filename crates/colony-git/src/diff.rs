//! Diffs for people to read: what a task's work changes, for the dashboard.

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
