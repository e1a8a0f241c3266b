//! Following an attempt's log as the engine writes it, until the attempt
//! ends: what `colony logs -f` prints and the dashboard's log stream sends.
//!
//! The file is looked at every [`FILE_POLL`]; the store is asked whether
//! the attempt has ended at the caller's pace. The engine writes its last
//! log line before it records the end, so a follower that sees the end
//! reads the file to its end and misses nothing.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::store::Store;
use colony_agents::{AgentError, LogReader, LogRecord};
use colony_core::TaskId;

/// How often the file is looked at for new lines.
const FILE_POLL: Duration = Duration::from_millis(100);

/// One attempt's log, read as it grows.
pub struct LogFollower<'a, S> {
    store: &'a S,
    task: &'a TaskId,
    attempt: u32,
    path: PathBuf,
    /// How often the store is asked whether the attempt has ended.
    poll: Duration,
    reader: Option<LogReader>,
    ended: bool,
    asked: Option<Instant>,
}

impl<'a, S: Store> LogFollower<'a, S> {
    /// Follows the log at `path` of `task`'s `attempt`, asking `store`
    /// every `poll` whether the attempt has ended.
    pub fn new(store: &'a S, task: &'a TaskId, attempt: u32, path: PathBuf, poll: Duration) -> Self {
        LogFollower { store, task, attempt, path, poll, reader: None, ended: false, asked: None }
    }

    /// Waits for the log file to appear. `false`: the attempt ended
    /// without one (its agent never started).
    pub async fn open(&mut self) -> bool {
        loop {
            // The end first: a log made before the attempt ended is found.
            let ended = self.ended().await;
            if let Ok(reader) = LogReader::open(&self.path) {
                self.reader = Some(reader);
                return true;
            }
            if ended {
                return false;
            }
            tokio::time::sleep(FILE_POLL).await;
        }
    }

    /// The next record already written, without waiting; `None` at the
    /// end of what is written (or before [`LogFollower::open`]).
    pub fn written(&mut self) -> Option<Result<LogRecord, AgentError>> {
        self.reader.as_mut()?.next_now()
    }

    /// The next record, waiting for it to be written; `None` once the
    /// attempt has ended and its log is read to the end. A line that does
    /// not read is an error, and the follower moves past it.
    pub async fn next(&mut self) -> Option<Result<LogRecord, AgentError>> {
        loop {
            let ended = self.ended;
            if let Some(record) = self.written() {
                return Some(record);
            }
            if ended || self.reader.is_none() {
                return None;
            }
            if !self.ended().await {
                tokio::time::sleep(FILE_POLL).await;
            }
        }
    }

    /// Whether the attempt has ended, asking the store at most every
    /// `poll`; a failed read is asked again next time.
    async fn ended(&mut self) -> bool {
        if !self.ended && self.asked.is_none_or(|at| at.elapsed() >= self.poll) {
            self.asked = Some(Instant::now());
            self.ended = matches!(self.store.task(self.task.as_str()).await, Ok(Some(detail))
                if detail.attempts.iter().any(|a| a.attempt == self.attempt && a.ended_at.is_some()));
        }
        self.ended
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{AddOptions, SqlStore, SystemClock};
    use colony_agents::{Entry, LogWriter, Stream};
    use colony_core::{Plan, PlanName, TaskSpec};

    use super::*;

    const POLL: Duration = Duration::from_millis(10);

    fn raw(text: &str) -> Entry {
        Entry::Raw { stream: Stream::Stdout, text: text.into() }
    }

    /// A SQLite store whose one task runs its first attempt.
    async fn running(dir: &std::path::Path) -> (SqlStore, TaskId) {
        let store = SqlStore::open_sqlite(&dir.join("c.db"), Arc::new(SystemClock)).await.unwrap();
        let id = TaskId::new("t").unwrap();
        let tasks = vec![TaskSpec::new(id.clone(), "T", "Do it.")];
        let plan = Plan { name: PlanName::new("p").unwrap(), base: None, defaults: Default::default(), tasks };
        store.add_plan(&plan, "p.yaml", AddOptions::default()).await.unwrap();
        store.claim("w", Duration::from_secs(60)).await.unwrap().unwrap();
        (store, id)
    }

    #[tokio::test]
    async fn a_follower_sees_lines_appended_after_it_started_and_ends_with_the_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let (store, id) = running(dir.path()).await;
        let path = dir.path().join("log.jsonl");
        let mut writer = LogWriter::open(&path).unwrap();
        writer.append(0, &raw("before")).unwrap();

        let mut log = LogFollower::new(&store, &id, 1, path, POLL);
        assert!(log.open().await);
        assert_eq!(log.written().unwrap().unwrap().entry, raw("before"));
        assert!(log.written().is_none(), "nothing more is written yet");
        let appending = tokio::spawn(async move {
            for i in 1..4 {
                writer.append(i, &raw(&format!("line {i}"))).unwrap();
                tokio::task::yield_now().await;
            }
            writer
        });
        for i in 1..4 {
            assert_eq!(log.next().await.unwrap().unwrap().entry, raw(&format!("line {i}")));
        }
        let mut writer = appending.await.unwrap();
        writer.append(9, &raw("the last line, written before the end")).unwrap();
        store.release(&id, 1, "stopping").await.unwrap();
        assert_eq!(log.next().await.unwrap().unwrap().t, 9, "what was written before the end is read");
        assert!(log.next().await.is_none(), "the attempt has ended");
    }

    #[tokio::test]
    async fn an_attempt_that_ended_before_its_log_was_made_has_none_to_follow() {
        let dir = tempfile::tempdir().unwrap();
        let (store, id) = running(dir.path()).await;
        store.release(&id, 1, "stopping").await.unwrap();
        let mut log = LogFollower::new(&store, &id, 1, dir.path().join("missing.jsonl"), POLL);
        assert!(!log.open().await);
        assert!(log.next().await.is_none());
    }
}
