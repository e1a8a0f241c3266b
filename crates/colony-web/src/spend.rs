//! The run's spend, summed from every attempt log under `.colony/runs/`.
//!
//! Each log is read once and then only from where the last read stopped,
//! and the whole tree is looked at no more often than [`REFRESH`], so the
//! overview stays cheap however long the night was.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use colony_agents::LogRecord;

use crate::logs::Spend;

/// How stale the total may be.
const REFRESH: Duration = Duration::from_secs(2);

pub(crate) struct SpendTally {
    runs: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Per log: bytes read so far and what they held.
    files: HashMap<PathBuf, (u64, Spend)>,
    checked: Option<Instant>,
}

impl SpendTally {
    /// `runs` is `.colony/runs`.
    pub fn new(runs: PathBuf) -> SpendTally {
        SpendTally {
            runs,
            state: Mutex::new(State::default()),
        }
    }

    /// The total over every log. Blocks on file reads: call it off the
    /// async threads.
    pub fn total(&self) -> Spend {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.checked.is_none_or(|at| at.elapsed() >= REFRESH) {
            for path in logs_under(&self.runs) {
                let seen = state.files.entry(path.clone()).or_default();
                read_more(&path, seen);
            }
            state.checked = Some(Instant::now());
        }
        let mut total = Spend::default();
        for (_, spend) in state.files.values() {
            total.add(spend);
        }
        total
    }
}

/// `runs/<task>/a<n>/log.jsonl` for every attempt.
fn logs_under(runs: &Path) -> Vec<PathBuf> {
    let dirs = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    dirs(runs)
        .iter()
        .flat_map(|task| dirs(task))
        .map(|attempt| attempt.join("log.jsonl"))
        .filter(|p| p.is_file())
        .collect()
}

/// Adds the whole lines written since `offset`. A file that shrank was
/// replaced: it is read again from the start.
fn read_more(path: &Path, (offset, spend): &mut (u64, Spend)) {
    let Ok(mut file) = std::fs::File::open(path) else {
        return;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return;
    };
    if len < *offset {
        *offset = 0;
        *spend = Spend::default();
    }
    if len == *offset || file.seek(SeekFrom::Start(*offset)).is_err() {
        return;
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return;
    }
    let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
        return;
    };
    for line in bytes[..end].split(|&b| b == b'\n') {
        // Most lines are output; only usage and cost records count.
        let wanted = |tag: &[u8]| line.windows(tag.len()).any(|w| w == tag);
        if (wanted(b"\"usage\"") || wanted(b"\"cost\""))
            && let Ok(record) = serde_json::from_slice::<LogRecord>(line)
        {
            spend.add_entry(&record.entry);
        }
    }
    *offset += end as u64 + 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use colony_agents::{Entry, LogWriter};

    #[test]
    fn sums_every_log_and_reads_only_what_was_added() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let mut a = LogWriter::open(runs.join("a/a1/log.jsonl")).unwrap();
        let mut b = LogWriter::open(runs.join("b/a2/log.jsonl")).unwrap();
        a.append(1, &Entry::Cost { usd: 1.5 }).unwrap();
        a.append(
            2,
            &Entry::Text {
                text: "the cost is \"cost\"".into(),
            },
        )
        .unwrap();
        b.append(
            1,
            &Entry::Usage {
                input: 100,
                output: 7,
                cached: 0,
            },
        )
        .unwrap();
        let tally = SpendTally::new(runs);
        let first = tally.total();
        assert_eq!(
            (first.usd, first.input_tokens, first.output_tokens),
            (1.5, 100, 7)
        );

        b.append(3, &Entry::Cost { usd: 0.25 }).unwrap();
        tally.state.lock().unwrap().checked = None;
        assert_eq!(tally.total().usd, 1.75);
    }
}
