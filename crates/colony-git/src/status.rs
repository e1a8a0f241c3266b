//! Reading a working tree's state from `git status --porcelain=v1 -z`.
//!
//! Used before touching the user's checkout, where only tracked changes
//! count: untracked files (colony's own `.colony/` among them) are left to
//! git, whose merge refuses to overwrite them on its own. And, with
//! untracked files and the refs, to notice the checkout change during a
//! run ([`Repo::status_entries`], [`Repo::refs`]). And what git ignores
//! in a task worktree, which is what its setup made
//! ([`Repo::ignored_paths`]).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::repo::{Oid, Repo};
use crate::run::{argv, run_git};
use crate::worktree::TaskTree;

/// One path `git status` lists, with its two-letter code (` M`, `??`, …).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StatusEntry {
    pub code: String,
    pub path: String,
}

impl Repo {
    /// Every changed, staged or untracked path of the top level's working
    /// tree (not ignored ones), but those under `exclude` (`.colony`).
    pub fn status_entries(&self, exclude: &[&str]) -> Result<Vec<StatusEntry>> {
        let mut args: Vec<&OsStr> =
            argv!["status", "--porcelain=v1", "-z", "--untracked-files=all", "--", "."].to_vec();
        let excluded: Vec<String> = exclude.iter().map(|path| format!(":(exclude){path}")).collect();
        args.extend(excluded.iter().map(OsStr::new));
        let output = run_git(self.top_level(), &args)?;
        Ok(parse_status_entries(&output.stdout))
    }

    /// The untracked paths of `tree` that git ignores, relative to its
    /// root: a directory whose whole content is ignored once, as itself,
    /// not file by file.
    pub fn ignored_paths(&self, tree: &TaskTree) -> Result<Vec<PathBuf>> {
        let args = argv!["ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"];
        let output = run_git(tree, &args)?;
        Ok(parse_ls_files_paths(&output.stdout))
    }

    /// Every ref of the repository and the object it names, by name.
    pub fn refs(&self) -> Result<Vec<(String, Oid)>> {
        let output = run_git(self.top_level(), &argv!["for-each-ref", "--format=%(objectname) %(refname)"])?;
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split_once(' '))
            .filter_map(|(oid, name)| Some((name.to_owned(), Oid::parse(oid)?)))
            .collect())
    }
}

/// Tracked paths with staged or unstaged changes (including unmerged
/// ones) in the working tree at `dir`.
pub(crate) fn tracked_changes(dir: &Path) -> Result<Vec<String>> {
    let output = run_git(dir, &argv!["status", "--porcelain=v1", "-z", "--untracked-files=no"])?;
    Ok(parse_status_paths(&output.stdout))
}

/// The paths named by `git status --porcelain=v1 -z` output: each entry is
/// `XY PATH\0`, and a rename or copy adds its source as `ORIG_PATH\0`,
/// which is skipped. Names that are not UTF-8 are shown lossily.
pub fn parse_status_paths(output: &[u8]) -> Vec<String> {
    parse_status_entries(output).into_iter().map(|entry| entry.path).collect()
}

/// [`parse_status_paths`] with each path's code.
pub fn parse_status_entries(output: &[u8]) -> Vec<StatusEntry> {
    let mut entries = Vec::new();
    let mut fields = output.split(|&b| b == 0).filter(|f| !f.is_empty());
    while let Some(entry) = fields.next() {
        let Some(path) = entry.get(3..) else { continue };
        let code = String::from_utf8_lossy(&entry[..2]).into_owned();
        if code.contains('R') || code.contains('C') {
            fields.next();
        }
        entries.push(StatusEntry { code, path: String::from_utf8_lossy(path).into_owned() });
    }
    entries
}

/// The paths of `git ls-files -z` output, as git wrote them (names need
/// not be UTF-8), without the `/` that ends a directory's.
pub fn parse_ls_files_paths(output: &[u8]) -> Vec<PathBuf> {
    output
        .split(|&b| b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| PathBuf::from(OsStr::from_bytes(f.strip_suffix(b"/").unwrap_or(f))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_files_paths_are_split_on_nul_and_lose_a_directorys_slash() {
        let out = b".env\0build/x.o\0node_modules/\0odd \xff name\0";
        let paths = parse_ls_files_paths(out);
        assert_eq!(&paths[..3], [Path::new(".env"), Path::new("build/x.o"), Path::new("node_modules")]);
        assert_eq!(paths[3].as_os_str().as_bytes(), b"odd \xff name");
        assert!(parse_ls_files_paths(b"").is_empty());
    }

    #[test]
    fn parses_modified_staged_and_unmerged_entries() {
        let out = b" M src/lib.rs\0M  README.md\0UU both.txt\0?? new file\0";
        assert_eq!(parse_status_paths(out), ["src/lib.rs", "README.md", "both.txt", "new file"]);
    }

    #[test]
    fn skips_the_source_of_a_rename() {
        let out = b"R  new name.rs\0old name.rs\0 D gone.rs\0";
        assert_eq!(parse_status_paths(out), ["new name.rs", "gone.rs"]);
    }

    #[test]
    fn entries_keep_their_codes() {
        let out = b" M a.rs\0R  new.rs\0old.rs\0?? n\0";
        let entry = |code: &str, path: &str| StatusEntry { code: code.into(), path: path.into() };
        assert_eq!(parse_status_entries(out), [entry(" M", "a.rs"), entry("R ", "new.rs"), entry("??", "n")]);
    }

    #[test]
    fn empty_output_means_clean() {
        assert!(parse_status_paths(b"").is_empty());
    }
}
