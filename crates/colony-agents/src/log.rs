//! The per-attempt agent log: one JSON object a line,
//! `{"t":MILLIS,"kind":...,...}`, a timestamp and a normalized [`Entry`].
//!
//! The writer appends each record with one `write` as it arrives, so
//! `colony logs -f` (another process) sees it at once; the reader tails the
//! growing file by polling, because a plain file gives no portable change
//! notice, and hands out only lines that are complete.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use colony_core::Millis;
use serde::{Deserialize, Serialize};
use tokio::time::sleep;
use tokio_util::sync::CancellationToken;

use crate::AgentError;
use crate::harness::Entry;

/// How often a following reader looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

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

/// Appends records to one attempt's log.
#[derive(Debug)]
pub struct LogWriter {
    file: File,
    path: PathBuf,
}

impl LogWriter {
    /// Opens `path` for appending, creating it and its directory. A file
    /// whose last line was cut short (colony died mid-write) gets a newline
    /// first, so the cut line stays one bad line and the next record reads.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, AgentError> {
        let path = path.into();
        let fail = |source| AgentError::Log { path: path.clone(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(fail)?;
        let len = file.metadata().map_err(fail)?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1)).map_err(fail)?;
            file.read_exact(&mut last).map_err(fail)?;
            if last != *b"\n" {
                file.write_all(b"\n").map_err(fail)?;
            }
        }
        Ok(Self { file, path })
    }

    /// Appends one record. The file is unbuffered: the line reaches the OS
    /// (and any reader) before this returns; no fsync, a tail reads the
    /// page cache.
    pub fn append(&mut self, t: Millis, entry: &Entry) -> Result<(), AgentError> {
        let record = LogRecord { t, entry: entry.clone() };
        let mut line = serde_json::to_vec(&record).expect("a log record always serializes");
        line.push(b'\n');
        self.file.write_all(&line).map_err(|source| AgentError::Log { path: self.path.clone(), source })
    }
}

/// Reads one attempt's log from the start, and follows it as it grows.
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

    /// The next record, waiting for the file to grow. Once `stop` is
    /// cancelled it no longer waits: it returns what is already written,
    /// then `None`.
    pub async fn next_follow(&mut self, stop: &CancellationToken) -> Option<Result<LogRecord, AgentError>> {
        loop {
            if let Some(record) = self.next_now() {
                return Some(record);
            }
            if stop.is_cancelled() {
                return None;
            }
            tokio::select! {
                () = stop.cancelled() => {}
                () = sleep(FOLLOW_POLL) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::ErrorClass;
    use crate::supervise::Stream;

    fn raw(text: &str) -> Entry {
        Entry::Raw { stream: Stream::Stdout, text: text.into() }
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

    #[tokio::test]
    async fn a_follower_sees_new_records_and_stops_when_told() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.jsonl");
        let mut w = LogWriter::open(&path).unwrap();
        let mut r = LogReader::open(&path).unwrap();
        let stop = CancellationToken::new();
        let writer = tokio::spawn(async move {
            for i in 0..3 {
                w.append(i, &raw(&format!("line {i}"))).unwrap();
                tokio::task::yield_now().await;
            }
            w
        });
        for i in 0..3 {
            let rec = r.next_follow(&stop).await.unwrap().unwrap();
            assert_eq!(rec.entry, raw(&format!("line {i}")));
        }
        let mut w = writer.await.unwrap();
        w.append(9, &raw("written before the stop")).unwrap();
        stop.cancel();
        assert_eq!(r.next_follow(&stop).await.unwrap().unwrap().t, 9);
        assert!(r.next_follow(&stop).await.is_none());
    }

    #[test]
    fn millis_counts_from_the_epoch() {
        assert_eq!(millis(UNIX_EPOCH + Duration::from_millis(1234)), 1234);
        assert_eq!(millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
