//! Supervision in a process that adopts orphans, as `colony` does: a test
//! binary of its own, since being a subreaper is a property of the whole
//! process. Every child here is started by `run`, as `adopt_orphans`
//! requires, except the `true`s that play git (in this process's group).
//!
//! The tests share the process's adopted children, so they take turns.

#[path = "common/daemon.rs"]
mod daemon;

use std::path::Path;
use std::process::Command;
use std::sync::Once;

use colony_agents::{ChildSpec, Exit, OutputLine, Pgid, RunObserver, adopt_orphans, end_adopted, run};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use daemon::{daemon, daemon_pid, running};

/// One test at a time: `end_adopted` ends every test's orphans.
static TURN: Mutex<()> = Mutex::const_new(());

fn adopt() {
    static ADOPTED: Once = Once::new();
    ADOPTED.call_once(|| adopt_orphans().expect("Linux lets a process become a subreaper"));
}

/// `sh -c BODY`: test scaffolding; colony itself hands a shell nothing.
fn shell(dir: &Path, body: &str) -> ChildSpec {
    let mut spec = ChildSpec::new("/bin/sh", dir);
    spec.args = vec!["-c".into(), body.into()];
    spec
}

struct Quiet;

impl RunObserver for Quiet {
    fn started(&mut self, _: Pgid) {}
    fn line(&mut self, _: OutputLine) {}
}

/// Whether any process, a zombie too, has `pid`.
fn exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn kill(pid: i32) {
    // SAFETY: kill(2) of a sleep this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

#[tokio::test]
async fn a_daemon_adopted_by_colony_is_killed_and_reaped_when_its_child_ends() {
    let _turn = TURN.lock().await;
    adopt();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("daemon.pid");
    let out = run(shell(dir.path(), &daemon(&pid_file, "")), &CancellationToken::new(), &mut Quiet).await.unwrap();
    let pid = daemon_pid(&pid_file);
    let gone = !exists(pid);
    if !gone {
        kill(pid);
    }
    assert!(gone, "the daemon {pid} is still there, running or a zombie, after its child ended");
    assert!(out.stragglers);
}

#[tokio::test]
async fn a_daemon_that_cleared_its_environment_is_ended_with_the_run() {
    let _turn = TURN.lock().await;
    adopt();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("daemon.pid");
    // Without its tag the daemon cannot be told from another child's, so
    // it outlives its own; it is ended with whatever colony adopted.
    let body = daemon(&pid_file, "env -i PATH=/usr/bin:/bin");
    run(shell(dir.path(), &body), &CancellationToken::new(), &mut Quiet).await.unwrap();
    let pid = daemon_pid(&pid_file);
    assert!(running(pid), "the untagged daemon {pid} outlived its child, as documented");
    let killed = end_adopted().await;
    let gone = !exists(pid);
    if !gone {
        kill(pid);
    }
    assert!(gone, "the adopted daemon {pid} is still there after end_adopted");
    assert!(killed >= 1, "end_adopted killed {killed}");
}

/// Reaping orphans must never take the exit of a child someone else waits
/// for: a supervised leader's (tokio's) or a helper's in colony's own
/// group (std's, as git's are). Many children end at once here, each
/// leaving orphans that die, while `true` runs over and over beside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reaping_orphans_takes_no_exit_status_from_anyone_else() {
    let _turn = TURN.lock().await;
    adopt();
    let dir = tempfile::tempdir().unwrap();
    let helpers = std::thread::spawn(|| (0..200).all(|_| Command::new("true").status().is_ok_and(|s| s.success())));
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..24 {
        let spec = shell(dir.path(), "( sh -c 'exit 0' & ) ; ( setsid sh -c 'exit 0' & ) ; exit 7");
        runs.spawn(async move { run(spec, &CancellationToken::new(), &mut Quiet).await.map(|o| o.exit) });
    }
    while let Some(exit) = runs.join_next().await {
        assert_eq!(exit.unwrap().unwrap(), Exit::Code(7));
    }
    assert!(helpers.join().unwrap(), "a helper's exit was taken");
}
