//! Finding the repository colony works in, and the little git it needs.
//!
//! git is asked through its CLI, as a child process with arguments (never a
//! shell), so colony sees exactly what the user's own git sees: worktrees,
//! `GIT_DIR`, `safe.directory` and all.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use crate::exit::bad_input;

/// Runs `git ARGS` in `dir` and returns its trimmed stdout, or `Err` with
/// git's stderr when it fails.
fn git(dir: &Path, args: &[&str]) -> Result<std::result::Result<String, String>> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .context("could not run git; is it installed and on PATH?")?;
    if out.status.success() {
        Ok(Ok(String::from_utf8_lossy(&out.stdout).trim_end_matches(['\n', '\r']).to_owned()))
    } else {
        Ok(Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()))
    }
}

/// The root of the repository around `dir` (`--repo`) or around the current
/// directory.
pub fn root(dir: Option<&Path>) -> Result<PathBuf> {
    let start = match dir {
        Some(d) => {
            if !d.is_dir() {
                return Err(bad_input(format!("--repo {}: no such directory", d.display())));
            }
            d.to_path_buf()
        }
        None => std::env::current_dir().context("could not read the current directory")?,
    };
    match git(&start, &["rev-parse", "--show-toplevel"])? {
        Ok(top) => Ok(PathBuf::from(top)),
        Err(_) if dir.is_some() => Err(bad_input(format!(
            "{} is not inside a git repository; pass --repo a directory of one",
            start.display()
        ))),
        Err(_) => Err(bad_input("not inside a git repository; run colony in your project or pass --repo DIR")),
    }
}

/// The file of ignore patterns private to this clone, which is where
/// `.colony/` belongs: it is colony's local state, not the project's.
pub fn exclude_file(root: &Path) -> Result<PathBuf> {
    let path = git(root, &["rev-parse", "--git-path", "info/exclude"])?
        .map_err(|stderr| anyhow::anyhow!("git rev-parse --git-path info/exclude failed: {stderr}"))?;
    // git answers relative to the directory it ran in.
    Ok(root.join(path))
}
