//! `check_branch` against git itself: every name built from fragments that
//! touch git's rules is put to `git check-ref-format --branch`, and the two
//! must agree on each.

use std::path::Path;
use std::process::{Command, Stdio};

use colony_core::branch::check_branch;

/// Pieces that, alone or side by side, meet every rule.
const FRAGMENTS: &[&str] = &[
    "a", "B9", "-", "_", ".", "..", "/", "//", "@", "{", "@{", "}", ".lock", "lock", "HEAD", " ", "\t", "\u{1}",
    "\u{7f}", "~", "^", ":", "?", "*", "[", "\\", "é", "x.",
];

fn names() -> Vec<String> {
    let mut names: Vec<String> = FRAGMENTS.iter().map(|f| (*f).to_owned()).collect();
    for a in FRAGMENTS {
        for b in FRAGMENTS {
            let pair = format!("{a}{b}");
            names.push(format!("colony/{pair}"));
            names.push(format!("{pair}/x"));
            names.push(pair);
        }
    }
    names
}

/// What git says of `name`, run outside any repository so that it takes
/// the name as written (inside one, `@{-1}` would name the last branch).
fn git_accepts(dir: &Path, name: &str) -> bool {
    let status = Command::new("git")
        .args(["check-ref-format", "--branch", name])
        .current_dir(dir)
        .env("GIT_CEILING_DIRECTORIES", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("git runs");
    status.success()
}

#[test]
fn check_branch_agrees_with_git_on_every_generated_name() {
    let dir = tempfile::tempdir().unwrap();
    let names = names();
    let threads = 4;
    let disagreements: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .chunks(names.len().div_ceil(threads))
            .map(|chunk| {
                let dir = dir.path();
                scope.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|name| {
                            let ours = check_branch(name);
                            let git = git_accepts(dir, name);
                            (ours.is_ok() != git).then(|| format!("{name:?}: git {git}, colony {ours:?}"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(names.iter().filter(|n| check_branch(n).is_err()).count() > names.len() / 2, "few refused");
    assert!(
        disagreements.is_empty(),
        "{} of {} names judged apart:\n{}",
        disagreements.len(),
        names.len(),
        disagreements.join("\n")
    );
}
