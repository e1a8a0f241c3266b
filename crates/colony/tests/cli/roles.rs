//! Task roles through the real binary: a `[roles.NAME]` table gives the
//! tasks that take it their own prompt template and gates; a task of a
//! role colony.toml does not define is refused before anything runs.

use crate::repo::TestRepo;

const CONFIG: &str = "[run]\nagent = \"fake\"\n\n[roles.tester]\ndescription = \"Writes tests\"\n\
                      template = \"roles/tester.md\"\ngates = [\"test -f proof.txt\"]\n";

/// `plain` merges first without `proof.txt`, which the tester's gate wants:
/// the role's gate is the tester's alone. The tester's agent writes the
/// proof only when a gate's failure comes back to it.
const PLAN: &str = "name: p\ntasks:\n  - id: plain\n    prompt: Write plain.\n    fake: {write: {plain.txt: \"p\\n\"}}\n\
                    \x20 - id: tests\n    title: The tests\n    prompt: Write tests.\n    role: tester\n    deps: [plain]\n\
                    \x20   fake: {write: {t.txt: \"t\\n\"}, fix_on_feedback: {proof.txt: \"ok\\n\"}}\n";

fn repo() -> TestRepo {
    let repo = TestRepo::for_runs(CONFIG);
    std::fs::create_dir_all(repo.root().join("roles")).unwrap();
    std::fs::write(repo.root().join("roles/tester.md"), "As the tester: {{ task.title }}. {{ task.prompt }}\n")
        .unwrap();
    repo.commit_all("the tester's template");
    repo
}

#[test]
fn a_roles_template_and_gates_are_its_tasks_alone() {
    let repo = repo();
    let plan = repo.write_plan("p.yaml", PLAN);
    let out = repo.command(&["run", "-q", &plan]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let sent = repo.stdout(&["show", "tests", "--prompt"], 0);
    assert!(sent.starts_with("--- attempt 1, to the builder ---\nAs the tester: The tests. Write tests.\n"), "{sent}");
    assert!(
        sent.contains("gate `test -f proof.txt` failed"),
        "the role's gate failed once, and the agent was told: {sent}"
    );
    let plain = repo.stdout(&["show", "plain", "--prompt"], 0);
    assert!(plain.contains("Write plain.") && !plain.contains("As the tester"), "{plain}");
    assert!(repo.stdout(&["show", "tests"], 0).contains("\n  role        tester\n"));
    let listed = repo.stdout(&["prompts", "list"], 0);
    assert!(listed.contains("[roles.tester] roles/tester.md\n"), "{listed}");
    let logs = repo.stdout(&["logs", "plain"], 0);
    assert!(!logs.contains("proof.txt"), "the role's gate never ran for a task of no role: {logs}");
    assert_eq!(repo.git_out(&["show", "colony/p:proof.txt"]), "ok\n");
}

#[test]
fn a_task_of_an_undefined_role_is_refused_before_anything_runs() {
    let repo = repo();
    let plan = repo.write_plan("p.yaml", &PLAN.replace("role: tester", "role: testr"));
    let out = repo.command(&["run", &plan]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "plans/p.yaml: task `tests`: role `testr` is not defined in colony.toml; did you mean `tester`? \
             roles: tester; nothing was added"
        ),
        "{err}"
    );
    assert_eq!(repo.json(&["list"]), serde_json::json!([]), "nothing was added");

    std::fs::remove_file(repo.root().join("roles/tester.md")).unwrap();
    repo.write_plan("p.yaml", PLAN);
    let out = repo.command(&["run", &plan]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("roles/tester.md") && err.contains("the template of role `tester` cannot be read"), "{err}");
}
