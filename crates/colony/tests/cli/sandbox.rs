//! `[sandbox]` through the real binary: by default an agent writes only
//! in its worktree; `off` lets it write anywhere the user can (and the
//! damage check fails the attempt that wrote into the checkout); `required`
//! on a kernel without Landlock (the probe forced to fail) refuses to run
//! and changes nothing; `colony doctor` tells which.

use crate::repo::TestRepo;

/// An agent that writes to the user's home and the main checkout, then
/// does its own work.
const WRITER: &str = "(echo agent >> \"$HOME/x\") 2>&1; (echo agent >> ../../../README.md) 2>&1; echo work > own.txt";

const PLAN: &str = "name: p\ntasks:\n  - id: t\n    prompt: p\n    max_attempts: 1\n";

fn repo(sandbox: &str) -> TestRepo {
    let config = format!(
        "[run]\nagent = \"writer\"\n\n[agents.writer]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"{}\"]\n\n{sandbox}",
        WRITER.replace('"', "\\\"")
    );
    let repo = TestRepo::for_runs(&config);
    repo.write_plan("p.yaml", PLAN);
    repo
}

fn home_x(repo: &TestRepo) -> Option<String> {
    std::fs::read_to_string(repo.base().join("home/x")).ok()
}

fn readme(repo: &TestRepo) -> String {
    std::fs::read_to_string(repo.root().join("README.md")).unwrap()
}

#[test]
fn by_default_an_agent_writes_only_in_its_worktree() {
    let repo = repo("");
    let status = repo.git_out(&["status", "--porcelain", "--untracked-files=all"]);
    let out = repo.command(&["run", "plans/p.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no warning where Landlock is");
    assert_eq!((home_x(&repo), readme(&repo)), (None, "# A project\n".to_owned()));
    assert_eq!(repo.git_out(&["status", "--porcelain", "--untracked-files=all"]), status);
    assert!(repo.git_out(&["ls-tree", "--name-only", "colony/p"]).contains("own.txt"));
    let logs = repo.stdout(&["logs", "t"], 0);
    assert!(logs.contains("the sandbox refused a write to") && logs.contains("home/x"), "{logs}");
}

#[test]
fn off_lets_an_agent_write_anywhere_the_user_can_and_its_attempt_fails() {
    let repo = repo("[sandbox]\nmode = \"off\"\n");
    repo.colony(&["run", "plans/p.yaml"]).code(3);
    assert_eq!(home_x(&repo).as_deref(), Some("agent\n"));
    assert_eq!(readme(&repo), "# A project\nagent\n");
    assert_agent_blamed(&repo);
}

/// The damage check that holds without a sandbox failed the attempt that
/// wrote into the main checkout: nothing of it merged.
fn assert_agent_blamed(repo: &TestRepo) {
    let reason = repo.json(&["show", "t"])["attempts"][0]["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.starts_with("your checkout changed while this attempt's agent ran: README.md modified"), "{reason}");
    assert!(!repo.git_out(&["ls-tree", "--name-only", "colony/p"]).contains("own.txt"));
}

#[test]
fn required_without_landlock_refuses_to_run_and_changes_nothing() {
    let repo = repo("[sandbox]\nmode = \"required\"\n");
    let before = (repo.git_out(&["status", "--porcelain", "--ignored", "--untracked-files=all"]), repo.json(&["list"]));
    let out = repo.command(&["run", "plans/p.yaml"]).env("COLONY_LANDLOCK_ABI", "0").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("colony.toml's [sandbox] mode is \"required\", but this kernel has no usable Landlock (ABI 0;"),
        "{stderr}"
    );
    let after = (repo.git_out(&["status", "--porcelain", "--ignored", "--untracked-files=all"]), repo.json(&["list"]));
    assert_eq!(after, before, "nothing added, nothing run");
    assert_eq!(home_x(&repo), None);

    let report = repo.command(&["doctor", "--json"]).env("COLONY_LANDLOCK_ABI", "0").output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(
        report["sandbox"],
        serde_json::json!({"mode": "required", "landlock_abi": 0, "confined": false, "refused": true})
    );
    assert!(report["problems"].to_string().contains("`colony run` refuses to start"), "{report}");
}

#[test]
fn without_landlock_worktree_mode_warns_once_and_runs_unconfined() {
    let repo = repo("");
    let out = repo.command(&["run", "plans/p.yaml"]).env("COLONY_LANDLOCK_ABI", "0").output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("warning: this kernel has no usable Landlock").count(), 1, "{stderr}");
    assert_eq!(home_x(&repo).as_deref(), Some("agent\n"));
    assert_agent_blamed(&repo);
}

#[test]
fn doctor_reports_the_mode_and_the_kernels_landlock() {
    let repo = repo("");
    let text = repo.stdout(&["doctor"], 0);
    let line = text.lines().skip_while(|l| *l != "sandbox:").nth(1).unwrap_or_else(|| panic!("{text}"));
    assert!(line.starts_with("  worktree, Landlock ABI "), "{text}");
    assert!(line.ends_with(": agents and gates write only to their worktrees"), "{text}");
}
