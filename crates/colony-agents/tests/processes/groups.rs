//! `kill_group` on groups this process did not supervise: what a colony
//! restarted after a crash finds.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use colony_agents::{GroupEnd, Pgid, group_alive, kill_group};

use crate::support::{REAP_BOUND, eventually, kernel_knows_group};

/// Starts a group whose leader backgrounds two sleeps and exits, as an
/// agent's group looks once the colony that started it has died: leaderless,
/// its members orphaned.
fn leftover_group(prelude: &str) -> Pgid {
    let mut launcher = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("{prelude}\nsleep 1000 &\nsleep 1000 &\n"))
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pgid = Pgid::new(launcher.id() as i32).unwrap();
    assert!(launcher.wait().unwrap().success());
    pgid
}

#[tokio::test]
async fn a_group_left_behind_is_terminated() {
    let pgid = leftover_group("");
    assert!(group_alive(pgid), "the sleeps outlive their leader");
    assert_eq!(kill_group(pgid, Duration::from_secs(5)).await.unwrap(), GroupEnd::Terminated);
    assert!(!group_alive(pgid));
    assert!(eventually(REAP_BOUND, || !kernel_knows_group(pgid)).await);
}

#[tokio::test]
async fn a_group_that_ignores_sigterm_is_killed() {
    let pgid = leftover_group("trap '' TERM");
    let end = kill_group(pgid, Duration::from_millis(300)).await.unwrap();
    assert_eq!(end, GroupEnd::Killed);
    assert!(eventually(REAP_BOUND, || !kernel_knows_group(pgid)).await);
}

#[tokio::test]
async fn a_group_already_gone_is_left_alone() {
    let pgid = leftover_group("");
    kill_group(pgid, Duration::from_secs(5)).await.unwrap();
    assert_eq!(kill_group(pgid, Duration::from_secs(5)).await.unwrap(), GroupEnd::AlreadyGone);
}
