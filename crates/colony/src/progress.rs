//! What `colony run` prints while it runs: the store's event log, tailed.
//!
//! The engine reports nothing directly; everything it does is an event in
//! the store, the same events `colony events` prints. Tailing the log here
//! (rather than hooking into the engine) means the lines show every worker
//! of the store, this process's and any other's, and that what a run prints
//! is exactly what the record says happened.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use colony_core::{Event, EventKind};
use colony_store::{Store, Tail};
use tokio_util::sync::CancellationToken;

use crate::{render, table};

/// How often the log is read where the store cannot say it was written
/// (SQLite), and the live view redrawn.
const POLL: Duration = Duration::from_millis(200);

/// Events read per query.
const BATCH: usize = 1000;

/// The task column never grows wider than this; longer ids push the rest
/// of their line right.
const MAX_TASK_WIDTH: usize = 24;

/// How a run shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A timestamped line for each event a person follows a run by.
    Lines,
    /// Every event as one JSON object a line.
    Json,
    /// Nothing.
    Quiet,
    /// On a terminal: [`Lines`](Mode::Lines) scrolling above a progress bar
    /// and a line per worker (see [`crate::live`]).
    Live,
}

impl Mode {
    /// Whether people read this output (as opposed to scripts, or nobody).
    pub fn for_people(self) -> bool {
        matches!(self, Mode::Lines | Mode::Live)
    }
}

/// Tails the event log from a sequence number on.
pub struct Progress {
    mode: Mode,
    since: i64,
    task_width: usize,
    live: Option<crate::live::View>,
}

impl Progress {
    /// Shows events after `since`; `longest_id` aligns the task column.
    /// `total` and `done` size the live view's bar.
    pub fn new(mode: Mode, since: i64, longest_id: usize, total: usize, done: usize) -> Progress {
        let live = (mode == Mode::Live).then(|| crate::live::View::new(total, done));
        Progress { mode, since, task_width: longest_id.min(MAX_TASK_WIDTH), live }
    }

    /// Prints new events as the store's [`Tail`] finds them until `done`,
    /// then the last ones; the live view is redrawn every [`POLL`] too.
    /// A failed read is tried again at the next wakeup: the run goes on
    /// whether or not it can be watched.
    pub async fn follow(&mut self, store: &impl Store, out: &mut impl Write, done: &CancellationToken) -> Result<()> {
        let mut tail = Tail::new(store, self.since, BATCH, POLL).listening().await;
        loop {
            let finished = done.is_cancelled();
            match tail.read().await {
                Ok(batch) => {
                    for event in &batch {
                        self.write(out, event)?;
                    }
                    if let Some(view) = &mut self.live
                        && let Ok(counts) = store.counts().await
                    {
                        view.tick(&counts, crate::render::now_millis());
                    }
                    out.flush()?;
                    if batch.len() == BATCH {
                        continue;
                    }
                }
                Err(_) if !finished => {}
                Err(e) => return Err(e.into()),
            }
            if finished {
                if let Some(view) = self.live.take() {
                    view.finish();
                }
                return Ok(());
            }
            tokio::select! {
                () = tail.wait() => {}
                () = tokio::time::sleep(POLL), if self.live.is_some() => {}
                () = done.cancelled() => {}
            }
        }
    }

    fn write(&mut self, out: &mut impl Write, event: &Event) -> Result<()> {
        let shown = |width: usize| {
            let (task, text) = (event.task.as_ref()?, line(&event.kind)?);
            Some(format!("{}  {:<width$}  {text}", render::clock(event.at), task.as_str()))
        };
        if let Some(view) = &mut self.live {
            view.event(event, shown(self.task_width));
            return Ok(());
        }
        match self.mode {
            Mode::Quiet => {}
            Mode::Json => {
                serde_json::to_writer(&mut *out, event)?;
                writeln!(out)?;
            }
            Mode::Lines | Mode::Live => {
                if let Some(text) = shown(self.task_width) {
                    writeln!(out, "{text}")?;
                }
            }
        }
        Ok(())
    }
}

/// The words for an event a person watching a run cares about; `None` for
/// the bookkeeping ones (added, ready, …).
pub fn line(kind: &EventKind) -> Option<String> {
    match kind {
        // A reason can hold a gate's whole output; its first line says
        // what failed, and `colony show` has the rest.
        EventKind::AttemptFailed { attempt, reason, retry_at } => {
            let then = if retry_at.is_some() { "will retry" } else { "no attempts left" };
            Some(format!("attempt {attempt} failed: {} ({then})", one_line(reason, MAX_REASON).0))
        }
        EventKind::Claimed { .. }
        | EventKind::PhaseChanged { .. }
        | EventKind::FeedbackRound { .. }
        | EventKind::Completed { .. }
        | EventKind::Blocked { .. }
        | EventKind::Released { .. }
        | EventKind::LeaseExpired { .. }
        | EventKind::Killed { .. }
        | EventKind::CheckoutChanged { .. }
        | EventKind::AgentWaiting { .. }
        | EventKind::TaskAdded { proposal: Some(_), .. }
        | EventKind::FollowupsDropped { .. }
        | EventKind::ProgressReported { .. }
        | EventKind::Cancelled => Some(kind.summary()),
        _ => None,
    }
}

/// A failure reason in a progress line is cut to this many columns.
pub const MAX_REASON: usize = 100;

/// A message on one line: its lines joined with spaces (a reason is often
/// `exit code 1; stderr ends:` and then the line that says why), cut to
/// `max` columns with `…`. Also says whether anything was cut.
pub fn one_line(text: &str, max: usize) -> (String, bool) {
    let joined: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let joined = joined.join(" ");
    let cut = table::truncate(&joined, max);
    let was_cut = cut != joined;
    (cut, was_cut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use colony_core::{Phase, TaskId};

    #[test]
    fn only_events_that_matter_get_a_line() {
        assert_eq!(line(&EventKind::Ready), None);
        let claimed = EventKind::Claimed { attempt: 1, worker: "h:1:0".into(), lease_until: 0 };
        assert_eq!(line(&claimed).unwrap(), "attempt 1 claimed by h:1:0");
        let killed = EventKind::Killed { attempt: 1, worker: "h:1:0".into(), retry_at: Some(0) };
        assert_eq!(line(&killed), Some(killed.summary()), "a person's kill shows in the run's progress");
        let phase = EventKind::PhaseChanged { attempt: 2, phase: Phase::Merging };
        assert_eq!(line(&phase).unwrap(), "attempt 2 merging");
        let blocked = EventKind::Blocked { by: TaskId::new("a").unwrap() };
        assert_eq!(line(&blocked).unwrap(), "blocked by a");
        let spec = colony_core::TaskSpec::new(TaskId::new("b").unwrap(), "Docs", "Write docs.");
        let plan = colony_core::PlanName::new("p").unwrap();
        let added = EventKind::TaskAdded { plan: plan.clone(), spec: spec.clone(), max_attempts: 3, proposal: None };
        assert_eq!(line(&added), None, "a plan's own tasks are not news");
        let by = TaskId::new("a").unwrap();
        let proposal = Some(colony_core::event::Proposal { by, attempt: 1, depth: 1, held: false });
        let proposed = EventKind::TaskAdded { plan, spec, max_attempts: 3, proposal };
        assert_eq!(line(&proposed).unwrap(), "proposed by a (attempt 1): Docs", "a follow-up is");
    }

    #[test]
    fn a_failure_reason_is_one_line_cut_to_fit() {
        let failed = EventKind::AttemptFailed {
            attempt: 1,
            reason: "exit code 1; stderr ends:\nno such file\n".into(),
            retry_at: Some(5),
        };
        assert_eq!(line(&failed).unwrap(), "attempt 1 failed: exit code 1; stderr ends: no such file (will retry)");
        let long = format!("gate `make test` failed:\n{}", "output ".repeat(30));
        let (text, cut) = one_line(&long, 40);
        assert_eq!((text.as_str(), cut), ("gate `make test` failed: output output …", true));
        assert_eq!(one_line("fits\n", 40), ("fits".to_owned(), false));
    }
}
