//! Crashes at the two points of the merge that must go together: after
//! the merge commit is built but before the integration branch moves, and
//! after it moves but before the store hears of it. `COLONY_FAILPOINT`
//! aborts colony there as a `kill -9` would; the next `colony run` must
//! finish the plan with every task merged exactly once and nothing left
//! behind.

use crate::background::Background;
use crate::live::processes_in;
use crate::repo::TestRepo;
use crate::run::{FAKE_CONFIG, merges, slow_dag, worktrees};

/// Three tasks, two of them chained; the crash hits the first merge.
const PLAN: &str = "name: crash\ntasks:\n  - id: a\n    title: Task a\n    prompt: Do a.\n  - id: b\n    title: Task b\n    prompt: Do b.\n    deps: [a]\n  - id: c\n    title: Task c\n    prompt: Do c.\n    deps: [b]\n";

/// Four tasks at once, and a gate that is slow on merge commits only, so
/// that while one merge is gated the others wait and then ride a train.
const TRAIN_PLAN: &str = "name: crash\ntasks:\n  - id: a\n    prompt: Do a.\n  - id: b\n    prompt: Do b.\n  - id: c\n    prompt: Do c.\n  - id: d\n    prompt: Do d.\n";
const TRAIN_CONFIG: &str = "[gates]\ncommands = [\"if git rev-parse -q --verify HEAD^2 >/dev/null; then sleep 1; fi\"]\n\
     [merge]\nspeculate = false\n";
/// Gates, so that merges are gated before their turn, in the line.
const LINE_CONFIG: &str = "[gates]\ncommands = [\"true\"]\n";

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
        assert_eq!(file.lines().next(), Some(format!("Do {t}.").as_str()), "{file}");
    }
    assert_eq!(worktrees(&repo).len(), 1, "only the main tree is left");
    let branches = repo.git_out(&["branch", "--list", "colony-task/*"]);
    assert_eq!(branches, "", "the crashed attempts' branches are gone once their tasks merged");
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

fn crash_in_the_line_then_resume(failpoint: &str) -> String {
    let config = format!("{FAKE_CONFIG}{LINE_CONFIG}");
    let tasks = ["a", "b", "c", "d"];
    let repo = crash_then_resume_with(failpoint, &config, TRAIN_PLAN, &tasks, &["run", "-q", "-j", "4"]);
    let logs: String = tasks.iter().map(|t| repo.stdout(&["logs", "--attempt", "1", t], 0)).collect();
    assert!(logs.contains("before its turn"), "{logs}");
    tasks.iter().map(|t| repo.stdout(&["logs", t], 0)).collect()
}

#[test]
fn a_crash_before_the_line_moves_the_branch_merges_each_task_once_on_resume() {
    crash_in_the_line_then_resume("before-merge");
}

#[test]
fn a_crash_after_the_line_moves_the_branch_completes_without_merging_again() {
    let logs = crash_in_the_line_then_resume("after-merge");
    assert!(logs.contains("has this task's merge already"), "the next attempt finds the first one's merge: {logs}");
}

/// xorshift64: the kill moments are random, and the same in every run.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// `kill -9` of `colony run` ten times, each after a seeded number of its
/// progress lines, then a run to the end: colony's deaths cost no task a
/// try, nothing merges twice, and nothing is left behind.
#[test]
fn ten_kills_of_colony_cost_no_task_a_try_and_leave_nothing_behind() {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    let plan = repo.write_plan("kills.yaml", &slow_dag("kills", 30, 150));
    let mut seed = 0x2545_f491_4f6c_dd1d;
    for _ in 0..10 {
        let lines = 1 + next(&mut seed) % 12;
        let mut run = Background::start(&repo, &["run", &plan, "-j", "4"]);
        for _ in 0..lines {
            run.wait_for_line("a line of progress", |_| Some(()));
        }
        run.signal(libc::SIGKILL);
        let (code, _, _) = run.finish();
        assert_eq!(code, None, "killed");
    }

    let out = repo.stdout(&["run", &plan, "-j", "4"], 0);
    assert!(out.contains("all 30 tasks done"), "{out}");
    let counts = merges(&repo, "colony/kills");
    assert_eq!(counts.len(), 30, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "each task merged exactly once: {counts:?}");
    let events = repo.events();
    let kinds = |kind: &str| events.iter().filter(|e| e["type"] == kind).count();
    assert_eq!((kinds("attempt_failed"), kinds("lease_expired")), (0, 0), "no try was counted");
    assert!(kinds("released") > 0, "some attempts were running when colony died");
    assert_eq!(repo.git_out(&["branch", "--list", "colony-task/*"]), "", "no task branch is left");
    assert_eq!(worktrees(&repo).len(), 1, "only the main tree is left");
    assert_eq!(processes_in(repo.root()), Vec::<String>::new(), "no process is left");
}
