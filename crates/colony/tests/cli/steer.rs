//! Steering tasks: cancel, retry, and re-adding a plan whose tasks have
//! started (claimed here through the store, as a worker would).

use std::sync::Arc;
use std::time::Duration;

use colony_store::{SqlStore, Store, SystemClock};

use crate::background::Background;
use crate::repo::{TestRepo, example};
use crate::snap;

#[test]
fn cancel_blocks_dependents_and_retry_unblocks_them() {
    let repo = TestRepo::with_auth_plan();
    snap!(&repo, "cancel_db_schema", repo.stdout(&["cancel", "db-schema"], 0));
    let list = repo.stdout(&["list"], 0);
    snap!(&repo, "list_after_cancel", list.clone());
    assert!(list.contains("blocked by db-schema"));
    snap!(&repo, "status_after_cancel", repo.stdout(&["status"], 0));
    snap!(&repo, "show_blocked", repo.stdout(&["show", "sessions"], 0));

    snap!(&repo, "retry_db_schema", repo.stdout(&["retry", "db-schema"], 0));
    let list = repo.stdout(&["list"], 0);
    assert!(!list.contains("blocked"), "{list}");
    assert_eq!(repo.json(&["show", "db-schema"])["status"], "ready");
}

#[test]
fn retry_of_a_pending_task_is_refused() {
    let repo = TestRepo::with_auth_plan();
    let before = repo.events();
    let err = repo.stderr(&["retry", "login-api"], 2);
    snap!(&repo, "retry_pending", err);
    assert_eq!(repo.events(), before);
}

#[test]
fn changes_are_all_or_nothing() {
    let repo = TestRepo::with_auth_plan();
    let before = repo.events();
    let err = repo.stderr(&["cancel", "db-schema", "nope"], 2);
    assert_eq!(err, "error: no task `nope`; see `colony list`\n");
    assert_eq!(repo.events(), before);

    repo.colony(&["cancel", "login-page"]).success();
    let before = repo.events();
    let err = repo.stderr(&["cancel", "db-schema", "login-page"], 2);
    assert!(err.contains("login-page") && err.contains("nothing was changed"), "{err}");
    assert_eq!(repo.events(), before);

    let err = repo.stderr(&["retry", "bad id"], 2);
    assert!(err.contains("invalid value 'bad id'"), "{err}");
}

#[test]
fn naming_a_task_twice_is_one_request() {
    let repo = TestRepo::with_auth_plan();
    let out = repo.stdout(&["cancel", "login-page", "login-page"], 0);
    assert_eq!(out, "login-page  cancelled\n\nundo with `colony retry login-page`\n");
}

/// Claims the first ready task through the store, as a worker would, and
/// fails the attempt with `fail` when given.
fn claim(repo: &TestRepo, fail: Option<&str>) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = SqlStore::open_sqlite(&repo.db(), Arc::new(SystemClock)).await.unwrap();
        let claim = store.claim("worker-1", Duration::from_secs(600)).await.unwrap().expect("a ready task");
        if let Some(reason) = fail {
            store.fail(&claim.task, claim.attempt, reason, Duration::ZERO).await.unwrap();
        }
        store.close().await;
        claim.task.to_string()
    })
}

#[test]
fn a_started_task_changes_only_with_force() {
    let repo = TestRepo::with_auth_plan();
    let claimed = claim(&repo, None);
    assert_eq!(claimed, "db-schema", "the longest chain goes first");
    let list = repo.stdout(&["list"], 0);
    snap!(&repo, "list_running", list);
    snap!(&repo, "show_running", repo.stdout(&["show", "db-schema"], 0));

    let text = std::fs::read_to_string(example("auth.yaml")).unwrap();
    let changed = text.replace("Add the users table", "Add the users and roles tables");
    repo.write_plan("auth.yaml", &changed);
    let before = repo.events();
    let err = repo.stderr(&["add", "plans/auth.yaml"], 2);
    snap!(&repo, "add_started_refused", err);
    assert_eq!(repo.events(), before);

    let out = repo.stdout(&["add", "--force", "plans/auth.yaml"], 0);
    assert!(out.starts_with("plan auth: 1 updated (db-schema), 5 unchanged\n"), "{out}");
    let detail = repo.json(&["show", "db-schema"]);
    assert_eq!(detail["title"], "Add the users and roles tables");
    assert_eq!(detail["status"], "ready", "a forced task runs again");
    let updated = repo.events().into_iter().find(|e| e["type"] == "task_updated").unwrap();
    assert_eq!(updated["forced"], true);
    assert_eq!(detail["attempts"][0]["outcome"], "abandoned");
}

#[test]
fn a_failed_task_says_why_and_can_be_retried() {
    let repo = TestRepo::initialized();
    let plan = repo.write_plan(
        "once.yaml",
        "name: once\ndefaults:\n  max_attempts: 1\ntasks:\n  - id: build\n    prompt: build it\n  - id: ship\n    prompt: ship it\n    deps: [build]\n",
    );
    repo.colony(&["add", &plan]).success();
    assert_eq!(claim(&repo, Some("tests fail: 3 of 12")), "build");
    snap!(&repo, "list_failed", repo.stdout(&["list"], 0));
    snap!(&repo, "status_failed", repo.stdout(&["status"], 0));
    snap!(&repo, "show_failed", repo.stdout(&["show", "build"], 0));

    repo.colony(&["retry", "build"]).success();
    let list = repo.stdout(&["list"], 0);
    assert!(list.contains("build  ready    0/1"), "{list}");
    assert!(list.contains("ship   pending  0/1"), "{list}");
}

#[test]
fn kill_ends_a_running_attempt_as_a_persons_kill_and_refuses_the_rest_whole() {
    let repo = TestRepo::with_auth_plan();
    let before = repo.events();
    assert_eq!(repo.stderr(&["kill", "nope"], 2), "error: no task `nope`; see `colony list`\n");
    let err = repo.stderr(&["kill", "db-schema"], 2);
    assert_eq!(err, "error: task db-schema is ready; only a running attempt can be killed; nothing was changed\n");
    assert_eq!(repo.events(), before, "a refused kill writes nothing");

    assert_eq!(claim(&repo, None), "db-schema");
    let before = repo.events();
    let err = repo.stderr(&["kill", "db-schema", "login-api"], 2);
    assert!(err.contains("task login-api is pending"), "{err}");
    assert_eq!(repo.events(), before, "one task that cannot be killed stops the whole request");

    let out = repo.stdout(&["kill", "db-schema", "db-schema"], 0);
    assert_eq!(
        out,
        "db-schema  attempt 1 of worker-1 killed by a person (requeued)\n\n\
         each worker stops its agent at its next heartbeat; see where they stand with `colony list`\n"
    );
    let detail = repo.json(&["show", "db-schema"]);
    assert_eq!((detail["status"].as_str(), detail["tries"].as_u64()), (Some("ready"), Some(1)));
    assert_eq!(detail["attempts"][0]["outcome"], "killed");
    assert_eq!(detail["attempts"][0]["reason"], "killed by a person");
    let killed = repo.events().into_iter().find(|e| e["type"] == "killed").expect("a killed event");
    assert_eq!(killed["text"], "attempt 1 of worker-1 killed by a person (requeued)");
    let shown = repo.stdout(&["show", "db-schema"], 0);
    assert!(shown.contains("killed: killed by a person"), "{shown}");
    assert!(shown.contains("attempt 1 of worker-1 killed by a person (requeued)"), "{shown}");
}

/// A real run whose agent blocks: `colony kill` takes its lease, the
/// worker finds it gone and stops the agent, and the task's next try runs
/// and finishes once the test lets it.
#[test]
fn a_kill_stops_a_running_agent_and_the_task_runs_again() {
    let repo =
        TestRepo::for_runs("[run]\nagent = \"fake\"\nlease = \"3s\"\nbackoff_base = \"1s\"\nbackoff_cap = \"1s\"\n");
    let release = repo.base().join("release");
    let plan = repo.write_plan(
        "k.yaml",
        &format!("name: k\ntasks:\n  - id: a\n    prompt: p\n    fake: {{wait_for: {}}}\n", release.display()),
    );
    let mut run = Background::start(&repo, &["run", &plan]);
    run.wait_for_line("attempt 1 claimed", |line| line.contains("attempt 1 claimed").then_some(()));
    let out = repo.stdout(&["kill", "a"], 0);
    assert!(out.contains("attempt 1 of") && out.contains("killed by a person (requeued)"), "{out}");
    run.wait_for_line("attempt 2 claimed", |line| line.contains("attempt 2 claimed").then_some(()));
    std::fs::write(&release, "go").unwrap();
    let (code, stdout, stderr) = run.finish();
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let kinds: Vec<(String, u64)> = repo
        .events()
        .into_iter()
        .filter(|e| e["task"] == "a" && e["attempt"].is_u64())
        .map(|e| (e["type"].as_str().unwrap().to_owned(), e["attempt"].as_u64().unwrap()))
        .filter(|(kind, _)| ["claimed", "killed", "completed", "lease_expired"].contains(&kind.as_str()))
        .collect();
    let expected = [("claimed", 1), ("killed", 1), ("claimed", 2), ("completed", 2)];
    assert_eq!(kinds, expected.map(|(k, n)| (k.to_owned(), n)));
    let detail = repo.json(&["show", "a"]);
    assert_eq!((detail["attempts"][0]["outcome"].as_str(), detail["status"].as_str()), (Some("killed"), Some("done")));
}

/// A reader that goes away is no error and no panic: `colony completions
/// bash | head -1`, `colony events | head`. The pipe's read end is closed
/// before colony starts, so its first write meets it closed.
#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let repo = TestRepo::with_auth_plan();
    for args in [&["completions", "bash"][..], &["events"], &["list"], &["show", "db-schema", "--json"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = repo.command(args).stdout(writer).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!((out.status.code(), stderr.as_ref()), (Some(0), ""), "colony {}", args.join(" "));
    }
}

#[test]
fn show_gives_each_attempts_agent_session_and_how_to_resume_it() {
    let repo = TestRepo::with_auth_plan();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = SqlStore::open_sqlite(&repo.db(), Arc::new(SystemClock)).await.unwrap();
        let claim = store.claim("worker-1", Duration::from_secs(600)).await.unwrap().unwrap();
        store.record_session(&claim.task, claim.attempt, "5f1c-session").await.unwrap();
        store.close().await;
    });
    let detail = repo.json(&["show", "db-schema"]);
    assert_eq!(detail["attempts"][0]["session"], "5f1c-session");
    let shown = repo.stdout(&["show", "db-schema"], 0);
    assert!(shown.contains("      agent session 5f1c-session\n"), "{shown}");
    assert!(shown.contains("`claude --resume 5f1c-session`"), "{shown}");
}
