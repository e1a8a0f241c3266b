//! `colony worker` on one machine's store: it takes its agents from the
//! configuration, so a worker started before any plan runs the plan's
//! tasks with the built-in agent `[run] agent` names; and a configuration
//! it cannot run with stops it before it claims anything.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

use crate::agents::Fakes;

/// Two chained tasks for the default agent.
const PLAN: &str = "name: p\ntasks:\n  - id: a\n    prompt: Write a.txt\n    fake: {write: {a.txt: \"a\\n\"}}\n  - id: b\n    prompt: Write b.txt\n    deps: [a]\n    fake: {write: {b.txt: \"b\\n\"}}\n";

/// The built-in `claude`, named only as `[run] agent`; one try a task, so
/// a task given to no agent fails at once.
const CONFIG: &str = "[run]\nagent = \"claude\"\nmax_attempts = 1\n";

#[test]
fn a_worker_started_before_the_plan_runs_it_with_the_built_in_default_agent() {
    let fakes = Fakes::new(CONFIG);
    let mut worker =
        fakes.command(&["worker", "-j", "1"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdout = BufReader::new(worker.stdout.take().unwrap());
    let mut joined = String::new();
    stdout.read_line(&mut joined).unwrap();
    assert!(joined.starts_with("joining a run (no plan added yet)"), "{joined}");

    let plan = fakes.repo.write_plan("p.yaml", PLAN);
    fakes.repo.colony(&["add", &plan]).success();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let out = worker.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{joined}{rest}\n{stderr}");
    for id in ["a", "b"] {
        let task = fakes.repo.json(&["show", id]);
        assert_eq!(task["status"], "done", "{task}");
    }
    assert_eq!(fakes.repo.git_out(&["show", "colony/p:b.txt"]), "b\n");
}

#[test]
fn a_worker_whose_configuration_is_broken_stops_before_any_claim() {
    let fakes = Fakes::new(CONFIG);
    let plan = fakes.repo.write_plan("p.yaml", PLAN);
    fakes.repo.colony(&["add", &plan]).success();
    std::fs::write(fakes.repo.root().join("colony.toml"), "[run]\nagent = \"claud\"\n").unwrap();

    let out = fakes.command(&["worker"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("colony.toml:2: [run] agent: no agent `claud` is configured; did you mean `claude`?"),
        "{stderr}"
    );
    let events = fakes.repo.events();
    assert!(!events.is_empty() && events.iter().all(|e| e["type"] != "claimed"), "{events:?}");
}
