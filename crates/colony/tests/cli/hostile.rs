//! Agents that attack the repository rather than do their task, through
//! the real binary: whatever an agent does in its worktree, the user's
//! checkout and branches are never touched by colony, the work colony
//! merges is the work it checked, and an agent that changes the user's
//! checkout or branches without a sandbox to stop it fails, its work
//! merged nowhere.

use crate::background::Background;
use crate::repo::TestRepo;
use crate::run::merges;

/// A `command` agent running `script` with `sh`: the project's own
/// configuration, so nothing from a task reaches the shell. Without the
/// sandbox, which would refuse its writes outside the worktree: these
/// tests hold colony's checks that need none.
fn agent_config(script: &str) -> String {
    let script = script.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "[run]\nagent = \"hostile\"\nbackoff_base = \"100ms\"\nbackoff_cap = \"100ms\"\n\n\
         [agents.hostile]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"{script}\"]\n\n\
         [sandbox]\nmode = \"off\"\n"
    )
}

/// A one-task plan, its task titled so that a commit made of it is known.
const PLAN: &str = "name: p\ntasks:\n  - id: t\n    title: Hostile title\n    prompt: p\n    max_attempts: 1\n";

const GIT_AS_AGENT: &str = "git -c user.name=agent -c user.email=agent@example.invalid";

/// What the user has in their checkout: HEAD, its branch's commit, and
/// the whole status, untracked files included.
fn user_state(repo: &TestRepo) -> (String, String) {
    (repo.git_out(&["rev-parse", "HEAD", "main"]), repo.git_out(&["status", "--porcelain", "--untracked-files=all"]))
}

/// A repository for `script` whose user has an edit and a new file not
/// committed yet.
fn repo_with_dirty_checkout(script: &str) -> TestRepo {
    let repo = TestRepo::for_runs(&agent_config(script));
    repo.write_plan("p.yaml", PLAN);
    std::fs::write(repo.root().join("README.md"), "# A project\n\nthe user's edit, not committed\n").unwrap();
    std::fs::write(repo.root().join("notes.txt"), "the user's new file\n").unwrap();
    repo
}

fn reason_of(repo: &TestRepo, task: &str) -> String {
    repo.json(&["show", task])["attempts"][0]["reason"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn an_agent_that_deletes_its_git_never_commits_on_the_users_branch() {
    let script = format!("rm -rf .git; echo x > f.txt; {GIT_AS_AGENT} add -A; {GIT_AS_AGENT} commit -qm evil");
    let repo = repo_with_dirty_checkout(&script);
    let before = user_state(&repo);

    let out = repo.stdout(&["run", "plans/p.yaml"], 3);

    assert_eq!(user_state(&repo), before, "the user's branch, index and files are untouched");
    let log = repo.git_out(&["log", "--format=%s", "main"]);
    assert!(!log.contains("Hostile title") && !log.contains("evil"), "{log}");
    assert_eq!(reason_of(&repo, "t"), "the agent broke its worktree: its .git file was deleted");
    assert!(out.contains("failed:\n  t  the agent broke its worktree"), "{out}");
}

#[test]
fn an_agent_that_points_its_git_at_the_users_repository_is_refused() {
    let script = "printf 'gitdir: %s\\n' \"$(cd ../../.. && pwd)/.git\" > .git; echo x > f.txt";
    let repo = repo_with_dirty_checkout(script);
    let before = user_state(&repo);

    repo.stdout(&["run", "plans/p.yaml"], 3);

    assert_eq!(user_state(&repo), before);
    let reason = reason_of(&repo, "t");
    assert!(reason.starts_with("the agent broke its worktree: its .git file was made to point at "), "{reason}");
}

#[test]
fn work_committed_on_another_branch_is_the_work_that_merges() {
    let script = format!(
        "git checkout -q -b other && echo x > f.txt && {GIT_AS_AGENT} add f.txt && {GIT_AS_AGENT} commit -qm work"
    );
    let repo = repo_with_dirty_checkout(&script);
    let before = user_state(&repo);

    let out = repo.stdout(&["run", "plans/p.yaml"], 0);

    assert!(out.contains("all 1 task done"), "{out}");
    assert_eq!(repo.git_out(&["show", "colony/p:f.txt"]), "x\n", "the agent's work is merged, not stranded");
    assert_eq!(merges(&repo, "colony/p").get("Merge task t: Hostile title"), Some(&1));
    let logs = repo.stdout(&["logs", "t"], 0);
    assert!(logs.contains("the agent moved to branch `other`"), "{logs}");
    assert_eq!(user_state(&repo), before);
}

#[test]
fn an_agent_that_leaves_for_unrelated_history_fails_and_nothing_merges() {
    let script = format!(
        "git checkout -q --orphan elsewhere && git rm -rqf . && echo y > g.txt && {GIT_AS_AGENT} add g.txt && \
         {GIT_AS_AGENT} commit -qm orphan"
    );
    let repo = repo_with_dirty_checkout(&script);

    repo.stdout(&["run", "plans/p.yaml"], 3);

    let reason = reason_of(&repo, "t");
    assert!(reason.starts_with("the agent moved its worktree off its task branch to branch `elsewhere`"), "{reason}");
    assert!(merges(&repo, "colony/p").is_empty(), "nothing was reported merged");
}

/// Runs `script` as the agent of a one-task plan in a repository whose
/// `main` has two commits, with no sandbox: the attempt fails with a
/// reason that has `named` in it, and nothing of it merges.
fn fails_naming(script: &str, named: &str) -> TestRepo {
    let repo = TestRepo::for_runs(&agent_config(script));
    repo.write_plan("p.yaml", PLAN);
    repo.commit_all("The plan");

    let out = repo.stdout(&["run", "plans/p.yaml"], 3);

    let reason = reason_of(&repo, "t");
    assert!(reason.contains(named), "{reason}");
    assert!(out.contains("failed:\n  t  "), "{out}");
    assert!(repo.events().iter().all(|e| e["type"] != "completed"), "the task never completed");
    let integration = repo.git_out(&["log", "--format=%s", "colony/p"]);
    assert!(!integration.contains("Hostile title"), "nothing of it merged: {integration}");
    repo
}

#[test]
fn an_agent_that_writes_into_the_users_checkout_fails_and_is_named() {
    let repo = fails_naming(
        "echo x > f.txt; echo appended >> ../../../README.md",
        "your checkout changed while this attempt's agent ran: README.md modified.",
    );
    let events = repo.events();
    let recorded: Vec<_> = events.iter().filter(|e| e["type"] == "checkout_changed").collect();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!((&recorded[0]["task"], &recorded[0]["changes"][0]), (&"t".into(), &"README.md modified".into()));
    assert!(reason_of(&repo, "t").ends_with("if the change was yours, `colony retry t`"));
}

#[test]
fn an_agent_that_switches_the_users_checkout_to_another_branch_fails() {
    fails_naming(
        "echo x > f.txt; git -C ../../.. checkout -q -b elsewhere",
        "ran: HEAD is now ref: refs/heads/elsewhere (was ref: refs/heads/main). Without",
    );
}

#[test]
fn an_agent_that_commits_to_the_users_branch_fails() {
    let script = format!(
        "echo x > f.txt; {GIT_AS_AGENT} add f.txt; {GIT_AS_AGENT} commit -qm work; git update-ref refs/heads/main HEAD"
    );
    fails_naming(&script, "branch main moved");
}

#[test]
fn an_agent_that_rewrites_its_branch_below_where_it_began_fails() {
    fails_naming(
        "git reset -q --hard HEAD~1; echo x > f.txt",
        "the agent rewrote its task branch below where the attempt began: colony-task/p/t-a1 no longer builds on ",
    );
}

#[test]
fn with_the_sandbox_a_change_to_the_checkout_is_the_persons_and_only_said() {
    // The agent says it started and waits until the test has edited the
    // checkout, as a person at the keyboard would while it ran.
    let script = "touch \"$TMPDIR/started\"; while [ ! -e \"$TMPDIR/go\" ]; do sleep 0.05; done; echo x > f.txt";
    let config = agent_config(script).replace("mode = \"off\"", "mode = \"worktree\"");
    let repo = TestRepo::for_runs(&config);
    repo.write_plan("p.yaml", PLAN);
    repo.commit_all("The plan");
    let tmp = repo.base().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();

    let run = Background::start(&repo, &["run", "plans/p.yaml"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !tmp.join("started").exists() {
        assert!(std::time::Instant::now() < deadline, "the agent never started");
        // Polls a file the agent makes; there is no event to wait on.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::fs::write(repo.root().join("README.md"), "# A project\n\nthe person's edit\n").unwrap();
    std::fs::write(tmp.join("go"), "").unwrap();
    let (code, _, stderr) = run.finish();

    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("your checkout changed while the agents of t attempt 1 ran: README.md modified"),
        "{stderr}"
    );
    assert_eq!(repo.git_out(&["show", "colony/p:f.txt"]), "x\n", "the task's work merged");
}

#[test]
fn colony_alone_never_reports_the_checkout_changed() {
    let repo = TestRepo::for_runs(&agent_config("echo x > f.txt"));
    repo.write_plan("p.yaml", PLAN);
    std::fs::write(repo.root().join("README.md"), "# A project\n\nthe user's edit, not committed\n").unwrap();

    let out = repo.command(&["run", "plans/p.yaml"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("your checkout changed"), "{stderr}");
    assert!(repo.events().iter().all(|e| e["type"] != "checkout_changed"));
}
