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

/// Four tasks at once, and a gate that is slow on merge commits only, so
/// that while one merge is gated the others wait and then ride a train.
const TRAIN_PLAN: &str = "name: crash\ntasks:\n  - id: a\n    prompt: Do a.\n  - id: b\n    prompt: Do b.\n  - id: c\n    prompt: Do c.\n  - id: d\n    prompt: Do d.\n";
const TRAIN_CONFIG: &str =
    "[gates]\ncommands = [\"if git rev-parse -q --verify HEAD^2 >/dev/null; then sleep 1; fi\"]\n";

fn crash_then_resume(failpoint: &str) -> TestRepo {
    crash_then_resume_with(failpoint, FAKE_CONFIG, PLAN, &["a", "b", "c"], &["run", "-q"])
}

fn crash_then_resume_with(failpoint: &str, config: &str, plan: &str, tasks: &[&str], run: &[&str]) -> TestRepo {
    let repo = TestRepo::for_runs(config);
    let plan = repo.write_plan("crash.yaml", plan);
    let out = repo.command(&[run, &[plan.as_str()]].concat()).env("COLONY_FAILPOINT", failpoint).output().unwrap();
    assert_eq!(out.status.code(), None, "aborted at {failpoint}: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("failpoint {failpoint}")));

    let out = repo.stdout(run, 0);
    assert!(out.contains(&format!("all {} tasks done", tasks.len())), "{out}");
    let counts = merges(&repo, "colony/crash");
    assert_eq!(counts.len(), tasks.len(), "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "each task merged exactly once: {counts:?}");
    for t in tasks {
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
    assert!(logs.contains("has this task's merge already"), "the second attempt finds the first one's merge: {logs}");
}

fn crash_in_a_train_then_resume(failpoint: &str) -> (TestRepo, String) {
    let config = format!("{FAKE_CONFIG}{TRAIN_CONFIG}");
    let tasks = ["a", "b", "c", "d"];
    let repo = crash_then_resume_with(failpoint, &config, TRAIN_PLAN, &tasks, &["run", "-q", "-j", "4"]);
    let logs: String = tasks.iter().map(|t| repo.stdout(&["logs", "--attempt", "1", t], 0)).collect();
    assert!(logs.contains("a merge train of"), "{logs}");
    let logs: String = tasks.iter().map(|t| repo.stdout(&["logs", t], 0)).collect();
    (repo, logs)
}

#[test]
fn a_crash_before_a_train_moves_the_branch_merges_each_task_once_on_resume() {
    crash_in_a_train_then_resume("before-train-merge");
}

#[test]
fn a_crash_after_a_train_moves_the_branch_completes_its_tasks_without_merging_again() {
    let (_, logs) = crash_in_a_train_then_resume("after-train-merge");
    assert!(
        logs.matches("has this task's merge already").count() >= 2,
        "every rider's next attempt finds its merge: {logs}"
    );
}
