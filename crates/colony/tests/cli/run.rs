//! `colony run` end to end: the real binary, the fake agent
//! (`colony-fake-agent`, built beside `colony`), real temporary
//! repositories.

use std::collections::BTreeMap;
use std::process::Stdio;

use crate::repo::TestRepo;
use crate::snap;

/// Fast retries and the fake agent for tasks that name none.
pub const FAKE_CONFIG: &str = "[run]\nagent = \"fake\"\nbackoff_base = \"1s\"\nbackoff_cap = \"1s\"\n";

/// A plan of `n` tasks `t00`… in a DAG: each depends on its parent in a
/// binary tree, and every fifth also on the task three before it. The fake
/// agent writes each task's prompt to `colony-fake/<id>.txt`.
pub fn dag(name: &str, n: usize) -> String {
    dag_with(name, n, None)
}

/// [`dag`] with every task's agent sleeping `sleep_ms` first.
pub fn slow_dag(name: &str, n: usize, sleep_ms: u64) -> String {
    dag_with(name, n, Some(sleep_ms))
}

fn dag_with(name: &str, n: usize, sleep_ms: Option<u64>) -> String {
    let mut plan = format!("name: {name}\ntasks:\n");
    for i in 0..n {
        let mut deps = Vec::new();
        if i > 0 {
            deps.push(format!("t{:02}", (i - 1) / 2));
        }
        if i % 5 == 0 && i >= 3 && (i - 3) != (i - 1) / 2 {
            deps.push(format!("t{:02}", i - 3));
        }
        plan.push_str(&format!("  - id: t{i:02}\n    title: Task {i}\n    prompt: Do task {i}.\n"));
        if let Some(ms) = sleep_ms {
            plan.push_str(&format!("    fake: {{sleep_ms: {ms}}}\n"));
        }
        if !deps.is_empty() {
            plan.push_str(&format!("    deps: [{}]\n", deps.join(", ")));
        }
    }
    plan
}

/// Subjects of the integration branch's first-parent line, counted.
pub fn merges(repo: &TestRepo, branch: &str) -> BTreeMap<String, usize> {
    let log = repo.git_out(&["log", "--first-parent", "--format=%s", &format!("main..{branch}")]);
    let mut counts = BTreeMap::new();
    for subject in log.lines() {
        *counts.entry(subject.to_owned()).or_insert(0) += 1;
    }
    counts
}

/// The worktrees git knows of.
pub fn worktrees(repo: &TestRepo) -> Vec<String> {
    repo.git_out(&["worktree", "list", "--porcelain"])
        .lines()
        .filter_map(|l| l.strip_prefix("worktree ").map(str::to_owned))
        .collect()
}

/// `text` with every run of spaces made one, so a line reads the same
/// whatever width the task column took.
/// The processes (`host:pid`) that claimed tasks.
pub fn claimers(repo: &TestRepo) -> std::collections::BTreeSet<String> {
    repo.events()
        .iter()
        .filter(|e| e["type"] == "claimed")
        .map(|e| e["worker"].as_str().unwrap().rsplit_once(':').unwrap().0.to_owned())
        .collect()
}

pub fn squeeze(text: &str) -> String {
    text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>().join("\n")
}

/// The part of `colony run`'s output after the progress lines.
fn summary(out: &str) -> &str {
    out.split_once("\n\n").map_or(out, |(_, rest)| rest)
}

#[test]
fn a_thirty_task_dag_runs_to_the_end_merging_each_task_once() {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    let plan = repo.write_plan("big.yaml", &dag("big", 30));
    let head = repo.git_out(&["rev-parse", "main"]);
    let status = repo.git_out(&["status", "--porcelain", "--untracked-files=all"]);

    let out = repo.stdout(&["run", &plan, "-j", "4"], 0);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("plan big: 30 added"));
    assert_eq!(lines.next(), Some("running 30 tasks on 4 workers; Ctrl-C stops"));
    let claimed = out.lines().filter(|l| l.contains(" attempt 1 claimed by ")).count();
    assert_eq!(claimed, 30, "{out}");
    assert!(out.lines().any(|l| l.ends_with("t00  attempt 1 done")), "{out}");
    snap!(&repo, "run_dag_summary", summary(&out));

    let list = repo.json(&["list"]);
    assert!(list.as_array().unwrap().iter().all(|t| t["status"] == "done"), "{list}");
    let merged = merges(&repo, "colony/big");
    assert_eq!(merged.len(), 30, "{merged:?}");
    assert!(merged.iter().all(|(subject, n)| subject.starts_with("Merge task t") && *n == 1), "{merged:?}");
    let files = repo.git_out(&["ls-tree", "-r", "--name-only", "colony/big"]);
    assert_eq!(files.lines().filter(|f| f.starts_with("colony-fake/")).count(), 30);

    assert_eq!(worktrees(&repo), [repo.root().display().to_string()], "only the main tree is left");
    assert_eq!(repo.git_out(&["rev-parse", "main"]), head, "the user's branch did not move");
    assert_eq!(repo.git_out(&["symbolic-ref", "--short", "HEAD"]), "main\n");
    assert_eq!(repo.git_out(&["status", "--porcelain", "--untracked-files=all"]), status, "the tree is untouched");

    let again = repo.stdout(&["run"], 0);
    assert_eq!(again, "nothing to do: all 30 tasks are done\n");
}

#[test]
fn a_failing_task_fails_its_dependents_are_blocked_and_the_run_exits_3() {
    let config = format!("{FAKE_CONFIG}max_attempts = 2\n");
    let repo = TestRepo::for_runs(&config);
    let plan = repo.write_plan(
        "fails.yaml",
        "name: fails\ntasks:\n  - id: broken\n    prompt: p\n    fake: {exit: 1}\n  - id: child\n    prompt: p\n    deps: [broken]\n  - id: grandchild\n    prompt: p\n    deps: [child]\n  - id: fine\n    prompt: p\n",
    );
    let out = repo.stdout(&["run", &plan], 3);
    assert!(squeeze(&out).contains("broken attempt 1 failed: exit code 1 (will retry)"), "{out}");
    assert!(squeeze(&out).contains("broken attempt 2 failed: exit code 1 (no attempts left)"), "{out}");
    snap!(&repo, "run_failed_summary", summary(&out));

    let broken = repo.json(&["show", "broken"]);
    assert_eq!(broken["status"], "failed");
    assert_eq!(
        (broken["tries"].as_u64(), broken["max_attempts"].as_u64()),
        (Some(2), Some(2)),
        "colony.toml's max_attempts"
    );
    assert_eq!(repo.json(&["show", "grandchild"])["status"], "blocked");
    assert_eq!(merges(&repo, "colony/fails").len(), 1, "only `fine` is merged");

    // Nothing changed, so it fails again.
    repo.colony(&["retry", "broken"]).success();
    let out = repo.stdout(&["run"], 3);
    assert!(out.starts_with("running 3 of 4 tasks on 4 workers"), "{out}");
    assert!(summary(&out).contains("failed:\n  broken"), "{out}");

    // Nothing can run now; the run says so and still exits 3.
    let out = repo.stdout(&["run", "--quiet"], 3);
    assert!(out.starts_with("nothing could run: 1 of 4 tasks done; 1 failed, 2 blocked\n"), "{out}");
}

#[test]
fn json_prints_only_events_and_quiet_only_the_summary() {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    let plan = repo.write_plan("small.yaml", &dag("small", 4));
    let out = repo.command(&["run", &plan, "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let events: Vec<serde_json::Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect();
    assert!(events.iter().all(|e| e["seq"].is_i64() && e["type"].is_string()), "{stdout}");
    assert_eq!(events.iter().filter(|e| e["type"] == "completed").count(), 4);
    assert!(events.iter().all(|e| e["type"] != "task_added"), "the import is not part of the run");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with("all 4 tasks done in "), "{stderr}");

    let repo = TestRepo::for_runs(FAKE_CONFIG);
    let plan = repo.write_plan("small.yaml", &dag("small", 4));
    let out = repo.stdout(&["run", &plan, "-q"], 0);
    snap!(&repo, "run_quiet", out);
}

#[test]
fn two_runs_on_one_store_share_the_work_and_merge_each_task_once() {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    let plan = repo.write_plan("shared.yaml", &dag("shared", 20));
    repo.colony(&["add", &plan]).success();
    let spawn =
        || repo.command(&["run", "-j", "2", "--quiet"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let merged = merges(&repo, "colony/shared");
    assert_eq!(merged.len(), 20, "{merged:?}");
    assert!(merged.values().all(|n| *n == 1), "{merged:?}");
    let workers = claimers(&repo);
    assert_eq!(workers.len(), 2, "both processes claimed work: {workers:?}");
    assert_eq!(worktrees(&repo).len(), 1);
}

#[test]
fn bad_input_is_refused_before_anything_runs() {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    let plan = repo.write_plan("one.yaml", &dag("one", 1));

    let err = repo.stderr(&["run", &plan, "--agent", "claud"], 2);
    assert_eq!(
        err,
        "error: no agent `claud` is configured; did you mean `claude`? known agents: fake, claude, codex, gemini, opencode, cursor, amp, aider\n"
    );
    assert_eq!(repo.stdout(&["list", "--json"], 0), "[]\n", "nothing was imported");

    let ghost = repo.write_plan("ghost.yaml", "name: ghost\ntasks:\n  - id: g\n    prompt: p\n    agent: ghost\n");
    let err = repo.stderr(&["run", &ghost], 2);
    assert_eq!(
        err,
        "error: task g asks for agent `ghost`, which is not configured; known agents: fake, claude, codex, gemini, opencode, cursor, amp, aider\n"
    );
    assert!(repo.events().iter().all(|e| e["type"] != "claimed"), "nothing ran");

    std::fs::write(repo.root().join("colony.toml"), "[run]\nwrkers = 2\n").unwrap();
    let err = repo.stderr(&["run"], 2);
    snap!(&repo, "run_bad_config", err);
    let err = repo.stderr(&["add", &plan], 2);
    assert!(err.contains("colony.toml:2: [run] wrkers"), "{err}");
}

#[test]
fn no_agent_at_all_says_how_to_name_one() {
    let repo = TestRepo::for_runs("");
    let plan = repo.write_plan("one.yaml", &dag("one", 1));
    let err = repo.stderr(&["run", &plan], 2);
    assert!(err.starts_with("error: task t00 names no agent and there is no default; pass --agent NAME"), "{err}");
    repo.stdout(&["run", "--agent", "fake", "-q"], 0);
}

#[test]
fn a_missing_fake_agent_is_a_clear_error() {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    let plan = repo.write_plan("one.yaml", &dag("one", 1));
    let out = repo.command(&["run", &plan]).env("COLONY_FAKE_AGENT", "/no/such/fake").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: the fake agent is missing: there is no /no/such/fake;"), "{err}");
}
