//! Plans colony must refuse whole: exit code 2, every problem on stderr,
//! and the store exactly as it was.

use crate::repo::TestRepo;
use crate::snap;

/// (case, file name, contents): one of each kind of mistake.
const CASES: &[(&str, &str, &[u8])] = &[
    ("yaml_syntax", "plan.yaml", b"tasks:\n  - id: a\n    prompt: [unclosed\n"),
    ("toml_syntax", "plan.toml", b"[[tasks]]\nid = \"a\"\nprompt =\n"),
    ("json_syntax", "plan.json", b"{\"tasks\": [{\"id\": \"a\", \"prompt\": \"p\",}]}\n"),
    ("not_utf8", "plan.yaml", b"tasks:\n  - id: a\n    prompt: caf\xe9\n"),
    ("duplicate_id", "plan.yaml", b"tasks:\n  - id: a\n    prompt: one\n  - id: a\n    prompt: two\n"),
    ("unknown_dep", "plan.yaml", b"tasks:\n  - id: db-schema\n    prompt: p\n  - id: api\n    prompt: q\n    deps: [db-shema]\n"),
    ("self_dep", "plan.yaml", b"tasks:\n  - id: a\n    prompt: p\n    deps: [a]\n"),
    (
        "cycle",
        "plan.yaml",
        b"tasks:\n  - id: a\n    prompt: p\n    deps: [c]\n  - id: b\n    prompt: q\n    deps: [a]\n  - id: c\n    prompt: r\n    deps: [b]\n",
    ),
    ("id_with_slash", "plan.yaml", b"tasks:\n  - id: ../x\n    prompt: p\n"),
    ("id_with_space", "plan.yaml", b"tasks:\n  - id: has space\n    prompt: p\n"),
    ("empty_id", "plan.yaml", b"tasks:\n  - id: \"\"\n    prompt: p\n"),
    ("empty_prompt", "plan.yaml", b"tasks:\n  - id: a\n    prompt: \"  \"\n"),
    ("unknown_field", "plan.yaml", b"tasks:\n  - id: a\n    promt: p\n"),
    ("unknown_format", "plan.txt", b"tasks: []\n"),
];

#[test]
fn every_kind_of_bad_plan_is_refused_whole() {
    let repo = TestRepo::with_auth_plan();
    let events = repo.events();
    let list = repo.stdout(&["list", "--json"], 0);
    for (case, file, bytes) in CASES {
        let path = repo.write_plan_bytes(file, bytes);
        let err = repo.stderr(&["add", &path], 2);
        snap!(&repo, &format!("refused_{case}"), err);
        assert_eq!(repo.events(), events, "{case} wrote events");
        assert_eq!(repo.stdout(&["list", "--json"], 0), list, "{case} changed tasks");
    }
}

#[test]
fn one_bad_file_refuses_the_good_ones_too() {
    let repo = TestRepo::initialized();
    let good = repo.write_plan("good.yaml", "tasks:\n  - id: fine\n    prompt: p\n");
    let bad =
        repo.write_plan("bad.yaml", "tasks:\n  - id: a\n    prompt: p\n    deps: [b]\n  - id: a\n    prompt: q\n");
    let err = repo.stderr(&["add", &good, &bad], 2);
    snap!(&repo, "refused_one_of_two", err);
    assert_eq!(repo.stdout(&["list", "--json"], 0), "[]\n");
    assert_eq!(repo.stdout(&["events", "--json"], 0), "");
}

#[test]
fn a_bad_plan_is_refused_before_any_store_exists() {
    let repo = TestRepo::new();
    let bad = repo.write_plan("bad.yaml", "tasks:\n  - id: a\n    prompt: p\n    deps: [a]\n");
    let err = repo.stderr(&["add", &bad], 2);
    assert!(err.contains("plans/bad.yaml:"), "{err}");
    assert!(!repo.root().join(".colony").exists(), "refusing a plan created the store");

    let good = repo.write_plan("good.yaml", "tasks:\n  - id: a\n    prompt: p\n");
    let err = repo.stderr(&["add", &good], 2);
    assert!(err.contains("run `colony init` first"), "{err}");
    assert!(!repo.root().join(".colony").exists());
}

#[test]
fn two_files_holding_one_plan_are_refused() {
    let repo = TestRepo::initialized();
    let a = repo.write_plan("a.yaml", "name: same\ntasks:\n  - id: a\n    prompt: p\n");
    let b = repo.write_plan("b.yaml", "name: same\ntasks:\n  - id: b\n    prompt: p\n");
    let err = repo.stderr(&["add", &a, &b], 2);
    assert_eq!(err, "error: plans/a.yaml and plans/b.yaml both hold plan `same`; nothing was added\n");
}

#[test]
fn a_task_id_of_another_plan_is_refused() {
    let repo = TestRepo::with_auth_plan();
    let other = repo.write_plan("other.yaml", "tasks:\n  - id: db-schema\n    prompt: p\n");
    let err = repo.stderr(&["add", &other], 2);
    snap!(&repo, "refused_id_taken", err);
    assert_eq!(repo.json(&["status"])["plans"].as_array().unwrap().len(), 1);
}
