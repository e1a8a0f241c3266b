//! Crashes at the two points of the merge that must go together: after
//! the merge commit is built but before the integration branch moves, and
//! after it moves but before the store hears of it. `COLONY_FAILPOINT`
//! aborts colony there as a `kill -9` would; the next `colony run` must
//! finish the plan with every task merged exactly once and nothing left
//! behind.

use crate::repo::TestRepo;
use crate::run::{FAKE_CONFIG, merges, worktrees};

/// Three tasks, two of them chained; the crash hits the first merge.
const PLAN: &str = "name: crash\ntasks:\n  - id: a\n    title: Task a\n    prompt: Do a.\n  - id: b\n    title: Task b\n    prompt: Do b.\n    deps: [a]\n  - id: c\n    title: Task c\n    prompt: Do c.\n    deps: [b]\n";

fn crash_then_resume(failpoint: &str) -> TestRepo {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    let plan = repo.write_plan("crash.yaml", PLAN);
    let out = repo.command(&["run", "-q", &plan]).env("COLONY_FAILPOINT", failpoint).output().unwrap();
    assert_eq!(out.status.code(), None, "aborted at {failpoint}: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("failpoint {failpoint}")));

    let out = repo.stdout(&["run", "-q"], 0);
    assert!(out.contains("all 3 tasks done"), "{out}");
    let counts = merges(&repo, "colony/crash");
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "each task merged exactly once: {counts:?}");
    for t in ["a", "b", "c"] {
        let file = repo.git_out(&["show", &format!("colony/crash:colony-fake/{t}.txt")]);
        assert_eq!(file, format!("Do {t}.\n"));
    }
    assert_eq!(worktrees(&repo).len(), 1, "only the main tree is left");
    repo
}

#[test]
fn a_crash_before_the_branch_moves_merges_the_task_once_on_resume() {
    let repo = crash_then_resume("before-merge");
    let attempts = repo.json(&["show", "a"])["attempts"].as_array().unwrap().len();
    assert_eq!(attempts, 2, "the crashed attempt is taken back and a new one merges");
}

#[test]
fn a_crash_after_the_branch_moves_completes_without_merging_again() {
    let repo = crash_then_resume("after-merge");
    let logs = repo.stdout(&["logs", "a"], 0);
    assert!(logs.contains("is already merged"), "the second attempt finds the first one's merge: {logs}");
}
