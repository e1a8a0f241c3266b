//! The built fake agent, run the way the `command` harness runs it: in a
//! temporary git repository as its worktree, with colony's environment and
//! the prompt on stdin.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use colony_core::{TaskId, TaskSpec};
use serde_json::{Value, json};
use tempfile::TempDir;

const PROMPT: &str = "Add the users table.\n";

/// A worktree, and beside it the attempt's task and feedback files.
struct Fixture {
    worktree: TempDir,
    files: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let f = Fixture { worktree: TempDir::new().unwrap(), files: TempDir::new().unwrap() };
        f.git(&["init", "--quiet"]);
        f
    }

    /// The fake agent, set up to run task `t1` with `fake` as its block.
    fn command(&self, fake: Option<Value>, attempt: u32, feedback: Option<&str>) -> Command {
        let mut task = TaskSpec::new(TaskId::new("t1").unwrap(), "Users", PROMPT);
        task.fake = fake;
        let task_file = self.files.path().join("task.json");
        std::fs::write(&task_file, serde_json::to_vec(&task).unwrap()).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_colony-fake"));
        cmd.current_dir(self.worktree.path())
            .env("COLONY_TASK_ID", "t1")
            .env("COLONY_ATTEMPT", attempt.to_string())
            .env("COLONY_WORKTREE", self.worktree.path())
            .env("COLONY_TASK_FILE", &task_file)
            .env_remove("COLONY_FEEDBACK_FILE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(text) = feedback {
            let path = self.files.path().join("feedback.md");
            std::fs::write(&path, text).unwrap();
            cmd.env("COLONY_FEEDBACK_FILE", path);
        }
        cmd
    }

    fn spawn(&self, fake: Value) -> Child {
        let mut child = self.command(Some(fake), 1, None).spawn().unwrap();
        child.stdin.take().unwrap().write_all(PROMPT.as_bytes()).unwrap();
        child
    }

    fn run_with(&self, fake: Option<Value>, attempt: u32, feedback: Option<&str>) -> Output {
        let mut child = self.command(fake, attempt, feedback).spawn().unwrap();
        child.stdin.take().unwrap().write_all(PROMPT.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    fn run(&self, fake: Value) -> Output {
        self.run_with(Some(fake), 1, None)
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.worktree.path().join(path)).unwrap()
    }

    fn exists(&self, path: &str) -> bool {
        self.worktree.path().join(path).exists()
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git").args(args).current_dir(self.worktree.path()).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// `git status --porcelain`, untracked files listed one by one.
    fn status(&self) -> String {
        self.git(&["status", "--porcelain", "--untracked-files=all"])
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn assert_ok(out: &Output) {
    assert!(out.status.success(), "{:?}\nstdout:\n{}\nstderr:\n{}", out.status, stdout(out), stderr(out));
}

/// Spawns a script that does not finish by itself, reads its first line,
/// and kills it.
fn starts_and_can_be_killed(fake: Value) {
    let f = Fixture::new();
    let mut child = f.spawn(fake);
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert_eq!(first, "fake: task t1, attempt 1\n");
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn without_a_block_it_writes_the_prompt_to_a_file_named_after_the_task() {
    let f = Fixture::new();
    let out = f.run_with(None, 1, None);
    assert_ok(&out);
    assert_eq!(f.read("colony-fake/t1.txt"), PROMPT);
    assert_eq!(f.status(), "?? colony-fake/t1.txt\n", "left for colony to commit");
    assert_eq!(stdout(&out), "fake: task t1, attempt 1\nfake: wrote colony-fake/t1.txt\nfake: exiting with 0\n");
}

#[test]
fn write_replaces_and_append_adds_to_files() {
    let f = Fixture::new();
    std::fs::write(f.worktree.path().join("shared.txt"), "first\n").unwrap();
    let out = f.run(json!({
        "write": {"src/a.txt": "content\n", "./b.txt": "b"},
        "append": {"shared.txt": "line\n", "new/log.txt": "one\n"},
    }));
    assert_ok(&out);
    assert_eq!((f.read("src/a.txt"), f.read("b.txt")), ("content\n".into(), "b".into()));
    assert_eq!((f.read("shared.txt"), f.read("new/log.txt")), ("first\nline\n".into(), "one\n".into()));
    assert!(!f.exists("colony-fake"), "the default file is only for scripts that write nothing");
    assert!(stdout(&out).contains("fake: wrote src/a.txt\n"));
    assert!(stdout(&out).contains("fake: appended to shared.txt\n"));
}

#[test]
fn commit_commits_the_changes() {
    let f = Fixture::new();
    assert_ok(&f.run(json!({"write": {"src/a.txt": "a\n"}, "commit": true})));
    assert_eq!(f.status(), "", "nothing left uncommitted");
    assert_eq!(f.git(&["log", "--format=%s|%an"]), "fake: t1|colony fake agent\n");
    assert_eq!(f.git(&["show", "HEAD:src/a.txt"]), "a\n");

    // Writing what is already there changes nothing, so there is nothing to commit.
    let again = f.run(json!({"write": {"src/a.txt": "a\n"}, "commit": true}));
    assert_ok(&again);
    assert!(stdout(&again).contains("fake: nothing to commit\n"));
    assert_eq!(f.git(&["rev-list", "--count", "HEAD"]), "1\n");
}

#[test]
fn no_changes_changes_nothing() {
    let f = Fixture::new();
    let out = f.run(json!({"no_changes": true, "commit": true}));
    assert_ok(&out);
    assert_eq!(f.status(), "");
    assert!(stdout(&out).contains("fake: changing nothing\n"));
}

#[test]
fn fail_attempts_fail_the_first_attempts_then_behave_normally() {
    let f = Fixture::new();
    let fake = json!({"fail_attempts": 2, "write": {"a.txt": "a"}});
    for attempt in [1, 2] {
        let out = f.run_with(Some(fake.clone()), attempt, None);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(stderr(&out), format!("fake failure on attempt {attempt}\n"));
        assert!(!f.exists("a.txt"), "a failed attempt changes nothing");
    }
    assert_ok(&f.run_with(Some(fake), 3, None));
    assert_eq!(f.read("a.txt"), "a");
}

#[test]
fn fix_on_feedback_is_written_instead_when_there_is_feedback() {
    let fake = json!({
        "write": {"src/a.txt": "broken\n"},
        "append": {"log.txt": "x\n"},
        "fix_on_feedback": {"src/a.txt": "fixed\n"},
    });
    let f = Fixture::new();
    assert_ok(&f.run_with(Some(fake.clone()), 1, Some("")));
    assert_eq!(f.read("src/a.txt"), "broken\n", "an empty feedback file is no feedback");

    let out = f.run_with(Some(fake), 1, Some("gate `cargo test` failed\n"));
    assert_ok(&out);
    assert_eq!(f.read("src/a.txt"), "fixed\n");
    assert_eq!(f.read("log.txt"), "x\n", "neither `write` nor `append` ran again");
    assert!(stdout(&out).contains("fake: fixing after feedback\nfake: wrote src/a.txt\n"));
}

#[test]
fn exit_sets_the_exit_code_after_doing_the_work() {
    let f = Fixture::new();
    let out = f.run(json!({"exit": 3, "write": {"a.txt": "a"}}));
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(f.read("a.txt"), "a");
    assert!(stdout(&out).ends_with("fake: exiting with 3\n"));
}

#[test]
fn crash_prints_then_dies_of_sigabrt() {
    let f = Fixture::new();
    let out = f.run(json!({"crash": true, "print": ["about to crash"]}));
    assert_eq!(out.status.signal(), Some(libc::SIGABRT));
    assert!(stdout(&out).contains("about to crash\n"));
    assert!(stdout(&out).ends_with("fake: crashing\n"));
}

#[test]
fn print_and_sleep_come_in_order() {
    let f = Fixture::new();
    let started = Instant::now();
    let out = f.run(json!({"print": ["working", "done"], "sleep_ms": 200, "no_changes": true}));
    assert_ok(&out);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        stdout(&out),
        "fake: task t1, attempt 1\nworking\ndone\nfake: changing nothing\nfake: sleeping 200 ms\nfake: exiting with 0\n"
    );
}

#[test]
fn hang_starts_and_can_be_killed() {
    starts_and_can_be_killed(json!({"hang": true}));
}

#[test]
fn silent_after_print_starts_and_can_be_killed() {
    starts_and_can_be_killed(json!({"print": ["working"], "silent_after_print_ms": 100_000}));
}

#[test]
fn a_malformed_block_exits_2_before_changing_anything() {
    let f = Fixture::new();
    for fake in [
        json!({"wirte": {"a.txt": "a"}}),
        json!({"write": {"../escape.txt": "a"}}),
        json!({"write": {"/tmp/abs.txt": "a"}}),
        json!({"write": {"a.txt": "a"}, "no_changes": true}),
        json!({"exit": "one"}),
    ] {
        let out = f.run(fake.clone());
        assert_eq!(out.status.code(), Some(2), "{fake}");
        assert!(stderr(&out).starts_with("colony-fake-agent: bad `fake`"), "{fake}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{fake}");
    }
    assert_eq!(f.status(), "");
}

#[test]
fn missing_environment_exits_2() {
    let f = Fixture::new();
    let mut cmd = f.command(None, 1, None);
    cmd.env_remove("COLONY_TASK_FILE").stdin(Stdio::null());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), "colony-fake-agent: COLONY_TASK_FILE is not set\n");
    assert!(!f.exists("colony-fake"));
}
