//! The live view of `colony run` on a terminal: a progress bar for the
//! whole run and a line per worker (its task, its phase, how long it has
//! been at it), with the notable events scrolling above.
//!
//! What the lines say is decided by [`Board`], a plain state machine fed
//! the store's events and unit-tested without a terminal; [`View`] only
//! draws it with indicatif, which writes to the terminal itself: its lines
//! pass [`terminal::safe`] on the way.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use colony_core::{Event, EventKind, Millis, Phase, RoundCause, TaskId, TaskStatus};
use colony_store::Counts;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::terminal;

/// What one worker is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    task: TaskId,
    phase: String,
    since: Millis,
    /// What its agent last reported over colony's MCP server.
    said: Option<String>,
}

/// The most of an agent's report a worker's line shows.
const MAX_SAID: usize = 60;

/// Every worker seen in the events, this process's and any other's.
#[derive(Debug, Default)]
pub struct Board {
    slots: BTreeMap<String, Option<Slot>>,
}

impl Board {
    pub fn apply(&mut self, event: &Event) {
        let Some(task) = &event.task else { return };
        match &event.kind {
            EventKind::Claimed { worker, .. } => {
                let slot = Slot { task: task.clone(), phase: "agent".into(), since: event.at, said: None };
                self.slots.insert(worker.clone(), Some(slot));
            }
            EventKind::PhaseChanged { phase, .. } => {
                let word = match phase {
                    Phase::Checking => "gates",
                    Phase::Merging => "merge",
                };
                self.set_phase(task, word.into());
            }
            EventKind::FeedbackRound { round, cause, .. } => {
                let word = match cause {
                    RoundCause::Gate { .. } => format!("agent, fix {round}"),
                    RoundCause::Conflict { .. } => format!("agent, resolve {round}"),
                    RoundCause::Review { .. } => format!("agent, review {round}"),
                };
                self.set_phase(task, word);
            }
            EventKind::ProgressReported { message, .. } => {
                if let Some(slot) = self.slots.values_mut().flatten().find(|s| &s.task == task) {
                    slot.said = Some(message.clone());
                }
            }
            EventKind::Completed { .. }
            | EventKind::AttemptFailed { .. }
            | EventKind::Released { .. }
            | EventKind::LeaseExpired { .. }
            | EventKind::Killed { .. }
            | EventKind::Cancelled
            | EventKind::TaskUpdated { forced: true, .. } => {
                for slot in self.slots.values_mut() {
                    if slot.as_ref().is_some_and(|s| &s.task == task) {
                        *slot = None;
                    }
                }
            }
            _ => {}
        }
    }

    fn set_phase(&mut self, task: &TaskId, phase: String) {
        if let Some(slot) = self.slots.values_mut().flatten().find(|s| &s.task == task) {
            slot.phase = phase;
        }
    }

    /// One line per worker, `now` in milliseconds since the epoch.
    pub fn lines(&self, now: Millis) -> Vec<String> {
        let name_width = self.slots.keys().map(|w| short_worker(w).len()).max().unwrap_or(0);
        let task_width = self.slots.values().flatten().map(|s| s.task.as_str().len()).max().unwrap_or(0).min(24);
        self.slots
            .iter()
            .map(|(worker, slot)| {
                let name = short_worker(worker);
                match slot {
                    None => format!("{name:<name_width$}  idle"),
                    Some(s) => {
                        let line = format!(
                            "{name:<name_width$}  {:<task_width$}  {:<16}  {}",
                            s.task.as_str(),
                            s.phase,
                            clock((now - s.since).max(0) as u64 / 1000)
                        );
                        match &s.said {
                            Some(said) => format!("{line}  {}", crate::table::truncate(said, MAX_SAID)),
                            None => line,
                        }
                    }
                }
            })
            .collect()
    }
}

/// `host:pid:slot` as `pid:slot`: the host is the same for most runs and
/// would take half the line.
fn short_worker(worker: &str) -> &str {
    match worker.match_indices(':').nth_back(1) {
        Some((i, _)) => &worker[i + 1..],
        None => worker,
    }
}

/// Seconds as `m:ss` or `h:mm:ss`.
fn clock(secs: u64) -> String {
    match secs / 3600 {
        0 => format!("{}:{:02}", secs / 60, secs % 60),
        h => format!("{h}:{:02}:{:02}", secs / 60 % 60, secs % 60),
    }
}

/// The run's line: `12/40 done · 3 running · 1 failed · ETA 2:10`.
/// The estimate comes from this run's pace: tasks finished since it
/// started, over the time it has taken.
pub fn overall(counts: &Counts, done_at_start: usize, elapsed: Duration) -> String {
    let done = counts.get(TaskStatus::Done);
    let running =
        [TaskStatus::Running, TaskStatus::Checking, TaskStatus::Merging].iter().map(|s| counts.get(*s)).sum::<usize>();
    let failed = counts.get(TaskStatus::Failed);
    let blocked = counts.get(TaskStatus::Blocked);
    let mut parts = vec![format!("{done}/{} done", counts.total), format!("{running} running")];
    if failed > 0 {
        parts.push(format!("{failed} failed"));
    }
    if blocked > 0 {
        parts.push(format!("{blocked} blocked"));
    }
    let proposed = counts.get(TaskStatus::Proposed);
    if proposed > 0 {
        parts.push(format!("{proposed} proposed"));
    }
    let finished_here = done.saturating_sub(done_at_start);
    let ended = [TaskStatus::Cancelled, TaskStatus::Replaced, TaskStatus::Proposed, TaskStatus::Dropped]
        .iter()
        .map(|s| counts.get(*s))
        .sum::<usize>();
    let left = counts.total.saturating_sub(done + failed + blocked + ended);
    if finished_here > 0 && left > 0 {
        let per_task = elapsed.as_secs_f64() / finished_here as f64;
        parts.push(format!("ETA {}", clock((per_task * left as f64).round() as u64)));
    }
    parts.join(" · ")
}

/// The board on the terminal.
pub struct View {
    multi: MultiProgress,
    bar: ProgressBar,
    workers: Vec<ProgressBar>,
    board: Board,
    started: Instant,
    done_at_start: usize,
}

impl View {
    pub fn new(total: usize, done_at_start: usize) -> View {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let bar = multi.add(ProgressBar::new(total as u64));
        bar.set_style(
            ProgressStyle::with_template("{bar:30.green/dim} {msg}").expect("a valid template").progress_chars("██░"),
        );
        bar.set_position(done_at_start as u64);
        View { multi, bar, workers: Vec::new(), board: Board::default(), started: Instant::now(), done_at_start }
    }

    /// Takes an event in; `line` is what plain output would print for it,
    /// shown above the bars.
    pub fn event(&mut self, event: &Event, line: Option<String>) {
        self.board.apply(event);
        if let Some(line) = line {
            // Printing is best effort: a closed terminal must not stop the run.
            let _ = self.multi.println(terminal::safe(&line));
        }
    }

    /// Redraws with fresh counts.
    pub fn tick(&mut self, counts: &Counts, now: Millis) {
        self.bar.set_length(counts.total as u64);
        self.bar.set_position(counts.get(TaskStatus::Done) as u64);
        self.bar.set_message(overall(counts, self.done_at_start, self.started.elapsed()));
        let lines = self.board.lines(now);
        while self.workers.len() < lines.len() {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(ProgressStyle::with_template("  {msg}").expect("a valid template"));
            self.workers.push(bar);
        }
        for (bar, line) in self.workers.iter().zip(lines) {
            bar.set_message(terminal::safe(&line).into_owned());
        }
    }

    /// Clears the bars, leaving the scrolled lines.
    pub fn finish(self) {
        for bar in &self.workers {
            bar.finish_and_clear();
        }
        self.bar.finish_and_clear();
        let _ = self.multi.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at: Millis, task: &str, kind: EventKind) -> Event {
        Event { seq: 0, at, task: Some(TaskId::new(task).unwrap()), kind }
    }

    fn claimed(worker: &str) -> EventKind {
        EventKind::Claimed { attempt: 1, worker: worker.into(), lease_until: 0 }
    }

    #[test]
    fn workers_follow_their_tasks_through_the_phases() {
        let mut b = Board::default();
        b.apply(&ev(0, "db-schema", claimed("vm:42:0")));
        b.apply(&ev(1_000, "api", claimed("vm:42:1")));
        assert_eq!(
            b.lines(65_000),
            ["42:0  db-schema  agent             1:05", "42:1  api        agent             1:04"]
        );
        b.apply(&ev(2_000, "db-schema", EventKind::PhaseChanged { attempt: 1, phase: Phase::Checking }));
        let round =
            EventKind::FeedbackRound { attempt: 1, round: 2, cause: RoundCause::Gate { command: "make".into() } };
        b.apply(&ev(3_000, "api", round));
        assert_eq!(
            b.lines(5_000),
            ["42:0  db-schema  gates             0:05", "42:1  api        agent, fix 2      0:04"]
        );
        let said = EventKind::ProgressReported { attempt: 1, message: "tests pass; now the docs".into() };
        b.apply(&ev(3_500, "db-schema", said));
        assert_eq!(b.lines(5_000)[0], "42:0  db-schema  gates             0:05  tests pass; now the docs");
        b.apply(&ev(4_000, "db-schema", EventKind::Completed { attempt: 1 }));
        assert_eq!(b.lines(5_000)[0], "42:0  idle");
        b.apply(&ev(4_500, "db-schema", claimed("vm:42:0")));
        assert_eq!(b.lines(5_000)[0], "42:0  db-schema  agent             0:00", "a new attempt has said nothing");
        b.apply(&ev(4_600, "db-schema", EventKind::Completed { attempt: 1 }));
        assert_eq!(b.lines(5_000)[0], "42:0  idle");
        let failed = EventKind::AttemptFailed { attempt: 1, reason: "x".into(), retry_at: None };
        b.apply(&ev(4_000, "api", failed));
        assert_eq!(b.lines(5_000), ["42:0  idle", "42:1  idle"]);
        b.apply(&ev(5_000, "api", claimed("vm:42:1")));
        b.apply(&ev(6_000, "api", EventKind::Killed { attempt: 1, worker: "vm:42:1".into(), retry_at: Some(0) }));
        assert_eq!(b.lines(7_000)[1], "42:1  idle", "a person's kill frees the worker");
    }

    #[test]
    fn the_run_line_counts_and_estimates() {
        let mut counts = Counts { total: 10, ..Default::default() };
        counts.by_status.insert(TaskStatus::Done, 4);
        counts.by_status.insert(TaskStatus::Running, 2);
        counts.by_status.insert(TaskStatus::Ready, 3);
        counts.by_status.insert(TaskStatus::Failed, 1);
        // 3 finished in this run in 90 s: 30 s each, 5 left.
        assert_eq!(overall(&counts, 1, Duration::from_secs(90)), "4/10 done · 2 running · 1 failed · ETA 2:30");
        assert_eq!(overall(&counts, 4, Duration::from_secs(90)), "4/10 done · 2 running · 1 failed");
    }

    #[test]
    fn clocks_and_worker_names() {
        assert_eq!(clock(59), "0:59");
        assert_eq!(clock(3_725), "1:02:05");
        assert_eq!(short_worker("host.example:1234:7"), "1234:7");
        assert_eq!(short_worker("w1"), "w1");
    }
}
