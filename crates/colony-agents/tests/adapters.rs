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
