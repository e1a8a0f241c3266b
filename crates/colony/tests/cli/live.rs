//! A run watched while it runs: Ctrl-C once and twice, and `colony logs -f`.
//! The tests wait for lines of output, never for a fixed time; the only
//! waiting on the clock is the fake agent's own `sleep_ms`, which is the
//! scenario.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::background::Background;
use crate::repo::TestRepo;

/// Stops quickly once asked: one second of grace for running attempts and
/// for a SIGTERMed agent.
const STOP_FAST: &str = "[run]\nagent = \"fake\"\nshutdown_grace = \"1s\"\ngrace = \"1s\"\n";

/// Processes working in the repository (its root or a worktree under it):
/// a leftover colony, agent or gate.
pub fn processes_in(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        if pid == std::process::id() {
            continue;
        }
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else { continue };
        if cwd.starts_with(root) {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push(format!("{pid} in {}: {}", cwd.display(), String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    found
}

fn status_of(repo: &TestRepo, id: &str) -> serde_json::Value {
    repo.json(&["show", id])
}

#[test]
fn ctrl_c_lets_running_attempts_finish_then_gives_their_tasks_back() {
    let repo = TestRepo::for_runs(STOP_FAST);
    let plan =
        repo.write_plan("slow.yaml", "name: slow\ntasks:\n  - id: slow\n    prompt: p\n    fake: {sleep_ms: 3000}\n");
    let mut run = Background::start(&repo, &["run", &plan]);
    run.wait_for("slow attempt 1 claimed by");
    run.interrupt();
    let (code, out, err) = run.finish();
    assert_eq!(code, Some(3), "{out}\n{err}");
    assert!(err.contains("stopping: running attempts may finish (up to 1s); press Ctrl-C again to stop now"), "{err}");
    assert!(out.contains("slow  attempt 1 released: colony was stopped"), "{out}");
    assert!(out.contains("stopped after"), "{out}");
    assert!(out.ends_with("next: `colony run` carries on where this run stopped"), "{out}");

    let slow = status_of(&repo, "slow");
    assert_eq!((slow["status"].as_str(), slow["tries"].as_u64()), (Some("ready"), Some(0)), "released, not counted");
    assert_eq!(processes_in(repo.root()), Vec::<String>::new(), "nothing is left running");
    assert_eq!(crate::run::worktrees(&repo).len(), 1);
}

#[test]
fn a_second_ctrl_c_stops_a_hanging_agent_at_once() {
    let repo = TestRepo::for_runs(STOP_FAST);
    let plan =
        repo.write_plan("hangs.yaml", "name: hangs\ntasks:\n  - id: stuck\n    prompt: p\n    fake: {hang: true}\n");
    let mut run = Background::start(&repo, &["run", &plan]);
    run.wait_for("stuck attempt 1 claimed by");
    let started = Instant::now();
    run.interrupt();
    run.interrupt();
    let (code, out, err) = run.finish();
    assert_eq!(code, Some(3), "{out}\n{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    assert!(out.contains("stuck  attempt 1 released: colony was stopped"), "{out}");
    let stuck = status_of(&repo, "stuck");
    assert_eq!((stuck["status"].as_str(), stuck["tries"].as_u64()), (Some("ready"), Some(0)));
    assert_eq!(processes_in(repo.root()), Vec::<String>::new(), "nothing is left running");
}

#[test]
fn a_run_killed_mid_attempt_is_cleaned_up_and_finished_by_the_next() {
    let repo = TestRepo::for_runs(STOP_FAST);
    let plan =
        repo.write_plan("slow.yaml", "name: slow\ntasks:\n  - id: slow\n    prompt: p\n    fake: {sleep_ms: 3000}\n");
    let mut run = Background::start(&repo, &["run", &plan]);
    run.wait_for("slow attempt 1 claimed by");
    // The agent is running (and its process group recorded) once it says
    // it sleeps.
    let mut log = Background::start(&repo, &["logs", "slow", "-f"]);
    log.wait_for("stdout fake: sleeping 3000 ms");
    log.interrupt();
    log.finish();
    run.signal(libc::SIGKILL);
    let (code, _, _) = run.finish();
    assert_eq!(code, None, "killed");

    let out = repo.stdout(&["run", "-q"], 0);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("cleaned up after an earlier run that did not finish:"), "{out}");
    assert!(out.contains("  stopped the agent processes of slow attempt 1 (group "), "{out}");
    assert!(out.contains("  slow attempt 1: colony process "), "{out}");
    assert!(out.contains(" died; the try is not counted"), "{out}");
    assert!(out.contains("all 1 task done in "), "{out}");
    assert_eq!(status_of(&repo, "slow")["attempt"], 2);
    assert_eq!(processes_in(repo.root()), Vec::<String>::new(), "nothing is left running");
    assert_eq!(crate::run::worktrees(&repo).len(), 1);
}

#[test]
fn logs_show_what_the_agent_printed_and_follow_a_live_attempt() {
    let repo = TestRepo::for_runs(STOP_FAST);
    let plan = repo.write_plan(
        "talk.yaml",
        "name: talk\ntasks:\n  - id: quick\n    prompt: p\n    fake: {print: [hello from quick]}\n  - id: slow\n    prompt: p\n    deps: [quick]\n    fake: {print: [working slowly], sleep_ms: 2000}\n",
    );
    let mut run = Background::start(&repo, &["run", &plan]);
    run.wait_for("slow attempt 1 claimed by");

    let logs = repo.stdout(&["logs", "quick"], 0);
    let lines: Vec<&str> = logs.lines().map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest)).collect();
    assert!(lines.contains(&"stdout hello from quick"), "{logs}");
    assert!(lines.contains(&"stdout fake: exiting with 0"), "{logs}");
    assert!(lines.iter().any(|l| l.starts_with("colony merged into colony/talk at ")), "{logs}");
    let json = repo.stdout(&["logs", "quick", "--json"], 0);
    for line in json.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(record["t"].is_i64() && record["kind"].is_string(), "{line}");
    }

    // Follows while the attempt runs and ends by itself with it.
    let followed = repo.stdout(&["logs", "slow", "-f"], 0);
    assert!(followed.contains("stdout working slowly"), "{followed}");
    assert!(followed.contains("stdout fake: exiting with 0"), "{followed}");
    assert!(followed.contains("colony merged into colony/talk"), "{followed}");
    let (code, out, _) = run.finish();
    assert_eq!(code, Some(0), "{out}");

    assert_eq!(repo.stdout(&["logs", "slow", "--attempt", "1"], 0), repo.stdout(&["logs", "slow"], 0));
    let err = repo.stderr(&["logs", "slow", "--attempt", "2"], 2);
    assert_eq!(err, "error: task slow has no attempt 2; its attempts are 1 to 1\n");
    let err = repo.stderr(&["logs", "nope"], 2);
    assert_eq!(err, "error: no task `nope`; see `colony list`\n");
}

#[test]
fn logs_of_a_task_that_has_not_run_say_so() {
    let repo = TestRepo::for_runs(STOP_FAST);
    let plan = repo.write_plan("idle.yaml", "name: idle\ntasks:\n  - id: idle\n    prompt: p\n");
    repo.colony(&["add", &plan]).success();
    assert_eq!(repo.stdout(&["logs", "idle"], 0), "no log yet for task idle: it has not started\n");
}
