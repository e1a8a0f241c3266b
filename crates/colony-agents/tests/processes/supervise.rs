//! `run` against real children: stdin, environment, cwd, output, timeouts,
//! the stop sequence, cancellation, and nothing of a group left behind.

use std::time::Duration;

use colony_agents::{AgentError, Exit, MAX_LINE, StdinSource, StopReason, Stream, group_alive, run};
use tokio_util::sync::CancellationToken;

use crate::daemon::{daemon, daemon_pid, running};
use crate::support::{Collect, REAP_BOUND, eventually, kernel_knows_group, script};

const SIGTERM: i32 = 15;
const SIGKILL: i32 = 9;

#[tokio::test]
async fn the_prompt_arrives_on_stdin_which_is_then_closed() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = script(dir.path(), "cat\necho done >&2\n");
    // Larger than a pipe buffer, so feeding stdin and reading stdout must
    // overlap or the two would deadlock.
    let big = "p".repeat(300 * 1024);
    spec.stdin = StdinSource::Bytes(format!("hello\n{big}\nlast").into_bytes());
    let mut seen = Collect::default();
    let out = run(spec, &CancellationToken::new(), &mut seen).await.unwrap();
    assert_eq!(out.exit, Exit::Code(0));
    assert_eq!(out.stopped, None);
    assert_eq!(seen.texts(Stream::Stdout), ["hello", big.as_str(), "last"]);
    assert_eq!(seen.texts(Stream::Stderr), ["done"]);
    assert_eq!(seen.pgid, Some(out.pgid), "the pgid is reported");
    assert!(!seen.line_before_start, "the pgid comes before any output");
}

#[tokio::test]
async fn a_null_stdin_reads_as_end_of_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = script(dir.path(), "cat\necho after\n");
    let mut seen = Collect::default();
    let out = run(spec, &CancellationToken::new(), &mut seen).await.unwrap();
    assert_eq!(out.exit, Exit::Code(0));
    assert_eq!(seen.texts(Stream::Stdout), ["after"]);
}

#[tokio::test]
async fn environment_and_working_directory_are_as_specified() {
    let dir = tempfile::tempdir().unwrap();
    let worktree = dir.path().join("worktree");
    std::fs::create_dir(&worktree).unwrap();
    let mut spec = script(dir.path(), "echo \"$GREETING\"\npwd -P\nexit 4\n");
    spec.cwd = worktree.clone();
    spec.env = vec![("GREETING".into(), "hi there".into())];
    let mut seen = Collect::default();
    let out = run(spec, &CancellationToken::new(), &mut seen).await.unwrap();
    assert_eq!(out.exit, Exit::Code(4));
    let real = worktree.canonicalize().unwrap();
    assert_eq!(seen.texts(Stream::Stdout), ["hi there", real.to_str().unwrap()]);
}

#[tokio::test]
async fn the_wall_clock_timeout_stops_a_long_sleep() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = script(dir.path(), "sleep 1000\n");
    spec.wall_timeout = Some(Duration::from_millis(300));
    let out = run(spec, &CancellationToken::new(), &mut Collect::default()).await.unwrap();
    assert_eq!(out.stopped, Some(StopReason::WallTimeout));
    assert_eq!(out.exit, Exit::Signal(SIGTERM));
    assert!(out.duration >= Duration::from_millis(300) && out.duration < Duration::from_secs(10));
    // The sleep got SIGTERM with its leader but may die a moment later.
    assert!(eventually(Duration::from_secs(2), || !group_alive(out.pgid)).await);
}

#[tokio::test]
async fn the_silence_timeout_stops_a_child_that_went_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = script(dir.path(), "echo working\nsleep 1000\n");
    spec.silence_timeout = Some(Duration::from_millis(300));
    let mut seen = Collect::default();
    let out = run(spec, &CancellationToken::new(), &mut seen).await.unwrap();
    assert_eq!(out.stopped, Some(StopReason::Silence));
    assert_eq!(seen.texts(Stream::Stdout), ["working"]);
}

#[tokio::test]
async fn the_silence_timeout_spares_a_child_that_keeps_talking() {
    let dir = tempfile::tempdir().unwrap();
    // Ten lines 100 ms apart: the whole run outlasts the silence timeout,
    // no single pause does. A partial line counts as output too.
    let body = "i=0\nwhile [ $i -lt 10 ]; do printf 'tick %s' $i; sleep 0.1; echo; i=$((i+1)); done\n";
    let mut spec = script(dir.path(), body);
    spec.silence_timeout = Some(Duration::from_millis(800));
    let mut seen = Collect::default();
    let out = run(spec, &CancellationToken::new(), &mut seen).await.unwrap();
    assert_eq!((out.exit, out.stopped), (Exit::Code(0), None));
    assert_eq!(seen.texts(Stream::Stdout).len(), 10);
    assert!(out.duration > Duration::from_millis(800));
}

#[tokio::test]
async fn a_child_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    // An ignored signal stays ignored across exec, so `sleep` ignores it too.
    let mut spec = script(dir.path(), "trap '' TERM\necho ready\nsleep 1000\n");
    spec.grace = Duration::from_millis(300);
    let cancel = CancellationToken::new();
    let mut seen = Collect::cancelling_on("ready", &cancel);
    let out = run(spec, &cancel, &mut seen).await.unwrap();
    assert_eq!(out.stopped, Some(StopReason::Cancelled));
    assert_eq!(out.exit, Exit::Signal(SIGKILL));
    assert!(out.duration >= Duration::from_millis(300), "{:?}", out.duration);
    assert!(eventually(REAP_BOUND, || !kernel_knows_group(out.pgid)).await);
}

#[tokio::test]
async fn cancelling_stops_the_child_with_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let spec = script(dir.path(), "echo ready\nsleep 1000\n");
    let cancel = CancellationToken::new();
    let mut seen = Collect::cancelling_on("ready", &cancel);
    let out = run(spec, &cancel, &mut seen).await.unwrap();
    assert_eq!(out.stopped, Some(StopReason::Cancelled));
    assert_eq!(out.exit, Exit::Signal(SIGTERM));
    assert!(out.duration < Duration::from_secs(5), "SIGTERM sufficed, no grace wait");
}

#[tokio::test]
async fn a_child_cancelled_before_it_starts_is_stopped_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let spec = script(dir.path(), "sleep 1000\n");
    let cancel = CancellationToken::new();
    cancel.cancel();
    let out = run(spec, &cancel, &mut Collect::default()).await.unwrap();
    assert_eq!(out.stopped, Some(StopReason::Cancelled));
}

#[tokio::test]
async fn a_background_grandchild_does_not_outlive_its_leader() {
    let dir = tempfile::tempdir().unwrap();
    // The grandchild keeps stdout open too: `run` must not wait for EOF.
    let spec = script(dir.path(), "sleep 1000 &\necho started\nexit 0\n");
    let mut seen = Collect::default();
    let out = run(spec, &CancellationToken::new(), &mut seen).await.unwrap();
    assert_eq!((out.exit, out.stopped), (Exit::Code(0), None));
    assert!(out.stragglers, "the sleep was still running when the leader exited");
    assert_eq!(seen.texts(Stream::Stdout), ["started"]);
    assert!(eventually(Duration::from_secs(2), || !group_alive(out.pgid)).await);
    assert!(eventually(REAP_BOUND, || !kernel_knows_group(out.pgid)).await);
}

#[tokio::test]
async fn a_daemon_that_left_the_group_does_not_outlive_its_leader() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("daemon.pid");
    let spec = script(dir.path(), &format!("{}echo started\n", daemon(&pid_file, "")));
    let out = run(spec, &CancellationToken::new(), &mut Collect::default()).await.unwrap();
    let pid = daemon_pid(&pid_file);
    let killed = !running(pid);
    if !killed {
        // SAFETY: kill(2) of the sleep this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert!(killed, "the daemon {pid} still runs after its child ended");
    assert!(out.stragglers, "the daemon was still running when the leader exited");
    assert_eq!(out.exit, Exit::Code(0));
}

#[tokio::test]
async fn dropping_the_run_kills_the_group_and_what_left_it() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("daemon.pid");
    let spec = script(dir.path(), &format!("{}echo ready\nsleep 1000\n", daemon(&pid_file, "")));
    // The run never sees this token; the test drops the run when it fires.
    let ready = CancellationToken::new();
    let mut seen = Collect::cancelling_on("ready", &ready);
    let never = CancellationToken::new();
    tokio::select! {
        _ = run(spec, &never, &mut seen) => panic!("the child cannot end by itself"),
        () = ready.cancelled() => {}
    }
    let pgid = seen.pgid.unwrap();
    assert!(eventually(Duration::from_secs(2), || !group_alive(pgid)).await);
    let pid = daemon_pid(&pid_file);
    let killed = eventually(Duration::from_secs(2), || !running(pid)).await;
    if !killed {
        // SAFETY: kill(2) of the sleep this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert!(killed, "the daemon {pid} still runs after the run was dropped");
}

#[tokio::test]
async fn a_one_mebibyte_line_passes_whole() {
    let dir = tempfile::tempdir().unwrap();
    let spec = script(
        dir.path(),
        "head -c 1048576 /dev/zero | tr '\\0' x\necho\nhead -c 1048576 /dev/zero | tr '\\0' y >&2\n",
    );
    let mut seen = Collect::default();
    let out = run(spec, &CancellationToken::new(), &mut seen).await.unwrap();
    assert_eq!(out.exit, Exit::Code(0));
    let (stdout, stderr) = (seen.texts(Stream::Stdout), seen.texts(Stream::Stderr));
    assert_eq!((stdout.len(), stderr.len()), (1, 1));
    assert!(stdout[0].len() == 1 << 20 && stdout[0].bytes().all(|b| b == b'x'));
    assert!(stderr[0].len() == 1 << 20 && stderr[0].bytes().all(|b| b == b'y'));
}

#[tokio::test]
async fn a_line_past_the_limit_arrives_as_its_head_and_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mib = 3 * MAX_LINE / (1 << 20);
    let body = format!("printf START\nhead -c {mib}M /dev/zero | tr '\\0' x\nprintf 'END\\nnext\\n'\n");
    let mut seen = Collect::default();
    let out = run(script(dir.path(), &body), &CancellationToken::new(), &mut seen).await.unwrap();
    assert_eq!(out.exit, Exit::Code(0));
    let lines = seen.texts(Stream::Stdout);
    assert_eq!(lines.len(), 2, "one cut line, then the next whole");
    assert!(lines[0].starts_with("STARTxxx") && lines[0].ends_with("xxxEND"));
    assert!(lines[0].len() <= colony_agents::cut::MAX_TEXT, "{}", lines[0].len());
    let count = lines[0].split_once(" [… ").and_then(|(_, rest)| rest.split_once(" bytes cut …] ")).unwrap().0;
    let cut: usize = count.parse().unwrap();
    let kept = lines[0].len() - colony_agents::cut::around("", cut as u64, "").len();
    assert_eq!(kept + cut, (mib << 20) + 8, "every byte kept or counted");
    assert_eq!(lines[1], "next");
}

#[tokio::test]
async fn output_that_is_not_utf8_is_replaced_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let spec = script(dir.path(), "printf '\\377\\376ok\\r\\n'\nprintf 'caf\\303\\251\\n'\n");
    let mut seen = Collect::default();
    run(spec, &CancellationToken::new(), &mut seen).await.unwrap();
    assert_eq!(seen.texts(Stream::Stdout), ["\u{fffd}\u{fffd}ok", "café"]);
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_error() {
    let dir = tempfile::tempdir().unwrap();
    let spec = colony_agents::ChildSpec::new("/nonexistent/agent", dir.path());
    let err = run(spec, &CancellationToken::new(), &mut Collect::default()).await.unwrap_err();
    assert!(matches!(err, AgentError::Spawn { .. }), "{err:?}");
}
