//! The per-attempt agent log: one JSON object a line,
//! `{"t":MILLIS,"kind":...,...}`, a timestamp and a normalized [`Entry`].
//!
//! The writer appends each record with one `write` as it arrives, so
//! `colony logs -f` (another process) sees it at once; the reader tails the
//! growing file by polling, because a plain file gives no portable change
//! notice, and hands out only lines that are complete.
//!
//! The writer is the one thing that lives exactly as long as an attempt,
//! so what an attempt's log needs of memory lives here: pieces of a
//! streamed message ([`Entry::TextDelta`]) are written as one
//! [`Entry::Text`] once the message ends (the next other entry, a note, a
//! flush), and of [`Entry::Unknown`] only the first of each event type is
//! written.
//!
//! A log is bounded ([`LogLimits`]): an agent that prints 200 MB leaves
//! the head of its output, an [`Entry::Omitted`] record saying how much
//! was left out, and the tail. Each record's texts are cut to
//! [`MAX_TEXT`](crate::cut::MAX_TEXT) first.

use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use colony_core::Millis;
use serde::{Deserialize, Serialize};

use crate::AgentError;
use crate::cut::{MAX_TEXT, cap_entry};
use crate::harness::Entry;

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Milliseconds since the Unix epoch.
    pub t: Millis,
    #[serde(flatten)]
    pub entry: Entry,
}

/// Milliseconds since the Unix epoch, as logs and events count time.
pub fn millis(at: SystemTime) -> Millis {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    Millis::try_from(since.as_millis()).unwrap_or(Millis::MAX)
}

/// How big a log grows. Output records are written as they come until the
/// file holds `head` bytes. Later ones wait in memory, only the newest
/// `tail` bytes of them, until the writer is flushed (the engine flushes
/// at the end of each child it runs, and before each note of its own):
/// then an [`Entry::Omitted`] record counts those dropped, and the kept
/// ones follow. Output stops being written once the file holds `max`
/// bytes; colony's own notes, which readers find gates and merges by, are
/// always written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    pub head: u64,
    pub tail: usize,
    pub max: u64,
}

impl LogLimits {
    /// An agent CLI's log of a long task is a few megabytes, mostly tool
    /// output; 8 MiB of head and 2 MiB of tail per child keep all of it,
    /// and an output flood costs 2 MiB of memory and 16 MiB of disk.
    pub const DEFAULT: LogLimits = LogLimits { head: 8 << 20, tail: 2 << 20, max: 16 << 20 };
}

/// Appends records to one attempt's log.
#[derive(Debug)]
pub struct LogWriter {
    file: File,
    path: PathBuf,
    limits: LogLimits,
    /// Bytes in the file.
    size: u64,
    /// Output past the head, waiting for the next flush: the newest
    /// records, as lines, with their times.
    held: VecDeque<(Millis, Vec<u8>)>,
    held_bytes: usize,
    /// Records dropped since the last flush.
    gap: Option<Gap>,
    /// The message being streamed: when its first piece came, and the
    /// pieces so far.
    streamed: Option<(Millis, String)>,
    /// The unknown event types written so far.
    unknown: HashSet<String>,
}

/// Output records dropped from the held tail.
#[derive(Debug, Clone, Copy)]
struct Gap {
    /// The time of the first.
    from: Millis,
    records: u64,
    bytes: u64,
}

impl LogWriter {
    /// Opens `path` for appending, creating it and its directory. A file
    /// whose last line was cut short (colony died mid-write) gets a newline
    /// first, so the cut line stays one bad line and the next record reads.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, AgentError> {
        Self::open_with(path, LogLimits::DEFAULT)
    }

    fn open_with(path: impl Into<PathBuf>, limits: LogLimits) -> Result<Self, AgentError> {
        let path = path.into();
        let fail = |source| AgentError::Log { path: path.clone(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(fail)?;
        let mut size = file.metadata().map_err(fail)?.len();
        if size > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(size - 1)).map_err(fail)?;
            file.read_exact(&mut last).map_err(fail)?;
            if last != *b"\n" {
                file.write_all(b"\n").map_err(fail)?;
                size += 1;
            }
        }
        Ok(Self {
            file,
            path,
            limits,
            size,
            held: VecDeque::new(),
            held_bytes: 0,
            gap: None,
            streamed: None,
            unknown: HashSet::new(),
        })
    }

    /// Appends one record of output (an agent's, a gate's), its texts cut
    /// to [`MAX_TEXT`]. Within the head it reaches the OS (and any reader)
    /// before this returns: the file is unbuffered, and there is no fsync,
    /// a tail reads the page cache. Past the head it is held for the next
    /// [`flush`](Self::flush), or dropped for a newer one.
    ///
    /// An [`Entry::TextDelta`] waits for the rest of its message; an
    /// [`Entry::Unknown`] of a type already written is left out.
    pub fn append(&mut self, t: Millis, entry: &Entry) -> Result<(), AgentError> {
        match entry {
            Entry::TextDelta { text } => {
                let (_, joined) = self.streamed.get_or_insert_with(|| (t, String::new()));
                joined.push_str(text);
                // A message longer than a record holds is written in parts.
                return if joined.len() >= MAX_TEXT { self.end_message() } else { Ok(()) };
            }
            Entry::Unknown { event } if !self.unknown.insert(event.clone()) => return Ok(()),
            _ => {}
        }
        self.end_message()?;
        self.append_line(t, entry)
    }

    /// Appends the streamed message, if one is under way, as one
    /// [`Entry::Text`].
    fn end_message(&mut self) -> Result<(), AgentError> {
        match self.streamed.take() {
            Some((t, text)) => self.append_line(t, &Entry::Text { text }),
            None => Ok(()),
        }
    }

    fn append_line(&mut self, t: Millis, entry: &Entry) -> Result<(), AgentError> {
        let line = line(t, entry);
        if self.held.is_empty() && self.size + line.len() as u64 <= self.limits.head {
            return self.write(&line);
        }
        self.held_bytes += line.len();
        self.held.push_back((t, line));
        while self.held_bytes > self.limits.tail {
            self.drop_oldest();
        }
        Ok(())
    }

    /// Appends a record of colony's own: written at once, after the output
    /// held so far, whatever the log's size.
    pub fn note(&mut self, t: Millis, entry: &Entry) -> Result<(), AgentError> {
        self.flush()?;
        self.write(&line(t, entry))
    }

    /// Writes the output held past the head: a record of what was dropped,
    /// if anything was, then the newest records, as many as the log's
    /// `max` leaves room for.
    pub fn flush(&mut self) -> Result<(), AgentError> {
        self.end_message()?;
        let room = self.limits.max.saturating_sub(self.size);
        while self.held_bytes as u64 > room {
            self.drop_oldest();
        }
        if let Some(gap) = self.gap.take() {
            self.write(&line(gap.from, &Entry::Omitted { records: gap.records, bytes: gap.bytes }))?;
        }
        let held: Vec<u8> = self.held.drain(..).flat_map(|(_, line)| line).collect();
        self.held_bytes = 0;
        if held.is_empty() { Ok(()) } else { self.write(&held) }
    }

    fn drop_oldest(&mut self) {
        let Some((t, line)) = self.held.pop_front() else { return };
        self.held_bytes -= line.len();
        let gap = self.gap.get_or_insert(Gap { from: t, records: 0, bytes: 0 });
        gap.records += 1;
        gap.bytes += line.len() as u64;
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), AgentError> {
        self.file.write_all(bytes).map_err(|source| AgentError::Log { path: self.path.clone(), source })?;
        self.size += bytes.len() as u64;
        Ok(())
    }
}

impl Drop for LogWriter {
    /// What is held is written: a writer dropped without a flush (an
    /// attempt that ended on an error) loses no tail.
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// A [`LogRecord`] to write, borrowing its entry.
#[derive(Serialize)]
struct RecordOut<'a> {
    t: Millis,
    #[serde(flatten)]
    entry: &'a Entry,
}

/// One record as a line of the log, its texts cut to [`MAX_TEXT`].
fn line(t: Millis, entry: &Entry) -> Vec<u8> {
    let serialize = |entry: &Entry| {
        let mut line = serde_json::to_vec(&RecordOut { t, entry }).expect("a log record always serializes");
        line.push(b'\n');
        line
    };
    let line = serialize(entry);
    if line.len() <= MAX_TEXT {
        return line;
    }
    let mut capped = entry.clone();
    if cap_entry(&mut capped) { serialize(&capped) } else { line }
}

/// Reads one attempt's log from the start; a later read finds what was
/// written since.
#[derive(Debug)]
pub struct LogReader {
    file: File,
    path: PathBuf,
    /// Bytes read but not yet handed out as lines.
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no newline.
    scanned: usize,
    /// Lines handed out so far, for error reports.
    line: u64,
}

impl LogReader {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AgentError> {
        let path = path.as_ref().to_owned();
        let file = File::open(&path).map_err(|source| AgentError::Log { path: path.clone(), source })?;
        Ok(Self { file, path, buf: Vec::new(), scanned: 0, line: 0 })
    }

    /// The next complete record already in the file, or `None` for now. A
    /// line that does not parse is an error, and the reader moves past it.
    pub fn next_now(&mut self) -> Option<Result<LogRecord, AgentError>> {
        loop {
            if let Some(i) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
                let end = self.scanned + i;
                let bytes: Vec<u8> = self.buf.drain(..=end).collect();
                self.scanned = 0;
                self.line += 1;
                let text = &bytes[..end];
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(serde_json::from_slice(text).map_err(|source| AgentError::BadLogLine {
                    path: self.path.clone(),
                    line: self.line,
                    source,
                }));
            }
            self.scanned = self.buf.len();
            let mut chunk = [0u8; 64 * 1024];
            match self.file.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(source) => {
                    return Some(Err(AgentError::Log { path: self.path.clone(), source }));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::harness::ErrorClass;
    use crate::supervise::Stream;

    fn raw(text: &str) -> Entry {
        Entry::Raw { stream: Stream::Stdout, text: text.into() }
    }

    #[test]
    fn a_streamed_message_is_one_text_record_and_an_unknown_type_one_note() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.jsonl");
        let mut w = LogWriter::open(&path).unwrap();
        let delta = |text: &str| Entry::TextDelta { text: text.into() };
        let unknown = |event: &str| Entry::Unknown { event: event.into() };
        w.append(1, &delta("I will add")).unwrap();
        w.append(2, &delta(" the table.\n")).unwrap();
        w.append(3, &unknown("thought")).unwrap();
        w.append(4, &unknown("thought")).unwrap();
        w.append(5, &Entry::ToolUse { name: "write_file".into(), input_summary: "a.sql".into() }).unwrap();
        w.append(6, &unknown("citation")).unwrap();
        w.append(7, &delta("Done.")).unwrap();
        w.note(8, &raw("colony: note")).unwrap();
        w.append(9, &delta("After the note")).unwrap();
        w.append(10, &unknown("thought")).unwrap();
        drop(w);
        let records: Vec<(Millis, Entry)> = read_all(&path).into_iter().map(|r| (r.t, r.entry)).collect();
        assert_eq!(
            records,
            [
                (1, Entry::Text { text: "I will add the table.\n".into() }),
                (3, unknown("thought")),
                (5, Entry::ToolUse { name: "write_file".into(), input_summary: "a.sql".into() }),
                (6, unknown("citation")),
                (7, Entry::Text { text: "Done.".into() }),
                (8, raw("colony: note")),
                (9, Entry::Text { text: "After the note".into() }),
            ]
        );
    }

    #[test]
    fn records_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/t/1.jsonl");
        let entries = [
            raw("hello"),
            Entry::Text { text: "done".into() },
            Entry::ToolUse { name: "Read".into(), input_summary: "src/lib.rs".into() },
            Entry::ToolResult { output: "fn main".into(), is_error: false },
            Entry::Usage { input: 100, output: 75, cached: 50 },
            Entry::Session { id: "abc".into() },
            Entry::Error { class: ErrorClass::RateLimit, message: "429".into(), reset_at: Some(5) },
            Entry::Cost { usd: 0.25 },
        ];
        let mut w = LogWriter::open(&path).unwrap();
        for (t, e) in entries.iter().enumerate() {
            w.append(t as Millis, e).unwrap();
        }
        let mut r = LogReader::open(&path).unwrap();
        let back: Vec<Entry> = std::iter::from_fn(|| r.next_now()).map(|rec| rec.unwrap().entry).collect();
        assert_eq!(back, entries);
        let first = std::fs::read_to_string(&path).unwrap().lines().next().unwrap().to_owned();
        assert_eq!(first, r#"{"t":0,"kind":"raw","stream":"stdout","text":"hello"}"#);
    }

    #[test]
    fn a_half_written_line_waits_until_it_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.jsonl");
        std::fs::write(&path, br#"{"t":1,"kind":"raw","stream":"stderr","te"#).unwrap();
        let mut r = LogReader::open(&path).unwrap();
        assert!(r.next_now().is_none());
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"xt\":\"x\"}\n").unwrap();
        let rec = r.next_now().unwrap().unwrap();
        assert_eq!(rec.entry, Entry::Raw { stream: Stream::Stderr, text: "x".into() });
    }

    #[test]
    fn a_torn_line_from_a_crash_is_one_error_and_then_reading_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.jsonl");
        std::fs::write(&path, br#"{"t":1,"kind":"ra"#).unwrap();
        LogWriter::open(&path).unwrap().append(2, &raw("after")).unwrap();
        let mut r = LogReader::open(&path).unwrap();
        assert!(matches!(r.next_now(), Some(Err(AgentError::BadLogLine { line: 1, .. }))));
        assert_eq!(r.next_now().unwrap().unwrap(), LogRecord { t: 2, entry: raw("after") });
        assert!(r.next_now().is_none());
    }

    fn read_all(path: &Path) -> Vec<LogRecord> {
        let mut r = LogReader::open(path).unwrap();
        std::iter::from_fn(|| r.next_now()).map(|rec| rec.unwrap()).collect()
    }

    fn numbered(records: &[LogRecord]) -> Vec<i64> {
        records.iter().filter(|r| matches!(r.entry, Entry::Raw { .. })).map(|r| r.t).collect()
    }

    #[test]
    fn output_past_the_head_keeps_the_newest_and_counts_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.jsonl");
        let limits = LogLimits { head: 1000, tail: 500, max: 4000 };
        let mut w = LogWriter::open_with(&path, limits).unwrap();
        for i in 0..1000 {
            w.append(i, &raw(&format!("line {i:04}"))).unwrap();
        }
        let written = std::fs::metadata(&path).unwrap().len();
        assert!(written <= limits.head, "only the head is written before a flush: {written}");
        w.flush().unwrap();
        let records = read_all(&path);
        let kept = numbered(&records);
        let head = kept.iter().enumerate().take_while(|&(i, &t)| t == i as i64).count();
        assert!(head > 10, "the head, in order: {kept:?}");
        assert_eq!(*kept.last().unwrap(), 999, "the tail ends with the last record");
        let Some(Entry::Omitted { records: left_out, bytes }) =
            records.iter().map(|r| &r.entry).find(|e| matches!(e, Entry::Omitted { .. }))
        else {
            panic!("no omitted record: {records:?}");
        };
        assert_eq!(kept.len() as u64 + left_out, 1000, "every record is kept or counted");
        assert!(*bytes > 0);
        let gap = records.iter().position(|r| matches!(r.entry, Entry::Omitted { .. })).unwrap();
        assert_eq!(records[gap].t, head as i64, "the omitted record is dated at its first record");
        assert_eq!(kept[head..], (1000 - (kept.len() - head) as i64..1000).collect::<Vec<_>>()[..]);
        assert!(std::fs::metadata(&path).unwrap().len() <= limits.max);
    }

    #[test]
    fn past_the_max_only_notes_and_counts_are_written_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.jsonl");
        let limits = LogLimits { head: 300, tail: 200, max: 400 };
        let mut w = LogWriter::open_with(&path, limits).unwrap();
        for round in 0..3 {
            for i in 0..50 {
                w.append(round * 100 + i, &raw("some output of a child")).unwrap();
            }
            w.note(round * 100 + 99, &raw(&format!("colony: note {round}"))).unwrap();
        }
        drop(w);
        let records = read_all(&path);
        let notes: Vec<_> = records
            .iter()
            .filter_map(|r| match &r.entry {
                Entry::Raw { text, .. } if text.starts_with("colony:") => Some(r.t),
                _ => None,
            })
            .collect();
        assert_eq!(notes, [99, 199, 299], "every note, whatever the size");
        let ts: Vec<i64> = records.iter().map(|r| r.t).collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]), "in order: {ts:?}");
        let counted: u64 = records
            .iter()
            .map(|r| match r.entry {
                Entry::Omitted { records, .. } => records,
                _ => 0,
            })
            .sum();
        assert_eq!(numbered(&records).len() as u64 - 3 + counted, 150, "each output record kept or counted");
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size <= limits.max + 3 * 200, "output stops at the max; notes and counts pass: {size}");
    }

    #[test]
    fn a_huge_record_keeps_the_head_and_tail_of_its_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.jsonl");
        let text = format!("START{}END", "z".repeat(10 << 20));
        LogWriter::open(&path).unwrap().append(1, &raw(&text)).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() < 2 * MAX_TEXT as u64);
        let Entry::Raw { text, .. } = &read_all(&path)[0].entry else { panic!("a raw record") };
        assert!(text.starts_with("STARTzzz") && text.ends_with("zzzEND"), "{}", &text[..20]);
        assert!(text.contains(&format!("[… {} bytes cut …]", 10 * 1024 * 1024 + 8 - MAX_TEXT)), "{}", text.len());
    }

    #[test]
    fn millis_counts_from_the_epoch() {
        assert_eq!(millis(UNIX_EPOCH + Duration::from_millis(1234)), 1234);
        assert_eq!(millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
