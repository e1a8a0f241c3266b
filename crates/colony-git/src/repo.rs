//! The repository handle and its read-mostly queries: object ids, refs,
//! branches, ancestry and commit subjects.
//!
//! Revisions and branch names are passed after `--end-of-options`, so a
//! name that begins with `-` can never be taken for an option.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{GitError, Result};
use crate::run::{At, GitVersion, argv, failure, git_version, run_git, run_git_unchecked, stdout_line, unexpected};

/// A full hexadecimal object id (SHA-1 or SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Oid(String);

impl Oid {
    /// Accepts 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
    pub fn parse(text: &str) -> Option<Oid> {
        let valid =
            matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| Oid(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its first 12 digits, for people.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }

    /// git writes an all-zero id for "no object" (an unborn HEAD).
    pub(crate) fn is_null(&self) -> bool {
        self.0.bytes().all(|b| b == b'0')
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<OsStr> for Oid {
    fn as_ref(&self) -> &OsStr {
        OsStr::new(&self.0)
    }
}

/// The full ref name of a local branch: `colony/auth` → `refs/heads/colony/auth`.
pub fn branch_ref(branch: &str) -> String {
    format!("refs/heads/{branch}")
}

/// A repository, addressed by its top level (the working tree it was
/// opened from) and its common git directory (shared by all worktrees).
#[derive(Debug, Clone)]
pub struct Repo {
    top_level: PathBuf,
    common_dir: PathBuf,
    version: OnceLock<GitVersion>,
    /// `-c user.name=… -c user.email=…` for what the user has not
    /// configured; asked once (see `CommitIdentity::resolve`).
    pub(crate) identity_fallback: OnceLock<Vec<String>>,
}

impl Repo {
    /// Opens the repository containing `path` (any directory inside it).
    pub fn open(path: impl AsRef<Path>) -> Result<Repo> {
        let path = path.as_ref();
        let args = argv!["rev-parse", "--path-format=absolute", "--show-toplevel", "--git-common-dir"];
        let output = run_git(path, &args)?;
        let text = String::from_utf8_lossy(&output.stdout);
        let mut lines = text.lines();
        match (lines.next(), lines.next()) {
            (Some(top), Some(common)) => Ok(Repo {
                top_level: PathBuf::from(top),
                common_dir: PathBuf::from(common),
                version: OnceLock::new(),
                identity_fallback: OnceLock::new(),
            }),
            _ => Err(unexpected(&args, &output.stdout)),
        }
    }

    /// The working tree this handle was opened in; repository-wide
    /// commands run here.
    pub fn top_level(&self) -> &Path {
        &self.top_level
    }

    /// The `.git` directory shared by the main tree and every worktree.
    pub fn git_common_dir(&self) -> &Path {
        &self.common_dir
    }

    /// Where colony puts task worktrees: `<top level>/.colony/worktrees`.
    pub fn worktrees_dir(&self) -> PathBuf {
        self.top_level.join(crate::WORKTREES_DIR)
    }

    /// The installed git's version, asked once per handle.
    pub fn version(&self) -> Result<GitVersion> {
        if let Some(version) = self.version.get() {
            return Ok(*version);
        }
        let version = git_version(&self.top_level)?;
        Ok(*self.version.get_or_init(|| version))
    }

    /// Whether `git merge-tree --write-tree` (git 2.38+) is available,
    /// which the merge queue needs.
    pub fn supports_merge_tree_write_tree(&self) -> Result<bool> {
        Ok(self.version()? >= GitVersion::MERGE_TREE_WRITE_TREE)
    }

    /// Resolves `rev` to a commit id, `None` if it names no commit. Tags
    /// are peeled, so a plan's `base: v1.0` gives the tagged commit.
    pub fn rev_parse(&self, rev: &str) -> Result<Option<Oid>> {
        let peeled = format!("{rev}^{{commit}}");
        let args = argv!["rev-parse", "--verify", "--quiet", "--end-of-options", peeled];
        let output = run_git_unchecked(&self.top_level, &args, &[])?;
        match output.status.code() {
            Some(0) => Oid::parse(&stdout_line(&output)).map(Some).ok_or_else(|| unexpected(&args, &output.stdout)),
            Some(1) => Ok(None),
            _ => Err(failure(&self.top_level, &args, &output)),
        }
    }

    /// The tree of `commit`.
    pub fn tree_of(&self, commit: &Oid) -> Result<Oid> {
        let rev = format!("{commit}^{{tree}}");
        let args = argv!["rev-parse", "--verify", "--end-of-options", rev];
        let output = run_git(&self.top_level, &args)?;
        Oid::parse(&stdout_line(&output)).ok_or_else(|| unexpected(&args, &output.stdout))
    }

    /// [`rev_parse`](Self::rev_parse) for a revision that must exist.
    pub(crate) fn resolve(&self, rev: &str) -> Result<Oid> {
        self.rev_parse(rev)?.ok_or_else(|| GitError::UnknownRevision { rev: rev.to_owned() })
    }

    /// The branch checked out in this handle's working tree (`main`), or
    /// `None` when HEAD is detached.
    pub fn head_branch(&self) -> Result<Option<String>> {
        head_branch_in(&self.top_level)
    }

    pub fn branch_exists(&self, name: &str) -> Result<bool> {
        Ok(self.rev_parse(&branch_ref(name))?.is_some())
    }

    /// Creates branch `name` at `start` without checking anything out;
    /// fails if it exists. Returns the commit it points to.
    pub fn create_branch(&self, name: &str, start: &str) -> Result<Oid> {
        let start = self.resolve(start)?;
        run_git(&self.top_level, &argv!["branch", "--no-track", "--end-of-options", name, start])?;
        Ok(start)
    }

    /// Deletes branch `name` wherever it points, refusing one checked out
    /// in any worktree as `git branch -D` does. The ref goes by
    /// `update-ref -d`, which, unlike `git branch -D`, neither reads the
    /// other worktrees' registrations nor takes the config's lock: a
    /// branch deletion then never fails on a worktree being made beside
    /// it. The branch's config section, if it has one, stays; colony's
    /// own branches have none.
    pub fn delete_branch(&self, name: &str) -> Result<()> {
        let refname = branch_ref(name);
        if let Some(worktree) = self.checked_out_in(&refname)? {
            return Err(GitError::RefCheckedOut { refname, worktree });
        }
        run_git(&self.top_level, &argv!["update-ref", "-d", "-m", "colony: delete", "--end-of-options", refname])?;
        Ok(())
    }

    /// The local branches whose names start with `prefix` (`colony-task/`),
    /// by their short names.
    pub fn branches(&self, prefix: &str) -> Result<Vec<String>> {
        // for-each-ref matches whole path components: ask for the
        // directory the prefix is in, and keep what starts with it.
        let pattern = format!("refs/heads/{}", &prefix[..prefix.rfind('/').map_or(0, |i| i + 1)]);
        let output =
            run_git(&self.top_level, &argv!["for-each-ref", "--format=%(refname)", "--end-of-options", pattern])?;
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|r| r.strip_prefix("refs/heads/"))
            .filter(|name| name.starts_with(prefix))
            .map(str::to_owned)
            .collect())
    }

    /// Whether commit `a` is reachable from `b` (true when they are equal).
    pub fn is_ancestor(&self, a: &Oid, b: &Oid) -> Result<bool> {
        let args = argv!["merge-base", "--is-ancestor", a, b];
        let output = run_git_unchecked(&self.top_level, &args, &[])?;
        match output.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(failure(&self.top_level, &args, &output)),
        }
    }

    /// The first line of a commit's message.
    pub fn commit_subject(&self, oid: &Oid) -> Result<String> {
        let output = run_git(&self.top_level, &argv!["show", "-s", "--format=%s", "--end-of-options", oid])?;
        Ok(stdout_line(&output))
    }

    /// Every file `commit` tracks, by path, in git's order.
    pub fn files_at(&self, commit: &Oid) -> Result<Vec<String>> {
        let output =
            run_git(&self.top_level, &argv!["ls-tree", "-r", "-z", "--name-only", "--end-of-options", commit])?;
        Ok(crate::run::stdout_paths(&output))
    }

    /// `abbreviated-id subject` of the newest `limit` commits of `commit`'s
    /// first-parent history, newest first.
    pub fn recent_commits(&self, commit: &Oid, limit: usize) -> Result<Vec<String>> {
        let max = format!("--max-count={limit}");
        let output = run_git(
            &self.top_level,
            &argv!["log", "--first-parent", "--format=%h %s", max, "--end-of-options", commit, "--"],
        )?;
        Ok(String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect())
    }

    /// Subjects of the commits reachable from `tip` but not from `other`
    /// that touch any of `paths`, newest first, at most `limit`.
    pub(crate) fn subjects_touching(
        &self,
        tip: &Oid,
        other: &Oid,
        paths: &[String],
        limit: usize,
    ) -> Result<Vec<String>> {
        let range = format!("{other}..{tip}");
        let max = format!("--max-count={limit}");
        let mut args: Vec<&OsStr> = argv!["log", "--format=%s", max, range, "--"].to_vec();
        args.extend(paths.iter().map(OsStr::new));
        let output = run_git(&self.top_level, &args)?;
        Ok(String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect())
    }
}

/// The commit checked out in the working tree at `at`.
pub(crate) fn head_in<'a>(at: impl Into<At<'a>>) -> Result<Oid> {
    let args = argv!["rev-parse", "--verify", "HEAD"];
    let output = run_git(at, &args)?;
    Oid::parse(&stdout_line(&output)).ok_or_else(|| unexpected(&args, &output.stdout))
}

/// The tree of the commit checked out in the working tree at `at`.
pub(crate) fn head_tree_in<'a>(at: impl Into<At<'a>>) -> Result<Oid> {
    let args = argv!["rev-parse", "--verify", "HEAD^{tree}"];
    let output = run_git(at, &args)?;
    Oid::parse(&stdout_line(&output)).ok_or_else(|| unexpected(&args, &output.stdout))
}

/// The branch checked out in `dir`, `None` when detached.
pub(crate) fn head_branch_in(dir: &Path) -> Result<Option<String>> {
    let args = argv!["symbolic-ref", "--quiet", "--short", "HEAD"];
    let output = run_git_unchecked(dir, &args, &[])?;
    match output.status.code() {
        Some(0) => Ok(Some(stdout_line(&output))),
        Some(1) => Ok(None),
        _ => Err(failure(dir, &args, &output)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_accepts_sha1_and_sha256_only() {
        let sha1 = "f1f8ddb024383e914514ae2193b30b95ea0e5938";
        assert_eq!(Oid::parse(sha1).unwrap().as_str(), sha1);
        assert!(Oid::parse(&"a".repeat(64)).is_some());
        assert!(Oid::parse("f1f8ddb").is_none());
        assert!(Oid::parse(&sha1.to_uppercase()).is_none());
        assert!(Oid::parse(&format!("{sha1}\n")).is_none());
        assert!(Oid::parse(&"0".repeat(40)).unwrap().is_null());
    }

    #[test]
    fn branch_ref_prefixes_heads() {
        assert_eq!(branch_ref("colony/auth"), "refs/heads/colony/auth");
    }
}
