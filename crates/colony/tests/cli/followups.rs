//! Follow-up tasks through the real binary: colony's fake agent writes
//! `.colony/followups.yaml` as a real agent would, and `[plan] followups`
//! decides what becomes of what it proposes.

use serde_json::{Value, json};

use crate::repo::TestRepo;

const CONFIG: &str = "[run]\nagent = \"fake\"\n";

/// A task whose agent writes `file` and proposes `followups` (JSON is
/// YAML too).
fn proposing(id: &str, file: &str, deps: &[&str], followups: Value) -> Value {
    json!({
        "id": id,
        "title": format!("Write {file}"),
        "prompt": format!("Write {file}."),
        "deps": deps,
        "fake": {"write": {file: format!("{id}\n"), ".colony/followups.yaml": followups.to_string()}},
    })
}

fn plain(id: &str, file: &str, deps: &[&str]) -> Value {
    json!({
        "id": id,
        "title": format!("Write {file}"),
        "prompt": format!("Write {file}."),
        "deps": deps,
        "fake": {"write": {file: format!("{id}\n")}},
    })
}

/// A plan of one task, `a`, whose agent proposes `docs` and `docs-index`,
/// the second depending on the first.
fn two_followups(repo: &TestRepo) -> String {
    let followups = json!([plain("docs", "docs.txt", &["a"]), plain("docs-index", "index.txt", &["docs"])]);
    let plan = json!({"name": "p", "tasks": [proposing("a", "a.txt", &[], followups)]});
    repo.write_plan("p.json", &plan.to_string())
}

fn status(repo: &TestRepo, id: &str) -> String {
    repo.json(&["show", id])["status"].as_str().unwrap().to_owned()
}

fn tracked(repo: &TestRepo, branch: &str) -> String {
    repo.git_out(&["ls-tree", "-r", "--name-only", branch])
}

#[test]
fn proposed_follow_ups_wait_for_approval_then_run_and_merge() {
    let repo = TestRepo::for_runs(CONFIG);
    let plan = two_followups(&repo);
    let out = repo.command(&["run", "-q", &plan]).output().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "the follow-ups wait for a person: {summary}");
    assert!(summary.contains("follow-ups proposed by agents, waiting for you:"), "{summary}");
    assert!(summary.contains("docs: Write docs.txt") && summary.contains("docs-index: Write index.txt"), "{summary}");
    assert_eq!((status(&repo, "docs"), status(&repo, "docs-index")), ("proposed".into(), "proposed".into()));
    let files = tracked(&repo, "colony/p");
    assert!(files.contains("a.txt") && !files.contains("followups"), "the file is never committed: {files}");

    let shown = repo.stdout(&["status"], 0);
    assert!(shown.contains("proposed:  docs: Write docs.txt"), "{shown}");
    assert!(shown.contains("2 follow-ups proposed by agents are waiting"), "{shown}");
    let events = repo.stdout(&["events"], 0);
    assert!(events.contains("proposed by a (attempt 1): Write docs.txt; it waits for `colony approve`"), "{events}");
    let docs = repo.stdout(&["show", "docs-index"], 0);
    assert!(docs.contains("proposed by the agent of a (attempt 1), a follow-up 1 deep"), "{docs}");

    repo.stdout(&["approve", "docs"], 0);
    repo.stdout(&["approve", "docs-index"], 0);
    let out = repo.command(&["run", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(repo.git_out(&["show", "colony/p:docs.txt"]), "docs\n");
    assert_eq!(repo.git_out(&["show", "colony/p:index.txt"]), "docs-index\n");
}

#[test]
fn a_dropped_proposal_takes_those_that_depend_on_it_and_leaves_the_run_finished() {
    let repo = TestRepo::for_runs(CONFIG);
    let plan = two_followups(&repo);
    repo.command(&["run", "-q", &plan]).output().unwrap();
    let dropped = repo.stdout(&["reject", "docs", "--feedback", "not this week"], 0);
    assert!(dropped.contains("dropped: not this week"), "{dropped}");
    assert_eq!(status(&repo, "docs-index"), "dropped", "it depended on the dropped one");
    let err = repo.stderr(&["approve", "docs-index"], 2);
    assert!(err.contains("task docs-index is dropped"), "{err}");
    let out = repo.command(&["run", "-q"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "a dropped follow-up is no work left: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn with_follow_ups_off_nothing_is_added_and_the_drop_is_recorded() {
    let repo = TestRepo::for_runs(&format!("{CONFIG}\n[plan]\nfollowups = \"off\"\n"));
    let plan = two_followups(&repo);
    let out = repo.command(&["run", "-q", &plan]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let tasks = repo.json(&["list"]);
    assert_eq!(tasks.as_array().map(Vec::len), Some(1), "{tasks}");
    let events = repo.stdout(&["events"], 0);
    assert!(events.contains("follow-ups not added: `docs`: follow-ups are off"), "{events}");
    assert!(!tracked(&repo, "colony/p").contains("followups"));
    let prompt = repo.stdout(&["show", "a", "--prompt"], 0);
    assert!(!prompt.contains("followups.yaml"), "the agent is not told of follow-ups when they are off: {prompt}");
}

#[test]
fn a_chain_of_follow_ups_stops_at_the_depth_limit() {
    let repo = TestRepo::for_runs(&format!("{CONFIG}\n[plan]\nfollowups = \"auto\"\nfollowup_depth = 2\n"));
    let f3 = plain("f3", "f3.txt", &["f2"]);
    let f2 = proposing("f2", "f2.txt", &["f1"], json!([f3]));
    let f1 = proposing("f1", "f1.txt", &["a"], json!([f2]));
    let plan = json!({"name": "p", "tasks": [proposing("a", "a.txt", &[], json!([f1]))]});
    let plan = repo.write_plan("p.json", &plan.to_string());
    let out = repo.command(&["run", "-q", &plan]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let files = tracked(&repo, "colony/p");
    assert!(files.contains("f1.txt") && files.contains("f2.txt"), "{files}");
    assert!(!files.contains("f3.txt"), "f3 would be a third follow-up deep: {files}");
    let events = repo.stdout(&["events"], 0);
    assert!(
        events.contains("`f3`: the proposer is itself a follow-up 2 deep, and [plan] followup_depth is 2"),
        "{events}"
    );
    let prompt = repo.stdout(&["show", "a", "--prompt"], 0);
    assert!(prompt.contains(".colony/followups.yaml"), "{prompt}");
}

#[test]
fn a_colony_directory_linked_out_of_the_worktree_deletes_nothing_there() {
    let repo = TestRepo::for_runs(
        "[run]\nagent = \"evil\"\nmax_attempts = 1\n[agents.evil]\nkind = \"command\"\ncommand = [\"./evil.sh\"]\n",
    );
    let script = repo.root().join("evil.sh");
    let text = format!("#!/bin/sh\nrm -rf .colony\nln -s {} .colony\necho work > a.txt\n", repo.root().display());
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    repo.commit_all("an agent that links .colony to the user's checkout");
    // The user's own file where the link would lead colony to delete it.
    let mine = repo.root().join("followups.yaml");
    std::fs::write(&mine, "- id: mine\n  prompt: The user's notes.\n").unwrap();
    let plan = repo.write_plan("p.yaml", "name: p\ntasks:\n  - id: a\n    prompt: Work.\n");
    repo.command(&["run", "-q", &plan]).output().unwrap();
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "- id: mine\n  prompt: The user's notes.\n");
    assert_eq!(repo.json(&["list"]).as_array().map(Vec::len), Some(1), "nothing was proposed from the user's file");
}
