//! Reading attempt logs for the dashboard: the tail, the gates' output, what
//! the agent spent, and where the attempt was merged, all in one pass.
//!
//! The engine writes its own notes into the log as stderr lines starting
//! with `colony: `; a gate's run is framed by them:
//! ``colony: gate `CMD` ``, the gate's own output, then either
//! ``colony: gate `CMD` failed (…)`` or the next note (it passed).
//!
//! What one read keeps is bounded ([`Keep`]), and so is each gate's
//! output, whatever the log holds.

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use colony_agents::cut::{cut_middle, text_len};
use colony_agents::{Entry, LogReader, LogRecord};
use colony_core::record::Record;
use serde::Serialize;

/// Lines of a gate's output kept: its end, where the error usually is.
pub(crate) const GATE_LINES: usize = 200;

/// The most of one line of a gate's output kept: its head and its tail.
const GATE_LINE: usize = 4096;

/// How much of a log's end one read keeps: at most `records` records of
/// at most `bytes` bytes of text in all (the newest record always).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keep {
    pub records: usize,
    pub bytes: usize,
}

/// What agents spent, as the page shows it: the store's usage, with a
/// cost nobody reported or priced as `null`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spend {
    pub usd: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
}

impl From<colony_core::Usage> for Spend {
    fn from(u: colony_core::Usage) -> Spend {
        Spend { usd: u.cost_usd, input_tokens: u.input, output_tokens: u.output, cached_tokens: u.cached }
    }
}

/// One run of a gate command.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateRun {
    pub attempt: u32,
    pub command: String,
    /// `None` while it runs (or if the attempt stopped during it).
    pub passed: Option<bool>,
    /// The end of what it printed, each line cut to 4 KiB.
    pub output: Vec<String>,
    /// Earlier lines were dropped, here or from the log.
    pub truncated: bool,
}

/// One attempt's log, read once.
#[derive(Debug, Default)]
pub(crate) struct AttemptLog {
    pub records: usize,
    /// Lines that did not read as records (a write cut short by a crash).
    pub bad_lines: usize,
    pub tail: VecDeque<LogRecord>,
    /// The text bytes in `tail`.
    tail_bytes: usize,
    pub gates: Vec<GateRun>,
}

impl AttemptLog {
    /// Reads the log at `path`, keeping its end as `keep` says; a missing
    /// file is an empty log.
    pub fn read(path: &Path, attempt: u32, keep: Keep) -> AttemptLog {
        let mut log = AttemptLog::default();
        let Ok(mut reader) = LogReader::open(path) else {
            return log;
        };
        while let Some(record) = reader.next_now() {
            match record {
                Ok(record) => log.push(attempt, record, keep),
                Err(_) => log.bad_lines += 1,
            }
        }
        log
    }

    fn push(&mut self, attempt: u32, record: LogRecord, keep: Keep) {
        self.records += 1;
        let open = self.gates.last_mut().filter(|g| g.passed.is_none());
        match (&record.entry, open) {
            (Entry::Colony(Record::Gate { command }), _) => self.gates.push(GateRun {
                attempt,
                command: command.clone(),
                passed: None,
                output: Vec::new(),
                truncated: false,
            }),
            (Entry::Colony(Record::GateEnded { end, .. }), Some(gate)) => gate.passed = Some(end.passed()),
            (Entry::Raw { text, .. }, Some(gate)) => {
                if gate.output.len() == GATE_LINES {
                    gate.output.remove(0);
                    gate.truncated = true;
                }
                gate.output.push(cut_middle(text, GATE_LINE).into_owned());
            }
            (Entry::Omitted { .. }, Some(gate)) => gate.truncated = true,
            _ => {}
        }
        if keep.records == 0 {
            return;
        }
        self.tail_bytes += text_len(&record.entry);
        self.tail.push_back(record);
        while self.tail.len() > 1 && (self.tail.len() > keep.records || self.tail_bytes > keep.bytes) {
            let old = self.tail.pop_front().expect("the tail has records");
            self.tail_bytes -= text_len(&old.entry);
        }
    }
}

/// The last complete record of a log, read from its end: what a worker is
/// doing now.
pub(crate) fn last_record(path: &Path) -> Option<LogRecord> {
    const CHUNK: u64 = 16 * 1024;
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(CHUNK);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.take(CHUNK).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    // Only lines ended by a newline are whole; a first line may be cut.
    let whole = text.rsplit_once('\n')?.0;
    whole.lines().rev().find_map(|line| serde_json::from_str(line).ok())
}

/// A record as one line of text, for the workers view.
pub(crate) fn one_line(entry: &Entry) -> String {
    let text = match entry {
        Entry::Raw { text, .. } | Entry::Text { text } | Entry::TextDelta { text } => text.clone(),
        Entry::StderrError { message, .. } => message.clone(),
        Entry::Unknown { event } => format!("skipped events of unknown type {event}"),
        Entry::ToolUse { name, input_summary } => format!("{name} {input_summary}"),
        Entry::ToolResult { output, is_error: false } => output.clone(),
        Entry::ToolResult { output, is_error: true } => format!("tool failed: {output}"),
        Entry::Usage { input, output, .. } => format!("{input} tokens in, {output} out"),
        Entry::Cost { usd } => format!("${usd:.4}"),
        Entry::Session { id } => format!("session {id}"),
        Entry::Version { version } => format!("version {version}"),
        Entry::Error { message, .. } => format!("error: {message}"),
        Entry::Finished { is_error: false, message } => message.clone().unwrap_or_else(|| "finished".into()),
        Entry::Finished { is_error: true, message } => {
            format!("finished with an error: {}", message.as_deref().unwrap_or("no message"))
        }
        Entry::Omitted { records, bytes } => format!("{records} records ({bytes} bytes) of output left out"),
        Entry::Colony(record) => record.to_string(),
    };
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use colony_agents::{LogWriter, Stream};
    use colony_core::record::GateEnd;
    use std::io::Write;

    fn raw(stream: Stream, text: &str) -> Entry {
        Entry::Raw { stream, text: text.into() }
    }

    fn gate(command: &str) -> Entry {
        Entry::Colony(Record::Gate { command: command.into() })
    }

    fn ended(command: &str, code: i32) -> Entry {
        Entry::Colony(Record::GateEnded { command: command.into(), end: GateEnd::Exited { code }, tail: vec![] })
    }

    fn write(path: &Path, entries: &[Entry]) {
        let mut log = LogWriter::open(path).unwrap();
        for (i, e) in entries.iter().enumerate() {
            log.append(i as i64, e).unwrap();
        }
    }

    #[test]
    fn gates_and_the_tail_come_from_one_read_of_typed_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        write(
            &path,
            &[
                raw(Stream::Stdout, "working"),
                Entry::Usage { input: 10, output: 5, cached: 1 },
                Entry::Cost { usd: 0.25 },
                gate("cargo test"),
                raw(Stream::Stdout, "test a ... FAILED"),
                ended("cargo test", 101),
                Entry::Cost { usd: 0.5 },
                gate("cargo test"),
                raw(Stream::Stdout, "test a ... ok"),
                ended("cargo test", 0),
                raw(Stream::Stderr, "colony: not a gate, whatever it says: gate `x`"),
                gate("cargo fmt --check"),
                ended("cargo fmt --check", 0),
            ],
        );
        let log = AttemptLog::read(&path, 2, Keep { records: 3, bytes: 1 << 20 });
        assert_eq!(log.records, 13);
        assert_eq!(log.tail.len(), 3);
        let gates: Vec<_> = log.gates.iter().map(|g| (g.command.as_str(), g.passed, g.output.clone())).collect();
        assert_eq!(
            gates,
            [
                ("cargo test", Some(false), vec!["test a ... FAILED".to_owned()]),
                ("cargo test", Some(true), vec!["test a ... ok".to_owned()]),
                ("cargo fmt --check", Some(true), vec![]),
            ]
        );
    }

    #[test]
    fn a_running_gate_is_open_and_long_output_keeps_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let mut entries = vec![gate("make")];
        entries.extend((0..GATE_LINES + 5).map(|i| raw(Stream::Stdout, &format!("line {i}"))));
        write(&path, &entries);
        let log = AttemptLog::read(&path, 1, Keep { records: 0, bytes: 0 });
        let gate = &log.gates[0];
        assert_eq!((gate.passed, gate.truncated, gate.output.len()), (None, true, GATE_LINES));
        assert_eq!(gate.output.last().unwrap(), &format!("line {}", GATE_LINES + 4));
        assert!(log.tail.is_empty());
    }

    #[test]
    fn the_tail_is_bounded_in_bytes_and_a_gate_cut_in_the_log_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let mut entries = vec![gate("make"), Entry::Omitted { records: 5, bytes: 500 }];
        entries.extend((0..10).map(|i| raw(Stream::Stdout, &format!("{i}{}", "x".repeat(999)))));
        entries.push(raw(Stream::Stdout, &"y".repeat(10_000)));
        write(&path, &entries);
        let log = AttemptLog::read(&path, 1, Keep { records: 100, bytes: 12_500 });
        assert_eq!((log.records, log.tail.len()), (13, 3), "the newest that fit in the bytes");
        assert!(matches!(&log.tail[0].entry, Entry::Raw { text, .. } if text.starts_with('8')));
        let gate = &log.gates[0];
        assert!(gate.truncated, "the log left part of it out");
        assert!(gate.output.last().unwrap().len() < GATE_LINE + 64, "a long line is cut");
        let one = AttemptLog::read(&path, 1, Keep { records: 100, bytes: 10 });
        assert_eq!(one.tail.len(), 1, "the newest record is kept even over the bytes");
    }

    #[test]
    fn the_last_whole_record_is_found_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        write(&path, &[raw(Stream::Stdout, "first"), Entry::Text { text: "\n  thinking\nmore".into() }]);
        let last = last_record(&path).unwrap();
        assert_eq!(one_line(&last.entry), "  thinking");
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"t\":1,\"kind\"").unwrap();
        assert_eq!(one_line(&last_record(&path).unwrap().entry), "  thinking", "a cut line is skipped");
        assert!(last_record(&dir.path().join("missing")).is_none());
    }
}
