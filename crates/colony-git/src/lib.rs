//! colony's git layer: task worktrees, committing what an agent left, the
//! merge queue's plumbing, the shared remote of a run across machines
//! (`remote`) and `colony land`.
//!
//! The merge queue's plumbing is a set of building blocks, not a merge
//! procedure: the engine merges in memory with [`Repo::merge_tree`], makes
//! the merge commit with [`Repo::commit_tree`] (the integration tip as
//! first parent) and moves the integration ref with
//! [`Repo::update_ref_cas`]; when the merge conflicts, [`Repo::bring_in`]
//! merges the integration tip into the task's worktree for a resolver.
//!
//! # Why the git CLI and not a library
//!
//! Every operation runs the `git` executable. libgit2 (git2-rs) does not
//! refuse to clobber uncommitted files when it checks out or merges, which
//! is exactly the guarantee `colony land` needs in the user's checkout;
//! gitoxide cannot yet create worktrees or finish merges. The CLI does both,
//! honours the user's configuration (attributes, clean and smudge filters,
//! sparse checkouts) the same way their own git does, and keeps one behaviour
//! across every repository colony meets. The price is a process per call,
//! which is small next to an agent's run.
//!
//! # What may touch what
//!
//! Only [`Repo::land`] changes the user's checked-out branch or working
//! tree, and only when asked. Everything else works in colony's own
//! worktrees under `.colony/worktrees/` or moves refs with plumbing
//! (`update-ref` compare-and-swap), never `checkout`.
//!
//! The calls block; an async engine runs them from `spawn_blocking`.
//! Requires git 2.38 or later for the merge queue (`merge-tree
//! --write-tree`); [`Repo::supports_merge_tree_write_tree`] says whether the
//! installed git qualifies.

mod commit;
mod diff;
mod error;
mod history;
mod land;
mod merge;
mod remote;
mod repo;
mod run;
mod status;
mod worktree;

pub use commit::Identity;
pub use error::{GitError, MAX_LISTED_PATHS, Result};
pub use history::{LoggedCommit, parse_log};
pub use land::LandOutcome;
pub use merge::{BringIn, CasOutcome, MergeConflict, MergeMessage, MergeOutcome, parse_merge_tree};
pub use remote::{PushOutcome, PushedRef, parse_push_porcelain};
pub use repo::{Oid, Repo, branch_ref};
pub use run::GitVersion;
pub use status::{StatusEntry, parse_ls_files_paths, parse_status_entries, parse_status_paths};
pub use worktree::{Breakage, TaskTree, TreeState, WORKTREES_DIR, Worktree, parse_worktree_list};
