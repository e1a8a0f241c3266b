//! Every kind of refusal, as the user sees it, in one snapshot to review.

use super::super::Format::{self, Json, Toml, Yaml};
use super::super::{MAX_PLAN_BYTES, parse};
use super::errors::billion_laughs;
use super::refused;
use crate::branch::DEFAULT_INTEGRATION;

/// (what the case shows, format, plan text)
const CASES: &[(&str, Format, &str)] = &[
    ("yaml syntax error", Yaml, "name: p\ntasks:\n  - id: a\n    prompt: x\n    deps: [b\n  - id: b\n"),
    ("toml syntax error", Toml, "name = \"p\"\n[[tasks]]\nid = \"a\"\nprompt = \n"),
    (
        "json syntax error",
        Json,
        "{\"tasks\": [\n  {\"id\": \"a\", \"prompt\": \"x\"},\n  {\"id\": \"b\" \"prompt\": \"y\"}\n]}\n",
    ),
    ("unknown task field, yaml", Yaml, "tasks:\n  - id: a\n    prompt: x\n  - id: b\n    prompt: y\n    dep: [a]\n"),
    (
        "unknown task field, toml",
        Toml,
        "[[tasks]]\nid = \"a\"\nprompt = \"x\"\n\n[[tasks]]\nid = \"b\"\nprompt = \"y\"\ndep = [\"a\"]\n",
    ),
    (
        "unknown task field, json",
        Json,
        "{\"tasks\": [\n  {\"id\": \"a\", \"prompt\": \"x\"},\n  {\"id\": \"b\", \"prompt\": \"y\",\n   \"dep\": [\"a\"]}\n]}\n",
    ),
    ("amplifier field in a native plan", Yaml, "name: p\ntasks:\n  - id: a\n    prompt: x\n    dependencies: []\n"),
    ("native field in an amplifier plan", Yaml, "tasks:\n  - id: a\n    description: x\n    deps: []\n"),
    ("unknown field, nothing close", Yaml, "tasks:\n  - id: a\n    prompt: x\n    depends_on: [b]\n"),
    ("unknown top-level field after the tasks", Yaml, "tasks:\n  - id: a\n    prompt: x\nversion: 2\n"),
    ("unknown field in defaults", Yaml, "defaults:\n  timout: 30m\ntasks:\n  - id: a\n    prompt: x\n"),
    ("unknown field in a review", Yaml, "tasks:\n  - id: a\n    prompt: x\n    review: { agnet: codex }\n"),
    (
        "wrong type in a task",
        Yaml,
        "tasks:\n  - id: a\n    prompt: x\n  - id: b\n    prompt: y\n    estimated_hours: lots\n",
    ),
    ("wrong type after the tasks", Yaml, "tasks:\n  - id: a\n    prompt: x\nbase: [main]\n"),
    ("negative max_attempts", Json, "{\"tasks\": [{\"id\": \"a\", \"prompt\": \"x\", \"max_attempts\": -1}]}"),
    ("bad review word", Yaml, "tasks:\n  - id: a\n    prompt: x\n    review: maybe\n"),
    ("bad approval", Yaml, "tasks:\n  - id: a\n    prompt: x\n    approval: sometimes\n"),
    ("id that is a list", Yaml, "tasks:\n  - id: [a]\n    prompt: x\n"),
    ("float id in json", Json, "{\"tasks\": [{\"id\": 2.5, \"prompt\": \"x\"}]}"),
    ("json plan is a list", Json, "[\"a\", \"b\"]"),
    ("json task is a list", Json, "{\"tasks\": [\n  [\"a\", \"A\", \"do a\"]\n]}"),
    ("toml task is a list", Toml, "tasks = [[\"a\", \"A\", \"do a\"]]\n"),
    ("json defaults is a list", Json, "{\"defaults\": [\"claude\"], \"tasks\": [{\"id\": \"a\", \"prompt\": \"x\"}]}"),
    ("plan is a list", Yaml, "- id: a\n  prompt: x\n"),
    ("tasks is not a list", Yaml, "tasks: a\n"),
    ("task is not a mapping", Yaml, "tasks:\n  - a\n"),
    ("two documents", Yaml, "tasks:\n  - id: a\n    prompt: x\n---\ntasks: []\n"),
    ("duplicate key", Yaml, "tasks:\n  - id: a\n    prompt: x\n    prompt: y\n"),
    (
        "duplicate ids, yaml",
        Yaml,
        "tasks:\n  - id: a\n    prompt: x\n  - id: b\n    prompt: x\n  - id: a\n    prompt: y\n  - id: a\n    prompt: z\n  - id: b\n    prompt: z\n",
    ),
    ("duplicate ids, toml", Toml, "[[tasks]]\nid = \"a\"\nprompt = \"x\"\n\n[[tasks]]\nid = \"a\"\nprompt = \"y\"\n"),
    (
        "duplicate ids, json",
        Json,
        "{\"tasks\": [\n  {\"id\": \"a\", \"prompt\": \"x\"},\n  {\"id\": \"a\", \"prompt\": \"y\"}\n]}\n",
    ),
    (
        "unknown dependencies",
        Yaml,
        "tasks:\n  - id: db-schema\n    prompt: x\n  - id: login-api\n    prompt: y\n    deps: [db-schem, cache, db]\n",
    ),
    ("self dependency", Yaml, "tasks:\n  - id: a\n    prompt: x\n    deps: [a]\n"),
    (
        "cycle",
        Yaml,
        "tasks:\n  - id: a\n    prompt: x\n    deps: [c]\n  - id: b\n    prompt: x\n    deps: [a]\n  - id: c\n    prompt: x\n    deps: [b]\n",
    ),
    (
        "cycle beside a bad value",
        Yaml,
        "tasks:\n  - id: a\n    prompt: x\n    deps: [b]\n    timeout: soon\n  - id: b\n    prompt: x\n    deps: [a]\n",
    ),
    (
        "bad ids",
        Yaml,
        "tasks:\n  - id: ../x\n    prompt: x\n  - id: has space\n    prompt: x\n  - id: ''\n    prompt: x\n  - id: ..\n    prompt: x\n",
    ),
    ("missing id", Yaml, "tasks:\n  - id: a\n    prompt: x\n  - prompt: y\n"),
    ("empty and missing prompts", Yaml, "tasks:\n  - id: a\n    prompt: \"  \\n \"\n  - id: b\n    title: B\n"),
    ("empty description, amplifier", Yaml, "tasks:\n  - id: a\n    name: A\n    description: ''\n"),
    ("empty task list", Yaml, "name: p\ntasks: []\n"),
    ("no tasks key", Json, "{\"name\": \"p\"}"),
    ("empty file", Yaml, "\n  \n"),
    (
        "bad durations",
        Yaml,
        "defaults:\n  timeout: 0\ntasks:\n  - id: a\n    prompt: x\n    timeout: soon\n  - id: b\n    prompt: x\n    timeout: -5\n  - id: c\n    prompt: x\n    timeout: 0s\n",
    ),
    (
        "bad estimated_hours",
        Yaml,
        "tasks:\n  - id: a\n    prompt: x\n    estimated_hours: .nan\n  - id: b\n    prompt: x\n    estimated_hours: -2\n  - id: c\n    prompt: x\n    estimated_hours: .inf\n",
    ),
    (
        "zero max_attempts",
        Toml,
        "[defaults]\nmax_attempts = 0\n\n[[tasks]]\nid = \"a\"\nprompt = \"x\"\nmax_attempts = 0\n",
    ),
    (
        "bad priorities",
        Yaml,
        "tasks:\n  - id: a\n    prompt: x\n    priority: urgent\n  - id: b\n    prompt: x\n    priority: 99999999999\n",
    ),
    ("fractional priority", Yaml, "tasks:\n  - id: a\n    prompt: x\n    priority: 1.5\n"),
    ("max_attempts not a number", Yaml, "tasks:\n  - id: a\n    prompt: x\n    max_attempts: many\n"),
    (
        "wrong type in a toml task",
        Toml,
        "[[tasks]]\nid = \"a\"\nprompt = \"x\"\n\n[[tasks]]\nid = \"b\"\nprompt = \"y\"\nfiles = \"src\"\n",
    ),
    (
        "wrong type in toml defaults after the tasks",
        Toml,
        "[[tasks]]\nid = \"a\"\nprompt = \"x\"\n\n[defaults]\nagent = 1\n",
    ),
    (
        "wrong type in a json task",
        Json,
        "{\"tasks\": [\n  {\"id\": \"a\", \"prompt\": \"x\"},\n  {\"id\": 7,\n   \"prompt\": [\"y\"]}\n]}\n",
    ),
    ("bad plan name", Yaml, "name: my plan\ntasks:\n  - id: a\n    prompt: x\n"),
    (
        "many problems at once",
        Json,
        "{\n  \"name\": \"p\",\n  \"defaults\": {\"max_attempts\": 0},\n  \"tasks\": [\n    {\"id\": \"a\", \"prompt\": \"\"},\n    {\"id\": \"a\", \"prompt\": \"y\", \"deps\": [\"zz\"]},\n    {\"id\": \"b\", \"prompt\": \"y\", \"deps\": [\"b\"], \"priority\": \"huge\"}\n  ]\n}\n",
    ),
];

#[test]
fn refusals_read_well() {
    let mut out = String::new();
    for (what, format, text) in CASES {
        out.push_str(&format!("## {what}\n{}\n\n", refused(*format, text)));
    }
    for place in ["top", "in a task"] {
        out.push_str(&format!("## alias bomb, {place}\n{}\n\n", refused(Yaml, &billion_laughs(place))));
    }
    let bytes: [(&str, Vec<u8>); 2] = [
        ("not UTF-8", b"tasks:\n  - id: a\n    prompt: caf\xe9\n".to_vec()),
        ("too big", vec![b' '; MAX_PLAN_BYTES + 1]),
    ];
    for (what, bytes) in bytes {
        let e = parse("plan.yaml", &bytes, Yaml, "plan", DEFAULT_INTEGRATION).expect_err("refused");
        out.push_str(&format!("## {what}\n{e}\n\n"));
    }
    insta::assert_snapshot!(out);
}
