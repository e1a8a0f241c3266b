//! The key of a kept setup (`[worktree] reuse_setup`): what a worktree's
//! setup made depends on the setup commands, their environment and the
//! files they install from (the lockfiles), so a later worktree whose
//! key is the same may take a copy of it instead of running setup again.
//!
//! Computing the key is a pure function of those inputs; reading the key
//! files out of the worktree, and the cache itself, are the engine's
//! (`colony-engine`'s `base/reuse.rs`).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// The files that key a kept setup unless `[worktree] reuse_key` names
/// others: the usual lockfiles, at the repository root, those that exist.
pub const DEFAULT_KEY_FILES: &[&str] = &[
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lockb",
    "uv.lock",
    "poetry.lock",
    "Pipfile.lock",
    "requirements*.txt",
    "Cargo.lock",
    "Gemfile.lock",
    "go.sum",
    "composer.lock",
];

/// Bytes of the digest the key keeps: plenty to tell setups apart.
const KEY_BYTES: usize = 16;

/// The key of what `commands` make with `env`, given the key `files`
/// (each its path relative to the root, and its content) in any order:
/// lowercase hex, 32 characters. Every part is length-prefixed, so no
/// two different inputs run together into the same bytes.
pub fn setup_key(commands: &[String], env: &BTreeMap<String, String>, files: &[(String, Vec<u8>)]) -> String {
    let mut hash = Sha256::new();
    let mut put = |tag: &[u8], bytes: &[u8]| {
        hash.update(tag);
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    for command in commands {
        put(b"c", command.as_bytes());
    }
    for (name, value) in env {
        put(b"e", name.as_bytes());
        put(b"v", value.as_bytes());
    }
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, content) in sorted {
        put(b"p", path.as_bytes());
        put(b"f", content);
    }
    hash.finalize().iter().take(KEY_BYTES).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(commands: &[&str], env: &[(&str, &str)], files: &[(&str, &str)]) -> String {
        let commands: Vec<String> = commands.iter().map(|c| (*c).to_owned()).collect();
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let files: Vec<(String, Vec<u8>)> =
            files.iter().map(|(p, c)| ((*p).to_owned(), c.as_bytes().to_vec())).collect();
        setup_key(&commands, &env, &files)
    }

    const LOCK: (&str, &str) = ("package-lock.json", "{\"lockfileVersion\": 3}");

    #[test]
    fn the_key_is_hex_and_the_same_for_the_same_inputs_in_any_order() {
        let one = key(&["npm ci"], &[("A", "1")], &[LOCK, ("yarn.lock", "y")]);
        assert_eq!(one.len(), 32);
        assert!(one.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{one}");
        assert_eq!(one, key(&["npm ci"], &[("A", "1")], &[("yarn.lock", "y"), LOCK]), "files are sorted by path");
    }

    #[test]
    fn the_key_changes_with_the_lockfiles_the_commands_and_the_env() {
        let base = key(&["npm ci"], &[("A", "1")], &[LOCK]);
        let changed = [
            key(&["npm ci"], &[("A", "1")], &[("package-lock.json", "{\"lockfileVersion\": 2}")]),
            key(&["npm ci"], &[("A", "1")], &[("other/package-lock.json", LOCK.1)]),
            key(&["npm ci"], &[("A", "1")], &[]),
            key(&["npm install"], &[("A", "1")], &[LOCK]),
            key(&["npm ci", "npm run build"], &[("A", "1")], &[LOCK]),
            key(&["npm ci"], &[("A", "2")], &[LOCK]),
            key(&["npm ci"], &[], &[LOCK]),
        ];
        for (i, other) in changed.iter().enumerate() {
            assert_ne!(&base, other, "change {i}");
        }
    }

    #[test]
    fn parts_do_not_run_together() {
        assert_ne!(key(&["ab", "c"], &[], &[]), key(&["a", "bc"], &[], &[]));
        assert_ne!(key(&[], &[("A", "BC")], &[]), key(&[], &[("AB", "C")], &[]));
    }
}
