//! The PostgreSQL fixture against a real server: databases are separate,
//! it works from inside a tokio runtime, and no server outlives its test
//! process, however that process ends.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use colony_testkit::PgServer;
use sqlx::{Connection, PgConnection};

/// Set in the child process of the SIGKILL test: makes
/// `holds_a_server_until_killed` start a server and wait to be killed.
const HOLD_ENV: &str = "COLONY_TESTKIT_HOLD_SERVER";

async fn current_db(url: &str) -> (PgConnection, String) {
    let mut conn = PgConnection::connect(url).await.unwrap_or_else(|e| panic!("connect {url}: {e}"));
    let name: String = sqlx::query_scalar("SELECT current_database()").fetch_one(&mut conn).await.unwrap();
    (conn, name)
}

#[tokio::test]
async fn fresh_databases_are_distinct_and_empty() {
    let server = PgServer::start();
    let (a, b) = (server.fresh_db(), server.fresh_db());
    assert_ne!(a, b);
    let (mut conn_a, name_a) = current_db(&a).await;
    let (mut conn_b, name_b) = current_db(&b).await;
    assert_ne!(name_a, name_b);
    sqlx::query("CREATE TABLE only_in_a (x INT)").execute(&mut conn_a).await.unwrap();
    let in_b: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_tables WHERE tablename = 'only_in_a'")
        .fetch_one(&mut conn_b)
        .await
        .unwrap();
    assert_eq!(in_b, 0, "a table made in {a} is visible in {b}");
    conn_a.close().await.unwrap();
    conn_b.close().await.unwrap();
}

#[test]
fn the_shared_server_serves_plain_tests_too() {
    let url = PgServer::shared().fresh_db();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (conn, name) = rt.block_on(current_db(&url));
    assert!(url.ends_with(&name), "{url} vs {name}");
    rt.block_on(conn.close()).unwrap();
}

#[test]
fn dropping_a_private_server_stops_it() {
    let server = PgServer::start();
    let pid = server.pid();
    assert!(process_group_alive(pid));
    drop(server);
    assert!(!process_group_alive(pid), "postgres (group {pid}) still runs after drop");
}

/// Not a test of its own: the child process of
/// `a_killed_test_process_leaves_no_server_behind`. Without the variable it
/// does nothing.
#[test]
fn holds_a_server_until_killed() {
    if std::env::var_os(HOLD_ENV).is_none() {
        return;
    }
    let server = PgServer::shared();
    server.fresh_db();
    println!("postmaster={}", server.pid());
    loop {
        std::thread::park();
    }
}

#[test]
fn a_killed_test_process_leaves_no_server_behind() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "holds_a_server_until_killed", "--nocapture", "--test-threads=1"])
        .env(HOLD_ENV, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let pid: u32 = stdout
        .lines()
        .map_while(Result::ok)
        // The harness prints `test NAME ... ` on the same line first.
        .find_map(|line| line.split_once("postmaster=").map(|(_, p)| p.trim().parse().unwrap()))
        .expect("the child prints its postmaster's pid");
    assert!(process_group_alive(pid));

    child.kill().unwrap(); // SIGKILL: no destructor, no atexit, nothing.
    child.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    while process_group_alive(pid) {
        assert!(Instant::now() < deadline, "postgres (group {pid}) outlived its killed test process");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether any live (non-zombie) process is in process group `pgid`.
fn process_group_alive(pgid: u32) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else { return false };
    procs.flatten().any(|p| {
        let Ok(stat) = std::fs::read_to_string(p.path().join("stat")) else { return false };
        // After the parenthesized name: state, ppid, pgrp, ...
        let Some((_, rest)) = stat.rsplit_once(')') else { return false };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
    })
}
