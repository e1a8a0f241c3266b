//! A confined child, for real: it writes to its tree and the places it is
//! given, is refused everywhere else (and so is what it starts), and
//! without TCP cannot reach a listener. The kernel must have Landlock.

use std::net::TcpListener;
use std::path::Path;

use colony_agents::sandbox::{Confinement, MIN_ABI, NET_ABI, probe};
use colony_agents::{Exit, Stream};
use tokio_util::sync::CancellationToken;

use crate::support::{Collect, script};

async fn confined(dir: &Path, tree: &Path, deny_tcp: bool, body: &str) -> (Exit, Collect) {
    let mut spec = script(dir, body);
    spec.cwd = tree.to_owned();
    spec.confine = Some(Confinement { writable: vec![tree.to_owned(), "/dev/null".into()], deny_tcp });
    let mut seen = Collect::default();
    let outcome = colony_agents::run(spec, &CancellationToken::new(), &mut seen).await.unwrap();
    (outcome.exit, seen)
}

#[tokio::test]
async fn a_confined_child_and_its_children_write_only_where_allowed() {
    assert!(probe() >= MIN_ABI, "these tests need a kernel with Landlock ABI {MIN_ABI} or later");
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(dir.path().join("kept"), "before").unwrap();
    let body = "echo mine > own && mv own sub/moved && echo quiet > /dev/null && echo ok\n\
                (echo no > ../outside) 2>&1\n\
                sh -c 'echo no > ../kept' 2>&1\n\
                rm -f ../kept 2>&1 || echo refused rm\n";
    let (exit, seen) = confined(dir.path(), &tree, false, body).await;
    assert_eq!(exit, Exit::Code(0));
    let out = seen.texts(Stream::Stdout);
    assert_eq!(out[0], "ok", "{out:?}");
    assert!(out.iter().filter(|l| l.contains("Permission denied")).count() >= 3, "{out:?}");
    assert_eq!(std::fs::read_to_string(tree.join("sub/moved")).unwrap(), "mine\n");
    assert!(!dir.path().join("outside").exists());
    assert_eq!(std::fs::read_to_string(dir.path().join("kept")).unwrap(), "before");
}

#[tokio::test]
async fn without_tcp_a_confined_child_cannot_reach_a_listener() {
    assert!(probe() >= NET_ABI, "this test needs Landlock ABI {NET_ABI} or later");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    // sh has no /dev/tcp; bash has.
    let body = format!("exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'\n");
    let (exit, _) = confined(dir.path(), dir.path(), false, &body).await;
    assert_eq!(exit, Exit::Code(0), "allowed: it connects");
    let (exit, seen) = confined(dir.path(), dir.path(), true, &body).await;
    assert_ne!(exit, Exit::Code(0));
    assert!(seen.texts(Stream::Stderr).iter().any(|l| l.contains("Permission denied")), "{:?}", seen.lines);
}
