//! One test per kind of refusal, checking the file, line, task and message
//! each error carries, in every format where the parsers differ.

use std::time::{Duration, Instant};

use super::super::Format::{self, Json, Toml, Yaml};
use super::super::{MAX_PLAN_BYTES, PlanError, load, parse};
use super::{accepted, parse_as, refused};
use crate::branch::DEFAULT_INTEGRATION;
use crate::id::IdError;

/// The errors of a refused plan, as data.
fn errors(format: Format, text: &str) -> Vec<PlanError> {
    parse_as(format, text).expect_err("plan should be refused").0
}

/// (line, task, message) of each error, to compare in one assertion.
fn summary(format: Format, text: &str) -> Vec<(Option<usize>, Option<String>, String)> {
    errors(format, text).into_iter().map(|e| (e.line, e.task, e.message)).collect()
}

fn at(line: usize, task: Option<&str>, message: &str) -> (Option<usize>, Option<String>, String) {
    (Some(line), task.map(str::to_owned), message.to_owned())
}

#[test]
fn syntax_errors_carry_the_parsers_line_in_every_format() {
    let yaml = errors(Yaml, "name: p\ntasks:\n  - id: a\n    prompt: [x\n  - id: b\n");
    let toml = errors(Toml, "name = \"p\"\n\n[[tasks]]\nid = \"a\"\nprompt = \"x\n");
    let json = errors(Json, "{\n  \"tasks\": [\n    {\"id\": \"a\",, \"prompt\": \"x\"}\n  ]\n}\n");
    for (errors, line) in [(yaml, 5), (toml, 5), (json, 3)] {
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, Some(line), "{}", errors[0]);
        assert!(!errors[0].message.contains('\n'), "one line: {}", errors[0].message);
    }
}

#[test]
fn unknown_fields_are_refused_with_a_suggestion_in_every_format() {
    let expected = |line| vec![at(line, Some("b"), "unknown field `dep`; did you mean `deps`?")];
    let yaml = "tasks:\n  - id: a\n    prompt: x\n  - id: b\n    prompt: y\n    dep: [a]\n";
    let toml = "[[tasks]]\nid = \"a\"\nprompt = \"x\"\n\n[[tasks]]\nid = \"b\"\nprompt = \"y\"\ndep = [\"a\"]\n";
    let json = "{\"tasks\": [\n {\"id\": \"a\", \"prompt\": \"x\"},\n {\"id\": \"b\", \"prompt\": \"y\",\n  \"dep\": [\"a\"]}\n]}";
    assert_eq!(summary(Yaml, yaml), expected(6));
    assert_eq!(summary(Toml, toml), expected(8));
    assert_eq!(summary(Json, json), expected(4));
}

#[test]
fn an_unknown_field_stops_parsing_at_the_first() {
    let plan = "tasks:\n  - id: a\n    prompt: x\n    colour: red\n    flavour: sweet\n  - id: a\n    prompt: y\n";
    let errors = errors(Yaml, plan);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.starts_with("unknown field `colour`"), "{}", errors[0]);
}

#[test]
fn plan_level_unknown_fields_name_no_task() {
    let after_tasks = summary(Yaml, "tasks:\n  - id: a\n    prompt: x\nnmae: p\n");
    assert_eq!(after_tasks, vec![at(4, None, "unknown field `nmae`; did you mean `name`?")]);
    let in_defaults = summary(Json, "{\"defaults\": {\"agnet\": \"x\"}, \"tasks\": []}");
    assert_eq!(in_defaults, vec![at(1, None, "unknown field `agnet`; did you mean `agent`?")]);
}

#[test]
fn errors_in_one_line_json_are_placed_by_column() {
    let in_second = r#"{"tasks": [{"id": "a", "prompt": "x"}, {"id": "b", "prompt": "y", "dep": []}]}"#;
    assert_eq!(summary(Json, in_second), vec![at(1, Some("b"), "unknown field `dep`; did you mean `deps`?")]);
    let before_tasks = r#"{"defaults": {"timout": 5}, "tasks": [{"id": "a", "prompt": "x"}]}"#;
    assert_eq!(summary(Json, before_tasks), vec![at(1, None, "unknown field `timout`; did you mean `timeout`?")]);
    let after_tasks = r#"{"tasks": [{"id": "a", "prompt": "x"}], "base": 5}"#;
    assert_eq!(summary(Json, after_tasks)[0].1, None);
}

#[test]
fn duplicate_ids_name_both_lines_in_every_format() {
    let yaml = "tasks:\n  - id: a\n    prompt: x\n  - id: a\n    prompt: y\n  - id: a\n    prompt: z\n";
    assert_eq!(
        summary(Yaml, yaml),
        vec![at(4, None, "duplicate id `a` (first at line 2)"), at(6, None, "duplicate id `a` (first at line 2)"),]
    );
    let toml = "[[tasks]]\nid = \"a\"\nprompt = \"x\"\n[[tasks]]\nid = \"a\"\nprompt = \"y\"\n";
    assert_eq!(summary(Toml, toml), vec![at(4, None, "duplicate id `a` (first at line 1)")]);
    let json = "{\"tasks\": [\n{\"id\": \"a\", \"prompt\": \"x\"},\n{\"id\": \"a\", \"prompt\": \"y\"}]}";
    assert_eq!(summary(Json, json), vec![at(3, None, "duplicate id `a` (first at line 2)")]);
}

#[test]
fn every_unknown_and_self_dependency_is_reported() {
    let plan =
        "tasks:\n  - id: db\n    prompt: x\n    deps: [db]\n  - id: api\n    prompt: y\n    deps: [dbb, cache]\n";
    assert_eq!(
        summary(Yaml, plan),
        vec![
            at(2, Some("db"), "depends on itself"),
            at(5, Some("api"), "unknown dependency `dbb`; did you mean `db`?"),
            at(5, Some("api"), "unknown dependency `cache`"),
        ]
    );
}

#[test]
fn a_cycle_is_printed_as_a_path() {
    let plan = "tasks:\n  - id: a\n    prompt: x\n    deps: [b]\n  - id: b\n    prompt: x\n    deps: [c]\n  - id: c\n    prompt: x\n    deps: [a]\n";
    assert_eq!(summary(Yaml, plan), vec![at(2, Some("a"), "is in a dependency cycle: a -> b -> c -> a")]);
    let json = r#"{"tasks": [{"id": "x", "prompt": "p", "deps": ["y"]}, {"id": "y", "prompt": "p", "deps": ["x"]}]}"#;
    assert_eq!(summary(Json, json), vec![at(1, Some("x"), "is in a dependency cycle: x -> y -> x")]);
}

#[test]
fn cycles_are_not_checked_while_a_dependency_is_unknown() {
    let plan = "tasks:\n  - id: a\n    prompt: x\n    deps: [b, zz]\n  - id: b\n    prompt: x\n    deps: [a]\n";
    assert_eq!(summary(Yaml, plan), vec![at(2, Some("a"), "unknown dependency `zz`")]);
}

#[test]
fn ids_outside_the_alphabet_are_refused_with_the_id_error() {
    let plan = "tasks:\n  - id: ../x\n    prompt: x\n  - id: has space\n    prompt: x\n  - id: \"\"\n    prompt: x\n";
    let messages: Vec<String> = errors(Yaml, plan).into_iter().map(|e| e.message).collect();
    let expected = [
        IdError::BadChar { id: "../x".into(), ch: '/' },
        IdError::BadChar { id: "has space".into(), ch: ' ' },
        IdError::Empty,
    ];
    assert_eq!(messages, expected.map(|e| e.to_string()));
}

#[test]
fn a_task_without_an_id_is_refused_by_position() {
    assert_eq!(
        summary(Yaml, "tasks:\n  - id: a\n    prompt: x\n  - prompt: y\n"),
        vec![at(4, None, "task number 2 has no `id`")]
    );
}

#[test]
fn ids_are_strings_or_integers() {
    let yaml = accepted(
        Yaml,
        "tasks:\n  - {id: 1, prompt: x}\n  - {id: 2.6, prompt: x, deps: [1]}\n  - {id: 1.10, prompt: x}\n",
    );
    let ids: Vec<&str> = yaml.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["1", "2.6", "1.10"], "YAML keeps the text as written");
    assert_eq!(yaml.tasks[1].deps[0].as_str(), "1");
    let toml = accepted(Toml, "[[tasks]]\nid = 1\nprompt = \"x\"\n[[tasks]]\nid = \"2\"\nprompt = \"x\"\ndeps = [1]\n");
    assert_eq!(toml.tasks[1].deps[0].as_str(), "1");
    let json = accepted(Json, r#"{"tasks": [{"id": 7, "prompt": "x"}, {"id": "8", "prompt": "x", "deps": [7]}]}"#);
    assert_eq!(json.tasks[0].id.as_str(), "7");
    let float = summary(Json, r#"{"tasks": [{"id": 2.5, "prompt": "x"}]}"#);
    assert_eq!(float, vec![at(1, None, "invalid type: floating point `2.5`, expected a string or an integer")]);
}

#[test]
fn empty_or_missing_prompts_are_refused() {
    let plan = "tasks:\n  - id: a\n    prompt: \"  \\n\\t\"\n  - id: b\n    title: B\n";
    assert_eq!(summary(Yaml, plan), vec![at(2, Some("a"), "`prompt` is empty"), at(4, Some("b"), "has no `prompt`")]);
    let amplifier = "tasks:\n  - id: a\n    name: A\n    description: \"\"\n";
    assert_eq!(summary(Yaml, amplifier), vec![at(2, Some("a"), "`description` is empty")]);
}

#[test]
fn a_plan_needs_tasks() {
    for (format, text) in [(Yaml, "name: p\ntasks: []\n"), (Toml, "name = \"p\"\n"), (Json, "{}")] {
        let e = errors(format, text);
        assert_eq!((e.len(), e[0].message.as_str(), e[0].line), (1, "plan has no tasks", None));
    }
    assert_eq!(refused(Yaml, " \n\n"), "plan.yaml: plan file is empty");
}

#[test]
fn durations_are_checked_and_all_reported() {
    let plan = "defaults:\n  timeout: soon\ntasks:\n  - id: a\n    prompt: x\n    timeout: 0\n  - id: b\n    prompt: x\n    timeout: 1h 30m\n  - id: c\n    prompt: x\n    timeout: -1\n";
    let errors = errors(Yaml, plan);
    let places: Vec<_> = errors.iter().map(|e| (e.line, e.task.as_deref())).collect();
    assert_eq!(places, [(Some(2), None), (Some(4), Some("a")), (Some(10), Some("c"))]);
    assert!(errors[0].message.starts_with("defaults: bad `timeout`: `soon` is not a duration"), "{}", errors[0]);
    assert_eq!(errors[1].message, "`timeout` is zero; it must be more than zero");
    let good = accepted(Toml, "[defaults]\ntimeout = \"30m\"\n[[tasks]]\nid = \"a\"\nprompt = \"x\"\ntimeout = 90\n");
    assert_eq!(good.defaults.timeout, Some(Duration::from_secs(1800)));
    assert_eq!(good.tasks[0].timeout, Some(Duration::from_secs(90)));
}

#[test]
fn estimated_hours_must_be_finite_and_not_negative() {
    let yaml = "tasks:\n  - {id: a, prompt: x, estimated_hours: .nan}\n  - {id: b, prompt: x, estimated_hours: -1.5}\n  - {id: c, prompt: x, estimated_hours: 0}\n";
    let tasks: Vec<_> = errors(Yaml, yaml).into_iter().map(|e| e.task).collect();
    assert_eq!(tasks, [Some("a".to_owned()), Some("b".to_owned())]);
    let toml = "[[tasks]]\nid = \"a\"\nprompt = \"x\"\nestimated_hours = inf\n";
    assert_eq!(
        summary(Toml, toml),
        vec![at(1, Some("a"), "`estimated_hours` is inf; give a finite number of hours, 0 or more")]
    );
}

#[test]
fn max_attempts_of_zero_is_refused_in_defaults_and_tasks() {
    let plan = r#"{"defaults": {"max_attempts": 0},
 "tasks": [{"id": "a", "prompt": "x", "max_attempts": 0}, {"id": "b", "prompt": "x", "max_attempts": 1}]}"#;
    assert_eq!(
        summary(Json, plan),
        vec![
            at(1, None, "defaults: `max_attempts` is 0; a task needs at least 1 attempt"),
            at(2, Some("a"), "`max_attempts` is 0; a task needs at least 1 attempt"),
        ]
    );
}

#[test]
fn priorities_take_integers_and_words_only() {
    let plan = "tasks:\n  - {id: a, prompt: x, priority: urgent}\n  - {id: b, prompt: x, priority: high}\n";
    assert_eq!(
        summary(Yaml, plan),
        vec![at(2, Some("a"), "`priority` `urgent` is not an integer or one of critical, high, medium, low")]
    );
}

#[test]
fn plan_names_are_checked_like_ids() {
    let named = summary(Yaml, "name: a/b\ntasks: [{id: a, prompt: x}]\n");
    assert_eq!(named[0].2, "bad plan name: id `a/b` has `/`; ids use only letters, digits, `.`, `_` and `-`");
    assert_eq!(named[0].0, Some(1));
    let from_file =
        parse("my plan.yaml", b"tasks: [{id: a, prompt: x}]", Yaml, "my plan", DEFAULT_INTEGRATION).unwrap_err();
    assert!(from_file.0[0].message.starts_with("bad plan name (taken from the file name): "), "{from_file}");
}

#[test]
fn invalid_utf8_names_the_line_of_the_first_bad_byte() {
    let bytes = b"tasks:\n  - id: a\n    prompt: caf\xe9\n";
    let e = parse("plan.yaml", bytes, Yaml, "plan", DEFAULT_INTEGRATION).unwrap_err();
    assert_eq!(e.to_string(), "plan.yaml:3: not valid UTF-8");
}

#[test]
fn oversized_files_are_refused_before_parsing() {
    // Not even valid YAML: the size is checked first.
    let big = vec![b'['; MAX_PLAN_BYTES + 1];
    let e = parse("plan.yaml", &big, Yaml, "plan", DEFAULT_INTEGRATION).unwrap_err();
    assert_eq!(e.to_string(), "plan.yaml: plan file is larger than the limit of 16 MiB");
}

/// Nine levels of anchors, each a list of nine of the one before: 9^9
/// (387 million) strings if every alias were expanded.
pub(super) fn billion_laughs(place: &str) -> String {
    let mut doc = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..=9 {
        let prev = format!("*a{}", i - 1);
        doc.push_str(&format!("a{i}: &a{i} [{}]\n", [prev.as_str(); 9].join(", ")));
    }
    match place {
        "top" => doc.replace("a0:", "x0:") + "tasks: [{id: a, prompt: x}]\n",
        _ => format!("tasks:\n  - id: a\n    prompt: x\n    files:\n      {}", doc.replace('\n', "\n      ")),
    }
}

#[test]
fn an_alias_bomb_is_refused_quickly() {
    for place in ["top", "in a task"] {
        let doc = billion_laughs(place);
        let start = Instant::now();
        let result = parse_as(Yaml, &doc);
        let took = start.elapsed();
        assert!(result.is_err(), "{place}: alias bomb accepted");
        // A bound, not a benchmark: expansion would take hours, so a
        // loose one holds on a busy machine and still catches it.
        assert!(took < Duration::from_secs(30), "{place}: took {took:?}");
    }
}

#[test]
fn load_takes_the_format_from_the_extension_and_the_name_from_the_stem() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("auth.yml");
    std::fs::write(&yaml, "tasks:\n  - id: a\n    prompt: x\n").unwrap();
    assert_eq!(load(&yaml, DEFAULT_INTEGRATION).unwrap().name.as_str(), "auth");
    let amplifier = dir.path().join("tasks.json");
    std::fs::write(&amplifier, r#"{"tasks": [{"id": "a", "name": "A", "description": "x"}]}"#).unwrap();
    let plan = load(&amplifier, DEFAULT_INTEGRATION).unwrap();
    assert_eq!((plan.name.as_str(), plan.tasks[0].title.as_str()), ("tasks", "A"));
    let named = dir.path().join("x.toml");
    std::fs::write(&named, "name = \"auth\"\n[[tasks]]\nid = \"a\"\nprompt = \"x\"\n").unwrap();
    assert_eq!(load(&named, DEFAULT_INTEGRATION).unwrap().name.as_str(), "auth");
}

#[test]
fn load_refuses_unknown_extensions_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let txt = dir.path().join("plan.txt");
    std::fs::write(&txt, "tasks: []").unwrap();
    let e = load(&txt, DEFAULT_INTEGRATION).unwrap_err();
    assert!(e.to_string().ends_with("plan.txt: unknown plan format `.txt`; use .yaml, .yml, .toml or .json"), "{e}");
    let bare = dir.path().join("plan");
    std::fs::write(&bare, "tasks: []").unwrap();
    assert!(load(&bare, DEFAULT_INTEGRATION).unwrap_err().to_string().contains("no file extension"));
    let missing = load(&dir.path().join("missing.yaml"), DEFAULT_INTEGRATION).unwrap_err();
    assert!(missing.to_string().contains("missing.yaml: cannot read the plan file: "), "{missing}");
}

#[test]
fn plan_names_that_make_branches_git_refuses_are_refused_at_the_name() {
    for (name, problem) in [
        ("a..b", "git refuses the integration branch `colony/a..b`: it contains `..`"),
        ("x.lock", "git refuses the integration branch `colony/x.lock`: its part `x.lock` ends with `.lock`"),
        (".x", "git refuses the integration branch `colony/.x`: its part `.x` starts with `.`"),
        ("a.", "git refuses the integration branch `colony/a.`: it ends with `.`"),
    ] {
        let plan = format!("name: {name}\ntasks:\n  - id: a\n    prompt: x\n");
        assert_eq!(summary(Yaml, &plan), vec![at(1, None, &format!("bad plan name: {problem}"))], "{name}");
    }
    let from_file = parse("a..b.yaml", b"tasks: [{id: a, prompt: x}]", Yaml, "a..b", DEFAULT_INTEGRATION).unwrap_err();
    assert!(from_file.to_string().contains("bad plan name (taken from the file name): git refuses"), "{from_file}");
}

#[test]
fn a_plan_name_is_checked_in_the_configured_pattern_and_in_task_branches() {
    let plan = b"name: .x\ntasks:\n  - id: a\n    prompt: x\n";
    let e = parse("p.yaml", plan, Yaml, "p", "int-{plan}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "p.yaml:1: bad plan name: git refuses its task branches, such as `colony-task/.x/t-a1`: its part `.x` starts with `.`"
    );
    let plan = b"name: x\ntasks:\n  - id: a\n    prompt: x\n";
    let e = parse("p.yaml", plan, Yaml, "p", "a.{plan}.").unwrap_err();
    assert_eq!(e.to_string(), "p.yaml:1: bad plan name: git refuses the integration branch `a.x.`: it ends with `.`");
}

#[test]
fn task_ids_that_make_branches_git_refuses_name_the_task_and_line() {
    let plan =
        "name: p\ntasks:\n  - id: ok.lock\n    prompt: x\n  - id: a..b\n    prompt: y\n  - id: .a\n    prompt: z\n";
    assert_eq!(
        summary(Yaml, plan),
        vec![
            at(5, Some("a..b"), "git refuses its branch `colony-task/p/a..b-a1`: it contains `..`"),
            at(7, Some(".a"), "git refuses its branch `colony-task/p/.a-a1`: its part `.a-a1` starts with `.`"),
        ]
    );
}
