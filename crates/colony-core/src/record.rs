//! colony's own records of an attempt's steps, written to the attempt's
//! log beside its agent's output: the worktree's setup commands and the
//! gates and how each ended, conflicts and resolver rounds, review rounds,
//! trains, and where the work merged.
//! The dashboard, `colony logs` and `colony demo` read these records, never
//! sentences; each has one wording for people ([`Record`]'s `Display`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// One step of an attempt, as colony took it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Record {
    /// The attempt's worktree was made from the integration branch's tip.
    Began { attempt: u32, worktree: String, integration: String, from: String },
    /// A gate starts; its output follows in the log until it ends.
    Gate { command: String },
    /// A gate ended.
    GateEnded {
        command: String,
        end: GateEnd,
        /// The last lines of its output, when it failed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tail: Vec<String>,
    },
    /// A gate was not run: its verdict on this very tree is known from an
    /// earlier run.
    GateKnown { command: String, tree: String, passed: bool },
    /// A gate failed on the work, and fails on the integration branch at
    /// `tip` too: with `--allow-failing-gates`, not held against the work.
    GateFailsOnBase { command: String, integration: String, tip: String },
    /// A `[worktree] setup` command starts in the fresh worktree, before
    /// the agent's first round; its output follows until it ends.
    Setup { command: String },
    /// A setup command ended; one that failed ends the attempt before any
    /// agent runs.
    SetupEnded {
        command: String,
        end: GateEnd,
        /// The last lines of its output, when it failed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tail: Vec<String>,
    },
    /// The setup commands were not run: what they made in an earlier
    /// worktree with the same key was copied in (`[worktree] reuse_setup`).
    SetupReused {
        key: String,
        /// Files (and symlinks) copied.
        files: u64,
        commands: Vec<String>,
    },
    /// What the setup commands made was kept under `key`, for later
    /// worktrees to copy.
    SetupKept { key: String, files: u64 },
    /// The integration tip was brought into the task branch.
    BroughtIn { integration: String },
    /// Merging the integration tip stopped on conflicts: resolver round
    /// `round` asks the agent to resolve them.
    Conflict { paths: Vec<String>, round: u32 },
    /// The resolver round left conflict markers in these files.
    MarkersLeft { paths: Vec<String> },
    /// A reviewer reads the work.
    Review { round: u32, reviewer: String },
    /// A review round decided: approved, or changes asked by `asked`.
    Reviewed { round: u32, approved: bool, asked: Vec<String> },
    /// The gates run on this attempt's merge into `integration` before its
    /// turn: `candidate`, its work merged onto the merges of `ahead`, still
    /// to land, or onto the tip when `ahead` is empty.
    Candidate { integration: String, ahead: Vec<String>, candidate: String },
    /// This attempt leads a train of these tasks (itself first), gated
    /// once on `candidate`.
    Train { riders: Vec<String>, candidate: String },
    /// The work is in the integration branch at `commit`; `train` when a
    /// train carried it.
    Merged {
        integration: String,
        commit: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        train: Option<Ride>,
    },
    /// The prompt sent to an agent (`to`: `builder` or `reviewer`) for a
    /// round, as sent.
    Prompt { to: String, text: String },
    /// Anything else colony says about the attempt, for people.
    Note { text: String },
}

/// How a gate or a setup command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum GateEnd {
    Exited {
        code: i32,
    },
    Signalled {
        signal: i32,
    },
    /// Stopped at its timeout.
    TimedOut {
        after_ms: u64,
    },
    /// Stopped because the attempt stopped.
    Stopped,
}

impl GateEnd {
    pub fn passed(self) -> bool {
        self == GateEnd::Exited { code: 0 }
    }
}

/// The train that carried a task's merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ride {
    pub leader: String,
    pub cars: usize,
}

impl fmt::Display for GateEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GateEnd::Exited { code: 0 } => f.write_str("passed"),
            GateEnd::Exited { code } => write!(f, "failed (exit code {code})"),
            GateEnd::Signalled { signal } => write!(f, "failed (signal {signal})"),
            GateEnd::TimedOut { after_ms } => {
                write!(f, "failed (stopped after {})", crate::time::human_millis(*after_ms))
            }
            GateEnd::Stopped => f.write_str("stopped"),
        }
    }
}

/// `1 file`, `3 files`.
fn count_files(n: u64) -> String {
    if n == 1 { "1 file".into() } else { format!("{n} files") }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |items: &[String]| items.join(", ");
        match self {
            Record::Began { attempt, worktree, integration, from } => {
                write!(f, "attempt {attempt} in {worktree} from {integration} at {from}")
            }
            Record::Gate { command } => write!(f, "gate `{command}`"),
            Record::GateEnded { command, end, .. } => write!(f, "gate `{command}` {end}"),
            Record::GateKnown { command, tree, passed } => write!(
                f,
                "gate `{command}` {} on tree {tree} before; not run again",
                if *passed { "passed" } else { "failed" }
            ),
            Record::GateFailsOnBase { command, integration, tip } => write!(
                f,
                "gate `{command}` fails on {integration} at {tip} too; with --allow-failing-gates it is not held \
                 against this work"
            ),
            Record::Setup { command } => write!(f, "setup `{command}`"),
            Record::SetupEnded { command, end, .. } => write!(f, "setup `{command}` {end}"),
            Record::SetupReused { key, files, commands } => {
                let commands: Vec<String> = commands.iter().map(|c| format!("`{c}`")).collect();
                write!(f, "setup reused from {key} ({}) instead of running {}", count_files(*files), list(&commands))
            }
            Record::SetupKept { key, files } => write!(f, "setup's result kept as {key} ({})", count_files(*files)),
            Record::BroughtIn { integration } => {
                write!(f, "brought {integration} in; the gates run on the merged result")
            }
            Record::Conflict { paths, round } => write!(f, "conflict in {}; resolver round {round}", list(paths)),
            Record::MarkersLeft { paths } => write!(f, "conflict markers left in {}", list(paths)),
            Record::Review { round, reviewer } => write!(f, "review round {round} by `{reviewer}`"),
            Record::Reviewed { round, approved: true, .. } => write!(f, "review round {round} approved"),
            Record::Reviewed { round, asked, .. } => {
                let who: Vec<String> = asked.iter().map(|a| format!("`{a}`")).collect();
                write!(f, "review round {round}: {} asked for changes", list(&who))
            }
            Record::Candidate { integration, ahead, candidate } if ahead.is_empty() => {
                write!(f, "the gates run on its merge into {integration} before its turn: {candidate}")
            }
            Record::Candidate { integration, ahead, candidate } => write!(
                f,
                "the gates run on its merge into {integration} before its turn, after {} (still to land): {candidate}",
                list(ahead)
            ),
            Record::Train { riders, candidate } => {
                write!(f, "a merge train of {}: {}; the gates run once on {candidate}", riders.len(), list(riders))
            }
            Record::Merged { integration, commit, train: None } => write!(f, "merged into {integration} at {commit}"),
            Record::Merged { integration, commit, train: Some(Ride { leader, cars }) } => write!(
                f,
                "merged into {integration} at {commit} in a train of {cars} led by {leader}; \
                 the gates ran once on the train's result"
            ),
            Record::Prompt { to, text } => {
                let lines = text.lines().count();
                let s = if lines == 1 { "" } else { "s" };
                write!(f, "prompt sent to the {to}: {lines} line{s} (`colony show` with `--prompt` prints it)")
            }
            Record::Note { text } => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_as_json_with_their_step_and_back() {
        let gate = Record::GateEnded {
            command: "make".into(),
            end: GateEnd::Exited { code: 2 },
            tail: vec!["1 failed".into()],
        };
        let json = serde_json::to_value(&gate).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"step": "gate_ended", "command": "make", "end": {"how": "exited", "code": 2},
                "tail": ["1 failed"]})
        );
        assert_eq!(serde_json::from_value::<Record>(json).unwrap(), gate);
        let merged = Record::Merged {
            integration: "colony/p".into(),
            commit: "abc".into(),
            train: Some(Ride { leader: "a".into(), cars: 3 }),
        };
        assert_eq!(serde_json::from_str::<Record>(&serde_json::to_string(&merged).unwrap()).unwrap(), merged);
    }

    #[test]
    fn each_record_has_one_wording() {
        let end = |end| Record::GateEnded { command: "make".into(), end, tail: vec![] }.to_string();
        assert_eq!(end(GateEnd::Exited { code: 0 }), "gate `make` passed");
        assert_eq!(end(GateEnd::Exited { code: 1 }), "gate `make` failed (exit code 1)");
        assert_eq!(end(GateEnd::TimedOut { after_ms: 90_000 }), "gate `make` failed (stopped after 1m 30s)");
        assert!(GateEnd::Exited { code: 0 }.passed() && !GateEnd::Stopped.passed());
        assert_eq!(Record::Setup { command: "npm ci".into() }.to_string(), "setup `npm ci`");
        let setup = |end| Record::SetupEnded { command: "npm ci".into(), end, tail: vec![] }.to_string();
        assert_eq!(setup(GateEnd::Exited { code: 0 }), "setup `npm ci` passed");
        assert_eq!(setup(GateEnd::Signalled { signal: 9 }), "setup `npm ci` failed (signal 9)");
        let reused = Record::SetupReused { key: "0a1b".into(), files: 12, commands: vec!["npm ci".into()] };
        assert_eq!(reused.to_string(), "setup reused from 0a1b (12 files) instead of running `npm ci`");
        assert_eq!(
            Record::SetupKept { key: "0a1b".into(), files: 3 }.to_string(),
            "setup's result kept as 0a1b (3 files)"
        );
        let asked = Record::Reviewed { round: 2, approved: false, asked: vec!["a".into(), "b".into()] };
        assert_eq!(asked.to_string(), "review round 2: `a`, `b` asked for changes");
        let prompt = Record::Prompt { to: "builder".into(), text: "Do it.\n\nNow.\n".into() };
        assert_eq!(prompt.to_string(), "prompt sent to the builder: 3 lines (`colony show` with `--prompt` prints it)");
        let known = Record::GateKnown { command: "make".into(), tree: "t1".into(), passed: true };
        assert_eq!(known.to_string(), "gate `make` passed on tree t1 before; not run again");
        let ahead =
            Record::Candidate { integration: "colony/p".into(), ahead: vec!["a".into()], candidate: "c0".into() };
        assert_eq!(
            ahead.to_string(),
            "the gates run on its merge into colony/p before its turn, after a (still to land): c0"
        );
        let train = Record::Train { riders: vec!["a".into(), "b".into()], candidate: "c0ffee".into() };
        assert_eq!(train.to_string(), "a merge train of 2: a, b; the gates run once on c0ffee");
    }
}
