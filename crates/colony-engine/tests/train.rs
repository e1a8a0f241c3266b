//! Merge trains on real repositories, a real SQLite store and real child
//! processes. Each test holds the store's merge lock until every task
//! waits to merge, so that they all ride one train.

mod common;

use std::time::Duration;

use colony_core::TaskStatus;
use colony_core::record::Record;
use colony_engine::Settings;
use colony_store::Store;
use common::{Fixture, git};

/// Writes out/<task>.txt, which names the attempt (so that two attempts
/// never make the same commit); tasks named `c…` also write the same line
/// of shared.txt, and a resolver round keeps every side.
const AGENT: &str = "mkdir -p out && echo \"$COLONY_TASK_ID $COLONY_ATTEMPT\" > \"out/$COLONY_TASK_ID.txt\"\n\
    case \"$COLONY_TASK_ID\" in c*)\n\
      if [ -n \"$COLONY_FEEDBACK_FILE\" ] && grep -q conflict \"$COLONY_FEEDBACK_FILE\"; then\n\
        printf 'c1\\nc2\\n' > shared.txt\n\
      else echo \"$COLONY_TASK_ID\" > shared.txt; fi ;;\n\
    esac\n";

/// A gate that notes where it ran (the branch, or `HEAD` when detached)
/// and the task files it saw, then runs `check`.
fn gate(f: &Fixture, check: &str) -> String {
    let log = f.state().join("gates.log");
    format!("echo \"$(git rev-parse --abbrev-ref HEAD) $(ls out | tr '\\n' ' ')\" >> '{}'; {check}", log.display())
}

fn settings(f: &Fixture, check: &str) -> Settings {
    let mut s = f.settings_with("script", f.command_agent("agent", AGENT));
    s.workers = 5;
    s.config.gates.commands = vec![gate(f, check)];
    // Gated before their turn, merges would not wait to ride a train.
    s.config.merge.speculate = false;
    s
}

/// Runs with the merge lock held by the test until all `n` tasks wait to
/// merge.
async fn run_held(f: &Fixture, settings: Settings, n: usize) -> colony_engine::RunReport {
    f.hold_merge_lock().await;
    let release = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while f.store.counts().await.unwrap().get(TaskStatus::Merging) < n {
            assert!(std::time::Instant::now() < deadline, "the tasks never all waited to merge");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Each boards before it says it is merging.
        f.store.unlock("merge", "test").await.unwrap();
    };
    let (report, ()) = tokio::join!(f.run(settings), release);
    report
}

/// The gate runs on a detached HEAD with tasks' work, i.e. on a train
/// (the run's first look at the branch itself sees none).
fn train_gate_runs(f: &Fixture) -> Vec<String> {
    let runs = f.read_state("gates.log");
    runs.lines().filter(|l| l.starts_with("HEAD ") && l.len() > "HEAD ".len()).map(str::to_owned).collect()
}

fn logs(f: &Fixture, tasks: &[&str]) -> String {
    tasks.iter().map(|t| f.log(t, 1)).collect()
}

/// The trains led, as their riders, in the first attempts of `tasks`.
fn trains_led(f: &Fixture, tasks: &[&str]) -> Vec<Vec<String>> {
    let records = tasks.iter().flat_map(|t| f.records(t, 1));
    records
        .filter_map(|r| match r {
            Record::Train { riders, .. } => Some(riders),
            _ => None,
        })
        .collect()
}

/// The tasks whose first attempt merged in a train of `cars`.
fn carried(f: &Fixture, tasks: &[&str], cars: usize) -> usize {
    let merged_in = |t: &str| {
        f.records(t, 1).iter().any(|r| matches!(r, Record::Merged { train: Some(ride), .. } if ride.cars == cars))
    };
    tasks.iter().filter(|t| merged_in(t)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_merges_ride_one_train_gated_once_and_a_conflicting_one_merges_alone() {
    let f = Fixture::new(&["a", "b", "c1", "c2", "d"]).await;
    let report = run_held(&f, settings(&f, "true"), 5).await;
    assert!(report.all_done(), "{report:?}");

    // One gate run on the train, seeing all four riders' work at once.
    let trains = train_gate_runs(&f);
    assert_eq!(trains.len(), 1, "{trains:?}");
    let seen: Vec<&str> = trains[0].split_whitespace().skip(1).collect();
    assert_eq!(seen.len(), 4, "{trains:?}");
    for t in ["a", "b", "d"] {
        assert!(seen.contains(&format!("{t}.txt").as_str()), "{trains:?}");
    }
    // c1 and c2 write the same line: one rode, the other merged alone
    // through a resolver round.
    let all = logs(&f, &["a", "b", "c1", "c2", "d"]);
    let led = trains_led(&f, &["a", "b", "c1", "c2", "d"]);
    assert!(led.len() == 1 && led[0].len() == 4, "{led:?}");
    assert_eq!(carried(&f, &["a", "b", "c1", "c2", "d"], 4), 4, "the leader and its three riders");
    assert!(all.contains("merging alone: it conflicts with colony/p or the train in shared.txt"), "{all}");
    assert_eq!(git(f.repo(), &["show", "colony/p:shared.txt"]), "c1\nc2\n");

    // Still one merge commit per task on the first-parent line, each task
    // once, and nothing left behind.
    let subjects = git(f.repo(), &["log", "--first-parent", "--format=%s", "main..colony/p"]);
    let mut tasks: Vec<&str> = subjects.lines().map(|s| s.split(' ').nth(2).unwrap().trim_end_matches(':')).collect();
    tasks.sort();
    assert_eq!(tasks, ["a", "b", "c1", "c2", "d"], "{subjects}");
    // The store records each task's own merge commit, a rider's as a
    // merge alone's: what the dashboard shows its diff by.
    for line in git(f.repo(), &["log", "--first-parent", "--format=%H %s", "main..colony/p"]).lines() {
        let (commit, subject) = line.split_once(' ').unwrap();
        let task = subject.split(' ').nth(2).unwrap().trim_end_matches(':');
        let recorded = f.store.merge_commits(&colony_core::TaskId::new(task).unwrap()).await.unwrap();
        assert_eq!(recorded.last().map(|(_, c)| c.as_str()), Some(commit), "{task}: {recorded:?}");
        let logged = f.records(task, 1).into_iter().find_map(|r| match r {
            Record::Merged { commit, .. } => Some(commit),
            _ => None,
        });
        assert_eq!(logged.as_deref(), Some(commit), "{task}'s log says where it merged");
    }
    assert_eq!(f.worktrees(), 1);
    assert_eq!(f.branches(), ["colony/p", "main"]);
    assert_eq!(git(f.repo(), &["status", "--porcelain", "--untracked-files=no"]), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_train_whose_gate_fails_merges_each_alone_and_the_failure_lands_on_its_task() {
    let f = Fixture::empty().await;
    f.add(&[("x", &[]), ("y", &[]), ("a", &[])], |t| t.max_attempts = Some(1)).await;
    // x and y pass alone and fail together.
    let mut settings = settings(&f, "! { [ -e out/x.txt ] && [ -e out/y.txt ]; } || { echo 'x and y clash'; exit 1; }");
    settings.workers = 3;
    let report = run_held(&f, settings, 3).await;

    assert_eq!(train_gate_runs(&f).len(), 1, "one train, gated once");
    let all = logs(&f, &["x", "y", "a"]);
    assert!(all.contains("failed on the train; each merges alone"), "{all}");
    assert_eq!(report.counts.get(TaskStatus::Done), 2, "{report:?}");
    let [(failed, reason)] = &report.failed[..] else { panic!("{report:?}") };
    assert!(["x", "y"].contains(&failed.as_str()), "{report:?}");
    assert!(reason.contains("failed on the merge with colony/p") && reason.contains("x and y clash"), "{reason}");
    let files = f.files_on("colony/p");
    assert!(files.contains(&"out/a.txt".to_owned()) && !files.contains(&format!("out/{failed}.txt")), "{files:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_trains_off_every_merge_is_gated_alone() {
    let f = Fixture::new(&["a", "b", "d"]).await;
    let mut settings = settings(&f, "true");
    settings.config.merge.train = false;
    settings.workers = 3;
    let report = run_held(&f, settings, 3).await;
    assert!(report.all_done(), "{report:?}");
    assert!(train_gate_runs(&f).is_empty());
    assert!(!logs(&f, &["a", "b", "d"]).contains("train"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rider_whose_lease_was_taken_is_not_merged_by_the_train() {
    let f = Fixture::empty().await;
    f.add(&[("a", &[]), ("b", &[]), ("d", &[])], |spec| spec.max_attempts = Some(20)).await;
    let mut settings = settings(&f, "true");
    settings.workers = 3;
    // Heartbeats would notice only after 20 s: the train must.
    settings.config.run.lease = Duration::from_secs(60);
    f.hold_merge_lock().await;
    let (report, (_, first)) = tokio::join!(f.run(settings), f.take_over_while_merging("b", 3));
    assert!(report.all_done(), "{report:?}");
    assert!(!f.merged_into(&first, "colony/p"), "b's first attempt was merged after its lease was taken");
    assert!(logs(&f, &["a", "b", "d"]).contains("b lost its lease; the train is off"));
    assert_eq!(git(f.repo(), &["rev-list", "--count", "--first-parent", "main..colony/p"]).trim(), "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_moves_on_while_its_attempt_waits_to_merge() {
    // One worker: only if it leaves each merge waiting for the lock and
    // takes the next task can all three wait at once (and ride one train).
    let f = Fixture::new(&["a", "b", "d"]).await;
    let mut settings = settings(&f, "true");
    settings.workers = 1;
    let report = run_held(&f, settings, 3).await;
    assert!(report.all_done(), "{report:?}");
    assert_eq!(trains_led(&f, &["a", "b", "d"]).first().map(Vec::len), Some(3));
    let mut workers = std::collections::BTreeSet::new();
    for t in ["a", "b", "d"] {
        workers.insert(f.store.task(t).await.unwrap().unwrap().attempts[0].worker.clone());
    }
    assert_eq!(workers.len(), 3, "each waiting merge kept its own worker slot: {workers:?}");
}
