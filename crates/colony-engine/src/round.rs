//! One run of a child for an attempt: the agent, or one of the user's
//! commands (a gate, a setup command). The output goes to the attempt's
//! log; the agent's process group goes to the store as soon as it is
//! known, so a later colony can stop it if this one dies.
//! What the round keeps in memory is bounded whatever the child prints:
//! each entry's texts are cut to [`MAX_TEXT`](colony_agents::cut::MAX_TEXT),
//! the entries go into a [`Transcript`], and the feedback tail keeps
//! [`TAIL_LINES`] lines of at most [`TAIL_LINE`] bytes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use colony_agents::cut::{cap_entry, cut_middle};
use colony_agents::sandbox::{Sandbox, refused_write};
use colony_agents::{
    AgentRun, AgentVerdict, ChildSpec, Entry, ErrorClass, Exit, Harness, LogWriter, OutputLine, Pgid, RunObserver,
    StdinSource, StopReason, Stream, millis,
};
use colony_core::record::{self, Record};
use colony_core::{Millis, TaskId, Usage};
use colony_store::Store;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::error::EngineError;
use crate::talk::Said;
use crate::transcript::Transcript;

/// Lines of output quoted back as feedback or as a failure reason.
pub(crate) const TAIL_LINES: usize = 40;

/// The most of one such line quoted: its head and its tail.
const TAIL_LINE: usize = 4096;

/// Refused writes noted in one child's log: the first few tell the story.
const MAX_REFUSALS: usize = 10;

/// How a round ended.
#[derive(Debug)]
pub(crate) enum RoundEnd {
    Done,
    Failed {
        reason: String,
        class: ErrorClass,
        /// When a rate limit lifts, if the agent said.
        reset_at: Option<Millis>,
    },
    /// Stopped by colony: the run is stopping or the lease was lost.
    Cancelled,
}

impl RoundEnd {
    fn failed(reason: String) -> Self {
        RoundEnd::Failed { reason, class: ErrorClass::Other, reset_at: None }
    }
}

/// An agent round's ending and what it said along the way.
#[derive(Debug)]
pub(crate) struct AgentOutcome {
    pub end: RoundEnd,
    /// Tokens and reported cost, summed over the round's entries; the cost
    /// is `None` when the agent reported none.
    pub usage: Usage,
    /// The last session the agent announced, to resume it.
    pub session: Option<String>,
    /// The version the agent's own output gave (an init event).
    pub version: Option<String>,
    /// What it answered in the end: its final message, else its text,
    /// else what it printed (a `command` agent's stdout).
    pub answer: String,
}

/// Collects a child's output: into the log, parsed by the harness, and the
/// last lines kept for feedback.
struct Collector<'a> {
    harness: Option<&'a dyn Harness>,
    log: &'a mut LogWriter,
    transcript: Transcript,
    tail: VecDeque<String>,
    pgids: Option<mpsc::UnboundedSender<Pgid>>,
    /// Told when the agent's final event arrives.
    finished: Option<Arc<Notify>>,
    /// Set when the child is confined: its refused writes are noted.
    refusals: Option<Refusals>,
    /// What the agent reported over colony's MCP server, noted in the log
    /// as it comes (with the next line) and at the end.
    said: Option<Said>,
}

/// The writes outside its tree a confined child said were refused.
struct Refusals {
    tree: PathBuf,
    home: Option<PathBuf>,
    noted: BTreeSet<PathBuf>,
}

impl Refusals {
    fn of(sandbox: Option<&Sandbox>, tree: &Path) -> Option<Self> {
        sandbox.map(|s| Refusals { tree: tree.to_owned(), home: s.home.clone(), noted: BTreeSet::new() })
    }

    /// The note for `line`, if it tells of a refused write not noted yet.
    fn note(&mut self, line: &str) -> Option<String> {
        let path = refused_write(line, &self.tree, self.home.as_deref())?;
        if self.noted.len() >= MAX_REFUSALS || !self.noted.insert(path.clone()) {
            return None;
        }
        Some(format!(
            "the sandbox refused a write to {}, outside the worktree (the child printed: {})",
            path.display(),
            cut_middle(line, TAIL_LINE)
        ))
    }
}

impl RunObserver for Collector<'_> {
    fn started(&mut self, pgid: Pgid) {
        if let Some(tx) = &self.pgids {
            // The receiver records it; if it is gone the run is ending anyway.
            let _ = tx.send(pgid);
        }
    }

    fn line(&mut self, line: OutputLine) {
        self.note_said();
        let at = millis(line.at);
        let entries = match self.harness {
            Some(h) => h.parse_line(line.stream, &line.text, at),
            None => vec![Entry::Raw { stream: line.stream, text: line.text.clone() }],
        };
        for mut entry in entries {
            cap_entry(&mut entry);
            // A log that cannot be written must not stop the agent.
            let _ = self.log.append(at, &entry);
            if let (Entry::Finished { .. }, Some(finished)) = (&entry, &self.finished) {
                finished.notify_one();
            }
            self.transcript.push(entry);
        }
        if let Some(text) = self.refusals.as_mut().and_then(|r| r.note(&line.text)) {
            note(self.log, text);
        }
        self.tail.push_back(cut_middle(&line.text, TAIL_LINE).into_owned());
        if self.tail.len() > TAIL_LINES {
            self.tail.pop_front();
        }
    }
}

impl Collector<'_> {
    /// Writes what the log holds back (output past its head): the child
    /// has ended, and a reader of the log should see how.
    fn done(&mut self) {
        self.note_said();
        let _ = self.log.flush();
    }

    fn note_said(&mut self) {
        for message in self.said.as_ref().map(Said::take).unwrap_or_default() {
            note(self.log, format!("the agent reports: {message}"));
        }
    }
}

/// Writes colony's record of a step to the attempt's log. A log that
/// cannot be written must not stop the attempt.
pub(crate) fn log_record(log: &mut LogWriter, record: Record) {
    let _ = log.note(millis(SystemTime::now()), &Entry::Colony(record));
}

fn note(log: &mut LogWriter, text: String) {
    log_record(log, Record::Note { text });
}

/// The attempt an agent round is part of, whose store keeps the round's
/// process groups for the sweep after a crash.
pub(crate) struct Owner<'a, S> {
    pub store: &'a S,
    pub task: &'a TaskId,
    pub attempt: u32,
}

/// What an agent round needs beyond the harness.
pub(crate) struct AgentRound<'a, S> {
    /// `None` for a round of no task (the planner's).
    pub owner: Option<Owner<'a, S>>,
    pub harness: &'a dyn Harness,
    pub run: AgentRun,
    pub wall_timeout: Duration,
    pub silence_timeout: Option<Duration>,
    pub grace: Duration,
    /// How long the agent may go on after its final event.
    pub linger: Duration,
    /// `[worktree] env`.
    pub env: &'a BTreeMap<String, String>,
    /// Where the agent may write; `None`: anywhere.
    pub sandbox: Option<&'a Sandbox>,
    /// Where its reports over colony's MCP server wait for the log.
    pub said: Option<Said>,
}

impl<S: Store> AgentRound<'_, S> {
    pub(crate) async fn go(self, log: &mut LogWriter, cancel: &CancellationToken) -> Result<AgentOutcome, EngineError> {
        let invocation = self.harness.invocation(&self.run);
        for (path, bytes) in &invocation.files {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|source| EngineError::Io { path: dir.to_owned(), source })?;
            }
            std::fs::write(path, bytes).map_err(|source| EngineError::Io { path: path.clone(), source })?;
        }
        // Its own token, so that stopping a lingering agent is told apart
        // from the run stopping.
        let child_cancel = cancel.child_token();
        let mut spec = invocation.into_child(&self.run.worktree);
        // First, so that what the agent's own table and colony set wins.
        spec.env.splice(0..0, project_env(self.env));
        confine_git(&mut spec);
        let tree = &self.run.worktree;
        spec.confine = self.sandbox.map(|s| s.confine(tree, self.harness.state(), self.harness.needs_network()));
        spec.wall_timeout = Some(self.wall_timeout);
        spec.silence_timeout = self.silence_timeout;
        spec.grace = self.grace;
        let (tx, mut rx) = mpsc::unbounded_channel::<Pgid>();
        let boot = colony_agents::boot_id().unwrap_or_default();
        let record = async {
            while let Some(pgid) = rx.recv().await {
                // Best effort: without it a crash leaves the group to the
                // lease expiry and the next start's sweep of this host.
                if let Some(Owner { store, task, attempt }) = &self.owner {
                    let _ = store.record_process(task, *attempt, pgid.get().into(), &boot).await;
                }
            }
        };
        let finished = Arc::new(Notify::new());
        let lingered = AtomicBool::new(false);
        let mut collector = Collector {
            harness: Some(self.harness),
            log,
            transcript: Transcript::default(),
            tail: VecDeque::new(),
            pgids: Some(tx),
            finished: Some(finished.clone()),
            refusals: Refusals::of(self.sandbox, tree),
            said: self.said.clone(),
        };
        let supervised = async {
            let outcome = colony_agents::run(spec, &child_cancel, &mut collector).await;
            collector.pgids = None;
            outcome
        };
        // After its final event an agent has nothing left to say: one that
        // does not exit soon after is stopped, and judged by that event.
        let linger = async {
            finished.notified().await;
            tokio::time::sleep(self.linger).await;
            lingered.store(true, Ordering::SeqCst);
            child_cancel.cancel();
            std::future::pending::<()>().await
        };
        let supervised = async {
            tokio::select! {
                outcome = supervised => outcome,
                () = linger => unreachable!("lingering never ends by itself"),
            }
        };
        let (outcome, ()) = tokio::join!(supervised, record);
        collector.done();
        let outcome = outcome?;
        let entries = collector.transcript.entries();
        let lingered = lingered.load(Ordering::SeqCst) && !cancel.is_cancelled();
        let end = match outcome.stopped {
            Some(StopReason::Cancelled) if lingered => {
                note(
                    collector.log,
                    format!("the agent was still running {} after its final event; stopped it", human(self.linger)),
                );
                judge(self.harness, Exit::Code(0), &entries)
            }
            Some(StopReason::Cancelled) => RoundEnd::Cancelled,
            Some(StopReason::WallTimeout) => {
                RoundEnd::failed(format!("the agent ran past its {} timeout", human(self.wall_timeout)))
            }
            Some(StopReason::Silence) => RoundEnd::failed(format!(
                "the agent printed nothing for {}",
                human(self.silence_timeout.unwrap_or_default())
            )),
            None => judge(self.harness, outcome.exit, &entries),
        };
        let transcript = &collector.transcript;
        Ok(AgentOutcome {
            end,
            usage: transcript.usage(),
            session: transcript.session(),
            version: transcript.version(),
            answer: answer_of(&entries),
        })
    }
}

fn judge(harness: &dyn Harness, exit: Exit, entries: &[Entry]) -> RoundEnd {
    match harness.verdict(exit, entries) {
        AgentVerdict::Done => RoundEnd::Done,
        AgentVerdict::Failed { reason, class, reset_at } => RoundEnd::Failed { reason, class, reset_at },
    }
}

/// The agent's last word: its final event's message, else all it said as
/// text, else its stdout (of what the transcript kept: the newest
/// megabyte).
fn answer_of(entries: &[Entry]) -> String {
    let last = entries.iter().rev().find_map(|e| match e {
        Entry::Finished { message: Some(m), .. } if !m.trim().is_empty() => Some(m.clone()),
        _ => None,
    });
    let joined = |pick: fn(&Entry) -> Option<&str>| entries.iter().filter_map(pick).collect::<Vec<_>>().join("\n");
    last.unwrap_or_else(|| {
        let text = joined(|e| match e {
            Entry::Text { text } | Entry::TextDelta { text } => Some(text),
            _ => None,
        });
        if !text.trim().is_empty() {
            return text;
        }
        joined(|e| match e {
            Entry::Raw { stream: Stream::Stdout, text } => Some(text),
            _ => None,
        })
    })
}

/// How a run of commands (gates, setup) ended.
#[derive(Debug)]
pub(crate) enum CommandsEnd {
    Passed,
    Failed { command: String, tail: String },
    Cancelled,
}

/// Which of the user's own commands a run of [`commands`] is: each has
/// its records in the attempt's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Gate,
    /// `[worktree] setup`, before the agent's first round.
    Setup,
}

impl Step {
    fn started(self, command: String) -> Record {
        match self {
            Step::Gate => Record::Gate { command },
            Step::Setup => Record::Setup { command },
        }
    }

    fn ended(self, command: String, end: record::GateEnd, tail: Vec<String>) -> Record {
        match self {
            Step::Gate => Record::GateEnded { command, end, tail },
            Step::Setup => Record::SetupEnded { command, end, tail },
        }
    }
}

/// The user's commands (gates, setup), run in `dir` through `sh -c`:
/// they are colony.toml's, never task input.
pub(crate) struct Commands<'a> {
    pub step: Step,
    pub commands: &'a [String],
    pub dir: &'a Path,
    /// `[worktree] env`.
    pub env: &'a BTreeMap<String, String>,
    /// Of each command.
    pub timeout: Duration,
    pub grace: Duration,
    /// Where the commands may write; `None`: anywhere.
    pub sandbox: Option<&'a Sandbox>,
}

/// Runs the commands one after another until one fails.
pub(crate) async fn commands(
    run: Commands<'_>,
    log: &mut LogWriter,
    cancel: &CancellationToken,
) -> Result<CommandsEnd, EngineError> {
    let Commands { step, commands, dir, env, timeout, grace, sandbox } = run;
    for command in commands {
        log_record(log, step.started(command.clone()));
        let mut spec = ChildSpec::new("sh", PathBuf::from(dir));
        spec.env.extend(project_env(env));
        confine_git(&mut spec);
        // Gates are the user's own commands, but run on the agent's work:
        // they are held as the agent is, TCP included.
        spec.confine = sandbox.map(|s| s.confine(dir, &[], false));
        spec.args = vec!["-c".into(), command.into()];
        spec.stdin = StdinSource::Null;
        spec.wall_timeout = Some(timeout);
        spec.grace = grace;
        let mut collector = Collector {
            harness: None,
            log,
            transcript: Transcript::default(),
            tail: VecDeque::new(),
            pgids: None,
            finished: None,
            refusals: Refusals::of(sandbox, dir),
            said: None,
        };
        let outcome = colony_agents::run(spec, cancel, &mut collector).await;
        collector.done();
        let outcome = outcome?;
        let lines = Vec::from(collector.tail);
        let end = match (outcome.stopped, outcome.exit) {
            (Some(StopReason::Cancelled), _) => record::GateEnd::Stopped,
            (Some(_), _) => {
                record::GateEnd::TimedOut { after_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX) }
            }
            (None, Exit::Code(code)) => record::GateEnd::Exited { code },
            (None, Exit::Signal(signal)) => record::GateEnd::Signalled { signal },
        };
        let failed = !end.passed() && end != record::GateEnd::Stopped;
        let tail = if failed { lines.clone() } else { Vec::new() };
        log_record(log, step.ended(command.clone(), end, tail));
        match end {
            record::GateEnd::Stopped => return Ok(CommandsEnd::Cancelled),
            record::GateEnd::Exited { code: 0 } => {}
            record::GateEnd::TimedOut { .. } => {
                let tail = format!("{}\n(stopped after {})", lines.join("\n"), human(timeout));
                return Ok(CommandsEnd::Failed { command: command.clone(), tail });
            }
            _ => return Ok(CommandsEnd::Failed { command: command.clone(), tail: lines.join("\n") }),
        }
    }
    Ok(CommandsEnd::Passed)
}

/// `[worktree] env`, as a child's environment.
fn project_env(env: &BTreeMap<String, String>) -> impl Iterator<Item = (OsString, OsString)> + '_ {
    env.iter().map(|(k, v)| (k.into(), v.into()))
}

/// Keeps git, run by a child in a task worktree, to that worktree: with
/// the worktrees' directory as a ceiling, a worktree whose `.git` the
/// child deleted is no repository at all, rather than the user's checkout
/// that holds `.colony/worktrees/` (where the child's `git commit` would
/// land on the user's branch).
fn confine_git(spec: &mut ChildSpec) {
    if let Some(worktrees) = spec.cwd.parent() {
        let mut ceiling = worktrees.as_os_str().to_owned();
        if let Some(outer) = std::env::var_os("GIT_CEILING_DIRECTORIES").filter(|v| !v.is_empty()) {
            ceiling.push(":");
            ceiling.push(outer);
        }
        spec.env.push(("GIT_CEILING_DIRECTORIES".into(), ceiling));
    }
}

pub(crate) use colony_core::time::human;

pub(crate) fn log_note(log: &mut LogWriter, text: impl Into<String>) {
    note(log, text.into());
}
