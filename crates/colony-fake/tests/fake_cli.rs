//! The fake agent CLIs, run as colony runs the real ones: linked under each
//! CLI's name in a directory first on `PATH`, started with the argv,
//! environment, stdin and files the colony-agents adapter builds, and read
//! back through that adapter's parser and verdict.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use colony_agents::{
    AgentRun, AgentVerdict, CliFacts, CliHarness, CliKind, CliOptions, Entry, ErrorClass, Exit, Harness, Invocation,
    StdinSource, Stream,
};
use colony_core::{TaskId, TaskSpec};
use serde_json::{Value, json};
use tempfile::TempDir;

const PROMPT: &str = "Add the users table.\n";

/// A worktree (a git repository), the attempt's files, and a directory of
/// links to the fake CLI under every CLI's name.
struct Fixture {
    worktree: TempDir,
    files: TempDir,
    bin: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let f =
            Fixture { worktree: TempDir::new().unwrap(), files: TempDir::new().unwrap(), bin: TempDir::new().unwrap() };
        let out = Command::new("git").args(["init", "--quiet"]).current_dir(f.worktree.path()).output().unwrap();
        assert!(out.status.success());
        for kind in CliKind::ALL {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_colony-fake-cli-test"), f.bin.path().join(kind.binary()))
                .unwrap();
        }
        f
    }

    fn log(&self) -> PathBuf {
        self.files.path().join("cli.log")
    }

    fn logged(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn agent_run(&self, fake: Option<Value>, session: Option<String>) -> AgentRun {
        let mut task = TaskSpec::new(TaskId::new("t1").unwrap(), "Users", PROMPT);
        task.fake = fake;
        let task_file = self.files.path().join("task.json");
        std::fs::write(&task_file, serde_json::to_vec(&task).unwrap()).unwrap();
        AgentRun {
            task,
            attempt: 1,
            worktree: self.worktree.path().to_owned(),
            task_file,
            feedback_file: None,
            prompt: PROMPT.into(),
            session,
            output_schema: None,
            talk: None,
        }
    }

    /// Runs `inv` as the engine would: files written, cwd the worktree, the
    /// fake CLIs first on `PATH`.
    fn run(&self, inv: &Invocation) -> Output {
        for (path, bytes) in &inv.files {
            std::fs::write(path, bytes).unwrap();
        }
        let path = format!("{}:{}", self.bin.path().display(), std::env::var("PATH").unwrap_or_default());
        let mut child = Command::new(&inv.program)
            .args(&inv.args)
            .envs(inv.env.iter().map(|(k, v)| (k, v)))
            .env("PATH", path)
            .env("COLONY_FAKE_CLI_LOG", self.log())
            .env_remove("GEMINI_CLI_TRUST_WORKSPACE")
            .current_dir(self.worktree.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        if let StdinSource::Bytes(bytes) = &inv.stdin {
            // A refusing CLI may exit before reading; that is its business.
            let _ = stdin.write_all(bytes);
        }
        drop(stdin);
        child.wait_with_output().unwrap()
    }

    /// One attempt with `kind`'s adapter: the entries and the verdict.
    fn attempt(&self, kind: CliKind, fake: Option<Value>, session: Option<String>) -> Attempt {
        let harness = CliHarness::new(kind, CliOptions::default());
        let inv = harness.invocation(&self.agent_run(fake, session));
        let out = self.run(&inv);
        read(&harness, &out)
    }

    /// Runs `kind` with `args` in place of the adapter's argv.
    fn run_args(&self, kind: CliKind, args: &[&str]) -> Output {
        let harness = CliHarness::new(kind, CliOptions::default());
        let mut inv = harness.invocation(&self.agent_run(None, None));
        inv.args = args.iter().map(Into::into).collect();
        inv.env.retain(|(k, _)| k != "GEMINI_CLI_TRUST_WORKSPACE");
        self.run(&inv)
    }
}

struct Attempt {
    entries: Vec<Entry>,
    verdict: AgentVerdict,
    exit: Exit,
}

impl Attempt {
    fn session(&self) -> Option<String> {
        self.entries.iter().find_map(|e| match e {
            Entry::Session { id } => Some(id.clone()),
            _ => None,
        })
    }
}

fn read(harness: &CliHarness, out: &Output) -> Attempt {
    use std::os::unix::process::ExitStatusExt;
    let mut entries = Vec::new();
    for (stream, bytes) in [(Stream::Stdout, &out.stdout), (Stream::Stderr, &out.stderr)] {
        for line in String::from_utf8_lossy(bytes).lines() {
            entries.extend(harness.parse_line(stream, line, 1_767_261_600_000));
        }
    }
    let exit = match (out.status.code(), out.status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => unreachable!("a process ends by a code or a signal"),
    };
    let verdict = harness.verdict(exit, &entries);
    Attempt { entries, verdict, exit }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn every_fake_cli_succeeds_on_the_adapters_argv_with_one_tool_use() {
    for kind in CliKind::ALL {
        let f = Fixture::new();
        let a = f.attempt(kind, None, None);
        assert_eq!(a.verdict, AgentVerdict::Done, "{kind:?}: {:?}", a.entries);
        assert_eq!(a.exit, Exit::Code(0));
        let written = std::fs::read_to_string(f.worktree.path().join("colony-fake/t1.txt"));
        assert_eq!(written.unwrap(), PROMPT, "{kind:?}");
        let log = f.logged();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0]["cli"], kind.binary());
        assert_eq!(log[0]["prompt_len"], PROMPT.len());
        if kind == CliKind::Aider {
            assert!(a.entries.iter().any(|e| matches!(e, Entry::Raw { text, .. } if text.starts_with("Applied edit"))));
        } else {
            let tools = a.entries.iter().filter(|e| matches!(e, Entry::ToolUse { .. }));
            assert_eq!(tools.count(), 1, "{kind:?}");
            assert!(a.session().is_some(), "{kind:?}");
        }
    }
}

#[test]
fn sessions_are_stable_and_resumed_sessions_are_checked() {
    for kind in CliKind::ALL.into_iter().filter(|k| k.resumes()) {
        let f = Fixture::new();
        let first = f.attempt(kind, None, None).session().unwrap();
        assert_eq!(f.attempt(kind, None, None).session().unwrap(), first);
        let resumed = f.attempt(kind, None, Some(first.clone()));
        assert_eq!(resumed.verdict, AgentVerdict::Done, "{kind:?}");
        assert_eq!(resumed.session().as_ref(), Some(&first));
        assert_eq!(f.logged()[2]["resume"], json!(first), "{kind:?}");
        let unknown = f.attempt(kind, None, Some("not-issued".into()));
        assert_eq!(unknown.exit, Exit::Code(1), "{kind:?}");
        assert!(matches!(unknown.verdict, AgentVerdict::Failed { .. }));
    }
}

#[test]
fn a_rate_limit_fails_with_a_reset_time() {
    for kind in CliKind::ALL {
        let f = Fixture::new();
        let a = f.attempt(kind, Some(json!({"cli": "rate_limit"})), None);
        let AgentVerdict::Failed { class, reset_at, .. } = a.verdict else {
            panic!("{kind:?}: a rate limit must fail");
        };
        assert_eq!(class, ErrorClass::RateLimit, "{kind:?}");
        assert_eq!(reset_at, Some(1_767_261_600_000 + 5 * 60_000), "{kind:?}");
        assert!(!f.worktree.path().join("colony-fake").exists());
    }
}

#[test]
fn errors_and_crashes_fail() {
    for kind in CliKind::ALL {
        let f = Fixture::new();
        let a = f.attempt(kind, Some(json!({"cli": "error"})), None);
        assert_eq!(a.exit, Exit::Code(1), "{kind:?}");
        assert!(matches!(a.verdict, AgentVerdict::Failed { .. }), "{kind:?}");
        let a = f.attempt(kind, Some(json!({"cli": "crash"})), None);
        assert_eq!(a.exit, Exit::Signal(libc::SIGABRT), "{kind:?}");
        let AgentVerdict::Failed { reason, .. } = a.verdict else {
            panic!("{kind:?}: a crash must fail");
        };
        if kind != CliKind::Aider {
            assert!(reason.contains("without its final event"), "{reason}");
        }
    }
}

#[test]
fn claude_can_fail_with_exit_zero() {
    let f = Fixture::new();
    let a = f.attempt(CliKind::Claude, Some(json!({"cli": "is_error_exit0"})), None);
    assert_eq!(a.exit, Exit::Code(0));
    let AgentVerdict::Failed { reason, .. } = a.verdict else {
        panic!("is_error must fail");
    };
    assert!(reason.contains("API Error: 500"), "{reason}");
}

#[test]
fn bad_argv_is_refused_as_the_real_clis_do() {
    let f = Fixture::new();
    let cases: [(CliKind, &[&str], i32, &str); 8] = [
        (CliKind::Claude, &["-p", "--output-format", "stream-json"], 1, "requires --verbose"),
        (CliKind::Claude, &["-p", "--yolo"], 1, "unknown option '--yolo'"),
        (CliKind::Codex, &["exec", "--json", "--full-auto", "-"], 2, "unexpected argument '--full-auto'"),
        (CliKind::Codex, &["exec", "--json"], 2, "`-`"),
        (CliKind::Gemini, &["--output-format", "stream-json"], 55, "not trusted"),
        (CliKind::Opencode, &["run", "--format", "json", "do it"], 1, "stdin"),
        (CliKind::Amp, &["--stream-json"], 1, "-x"),
        (CliKind::Aider, &["--message-file", "/nonexistent/prompt.md"], 1, "Error reading message file"),
    ];
    for (kind, args, code, says) in cases {
        let out = f.run_args(kind, args);
        assert_eq!(out.status.code(), Some(code), "{kind:?} {args:?}");
        assert!(stderr(&out).contains(says), "{kind:?}: {}", stderr(&out));
    }
    let log = f.logged();
    assert_eq!(log.len(), cases.len());
    assert!(log.iter().all(|l| l["prompt_len"].is_null()));
    assert_eq!(log[0]["argv"], json!(["-p", "--output-format", "stream-json"]));
}

#[test]
fn a_name_that_is_no_cli_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_colony-fake-cli-test")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("link it as one of claude"));
}
