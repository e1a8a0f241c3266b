//! Each adapter against the shapes of real CLI output, through the real
//! binary: the fake CLI (`colony-fake-cli`) plays a transcript (`fake:
//! {play: [FILE, …]}`), and the tests check what colony decided of it: the
//! task's status and tries, the failure's reason, tokens, cost and the log.
//! The transcripts are colony-agents' own hand-written ones
//! (`crates/colony-agents/tests/transcripts/`), or written here where a
//! case needs a short reset or a pause.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agents::Fakes;
use crate::background::Background;
use crate::repo::TestRepo;

/// A repository whose `PATH` starts with the fake CLIs, running `agent`.
struct Stage {
    fakes: Fakes,
}

impl Stage {
    fn new(agent: &str) -> Stage {
        Stage::with_config(&format!(
            "[run]\nagent = \"{agent}\"\nbackoff_base = \"1s\"\nbackoff_cap = \"1s\"\nmax_attempts = 1\n"
        ))
    }

    fn with_config(config: &str) -> Stage {
        Stage { fakes: Fakes::new(config) }
    }

    fn repo(&self) -> &TestRepo {
        &self.fakes.repo
    }

    /// Writes a transcript of this test's own beside the repository.
    fn transcript(&self, name: &str, lines: &[&str]) -> PathBuf {
        let path = self.repo().base().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    }

    fn command(&self, args: &[&str]) -> Command {
        self.fakes.command(args)
    }

    /// A one-task plan whose agent plays `files` in turn, and its path.
    fn plan(&self, files: &[&Path]) -> String {
        let files: Vec<String> = files.iter().map(|f| format!("\"{}\"", f.display())).collect();
        let plan = format!(
            "name: p\ntasks:\n  - id: t1\n    title: Orders\n    prompt: Give orders an id\n    fake: {{play: [{}], write: {{orders.txt: \"id\\n\"}}}}\n",
            files.join(", ")
        );
        self.repo().write_plan("p.yaml", &plan)
    }

    fn run(&self, files: &[&Path]) -> Output {
        let plan = self.plan(files);
        self.command(&["run", "-q", &plan]).output().unwrap()
    }

    fn task(&self) -> Value {
        self.repo().json(&["show", "t1"])
    }

    fn logs(&self) -> String {
        String::from_utf8(self.command(&["logs", "t1"]).output().unwrap().stdout).unwrap()
    }
}

/// One of colony-agents' transcripts.
fn recorded(cli: &str, case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../colony-agents/tests/transcripts")
        .join(cli)
        .join(format!("{case}.jsonl"))
}

fn usage(task: &Value) -> (u64, u64, u64) {
    let u = &task["attempts"][0]["usage"];
    let n = |k: &str| u[k].as_u64().unwrap_or_else(|| panic!("no {k} in {task}"));
    (n("input"), n("output"), n("cached"))
}

fn said(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// An OpenCode step that ends asking for tools, then a pause longer than
/// colony lets a CLI linger after its final event: the run goes on, and
/// every step's tokens and dollars count.
#[test]
fn an_opencode_run_of_several_steps_is_not_stopped_while_it_works() {
    let stage = Stage::new("opencode");
    let step = |reason: &str, cost: f64, input: u64| {
        format!(
            r#"{{"type":"step_finish","timestamp":1767261604500,"sessionID":"ses_c0nf0rm","part":{{"type":"step-finish","reason":"{reason}","cost":{cost},"tokens":{{"input":{input},"output":10,"reasoning":0,"cache":{{"read":500,"write":0}}}}}}}}"#
        )
    };
    let tool = r#"{"type":"tool_use","timestamp":1767261603000,"sessionID":"ses_c0nf0rm","part":{"type":"tool","tool":"bash","callID":"c1","state":{"status":"completed","input":{"command":"cargo test"},"output":"ok"}}}"#;
    let text = r#"{"type":"text","timestamp":1767261606000,"sessionID":"ses_c0nf0rm","part":{"type":"text","text":"Orders carry an id."}}"#;
    let (first, second, last) = (step("tool_use", 0.01, 100), step("tool-calls", 0.02, 200), step("stop", 0.03, 300));
    let file = stage.transcript("steps.jsonl", &[tool, &first, "#sleep 6500", tool, &second, text, &last]);
    let out = stage.run(&[&file]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let task = stage.task();
    assert_eq!(task["status"], "done", "{task}");
    assert_eq!(usage(&task), (600, 30, 1500), "every step's tokens: {task}");
    let cost = task["attempts"][0]["usage"]["cost_usd"].as_f64().unwrap();
    assert!((cost - 0.06).abs() < 1e-9, "{task}");
    assert!(stage.logs().contains("Orders carry an id."), "the last step was read");
}

/// Gemini prints a spent quota on stderr only and exits 1: a rate limit
/// that lifts when it says, not a crash; the attempt is not used up.
#[test]
fn a_gemini_quota_on_stderr_is_a_rate_limit_not_a_crash() {
    let stage = Stage::new("gemini");
    let quota = stage.transcript(
        "quota.jsonl",
        &[
            r#"{"type":"init","timestamp":"2026-01-01T10:00:00.000Z","session_id":"9e8d7c6b-0000-4000-8000-00000000c0f1","model":"gemini-2.5-pro"}"#,
            "#stderr Error when talking to Gemini API TerminalQuotaError: Your capacity on this model is used up. Your quota will reset after 2s.",
            "#stderr   cause: {",
            "#stderr     code: 429,",
            "#stderr   },",
            "#exit 1",
        ],
    );
    let out = stage.run(&[&quota, &recorded("gemini", "success")]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let task = stage.task();
    assert_eq!((task["status"].as_str(), task["tries"].as_u64()), (Some("done"), Some(1)), "{task}");
    let logs = stage.logs();
    assert!(logs.contains("rate limited"), "{logs}");
    assert!(logs.contains("reset after 2s"), "the stderr line stays in the log: {logs}");
}

/// cursor-agent without a login says so on stderr only: colony stops
/// giving it work and the task keeps its tries.
#[test]
fn a_cursor_login_refused_on_stderr_halts_the_agent_and_keeps_the_tries() {
    let stage = Stage::new("cursor");
    let out = stage.run(&[&recorded("cursor", "auth")]);
    let task = stage.task();
    assert_eq!((task["status"].as_str(), task["tries"].as_u64()), (Some("ready"), Some(0)), "{task}\n{}", said(&out));
    assert!(said(&out).contains("Authentication required"), "{}", said(&out));
}

/// Claude's failed result gives its cause in `errors`: the failure keeps it.
#[test]
fn claudes_error_causes_are_in_the_reason_and_the_log() {
    let stage = Stage::new("claude");
    let out = stage.run(&[&recorded("claude", "context_too_long")]);
    assert_ne!(out.status.code(), Some(0));
    let task = stage.task();
    assert_eq!(task["status"], "failed", "{task}");
    let reason = task["reason"].as_str().unwrap();
    assert!(reason.contains("Prompt is too long: 212000 tokens"), "{reason}");
    assert!(stage.logs().contains("Prompt is too long: 212000 tokens"));
}

/// Cursor's camelCase usage on its result and Amp's usage on each message.
#[test]
fn cursor_and_amp_tokens_are_recorded() {
    for (agent, tokens) in [("cursor", (5214, 380, 22000)), ("amp", (1538, 155, 14700))] {
        let stage = Stage::new(agent);
        let out = stage.run(&[&recorded(agent, "tools")]);
        assert_eq!(out.status.code(), Some(0), "{agent}: {}", said(&out));
        let task = stage.task();
        assert_eq!(task["status"], "done", "{agent}: {task}");
        assert_eq!(usage(&task), tokens, "{agent}: {task}");
    }
}

/// Gemini streams a message as pieces; `colony logs` shows it whole.
#[test]
fn gemini_pieces_of_a_message_are_one_line_of_the_log() {
    let stage = Stage::new("gemini");
    let out = stage.run(&[&recorded("gemini", "tools")]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let logs = stage.logs();
    for message in ["Reading the orders module.", "Orders carry an id now."] {
        assert_eq!(logs.lines().filter(|l| l.contains(message)).count(), 1, "{message}: {logs}");
    }
    assert!(!logs.lines().any(|l| l.trim_end().ends_with("Reading")), "no piece alone: {logs}");
}

/// Codex gives a clock time in the machine's zone: with TZ=Asia/Tokyo,
/// "7:54 PM" is 19:54 in Tokyo, which `colony logs` (in that zone) shows.
#[test]
fn a_codex_clock_reset_is_read_in_the_local_zone() {
    let stage = Stage::new("codex");
    let limit = stage.transcript(
        "limit.jsonl",
        &[
            r#"{"type":"thread.started","thread_id":"0199c0f1-0000-7000-8000-000000000754"}"#,
            r#"{"type":"turn.started"}"#,
            r#"{"type":"turn.failed","error":{"message":"You've hit your usage limit. Ask your admin, or try again at 7:54 PM."}}"#,
            "#exit 1",
        ],
    );
    let plan = stage.plan(&[&limit]);
    let mut run = stage.command(&["run", &plan]);
    run.env("TZ", "Asia/Tokyo");
    let running = Background::spawn(run);
    let deadline = Instant::now() + Duration::from_secs(60);
    let logs = loop {
        let mut logs = stage.command(&["logs", "t1"]);
        let logs = String::from_utf8(logs.env("TZ", "Asia/Tokyo").output().unwrap().stdout).unwrap();
        if logs.contains("try again at 7:54 PM") && logs.contains("until") {
            break logs;
        }
        assert!(Instant::now() < deadline, "no rate limit in the log: {logs}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(logs.contains("(until 19:54:00)"), "{logs}");
    // The run waits hours for that reset: dropping it kills it.
    drop(running);
}

/// Claude rate limited for hours, one worker: the worker goes to the task
/// for another agent, `colony status` says who waits until when, and
/// Ctrl-C ends the wait at once, the try not counted.
#[test]
fn a_rate_limited_agent_gives_its_worker_away_is_shown_waiting_and_stops_at_once() {
    let stage = Stage::with_config("[run]\nagent = \"claude\"\nworkers = 1\nshutdown_grace = \"1h\"\n");
    let limit = stage.transcript(
        "limit.jsonl",
        &[
            r#"{"type":"system","subtype":"init","session_id":"5e55-10n","model":"claude-sonnet-4-5"}"#,
            r#"{"type":"result","subtype":"success","is_error":true,"result":"Rate limit reached. Try again in 3 hours.","session_id":"5e55-10n","api_error_status":429}"#,
        ],
    );
    let plan = format!(
        "name: p\ntasks:\n  - id: t1\n    title: Orders\n    prompt: Give orders an id\n    fake: {{play: [\"{}\"]}}\n  - id: t2\n    title: Users\n    prompt: Add users\n    agent: fake\n",
        limit.display()
    );
    let plan = stage.repo().write_plan("p.yaml", &plan);
    let mut run = Background::spawn(stage.command(&["run", &plan]));
    run.wait_for("the `claude` agent is rate limited");
    run.wait_for("t2");
    let deadline = Instant::now() + Duration::from_secs(120);
    while stage.repo().json(&["show", "t2"])["status"] != "done" {
        assert!(Instant::now() < deadline, "t2 never ran while t1 waited");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = String::from_utf8(stage.command(&["status"]).output().unwrap().stdout).unwrap();
    let line = status.lines().find(|l| l.starts_with("waiting:")).unwrap_or_else(|| panic!("{status}"));
    assert!(line.contains("claude: rate limited until") && line.contains("1 task waiting"), "{line}");
    assert!(line.contains("Try again in 3 hours"), "{line}");
    let json = stage.repo().json(&["status"]);
    let waiting = &json["waiting"][0];
    assert_eq!((waiting["agent"].as_str(), waiting["tasks"].as_u64()), (Some("claude"), Some(1)), "{json}");
    let hours = (waiting["ends_at"].as_i64().unwrap() - waiting["since"].as_i64().unwrap()) as f64 / 3.6e6;
    assert!((2.9..=3.1).contains(&hours), "the wait the agent gave: {json}");
    run.interrupt();
    let (code, out, err) = run.finish();
    assert!(code.is_some(), "{out}{err}");
    let t1 = stage.repo().json(&["show", "t1"]);
    assert_eq!((t1["status"].as_str(), t1["tries"].as_u64()), (Some("ready"), Some(0)), "{t1}");
}

/// A spend cap, from Claude (429 with the words) or OpenCode (402): the
/// agent gets no more work, the task keeps its tries, and the run says
/// what to do; the version the init event gave is kept.
#[test]
fn a_spend_cap_stops_the_agent_and_keeps_the_tries() {
    for (cli, case) in [("claude", "spend_cap"), ("opencode", "spend_cap")] {
        let stage = Stage::new(cli);
        let out = stage.run(&[&recorded(cli, case)]);
        let task = stage.task();
        assert_eq!((task["status"].as_str(), task["tries"].as_u64()), (Some("ready"), Some(0)), "{cli}: {task}");
        let said = said(&out);
        assert!(said.contains("reached a spend cap or ran out of credit"), "{cli}: {said}");
        assert!(said.contains("raise the cap or add credit"), "{cli}: {said}");
        let waiting = &stage.repo().json(&["status"])["waiting"][0];
        assert_eq!((waiting["agent"].as_str(), waiting["ends_at"].as_i64()), (Some(cli), None), "{cli}");
        if cli == "claude" {
            assert_eq!(task["attempts"][0]["agent_version"], "2.1.90", "{task}");
        }
    }
}
