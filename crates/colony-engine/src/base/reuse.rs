//! A kept setup (`[worktree] reuse_setup`): what a worktree's setup
//! commands made, copied aside once, and copied into each later worktree
//! whose key is the same instead of running the commands again.
//!
//! The key ([`colony_core::reuse::setup_key`]) covers the commands, the
//! `[worktree] env` and the key files (the lockfiles) as the worktree has
//! them, that is as the task's base commit has them: a branch that changes
//! its lockfile gets a fresh setup. What setup made is what git ignores in
//! the worktree once it ran, less what `[worktree]` copy and link put there
//! from the main checkout.
//!
//! An entry is `.colony/setup-cache/<key>/`: `tree/`, the paths as they
//! were in the worktree, and `files`, how many files (and symlinks) it
//! holds. It is written under a temporary name and renamed into place, so
//! a reader never sees half an entry; two processes keeping the same key
//! at once both copy, and the second rename loses, harmlessly. A copy
//! into a worktree that does not bring every file back (the entry went
//! while it was read) is undone, and setup runs as if nothing was kept.
//!
//! Everything is copied, never linked: the agent may change anything in
//! its worktree, and must not change what the next worktree gets. Symlinks
//! stay symlinks, never followed; files keep their modes.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use colony_core::config::{WorktreeConfig, glob_parts};
use colony_core::reuse::setup_key;

/// Keys kept: the newest this many, by when each was written or last used.
pub(crate) const KEPT_KEYS: usize = 3;

/// A temporary entry older than this was left by a process that died
/// while writing it.
const STALE_TMP: Duration = Duration::from_secs(60 * 60);

const TMP_PREFIX: &str = ".tmp-";

/// The key of the setup `config` asks for in the worktree at `worktree`:
/// its commands, its env and the content of the files `reuse_key` (or
/// the usual lockfiles) match there. Only regular files count; a glob
/// that matches nothing adds nothing.
pub(crate) fn key_of(worktree: &Path, config: &WorktreeConfig) -> io::Result<String> {
    let mut paths = Vec::new();
    for glob in config.reuse_key_globs() {
        // colony.toml was checked when read: a glob is never refused here.
        let parts = glob_parts(&glob).unwrap_or_default();
        paths.extend(super::setup::expand(worktree, &parts));
    }
    paths.sort();
    paths.dedup();
    let mut files = Vec::new();
    for path in paths {
        let full = worktree.join(&path);
        if std::fs::symlink_metadata(&full)?.is_file() {
            files.push((path.to_string_lossy().into_owned(), std::fs::read(&full)?));
        }
    }
    Ok(setup_key(&config.setup, &config.env, &files))
}

/// Whether the cache holds an entry under `key`.
pub(crate) fn has(cache: &Path, key: &str) -> bool {
    cache.join(key).join("files").is_file()
}

/// Copies the entry `key` of `cache` into `worktree`; the number of files
/// it brought. On failure, what it had copied is removed again.
pub(crate) fn restore(cache: &Path, key: &str, worktree: &Path) -> io::Result<u64> {
    let entry = cache.join(key);
    let expected: u64 = std::fs::read_to_string(entry.join("files"))?
        .trim()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the entry's file count is unreadable"))?;
    let mut made = Vec::new();
    let copied = copy_into(&entry.join("tree"), worktree, &[], &mut made).and_then(|n| {
        if n == expected {
            Ok(n)
        } else {
            Err(io::Error::new(io::ErrorKind::InvalidData, format!("{n} of its {expected} files were there")))
        }
    });
    match copied {
        Ok(n) => {
            // Used: among the newest again, so that pruning keeps it.
            let _ = std::fs::File::open(&entry).and_then(|dir| dir.set_modified(SystemTime::now()));
            Ok(n)
        }
        Err(e) => {
            undo(&made);
            Err(e)
        }
    }
}

/// What became of keeping a setup.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kept {
    /// Kept, with this many files.
    Files(u64),
    /// Another process kept the same key first.
    Already,
    /// Setup made nothing git ignores: nothing is kept, since reusing an
    /// empty entry would only skip a setup whose work is elsewhere.
    Nothing,
}

/// Keeps `produced` (paths relative to `worktree`, what setup made) under
/// `key`, but the paths in `put` and below them (the main checkout's,
/// copied or linked). Then prunes the cache to [`KEPT_KEYS`] keys.
pub(crate) fn keep(
    cache: &Path,
    key: &str,
    worktree: &Path,
    produced: &[PathBuf],
    put: &[PathBuf],
) -> io::Result<Kept> {
    std::fs::create_dir_all(cache)?;
    let tmp = cache.join(format!("{TMP_PREFIX}{:016x}", fastrand::u64(..)));
    let written = write_entry(&tmp, worktree, produced, put);
    let kept = written.and_then(|files| match files {
        0 => Ok(Kept::Nothing),
        _ => match std::fs::rename(&tmp, cache.join(key)) {
            Ok(()) => Ok(Kept::Files(files)),
            Err(_) if has(cache, key) => Ok(Kept::Already),
            Err(e) => Err(e),
        },
    });
    if !matches!(kept, Ok(Kept::Files(_))) {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    let kept = kept?;
    prune(cache, KEPT_KEYS)?;
    Ok(kept)
}

fn write_entry(tmp: &Path, worktree: &Path, produced: &[PathBuf], put: &[PathBuf]) -> io::Result<u64> {
    let tree = tmp.join("tree");
    std::fs::create_dir_all(&tree)?;
    let skip: Vec<PathBuf> = put.iter().map(|p| worktree.join(p)).collect();
    let mut files = 0;
    for path in produced {
        let first = path.components().next().map(|c| c.as_os_str());
        if put.iter().any(|p| path.starts_with(p)) || first.is_some_and(|f| f == ".git" || f == ".colony") {
            continue;
        }
        let (from, to) = (worktree.join(path), tree.join(path));
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir)?;
        }
        files += copy_entry(&from, &to, &skip, &mut Vec::new())?;
    }
    std::fs::write(tmp.join("files"), format!("{files}\n"))?;
    Ok(files)
}

/// Removes all but the `keep` newest entries of `cache`, and temporary
/// entries a dead process left.
fn prune(cache: &Path, keep: usize) -> io::Result<()> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(cache)? {
        let entry = entry?;
        let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else { continue };
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(TMP_PREFIX) {
            if modified.elapsed().is_ok_and(|age| age > STALE_TMP) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
            continue;
        }
        entries.push((modified, entry.path()));
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (_, old) in entries.into_iter().skip(keep) {
        // Renamed away first, so that a reader fails on it rather than
        // copying half of it (and its count check says so if not).
        let gone = cache.join(format!("{TMP_PREFIX}gone-{:016x}", fastrand::u64(..)));
        if std::fs::rename(&old, &gone).is_ok() {
            let _ = std::fs::remove_dir_all(&gone);
        }
    }
    Ok(())
}

/// Copies what the directory `from` holds into the directory `to`, which
/// may hold other things already; records each path it made in `made`.
/// The number of files and symlinks copied.
pub(super) fn copy_into(from: &Path, to: &Path, skip: &[PathBuf], made: &mut Vec<PathBuf>) -> io::Result<u64> {
    let mut files = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        files += copy_entry(&entry.path(), &to.join(entry.file_name()), skip, made)?;
    }
    Ok(files)
}

/// Copies `from` to `to`: a file with its mode, a symlink as a symlink,
/// a directory with all it holds but `skip`; a directory already at `to`
/// is copied into.
fn copy_entry(from: &Path, to: &Path, skip: &[PathBuf], made: &mut Vec<PathBuf>) -> io::Result<u64> {
    if skip.iter().any(|s| s == from) {
        return Ok(0);
    }
    let meta = std::fs::symlink_metadata(from)?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else if kind.is_dir() {
        let fresh = !std::fs::symlink_metadata(to).is_ok_and(|m| m.is_dir());
        if fresh {
            std::fs::create_dir(to)?;
            made.push(to.to_owned());
        }
        let files = copy_into(from, to, skip, made)?;
        if fresh {
            // After its content: a read-only directory is written into first.
            std::fs::set_permissions(to, meta.permissions())?;
        }
        return Ok(files);
    } else if kind.is_file() {
        if std::fs::symlink_metadata(to).is_ok() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{} is there already", to.display())));
        }
        std::fs::copy(from, to)?;
    } else {
        // A socket or a FIFO setup left: nothing to copy.
        return Ok(0);
    }
    made.push(to.to_owned());
    Ok(1)
}

/// Removes what a copy made, newest first: files, then the directories
/// they were in.
fn undo(made: &[PathBuf]) {
    for path in made.iter().rev() {
        let is_dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
        let _ = if is_dir { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, content: &str) {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    fn config(reuse_key: Option<&[&str]>) -> WorktreeConfig {
        WorktreeConfig {
            setup: vec!["npm ci".into()],
            reuse_setup: true,
            reuse_key: reuse_key.map(|globs| globs.iter().map(|g| (*g).to_owned()).collect()),
            ..WorktreeConfig::default()
        }
    }

    #[test]
    fn the_key_follows_the_lockfiles_and_not_unrelated_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "package-lock.json", "{\"v\": 1}");
        write(root, "src/index.js", "one");
        let before = key_of(root, &config(None)).unwrap();
        write(root, "src/index.js", "two");
        write(root, "README.md", "changed");
        write(root, "sub/package-lock.json", "not at the root");
        assert_eq!(key_of(root, &config(None)).unwrap(), before, "unrelated files leave the key alone");
        write(root, "requirements-dev.txt", "pytest");
        let with_requirements = key_of(root, &config(None)).unwrap();
        assert_ne!(with_requirements, before, "requirements*.txt is a usual lockfile");
        write(root, "package-lock.json", "{\"v\": 2}");
        assert_ne!(key_of(root, &config(None)).unwrap(), with_requirements, "the lockfile's content keys it");

        let own = config(Some(&["packages/*/package.json"]));
        let mine = key_of(root, &own).unwrap();
        write(root, "package-lock.json", "{\"v\": 3}");
        assert_eq!(key_of(root, &own).unwrap(), mine, "reuse_key replaces the usual lockfiles");
        write(root, "packages/a/package.json", "{}");
        assert_ne!(key_of(root, &own).unwrap(), mine);
    }

    #[test]
    fn a_kept_setup_comes_back_as_it_was_without_what_was_put() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, first, second) = (dir.path().join("cache"), dir.path().join("w1"), dir.path().join("w2"));
        write(&first, "deps/lib/index.js", "module");
        write(&first, "deps/bin/tool", "#!/bin/sh\n");
        write(&first, ".env", "copied from the main checkout");
        write(&first, "node_modules/pkg/a.js", "a");
        std::os::unix::fs::symlink("../lib/index.js", first.join("deps/bin/index")).unwrap();
        std::os::unix::fs::symlink("/elsewhere", first.join("node_modules/.cache")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(first.join("deps/bin/tool"), std::fs::Permissions::from_mode(0o755)).unwrap();

        let produced: Vec<PathBuf> = ["deps", ".env", "node_modules"].map(PathBuf::from).into();
        let put: Vec<PathBuf> = [".env", "node_modules/.cache"].map(PathBuf::from).into();
        assert_eq!(keep(&cache, "k1", &first, &produced, &put).unwrap(), Kept::Files(4));
        assert!(has(&cache, "k1"));
        let again = keep(&cache, "k1", &first, &produced, &put).unwrap();
        assert_eq!(again, Kept::Already, "kept already: the rename loses");
        let only_put = keep(&cache, "k2", &first, &[PathBuf::from(".env")], &put).unwrap();
        assert_eq!(only_put, Kept::Nothing, "nothing setup made");
        assert!(!has(&cache, "k2"));

        write(&second, "README.md", "tracked");
        assert_eq!(restore(&cache, "k1", &second).unwrap(), 4);
        assert_eq!(std::fs::read_to_string(second.join("deps/lib/index.js")).unwrap(), "module");
        assert_eq!(std::fs::read_link(second.join("deps/bin/index")).unwrap(), Path::new("../lib/index.js"));
        let mode = std::fs::metadata(second.join("deps/bin/tool")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        assert!(
            !second.join(".env").exists() && !second.join("node_modules/.cache").exists(),
            "what was put is not kept"
        );
        assert!(second.join("node_modules/pkg/a.js").is_file());

        let names = |dir: &Path| -> Vec<String> {
            let mut names: Vec<String> =
                std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            names.sort();
            names
        };
        std::fs::remove_file(cache.join("k1/tree/deps/lib/index.js")).unwrap();
        let third = dir.path().join("w3");
        write(&third, "README.md", "tracked");
        assert!(restore(&cache, "k1", &third).is_err(), "a file missing from the entry");
        assert_eq!(names(&third), ["README.md"], "what the failed copy made is gone again");
    }

    #[test]
    fn only_the_newest_keys_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, tree) = (dir.path().join("cache"), dir.path().join("w"));
        write(&tree, "deps/f", "x");
        let produced = [PathBuf::from("deps")];
        for (i, key) in ["k1", "k2", "k3", "k4"].iter().enumerate() {
            keep(&cache, key, &tree, &produced, &[]).unwrap();
            // Distinct times, oldest first, however coarse the clock.
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + i as u64);
            std::fs::File::open(cache.join(key)).unwrap().set_modified(at).unwrap();
        }
        keep(&cache, "k5", &tree, &produced, &[]).unwrap();
        let kept: Vec<bool> = ["k1", "k2", "k3", "k4", "k5"].iter().map(|k| has(&cache, k)).collect();
        assert_eq!(kept, [false, false, true, true, true]);
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), KEPT_KEYS, "no temporary entry is left");
    }
}
