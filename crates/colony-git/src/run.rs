//! Running git: the single place a `git` process is started, and the
//! parsing of `git version`.
//!
//! Every call is `git -C <dir> <args>` with no shell, stdin closed (so git
//! can never wait for a prompt or an editor) and both outputs captured. The
//! environment is pinned so that output is parseable and nothing outside
//! the call's own arguments can redirect it to another repository.
//!
//! A call for a task worktree ([`At::Tree`]) names the worktree's git
//! directory and work tree outright (`--git-dir`, `--work-tree`) instead of
//! letting git find them from the directory: an agent works in that
//! directory and may delete or rewrite its `.git` file, and git would then
//! find the repository above it, the user's checkout, and commit there.

use std::ffi::OsStr;
use std::fmt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::error::{GitError, Result};
use crate::worktree::TaskTree;

/// How many trailing lines of stderr an error keeps.
const STDERR_TAIL_LINES: usize = 20;

/// Variables that would make git act on a different repository, index or
/// object store than the one named by `-C`; a colony started from inside a
/// git hook would otherwise inherit them.
const REDIRECTING_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_CEILING_DIRECTORIES",
];

/// Where a git call runs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum At<'a> {
    /// A directory of a repository colony trusts (the user's top level):
    /// git finds the repository from it.
    Dir(&'a Path),
    /// A task worktree: its git directory and work tree are named, never
    /// looked for.
    Tree(&'a TaskTree),
}

impl<'a> At<'a> {
    fn dir(self) -> &'a Path {
        match self {
            At::Dir(dir) => dir,
            At::Tree(tree) => tree.path(),
        }
    }
}

impl<'a> From<&'a Path> for At<'a> {
    fn from(dir: &'a Path) -> Self {
        At::Dir(dir)
    }
}

impl<'a> From<&'a std::path::PathBuf> for At<'a> {
    fn from(dir: &'a std::path::PathBuf) -> Self {
        At::Dir(dir)
    }
}

impl<'a> From<&'a TaskTree> for At<'a> {
    fn from(tree: &'a TaskTree) -> Self {
        At::Tree(tree)
    }
}

/// Runs git at `at` and returns its output if it exited 0.
pub(crate) fn run_git<'a, S: AsRef<OsStr>>(at: impl Into<At<'a>>, args: &[S]) -> Result<Output> {
    run_git_env(at, args, &[])
}

/// [`run_git`] with extra environment variables (an author identity).
pub(crate) fn run_git_env<'a, S: AsRef<OsStr>>(
    at: impl Into<At<'a>>,
    args: &[S],
    env: &[(&str, &str)],
) -> Result<Output> {
    let at = at.into();
    let output = spawn(at, args, env)?;
    if output.status.success() { Ok(output) } else { Err(failure(at, args, &output)) }
}

/// Runs git and returns its output whatever the exit code, for commands
/// whose non-zero exit is an answer (`merge-base --is-ancestor`,
/// `merge-tree`, `diff --quiet`). Callers turn unexpected codes into
/// errors with [`failure`].
pub(crate) fn run_git_unchecked<'a, S: AsRef<OsStr>>(
    at: impl Into<At<'a>>,
    args: &[S],
    env: &[(&str, &str)],
) -> Result<Output> {
    spawn(at.into(), args, env)
}

fn spawn<S: AsRef<OsStr>>(at: At<'_>, args: &[S], env: &[(&str, &str)]) -> Result<Output> {
    let mut command = Command::new("git");
    command.arg("-C").arg(at.dir());
    if let At::Tree(tree) = at {
        command.arg("--git-dir").arg(tree.git_dir()).arg("--work-tree").arg(tree.path());
    }
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // English, unlocalized messages: stderr tails are shown to users
        // and a few are matched below.
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        // Keeps `git status` from rewriting the index of a tree it only
        // reads — the user's, above all.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_MERGE_AUTOEDIT", "no");
    for name in REDIRECTING_ENV {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            GitError::GitNotFound(source)
        } else {
            GitError::Spawn { args: arg_strings(args), source }
        }
    })
}

/// The error for a git call that exited non-zero.
pub(crate) fn failure<'a, S: AsRef<OsStr>>(at: impl Into<At<'a>>, args: &[S], output: &Output) -> GitError {
    let dir = at.into().dir();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // git says this when `-C` names a directory outside any repository or
    // one that does not exist; the caller named the wrong place, which
    // deserves its own message.
    if stderr.contains("not a git repository") || stderr.contains("cannot change to") {
        return GitError::NotARepository { path: dir.to_path_buf() };
    }
    GitError::Failed {
        args: arg_strings(args),
        code: output.status.code(),
        stderr_tail: tail(&stderr, STDERR_TAIL_LINES),
    }
}

pub(crate) fn unexpected<S: AsRef<OsStr>>(args: &[S], output: &[u8]) -> GitError {
    GitError::UnexpectedOutput { args: arg_strings(args), output: String::from_utf8_lossy(output).into_owned() }
}

/// Stdout with the trailing newline removed.
pub(crate) fn stdout_line(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim_end().to_owned()
}

/// The paths of a `-z` listing on stdout (`ls-tree`, `diff --name-only`),
/// each as text.
pub(crate) fn stdout_paths(output: &Output) -> Vec<String> {
    output
        .stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

fn arg_strings<S: AsRef<OsStr>>(args: &[S]) -> Vec<String> {
    args.iter().map(|arg| arg.as_ref().to_string_lossy().into_owned()).collect()
}

/// The last `lines` non-empty lines of `text`, trimmed.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let kept: Vec<&str> = text.trim().lines().collect();
    kept[kept.len().saturating_sub(lines)..].join("\n")
}

/// Builds a git argument array from strings and paths alike.
macro_rules! argv {
    ($($arg:expr),* $(,)?) => {
        [$(::std::convert::AsRef::<::std::ffi::OsStr>::as_ref(&$arg)),*]
    };
}
pub(crate) use argv;

/// A git release, as reported by `git version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GitVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl GitVersion {
    /// The first release whose `merge-tree` has `--write-tree`.
    pub const MERGE_TREE_WRITE_TREE: GitVersion = GitVersion { major: 2, minor: 38, patch: 0 };

    /// The first release whose `merge-tree` takes `--merge-base`.
    pub const MERGE_TREE_MERGE_BASE: GitVersion = GitVersion { major: 2, minor: 40, patch: 0 };

    /// Parses `git version 2.47.3`, including vendor suffixes such as
    /// `2.39.3 (Apple Git-145)` or `2.41.0.windows.1`.
    pub fn parse(text: &str) -> Option<GitVersion> {
        let rest = text.trim().strip_prefix("git version ")?;
        let mut numbers = rest.split(|c: char| !c.is_ascii_digit()).take(3).map(|part| part.parse::<u32>().ok());
        let major = numbers.next()??;
        let minor = numbers.next()??;
        let patch = numbers.next().flatten().unwrap_or(0);
        Some(GitVersion { major, minor, patch })
    }
}

impl fmt::Display for GitVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Asks the git on PATH for its version.
pub(crate) fn git_version(dir: &Path) -> Result<GitVersion> {
    let argv = ["version"];
    let output = run_git(dir, &argv)?;
    GitVersion::parse(&String::from_utf8_lossy(&output.stdout)).ok_or_else(|| unexpected(&argv, &output.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_vendor_versions() {
        let v = |major, minor, patch| GitVersion { major, minor, patch };
        assert_eq!(GitVersion::parse("git version 2.47.3\n"), Some(v(2, 47, 3)));
        assert_eq!(GitVersion::parse("git version 2.39.3 (Apple Git-145)"), Some(v(2, 39, 3)));
        assert_eq!(GitVersion::parse("git version 2.41.0.windows.1"), Some(v(2, 41, 0)));
        assert_eq!(GitVersion::parse("git version 3.0"), Some(v(3, 0, 0)));
        assert_eq!(GitVersion::parse("hg version 2.1"), None);
        assert_eq!(GitVersion::parse("git version x"), None);
    }

    #[test]
    fn version_ordering_gates_merge_tree() {
        let old = GitVersion::parse("git version 2.37.9").unwrap();
        let new = GitVersion::parse("git version 2.38.0").unwrap();
        assert!(old < GitVersion::MERGE_TREE_WRITE_TREE);
        assert!(new >= GitVersion::MERGE_TREE_WRITE_TREE);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let kept = tail(&text, 20);
        assert!(kept.starts_with("line 11\n"));
        assert!(kept.ends_with("line 30"));
        assert_eq!(tail("  one\n", 20), "one");
    }
}
