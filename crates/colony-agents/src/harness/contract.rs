//! The contract between the engine and an agent harness, and the
//! normalized entries every harness turns its agent's output into.
//!
//! A harness does no IO: it builds an [`Invocation`] from an [`AgentRun`],
//! turns each output line into [`Entry`]s, and judges the attempt from the
//! exit and the entries. Spawning, timeouts and logging belong to the
//! engine and [`supervise`](crate::supervise), so every adapter is tested on
//! recorded transcripts without starting anything.

use std::ffi::OsString;
use std::path::PathBuf;

use colony_core::{Millis, TaskSpec};
use serde::{Deserialize, Serialize};

use crate::supervise::{ChildSpec, DEFAULT_GRACE, Exit, StdinSource, Stream};

/// One agent CLI (or the `command` harness) as colony drives it.
pub trait Harness: Send + Sync {
    /// The program, arguments, extra environment and stdin for one attempt.
    /// The prompt goes on stdin or in a file, never into an argument that a
    /// shell might read.
    fn invocation(&self, run: &AgentRun) -> Invocation;

    /// The entries one line of output stands for: none for a banner or an
    /// unknown event, several for a message with text and tool calls.
    ///
    /// `at` is when the line arrived: a CLI that says "try again in 5
    /// minutes" or "resets 1pm" means from now, and [`Entry::Error`] keeps
    /// the absolute time.
    fn parse_line(&self, stream: Stream, line: &str, at: Millis) -> Vec<Entry>;

    /// Whether the attempt did its work, from how the agent ended and what
    /// it said. Only called for a child that ended on its own: one colony
    /// stopped (timeout, cancel) has failed for that reason already.
    fn verdict(&self, exit: Exit, entries: &[Entry]) -> AgentVerdict;

    /// Whether [`AgentRun::session`] is honoured: the invocation resumes
    /// that session, and the engine then sends only the feedback as the
    /// prompt, since the agent remembers the task.
    fn resumes(&self) -> bool {
        false
    }

    /// Paths under the home directory the agent keeps its own state in,
    /// which the sandbox lets it write besides its worktree.
    fn state(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether the agent talks to its model's API over TCP, which
    /// `[sandbox] network = "deny"` then leaves it.
    fn needs_network(&self) -> bool {
        false
    }
}

/// Everything a harness may use to start one attempt at a task.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRun {
    pub task: TaskSpec,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The attempt's git worktree (absolute): the child's cwd.
    pub worktree: PathBuf,
    /// Where the task is written as JSON (absolute; outside the worktree, or
    /// the agent may commit it).
    pub task_file: PathBuf,
    /// Gate or review feedback of the last round, when there is one.
    pub feedback_file: Option<PathBuf>,
    /// The full prompt: the task's, with acceptance criteria and feedback.
    pub prompt: String,
    /// The agent's session from an earlier round, to resume it.
    pub session: Option<String>,
    /// A JSON Schema the final answer must follow (a reviewer's verdict),
    /// for CLIs that can be held to one; the prompt asks for it as well.
    pub output_schema: Option<String>,
    /// colony's MCP server for this attempt, for a CLI that can be given
    /// one headless: how its agent talks back.
    pub talk: Option<TalkServer>,
}

/// The stdio MCP server colony gives one attempt's agent (`colony mcp
/// attempt`), as a CLI's configuration names it: under [`TalkServer::NAME`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalkServer {
    pub command: PathBuf,
    pub args: Vec<String>,
    /// Set in the server's own entry: a CLI may pass its servers little of
    /// its environment (Codex), or strip what looks like a secret (Gemini).
    pub env: Vec<(String, String)>,
    /// Outside the worktree: where configuration files the CLI reads go.
    pub dir: PathBuf,
}

impl TalkServer {
    pub const NAME: &'static str = "colony";

    /// Its command line: the program, then its arguments.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.command.to_string_lossy().into_owned()).chain(self.args.iter().cloned()).collect()
    }
}

/// How to start an agent; [`Invocation::into_child`] adds the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub stdin: StdinSource,
    /// Files the engine writes before spawning (path, contents), for a CLI
    /// that takes its prompt from a file rather than stdin.
    pub files: Vec<(PathBuf, Vec<u8>)>,
}

impl Invocation {
    /// A child spec running in `cwd` with no timeouts and the default grace
    /// period; the engine sets the timeouts it resolved.
    pub fn into_child(self, cwd: impl Into<PathBuf>) -> ChildSpec {
        ChildSpec {
            program: self.program,
            args: self.args,
            cwd: cwd.into(),
            env: self.env,
            stdin: self.stdin,
            wall_timeout: None,
            silence_timeout: None,
            grace: DEFAULT_GRACE,
            confine: None,
        }
    }
}

/// What kind of failure an agent reported, which decides what colony does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Rate limit or quota: wait (until the reset time, when given).
    RateLimit,
    /// The provider is overloaded: back off.
    Overloaded,
    /// Not logged in or key refused: fail fast and tell the user.
    Auth,
    /// A spend cap reached or credit used up (a monthly spend limit, an
    /// empty balance): waiting does not lift it, a person must raise the
    /// cap or pay. Like [`ErrorClass::Auth`], new work for the agent stops.
    SpendLimit,
    /// Anything else: retry within the attempt budget.
    Other,
}

/// One normalized piece of an agent's output. The per-attempt log is a
/// sequence of these; `colony logs` and the dashboard show them.
///
/// Entries add up: the sum of a run's [`Entry::Usage`] entries is the
/// run's tokens and the sum of its [`Entry::Cost`] entries its cost. An
/// adapter whose CLI repeats a total (Claude's streamed messages repeat
/// the usage so far) reports it once, from the event that closes the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// The assistant's words.
    Text {
        text: String,
    },
    /// A piece of the assistant's words, streamed (Gemini CLI sends a
    /// message as many `delta` events). Consecutive pieces are one message:
    /// the log writes them as one [`Entry::Text`], joined as they are.
    TextDelta {
        text: String,
    },
    ToolUse {
        name: String,
        input_summary: String,
    },
    ToolResult {
        output: String,
        is_error: bool,
    },
    /// Tokens of one turn (or of the run, as the CLI reports them).
    Usage {
        /// Input tokens not read from a prompt cache (cache writes count
        /// here); the run's whole input is `input + cached`.
        input: u64,
        output: u64,
        /// Input tokens read from a prompt cache, priced lower.
        cached: u64,
    },
    /// Dollars spent, as the CLI itself reported them.
    Cost {
        usd: f64,
    },
    /// The CLI's session id, to resume it in the next round.
    Session {
        id: String,
    },
    /// The CLI's version, as its own output gave it (an init event).
    Version {
        version: String,
    },
    Error {
        class: ErrorClass,
        message: String,
        /// When a rate limit lifts, if the CLI said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reset_at: Option<Millis>,
    },
    /// A line on stderr that reads as a failure of a known class (Gemini
    /// CLI prints its API errors there, cursor-agent a refused login). It
    /// explains a run that failed (no final event, a failed one, a bad
    /// exit code) but fails nothing by itself: stray words on the stderr
    /// of a run that succeeded change nothing. Shown like a stderr line.
    StderrError {
        class: ErrorClass,
        /// The line as it was.
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reset_at: Option<Millis>,
    },
    /// An event of a type the adapter does not read, skipped: the CLI
    /// changed. The log keeps the first of each type in an attempt.
    Unknown {
        /// The event's type.
        event: String,
    },
    /// The CLI's final event: it has said all it will, and a CLI that
    /// lingers after it may be stopped. Emitted once per final event.
    Finished {
        /// The final event reports a failure (Claude's `is_error`, Codex's
        /// `turn.failed`, a Gemini `result` whose status is not success).
        is_error: bool,
        /// The final event's own words, when it has them: the answer, or
        /// what went wrong.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A line kept as it was: all the `command` harness produces, and what
    /// an adapter keeps of lines it does not understand (stderr).
    Raw {
        stream: Stream,
        text: String,
    },
    /// Not from a harness: colony's own record of a step of the attempt
    /// (a gate and how it ended, a conflict, a review round, the merge).
    Colony(colony_core::record::Record),
    /// Not from a harness: the log's record of output left out to keep
    /// the log bounded, between its head and its tail (see
    /// [`LogWriter`](crate::LogWriter)).
    Omitted {
        /// Records left out.
        records: u64,
        /// Their size in the log, in bytes.
        bytes: u64,
    },
}

/// A harness's judgement of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentVerdict {
    Done,
    Failed {
        reason: String,
        class: ErrorClass,
        /// When a rate limit lifts, if the agent said.
        reset_at: Option<Millis>,
    },
}
