//! Running one child under supervision: spawn it as a group leader, feed
//! its stdin, stream its output, enforce the timeouts and the stop sequence,
//! and make sure nothing of its group, nor anything it started that left
//! the group, outlives it.
//!
//! Why not process-wrap: its group wrapper gives `setpgid` and a group
//! kill-on-drop, both a few lines here, while its `wait` blocks a thread in
//! `waitpid(-pgid)` and cannot see grandchildren (they are not our
//! children). The stop sequence must be our own pure function anyway
//! ([`escalate`](super::escalate)), so tokio's `process_group(0)` plus
//! `kill(2)` is the smaller whole.

use std::future::pending;
use std::pin::pin;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout_at};
use tokio_util::sync::CancellationToken;

use super::escalate::{Action, Happening, Stage, step};
use super::group::Pgid;
use super::line::LineBuf;
use super::orphans;
use super::spec::{ChildSpec, OutputLine, RunObserver, RunOutcome, StdinSource, StopReason, Stream};
use super::strays::{TAG_VAR, Target};
use super::unix;
use crate::AgentError;

/// How long output may keep arriving after the leader exited and its group
/// was killed. What was in the pipes arrives within milliseconds; only a
/// process that left the group (`setsid`) can hold a pipe open longer, and
/// colony must not wait on it.
const DRAIN: Duration = Duration::from_secs(1);

/// Bytes asked of a pipe per read.
const CHUNK: usize = 64 * 1024;

/// What the pipe readers send the supervising loop.
enum Feed {
    Line(OutputLine),
    /// Bytes arrived that did not finish a line: the child is not silent.
    Partial,
}

/// Runs `spec` to the end and reports what came of it.
///
/// The child leads a new process group; `observer` hears its pgid before
/// anything else, then every output line. A wall-clock or silence timeout,
/// or `cancel`, starts the stop sequence: SIGTERM to the group, up to
/// `grace` for the leader to exit, SIGKILL to the group. Whenever the
/// leader exits, any member of its group still running is killed, and so is
/// any process that carries the child's [`TAG_VAR`] (a daemon that left the
/// group). If this future is dropped midway, both are killed as well.
pub async fn run(
    spec: ChildSpec,
    cancel: &CancellationToken,
    observer: &mut impl RunObserver,
) -> Result<RunOutcome, AgentError> {
    let (stdin_bytes, stdin_cfg) = match spec.stdin {
        StdinSource::Bytes(bytes) => (Some(bytes), Stdio::piped()),
        StdinSource::Null => (None, Stdio::null()),
    };
    // Unique to this child and inherited by what it starts: how its strays
    // are known once they have left its group.
    let tag = orphans::next_tag();
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env(TAG_VAR, &tag)
        .stdin(stdin_cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // setpgid happens in the child before exec, and spawn returns only
        // after exec, so the group exists before we can signal it.
        .process_group(0);
    if let Some(confinement) = &spec.confine {
        confine(&mut command, confinement)
            .map_err(|message| AgentError::Sandbox { program: spec.program.clone(), message })?;
    }
    let started = Instant::now();
    let (mut child, leader) = orphans::spawn_leader(&mut command).map_err(|source| AgentError::Spawn {
        program: spec.program.clone(),
        cwd: spec.cwd.clone(),
        source,
    })?;
    let raw_pid = child.id().expect("a child that was just spawned is not yet reaped");
    let pgid =
        Pgid::new(i32::try_from(raw_pid).expect("pids fit in i32")).expect("a new group leader's pid is above 1");
    let guard = KillOnDrop { pgid, tag: tag.clone() };
    observer.started(pgid);

    let (tx, mut rx) = mpsc::channel(64);
    let mut readers = JoinSet::new();
    if let Some(out) = child.stdout.take() {
        readers.spawn(pump(out, Stream::Stdout, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        readers.spawn(pump(err, Stream::Stderr, tx.clone()));
    }
    drop(tx);
    let mut feeding = pin!(feed_stdin(child.stdin.take(), stdin_bytes));
    let mut fed = false;
    let mut output_open = true;

    let wall_at = spec.wall_timeout.map(|d| started + d);
    let mut quiet_at = spec.silence_timeout.map(|d| started + d);
    let mut grace_at = None;
    let mut stage = Stage::Running;
    let mut stopped = None;
    let mut exit = None;
    let mut stragglers = false;

    while stage != Stage::Exited {
        let running = stage == Stage::Running;
        let (happening, reason) = tokio::select! {
            status = child.wait() => {
                let status = status.map_err(|source| AgentError::Wait { pgid: pgid.get(), source })?;
                orphans::forget(leader);
                exit = Some((unix::exit_of(status), started.elapsed()));
                // The leader is reaped, so its pid could in principle be
                // reused; but the number stays reserved while any member of
                // the group lives, and asking right away leaves a pid-space
                // wraparound no time to happen.
                stragglers = unix::group_alive(pgid.get());
                (Happening::LeaderExited { members_left: stragglers }, None)
            }
            feed = rx.recv(), if output_open => {
                match feed {
                    Some(feed) => deliver(feed, observer, &mut quiet_at, spec.silence_timeout),
                    None => output_open = false,
                }
                continue;
            }
            () = &mut feeding, if !fed => {
                fed = true;
                continue;
            }
            () = cancel.cancelled(), if running => (Happening::StopAsked, Some(StopReason::Cancelled)),
            () = at(wall_at), if running => (Happening::StopAsked, Some(StopReason::WallTimeout)),
            () = at(quiet_at), if running => (Happening::StopAsked, Some(StopReason::Silence)),
            () = at(grace_at), if stage == Stage::Terminating => (Happening::GraceOver, None),
        };
        let (next, actions) = step(stage, happening);
        if stopped.is_none() && next == Stage::Terminating {
            stopped = reason;
        }
        stage = next;
        for action in actions {
            match action {
                Action::Signal(signal) => pgid.signal(*signal)?,
                Action::ArmGrace => grace_at = Some(Instant::now() + spec.grace),
            }
        }
    }
    // The group was checked and, if need be, killed when the leader exited;
    // a later blind SIGKILL could only hit a reused number.
    std::mem::forget(guard);
    // Before the drain: a stray holding the output pipes open would keep it
    // waiting.
    stragglers |= orphans::end(Target::Tag(&tag)).await.killed > 0;

    let drain_until = Instant::now() + DRAIN;
    while output_open {
        match timeout_at(drain_until, rx.recv()).await {
            Ok(Some(feed)) => deliver(feed, observer, &mut quiet_at, spec.silence_timeout),
            Ok(None) | Err(_) => output_open = false,
        }
    }
    readers.abort_all();

    let (exit, duration) = exit.expect("the loop ends only once the leader has exited");
    Ok(RunOutcome { exit, stopped, pgid, duration, stragglers })
}

/// Has the child take on `confinement` between fork and exec, so that
/// it and everything it starts are held to it. The ruleset is built
/// here, in the parent: the child only sets no_new_privs and restricts
/// itself, two system calls that allocate nothing.
#[cfg(target_os = "linux")]
fn confine(command: &mut Command, confinement: &crate::sandbox::Confinement) -> Result<(), String> {
    let mut ruleset = Some(crate::sandbox::ruleset(confinement).map_err(|e| e.to_string())?);
    let restrict = move || match ruleset.take() {
        Some(ruleset) => ruleset.restrict_self().map(drop).map_err(|_| std::io::Error::last_os_error()),
        None => Ok(()),
    };
    // SAFETY: the closure runs in the forked child before exec; it makes
    // only the prctl and landlock_restrict_self calls and closes the
    // ruleset's descriptor, all async-signal-safe, and allocates nothing.
    unsafe { command.pre_exec(restrict) };
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn confine(_: &mut Command, _: &crate::sandbox::Confinement) -> Result<(), String> {
    Err("Landlock is Linux's".into())
}

/// Kills the whole group, and the strays carrying the child's tag, if
/// [`run`] is dropped before the leader exits (the engine gave up on the
/// attempt, or the runtime is shutting down).
struct KillOnDrop {
    pgid: Pgid,
    tag: String,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Nothing more can be done about a failure while dropping.
        let _ = unix::signal_group(self.pgid.get(), super::escalate::GroupSignal::Kill);
        orphans::end_now(Target::Tag(&self.tag));
    }
}

/// Hands one feed to the observer; any output restarts the silence clock.
fn deliver(feed: Feed, observer: &mut impl RunObserver, quiet_at: &mut Option<Instant>, silence: Option<Duration>) {
    if let Some(d) = silence {
        *quiet_at = Some(Instant::now() + d);
    }
    if let Feed::Line(line) = feed {
        observer.line(line);
    }
}

/// Resolves at `deadline`, or never when there is none.
async fn at(deadline: Option<Instant>) {
    match deadline {
        Some(t) => sleep_until(t).await,
        None => pending().await,
    }
}

/// Writes the prompt, then closes stdin. A child that exits without reading
/// it makes the write fail with EPIPE, which only means it did not care.
async fn feed_stdin(stdin: Option<ChildStdin>, bytes: Option<Vec<u8>>) {
    if let (Some(mut stdin), Some(bytes)) = (stdin, bytes) {
        let _ = stdin.write_all(&bytes).await;
        let _ = stdin.shutdown().await;
    }
}

/// Reads one pipe to its end, sending each complete line, and a
/// [`Feed::Partial`] for reads that completed none (a progress bar is
/// output too). A read error ends the stream like EOF: on a pipe it only
/// happens when the other end is gone. A line is buffered only up to
/// [`MAX_LINE`](super::line::MAX_LINE); see [`LineBuf`].
async fn pump(mut pipe: impl AsyncRead + Unpin, stream: Stream, tx: mpsc::Sender<Feed>) {
    let mut pending = LineBuf::default();
    let mut chunk = vec![0u8; CHUNK];
    let line = |pending: &mut LineBuf| OutputLine { stream, at: SystemTime::now(), text: pending.take() };
    loop {
        let n = match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut rest = &chunk[..n];
        let mut completed = false;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            pending.push(&rest[..i]);
            rest = &rest[i + 1..];
            completed = true;
            if tx.send(Feed::Line(line(&mut pending))).await.is_err() {
                return;
            }
        }
        pending.push(rest);
        if !completed && tx.send(Feed::Partial).await.is_err() {
            return;
        }
    }
    if !pending.is_empty() {
        let _ = tx.send(Feed::Line(line(&mut pending))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_split_whole_with_crlf_and_bad_bytes_handled() {
        let input: &[u8] = b"one\r\ntwo\n\xff\xfe three\nlast without newline";
        let (tx, mut rx) = mpsc::channel(16);
        pump(input, Stream::Stderr, tx).await;
        let mut texts = Vec::new();
        while let Some(feed) = rx.recv().await {
            if let Feed::Line(l) = feed {
                assert_eq!(l.stream, Stream::Stderr);
                texts.push(l.text);
            }
        }
        assert_eq!(texts, ["one", "two", "\u{fffd}\u{fffd} three", "last without newline"]);
    }
}
