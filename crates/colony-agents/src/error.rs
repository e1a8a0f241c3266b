//! The crate's one error type.
//!
//! Each variant carries the facts a caller needs to report or act on
//! (program, path, process group, signal) as fields, with the OS error as
//! its `#[source]`, so the binary can word the message and pick the exit
//! code in one place.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while starting, stopping or logging a child.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The program could not be started (not found, not executable, bad cwd).
    #[error("cannot start `{}` in {}", program.to_string_lossy(), cwd.display())]
    Spawn {
        program: OsString,
        cwd: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Waiting for a started child failed; the group was killed.
    #[error("lost track of process group {pgid}")]
    Wait {
        pgid: i32,
        #[source]
        source: io::Error,
    },
    /// The Landlock ruleset of a confined child could not be built.
    #[error("cannot confine `{}` to its worktree: {message}", program.to_string_lossy())]
    Sandbox { program: OsString, message: String },
    /// A signal could not be sent to a process group that exists.
    #[error("cannot send signal {signal} to process group {pgid}")]
    Signal {
        pgid: i32,
        signal: i32,
        #[source]
        source: io::Error,
    },
    /// A process group id that must never be signalled: 0 and 1 (and
    /// negatives) would reach the caller's own group or every process.
    #[error("refusing to signal process group {pgid}")]
    UnsafePgid { pgid: i32 },
    /// The group is colony's own; signalling it would stop colony itself.
    #[error("refusing to signal process group {pgid}: it is colony's own")]
    OwnGroup { pgid: i32 },
    /// This process could not be made the subreaper of its descendants.
    #[error("cannot make colony the subreaper of the processes it starts")]
    Subreaper {
        #[source]
        source: io::Error,
    },
    /// A `command` agent was configured with an empty argv.
    #[error("the command agent has an empty `command`")]
    EmptyCommand,
    /// The task file could not be written.
    #[error("cannot write the task file {}", path.display())]
    TaskFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A per-attempt log could not be opened, read or written.
    #[error("agent log {}", path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A line of a per-attempt log is not a record (a torn write or a
    /// foreign file). The reader has moved past it.
    #[error("agent log {} line {line} is not a log record", path.display())]
    BadLogLine {
        path: PathBuf,
        line: u64,
        #[source]
        source: serde_json::Error,
    },
}
