//! The one error type of this crate.
//!
//! Every failure carries structured fields (the git arguments, the exit
//! code, the tail of stderr, the paths involved) so the engine can record
//! and show them without parsing a formatted string. Outcomes that a caller
//! is expected to act on — a conflict, a compare-and-swap that lost, an
//! already merged task — are not errors: they are variants of the return
//! types in `merge` and `land`.

use std::path::PathBuf;

use crate::GitVersion;

/// How many paths a refusal names before it says "and N more".
pub const MAX_LISTED_PATHS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("git executable not found on PATH")]
    GitNotFound(#[source] std::io::Error),

    #[error("could not run git {}", .args.join(" "))]
    Spawn {
        args: Vec<String>,
        #[source]
        source: std::io::Error,
    },

    #[error("not a git repository (or cannot enter it): {path}")]
    NotARepository { path: PathBuf },

    #[error("git {} failed ({}): {stderr_tail}", .args.join(" "), exit_text(.code))]
    Failed {
        args: Vec<String>,
        /// `None` when git was killed by a signal.
        code: Option<i32>,
        /// The last lines of git's stderr, trimmed.
        stderr_tail: String,
    },

    #[error("unexpected output from git {}: {output:?}", .args.join(" "))]
    UnexpectedOutput { args: Vec<String>, output: String },

    #[error("git merge-tree --write-tree is unsupported by git {version} (needs git 2.38+)")]
    MergeTreeUnsupported { version: GitVersion },

    #[error("git merge-tree --merge-base is unsupported by git {version} (needs git 2.40+)")]
    MergeBaseUnsupported { version: GitVersion },

    #[error("not a full ref name (expected refs/...): {name}")]
    NotAFullRef { name: String },

    #[error(
        "{refname} is checked out in {}; moving it would leave that tree out of step, \
         so check out another branch there first",
        .worktree.display()
    )]
    RefCheckedOut { refname: String, worktree: PathBuf },

    #[error("unknown revision or branch: {rev}")]
    UnknownRevision { rev: String },

    #[error("worktree path already exists: {path}")]
    WorktreePathExists { path: PathBuf },

    #[error("git still lists the worktree {path} after its directory was deleted and stale worktrees pruned")]
    WorktreeStillRegistered { path: PathBuf },

    #[error("could not read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("HEAD is detached in {path}; check out the branch to land into first")]
    DetachedHead { path: PathBuf },

    #[error(
        "your working tree has uncommitted changes; commit or stash them first: {}{}",
        .paths.join(", "),
        more_text(*.more)
    )]
    DirtyTree {
        /// At most [`MAX_LISTED_PATHS`] of the changed paths.
        paths: Vec<String>,
        /// How many more changed paths there are.
        more: usize,
    },

    #[error(
        "{branch} has diverged from {integration} and cannot be fast-forwarded; \
         pass --merge to create a merge commit"
    )]
    NotFastForward { branch: String, integration: String },

    #[error(
        "merging {integration} into {branch} would conflict in: {}; nothing was changed",
        .paths.join(", ")
    )]
    LandConflict { branch: String, integration: String, paths: Vec<String> },
}

pub type Result<T, E = GitError> = std::result::Result<T, E>;

fn exit_text(code: &Option<i32>) -> String {
    match code {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_owned(),
    }
}

fn more_text(more: usize) -> String {
    if more == 0 { String::new() } else { format!(" (and {more} more)") }
}
