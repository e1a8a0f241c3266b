//! What accepted plans read as: the native dialect with every field, the
//! same plan in each format, amplifier-swarm's `tasks.yaml`, and defaults.

use std::time::Duration;

use super::super::Format::{Json, Toml, Yaml};
use super::super::{PlanError, parse};
use super::{accepted, parse_as};
use crate::branch::DEFAULT_INTEGRATION;
use crate::id::TaskId;
use crate::spec::{Approval, Review, ReviewNone};

const NATIVE_YAML: &str = r#"
name: auth
base: main
defaults:
  agent: claude
  model: sonnet
  review: { agent: codex }
  timeout: 30m
  max_attempts: 2
  approval: auto
tasks:
  - id: db-schema
    title: Add users table
    prompt: |
      Create the users table migration.
    acceptance: ["migration applies", "tests pass"]
    files: ["migrations/**", "src/db/**"]
    priority: high
    estimated_hours: 1.5
    phase: "1"
    kind: implementation
    design_docs: [docs/db.md]
  - id: login-api
    prompt: "Login endpoint\nwith sessions"
    deps: [db-schema]
    agent: codex
    model: gpt
    review: none
    timeout: 1h 30m
    max_attempts: 5
    approval: required
    priority: 7
"#;

const NATIVE_TOML: &str = r#"
name = "auth"
base = "main"

[defaults]
agent = "claude"
model = "sonnet"
review = { agent = "codex" }
timeout = "30m"
max_attempts = 2
approval = "auto"

[[tasks]]
id = "db-schema"
title = "Add users table"
prompt = """
Create the users table migration.
"""
acceptance = ["migration applies", "tests pass"]
files = ["migrations/**", "src/db/**"]
priority = "high"
estimated_hours = 1.5
phase = 1
kind = "implementation"
design_docs = ["docs/db.md"]

[[tasks]]
id = "login-api"
prompt = "Login endpoint\nwith sessions"
deps = ["db-schema"]
agent = "codex"
model = "gpt"
review = "none"
timeout = 5400
max_attempts = 5
approval = "required"
priority = 7
"#;

const NATIVE_JSON: &str = r#"{
  "name": "auth",
  "base": "main",
  "defaults": {"agent": "claude", "model": "sonnet", "review": {"agent": "codex"},
               "timeout": "30m", "max_attempts": 2, "approval": "auto"},
  "tasks": [
    {"id": "db-schema", "title": "Add users table",
     "prompt": "Create the users table migration.\n",
     "acceptance": ["migration applies", "tests pass"],
     "files": ["migrations/**", "src/db/**"], "priority": "high", "estimated_hours": 1.5,
     "phase": "1", "kind": "implementation", "design_docs": ["docs/db.md"]},
    {"id": "login-api", "prompt": "Login endpoint\nwith sessions", "deps": ["db-schema"],
     "agent": "codex", "model": "gpt", "review": "none", "timeout": "1h 30m",
     "max_attempts": 5, "approval": "required", "priority": 7}
  ]
}"#;

#[test]
fn a_native_plan_reads_every_field() {
    let plan = accepted(Yaml, NATIVE_YAML);
    assert_eq!((plan.name.as_str(), plan.base.as_deref()), ("auth", Some("main")));
    let d = &plan.defaults;
    assert_eq!((d.agent.as_deref(), d.model.as_deref()), (Some("claude"), Some("sonnet")));
    assert_eq!(d.review, Some(Review::Agent { agent: "codex".into() }));
    assert_eq!(
        (d.timeout, d.max_attempts, d.approval),
        (Some(Duration::from_secs(1800)), Some(2), Some(Approval::Auto))
    );

    let db = &plan.tasks[0];
    assert_eq!((db.id.as_str(), db.title.as_str()), ("db-schema", "Add users table"));
    assert_eq!(db.prompt, "Create the users table migration.\n");
    assert_eq!(db.acceptance, ["migration applies", "tests pass"]);
    assert_eq!(db.files, ["migrations/**", "src/db/**"]);
    assert_eq!((db.priority, db.estimated_hours), (2, Some(1.5)));
    assert_eq!((db.phase.as_deref(), db.kind.as_deref()), (Some("1"), Some("implementation")));
    assert_eq!(db.design_docs, ["docs/db.md"]);

    let api = &plan.tasks[1];
    assert_eq!(api.title, "Login endpoint", "title defaults to the prompt's first line");
    assert_eq!(api.deps, [TaskId::new("db-schema").unwrap()]);
    assert_eq!((api.agent.as_deref(), api.model.as_deref()), (Some("codex"), Some("gpt")));
    assert_eq!(api.review, Some(Review::Skip(ReviewNone::None)));
    assert_eq!((api.timeout, api.max_attempts), (Some(Duration::from_secs(5400)), Some(5)));
    assert_eq!((api.approval, api.priority), (Some(Approval::Required), 7));
}

#[test]
fn the_same_plan_reads_the_same_in_every_format() {
    let yaml = accepted(Yaml, NATIVE_YAML);
    assert_eq!(accepted(Toml, NATIVE_TOML), yaml);
    assert_eq!(accepted(Json, NATIVE_JSON), yaml);
}

#[test]
fn the_design_doc_example_reads() {
    let plan = accepted(
        Yaml,
        "name: auth\nbase: main\ndefaults:\n  agent: claude\n  review: { agent: codex }\n  timeout: 30m\ntasks:\n  - id: db-schema\n    title: Add users table\n    prompt: |\n      Create the users table migration ...\n    acceptance: [\"migration applies\", \"tests pass\"]\n    files: [\"migrations/**\", \"src/db/**\"]\n  - id: login-api\n    title: Login endpoint\n    prompt: ...\n    deps: [db-schema]\n    agent: codex\n    priority: 2\n",
    );
    assert_eq!(plan.tasks.len(), 2);
    assert_eq!(plan.tasks[1].priority, 2);
}

const AMPLIFIER: &str = r#"tasks:
  - id: "2.6.1.a"
    name: "Implement user authentication"
    phase: "implementation"
    type: "implementation"
    status: "not_started"
    priority: "high"
    estimated_hours: 2.5
    description: "Implement JWT-based authentication..."
    acceptance_criteria: "- Users can log in\n- Tokens expire after 24h"
    files:
      - "src/auth/authentication.py"
    design_docs:
      - "docs/auth-design.md"
  - id: "2.6.1.b"
    name: "Session storage"
    status: completed
    priority: critical
    description: "Store sessions."
    acceptance_criteria: ["Sessions survive a restart", "Old sessions expire"]
    dependencies: ["2.6.1.a"]
  - id: "2.6.2"
    description: "Tidy up.\nMore detail."
    priority: Low
    phase: 3
  - id: "2.6.3"
    description: "Polish."
    priority: medium
"#;

#[test]
fn amplifier_tasks_yaml_reads_with_its_own_names() {
    let plan =
        parse("tasks.yaml", AMPLIFIER.as_bytes(), Yaml, "tasks", DEFAULT_INTEGRATION).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.name.as_str(), "tasks", "named after the file");
    let [a, b, c, d] = &plan.tasks[..] else { panic!("four tasks: {plan:?}") };
    assert_eq!((a.id.as_str(), a.title.as_str()), ("2.6.1.a", "Implement user authentication"));
    assert_eq!(a.prompt, "Implement JWT-based authentication...");
    assert_eq!(a.acceptance, ["Users can log in", "Tokens expire after 24h"], "a string of `- ` lines");
    assert_eq!((a.priority, a.estimated_hours), (2, Some(2.5)));
    assert_eq!((a.phase.as_deref(), a.kind.as_deref()), (Some("implementation"), Some("implementation")));
    assert_eq!(
        (a.files.as_slice(), a.design_docs.as_slice()),
        (&["src/auth/authentication.py".to_owned()][..], &["docs/auth-design.md".to_owned()][..])
    );
    assert_eq!(b.acceptance, ["Sessions survive a restart", "Old sessions expire"], "a list");
    assert_eq!(b.deps, [TaskId::new("2.6.1.a").unwrap()]);
    assert_eq!(b.priority, 3);
    assert_eq!((c.title.as_str(), c.priority, c.phase.as_deref()), ("Tidy up.", 0, Some("3")));
    assert_eq!(d.priority, 1);
}

#[test]
fn amplifier_plans_are_recognised_in_toml_and_json() {
    let toml = "[[tasks]]\nid = \"a\"\nname = \"A\"\ndescription = \"do a\"\npriority = \"critical\"\ntype = \"test\"\nstatus = \"done\"\n";
    let json = r#"{"tasks": [{"id": "a", "name": "A", "description": "do a", "priority": "critical", "type": "test", "status": "done"}]}"#;
    for plan in [accepted(Toml, toml), accepted(Json, json)] {
        let t = &plan.tasks[0];
        assert_eq!(
            (t.title.as_str(), t.prompt.as_str(), t.priority, t.kind.as_deref()),
            ("A", "do a", 3, Some("test"))
        );
    }
}

/// The first error's message.
fn first_message(errors: Vec<PlanError>) -> String {
    errors.into_iter().next().expect("at least one error").message
}

#[test]
fn plan_settings_make_a_plan_native_whatever_its_tasks_say() {
    let e = parse_as(Yaml, "name: p\ntasks:\n  - id: a\n    description: x\n").unwrap_err();
    assert_eq!(first_message(e.0), "unknown field `description`; did you mean `prompt`?");
    // And amplifier plans have nothing but tasks.
    let e = parse_as(Yaml, "tasks:\n  - id: a\n    description: x\n    timeout: 5m\n").unwrap_err();
    assert!(first_message(e.0).starts_with("unknown field `timeout`; expected one of `id`, `name`, `description`"));
}

#[test]
fn titles_default_to_the_first_prompt_line_cut_to_72_chars() {
    let long = "x".repeat(100);
    let plan = accepted(
        Yaml,
        &format!(
            "tasks:\n  - id: a\n    prompt: \"\\n\\n   {long}  \\nrest\"\n  - id: b\n    title: '  '\n    prompt: '  short  '\n"
        ),
    );
    assert_eq!(plan.tasks[0].title, "x".repeat(72));
    assert_eq!(plan.tasks[1].title, "short", "a blank title counts as none");
}

#[test]
fn a_fake_block_is_kept_as_written_in_every_format() {
    let yaml = "tasks:\n  - id: a\n    prompt: x\n    fake:\n      write: {src/a.txt: \"a\\n\"}\n      exit: 1\n      print: [one, two]\n";
    let toml = "[[tasks]]\nid = \"a\"\nprompt = \"x\"\n[tasks.fake]\nwrite = { \"src/a.txt\" = \"a\\n\" }\nexit = 1\nprint = [\"one\", \"two\"]\n";
    let json = r#"{"tasks": [{"id": "a", "prompt": "x",
        "fake": {"write": {"src/a.txt": "a\n"}, "exit": 1, "print": ["one", "two"]}}]}"#;
    let expected = serde_json::json!({"write": {"src/a.txt": "a\n"}, "exit": 1, "print": ["one", "two"]});
    for (format, text) in [(Yaml, yaml), (Toml, toml), (Json, json)] {
        assert_eq!(accepted(format, text).tasks[0].fake, Some(expected.clone()), "{format:?}");
    }
}

#[test]
fn fake_is_a_native_field_only() {
    let amplifier = "tasks:\n  - id: a\n    description: x\n    fake: {exit: 1}\n";
    let errors = parse_as(Yaml, amplifier).expect_err("refused").0;
    assert!(errors[0].message.starts_with("unknown field `fake`"), "{}", errors[0]);
}

#[test]
fn empty_lists_and_nulls_read_as_absent() {
    let plan = accepted(Yaml, "tasks:\n  - id: a\n    prompt: x\n    deps:\n    files: []\n    agent: ~\n");
    let t = &plan.tasks[0];
    assert!(t.deps.is_empty() && t.files.is_empty() && t.agent.is_none());
}

#[test]
fn amplifier_exports_import_with_their_bookkeeping_ignored() {
    let export = "version: \"1.0\"\nexported_at: \"2026-01-26T10:00:00\"\nsummary: {total: 1, completed: 1}\ntasks:\n  - id: a\n    name: A\n    description: do a\n    status: completed\n    completed_at: \"2026-01-26T09:00:00\"\n    retry_count: 2\n    last_error: null\n";
    let plan =
        parse("tasks.yaml", export.as_bytes(), Yaml, "tasks", DEFAULT_INTEGRATION).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((plan.tasks[0].id.as_str(), plan.tasks[0].prompt.as_str()), ("a", "do a"));
    let native = "name: p\nversion: 1\ntasks:\n  - id: a\n    prompt: do a\n";
    let err = parse("p.yaml", native.as_bytes(), Yaml, "p", DEFAULT_INTEGRATION).unwrap_err().to_string();
    assert!(err.contains("unknown field `version`"), "only amplifier plans carry it: {err}");
}
