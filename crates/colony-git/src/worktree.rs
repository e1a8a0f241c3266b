//! Task worktrees: creating one per attempt, removing it when the attempt
//! ends (or when a dead run left it behind), listing them, and telling
//! whether an agent left one as colony made it.
//!
//! A task worktree is disposable: removal forces past uncommitted changes
//! and locks, because whatever the attempt produced worth keeping is
//! already committed on its branch. Branches are never deleted here; the
//! engine decides which to keep.
//!
//! A [`TaskTree`] is a worktree together with the git directory git
//! registered for it when colony made it. Every git call for it names that
//! directory (see `run.rs`), so nothing an agent does to the worktree's
//! `.git` file redirects colony's commits; [`Repo::inspect`] says what the
//! agent did, so the attempt can fail with that reason.

use std::path::{Path, PathBuf};

use crate::error::{GitError, Result};
use crate::repo::{Oid, Repo, branch_ref};
use crate::run::{argv, run_git, run_git_unchecked, stdout_line};

/// Where task worktrees live, relative to the repository's top level.
pub const WORKTREES_DIR: &str = ".colony/worktrees";

/// A task worktree colony made: its directory and the git directory
/// (`.git/worktrees/<name>`) that git registered for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTree {
    path: PathBuf,
    git_dir: PathBuf,
}

impl TaskTree {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The worktree's own git directory, holding its HEAD and index.
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }
}

/// What became of a task worktree while an agent worked in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeState {
    /// As colony made it: `.git` names its git directory and HEAD is on
    /// the task branch.
    OnBranch,
    /// HEAD left the task branch: `branch` is where it went (`None`:
    /// detached), `head` the commit checked out (`None`: HEAD names no
    /// commit).
    OffBranch { branch: Option<String>, head: Option<Oid> },
    /// The worktree can no longer be worked in.
    Broken(Breakage),
}

/// How a worktree was broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Breakage {
    #[error("its directory is gone")]
    Gone,
    #[error("its .git file was deleted")]
    GitFileDeleted,
    #[error("its .git file was replaced by a directory or something else that is not colony's")]
    GitFileReplaced,
    #[error("its .git file was made to point at {}", .to.display())]
    GitFileRedirected { to: PathBuf },
}

/// One entry of `git worktree list`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Worktree {
    pub path: PathBuf,
    /// `None` for a bare entry or an unborn HEAD.
    pub head: Option<Oid>,
    /// The full ref checked out (`refs/heads/main`), `None` when detached.
    pub branch: Option<String>,
    pub bare: bool,
    pub detached: bool,
    pub locked: bool,
    /// git found the worktree's directory gone; `git worktree prune`
    /// would drop the entry.
    pub prunable: bool,
}

impl Repo {
    /// Creates a worktree at `path` on a new branch `branch` starting at
    /// `start`, and returns the commit it starts from: [`worktree_register`]
    /// then [`worktree_checkout`], for a caller with no other worktree
    /// commands running at the same time.
    ///
    /// [`worktree_register`]: Self::worktree_register
    /// [`worktree_checkout`]: Self::worktree_checkout
    pub fn worktree_add(&self, path: &Path, branch: &str, start: &str) -> Result<(TaskTree, Oid)> {
        let start = self.resolve(start)?;
        let tree = self.worktree_register(path, branch, &start)?;
        self.worktree_checkout(&tree)?;
        Ok((tree, start))
    }

    /// Registers a worktree at `path` on a new branch `branch` at `start`,
    /// with nothing checked out yet. Refuses if `path` exists, so a
    /// leftover from an earlier attempt is never reused; missing parent
    /// directories are created by git.
    ///
    /// This is the part of making a worktree that must not run beside
    /// another worktree command of the repository (`add`, `prune`, or a
    /// branch deletion by `git branch`): git reads every registered
    /// worktree's files and fails on one half written ("failed to read
    /// .git/worktrees/…/commondir"). It is short; the checkout, which
    /// takes as long as the tree is big, comes after in
    /// [`worktree_checkout`](Self::worktree_checkout).
    pub fn worktree_register(&self, path: &Path, branch: &str, start: &Oid) -> Result<TaskTree> {
        refuse_existing(path)?;
        run_git(
            self.top_level(),
            &argv![
                "worktree",
                "add",
                "--quiet",
                "--no-checkout",
                "--no-track",
                "-b",
                branch,
                "--end-of-options",
                path,
                start
            ],
        )?;
        just_added(path)
    }

    /// Registers a worktree at `path` with its HEAD detached at `commit`,
    /// nothing checked out yet: [`worktree_register`](Self::worktree_register)
    /// without a branch, for a look at a commit that no task works on.
    pub fn worktree_register_detached(&self, path: &Path, commit: &Oid) -> Result<TaskTree> {
        refuse_existing(path)?;
        run_git(
            self.top_level(),
            &argv!["worktree", "add", "--quiet", "--no-checkout", "--detach", "--end-of-options", path, commit],
        )?;
        just_added(path)
    }

    /// The tree of the commit checked out in `tree`: what its gates see,
    /// once its work is committed.
    pub fn head_tree(&self, tree: &TaskTree) -> Result<Oid> {
        crate::repo::head_tree_in(tree)
    }

    /// The task worktree registered at `path`, found from git's own
    /// registrations (never from the worktree's `.git` file, which its
    /// agent may have changed); `None` when nothing is registered there.
    pub fn task_tree(&self, path: &Path) -> Result<Option<TaskTree>> {
        let target = normalize(path);
        Ok(self
            .registrations()?
            .into_iter()
            .find(|entry| normalize(&worktree_of(entry)) == target)
            .map(|git_dir| TaskTree { path: path.to_path_buf(), git_dir }))
    }

    /// Whether the worktree is still as colony made it, and on `branch`.
    /// Reads files only, as git does: the `.git` file must name the
    /// registered git directory, and the HEAD there the branch.
    pub fn inspect(&self, tree: &TaskTree, branch: &str) -> Result<TreeState> {
        if !tree.path.is_dir() {
            return Ok(TreeState::Broken(Breakage::Gone));
        }
        let dot_git = tree.path.join(".git");
        match dot_git.symlink_metadata() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(TreeState::Broken(Breakage::GitFileDeleted));
            }
            Err(source) => return Err(GitError::Io { path: dot_git, source }),
            Ok(meta) if !meta.is_file() => return Ok(TreeState::Broken(Breakage::GitFileReplaced)),
            Ok(_) => {}
        }
        match gitdir_named_in(&tree.path) {
            None => return Ok(TreeState::Broken(Breakage::GitFileReplaced)),
            Some(named) if normalize(&named) != normalize(&tree.git_dir) => {
                return Ok(TreeState::Broken(Breakage::GitFileRedirected { to: named }));
            }
            Some(_) => {}
        }
        let head_file = tree.git_dir.join("HEAD");
        let head = std::fs::read_to_string(&head_file).map_err(|source| GitError::Io { path: head_file, source })?;
        let on = head.trim().strip_prefix("ref: ").map(str::to_owned);
        if on.as_deref() == Some(branch_ref(branch).as_str()) {
            return Ok(TreeState::OnBranch);
        }
        Ok(TreeState::OffBranch {
            branch: on.map(|r| r.strip_prefix("refs/heads/").map_or(r.clone(), str::to_owned)),
            head: self.tree_head(tree)?,
        })
    }

    /// Puts the worktree's HEAD back on `branch`, which is moved to the
    /// commit HEAD had (`from`: where the branch must still be), keeping
    /// the index and files: the work an agent committed elsewhere becomes
    /// the task's.
    pub fn take_head(&self, tree: &TaskTree, branch: &str, head: &Oid, from: &Oid) -> Result<()> {
        let refname = branch_ref(branch);
        run_git(tree, &argv!["update-ref", "-m", "colony: take the worktree's HEAD", refname, head, from])?;
        run_git(tree, &argv!["symbolic-ref", "HEAD", refname])?;
        Ok(())
    }

    /// The commit checked out in the worktree, `None` when HEAD names none.
    fn tree_head(&self, tree: &TaskTree) -> Result<Option<Oid>> {
        let args = argv!["rev-parse", "--verify", "--quiet", "HEAD^{commit}"];
        let output = run_git_unchecked(tree, &args, &[])?;
        Ok(match output.status.code() {
            Some(0) => Oid::parse(&stdout_line(&output)),
            _ => None,
        })
    }

    /// Fills a registered worktree's index and files from its HEAD, as
    /// `git worktree add` does after registering (filters such as LFS's
    /// run; the `post-checkout` hook does not, as colony's commits skip
    /// hooks). Touches that worktree only: safe beside other worktree
    /// commands.
    pub fn worktree_checkout(&self, tree: &TaskTree) -> Result<()> {
        run_git(tree, &argv!["reset", "--hard", "--quiet", "--no-recurse-submodules"])?;
        Ok(())
    }

    /// Detaches the worktree's HEAD at `commit` and makes its index and
    /// files match, discarding changes (untracked files stay: build output
    /// that makes the next gate run quicker). Plumbing and `reset`, so no
    /// hook runs. [`worktree_attach`](Self::worktree_attach) goes back.
    pub fn worktree_detach(&self, tree: &TaskTree, commit: &Oid) -> Result<()> {
        run_git(tree, &argv!["update-ref", "--no-deref", "-m", "colony: detach", "HEAD", commit])?;
        self.worktree_checkout(tree)
    }

    /// Puts the worktree back on `branch`, its index and files with it,
    /// discarding changes.
    pub fn worktree_attach(&self, tree: &TaskTree, branch: &str) -> Result<()> {
        run_git(tree, &argv!["symbolic-ref", "HEAD", branch_ref(branch)])?;
        self.worktree_checkout(tree)
    }

    /// Removes the worktree at `path`, discarding anything uncommitted in
    /// it: [`worktree_discard`](Self::worktree_discard) then
    /// [`worktree_forget`](Self::worktree_forget). Succeeds when the
    /// worktree is already gone (its directory deleted, or never
    /// registered), so it is safe to call again after a crash.
    pub fn worktree_remove(&self, path: &Path) -> Result<()> {
        self.worktree_discard(path)?;
        self.worktree_forget(path)
    }

    /// Deletes the worktree's directory and everything in it, leaving its
    /// registration for [`worktree_forget`](Self::worktree_forget). No git
    /// runs, so it is safe beside other worktree commands however big the
    /// tree (a gate's build output can be gigabytes).
    pub fn worktree_discard(&self, path: &Path) -> Result<()> {
        match std::fs::remove_dir_all(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(GitError::Io { path: path.to_path_buf(), source: e })
            }
            _ => Ok(()),
        }
    }

    /// Drops the registration of the worktree at `path` once its directory
    /// is gone (`git worktree prune`, which drops every such registration),
    /// unlocking it first if it was locked. Like
    /// [`worktree_register`](Self::worktree_register), it must not run
    /// beside another worktree command.
    pub fn worktree_forget(&self, path: &Path) -> Result<()> {
        run_git(self.top_level(), &argv!["worktree", "prune"])?;
        if !self.is_registered(path)? {
            return Ok(());
        }
        run_git(self.top_level(), &argv!["worktree", "unlock", "--end-of-options", path])?;
        run_git(self.top_level(), &argv!["worktree", "prune"])?;
        match self.is_registered(path)? {
            false => Ok(()),
            true => Err(GitError::WorktreeStillRegistered { path: path.to_path_buf() }),
        }
    }

    /// Whether a directory under `.git/worktrees/` registers the worktree
    /// at `path`.
    fn is_registered(&self, path: &Path) -> Result<bool> {
        let target = normalize(path);
        Ok(self.registrations()?.iter().any(|entry| normalize(&worktree_of(entry)) == target))
    }

    /// The directories under `.git/worktrees/` that register the linked
    /// worktrees, read as git itself does: no process to start.
    fn registrations(&self) -> Result<Vec<PathBuf>> {
        let linked = self.git_common_dir().join("worktrees");
        let entries = match std::fs::read_dir(&linked) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(GitError::Io { path: linked, source }),
        };
        entries
            .map(|entry| entry.map(|e| e.path()).map_err(|source| GitError::Io { path: linked.clone(), source }))
            .collect()
    }

    /// The worktree that has `refname` checked out, if one has, read from
    /// the worktrees' `HEAD` files as git itself does: no process to
    /// start, which matters in the merge queue's critical section.
    pub fn checked_out_in(&self, refname: &str) -> Result<Option<PathBuf>> {
        let points_at = |head: &Path| {
            std::fs::read_to_string(head).is_ok_and(|text| text.trim().strip_prefix("ref: ") == Some(refname))
        };
        if points_at(&self.git_common_dir().join("HEAD")) {
            return Ok(Some(self.top_level().to_path_buf()));
        }
        Ok(self
            .registrations()?
            .into_iter()
            .find(|entry| points_at(&entry.join("HEAD")))
            .map(|entry| worktree_of(&entry)))
    }

    /// Every worktree of the repository; the main tree comes first.
    pub fn worktree_list(&self) -> Result<Vec<Worktree>> {
        let output = run_git(self.top_level(), &argv!["worktree", "list", "--porcelain", "-z"])?;
        Ok(parse_worktree_list(&output.stdout))
    }
}

/// The worktree a registration under `.git/worktrees/` is for: its `gitdir`
/// file names the worktree's `.git` file. The registration itself when that
/// file cannot be read.
fn worktree_of(entry: &Path) -> PathBuf {
    let gitdir = std::fs::read_to_string(entry.join("gitdir")).unwrap_or_default();
    Path::new(gitdir.trim()).parent().map_or_else(|| entry.to_path_buf(), Path::to_path_buf)
}

/// The git directory a worktree's `.git` file names (`gitdir: <dir>`,
/// relative to the worktree when not absolute).
fn gitdir_named_in(worktree: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(worktree.join(".git")).ok()?;
    let named = text.lines().next()?.strip_prefix("gitdir: ")?.trim();
    Some(worktree.join(named))
}

/// The worktree `git worktree add` just made at `path`, read from the
/// `.git` file it wrote before anything else ran in the worktree.
fn just_added(path: &Path) -> Result<TaskTree> {
    let git_dir = gitdir_named_in(path).ok_or_else(|| GitError::UnexpectedOutput {
        args: vec!["worktree".into(), "add".into()],
        output: format!("no readable .git file in {}", path.display()),
    })?;
    Ok(TaskTree { path: path.to_path_buf(), git_dir })
}

fn refuse_existing(path: &Path) -> Result<()> {
    if path.symlink_metadata().is_ok() {
        return Err(GitError::WorktreePathExists { path: path.to_path_buf() });
    }
    Ok(())
}

/// A comparable form of `path`: git records worktree paths with symlinks
/// resolved (`/tmp` may be `/private/tmp`), and a crashed run's directory
/// may no longer exist, so resolve the nearest existing ancestor.
fn normalize(path: &Path) -> PathBuf {
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => normalize(parent).join(name),
        _ => path.to_path_buf(),
    }
}

/// Parses `git worktree list --porcelain -z`: records of NUL-terminated
/// `key[ value]` fields (`worktree`, `HEAD`, `branch`, `bare`, `detached`,
/// `locked`, `prunable`), each record ended by an empty field. Unknown
/// keys from newer gits are ignored.
pub fn parse_worktree_list(output: &[u8]) -> Vec<Worktree> {
    let mut list = Vec::new();
    let mut current: Option<Worktree> = None;
    for field in output.split(|&b| b == 0) {
        if field.is_empty() {
            list.extend(current.take());
            continue;
        }
        let field = String::from_utf8_lossy(field);
        let (key, value) = field.split_once(' ').unwrap_or((&field, ""));
        if key == "worktree" {
            list.extend(current.take());
            current = Some(Worktree { path: PathBuf::from(value), ..Worktree::default() });
            continue;
        }
        let Some(wt) = current.as_mut() else { continue };
        match key {
            "HEAD" => wt.head = Oid::parse(value).filter(|oid| !oid.is_null()),
            "branch" => wt.branch = Some(value.to_owned()),
            "bare" => wt.bare = true,
            "detached" => wt.detached = true,
            "locked" => wt.locked = true,
            "prunable" => wt.prunable = true,
            _ => {}
        }
    }
    list.extend(current);
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "97524d3042e65cbbefbbdba1232778e21536b69e";
    const B: &str = "f1f8ddb024383e914514ae2193b30b95ea0e5938";

    #[test]
    fn parses_main_branch_and_detached_entries() {
        let out = format!(
            "worktree /repo\0HEAD {A}\0branch refs/heads/main\0\0\
             worktree /repo/.colony/worktrees/t-1\0HEAD {B}\0branch refs/heads/colony-task/t-1\0\0\
             worktree /repo/.colony/worktrees/gate\0HEAD {B}\0detached\0\0"
        );
        let list = parse_worktree_list(out.as_bytes());
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].path, PathBuf::from("/repo"));
        assert_eq!(list[0].head.as_ref().unwrap().as_str(), A);
        assert_eq!(list[0].branch.as_deref(), Some("refs/heads/main"));
        assert_eq!(list[1].branch.as_deref(), Some("refs/heads/colony-task/t-1"));
        assert!(list[2].detached);
        assert_eq!(list[2].branch, None);
    }

    #[test]
    fn parses_locked_prunable_bare_and_unborn() {
        let zero = "0".repeat(40);
        let out = format!(
            "worktree /bare.git\0bare\0\0\
             worktree /wt/a\0HEAD {zero}\0branch refs/heads/new\0\0\
             worktree /wt/b\0HEAD {A}\0detached\0locked reason with spaces\0prunable gitdir file points to non-existent location\0\0"
        );
        let list = parse_worktree_list(out.as_bytes());
        assert!(list[0].bare);
        assert_eq!(list[1].head, None, "an unborn HEAD has no commit");
        assert!(list[2].locked && list[2].prunable && list[2].detached);
    }

    #[test]
    fn keeps_spaces_in_paths_and_tolerates_a_missing_terminator() {
        let out = format!("worktree /my repo/dir\0HEAD {A}\0branch refs/heads/x");
        let list = parse_worktree_list(out.as_bytes());
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].path, PathBuf::from("/my repo/dir"));
    }

    #[test]
    fn ignores_unknown_keys_and_empty_output() {
        assert!(parse_worktree_list(b"").is_empty());
        let out = format!("worktree /r\0HEAD {A}\0futurekey value\0branch refs/heads/m\0\0");
        let list = parse_worktree_list(out.as_bytes());
        assert_eq!(list[0].branch.as_deref(), Some("refs/heads/m"));
    }
}
