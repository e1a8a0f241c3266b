//! `TestRepo`: a real repository in a temporary directory, deleted on drop,
//! with one committed file on `main`, isolated from the machine's git
//! configuration.
//!
//! The fixture's own setup commits use plumbing on a throwaway index, so
//! they never touch the main tree that the tests check stays untouched.

#![allow(dead_code)] // Each test binary uses a different part of the fixture.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

use colony_git::{Oid, Repo};
use tempfile::TempDir;

/// Name and email the fixture configures (unless `without_identity`).
pub const USER: (&str, &str) = ("Test User", "test@example.invalid");

static ISOLATE: Once = Once::new();

/// Points git's global configuration away from the user's, once per test
/// binary, before any test runs git.
fn isolate_git_config() {
    ISOLATE.call_once(|| {
        // A directory that is never created: git treats a missing
        // ~/.gitconfig as empty.
        let home = std::env::temp_dir().join("colony-git-tests-empty-home");
        // SAFETY: every test calls this before it spawns a process or
        // reads the environment, and `Once` makes the others wait here, so
        // no thread reads the environment while it is written.
        unsafe {
            std::env::set_var("HOME", &home);
            std::env::set_var("XDG_CONFIG_HOME", &home);
            std::env::set_var("GIT_CONFIG_NOSYSTEM", "1");
            std::env::set_var("GIT_CONFIG_GLOBAL", "/dev/null");
            for name in ["GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"] {
                std::env::remove_var(name);
            }
        }
    });
}

pub struct TestRepo {
    tmp: TempDir,
    path: PathBuf,
}

/// What must not change in the user's checkout: HEAD, its branch, the
/// full status (untracked files included) and the index.
#[derive(Debug, PartialEq, Eq)]
pub struct MainState {
    head: String,
    branch: String,
    status: String,
    index: String,
}

impl TestRepo {
    /// A repository on `main` with `README.md` committed and a configured
    /// identity.
    pub fn new() -> TestRepo {
        let repo = TestRepo::without_identity();
        repo.git(&["config", "user.name", USER.0]);
        repo.git(&["config", "user.email", USER.1]);
        repo
    }

    /// Like [`TestRepo::new`], but nobody told git who they are.
    pub fn without_identity() -> TestRepo {
        isolate_git_config();
        let tmp = tempfile::Builder::new().prefix("colony-git-test").tempdir().expect("temp dir");
        let path = tmp.path().join("repo");
        std::fs::create_dir(&path).unwrap();
        let repo = TestRepo { tmp, path };
        repo.git(&["init", "--quiet", "-b", "main"]);
        // As `colony init` would: colony's own directory is not the user's
        // work, and keeping it out of `git status` lets tests compare the
        // full status.
        std::fs::write(repo.path.join(".git/info/exclude"), ".colony/\n").unwrap();
        repo.write("README.md", "hello\n");
        repo.git(&["add", "README.md"]);
        repo.git(&fixture_identity(&["commit", "--quiet", "-m", "initial"]));
        repo
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn repo(&self) -> Repo {
        Repo::open(&self.path).expect("open test repo")
    }

    /// Where a test puts the worktree named `name`.
    pub fn worktree_path(&self, name: &str) -> PathBuf {
        self.repo().worktrees_dir().join(name)
    }

    /// A directory outside the repository.
    pub fn outside(&self) -> PathBuf {
        let dir = self.tmp.path().join("outside");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Runs git in the repository's main tree; panics unless it succeeds.
    pub fn git(&self, args: &[&str]) -> String {
        git_in(&self.path, args)
    }

    pub fn write(&self, name: &str, content: &str) {
        write_in(&self.path, name, content);
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path.join(name)).unwrap()
    }

    pub fn oid(&self, rev: &str) -> Oid {
        Oid::parse(&self.git(&["rev-parse", "--verify", &format!("{rev}^{{commit}}")])).expect("commit id")
    }

    /// Commits `files` on top of `branch` (creating it from `main` if
    /// missing) without any checkout, and moves the branch there.
    pub fn commit_on(&self, branch: &str, files: &[(&str, &str)], message: &str) -> Oid {
        let branch_ref = format!("refs/heads/{branch}");
        let exists = Command::new("git")
            .args(["-C", self.path.to_str().unwrap()])
            .args(["rev-parse", "--verify", "--quiet", &branch_ref])
            .output()
            .unwrap()
            .status
            .success();
        let parent = if exists { branch_ref.clone() } else { "main".to_owned() };
        let index = self.tmp.path().join("fixture-index");
        let with_index = |args: &[&str]| -> String {
            let output = Command::new("git")
                .arg("-C")
                .arg(&self.path)
                .args(args)
                .env("GIT_INDEX_FILE", &index)
                .output()
                .unwrap();
            assert!(output.status.success(), "git {args:?}: {output:?}");
            String::from_utf8(output.stdout).unwrap().trim().to_owned()
        };
        with_index(&["read-tree", &parent]);
        for (name, content) in files {
            let blob_file = self.tmp.path().join("fixture-blob");
            std::fs::write(&blob_file, content).unwrap();
            let blob = with_index(&["hash-object", "-w", blob_file.to_str().unwrap()]);
            with_index(&["update-index", "--add", "--cacheinfo", &format!("100644,{blob},{name}")]);
        }
        let tree = with_index(&["write-tree"]);
        let parent_oid = self.oid(&parent);
        let commit = self.git(&fixture_identity(&["commit-tree", &tree, "-p", parent_oid.as_str(), "-m", message]));
        self.git(&["update-ref", &branch_ref, &commit]);
        std::fs::remove_file(&index).unwrap();
        Oid::parse(&commit).unwrap()
    }

    pub fn main_state(&self) -> MainState {
        MainState {
            head: self.git(&["rev-parse", "HEAD"]),
            branch: self.git(&["rev-parse", "--symbolic-full-name", "HEAD"]),
            status: self.git(&["status", "--porcelain", "--untracked-files=all"]),
            index: self.git(&["ls-files", "--stage"]),
        }
    }

    /// The paths of `git worktree list`, main tree first.
    pub fn worktree_paths(&self) -> Vec<PathBuf> {
        self.git(&["worktree", "list", "--porcelain"])
            .lines()
            .filter_map(|line| line.strip_prefix("worktree "))
            .map(PathBuf::from)
            .collect()
    }
}

/// Runs git in `dir`; panics unless it succeeds. Returns trimmed stdout.
pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git").arg("-C").arg(dir).args(args).env("LC_ALL", "C").output().expect("run git");
    assert!(output.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

pub fn write_in(dir: &Path, name: &str, content: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, content).unwrap();
}

/// `args` with an identity for the fixture's own commits, which must not
/// depend on whether the repository has one configured.
fn fixture_identity<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut full = vec!["-c", "user.name=Fixture", "-c", "user.email=fixture@example.invalid"];
    full.extend_from_slice(args);
    full
}
