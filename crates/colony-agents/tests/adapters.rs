//! Every adapter on its recorded transcripts (`tests/transcripts/`): each
//! line through `parse_line`, the entries through `verdict`, both
//! snapshotted. The snapshots are the reviewed, expected reading of each
//! transcript.

use std::path::Path;

use colony_agents::{AgentVerdict, CliHarness, CliKind, CliOptions, Entry, ErrorClass, Exit, Harness, Stream};
use colony_core::Millis;
use serde::Serialize;

/// 2026-01-01T10:00:00Z: every line arrives then, so resets are exact.
const AT: Millis = 1_767_261_600_000;

const SCENARIOS: [&str; 4] = ["success", "error", "rate_limit", "crash"];

/// What a snapshot holds: the entries, the verdict, and the sums the
/// engine takes from the entries.
#[derive(Serialize)]
struct Reading {
    exit: String,
    entries: Vec<Entry>,
    verdict: Verdict,
    tokens: Tokens,
    cost_usd: Option<f64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum Verdict {
    Done,
    Failed { reason: String, class: ErrorClass, reset_at: Option<Millis> },
}

#[derive(Serialize, Default)]
struct Tokens {
    input: u64,
    output: u64,
    cached: u64,
}

fn read(kind: CliKind, scenario: &str) -> Reading {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/transcripts")
        .join(kind.name())
        .join(format!("{scenario}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap();
    let harness = CliHarness::new(kind, CliOptions::default());
    let mut exit = Exit::Code(0);
    let mut entries = Vec::new();
    for line in text.lines() {
        let (stream, line) = if let Some(code) = line.strip_prefix("#exit ") {
            exit = Exit::Code(code.parse().unwrap());
            continue;
        } else if let Some(signal) = line.strip_prefix("#signal ") {
            exit = Exit::Signal(signal.parse().unwrap());
            continue;
        } else if let Some(err) = line.strip_prefix("#stderr ") {
            (Stream::Stderr, err)
        } else {
            (Stream::Stdout, line)
        };
        entries.extend(harness.parse_line(stream, line, AT));
    }
    let verdict = match harness.verdict(exit, &entries) {
        AgentVerdict::Done => Verdict::Done,
        AgentVerdict::Failed { reason, class, reset_at } => Verdict::Failed { reason, class, reset_at },
    };
    let mut tokens = Tokens::default();
    let mut cost_usd = None;
    for entry in &entries {
        match entry {
            Entry::Usage { input, output, cached } => {
                tokens.input += input;
                tokens.output += output;
                tokens.cached += cached;
            }
            Entry::Cost { usd } => *cost_usd.get_or_insert(0.0) += usd,
            _ => {}
        }
    }
    Reading { exit: exit.to_string(), entries, verdict, tokens, cost_usd }
}

#[test]
fn transcripts_read_as_reviewed() {
    for kind in CliKind::ALL {
        for scenario in SCENARIOS {
            let reading = read(kind, scenario);
            insta::assert_yaml_snapshot!(format!("{}_{scenario}", kind.name()), reading);
        }
    }
}

/// The rules every adapter keeps, checked on every transcript: a success
/// is done, the others fail; one final event at most; failures of the
/// `rate_limit` transcripts are rate limits that say when they lift.
#[test]
fn every_transcript_keeps_the_common_rules() {
    for kind in CliKind::ALL {
        for scenario in SCENARIOS {
            let r = read(kind, scenario);
            let finals = r.entries.iter().filter(|e| matches!(e, Entry::Finished { .. })).count();
            let expected_finals = match (kind, scenario) {
                (CliKind::Aider, _) | (_, "crash") => 0,
                _ => 1,
            };
            assert_eq!(finals, expected_finals, "{kind:?} {scenario}");
            match (scenario, &r.verdict) {
                ("success", Verdict::Done) => {}
                ("rate_limit", Verdict::Failed { class, reset_at, .. }) => {
                    assert_eq!(*class, ErrorClass::RateLimit, "{kind:?}");
                    assert!(reset_at.is_some_and(|t| t > AT), "{kind:?}");
                }
                ("error" | "crash", Verdict::Failed { .. }) => {}
                (_, verdict) => panic!("{kind:?} {scenario}: {verdict:?}"),
            }
            if scenario == "crash" && kind != CliKind::Aider {
                let Verdict::Failed { reason, .. } = &r.verdict else { unreachable!("checked above") };
                assert!(reason.contains("ended without its final event"), "{reason}");
            }
        }
    }
}

/// Adding up the entries gives what the CLI's own totals say.
#[test]
fn usage_and_cost_add_up_to_the_run_totals() {
    let claude = read(CliKind::Claude, "success");
    // The result's usage once, not the three assistant messages' too.
    assert_eq!((claude.tokens.input, claude.tokens.output, claude.tokens.cached), (3900 + 1500, 180, 27300));
    assert_eq!(claude.cost_usd, Some(0.04213));
    let opencode = read(CliKind::Opencode, "success");
    assert_eq!(
        (opencode.tokens.input, opencode.tokens.output, opencode.tokens.cached),
        (1200 + 300 + 300, 150 + 40 + 12, 8000 + 9500)
    );
    assert!((opencode.cost_usd.unwrap() - 0.0164).abs() < 1e-9);
    let codex = read(CliKind::Codex, "success");
    assert_eq!((codex.tokens.input + codex.tokens.cached, codex.tokens.output), (24763, 122));
    assert_eq!(codex.cost_usd, None);
    // Amp: each message's own usage, added up; its result has none.
    let amp = read(CliKind::Amp, "success");
    assert_eq!((amp.tokens.input, amp.tokens.output, amp.tokens.cached), (10 + 2400 + 12 + 40, 80 + 4, 6000 + 8400));
    // Cursor: the result's camelCase usage, cache writes as input.
    let cursor = read(CliKind::Cursor, "success");
    assert_eq!((cursor.tokens.input, cursor.tokens.output, cursor.tokens.cached), (9 + 3100, 210, 11200));
    let gemini = read(CliKind::Gemini, "success");
    assert_eq!((gemini.tokens.input + gemini.tokens.cached, gemini.tokens.output), (15210, 270));
    assert_eq!(gemini.cost_usd, None);
}

const MINUTE: Millis = 60_000;
const HOUR: Millis = 60 * MINUTE;
const DAY: Millis = 24 * HOUR;

/// When a case's failure says its limit lifts.
#[derive(Debug, Clone, Copy)]
enum Reset {
    Never,
    /// This long after the line.
    In(Millis),
    /// At this instant (an epoch the CLI gave, perhaps already gone).
    At(Millis),
    /// The next such wall-clock time, in the machine's zone.
    Clock(i8, i8),
}

/// What one conformance case must read as: `None` class is a success.
struct Case {
    cli: CliKind,
    case: &'static str,
    class: Option<ErrorClass>,
    reset: Reset,
    /// Words the failure's reason must hold.
    says: &'static str,
    tokens: (u64, u64, u64),
    cost: Option<f64>,
    session: Option<&'static str>,
    version: Option<&'static str>,
}

const fn done(cli: CliKind, case: &'static str, tokens: (u64, u64, u64), cost: Option<f64>) -> Case {
    Case { cli, case, class: None, reset: Reset::Never, says: "", tokens, cost, session: None, version: None }
}

const fn failed(cli: CliKind, case: &'static str, class: ErrorClass, reset: Reset, says: &'static str) -> Case {
    Case { cli, case, class: Some(class), reset, says, tokens: (0, 0, 0), cost: None, session: None, version: None }
}

impl Case {
    const fn tokens(self, tokens: (u64, u64, u64)) -> Case {
        Case { tokens, ..self }
    }
    const fn cost(self, usd: f64) -> Case {
        Case { cost: Some(usd), ..self }
    }
    const fn session(self, id: &'static str) -> Case {
        Case { session: Some(id), ..self }
    }
    const fn version(self, version: &'static str) -> Case {
        Case { version: Some(version), ..self }
    }
}

use CliKind::{Aider, Amp, Claude, Codex, Cursor, Gemini, Opencode};
use ErrorClass::{Auth, Other, Overloaded, RateLimit, SpendLimit};

const CLAUDE_S: &str = "3e9d1a70-5b2c-4e8f-a614-0c7d2b9e5f31";
const CODEX_S: &str = "0199b7c1-4d2e-7f30-9a8b-5c6d7e8f9a0b";
const GEMINI_S: &str = "7a6b5c4d-3e2f-4a1b-9c8d-e7f6a5b4c3d2";
const OPENCODE_S: &str = "ses_9f8e7d6c5b4aQwE";
const CURSOR_S: &str = "d2c3b4a5-9687-4f1e-8d0c-b1a2f3e4d5c6";
const AMP_S: &str = "T-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const FINAL: &str = "ended without its final event";

/// Every adapter on every kind of run the CLIs are known to end in:
/// success, tool use over several steps, rate limits with and without a
/// reset (and one already gone, reported as it is: the engine falls back to
/// its backoff), spend caps, refused logins, overloads, a context too long,
/// a crash. A stale reset applies only where a CLI gives an epoch (Claude;
/// Amp and Cursor share its parser); the others give relative or clock
/// times, always after the line.
const CASES: &[Case] = &[
    done(Claude, "success", (5400, 180, 27300), Some(0.04213)).session("5b0c2d7e-1f1a-4c57-9a39-0d1f6a4b9e21"),
    done(Claude, "tools", (912, 410, 30000), Some(0.0712)).session(CLAUDE_S).version("2.1.90"),
    done(Claude, "stderr_noise", (5, 9, 0), Some(0.002)).session(CLAUDE_S).version("2.1.90"),
    failed(Claude, "rate_limit", RateLimit, Reset::At(1_767_272_400_000), "resets 1pm")
        .cost(0.0)
        .session("9c3f1e22-8a7b-4f60-9d0e-3b2a1c4d5e6f"),
    failed(Claude, "rate_limit_no_reset", RateLimit, Reset::Never, "rate_limit_error")
        .cost(0.0)
        .session(CLAUDE_S)
        .version("2.1.90"),
    failed(Claude, "stale_reset", RateLimit, Reset::At(1_767_000_000_000), "usage limit reached")
        .cost(0.0)
        .session(CLAUDE_S)
        .version("2.1.90"),
    failed(Claude, "spend_cap", SpendLimit, Reset::Never, "monthly spend limit")
        .cost(0.0009)
        .session(CLAUDE_S)
        .version("2.1.90"),
    failed(Claude, "auth", Auth, Reset::Never, "Invalid API key").cost(0.0).session(CLAUDE_S).version("2.1.90"),
    failed(Claude, "overload", Overloaded, Reset::Never, "529 Overloaded")
        .cost(0.0004)
        .session(CLAUDE_S)
        .version("2.1.90"),
    failed(Claude, "context_too_long", Other, Reset::Never, "error_during_execution: Prompt is too long")
        .cost(0.0)
        .session(CLAUDE_S)
        .version("2.1.90"),
    failed(Claude, "crash", Other, Reset::Never, FINAL).session("77aa01bc-2d3e-4f50-8a9b-c0d1e2f3a4b5"),
    done(Codex, "success", (315, 122, 24448), None).session("0199a213-81c0-7800-8aa1-bbab2a035a53"),
    done(Codex, "tools", (2100, 640, 28000), None).session(CODEX_S),
    failed(Codex, "rate_limit", RateLimit, Reset::In(2 * HOUR + 3 * MINUTE), "usage limit")
        .session("0199a215-5e6f-7a80-b1c2-d3e4f5a6b7c8"),
    failed(Codex, "rate_limit_clock", RateLimit, Reset::Clock(18, 15), "try again at 6:15 PM").session(CODEX_S),
    failed(Codex, "rate_limit_no_reset", RateLimit, Reset::Never, "429").session(CODEX_S),
    failed(Codex, "spend_cap", SpendLimit, Reset::Never, "billing").session(CODEX_S),
    failed(Codex, "auth", Auth, Reset::Never, "401 Unauthorized").session(CODEX_S),
    failed(Codex, "overload", Overloaded, Reset::Never, "at capacity").session(CODEX_S),
    failed(Codex, "context_too_long", Other, Reset::Never, "context window").session(CODEX_S),
    failed(Codex, "crash", Other, Reset::Never, FINAL).session("0199a216-aaaa-7bbb-8ccc-ddddeeeeffff"),
    done(Gemini, "success", (6210, 270, 9000), None).session("b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"),
    done(Gemini, "tools", (6400, 550, 16000), None).session(GEMINI_S),
    done(Gemini, "stderr_noise", (100, 30, 0), None).session(GEMINI_S),
    failed(Gemini, "rate_limit", RateLimit, Reset::In(27_500), "RESOURCE_EXHAUSTED")
        .session("d3e4f5a6-b7c8-4d9e-8f0a-2b3c4d5e6f7a"),
    failed(Gemini, "rate_limit_stderr", RateLimit, Reset::In(2 * HOUR + 10 * MINUTE + 5_000), "reset after 2h10m5s")
        .session(GEMINI_S),
    failed(Gemini, "rate_limit_no_reset", RateLimit, Reset::Never, "429 Too Many Requests").session(GEMINI_S),
    failed(Gemini, "spend_cap", SpendLimit, Reset::Never, "billing").session(GEMINI_S),
    failed(Gemini, "auth", Auth, Reset::Never, "not signed in"),
    failed(Gemini, "overload", Overloaded, Reset::Never, "overloaded").session(GEMINI_S),
    failed(Gemini, "context_too_long", Other, Reset::Never, "exceeds the maximum number of tokens").session(GEMINI_S),
    failed(Gemini, "crash", Other, Reset::Never, FINAL).session("e4f5a6b7-c8d9-4e0f-9a1b-3c4d5e6f7a8b"),
    done(Opencode, "success", (1800, 202, 17500), Some(0.0164)).session("ses_4a1b2c3d4e5fXyZ"),
    done(Opencode, "tools", (1900, 167, 31500), Some(0.023)).session(OPENCODE_S),
    failed(Opencode, "rate_limit", RateLimit, Reset::In(5 * MINUTE), "rate limit").session("ses_4a1b2c3d4e5fXyZ"),
    failed(Opencode, "rate_limit_new_shape", RateLimit, Reset::In(2 * DAY + 3 * HOUR), "resets in 2d 3h")
        .session(OPENCODE_S),
    failed(Opencode, "rate_limit_no_reset", RateLimit, Reset::Never, "Too Many Requests").session(OPENCODE_S),
    failed(Opencode, "spend_cap", SpendLimit, Reset::Never, "credits").session(OPENCODE_S),
    failed(Opencode, "insufficient_balance", SpendLimit, Reset::Never, "Insufficient balance").session(OPENCODE_S),
    failed(Opencode, "auth", Auth, Reset::Never, "Invalid API key").session(OPENCODE_S),
    failed(Opencode, "overload", Overloaded, Reset::Never, "Overloaded").session(OPENCODE_S),
    failed(Opencode, "context_too_long", Other, Reset::Never, "prompt is too long").session(OPENCODE_S),
    failed(Opencode, "crash", Other, Reset::Never, FINAL),
    done(Cursor, "success", (3109, 210, 11200), None).session("c6e1f0a2-3b4c-4d5e-8f90-a1b2c3d4e5f6"),
    done(Cursor, "tools", (5214, 380, 22000), None).session(CURSOR_S),
    failed(Cursor, "rate_limit", RateLimit, Reset::In(3 * HOUR), "usage limit")
        .session("c6e1f0a2-3b4c-4d5e-8f90-a1b2c3d4e5f6"),
    failed(Cursor, "rate_limit_no_reset", RateLimit, Reset::Never, "rate limit"),
    failed(Cursor, "spend_cap", SpendLimit, Reset::Never, "spend limit"),
    failed(Cursor, "auth", Auth, Reset::Never, "Authentication required"),
    failed(Cursor, "overload", Overloaded, Reset::Never, "overloaded"),
    failed(Cursor, "context_too_long", Other, Reset::Never, "too long").session(CURSOR_S),
    failed(Cursor, "crash", Other, Reset::Never, FINAL).session("c6e1f0a2-3b4c-4d5e-8f90-a1b2c3d4e5f6"),
    done(Amp, "success", (2462, 84, 14400), None).session("T-7f3a9b2c-1d4e-4f5a-8b6c-7d8e9f0a1b2c"),
    done(Amp, "tools", (1538, 155, 14700), None).session(AMP_S),
    failed(Amp, "rate_limit", RateLimit, Reset::In(90_000), "retry after 90 seconds")
        .session("T-7f3a9b2c-1d4e-4f5a-8b6c-7d8e9f0a1b2c"),
    failed(Amp, "rate_limit_no_reset", RateLimit, Reset::Never, "Too many requests").session(AMP_S),
    failed(Amp, "spend_cap", SpendLimit, Reset::Never, "out of credits").session(AMP_S),
    failed(Amp, "auth", Auth, Reset::Never, "Not logged in"),
    failed(Amp, "overload", Overloaded, Reset::Never, "overloaded_error").session(AMP_S),
    failed(Amp, "context_too_long", Other, Reset::Never, "prompt is too long").tokens((50, 10, 0)).session(AMP_S),
    failed(Amp, "crash", Other, Reset::Never, FINAL)
        .tokens((10, 5, 0))
        .session("T-7f3a9b2c-1d4e-4f5a-8b6c-7d8e9f0a1b2c"),
    done(Aider, "success", (0, 0, 0), None),
    failed(Aider, "rate_limit", RateLimit, Reset::In(30_000), "RateLimitError"),
    failed(Aider, "auth", Auth, Reset::Never, "invalid x-api-key"),
    failed(Aider, "crash", Other, Reset::Never, "MemoryError"),
];

/// The next `hour`:`minute` after [`AT`] on this machine's clock.
fn next_local(hour: i8, minute: i8) -> Millis {
    let tz = jiff::tz::TimeZone::system();
    let now = jiff::Timestamp::from_millisecond(AT).unwrap().to_zoned(tz.clone());
    let today = now.date().to_datetime(jiff::civil::time(hour, minute, 0, 0)).to_zoned(tz).unwrap();
    let at = if today.timestamp() > now.timestamp() { today } else { today.tomorrow().unwrap() };
    at.timestamp().as_millisecond()
}

#[test]
fn every_adapter_conforms_to_its_table() {
    for c in CASES {
        let name = format!("{} {}", c.cli.name(), c.case);
        let r = read(c.cli, c.case);
        match (&r.verdict, c.class) {
            (Verdict::Done, None) => {}
            (Verdict::Failed { reason, class, reset_at }, Some(expected)) => {
                assert_eq!(*class, expected, "{name}: {reason}");
                assert!(reason.contains(c.says), "{name}: {reason:?} should say {:?}", c.says);
                let expected_reset = match c.reset {
                    Reset::Never => None,
                    Reset::In(wait) => Some(AT + wait),
                    Reset::At(at) => Some(at),
                    Reset::Clock(hour, minute) => Some(next_local(hour, minute)),
                };
                assert_eq!(*reset_at, expected_reset, "{name}");
            }
            (verdict, expected) => panic!("{name}: {verdict:?}, expected {expected:?}"),
        }
        assert_eq!((r.tokens.input, r.tokens.output, r.tokens.cached), c.tokens, "{name}: tokens");
        match (r.cost_usd, c.cost) {
            (Some(got), Some(want)) => assert!((got - want).abs() < 1e-9, "{name}: cost {got} != {want}"),
            (got, want) => assert_eq!(got, want, "{name}: cost"),
        }
        let last = |pick: fn(&Entry) -> Option<&str>| r.entries.iter().rev().find_map(pick);
        let session = last(|e| match e {
            Entry::Session { id } => Some(id),
            _ => None,
        });
        assert_eq!(session, c.session, "{name}: session");
        let version = last(|e| match e {
            Entry::Version { version } => Some(version),
            _ => None,
        });
        assert_eq!(version, c.version, "{name}: version");
    }
}
