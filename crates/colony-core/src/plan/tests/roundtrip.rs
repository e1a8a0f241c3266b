//! `colony export`: a plan written by `to_yaml` or `to_json` reads back equal.

use std::time::Duration;

use super::super::Format::{Json, Yaml};
use super::super::{to_json, to_yaml};
use super::accepted;
use crate::id::{PlanName, TaskId};
use crate::spec::{Approval, Defaults, Plan, Review, ReviewNone, TaskSpec};

fn id(s: &str) -> TaskId {
    TaskId::new(s).unwrap()
}

/// A plan with every field of the plan, its defaults and a task set.
fn everything() -> Plan {
    let mut full = TaskSpec::new(id("db-schema"), "Add users table", "Create the users table.\n\nThen test it.\n");
    full.acceptance = vec!["migration applies".into(), "- a dash".into()];
    full.files = vec!["migrations/**".into()];
    full.priority = -2;
    full.estimated_hours = Some(0.1);
    full.role = Some("migration".into());
    full.agent = Some("claude".into());
    full.model = Some("opus".into());
    full.review = Some(Review::Skip(ReviewNone::None));
    full.timeout = Some(Duration::from_millis(90_500));
    full.max_attempts = Some(1);
    full.approval = Some(Approval::Required);
    full.phase = Some("2".into());
    full.kind = Some("implementation".into());
    full.design_docs = vec!["docs/db.md".into()];
    full.fake = Some(serde_json::json!({
        "write": {"src/a.txt": "line\n", "weird: key": "true"},
        "exit": 3,
        "commit": true,
        "print": ["1", "null", ""],
        "nested": [{"a": null}],
    }));
    let mut odd = TaskSpec::new(id("1.10"), "null", " leading space, trailing  ");
    odd.deps = vec![id("db-schema")];
    odd.review = Some(Review::Agent { agent: "codex".into() });
    odd.acceptance = vec!["yes".into(), "".into(), "a: b".into(), "#x".into()];
    odd.phase = Some("true".into());
    Plan {
        name: PlanName::new("auth").unwrap(),
        base: Some("main".into()),
        defaults: Defaults {
            role: Some("tester".into()),
            agent: Some("claude".into()),
            model: Some("sonnet".into()),
            review: Some(Review::Agent { agent: "codex".into() }),
            timeout: Some(Duration::from_secs(5400)),
            max_attempts: Some(4),
            approval: Some(Approval::Auto),
        },
        tasks: vec![full, odd, TaskSpec::new(id("1"), "t", "p")],
    }
}

#[test]
fn a_plan_with_every_field_round_trips_through_yaml_and_json() {
    let plan = everything();
    assert_eq!(accepted(Yaml, &to_yaml(&plan)), plan, "yaml:\n{}", to_yaml(&plan));
    assert_eq!(accepted(Json, &to_json(&plan)), plan, "json:\n{}", to_json(&plan));
}

#[test]
fn a_minimal_plan_round_trips_and_exports_only_what_is_set() {
    let plan = Plan {
        name: PlanName::new("p").unwrap(),
        base: None,
        defaults: Defaults::default(),
        tasks: vec![TaskSpec::new(id("a"), "A", "do a")],
    };
    let yaml = to_yaml(&plan);
    assert_eq!(yaml, "name: p\ntasks:\n- id: a\n  title: A\n  prompt: do a\n");
    assert_eq!(accepted(Yaml, &yaml), plan);
    assert_eq!(accepted(Json, &to_json(&plan)), plan);
}

#[test]
fn an_imported_amplifier_plan_exports_as_native() {
    let amplifier = "tasks:\n  - id: \"2.6\"\n    name: N\n    description: D\n    priority: high\n    type: test\n    status: done\n    acceptance_criteria: \"- one\\n- two\"\n";
    let plan = accepted(Yaml, amplifier);
    let yaml = to_yaml(&plan);
    assert!(yaml.contains("kind: test") && yaml.contains("prompt: D"), "{yaml}");
    assert_eq!(accepted(Yaml, &yaml), plan);
}
