//! What to run and what came of it: the plain data around [`run`](super::run).

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::group::Pgid;
use crate::sandbox::Confinement;

/// How long a child gets between SIGTERM and SIGKILL unless told otherwise:
/// long enough for an agent CLI to write its session out, short enough that
/// a stop feels prompt.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// What the child reads on stdin. Never the parent's: an agent CLI that
/// inherits a terminal or an open pipe waits on it forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StdinSource {
    /// Written in full, then closed, so the child sees EOF.
    Bytes(Vec<u8>),
    /// `/dev/null`: EOF at once.
    Null,
}

/// One child to start as the leader of a new process group.
///
/// `program` and `args` go to `execve` as they are; no shell reads them.
/// The child inherits colony's environment plus `env` (later pairs win),
/// and [`TAG_VAR`](super::TAG_VAR), set by [`run`](super::run) last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSpec {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    pub env: Vec<(OsString, OsString)>,
    pub stdin: StdinSource,
    /// Stop the child this long after it started.
    pub wall_timeout: Option<Duration>,
    /// Stop the child when it has written nothing for this long.
    pub silence_timeout: Option<Duration>,
    /// Time between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Where the child and all it starts may write; `None`: unconfined.
    pub confine: Option<Confinement>,
}

impl ChildSpec {
    /// `program` in `cwd` with no arguments, stdin null, no timeouts and the
    /// default grace period.
    pub fn new(program: impl Into<OsString>, cwd: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            cwd: cwd.into(),
            env: Vec::new(),
            stdin: StdinSource::Null,
            wall_timeout: None,
            silence_timeout: None,
            grace: DEFAULT_GRACE,
            confine: None,
        }
    }
}

/// Which of the child's output pipes a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of the child's output, without its line ending.
///
/// A line is whole up to [`MAX_LINE`](super::MAX_LINE) bytes (an agent's
/// tool result can be megabytes on one line); a longer one keeps only its
/// head and tail, around a marker saying how much was cut. Bytes that are
/// not UTF-8 become U+FFFD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: Stream,
    /// When the line was complete.
    pub at: SystemTime,
    pub text: String,
}

/// How the child's leader ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    Code(i32),
    /// Ended by this signal number (SIGKILL is 9, SIGTERM 15).
    Signal(i32),
}

impl Exit {
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit code {code}"),
            Exit::Signal(signal) => write!(f, "killed by signal {signal}"),
        }
    }
}

/// Why colony stopped a child that had not finished on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    WallTimeout,
    Silence,
    Cancelled,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::WallTimeout => "wall-clock timeout",
            StopReason::Silence => "silence timeout",
            StopReason::Cancelled => "cancelled",
        })
    }
}

/// What came of one supervised child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    pub exit: Exit,
    /// Set when colony began the stop sequence, whatever the exit then was.
    pub stopped: Option<StopReason>,
    pub pgid: Pgid,
    /// From spawn to the leader's exit.
    pub duration: Duration,
    /// Processes it started were still running when the leader exited, in
    /// its group or out of it, and were killed.
    pub stragglers: bool,
}

/// Receives what a supervised child does, as it happens.
///
/// Called from the supervising task; a slow observer delays the timeouts,
/// so hand heavy work (a database write) to another task.
pub trait RunObserver {
    /// The child has started and leads group `pgid`. Called once, before
    /// any output; record the pgid now so a later colony can kill the group
    /// if this one dies.
    fn started(&mut self, pgid: Pgid);
    /// One line of output, in the order read from each pipe.
    fn line(&mut self, line: OutputLine);
}
