//! Reading a working tree's state from `git status --porcelain=v1 -z`.
//!
//! Used before touching the user's checkout, so only tracked changes count:
//! untracked files (colony's own `.colony/` among them) are left to git,
//! whose merge refuses to overwrite them on its own.

use std::path::Path;

use crate::error::Result;
use crate::run::{argv, run_git};

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
    let mut paths = Vec::new();
    let mut fields = output.split(|&b| b == 0).filter(|f| !f.is_empty());
    while let Some(entry) = fields.next() {
        let Some(path) = entry.get(3..) else { continue };
        paths.push(String::from_utf8_lossy(path).into_owned());
        let status = &entry[..2];
        if status.contains(&b'R') || status.contains(&b'C') {
            fields.next();
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn empty_output_means_clean() {
        assert!(parse_status_paths(b"").is_empty());
    }
}
