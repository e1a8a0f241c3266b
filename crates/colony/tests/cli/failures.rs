//! Agents that go wrong, through the real binary and the fake agent: each
//! failure is retried up to the task's attempts, is named in the summary,
//! and leaves no process and no worktree behind.

use crate::live::processes_in;
use crate::repo::TestRepo;
use crate::run::worktrees;

/// Short timeouts so a hanging agent is stopped in about a second.
const CONFIG: &str =
    "[run]\nagent = \"fake\"\ntimeout = \"1s\"\ngrace = \"500ms\"\nbackoff_base = \"100ms\"\nbackoff_cap = \"100ms\"\n";

/// Runs a one-task plan whose fake agent does `fake`, with two attempts;
/// returns the repository and the run's output.
fn run_one(fake: &str) -> (TestRepo, String) {
    let repo = TestRepo::for_runs(CONFIG);
    let plan = format!("name: bad\ntasks:\n  - id: t\n    prompt: p\n    max_attempts: 2\n    fake: {fake}\n");
    let plan = repo.write_plan("bad.yaml", &plan);
    let out = repo.stdout(&["run", &plan], 3);
    assert_eq!(processes_in(repo.root()), Vec::<String>::new(), "nothing is left running");
    assert_eq!(worktrees(&repo).len(), 1, "only the main tree is left");
    (repo, out)
}

/// The reason each attempt of task `t` ended with.
fn reasons(repo: &TestRepo) -> Vec<String> {
    let show = repo.json(&["show", "t"]);
    show["attempts"].as_array().unwrap().iter().map(|a| a["reason"].as_str().unwrap_or("").to_owned()).collect()
}

#[test]
fn a_hanging_agent_is_stopped_at_its_timeout_and_retried() {
    let (repo, out) = run_one("{hang: true}");
    assert_eq!(reasons(&repo), ["the agent ran past its 1s timeout"; 2]);
    assert!(out.contains("attempt 1 failed: the agent ran past its 1s timeout (will retry)"), "{out}");
    assert!(out.contains("failed:\n  t  the agent ran past its 1s timeout"), "the summary names it: {out}");
}

#[test]
fn a_crashing_agent_fails_with_its_signal_and_is_retried() {
    let (repo, _) = run_one("{crash: true}");
    let reasons = reasons(&repo);
    assert_eq!(reasons.len(), 2);
    assert!(reasons.iter().all(|r| r.contains("signal 6")), "{reasons:?}");
}

#[test]
fn an_agent_that_changes_nothing_fails_with_no_changes() {
    let (repo, out) = run_one("{no_changes: true}");
    assert_eq!(reasons(&repo), ["no changes"; 2]);
    assert!(out.contains("failed:\n  t  no changes"), "{out}");
    let branches = repo.git_out(&["branch", "--format=%(refname:short)"]);
    assert!(branches.contains("colony-task/bad/t-a2"), "a failed attempt's branch is kept: {branches}");
}

#[test]
fn a_first_attempt_that_fails_is_retried_and_merges() {
    let repo = TestRepo::for_runs(CONFIG);
    let plan =
        repo.write_plan("once.yaml", "name: once\ntasks:\n  - id: t\n    prompt: p\n    fake: {fail_attempts: 1}\n");
    let out = repo.stdout(&["run", &plan], 0);
    assert!(out.contains("attempt 1 failed: exit code 1"), "{out}");
    assert_eq!(reasons(&repo)[1], "", "attempt 2 merged");
    let prompt = repo.git_out(&["show", "colony/once:colony-fake/t.txt"]);
    assert!(prompt.starts_with("p\n\nIf you find work that belongs outside this task"), "{prompt}");
}

/// A gate broken on the branch the run starts from: no agent round is
/// spent on it, and the summary names the gate, the branch and the commit;
/// with `--allow-failing-gates` the tasks merge.
#[test]
fn a_gate_that_fails_on_the_base_branch_costs_no_agent_round() {
    let config = format!("{CONFIG}[gates]\ncommands = [\"test ! -e BROKEN\"]\n");
    let repo = TestRepo::for_runs(&config);
    std::fs::write(repo.root().join("BROKEN"), "x\n").unwrap();
    repo.commit_all("break the gate");
    let tip = repo.git_out(&["rev-parse", "HEAD"]);
    let plan = repo.write_plan("p.yaml", "name: p\ntasks:\n  - id: a\n    prompt: p\n  - id: b\n    prompt: p\n");

    let out = repo.stdout(&["run", &plan], 3);
    let said = format!("no new work was started: gate `test ! -e BROKEN` already fails on colony/p at {}", &tip[..12]);
    assert!(out.contains(&said) && out.contains("--allow-failing-gates"), "{out}");
    let claims = repo.events().iter().filter(|e| e["type"] == "claimed").count();
    assert_eq!(claims, 0, "no agent ran");

    let out = repo.stdout(&["run", "--allow-failing-gates"], 0);
    assert!(out.contains("all 2 tasks done"), "{out}");
    let merged = repo.git_out(&["log", "--first-parent", "--format=%s", "main..colony/p"]);
    assert_eq!(merged.lines().count(), 2, "{merged}");
}
