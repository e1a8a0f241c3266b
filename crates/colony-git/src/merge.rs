//! The merge queue's git side: merging two commits in memory
//! (`merge-tree --write-tree`), moving the integration ref by
//! compare-and-swap, and bringing the integration tip into a task's
//! worktree for a resolver.
//!
//! The integration branch is never checked out anywhere: it moves only by
//! `git update-ref <ref> <new> <old>`, so two colonies (or two workers)
//! racing to advance it cannot both win, and the loser learns where the
//! ref went without parsing git's message. The merge commit is made with
//! [`Repo::commit_tree`] from the tree [`Repo::merge_tree`] wrote, with
//! the integration tip as first parent, so `git log --first-parent` on the
//! integration branch reads as one merge per task.

use crate::commit::{CommitIdentity, Identity, merge_in_progress};
use crate::error::{GitError, Result};
use crate::repo::{Oid, Repo, head_in};
use crate::run::{At, GitVersion, argv, failure, run_git, run_git_unchecked, unexpected};
use crate::worktree::TaskTree;

/// How many commit subjects a conflict report names per side.
const MAX_SUBJECTS: usize = 20;

/// How long `update-ref` waits for another writer's lock on the ref before
/// giving up (git's default is 100 ms). Long enough that a racing writer
/// finishes and the loser sees a stale old value rather than a lock error;
/// short enough that a lock left by a killed git is reported promptly.
const REF_LOCK_TIMEOUT_MS: &str = "core.filesRefLockTimeout=5000";

/// The result of `git merge-tree --write-tree`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    Clean {
        tree: Oid,
    },
    /// `tree` has conflict markers in the conflicted files.
    Conflict {
        tree: Oid,
        paths: Vec<String>,
        messages: Vec<MergeMessage>,
    },
}

/// One informational record of `merge-tree -z --messages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeMessage {
    pub paths: Vec<String>,
    /// A stable type such as `Auto-merging` or `CONFLICT (content)`.
    pub kind: String,
    /// Free text for people; its wording changes between git versions.
    pub message: String,
}

/// Why a merge could not be made, for the task's feedback and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeConflict {
    /// Files with conflicts.
    pub paths: Vec<String>,
    /// Subjects of the integration side's commits (absent from the task
    /// branch) that touch those files, newest first.
    pub integration_subjects: Vec<String>,
    /// Subjects of the task's commits (absent from the integration branch)
    /// that touch those files, newest first.
    pub task_subjects: Vec<String>,
    /// git's `CONFLICT (...)` lines, for people.
    pub messages: Vec<String>,
}

/// The outcome of a compare-and-swap on a ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasOutcome {
    Moved,
    /// The ref was not at the expected old value; it is at `actual`
    /// (`None`: it no longer exists). Nothing was changed.
    Stale {
        actual: Option<Oid>,
    },
}

/// The outcome of merging the integration tip into a task's worktree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BringIn {
    /// The task branch already contains the integration tip.
    UpToDate,
    /// The worktree's HEAD is now `commit`, which contains both.
    Merged { commit: Oid },
    /// The merge stopped with conflict markers in the worktree and is still
    /// in progress: resolve and [`Repo::commit_all`], or [`Repo::abort_merge`].
    Conflict(MergeConflict),
}

impl Repo {
    /// Merges `theirs` into `ours` in memory and writes the resulting tree,
    /// touching no ref, index or working tree.
    pub fn merge_tree(&self, ours: &Oid, theirs: &Oid) -> Result<MergeOutcome> {
        let version = self.version()?;
        if !self.supports_merge_tree_write_tree()? {
            return Err(GitError::MergeTreeUnsupported { version });
        }
        self.write_merge_tree(&argv!["merge-tree", "--write-tree", "-z", "--name-only", "--messages", ours, theirs])
    }

    /// Applies what `theirs` changed since `base` onto `ours` in memory,
    /// as a cherry-pick would (`merge-tree --merge-base`, git 2.40+), and
    /// writes the resulting tree, touching no ref, index or working tree.
    pub fn pick_tree(&self, base: &Oid, ours: &Oid, theirs: &Oid) -> Result<MergeOutcome> {
        let version = self.version()?;
        if version < GitVersion::MERGE_TREE_MERGE_BASE {
            return Err(GitError::MergeBaseUnsupported { version });
        }
        let base = format!("--merge-base={base}");
        self.write_merge_tree(&argv![
            "merge-tree",
            "--write-tree",
            "-z",
            "--name-only",
            "--messages",
            base,
            ours,
            theirs
        ])
    }

    fn write_merge_tree(&self, args: &[&std::ffi::OsStr]) -> Result<MergeOutcome> {
        let output = run_git_unchecked(self.top_level(), args, &[])?;
        let clean = match output.status.code() {
            Some(0) => true,
            Some(1) => false,
            _ => return Err(failure(self.top_level(), args, &output)),
        };
        parse_merge_tree(&output.stdout, clean).ok_or_else(|| unexpected(args, &output.stdout))
    }

    /// Moves `refname` (a full name, `refs/heads/...`) to `new` only if it
    /// is still at `expected_old`.
    ///
    /// Refuses a branch checked out in any worktree, the user's above all:
    /// `update-ref` would move it under their files and index, as git's own
    /// `branch -f` refuses to. A `.lock` file left by a killed git makes
    /// this fail after a few seconds, until the file is removed.
    pub fn update_ref_cas(&self, refname: &str, new: &Oid, expected_old: &Oid) -> Result<CasOutcome> {
        if !refname.starts_with("refs/") {
            // update-ref would happily create `.git/<name>` outside refs/.
            return Err(GitError::NotAFullRef { name: refname.to_owned() });
        }
        if let Some(worktree) = self.checked_out_in(refname)? {
            return Err(GitError::RefCheckedOut { refname: refname.to_owned(), worktree });
        }
        let moved = run_git(
            self.top_level(),
            &argv!["-c", REF_LOCK_TIMEOUT_MS, "update-ref", "-m", "colony: advance", refname, new, expected_old],
        );
        match moved {
            Ok(_) => Ok(CasOutcome::Moved),
            Err(err) => {
                // git reports a stale old value only in prose; the ref's
                // current value is the reliable answer.
                let actual = self.rev_parse(refname)?;
                if actual.as_ref() == Some(expected_old) { Err(err) } else { Ok(CasOutcome::Stale { actual }) }
            }
        }
    }

    /// Merges `integration_tip` into the branch checked out in `worktree`
    /// (`git merge --no-edit`). On a conflict the markers stay in the
    /// worktree for a resolver. Hooks are skipped as in
    /// [`commit_all`](Self::commit_all).
    pub fn bring_in(&self, tree: &TaskTree, integration_tip: &Oid, author: Option<&Identity>) -> Result<BringIn> {
        let before = head_in(tree)?;
        let args = argv!["merge", "--no-edit", "--no-verify", integration_tip];
        let output = CommitIdentity::resolve(self, author)?.output(tree, &args)?;
        if output.status.success() {
            let after = head_in(tree)?;
            return Ok(if after == before { BringIn::UpToDate } else { BringIn::Merged { commit: after } });
        }
        // Without MERGE_HEAD, git refused before merging anything (say,
        // uncommitted changes in the way): an error, not a conflict.
        if !merge_in_progress(At::Tree(tree))? {
            return Err(failure(tree, &args, &output));
        }
        let paths = unmerged_paths(At::Tree(tree))?;
        let messages = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| line.starts_with("CONFLICT"))
            .map(str::to_owned)
            .collect();
        let conflict = self.conflict(integration_tip, &before, paths, messages)?;
        Ok(BringIn::Conflict(conflict))
    }

    /// Abandons a merge in progress in `worktree`, restoring its HEAD state.
    pub fn abort_merge(&self, tree: &TaskTree) -> Result<()> {
        run_git(tree, &argv!["merge", "--abort"])?;
        Ok(())
    }

    fn conflict(
        &self,
        integration_tip: &Oid,
        task_tip: &Oid,
        paths: Vec<String>,
        messages: Vec<String>,
    ) -> Result<MergeConflict> {
        Ok(MergeConflict {
            integration_subjects: self.subjects_touching(integration_tip, task_tip, &paths, MAX_SUBJECTS)?,
            task_subjects: self.subjects_touching(task_tip, integration_tip, &paths, MAX_SUBJECTS)?,
            paths,
            messages,
        })
    }
}

/// Files left unmerged in the working tree at `at`.
pub(crate) fn unmerged_paths(at: At<'_>) -> Result<Vec<String>> {
    let output = run_git(at, &argv!["diff", "--name-only", "--diff-filter=U", "-z"])?;
    Ok(crate::run::stdout_paths(&output))
}

/// Parses `git merge-tree --write-tree -z --name-only --messages` output:
/// `<tree>\0`, then one `<path>\0` per conflicted file, then (if messages
/// were asked for) an empty field and records of
/// `<n>\0<path1>\0…<pathN>\0<type>\0<message>\0`. `clean` is whether git
/// exited 0. Returns `None` if the output does not have that shape.
pub fn parse_merge_tree(output: &[u8], clean: bool) -> Option<MergeOutcome> {
    let mut fields = output.split(|&b| b == 0);
    let text = |field: &[u8]| String::from_utf8_lossy(field).into_owned();
    let tree = Oid::parse(std::str::from_utf8(fields.next()?).ok()?.trim_end())?;
    if clean {
        return Some(MergeOutcome::Clean { tree });
    }
    let mut paths = Vec::new();
    for field in fields.by_ref() {
        if field.is_empty() {
            break;
        }
        paths.push(text(field));
    }
    let mut messages = Vec::new();
    while let Some(count) = fields.next().filter(|f| !f.is_empty()) {
        let count: usize = std::str::from_utf8(count).ok()?.parse().ok()?;
        let paths = (0..count).map(|_| fields.next().map(text)).collect::<Option<Vec<_>>>()?;
        let kind = text(fields.next()?);
        let message = text(fields.next()?).trim_end().to_owned();
        messages.push(MergeMessage { paths, kind, message });
    }
    Some(MergeOutcome::Conflict { tree, paths, messages })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TREE: &str = "c2c4b9a48f62b0c0e9c3de79ee2e22070d100376";

    #[test]
    fn parses_a_clean_merge_with_or_without_messages() {
        let with = format!("{TREE}\0\x001\0f\0Auto-merging\0Auto-merging f\n\0");
        let tree = Oid::parse(TREE).unwrap();
        assert_eq!(parse_merge_tree(with.as_bytes(), true), Some(MergeOutcome::Clean { tree: tree.clone() }));
        let bare = format!("{TREE}\0");
        assert_eq!(parse_merge_tree(bare.as_bytes(), true), Some(MergeOutcome::Clean { tree }));
    }

    #[test]
    fn parses_conflicted_paths_and_messages() {
        // Recorded from git 2.47.3.
        let out = format!(
            "{TREE}\0f\0g\0\0\
             1\0f\0Auto-merging\0Auto-merging f\n\0\
             1\0f\0CONFLICT (contents)\0CONFLICT (content): Merge conflict in f\n\0\
             2\0old\0new\0CONFLICT (rename/delete)\0CONFLICT (rename/delete): old renamed to new in HEAD, but deleted in theirs.\n\0"
        );
        let Some(MergeOutcome::Conflict { tree, paths, messages }) = parse_merge_tree(out.as_bytes(), false) else {
            panic!("expected a conflict");
        };
        assert_eq!(tree.as_str(), TREE);
        assert_eq!(paths, ["f", "g"]);
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[1].kind, "CONFLICT (contents)");
        assert_eq!(messages[1].message, "CONFLICT (content): Merge conflict in f");
        assert_eq!(messages[2].paths, ["old", "new"]);
    }

    #[test]
    fn keeps_odd_characters_in_paths() {
        let out = format!("{TREE}\0dir/with space\0tab\there\0\0");
        let Some(MergeOutcome::Conflict { paths, messages, .. }) = parse_merge_tree(out.as_bytes(), false) else {
            panic!("expected a conflict");
        };
        assert_eq!(paths, ["dir/with space", "tab\there"]);
        assert!(messages.is_empty());
    }

    #[test]
    fn rejects_malformed_output() {
        assert_eq!(parse_merge_tree(b"", true), None);
        assert_eq!(parse_merge_tree(b"not-a-tree\0", true), None);
        let truncated = format!("{TREE}\0f\0\x002\0f\0");
        assert_eq!(parse_merge_tree(truncated.as_bytes(), false), None);
        let bad_count = format!("{TREE}\0f\0\0x\0f\0K\0m\0");
        assert_eq!(parse_merge_tree(bad_count.as_bytes(), false), None);
    }
}
