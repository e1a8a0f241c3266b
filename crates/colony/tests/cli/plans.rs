//! Importing plans and reading them back: add, list, show, status, events,
//! export.

use crate::repo::{TestRepo, example};
use crate::snap;

fn auth_text() -> String {
    std::fs::read_to_string(example("auth.yaml")).unwrap()
}

#[test]
fn add_then_read_everything_back() {
    let repo = TestRepo::initialized();
    let plan = repo.write_plan("auth.yaml", &auth_text());
    snap!(&repo, "add_auth", repo.stdout(&["add", &plan], 0));
    snap!(&repo, "list_auth", repo.stdout(&["list"], 0));
    snap!(&repo, "show_login_api", repo.stdout(&["show", "login-api"], 0));
    snap!(&repo, "status_auth", repo.stdout(&["status"], 0));
    snap!(&repo, "events_auth", repo.stdout(&["events"], 0));
}

#[test]
fn tables_fit_80_columns() {
    let repo = TestRepo::initialized();
    let long = format!(
        "name: wide\ntasks:\n  - id: {}\n    title: {}\n    prompt: p\n  - id: b\n    prompt: q\n    deps: [{}]\n",
        "x".repeat(64),
        "A title that goes on and on ".repeat(5),
        "x".repeat(64)
    );
    let plan = repo.write_plan("wide.yaml", &long);
    repo.colony(&["add", &plan]).success();
    repo.colony(&["cancel", &"x".repeat(64)]).success();
    let list = repo.stdout(&["list"], 0);
    for line in list.lines() {
        assert!(line.chars().count() <= 80, "{line:?}");
    }
    assert!(list.contains('…'), "{list}");
}

#[test]
fn amplifier_plans_load_and_export_round_trips() {
    let repo = TestRepo::initialized();
    let plan =
        repo.write_plan("amplifier-tasks.yaml", &std::fs::read_to_string(example("amplifier-tasks.yaml")).unwrap());
    let out = repo.stdout(&["add", &plan], 0);
    assert!(out.starts_with("plan amplifier-tasks: 4 added\n"), "{out}");
    let show = repo.stdout(&["show", "2.1"], 0);
    assert!(show.contains("depends on  1.1 (ready)"), "{show}");
    assert!(show.contains("type        backend"), "{show}");

    repo.colony(&["export", "-o", "exported.yaml"]).success();
    let again = repo.stdout(&["add", "exported.yaml"], 0);
    assert_eq!(again, "plan amplifier-tasks: already up to date (4 tasks)\n");
}

#[test]
fn export_round_trips_in_yaml_and_json() {
    let repo = TestRepo::with_auth_plan();
    let yaml = repo.stdout(&["export"], 0);
    snap!(&repo, "export_auth_yaml", yaml.clone());
    let before = repo.events().len();

    let path = repo.write_plan("exported.yaml", &yaml);
    assert_eq!(repo.stdout(&["add", &path], 0), "plan auth: already up to date (6 tasks)\n");

    let out = repo.stdout(&["export", "--plan", "auth", "--format", "json", "-o", "plans/exported.json"], 0);
    assert_eq!(out, "wrote plan auth (6 tasks) to plans/exported.json\n");
    assert_eq!(repo.stdout(&["add", "plans/exported.json"], 0), "plan auth: already up to date (6 tasks)\n");
    assert_eq!(repo.events().len(), before, "re-adding an export wrote events");
}

#[test]
fn export_needs_a_plan_name_when_there_are_several() {
    let repo = TestRepo::with_auth_plan();
    let other = repo.write_plan("other.yaml", "tasks:\n  - id: solo\n    prompt: do one thing\n");
    repo.colony(&["add", &other]).success();
    let err = repo.stderr(&["export"], 2);
    assert_eq!(err, "error: the store has several plans; choose one with --plan: auth, other\n");
    let err = repo.stderr(&["export", "--plan", "nope"], 2);
    assert_eq!(err, "error: no plan `nope` in the store\n");
    assert!(repo.stdout(&["export", "--plan", "other"], 0).contains("id: solo"));
}

#[test]
fn adding_the_same_plan_twice_changes_nothing() {
    let repo = TestRepo::with_auth_plan();
    let before = repo.events();
    let out = repo.stdout(&["add", "plans/auth.yaml"], 0);
    assert_eq!(out, "plan auth: already up to date (6 tasks)\n");
    assert_eq!(repo.events(), before);
}

#[test]
fn re_adding_a_changed_waiting_task_updates_it() {
    let repo = TestRepo::with_auth_plan();
    let before = repo.events().len();
    let changed = auth_text().replace("title: Login and logout endpoints", "title: Log in and out");
    repo.write_plan("auth.yaml", &changed);
    let out = repo.stdout(&["add", "plans/auth.yaml"], 0);
    snap!(&repo, "add_changed_pending", out);

    let events = repo.events();
    assert_eq!(events.len(), before + 1, "{events:#?}");
    let last = events.last().unwrap();
    assert_eq!(last["type"], "task_updated");
    assert_eq!(last["task"], "login-api");
    assert_eq!(last["forced"], false);
    assert!(repo.stdout(&["list"], 0).contains("Log in and out"));
}

#[test]
fn re_adding_names_tasks_no_longer_in_the_file() {
    let repo = TestRepo::with_auth_plan();
    let text = auth_text();
    let cut = text.find("  - id: login-page").unwrap();
    repo.write_plan("auth.yaml", &text[..cut]);
    let out = repo.stdout(&["add", "plans/auth.yaml"], 0);
    assert_eq!(
        out,
        "plan auth: already up to date (5 tasks)\n  no longer in the file but kept in the store: login-page\n"
    );
}

#[test]
fn add_prints_json_reports() {
    let repo = TestRepo::initialized();
    let plan = repo.write_plan("auth.yaml", &auth_text());
    let reports = repo.json(&["add", &plan]);
    assert_eq!(reports[0]["plan"], "auth");
    assert_eq!(reports[0]["new_plan"], true);
    assert_eq!(reports[0]["added"].as_array().unwrap().len(), 6);
}

#[test]
fn json_output_of_the_read_commands() {
    let repo = TestRepo::with_auth_plan();
    let list = repo.json(&["list"]);
    assert_eq!(list.as_array().unwrap().len(), 6);
    assert_eq!(list[0]["id"], "db-schema");
    assert_eq!(list[0]["status"], "ready");

    let show = repo.json(&["show", "signup-api"]);
    assert_eq!(show["spec"]["deps"], serde_json::json!(["db-schema", "password-hashing", "sessions"]));
    assert_eq!(show["dependents"], serde_json::json!(["login-page"]));

    let status = repo.json(&["status"]);
    assert_eq!(status["counts"]["total"], 6);
    assert_eq!(status["counts"]["by_status"]["ready"], 2);
    assert_eq!(status["plans"][0]["name"], "auth");

    let events = repo.events();
    assert_eq!(events[0]["type"], "plan_added");
    assert_eq!(events[0]["seq"], 1);
}

#[test]
fn list_filters_by_status_and_plan() {
    let repo = TestRepo::with_auth_plan();
    let ready = repo.stdout(&["list", "--status", "ready"], 0);
    assert!(ready.contains("db-schema") && ready.contains("password-hashing"), "{ready}");
    assert!(!ready.contains("login-api"), "{ready}");
    let both = repo.json(&["list", "--status", "ready,pending", "--plan", "auth"]);
    assert_eq!(both.as_array().unwrap().len(), 6);
    assert_eq!(
        repo.stdout(&["list", "-s", "failed"], 0),
        "no tasks match; `colony list` without filters shows them all\n"
    );

    let err = repo.stderr(&["list", "--status", "stuck"], 2);
    snap!(&repo, "list_bad_status", err);
    let err = repo.stderr(&["list", "--plan", "billing"], 2);
    assert_eq!(err, "error: no plan `billing`; the store has: auth\n");
}

#[test]
fn show_of_an_unknown_task_is_bad_input() {
    let repo = TestRepo::with_auth_plan();
    assert_eq!(repo.stderr(&["show", "nope"], 2), "error: no task `nope`; see `colony list`\n");
}

#[test]
fn an_empty_store_says_what_to_do() {
    let repo = TestRepo::initialized();
    assert_eq!(repo.stdout(&["list"], 0), "no tasks yet; add a plan with `colony add PLAN`\n");
    assert_eq!(repo.stdout(&["list", "--json"], 0), "[]\n");
    assert_eq!(repo.stdout(&["status"], 0), "no plans yet; add one with `colony add PLAN`\n");
    assert_eq!(repo.stdout(&["events"], 0), "no events yet; add a plan with `colony add PLAN`\n");
    assert_eq!(repo.stdout(&["events", "--json"], 0), "");
    let err = repo.stderr(&["export"], 2);
    assert_eq!(err, "error: the store has no plans to export; add one with `colony add PLAN`\n");
}

#[test]
fn events_since_skips_what_was_seen() {
    let repo = TestRepo::with_auth_plan();
    let all = repo.events();
    let out = repo.stdout(&["events", "--since", "7", "--json"], 0);
    let later: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(later, all[7..].to_vec());
}

#[test]
fn events_follow_prints_new_events_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    /// Kills the follower if the test fails before it is stopped.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    let repo = TestRepo::with_auth_plan();
    let mut child = Reap(repo.command(&["events", "-f"]).stdout(Stdio::piped()).spawn().unwrap());
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let last_before = repo.events().len();
    for _ in 0..last_before {
        lines.next().unwrap().unwrap();
    }
    repo.colony(&["cancel", "login-page"]).success();
    // Waits for the follower to print the new event: no sleeping.
    let line = lines.next().unwrap().unwrap();
    assert!(line.contains("login-page") && line.ends_with("cancelled"), "{line}");

    // The follower installed its handlers before it printed anything.
    let kill = std::process::Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "events -f should exit 0 on SIGTERM");
}

/// Ten thousand tasks in one plan: one add, and status and list read them
/// back. (How fast is measured by `colony-bench run`, not here.)
#[test]
fn ten_thousand_tasks_add_in_one_go() {
    let repo = TestRepo::initialized();
    let mut plan = String::from("name: big\ntasks:\n");
    for i in 0..10_000 {
        plan.push_str(&format!("  - id: t{i}\n    prompt: step {i}\n"));
        if i % 10 != 0 {
            plan.push_str(&format!("    deps: [t{}]\n", i - 1));
        }
    }
    let path = repo.write_plan("big.yaml", &plan);
    repo.colony(&["add", &path]).success();
    let status = repo.json(&["status"]);
    assert_eq!(status["counts"]["total"], 10_000, "{status}");
    assert_eq!(status["counts"]["by_status"]["ready"], 1_000, "{status}");
    let list = repo.json(&["list", "--status", "ready"]);
    assert_eq!(list.as_array().unwrap().len(), 1_000);
}
