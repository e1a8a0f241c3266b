//! Prompt templates through the real binary: a project's own template is
//! what the agent receives, a broken one stops the run before anything
//! changes, and `colony prompts` shows, lists and ejects them.

use crate::repo::TestRepo;
use crate::run::FAKE_CONFIG;

const PLAN: &str =
    "name: p\ntasks:\n  - id: t\n    title: Say hello\n    prompt: Write hello.\n    acceptance: [it says hello]\n";

fn write_template(repo: &TestRepo, role: &str, text: &str) {
    let dir = repo.root().join(".colony/prompts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{role}.md")), text).unwrap();
}

#[test]
fn a_projects_builder_template_is_exactly_what_the_agent_receives() {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    repo.write_plan("p.yaml", PLAN);
    write_template(
        &repo,
        "builder",
        "Task {{ task.id }} of plan {{ task.plan }}: {{ task.title }}\n\n{{ task.prompt }}\n{% for a in task.acceptance %}\nDone when {{ a }}.\n{% endfor %}\n",
    );

    repo.colony(&["run", "plans/p.yaml"]).success();

    // The fake agent writes the prompt it read on stdin to this file.
    let received = repo.git_out(&["show", "colony/p:colony-fake/t.txt"]);
    let sent = "Task t of plan p: Say hello\n\nWrite hello.\nDone when it says hello.\n";
    assert_eq!(received, sent);
    assert_eq!(repo.stdout(&["show", "t", "--prompt"], 0), format!("--- attempt 1, to the builder ---\n{sent}"));
    let json = repo.json(&["show", "t", "--prompt"]);
    assert_eq!(json, serde_json::json!([{"attempt": 1, "to": "builder", "text": sent}]));
    assert!(repo.stdout(&["logs", "t"], 0).contains("prompt sent to the builder: 4 lines"));
}

#[test]
fn a_broken_template_is_refused_with_its_line_and_nothing_changes() {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    repo.write_plan("p.yaml", PLAN);
    write_template(&repo, "fixer", "{{ feedback }}\n{% if resumed %}\nnever ended\n");
    let before = repo.json(&["list"]);

    let out = repo.command(&["run", "plans/p.yaml"]).output().unwrap();

    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: the prompt template ")
            && stderr.contains("/.colony/prompts/fixer.md:3: syntax error"),
        "{stderr}"
    );
    assert_eq!(repo.json(&["list"]), before, "no plan was added");

    write_template(&repo, "fixer", "{{ feedback }}\n");
    write_template(&repo, "builder", "{{ task.prompt }}\n{{ repo_summary }}\n");
    let out = repo.command(&["run", "plans/p.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "builder.md:2: unknown variable `repo_summary`: the builder template is given `task`, `dependencies`, `followups`"
        ),
        "{stderr}"
    );
}

#[test]
fn prompts_are_listed_shown_and_ejected() {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    let listed = repo.stdout(&["prompts", "list"], 0);
    assert!(
        listed.starts_with(
            "builder   shipped\n          the task's agent, on its first round\n          given: task, dependencies, followups\n"
        ),
        "{listed}"
    );

    let out = repo.stdout(&["prompts", "eject", "reviewer"], 0);
    assert_eq!(out, "wrote .colony/prompts/reviewer.md: edit it, and colony's reviewer prompts are made from it\n");
    let ejected = std::fs::read_to_string(repo.root().join(".colony/prompts/reviewer.md")).unwrap();
    assert_eq!(repo.stdout(&["prompts", "show", "reviewer"], 0), ejected);
    assert!(repo.stdout(&["prompts", "list"], 0).contains("reviewer  .colony/prompts/reviewer.md\n"));

    let again = repo.command(&["prompts", "eject", "reviewer"]).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains(".colony/prompts/reviewer.md exists already"));
    std::fs::write(repo.root().join(".colony/prompts/reviewer.md"), "{{ task.title }}\n").unwrap();
    repo.colony(&["prompts", "eject", "reviewer", "--force"]).success();
    assert_eq!(std::fs::read_to_string(repo.root().join(".colony/prompts/reviewer.md")).unwrap(), ejected);

    let unknown = repo.command(&["prompts", "show", "tester"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("no prompt role `tester`; the roles are builder, fixer, reviewer, resolver, planner, replanner")
    );
}

#[test]
fn a_task_is_told_what_its_dependencies_changed_and_said() {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    repo.write_plan(
        "p.yaml",
        "name: p\ntasks:\n  - id: a\n    title: Make the users table\n    prompt: Add users.\n    fake:\n      write: {db/users.sql: \"create table users;\\n\"}\n      print: [Added db/users.sql with the users table.]\n  - id: b\n    title: Log in\n    prompt: Add login.\n    deps: [a]\n",
    );

    repo.colony(&["run", "plans/p.yaml"]).success();

    let received = repo.git_out(&["show", "colony/p:colony-fake/b.txt"]);
    assert!(received.starts_with("Add login.\n\nThis task builds on work already merged into your branch:\n\n- a: Make the users table\n  Files it changed: db/users.sql\n  What its agent said when it was done:\n"), "{received}");
    assert!(received.contains("\n  Added db/users.sql with the users table.\n"), "{received}");
    let answer = &repo.json(&["show", "a"])["attempts"][0]["answer"];
    assert!(answer.as_str().is_some_and(|a| a.contains("Added db/users.sql with the users table.")), "{answer}");
    assert_eq!(
        repo.json(&["show", "b"])["attempts"][0]["answer"].as_str().map(|a| a.contains("wrote colony-fake/b.txt")),
        Some(true)
    );
}
