//! `colony plan` through the real binary, with a stand-in `claude` first
//! on `PATH`: it keeps the prompt it was sent and answers, in Claude Code's
//! stream-json, with the plan the test gave for that call.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::repo::TestRepo;

/// The planner is Claude Code; the tasks are done by the fake agent.
const CONFIG: &str =
    "[run]\nagent = \"fake\"\nbackoff_base = \"1s\"\nbackoff_cap = \"1s\"\n[plan]\nagent = \"claude\"\n";

/// Six tasks: two chains of three, the second sharing its files.
const GOOD: &str = "name: health
tasks:
  - id: route
    title: Add the route
    prompt: Add GET /health returning ok.
    files: [\"src/server/**\"]
  - id: handler
    title: Write the handler
    prompt: Make the handler report the uptime.
    deps: [route]
    files: [\"src/server/**\"]
  - id: test
    title: Test it
    prompt: Add a test of /health.
    deps: [handler]
    files: [\"tests/**\"]
  - id: docs
    title: Document it
    prompt: Document /health in the README.
    files: [\"README.md\"]
  - id: metrics
    title: Count the calls
    prompt: Count calls to /health.
    deps: [docs]
    files: [\"src/metrics/**\"]
  - id: changelog
    title: Note it
    prompt: Add /health to the changelog.
    deps: [metrics]
    files: [\"CHANGELOG.md\"]
";

/// [`GOOD`] with a cycle: `route` depends on `test`.
fn cyclic() -> String {
    GOOD.replacen("prompt: Add GET /health returning ok.", "prompt: Add GET /health returning ok.\n    deps: [test]", 1)
}

struct Planning {
    repo: TestRepo,
    bin: PathBuf,
    calls: PathBuf,
}

impl Planning {
    /// A repository whose stand-in planner gives `answers[n]` on its n-th
    /// call (each in a fenced YAML block, after a sentence), the last one
    /// again after they run out.
    fn new(config: &str, answers: &[&str]) -> Planning {
        let repo = TestRepo::for_runs(config);
        let bin = repo.base().join("bin");
        // In the temp dir, which the planner may write in its sandbox.
        let calls = repo.base().join("tmp/planner");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(calls.join("answers")).unwrap();
        for (n, plan) in answers.iter().enumerate() {
            let said = format!("Here is the plan.\n\n```yaml\n{plan}```\n");
            let lines = [
                json!({"type": "system", "subtype": "init", "session_id": "plan-s", "model": "claude-sonnet-4-5"}),
                json!({"type": "result", "subtype": "success", "is_error": false, "result": said, "session_id": "plan-s",
                       "usage": {"input_tokens": 100, "output_tokens": 50}}),
            ];
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            std::fs::write(calls.join(format!("answers/{}.jsonl", n + 1)), text).unwrap();
        }
        let script = format!(
            "#!/bin/sh\ndir='{}'\nn=$(ls \"$dir\" | grep -c '^call')\nn=$((n + 1))\ncat > \"$dir/call$n.txt\"\n\
             printf '%s\\n' \"$@\" > \"$dir/argv$n.txt\"\n\
             answer=\"$dir/answers/$n.jsonl\"\n[ -f \"$answer\" ] || answer=\"$dir/answers/{}.jsonl\"\ncat \"$answer\"\n",
            calls.display(),
            answers.len()
        );
        std::fs::write(bin.join("claude"), script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("claude"), std::fs::Permissions::from_mode(0o755)).unwrap();
        Planning { repo, bin, calls }
    }

    fn command(&self, args: &[&str]) -> Command {
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap_or_default());
        let mut command = self.repo.command(args);
        command.env("PATH", path);
        command
    }

    /// What the planner was sent on its n-th call.
    fn prompt(&self, n: usize) -> String {
        std::fs::read_to_string(self.calls.join(format!("call{n}.txt"))).unwrap()
    }

    fn calls(&self) -> usize {
        (1..).take_while(|n| self.calls.join(format!("call{n}.txt")).exists()).count()
    }
}

#[test]
fn a_goal_becomes_a_plan_after_a_refusal_and_runs_to_the_end() {
    let cyclic = cyclic();
    let p = Planning::new(CONFIG, &[&cyclic, GOOD]);
    let before = p.repo.git_out(&["status", "--porcelain"]);

    let out = p.command(&["plan", "add a /health endpoint with a test", "--run", "-j", "2"]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");

    assert!(stderr.contains("planning with agent `claude` (answer 1 of at most 3)"), "{stderr}");
    assert!(stderr.contains("answer 1 refused: plan.yaml:") && stderr.contains("cycle"), "{stderr}");
    assert_eq!(p.calls(), 2);
    let first = p.prompt(1);
    assert!(first.contains("add a /health endpoint with a test"), "the goal");
    assert!(first.contains("tracked files") && first.contains("# A project"), "the repository and its README");
    assert!(first.contains("Each task's fields:\n") && first.contains("- `deps`:"), "the format");
    assert!(!first.contains("refused"), "{first}");
    let second = p.prompt(2);
    assert!(second.contains("Your previous answer was refused:\n\nplan.yaml:") && second.contains("deps: [test]"));
    let argv = std::fs::read_to_string(p.calls.join("argv1.txt")).unwrap();
    assert!(argv.starts_with("-p\n--output-format\nstream-json\n--verbose\n"), "{argv}");

    assert!(stdout.starts_with("plan health: 6 tasks in plans/health.yaml (2 answers of the planner)\n"), "{stdout}");
    assert!(stdout.contains("  longest chain: 3 tasks (route → handler → test)\n"), "{stdout}");
    assert!(stdout.contains("  at most 2 tasks at once\n"), "{stdout}");
    assert!(stdout.contains("  files most shared: src/server/** (2 tasks)\n"), "{stdout}");
    assert!(stdout.contains("all 6 tasks done"), "{stdout}");

    let written = std::fs::read_to_string(p.repo.root().join("plans/health.yaml")).unwrap();
    assert!(written.starts_with("# Planned by `colony plan` with agent `claude` on "), "{written}");
    assert!(written.ends_with(GOOD), "{written}");
    assert_eq!(p.repo.stdout(&["add", "plans/health.yaml"], 0), "plan health: already up to date (6 tasks)\n");
    let merged = p.repo.git_out(&["log", "--first-parent", "--format=%s", "colony/health"]);
    assert_eq!(merged.lines().filter(|l| l.starts_with("Merge task ")).count(), 6, "{merged}");

    let after = p.repo.git_out(&["status", "--porcelain"]);
    assert_eq!(after, format!("{before}?? plans/\n"), "the checkout gained the plan and nothing else");
    let trees = p.repo.git_out(&["worktree", "list", "--porcelain"]);
    assert_eq!(trees.lines().filter(|l| l.starts_with("worktree ")).count(), 1, "the planner's tree is gone: {trees}");
}

#[test]
fn a_planner_that_never_gets_it_right_exits_3_with_the_last_refusal() {
    let config = CONFIG.replace("agent = \"claude\"\n", "agent = \"claude\"\nmax_rounds = 2\n");
    let cyclic = cyclic();
    let p = Planning::new(&config, &[&cyclic]);
    // What a planner killed mid-plan left, and one planning now.
    let (dead, live) = (p.repo.root().join(".colony/planner/1"), p.repo.root().join(".colony/planner/2"));
    for dir in [&dead, &live] {
        p.repo.git_out(&["worktree", "add", "--detach", dir.join("tree").to_str().unwrap(), "HEAD"]);
    }
    let held = std::fs::File::create(live.join("lock")).unwrap();
    held.lock().unwrap();

    let out = p.command(&["plan", "add a /health endpoint"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("error: the planner gave no plan colony accepts in 2 answers; the last refusal:\nplan.yaml:")
    );
    assert!(stderr.contains("cycle"), "{stderr}");
    assert_eq!(p.calls(), 2);
    assert!(!p.repo.root().join("plans").exists(), "nothing was written");
    assert!(!dead.join("tree").exists(), "a dead planner's worktree is swept");
    assert!(live.join("tree").exists(), "a live one's is not");
    let trees = p.repo.git_out(&["worktree", "list", "--porcelain"]);
    assert_eq!(trees.lines().filter(|l| l.starts_with("worktree ")).count(), 2, "{trees}");
}

#[test]
fn a_taken_name_goes_back_to_the_planner_and_bad_input_changes_nothing() {
    let renamed = GOOD.replacen("name: health", "name: health-2", 1);
    let p = Planning::new(CONFIG, &[GOOD, GOOD, &renamed]);
    p.repo.write_plan("health.yaml", "name: health\ntasks:\n  - id: x\n    prompt: x\n");
    let out = p.command(&["plan", "add a /health endpoint", "-o", "plans/new.yaml"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(p.calls(), 1, "-o names the file, so plans/health.yaml is no clash");
    assert!(p.repo.root().join("plans/new.yaml").is_file());

    p.repo.colony(&["add", "plans/new.yaml"]).success();
    let out = p.command(&["plan", "add a /health endpoint"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("answer 1 refused: plan.yaml: the name `health` is taken"), "{stderr}");
    assert!(p.repo.root().join("plans/health-2.yaml").is_file());

    for (args, says) in [
        (&["plan", " \n"][..], "the goal is empty"),
        (&["plan", "x", "--agent", "cladue"][..], "there is no agent `cladue`; did you mean `claude`?"),
        (&["plan", "x", "-o", "plans/new.yaml"][..], "plans/new.yaml exists already"),
        (&["plan", "--file", "missing.md"][..], "cannot read the goal from missing.md"),
    ] {
        let calls = p.calls();
        let out = p.command(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(p.calls(), calls, "{args:?}: no planner ran");
    }
}

#[test]
fn edit_opens_the_plan_and_what_was_saved_is_what_counts() {
    let p = Planning::new(CONFIG, &[GOOD]);
    let editor = p.repo.base().join("bin/editor");
    std::fs::write(&editor, "#!/bin/sh\nsed -i '/- id: changelog/,$d' \"$1\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = p.command(&["plan", "add a /health endpoint", "--edit"]).env("VISUAL", &editor).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.starts_with("plan health: 5 tasks in plans/health.yaml"), "{stdout}");
    let written = std::fs::read_to_string(p.repo.root().join("plans/health.yaml")).unwrap();
    assert!(!written.contains("changelog"), "{written}");

    std::fs::write(&editor, "#!/bin/sh\nexit 1\n").unwrap();
    let out = p.command(&["plan", "x", "-o", "plans/other.yaml", "--edit"]).env("VISUAL", &editor).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("failed") && stderr.contains("the plan is kept in plans/other.yaml"), "{stderr}");
}

#[test]
fn a_failed_task_is_replaced_by_the_planners_tasks_and_the_plan_runs_to_the_end() {
    let depends_on_it = "tasks:\n  - id: x\n    prompt: X.\n    deps: [a]\n";
    let good = "tasks:\n  - id: a1\n    title: The schema\n    prompt: Add the schema.\n  - id: a2\n    title: The queries\n    prompt: Add the queries.\n    deps: [a1]\n";
    let p = Planning::new(CONFIG, &[depends_on_it, good, depends_on_it, good]);
    p.repo.write_plan(
        "p.yaml",
        "name: p\ntasks:\n  - id: a\n    title: Do it all\n    prompt: Do everything at once.\n    max_attempts: 1\n    fake:\n      fail_attempts: 9\n  - id: b\n    prompt: Then b.\n    deps: [a]\n  - id: c\n    prompt: Then c.\n    deps: [b]\n",
    );
    assert_eq!(p.command(&["run", "plans/p.yaml"]).output().unwrap().status.code(), Some(3));

    for (args, says) in [
        (&["replan", "a"][..], "pass --yes to replace without asking"),
        (&["replan", "zz", "--yes"][..], "there is no task `zz`"),
        (&["replan", "c", "--yes", "--agent", "cladue"][..], "there is no agent `cladue`"),
    ] {
        let out = p.command(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(p.calls(), 0, "{args:?}: no planner ran");
    }

    // On a terminal (`script` gives it one) it asks, and no changes nothing.
    let mut asked = p.repo.command_under(&["sh", "-c", "exec script -qec \"$0 $*\" /dev/null"], &["replan", "a"]);
    asked.env("PATH", format!("{}:{}", p.bin.display(), std::env::var("PATH").unwrap_or_default()));
    let mut child = asked.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"n\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("replace it? [y/N] ") && said.contains("nothing changed"), "{said}");
    assert_eq!(p.calls(), 2);
    assert!(p.repo.stdout(&["show", "a"], 0).contains("failed"), "no is no");

    let out = p.command(&["replan", "a", "--yes"]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("answer 1 refused: task `x`: depends on `a`, the task it replaces"), "{stderr}");
    assert_eq!(
        stdout,
        "replace task a (failed) with 2 tasks:\n  a1  The schema\n  a2  The queries (after a1)\n\
         b will depend on a2 instead of a\nreplaced: task a is replaced, the new tasks are in the queue\n\
         rewrote plans/p.yaml to match\nnext: `colony run`\n"
    );
    let first = p.prompt(1);
    assert!(first.contains("The task to replace, `a` of plan p: Do it all\n\nDo everything at once."), "{first}");
    assert!(first.contains("Why it stopped: it failed: ") && first.contains("Attempt 1 (failed): "), "{first}");
    assert!(first.contains("- `b` (blocked): Then b.; depends on a\n"), "{first}");
    assert!(p.prompt(4).contains("Your previous answer was refused:\n\ntask `x`: depends on `a`"));

    assert_eq!(p.repo.stdout(&["add", "plans/p.yaml"], 0).lines().next(), Some("plan p: already up to date (4 tasks)"));
    let run = p.repo.stdout(&["run"], 0);
    assert!(run.contains("all 4 tasks done in ") && run.contains(", and 1 replaced by new ones\n"), "{run}");
    let shown = p.repo.stdout(&["show", "a"], 0);
    assert!(shown.contains("replaced: new tasks do its work") && shown.contains("replaced by a1, a2"), "{shown}");
    let merged = p.repo.git_out(&["log", "--first-parent", "--format=%s", "colony/p"]);
    let merges: Vec<&str> = merged.lines().filter(|l| l.starts_with("Merge task ")).collect();
    assert_eq!(merges.len(), 4, "a1, a2, b and c: {merged}");
    let out = p.command(&["replan", "a", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("task a is replaced; only a failed or blocked task"));
}
