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

/// Names that are ids but make branches git refuses: the plan is refused
/// by `colony add` and `colony run` alike, before any attempt is spent.
#[test]
fn names_git_refuses_as_branches_are_refused_whole() {
    let repo = TestRepo::for_runs(crate::run::FAKE_CONFIG);
    let plan = |name: &str, id: &str| {
        format!("name: {name}\ntasks:\n  - id: ok\n    prompt: p\n  - id: {id}\n    prompt: q\n")
    };
    let cases = [
        ("a..b", "ok2", "1: bad plan name: git refuses the integration branch `colony/a..b`: it contains `..`"),
        (
            "x.lock",
            "ok2",
            "1: bad plan name: git refuses the integration branch `colony/x.lock`: its part `x.lock` ends with `.lock`",
        ),
        (
            ".x",
            "ok2",
            "1: bad plan name: git refuses the integration branch `colony/.x`: its part `.x` starts with `.`",
        ),
        ("a.", "ok2", "1: bad plan name: git refuses the integration branch `colony/a.`: it ends with `.`"),
        ("p", "a..b", "5: task `a..b`: git refuses its branch `colony-task/p/a..b-a1`: it contains `..`"),
        ("p", ".a", "5: task `.a`: git refuses its branch `colony-task/p/.a-a1`: its part `.a-a1` starts with `.`"),
    ];
    for (name, id, problem) in cases {
        let path = repo.write_plan("names.yaml", &plan(name, id));
        let expected = format!("error: the plan is refused; nothing was added\n  {path}:{problem}\n");
        assert_eq!(repo.stderr(&["add", &path], 2), expected, "add: {name} / {id}");
        assert_eq!(repo.stderr(&["run", "-q", &path], 2), expected, "run: {name} / {id}");
        assert_eq!(repo.stdout(&["list", "--json"], 0), "[]\n", "{name} / {id} stored tasks");
    }
    assert!(repo.events().is_empty(), "events were written");
    assert_eq!(repo.git_out(&["branch", "--list", "colony*"]), "", "branches were made");
}

/// An integration branch pattern git would refuse is refused where it is
/// written, whatever the command.
#[test]
fn an_integration_branch_git_refuses_is_refused_in_colony_toml() {
    let repo = TestRepo::for_runs(crate::run::FAKE_CONFIG);
    let path = repo.write_plan("p.yaml", "name: p\ntasks:\n  - id: a\n    prompt: p\n");
    for (pattern, problem) in [
        ("a..b/{plan}", "git refuses the branches it makes, such as `a..b/plan`: it contains `..`"),
        ("HEAD", "git refuses the branch `HEAD`: `HEAD` is git's name for the current commit"),
    ] {
        let config = format!("{}integration_branch = \"{pattern}\"\n", crate::run::FAKE_CONFIG);
        std::fs::write(repo.root().join("colony.toml"), &config).unwrap();
        let expected = format!(
            "error: colony.toml is refused; nothing was done\n  colony.toml:5: [run] integration_branch: {problem}\n"
        );
        assert_eq!(repo.stderr(&["add", &path], 2), expected, "add: {pattern}");
        assert_eq!(repo.stderr(&["run", "-q", &path], 2), expected, "run: {pattern}");
    }
    std::fs::write(repo.root().join("colony.toml"), crate::run::FAKE_CONFIG).unwrap();
    assert_eq!(repo.stdout(&["list", "--json"], 0), "[]\n");
    assert!(repo.events().is_empty(), "events were written");
}
