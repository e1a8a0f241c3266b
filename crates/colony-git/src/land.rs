//! `colony land`: bringing the integration branch into the user's branch.
//!
//! The one operation in this crate that changes the user's checkout, and
//! it does so only through git's porcelain (`merge --ff-only` or `merge
//! --no-ff`), which refuses to overwrite local changes. Every refusal of
//! ours happens before git is asked to change anything, so a refused land
//! leaves the tree, index and HEAD exactly as they were.

use crate::commit::CommitIdentity;
use crate::error::{GitError, MAX_LISTED_PATHS, Result};
use crate::merge::{MergeOutcome, unmerged_paths};
use crate::repo::{Oid, Repo, branch_ref, head_branch_in, head_in};
use crate::run::{At, argv, run_git};
use crate::status::tracked_changes;

/// What [`Repo::land`] did to the user's branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LandOutcome {
    /// The user's branch already contains the integration branch.
    UpToDate,
    FastForwarded {
        from: Oid,
        to: Oid,
    },
    /// A merge commit of the user's branch (first parent) and the
    /// integration branch.
    Merged {
        commit: Oid,
    },
}

impl Repo {
    /// Brings `integration_branch` (a short name, `colony/auth`) into the
    /// branch checked out in this handle's working tree. Fast-forward only,
    /// unless `merge` asks for a merge commit (made even when a
    /// fast-forward was possible, since the user asked for one).
    ///
    /// Refuses when HEAD is detached, when tracked files have uncommitted
    /// changes (untracked files are left to git, which will not overwrite
    /// them), when the branches diverged and `merge` is false, and when the
    /// merge would conflict. Unlike colony's own commits, this runs the
    /// user's hooks: it is their branch and they asked.
    pub fn land(&self, integration_branch: &str, merge: bool) -> Result<LandOutcome> {
        let top = self.top_level();
        let branch = head_branch_in(top)?.ok_or_else(|| GitError::DetachedHead { path: top.to_path_buf() })?;
        let mut dirty = tracked_changes(top)?;
        if !dirty.is_empty() {
            let more = dirty.len().saturating_sub(MAX_LISTED_PATHS);
            dirty.truncate(MAX_LISTED_PATHS);
            return Err(GitError::DirtyTree { paths: dirty, more });
        }
        let integration = self.resolve(&branch_ref(integration_branch))?;
        let head = head_in(top)?;
        if self.is_ancestor(&integration, &head)? {
            return Ok(LandOutcome::UpToDate);
        }
        if !merge {
            if !self.is_ancestor(&head, &integration)? {
                return Err(GitError::NotFastForward { branch, integration: integration_branch.to_owned() });
            }
            // The id, not the name: land exactly what was checked above.
            run_git(top, &argv!["merge", "--ff-only", "--quiet", integration])?;
            return Ok(LandOutcome::FastForwarded { from: head, to: integration });
        }
        let refuse = |paths| GitError::LandConflict {
            branch: branch.clone(),
            integration: integration_branch.to_owned(),
            paths,
        };
        // Find conflicts in memory first, so the user's tree is never left
        // mid-merge.
        if let MergeOutcome::Conflict { paths, .. } = self.merge_tree(&head, &integration)? {
            return Err(refuse(paths));
        }
        let message = format!("Merge branch '{integration_branch}' into {branch}");
        let args = argv!["merge", "--no-ff", "--quiet", "-m", message, integration];
        let output = CommitIdentity::resolve(self, None)?.output(top, &args)?;
        if !output.status.success() {
            // merge-tree and merge agree on conflicts, but be safe: a merge
            // that stopped halfway is undone before reporting it.
            let paths = unmerged_paths(At::Dir(top))?;
            if !paths.is_empty() {
                run_git(top, &argv!["merge", "--abort"])?;
                return Err(refuse(paths));
            }
            return Err(crate::run::failure(top, &args, &output));
        }
        Ok(LandOutcome::Merged { commit: head_in(top)? })
    }
}
