//! Worker processes racing on one store, SQLite and PostgreSQL alike.
//!
//! Each test drives the real `colony-bench` binary (seed, then workers) and
//! judges the outcome from two independent records: what the workers say
//! they did (their JSON lines) and what the store says happened (its event
//! log, replayed through the state machine and compared with its task
//! table). Nothing here sleeps for a fixed time; waits are on process output
//! or bounded polls.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use colony_core::{EventKind, TaskId, TaskState, TaskStatus};
use colony_store::{Rescued, SqlStore, Store, StoreUrl, SystemClock, TaskFilter, TaskRecord};
use colony_testkit::PgServer;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BENCH: &str = env!("CARGO_BIN_EXE_colony-bench");

/// A store for one test; a SQLite file lives as long as its directory.
struct TestStore {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    fn sqlite() -> TestStore {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("colony.db").display());
        TestStore { url, _dir: Some(dir) }
    }

    fn postgres() -> TestStore {
        TestStore { url: PgServer::shared().fresh_db(), _dir: None }
    }

    async fn open(&self) -> SqlStore {
        let url = StoreUrl::parse(&self.url, Path::new("/")).unwrap();
        SqlStore::open(&url, Arc::new(SystemClock)).await.unwrap()
    }

    async fn seed(&self, tasks: usize, width: usize) {
        let out = Command::new(BENCH)
            .args(["seed", "--store", &self.url, "--tasks", &tasks.to_string(), "--width", &width.to_string()])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "seed failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn worker(&self, name: &str, extra: &[&str]) -> Child {
        Command::new(BENCH)
            .args(["worker", "--store", &self.url, "--worker", name])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }
}

/// One line a worker printed.
#[derive(Debug, Clone, PartialEq)]
enum Line {
    Completed(Attempt),
    Lost(Attempt),
    Rescued(Attempt),
    Hanging(Attempt),
    Summary,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Attempt {
    task: String,
    attempt: u64,
    worker: String,
}

fn parse(line: &str) -> Line {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    let attempt = |v: &Value| Attempt {
        task: v["task"].as_str().unwrap().to_owned(),
        attempt: v["attempt"].as_u64().unwrap(),
        worker: v["worker"].as_str().unwrap().to_owned(),
    };
    match ["lost", "rescued", "hanging", "summary"].into_iter().find(|k| v.get(k).is_some()) {
        Some("lost") => Line::Lost(attempt(&v["lost"])),
        Some("rescued") => Line::Rescued(attempt(&v["rescued"])),
        Some("hanging") => Line::Hanging(attempt(&v["hanging"])),
        Some(_) => Line::Summary,
        None => Line::Completed(attempt(&v)),
    }
}

/// Waits for every worker to exit successfully; returns all their lines.
async fn run_to_end(workers: Vec<Child>) -> Vec<Line> {
    let mut lines = Vec::new();
    for worker in workers {
        let out = tokio::time::timeout(Duration::from_secs(50), worker.wait_with_output())
            .await
            .expect("workers finish within 50 s")
            .unwrap();
        assert!(out.status.success(), "worker failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.lines().last().is_some_and(|l| parse(l) == Line::Summary), "no summary:\n{text}");
        lines.extend(text.lines().map(parse));
    }
    lines
}

/// The completed attempts in `lines`, asserting that no completion was
/// refused and each task completed exactly once.
fn completions(lines: &[Line]) -> BTreeMap<String, Attempt> {
    let mut done = BTreeMap::new();
    for line in lines {
        match line {
            Line::Completed(a) => {
                if let Some(first) = done.insert(a.task.clone(), a.clone()) {
                    panic!("task {} completed twice: {first:?} and {a:?}", a.task);
                }
            }
            Line::Lost(a) => panic!("a completion was refused: {a:?}"),
            _ => {}
        }
    }
    done
}

/// Checks the store's history against its present, and returns the tasks
/// still held under a lease.
///
/// - the event log replays through the state machine to exactly the task
///   table;
/// - a task is never held under two leases: each claim's attempt is higher
///   than the last, and it ends (completed, failed or expired) before the
///   next claim of the task;
/// - a task is claimed only once all its dependencies are done.
async fn check_history(store: &SqlStore) -> HashSet<TaskId> {
    let records: Vec<TaskRecord> = store.tasks(&TaskFilter::default()).await.unwrap();
    let events = store.events(0, usize::MAX).await.unwrap();
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq), "event seqs are not increasing");

    let replayed = colony_core::state::replay(&events).unwrap_or_else(|e| panic!("the event log does not replay: {e}"));
    let table: BTreeMap<TaskId, colony_core::Task> =
        records.iter().map(|r| (r.task.id.clone(), r.task.clone())).collect();
    assert_eq!(replayed.len(), table.len());
    for (id, task) in &table {
        // Workers here never heartbeat, so even lease ends must agree.
        assert_eq!(Some(task), replayed.get(id), "task {id}: the table differs from the replayed log");
    }

    let deps: HashMap<&TaskId, &[TaskId]> = records.iter().map(|r| (&r.task.id, r.deps.as_slice())).collect();
    let mut held: HashMap<TaskId, u32> = HashMap::new();
    let mut last_attempt: HashMap<TaskId, u32> = HashMap::new();
    let mut done: HashSet<TaskId> = HashSet::new();
    for event in &events {
        let Some(id) = &event.task else { continue };
        match &event.kind {
            EventKind::Claimed { attempt, .. } => {
                assert!(
                    !held.contains_key(id),
                    "seq {}: {id} claimed while attempt {:?} holds it",
                    event.seq,
                    held[id]
                );
                let last = last_attempt.insert(id.clone(), *attempt).unwrap_or(0);
                assert!(*attempt > last, "seq {}: {id} claimed at attempt {attempt} after {last}", event.seq);
                held.insert(id.clone(), *attempt);
                let missing: Vec<&TaskId> = deps[id].iter().filter(|d| !done.contains(*d)).collect();
                assert!(missing.is_empty(), "seq {}: {id} claimed before its deps {missing:?} were done", event.seq);
            }
            EventKind::Completed { attempt }
            | EventKind::AttemptFailed { attempt, .. }
            | EventKind::LeaseExpired { attempt, .. } => {
                assert_eq!(
                    held.remove(id),
                    Some(*attempt),
                    "seq {}: {id} ended attempt {attempt} it did not hold",
                    event.seq
                );
                if matches!(event.kind, EventKind::Completed { .. }) {
                    done.insert(id.clone());
                }
            }
            _ => {}
        }
    }
    held.into_keys().collect()
}

/// Seeds 2,000 tasks in layers of 50 and lets 8 workers race to the end.
async fn race(store: TestStore) {
    const TASKS: usize = 2000;
    store.seed(TASKS, 50).await;
    let workers = (0..8).map(|i| store.worker(&format!("w{i}"), &[])).collect();
    let lines = run_to_end(workers).await;

    let done = completions(&lines);
    assert_eq!(done.len(), TASKS, "not every task was completed");
    assert!(done.values().all(|a| a.attempt == 1), "a task needed a second attempt without any worker dying");
    let busy: HashSet<&str> = done.values().map(|a| a.worker.as_str()).collect();
    assert!(busy.len() > 1, "only {busy:?} did any work: no race happened");

    let db = store.open().await;
    let records = db.tasks(&TaskFilter::default()).await.unwrap();
    assert_eq!(records.len(), TASKS);
    assert!(records.iter().all(|r| r.task.status() == TaskStatus::Done), "some task is not done");
    assert!(check_history(&db).await.is_empty());
    db.close().await;
}

#[tokio::test]
async fn sqlite_race_8_processes() {
    race(TestStore::sqlite()).await;
}

#[tokio::test]
async fn postgres_race_8_processes() {
    race(TestStore::postgres()).await;
}

/// A worker is SIGKILLed while it holds a claim: the store must show the
/// task still leased to it, give it back once the lease runs out, and let
/// another worker finish everything exactly once.
async fn sigkill_mid_claim(store: TestStore) {
    const TASKS: usize = 40;
    store.seed(TASKS, 5).await;

    let mut doomed = store.worker("doomed", &["--hang-after", "3", "--lease-ms", "1000"]);
    let mut out = BufReader::new(doomed.stdout.take().unwrap()).lines();
    let mut before_kill = Vec::new();
    let hung = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), out.next_line())
            .await
            .expect("the doomed worker prints within 30 s")
            .unwrap()
            .expect("the doomed worker exited before it hung");
        match parse(&line) {
            Line::Hanging(a) => break a,
            other => before_kill.push(other),
        }
    };
    doomed.kill().await.unwrap(); // SIGKILL, then reaped.
    let first = completions(&before_kill);
    assert_eq!(first.len(), 3);

    let db = store.open().await;
    let hung_id = TaskId::new(hung.task.clone()).unwrap();
    let record = db.task(&hung.task).await.unwrap().unwrap().record;
    match &record.task.state {
        TaskState::Running { lease } => assert_eq!(lease.worker, "doomed"),
        other => panic!("the hung task is {other:?}, not running"),
    }
    assert_eq!(u64::from(record.task.attempt), hung.attempt);
    let counts = db.counts().await.unwrap();
    assert_eq!((counts.get(TaskStatus::Done), counts.get(TaskStatus::Running)), (3, 1));
    for id in first.keys() {
        assert_eq!(db.task(id).await.unwrap().unwrap().record.task.status(), TaskStatus::Done);
    }
    assert_eq!(check_history(&db).await, HashSet::from([hung_id.clone()]));

    // The lease has a second to run; poll until the rescuer takes it back.
    let deadline = Instant::now() + Duration::from_secs(20);
    let rescued = loop {
        let rescued = db.rescue_expired().await.unwrap();
        if !rescued.is_empty() {
            break rescued;
        }
        assert!(Instant::now() < deadline, "the dead worker's lease never expired");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let attempt = hung.attempt as u32;
    let expected = Rescued { task: hung_id.clone(), attempt, worker: "doomed".into(), now: TaskStatus::Ready };
    assert_eq!(rescued, [expected]);
    let detail = db.task(&hung.task).await.unwrap().unwrap();
    assert_eq!(detail.record.task.status(), TaskStatus::Ready);
    let last = &detail.events.last().unwrap().kind;
    assert!(
        matches!(last, EventKind::LeaseExpired { attempt: a, worker, retry_at: Some(_) } if *a == attempt && worker == "doomed"),
        "{last:?}"
    );

    let mut lines = before_kill;
    lines.extend(run_to_end(vec![store.worker("finisher", &[])]).await);
    let done = completions(&lines);
    assert_eq!(done.len(), TASKS);
    assert_eq!(
        done[&hung.task],
        Attempt { task: hung.task.clone(), attempt: hung.attempt + 1, worker: "finisher".into() }
    );
    assert_eq!(db.counts().await.unwrap().get(TaskStatus::Done), TASKS);
    assert!(check_history(&db).await.is_empty());
    let attempts = db.task(&hung.task).await.unwrap().unwrap().attempts;
    let outcomes: Vec<(&str, Option<&str>)> =
        attempts.iter().map(|a| (a.worker.as_str(), a.outcome.as_deref())).collect();
    assert_eq!(outcomes, [("doomed", Some("expired")), ("finisher", Some("done"))]);
    db.close().await;
}

mod sigkill_mid_claim_is_rescued {
    use super::*;

    #[tokio::test]
    async fn sqlite() {
        sigkill_mid_claim(TestStore::sqlite()).await;
    }

    #[tokio::test]
    async fn postgres() {
        sigkill_mid_claim(TestStore::postgres()).await;
    }
}
