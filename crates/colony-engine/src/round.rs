//! One run of a child for an attempt: the agent, or a gate. The output goes
//! to the attempt's log; the agent's process group goes to the store as
//! soon as it is known, so a later colony can stop it if this one dies.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use colony_agents::{
    AgentRun, AgentVerdict, ChildSpec, Entry, Exit, Harness, LogWriter, OutputLine, Pgid, RunObserver, StdinSource,
    StopReason, Stream, millis,
};
use colony_core::TaskId;
use colony_store::Store;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::EngineError;

/// Lines of output quoted back as feedback or as a failure reason.
pub(crate) const TAIL_LINES: usize = 40;

/// How a round ended.
#[derive(Debug)]
pub(crate) enum RoundEnd {
    Done,
    Failed(String),
    /// Stopped by colony: the run is stopping or the lease was lost.
    Cancelled,
}

/// Collects a child's output: into the log, parsed by the harness, and the
/// last lines kept for feedback.
struct Collector<'a> {
    harness: Option<&'a dyn Harness>,
    log: &'a mut LogWriter,
    entries: Vec<Entry>,
    tail: Vec<String>,
    pgids: Option<mpsc::UnboundedSender<Pgid>>,
}

impl RunObserver for Collector<'_> {
    fn started(&mut self, pgid: Pgid) {
        if let Some(tx) = &self.pgids {
            // The receiver records it; if it is gone the run is ending anyway.
            let _ = tx.send(pgid);
        }
    }

    fn line(&mut self, line: OutputLine) {
        let at = millis(line.at);
        let entries = match self.harness {
            Some(h) => h.parse_line(line.stream, &line.text, at),
            None => vec![Entry::Raw { stream: line.stream, text: line.text.clone() }],
        };
        for entry in &entries {
            // A log that cannot be written must not stop the agent.
            let _ = self.log.append(at, entry);
        }
        self.entries.extend(entries);
        self.tail.push(line.text);
        if self.tail.len() > TAIL_LINES {
            self.tail.remove(0);
        }
    }
}

fn note(log: &mut LogWriter, text: String) {
    let _ = log.append(millis(SystemTime::now()), &Entry::Raw { stream: Stream::Stderr, text });
}

/// What an agent round needs beyond the harness.
pub(crate) struct AgentRound<'a, S> {
    pub store: &'a S,
    pub task: &'a TaskId,
    pub attempt: u32,
    pub harness: &'a dyn Harness,
    pub run: AgentRun,
    pub wall_timeout: Duration,
    pub silence_timeout: Option<Duration>,
    pub grace: Duration,
}

impl<S: Store> AgentRound<'_, S> {
    pub(crate) async fn go(self, log: &mut LogWriter, cancel: &CancellationToken) -> Result<RoundEnd, EngineError> {
        let mut spec = self.harness.invocation(&self.run).into_child(&self.run.worktree);
        spec.wall_timeout = Some(self.wall_timeout);
        spec.silence_timeout = self.silence_timeout;
        spec.grace = self.grace;
        let (tx, mut rx) = mpsc::unbounded_channel::<Pgid>();
        let boot = colony_agents::boot_id().unwrap_or_default();
        let record = async {
            while let Some(pgid) = rx.recv().await {
                // Best effort: without it a crash leaves the group to the
                // lease expiry and the next start's sweep of this host.
                let _ = self.store.record_process(self.task, self.attempt, pgid.get().into(), &boot).await;
            }
        };
        let mut collector =
            Collector { harness: Some(self.harness), log, entries: Vec::new(), tail: Vec::new(), pgids: Some(tx) };
        let supervised = async {
            let outcome = colony_agents::run(spec, cancel, &mut collector).await;
            collector.pgids = None;
            outcome
        };
        let (outcome, ()) = tokio::join!(supervised, record);
        let outcome = outcome?;
        let end = match outcome.stopped {
            Some(StopReason::Cancelled) => RoundEnd::Cancelled,
            Some(StopReason::WallTimeout) => {
                RoundEnd::Failed(format!("the agent ran past its {} timeout", human(self.wall_timeout)))
            }
            Some(StopReason::Silence) => RoundEnd::Failed(format!(
                "the agent printed nothing for {}",
                human(self.silence_timeout.unwrap_or_default())
            )),
            None => match self.harness.verdict(outcome.exit, &collector.entries) {
                AgentVerdict::Done => RoundEnd::Done,
                AgentVerdict::Failed { reason, .. } => RoundEnd::Failed(reason),
            },
        };
        Ok(end)
    }
}

/// A gate's verdict.
#[derive(Debug)]
pub(crate) enum GateEnd {
    Passed,
    Failed { command: String, tail: String },
    Cancelled,
}

/// Runs the gates one after another in `dir` until one fails.
pub(crate) async fn gates(
    commands: &[String],
    dir: &Path,
    timeout: Duration,
    grace: Duration,
    log: &mut LogWriter,
    cancel: &CancellationToken,
) -> Result<GateEnd, EngineError> {
    for command in commands {
        note(log, format!("colony: gate `{command}`"));
        let mut spec = ChildSpec::new("sh", PathBuf::from(dir));
        spec.args = vec!["-c".into(), command.into()];
        spec.stdin = StdinSource::Null;
        spec.wall_timeout = Some(timeout);
        spec.grace = grace;
        let mut collector = Collector { harness: None, log, entries: Vec::new(), tail: Vec::new(), pgids: None };
        let outcome = colony_agents::run(spec, cancel, &mut collector).await?;
        let tail = collector.tail.join("\n");
        match (outcome.stopped, outcome.exit) {
            (Some(StopReason::Cancelled), _) => return Ok(GateEnd::Cancelled),
            (Some(_), _) => {
                let tail = format!("{tail}\n(stopped after {})", human(timeout));
                return Ok(GateEnd::Failed { command: command.clone(), tail });
            }
            (None, exit) if exit.success() => {}
            (None, exit) => {
                let how = match exit {
                    Exit::Code(c) => format!("exit code {c}"),
                    Exit::Signal(s) => format!("signal {s}"),
                };
                note(log, format!("colony: gate `{command}` failed ({how})"));
                return Ok(GateEnd::Failed { command: command.clone(), tail });
            }
        }
    }
    Ok(GateEnd::Passed)
}

/// A short duration for messages: `30m`, `1h 30m`, `45s`.
pub(crate) fn human(d: Duration) -> String {
    let secs = d.as_secs();
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) if d.subsec_millis() > 0 && s < 10 => format!("{:.1}s", d.as_secs_f64()),
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

pub(crate) fn log_note(log: &mut LogWriter, text: impl Into<String>) {
    note(log, text.into());
}
