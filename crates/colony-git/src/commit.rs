//! Making commits: committing what an agent left in its worktree, checking
//! whether it committed on its own, and writing commit objects for the
//! merge queue with `commit-tree`.
//!
//! Commits must succeed on machines where nobody configured a git identity
//! (CI runners, fresh containers), so a missing `user.name` or `user.email`
//! is filled in with colony's own for that one call; a configured identity,
//! or `GIT_AUTHOR_*`/`GIT_COMMITTER_*` in the environment, still wins.

use std::ffi::OsStr;
use std::process::Output;

use crate::error::Result;
use crate::repo::{Oid, Repo, head_in};
use crate::run::{At, argv, failure, run_git, run_git_env, run_git_unchecked, stdout_line, unexpected};
use crate::worktree::TaskTree;

/// A commit author or committer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

impl Identity {
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> Identity {
        Identity { name: name.into(), email: email.into() }
    }

    /// The identity colony commits under when none is configured.
    pub fn colony() -> Identity {
        Identity::new("colony", "colony@localhost")
    }
}

/// What a command that commits in some directory needs on top of its own
/// arguments to have an author and a committer.
pub(crate) struct CommitIdentity {
    /// `-c user.name=…` / `-c user.email=…` for what is not configured.
    config: Vec<String>,
    /// `GIT_AUTHOR_NAME`/`GIT_AUTHOR_EMAIL` for an explicit author.
    env: Vec<(&'static str, String)>,
}

impl CommitIdentity {
    /// The identity for a commit in `repo`. Whether the user configured a
    /// name and email is asked once per handle: two git processes saved on
    /// every commit and merge.
    pub(crate) fn resolve(repo: &Repo, author: Option<&Identity>) -> Result<CommitIdentity> {
        let config = match repo.identity_fallback.get() {
            Some(config) => config.clone(),
            None => {
                let fallback = Identity::colony();
                let dir = repo.top_level();
                let mut config = Vec::new();
                if !is_configured(dir, "user.name")? {
                    config.extend(["-c".to_owned(), format!("user.name={}", fallback.name)]);
                }
                if !is_configured(dir, "user.email")? {
                    config.extend(["-c".to_owned(), format!("user.email={}", fallback.email)]);
                }
                repo.identity_fallback.get_or_init(|| config).clone()
            }
        };
        let env = author
            .map(|a| vec![("GIT_AUTHOR_NAME", a.name.clone()), ("GIT_AUTHOR_EMAIL", a.email.clone())])
            .unwrap_or_default();
        Ok(CommitIdentity { config, env })
    }

    /// `git <config> <args>` with the identity's environment, in `dir`;
    /// fails unless git exits 0.
    pub(crate) fn run<'a>(&self, at: impl Into<At<'a>>, args: &[&OsStr]) -> Result<Output> {
        let (full, env) = self.prepare(args);
        run_git_env(at, &full, &env)
    }

    /// [`run`](Self::run) returning the output whatever the exit code, for
    /// a `merge` whose conflicts are an answer, not a failure.
    pub(crate) fn output<'a>(&self, at: impl Into<At<'a>>, args: &[&OsStr]) -> Result<Output> {
        let (full, env) = self.prepare(args);
        run_git_unchecked(at, &full, &env)
    }

    fn prepare<'a>(&'a self, args: &[&'a OsStr]) -> (Vec<&'a OsStr>, Vec<(&'a str, &'a str)>) {
        // A commit or merge would start `git maintenance run --auto
        // --detach`, a process per commit that may go on living after
        // colony; [`Repo::maintain`] does it once instead.
        let mut full: Vec<&OsStr> = argv!["-c", "maintenance.auto=false"].to_vec();
        full.extend(self.config.iter().map(OsStr::new));
        full.extend_from_slice(args);
        let env = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        (full, env)
    }
}

fn is_configured(dir: &std::path::Path, key: &str) -> Result<bool> {
    let args = argv!["config", "--get", key];
    let output = run_git_unchecked(dir, &args, &[])?;
    match output.status.code() {
        Some(0) => Ok(!output.stdout.trim_ascii().is_empty()),
        Some(1) => Ok(false),
        _ => Err(failure(dir, &args, &output)),
    }
}

/// Whether the index at `at` differs from its HEAD.
fn has_staged_changes(at: At<'_>) -> Result<bool> {
    let args = argv!["diff", "--cached", "--quiet"];
    let output = run_git_unchecked(at, &args, &[])?;
    match output.status.code() {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        _ => Err(failure(at, &args, &output)),
    }
}

/// Whether a merge is in progress in the working tree at `at`.
pub(crate) fn merge_in_progress(at: At<'_>) -> Result<bool> {
    let args = argv!["rev-parse", "--quiet", "--verify", "MERGE_HEAD"];
    let output = run_git_unchecked(at, &args, &[])?;
    match output.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(failure(at, &args, &output)),
    }
}

impl Repo {
    /// Stages everything in the worktree (`git add -A`, so deletions and
    /// new files too, minus ignored ones) and commits it. Returns the new
    /// commit, or `None` when there was nothing to commit. A merge left in
    /// progress (by [`Repo::bring_in`], then resolved) is concluded even if
    /// the resolution changed nothing.
    ///
    /// Hooks that judge a commit (`pre-commit`, `commit-msg`) are skipped:
    /// the plan's gates are colony's checks, and a hook that waits for
    /// input or rejects work in progress would fail the attempt for
    /// reasons its agent never sees.
    pub fn commit_all(&self, tree: &TaskTree, message: &str, author: Option<&Identity>) -> Result<Option<Oid>> {
        run_git(tree, &argv!["add", "-A"])?;
        let args = argv!["commit", "--quiet", "--no-verify", "-m", message];
        let output = CommitIdentity::resolve(self, author)?.output(tree, &args)?;
        if !output.status.success() {
            // git says "nothing to commit" with exit code 1; what it says
            // is not for parsing, so ask whether there was anything.
            if !has_staged_changes(At::Tree(tree))? && !merge_in_progress(At::Tree(tree))? {
                return Ok(None);
            }
            return Err(failure(tree, &args, &output));
        }
        head_in(tree).map(Some)
    }

    /// Puts the worktree back to `commit` exactly: HEAD, index and files,
    /// untracked files removed (ignored ones kept: build output). Returns
    /// whether there was anything to undo. For a reviewer, which must read
    /// the work and not change it.
    pub fn restore(&self, tree: &TaskTree, commit: &Oid) -> Result<bool> {
        let status = run_git(tree, &argv!["status", "--porcelain", "--untracked-files=all"])?;
        let moved = head_in(tree)? != *commit;
        if status.stdout.is_empty() && !moved {
            return Ok(false);
        }
        run_git(tree, &argv!["reset", "--quiet", "--hard", "--end-of-options", commit])?;
        run_git(tree, &argv!["clean", "--quiet", "-fd"])?;
        Ok(true)
    }

    /// Packs loose objects and whatever else git's automatic maintenance
    /// finds due (`git maintenance run --auto`), in the foreground: the
    /// commits colony makes skip it, so that it runs once at the end of a
    /// run rather than after every commit, and is finished when colony
    /// exits.
    pub fn maintain(&self) -> Result<()> {
        run_git(self.top_level(), &argv!["maintenance", "run", "--auto", "--quiet"])?;
        Ok(())
    }

    /// Whether `tip` has commits that `base` lacks — the agent may have
    /// committed its work itself.
    pub fn has_commits_since(&self, tip: &Oid, base: &Oid) -> Result<bool> {
        let range = format!("{base}..{tip}");
        let args = argv!["rev-list", "--count", range];
        let output = run_git(self.top_level(), &args)?;
        stdout_line(&output).parse::<u64>().map(|count| count > 0).map_err(|_| unexpected(&args, &output.stdout))
    }

    /// Writes a commit object for `tree` with `parents` (first parent
    /// first) without touching any ref or working tree.
    pub fn commit_tree(&self, tree: &Oid, parents: &[&Oid], message: &str, author: Option<&Identity>) -> Result<Oid> {
        self.write_commit(tree, parents, message, &CommitIdentity::resolve(self, author)?)
    }

    /// [`commit_tree`](Self::commit_tree) under the configured identity,
    /// authored and committed at `date` (as [`commit_date`](Self::commit_date)
    /// gives it): the same tree, parents, message and date make the same
    /// commit, so writing it again gives the same id.
    pub fn commit_tree_dated(&self, tree: &Oid, parents: &[&Oid], message: &str, date: &str) -> Result<Oid> {
        let mut identity = CommitIdentity::resolve(self, None)?;
        identity.env.extend([("GIT_AUTHOR_DATE", date.to_owned()), ("GIT_COMMITTER_DATE", date.to_owned())]);
        self.write_commit(tree, parents, message, &identity)
    }

    fn write_commit(&self, tree: &Oid, parents: &[&Oid], message: &str, identity: &CommitIdentity) -> Result<Oid> {
        let mut args: Vec<&OsStr> = argv!["commit-tree", tree].to_vec();
        for &parent in parents {
            args.extend([OsStr::new("-p"), parent.as_ref()]);
        }
        args.extend(argv!["-m", message]);
        let output = identity.run(self.top_level(), &args)?;
        Oid::parse(&stdout_line(&output)).ok_or_else(|| unexpected(&args, &output.stdout))
    }

    /// When `commit` was committed, in git's own form (`1700000000 +0100`).
    pub fn commit_date(&self, commit: &Oid) -> Result<String> {
        let args = argv!["show", "-s", "--format=%cd", "--date=raw", "--end-of-options", commit];
        Ok(stdout_line(&run_git(self.top_level(), &args)?))
    }
}
