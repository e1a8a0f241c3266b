//! One conformance suite, run against both backends: every test below is
//! instantiated for a fresh SQLite file and for a fresh database on a real
//! PostgreSQL server.

use std::sync::Arc;
use std::time::Duration;

use colony_core::config::{Followups, PlanConfig};
use colony_core::plan::Proposed;
use colony_core::ports::Ports;
use colony_core::review::{Issue, ReviewAnswer, Verdict};
use colony_core::{EventKind, Phase, Plan, PlanName, ReviewOutcome, TaskId, TaskSpec, TaskState, TaskStatus, Usage};
use colony_store::{
    AddOptions, AgentWait, AttemptStats, Claim, Decision, ManualClock, NotifyCursor, ReviewComment, SqlStore, Store,
    StoreError, Tail, TaskFilter, TaskQuery,
};

const LEASE: Duration = Duration::from_secs(30);
const T0: i64 = 1_700_000_000_000;

fn id(s: &str) -> TaskId {
    TaskId::new(s).unwrap()
}

/// A plan from `(id, deps)` pairs.
fn plan(name: &str, tasks: &[(&str, &[&str])]) -> Plan {
    Plan {
        name: PlanName::new(name).unwrap(),
        base: None,
        defaults: Default::default(),
        tasks: tasks
            .iter()
            .map(|(t, deps)| {
                let mut spec = TaskSpec::new(id(t), format!("Task {t}"), format!("Do {t}."));
                spec.deps = deps.iter().map(|d| id(d)).collect();
                spec
            })
            .collect(),
    }
}

struct Fixture<S> {
    store: S,
    clock: ManualClock,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Fixture<SqlStore> {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(T0);
    let store = SqlStore::open_sqlite(&dir.path().join("colony.db"), Arc::new(clock.clone())).await.unwrap();
    Fixture { store, clock, _dir: Some(dir) }
}

async fn postgres() -> Fixture<SqlStore> {
    let url = colony_testkit::PgServer::shared().fresh_db();
    let clock = ManualClock::at(T0);
    let store = SqlStore::open_postgres(&url, Arc::new(clock.clone())).await.unwrap();
    Fixture { store, clock, _dir: None }
}

async fn status<S: Store>(s: &S, task: &str) -> TaskState {
    s.task(task).await.unwrap().unwrap().record.task.state
}

async fn event_count<S: Store>(s: &S) -> usize {
    s.events(0, usize::MAX).await.unwrap().len()
}

/// Checks the event log folds to exactly the task table.
async fn assert_replays<S: Store>(s: &S) {
    let events = s.events(0, usize::MAX).await.unwrap();
    for pair in events.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "sequence numbers have no gaps");
    }
    let replayed = colony_core::state::replay(&events).unwrap();
    let stored = s.tasks(&TaskFilter::default()).await.unwrap();
    assert_eq!(replayed.len(), stored.len());
    for rec in stored {
        let mut from_log = replayed[&rec.task.id].clone();
        let mut from_table = rec.task.clone();
        // Heartbeats move a lease's end without an event.
        for t in [&mut from_log, &mut from_table] {
            if let TaskState::Running { lease } | TaskState::Checking { lease } | TaskState::Merging { lease } =
                &mut t.state
            {
                lease.until = 0;
            }
        }
        assert_eq!(from_log, from_table);
    }
}

async fn adds_tasks_ready_or_pending_with_events<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let report = s.add_plan(&plan("p", &[("a", &[]), ("b", &["a"])]), "p.yaml", AddOptions::default()).await.unwrap();
    assert!(report.new_plan);
    assert_eq!(report.added, vec![id("a"), id("b")]);
    assert_eq!(status(s, "a").await, TaskState::Ready { not_before: None });
    assert_eq!(status(s, "b").await, TaskState::Pending);
    let kinds: Vec<&str> = s.events(0, 100).await.unwrap().iter().map(|e| e.kind.name()).collect();
    assert_eq!(kinds, ["plan_added", "task_added", "task_added", "ready"]);
    assert_replays(s).await;
}

async fn adding_the_same_plan_twice_changes_nothing<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let p = plan("p", &[("a", &[]), ("b", &["a"])]);
    s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap();
    let before = event_count(s).await;
    let report = s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap();
    assert!(report.changed_nothing());
    assert_eq!(report.unchanged, 2);
    assert_eq!(event_count(s).await, before);
}

async fn re_adding_a_changed_waiting_task_updates_it<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let mut p = plan("p", &[("a", &[]), ("b", &["a"])]);
    s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap();
    p.tasks[1].prompt = "Do b, better.".into();
    p.tasks.push(TaskSpec::new(id("c"), "C", "Do c."));
    let report = s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap();
    assert_eq!(report.updated, vec![id("b")]);
    assert_eq!(report.added, vec![id("c")]);
    let detail = s.task("b").await.unwrap().unwrap();
    assert_eq!(detail.spec.prompt, "Do b, better.");
    assert!(matches!(detail.events.last().unwrap().kind, EventKind::TaskUpdated { forced: false, .. }));
    assert_eq!(status(s, "c").await, TaskState::Ready { not_before: None });
    assert_replays(s).await;
}

async fn changing_a_started_task_needs_force<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let mut p = plan("p", &[("a", &[]), ("b", &["a"])]);
    s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap();
    let claim = s.claim("w1", LEASE).await.unwrap().unwrap();
    p.tasks[0].prompt = "Changed.".into();
    p.tasks[1].prompt = "Changed too.".into();
    let before = event_count(s).await;
    let err = s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap_err();
    match &err {
        StoreError::StartedTasksChanged { tasks, .. } => {
            assert_eq!(tasks, &[(id("a"), TaskStatus::Running)])
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(event_count(s).await, before, "a refused add writes nothing");
    assert_eq!(s.task("b").await.unwrap().unwrap().spec.prompt, "Do b.");

    let report = s.add_plan(&p, "p.yaml", AddOptions { force: true }).await.unwrap();
    assert_eq!(report.updated, vec![id("a"), id("b")]);
    // Back in the queue under a new attempt number; the old one is fenced.
    assert_eq!(status(s, "a").await, TaskState::Ready { not_before: None });
    let lost = s.complete(&claim.task, claim.attempt).await.unwrap_err();
    assert!(matches!(lost, StoreError::LeaseLost { .. }), "{lost}");
    let again = s.claim("w2", LEASE).await.unwrap().unwrap();
    assert_eq!((again.task.as_str(), again.attempt), ("a", 2));
    let attempts = s.task("a").await.unwrap().unwrap().attempts;
    assert_eq!(attempts[0].outcome.as_deref(), Some("abandoned"));
    assert_replays(s).await;
}

async fn task_ids_are_unique_across_plans<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    let err = s.add_plan(&plan("q", &[("a", &[])]), "q.yaml", AddOptions::default()).await.unwrap_err();
    assert!(matches!(err, StoreError::IdTaken { .. }), "{err}");
    assert_eq!(s.plans().await.unwrap().len(), 1, "the refused plan was not stored");
}

async fn claims_follow_critical_path_then_priority_then_plan_order<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    // x heads a chain of three; y and z stand alone, z with a higher priority;
    // w is heavy by estimate.
    let mut p = plan("p", &[("y", &[]), ("z", &[]), ("x", &[]), ("x2", &["x"]), ("x3", &["x2"]), ("w", &[])]);
    p.tasks[1].priority = 5;
    p.tasks[5].estimated_hours = Some(10.0);
    s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap();
    let mut order = Vec::new();
    while let Some(c) = s.claim("w", LEASE).await.unwrap() {
        order.push(c.task.to_string());
    }
    assert_eq!(order, ["w", "x", "z", "y"]);
}

async fn only_tasks_whose_deps_are_done_are_claimed<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[]), ("b", &[]), ("c", &["a", "b"])]), "p.yaml", AddOptions::default())
        .await
        .unwrap();
    let a = s.claim("w", LEASE).await.unwrap().unwrap();
    let b = s.claim("w", LEASE).await.unwrap().unwrap();
    assert!(s.claim("w", LEASE).await.unwrap().is_none(), "c waits for a and b");
    s.complete(&a.task, a.attempt).await.unwrap();
    assert!(s.claim("w", LEASE).await.unwrap().is_none(), "c still waits for b");
    s.complete(&b.task, b.attempt).await.unwrap();
    let c = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(c.task.as_str(), "c");
    assert_replays(s).await;
}

async fn leases_are_fenced_by_attempt<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    let c = s.claim("w1", LEASE).await.unwrap().unwrap();
    assert_eq!((c.attempt, c.lease_until), (1, T0 + 30_000));
    assert_eq!(c.spec.prompt, "Do a.");
    f.clock.advance(10_000);
    assert_eq!(s.heartbeat(&c.task, 1, LEASE).await.unwrap(), T0 + 40_000);
    let stale = s.heartbeat(&c.task, 0, LEASE).await.unwrap_err();
    assert!(matches!(stale, StoreError::LeaseLost { attempt: 0, current: 1, .. }), "{stale}");

    s.fail(&c.task, 1, "tests failed", Duration::ZERO).await.unwrap();
    let c2 = s.claim("w2", LEASE).await.unwrap().unwrap();
    assert_eq!(c2.attempt, 2);
    let before = event_count(s).await;
    for write in [
        s.complete(&c.task, 1).await,
        s.heartbeat(&c.task, 1, LEASE).await.map(drop),
        s.fail(&c.task, 1, "late", Duration::ZERO).await.map(drop),
        s.set_phase(&c.task, 1, Phase::Merging).await,
    ] {
        assert!(matches!(write, Err(StoreError::LeaseLost { .. })), "{write:?}");
    }
    assert_eq!(event_count(s).await, before, "stale writes change nothing");
    s.set_phase(&c2.task, 2, Phase::Checking).await.unwrap();
    s.set_phase(&c2.task, 2, Phase::Merging).await.unwrap();
    s.heartbeat(&c2.task, 2, LEASE).await.unwrap();
    s.complete(&c2.task, 2).await.unwrap();
    assert_eq!(status(s, "a").await, TaskState::Done);
    assert!(matches!(s.complete(&c2.task, 2).await, Err(StoreError::LeaseLost { .. })), "done once");
    assert_replays(s).await;
}

async fn failures_back_off_then_fail_and_block_dependents<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let mut p = plan("p", &[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
    p.tasks[0].max_attempts = Some(2);
    s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap();
    let c = s.claim("w", LEASE).await.unwrap().unwrap();
    let after = s.fail(&c.task, c.attempt, "gate failed", Duration::from_secs(5)).await.unwrap();
    assert_eq!(after, TaskStatus::Ready);
    assert!(s.claim("w", LEASE).await.unwrap().is_none(), "backing off");
    f.clock.advance(5_000);
    let c = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(c.attempt, 2);
    let after = s.fail(&c.task, c.attempt, "gate failed again", Duration::from_secs(5)).await.unwrap();
    assert_eq!(after, TaskStatus::Failed);
    assert_eq!(status(s, "a").await, TaskState::Failed { reason: "gate failed again".into() });
    assert_eq!(status(s, "b").await, TaskState::Blocked { by: id("a") });
    assert_eq!(status(s, "c").await, TaskState::Blocked { by: id("a") }, "names the root cause");
    assert_replays(s).await;
}

async fn retry_unblocks_and_cancel_blocks<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let mut p = plan("p", &[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
    p.tasks[0].max_attempts = Some(1);
    s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap();
    let c = s.claim("w", LEASE).await.unwrap().unwrap();
    s.fail(&c.task, c.attempt, "boom", Duration::ZERO).await.unwrap();
    let refused = s.retry(&[id("b")]).await.unwrap_err();
    assert!(refused.to_string().contains("retry a"), "{refused}");
    s.retry(&[id("a")]).await.unwrap();
    assert_eq!(status(s, "a").await, TaskState::Ready { not_before: None });
    assert_eq!(status(s, "b").await, TaskState::Pending);
    assert_eq!(status(s, "c").await, TaskState::Pending);
    let c = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(c.attempt, 2, "attempt numbers never go back");

    s.cancel(&[id("a")]).await.unwrap();
    assert_eq!(status(s, "b").await, TaskState::Blocked { by: id("a") });
    assert!(matches!(s.complete(&c.task, 2).await, Err(StoreError::LeaseLost { .. })), "cancel revokes the lease");
    let before = event_count(s).await;
    let err = s.retry(&[id("a"), id("b")]).await.unwrap_err();
    assert!(matches!(err, StoreError::NotAllowed(_)), "{err}");
    assert_eq!(status(s, "a").await, TaskState::Cancelled, "all or nothing");
    assert_eq!(event_count(s).await, before);
    assert!(matches!(s.cancel(&[id("nope")]).await, Err(StoreError::NoSuchTask(_))));
    assert_replays(s).await;
}

async fn the_rescuer_requeues_expired_leases<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let mut p = plan("p", &[("a", &[]), ("b", &[]), ("c", &["b"])]);
    p.tasks[1].max_attempts = Some(1);
    s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap();
    // b heads the longer chain, so it goes first.
    let b = s.claim("w2", LEASE).await.unwrap().unwrap();
    let a = s.claim("w1", LEASE).await.unwrap().unwrap();
    assert_eq!((a.task.as_str(), b.task.as_str()), ("a", "b"));
    f.clock.advance(20_000);
    s.heartbeat(&a.task, a.attempt, LEASE).await.unwrap();
    assert!(s.rescue_expired().await.unwrap().is_empty(), "nothing expired yet");
    f.clock.advance(15_000);
    let rescued = s.rescue_expired().await.unwrap();
    assert_eq!(rescued.len(), 1, "a was kept alive by its heartbeat");
    assert_eq!((rescued[0].task.as_str(), rescued[0].worker.as_str(), rescued[0].now), ("b", "w2", TaskStatus::Failed));
    assert_eq!(status(s, "c").await, TaskState::Blocked { by: id("b") });
    let detail = s.task("b").await.unwrap().unwrap();
    assert!(matches!(&detail.events.last().unwrap().kind, EventKind::LeaseExpired { worker, .. } if worker == "w2"));
    assert_eq!(detail.attempts[0].outcome.as_deref(), Some("expired"));

    f.clock.advance(30_000);
    let rescued = s.rescue_expired().await.unwrap();
    assert_eq!((rescued[0].task.as_str(), rescued[0].now), ("a", TaskStatus::Ready));
    assert!(matches!(s.heartbeat(&a.task, a.attempt, LEASE).await, Err(StoreError::LeaseLost { .. })));
    assert_eq!(s.claim("w3", LEASE).await.unwrap().unwrap().attempt, 2);
    assert_replays(s).await;
}

async fn export_gives_back_the_plan<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let mut p = plan("p", &[("a", &[]), ("b", &["a"])]);
    p.base = Some("main".into());
    p.defaults.max_attempts = Some(4);
    p.tasks[1].files = vec!["src/**".into()];
    p.tasks[1].timeout = Some(Duration::from_secs(600));
    s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap();
    assert_eq!(s.export_plan("p").await.unwrap(), p);
    assert!(matches!(s.export_plan("q").await, Err(StoreError::NoSuchPlan(_))));
}

async fn counts_and_filters<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[]), ("b", &["a"]), ("c", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    let counts = s.counts().await.unwrap();
    assert_eq!((counts.total, counts.get(TaskStatus::Ready), counts.get(TaskStatus::Pending)), (3, 2, 1));
    let filter = TaskFilter { statuses: vec![TaskStatus::Pending], plan: None };
    let pending = s.tasks(&filter).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].deps, vec![id("a")]);
    assert_eq!(s.last_seq().await.unwrap(), event_count(s).await as i64);
    assert_eq!(s.events(2, 2).await.unwrap().iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
}

async fn pages_filter_search_and_count<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let mut p = plan("p", &[("alpha", &[]), ("Beta-2", &["alpha"]), ("gamma_x", &[]), ("gammax", &[]), ("pct", &[])]);
    p.tasks[3].title = "Write THE docs".into();
    p.tasks[4].title = "100% done".into();
    s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap();
    let ids_of = |page: &colony_store::TaskPage| page.tasks.iter().map(|t| t.task.id.to_string()).collect::<Vec<_>>();
    let query = |text: &str, statuses: Vec<TaskStatus>, offset, limit| TaskQuery {
        statuses,
        plan: None,
        text: Some(text.to_owned()),
        offset,
        limit,
    };

    let all = s.task_page(&query("", vec![], 0, 2)).await.unwrap();
    assert_eq!((all.total, ids_of(&all)), (5, vec!["alpha".to_owned(), "Beta-2".into()]));
    assert_eq!(all.tasks[1].deps, vec![id("alpha")], "a page carries its tasks' deps");
    let rest = s.task_page(&query("", vec![], 4, 2)).await.unwrap();
    assert_eq!((rest.total, ids_of(&rest)), (5, vec!["pct".to_owned()]));

    let beta = s.task_page(&query("bETA", vec![], 0, 10)).await.unwrap();
    assert_eq!(ids_of(&beta), ["Beta-2"], "ids match ignoring case");
    let docs = s.task_page(&query("the DOCS", vec![], 0, 10)).await.unwrap();
    assert_eq!(ids_of(&docs), ["gammax"], "titles match ignoring case");
    let underscore = s.task_page(&query("a_x", vec![], 0, 10)).await.unwrap();
    assert_eq!(ids_of(&underscore), ["gamma_x"], "`_` is a character, not a wildcard");
    let percent = s.task_page(&query("0%", vec![], 0, 10)).await.unwrap();
    assert_eq!(ids_of(&percent), ["pct"], "`%` is a character, not a wildcard");

    let pending = s.task_page(&query("", vec![TaskStatus::Pending], 0, 10)).await.unwrap();
    assert_eq!((pending.total, ids_of(&pending)), (1, vec!["Beta-2".to_owned()]));
    let both = s.task_page(&query("gamma", vec![TaskStatus::Ready, TaskStatus::Done], 1, 10)).await.unwrap();
    assert_eq!((both.total, ids_of(&both)), (2, vec!["gammax".to_owned()]));
    let other_plan = TaskQuery { plan: Some("q".into()), limit: 10, ..TaskQuery::default() };
    assert_eq!(s.task_page(&other_plan).await.unwrap().total, 0);
}

async fn running_attempts_show_phase_worker_and_start<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[]), ("b", &[]), ("c", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    assert!(s.running().await.unwrap().is_empty());
    let a = s.claim("w1", LEASE).await.unwrap().unwrap();
    f.clock.advance(1_000);
    let b = s.claim("w2", LEASE).await.unwrap().unwrap();
    s.set_phase(&a.task, a.attempt, Phase::Checking).await.unwrap();
    let running = s.running().await.unwrap();
    let seen: Vec<_> = running.iter().map(|r| (r.task.as_str(), r.status, r.worker.as_str(), r.started_at)).collect();
    assert_eq!(seen, [("a", TaskStatus::Checking, "w1", Some(T0)), ("b", TaskStatus::Running, "w2", Some(T0 + 1_000))]);
    assert_eq!((running[0].title.as_str(), running[0].attempt), ("Task a", 1));
    s.complete(&b.task, b.attempt).await.unwrap();
    assert_eq!(s.running().await.unwrap().len(), 1);
}

async fn an_agents_progress_is_its_attempts_and_fenced_like_its_writes<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    let a = s.claim("w1", LEASE).await.unwrap().unwrap();
    assert_eq!(s.running().await.unwrap()[0].progress, None);
    s.report_progress(&a.task, a.attempt, "tests written").await.unwrap();
    s.report_progress(&a.task, a.attempt, "now the docs").await.unwrap();
    assert_eq!(s.running().await.unwrap()[0].progress.as_deref(), Some("now the docs"));
    s.fail(&a.task, a.attempt, "broke", Duration::ZERO).await.unwrap();
    let err = s.report_progress(&a.task, a.attempt, "still here").await.unwrap_err();
    assert!(err.to_string().contains("attempt 1 lost its lease"), "{err}");
    f.clock.advance(1);
    let again = s.claim("w1", LEASE).await.unwrap().unwrap();
    assert_eq!(again.attempt, 2);
    assert_eq!(s.running().await.unwrap()[0].progress, None, "the last attempt's report is not this one's");
    assert_eq!(event_count(s).await, 8);
    assert_replays(s).await;
}

async fn attempt_stats_count_merged_attempts_and_their_time<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[]), ("b", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    assert_eq!(s.attempt_stats().await.unwrap(), AttemptStats::default());
    let a = s.claim("w", LEASE).await.unwrap().unwrap();
    let b = s.claim("w", LEASE).await.unwrap().unwrap();
    f.clock.advance(4_000);
    s.complete(&a.task, a.attempt).await.unwrap();
    s.fail(&b.task, b.attempt, "no", Duration::ZERO).await.unwrap();
    assert_eq!(s.attempt_stats().await.unwrap(), AttemptStats { done: 1, done_ms: 4_000 });
}

/// Adds plan `p` of `n` independent tasks, `t0` on.
async fn add_independent<S: Store>(s: &S, n: usize) {
    let tasks: Vec<(String, Vec<&str>)> = (0..n).map(|i| (format!("t{i}"), vec![])).collect();
    let refs: Vec<(&str, &[&str])> = tasks.iter().map(|(t, d)| (t.as_str(), d.as_slice())).collect();
    s.add_plan(&plan("p", &refs), "p.yaml", AddOptions::default()).await.unwrap();
}

/// Eight workers at once, each claiming until nothing is ready and doing
/// `with` to each claim: what they all gave back.
async fn eight_claimers<S, T, F, Fut>(s: &Arc<S>, with: F) -> Vec<T>
where
    S: Store + 'static,
    T: Send + 'static,
    F: Fn(Arc<S>, Claim) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = T> + Send,
{
    let mut workers = Vec::new();
    for w in 0..8 {
        let (s, with) = (s.clone(), with.clone());
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(c) = s.claim(&format!("w{w}"), LEASE).await.unwrap() {
                mine.push(with(s.clone(), c).await);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    all
}

async fn concurrent_claimers_never_share_a_task<S: Store + 'static>(f: Fixture<S>) {
    let s = Arc::new(f.store);
    add_independent(&*s, 200).await;
    let mut all = eight_claimers(&s, |s: Arc<S>, c: Claim| async move {
        s.complete(&c.task, c.attempt).await.unwrap();
        c.task
    })
    .await;
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 200, "each task claimed exactly once");
    assert_eq!(s.counts().await.unwrap().get(TaskStatus::Done), 200);
    assert_replays(&*s).await;
}

async fn a_refused_write_leaves_no_row_locked<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let mut p = plan("p", &[("a", &[])]);
    p.tasks[0].max_attempts = Some(1000);
    s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap();
    for round in 1..=150 {
        let c = s.claim("w", LEASE).await.unwrap().unwrap_or_else(|| panic!("round {round}: a is ready"));
        s.fail(&c.task, c.attempt, "again", Duration::ZERO).await.unwrap();
        // Loads the row for update, then is refused: its lock must be gone
        // before the next claim looks, or SKIP LOCKED passes over the task.
        let stale = s.complete(&c.task, c.attempt).await;
        assert!(matches!(stale, Err(StoreError::LeaseLost { .. })), "{stale:?}");
    }
}

async fn a_plan_larger_than_one_insert_adds_whole<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    // 7,001 events of five values each: more than SQLite takes in one statement.
    let ids: Vec<String> = (0..3_500).map(|i| format!("t{i}")).collect();
    let tasks: Vec<(&str, &[&str])> = ids.iter().map(|t| (t.as_str(), &[][..])).collect();
    s.add_plan(&plan("big", &tasks), "big.yaml", AddOptions::default()).await.unwrap();
    // 1 plan_added + 3,500 task_added + 3,500 ready, numbered without a gap.
    assert_eq!(event_count(s).await, 7_001);
    assert_eq!(s.counts().await.unwrap().get(TaskStatus::Ready), 3_500);
    assert_replays(s).await;
}

async fn tasks_whose_files_overlap_never_run_together<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let mut p = plan("p", &[("db", &[]), ("db2", &[]), ("api", &[]), ("docs", &[])]);
    p.tasks[0].files = vec!["src/db/**".into()];
    p.tasks[1].files = vec!["src/db/schema.rs".into()];
    p.tasks[2].files = vec!["src/api/**".into()];
    s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap();
    let first = s.claim("w1", LEASE).await.unwrap().unwrap();
    assert_eq!(first.task.as_str(), "db");
    let mut rest = Vec::new();
    while let Some(c) = s.claim("w", LEASE).await.unwrap() {
        rest.push(c.task.to_string());
    }
    assert_eq!(rest, ["api", "docs"], "db2 waits while db runs");
    s.complete(&first.task, first.attempt).await.unwrap();
    assert_eq!(s.claim("w", LEASE).await.unwrap().unwrap().task.as_str(), "db2");
}

async fn a_release_gives_the_task_back_without_using_a_try<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let mut p = plan("p", &[("a", &[])]);
    p.tasks[0].max_attempts = Some(1);
    s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap();
    let c = s.claim("w", LEASE).await.unwrap().unwrap();
    s.release(&c.task, c.attempt, "colony is stopping").await.unwrap();
    let detail = s.task("a").await.unwrap().unwrap();
    assert_eq!(detail.record.task.state, TaskState::Ready { not_before: None });
    assert_eq!(detail.record.task.tries, 0);
    assert_eq!(detail.attempts[0].outcome.as_deref(), Some("released"));
    let c2 = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(c2.attempt, 2);
    assert!(matches!(s.release(&c.task, 1, "late").await, Err(StoreError::LeaseLost { .. })));
    assert_replays(s).await;
}

async fn processes_are_recorded_and_dead_workers_expired_at_once<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[]), ("b", &["a"])]), "p.yaml", AddOptions::default()).await.unwrap();
    let c = s.claim("host:123:0", LEASE).await.unwrap().unwrap();
    s.record_process(&c.task, c.attempt, 4242, "boot-1").await.unwrap();
    let live = s.live_attempts().await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(
        (live[0].worker.as_str(), live[0].pgid, live[0].boot_id.as_deref()),
        ("host:123:0", Some(4242), Some("boot-1"))
    );
    let rescued = s.expire(&c.task, c.attempt).await.unwrap();
    assert_eq!(rescued.now, TaskStatus::Ready);
    assert!(s.live_attempts().await.unwrap().is_empty());
    assert!(matches!(s.expire(&c.task, c.attempt).await, Err(StoreError::LeaseLost { .. })));
    assert_replays(s).await;
}

async fn a_kill_takes_the_lease_counts_a_try_and_refuses_all_or_nothing<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[]), ("b", &["a"]), ("c", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    let c = s.claim("host:1:0", LEASE).await.unwrap().unwrap();
    let before = event_count(s).await;
    let refused = s.kill(&[c.task.clone(), id("b")]).await;
    assert!(matches!(&refused, Err(StoreError::NotAllowed(why)) if why.contains("task b is pending")), "{refused:?}");
    assert!(matches!(s.kill(&[id("zz")]).await, Err(StoreError::NoSuchTask(_))));
    assert_eq!(event_count(s).await, before, "a refused kill writes nothing");
    let killed = s.kill(std::slice::from_ref(&c.task)).await.unwrap();
    assert_eq!((killed.len(), killed[0].attempt, killed[0].now), (1, c.attempt, TaskStatus::Ready));
    assert!(matches!(s.heartbeat(&c.task, c.attempt, LEASE).await, Err(StoreError::LeaseLost { .. })));
    let detail = s.task(c.task.as_str()).await.unwrap().unwrap();
    let attempt = &detail.attempts[0];
    assert_eq!((attempt.outcome.as_deref(), attempt.reason.as_deref()), (Some("killed"), Some("killed by a person")));
    assert_eq!(detail.record.task.tries, 1, "a kill counts as a try");
    assert!(matches!(&detail.events.last().unwrap().kind, EventKind::Killed { worker, .. } if worker == "host:1:0"));
    let again = s.claim("host:1:0", LEASE).await.unwrap().unwrap();
    s.record_session(&again.task, again.attempt, "sess-2").await.unwrap();
    let detail = s.task(again.task.as_str()).await.unwrap().unwrap();
    assert_eq!((detail.attempts[0].session.as_deref(), detail.attempts[1].session.as_deref()), (None, Some("sess-2")));
    assert_replays(s).await;
}

async fn named_locks_have_one_holder_until_released_or_expired<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    assert!(s.try_lock("merge", "w1", LEASE).await.unwrap());
    assert!(!s.try_lock("merge", "w2", LEASE).await.unwrap(), "held by w1");
    assert!(s.try_lock("merge", "w1", LEASE).await.unwrap(), "w1 renews");
    assert!(s.try_lock("other", "w2", LEASE).await.unwrap(), "locks are by name");
    s.unlock("merge", "w2").await.unwrap();
    assert!(!s.try_lock("merge", "w2", LEASE).await.unwrap(), "only the holder unlocks");
    s.unlock("merge", "w1").await.unwrap();
    assert!(s.try_lock("merge", "w2", LEASE).await.unwrap());
    f.clock.advance(31_000);
    assert!(s.try_lock("merge", "w3", LEASE).await.unwrap(), "an expired lock is taken over");
}

async fn a_merge_is_fenced_by_the_lock_and_the_lease_and_its_commit_kept<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    let c = s.claim("w1", LEASE).await.unwrap().unwrap();
    let commit = "f1f8ddb024383e914514ae2193b30b95ea0e5938";
    let lost = s.fence_merge(&c.task, 1, LEASE, ("merge", "w1/a-a1"), commit).await.unwrap_err();
    assert!(matches!(lost, StoreError::LockLost { .. }), "no lock taken yet: {lost}");
    assert!(s.try_lock("merge", "w1/a-a1", LEASE).await.unwrap());
    f.clock.advance(20_000);
    s.fence_merge(&c.task, 1, LEASE, ("merge", "w1/a-a1"), commit).await.unwrap();
    assert_eq!(s.merge_commits(&c.task).await.unwrap(), [(1, commit.to_owned())]);
    f.clock.advance(20_000);
    assert_eq!(status(s, "a").await.lease().map(|l| l.until), Some(T0 + 50_000), "the lease was extended");
    let lapsed = s.fence_merge(&c.task, 1, LEASE, ("merge", "w1/a-a1"), commit).await.unwrap_err();
    assert!(matches!(lapsed, StoreError::LockLost { .. }), "the lock's ttl ran out: {lapsed}");

    // The lease ran out: the rescuer hands the task on, and the old attempt
    // cannot publish even holding the lock.
    f.clock.advance(20_000);
    s.rescue_expired().await.unwrap();
    let c2 = s.claim("w2", LEASE).await.unwrap().unwrap();
    assert!(s.try_lock("merge", "w1/a-a1", LEASE).await.unwrap());
    let stale = s.fence_merge(&c.task, 1, LEASE, ("merge", "w1/a-a1"), "0".repeat(40).as_str()).await.unwrap_err();
    assert!(matches!(stale, StoreError::LeaseLost { attempt: 1, current: 2, .. }), "{stale}");
    assert_eq!(s.merge_commits(&c2.task).await.unwrap(), [(1, commit.to_owned())], "a fenced write changes nothing");
    s.unlock("merge", "w1/a-a1").await.unwrap();
    assert!(s.try_lock("merge", "w2/a-a2", LEASE).await.unwrap());
    s.fence_merge(&c2.task, 2, LEASE, ("merge", "w2/a-a2"), commit).await.unwrap();
    assert_eq!(s.merge_commits(&c2.task).await.unwrap(), [(1, commit.to_owned()), (2, commit.to_owned())]);
    assert_replays(s).await;
}

async fn usage_adds_up_per_attempt_and_in_all<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[]), ("b", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    let a = s.claim("w", LEASE).await.unwrap().unwrap();
    let b = s.claim("w", LEASE).await.unwrap().unwrap();
    let round = Usage { input: 1000, output: 50, cached: 400, cost_usd: None };
    s.record_usage(&a.task, a.attempt, round).await.unwrap();
    s.record_usage(&a.task, a.attempt, Usage { cost_usd: Some(0.25), ..round }).await.unwrap();
    let detail = s.task(a.task.as_str()).await.unwrap().unwrap();
    assert_eq!(detail.attempts[0].usage, Usage { input: 2000, output: 100, cached: 800, cost_usd: Some(0.25) });
    assert_eq!(s.spend().await.unwrap().cost_usd, Some(0.25));

    s.fail(&b.task, b.attempt, "broke", Duration::ZERO).await.unwrap();
    let late = Usage { input: 10, output: 1, cached: 0, cost_usd: None };
    s.record_usage(&b.task, b.attempt, late).await.unwrap();
    let b_usage = s.task(b.task.as_str()).await.unwrap().unwrap().attempts[0].usage;
    assert_eq!(b_usage, late, "a failed attempt's spend is kept, its unknown cost stays unknown");
    assert!(
        matches!(s.record_usage(&b.task, b.attempt + 1, late).await, Err(StoreError::NotAllowed(_))),
        "no attempt 2 has started"
    );
    let total = s.spend().await.unwrap();
    assert_eq!(total, Usage { input: 2010, output: 101, cached: 800, cost_usd: Some(0.25) });
    assert_replays(s).await;
}

async fn a_persons_decision_waits_in_the_store_for_the_next_claim<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let mut p = plan("p", &[("a", &[]), ("b", &["a"]), ("c", &[])]);
    p.tasks[0].max_attempts = Some(2);
    s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap();
    let a = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(a.decision, None);
    assert!(
        matches!(s.decide(&a.task, None).await, Err(StoreError::NotAllowed(m)) if m.contains("not awaiting approval"))
    );
    s.set_phase(&a.task, a.attempt, Phase::Checking).await.unwrap();
    s.request_approval(&a.task, a.attempt).await.unwrap();
    let detail = s.task("a").await.unwrap().unwrap();
    assert_eq!(detail.record.task.state, TaskState::AwaitingApproval);
    assert_eq!(detail.attempts[0].outcome.as_deref(), Some("awaiting_approval"));
    assert!(
        matches!(s.heartbeat(&a.task, a.attempt, LEASE).await, Err(StoreError::LeaseLost { .. })),
        "no lease while waiting"
    );
    assert_eq!(status(s, "b").await, TaskState::Pending, "dependents wait for the merge");

    s.decide(&a.task, Some("name the table users, not user")).await.unwrap();
    let c = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(c.task.as_str(), "a", "the decided task goes first on its critical path");
    assert_eq!(c.attempt, 2);
    assert_eq!(c.tries, 1, "a person's decision costs no try");
    assert_eq!(
        c.decision,
        Some(Decision { attempt: 1, feedback: Some("name the table users, not user".into()), question: None })
    );
    s.set_phase(&c.task, c.attempt, Phase::Checking).await.unwrap();
    s.request_approval(&c.task, c.attempt).await.unwrap();
    s.decide(&c.task, None).await.unwrap();
    let d = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!((d.attempt, d.decision.clone()), (3, Some(Decision { attempt: 2, feedback: None, question: None })));
    s.release(&d.task, d.attempt, "stopping").await.unwrap();
    let e = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(
        (e.task.as_str(), e.attempt, e.decision.clone()),
        ("a", 4, Some(Decision { attempt: 2, feedback: None, question: None })),
        "an attempt given back leaves the decision to the next"
    );
    s.expire(&e.task, e.attempt).await.unwrap();
    let f2 = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(
        f2.decision,
        Some(Decision { attempt: 2, feedback: None, question: None }),
        "so does a worker that died"
    );
    s.fail(&f2.task, f2.attempt, "the merge failed its gates", Duration::ZERO).await.unwrap();
    s.retry(std::slice::from_ref(&f2.task)).await.unwrap();
    let g = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!((g.task.as_str(), g.decision.clone()), ("a", None), "a decision is carried out once");

    let kinds: Vec<&str> = s.task("a").await.unwrap().unwrap().events.iter().map(|e| e.kind.name()).collect();
    assert!(kinds.contains(&"approved") && kinds.contains(&"rejected"), "{kinds:?}");
    assert_replays(s).await;
}

async fn an_agents_question_waits_for_its_answer_or_fails_the_task_in_time<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[]), ("b", &["a"]), ("c", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    let a = s.claim_where("w", LEASE, &|_, spec| spec.id.as_str() == "a").await.unwrap().unwrap();
    assert!(
        matches!(s.answer(&a.task, "users").await, Err(StoreError::NotAllowed(m)) if m.contains("not awaiting input"))
    );
    s.request_input(&a.task, a.attempt, "Which table?\nusers or accounts", Duration::from_secs(60)).await.unwrap();
    let asking = TaskState::AwaitingInput { question: "Which table?\nusers or accounts".into(), until: T0 + 60_000 };
    assert_eq!(status(s, "a").await, asking);
    let detail = s.task("a").await.unwrap().unwrap();
    assert_eq!(detail.attempts[0].outcome.as_deref(), Some("awaiting_input"));
    assert!(matches!(s.heartbeat(&a.task, a.attempt, LEASE).await, Err(StoreError::LeaseLost { .. })));
    assert_eq!(s.counts().await.unwrap().get(TaskStatus::AwaitingInput), 1);
    assert_eq!(status(s, "b").await, TaskState::Pending, "dependents wait for the work");
    f.clock.advance(59_000);
    s.rescue_expired().await.unwrap();
    assert_eq!(status(s, "a").await, asking, "still in time");

    s.answer(&a.task, "users").await.unwrap();
    assert!(matches!(s.answer(&a.task, "again").await, Err(StoreError::NotAllowed(_))), "answered once");
    let again = s.claim_where("w", LEASE, &|_, spec| spec.id.as_str() == "a").await.unwrap().unwrap();
    assert_eq!((again.attempt, again.tries), (2, 1), "an answer costs no try");
    let answered = Decision {
        attempt: 1,
        feedback: Some("users".into()),
        question: Some("Which table?\nusers or accounts".into()),
    };
    assert_eq!(again.decision, Some(answered));

    // Asked again, and nobody answers this time.
    s.set_phase(&again.task, again.attempt, Phase::Checking).await.unwrap();
    s.request_input(&again.task, again.attempt, "And the index?", Duration::from_secs(60)).await.unwrap();
    f.clock.advance(60_001);
    s.rescue_expired().await.unwrap();
    let reason = colony_core::event::unanswered("And the index?");
    assert_eq!(status(s, "a").await, TaskState::Failed { reason: reason.clone() });
    assert_eq!(status(s, "b").await, TaskState::Blocked { by: id("a") });
    let detail = s.task("a").await.unwrap().unwrap();
    assert_eq!(detail.attempts[1].outcome.as_deref(), Some("awaiting_input"), "the attempt ended when it asked");
    s.retry(std::slice::from_ref(&again.task)).await.unwrap();
    let third = s.claim_where("w", LEASE, &|_, spec| spec.id.as_str() == "a").await.unwrap().unwrap();
    assert_eq!(third.decision, None, "the answered question was carried out, the unanswered one is forgotten");
    assert_replays(s).await;
}

async fn an_approved_task_cancelled_before_its_merge_forgets_the_decision<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    let a = s.claim("w", LEASE).await.unwrap().unwrap();
    s.set_phase(&a.task, a.attempt, Phase::Checking).await.unwrap();
    s.request_approval(&a.task, a.attempt).await.unwrap();
    s.decide(&a.task, None).await.unwrap();
    s.cancel(std::slice::from_ref(&a.task)).await.unwrap();
    s.retry(std::slice::from_ref(&a.task)).await.unwrap();
    let again = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(again.decision, None);
    assert_replays(s).await;
}

async fn a_failed_task_is_replaced_and_its_dependents_wait_for_the_new_tasks<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let mut p = plan("p", &[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
    p.tasks[0].max_attempts = Some(1);
    s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap();
    let a = s.claim("w", LEASE).await.unwrap().unwrap();
    let replaced = plan("p", &[("b", &["a2"]), ("c", &["b"]), ("a1", &[]), ("a2", &["a1"])]);
    let refused = s.replace_task(&replaced, "p.yaml", &id("a")).await;
    assert!(
        matches!(refused, Err(StoreError::NotAllowed(m)) if m.contains("task a is running; only a failed or blocked"))
    );
    s.fail(&a.task, a.attempt, "too big", Duration::ZERO).await.unwrap();
    assert!(matches!(status(s, "c").await, TaskState::Blocked { .. }));

    let report = s.replace_task(&replaced, "p.yaml", &id("a")).await.unwrap();
    assert_eq!((report.added.clone(), report.updated.clone()), (vec![id("a1"), id("a2")], vec![id("b")]));
    assert_eq!(status(s, "a").await, TaskState::Replaced);
    let last = s.task("a").await.unwrap().unwrap().events.last().unwrap().kind.summary();
    assert_eq!(last, "replaced by a1, a2");
    assert_eq!(status(s, "a1").await, TaskState::Ready { not_before: None });
    assert_eq!((status(s, "b").await, status(s, "c").await), (TaskState::Pending, TaskState::Pending));
    let again = s.replace_task(&replaced, "p.yaml", &id("a")).await;
    assert!(matches!(again, Err(StoreError::NotAllowed(_))), "a task is replaced once");
    assert!(
        s.cancel(std::slice::from_ref(&id("a"))).await.is_err()
            && s.retry(std::slice::from_ref(&id("a"))).await.is_err()
    );
    assert_replays(s).await;
}

async fn reviews_are_kept_round_by_round<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    let a = s.claim("w", LEASE).await.unwrap().unwrap();
    let answer = ReviewAnswer {
        verdict: Verdict::NeedsChanges,
        issues: vec![Issue { file: Some("src/a.rs".into()), line: Some(4), severity: None, message: "no test".into() }],
        summary: None,
    };
    let spent = Usage { input: 900, output: 40, cached: 0, cost_usd: Some(0.01) };
    s.record_review(&a.task, a.attempt, 1, "codex", ReviewOutcome::Answered { answer: answer.clone() }, spent)
        .await
        .unwrap();
    let no_verdict = ReviewOutcome::NoVerdict { reason: "the reviewer gave no verdict".into() };
    s.record_review(&a.task, a.attempt, 2, "gemini", no_verdict.clone(), Usage::default()).await.unwrap();
    let reviews: Vec<EventKind> = s
        .task("a")
        .await
        .unwrap()
        .unwrap()
        .events
        .into_iter()
        .filter(|e| e.kind.name() == "review_recorded")
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        reviews,
        [
            EventKind::ReviewRecorded {
                attempt: 1,
                round: 1,
                reviewer: "codex".into(),
                outcome: ReviewOutcome::Answered { answer },
                spent
            },
            EventKind::ReviewRecorded {
                attempt: 1,
                round: 2,
                reviewer: "gemini".into(),
                outcome: no_verdict,
                spent: Usage::default()
            },
        ]
    );
    assert_replays(s).await;
}

async fn agent_waits_are_kept_and_claims_pass_over_their_tasks<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let mut p = plan("p", &[("a", &[]), ("b", &[]), ("c", &[])]);
    p.tasks[0].agent = Some("claude".into());
    p.tasks[1].agent = Some("codex".into());
    s.add_plan(&p, "p.yaml", AddOptions::default()).await.unwrap();
    let not_claude = |_: &PlanName, spec: &TaskSpec| spec.agent.as_deref() != Some("claude");
    let first = s.claim_where("w", LEASE, &not_claude).await.unwrap().unwrap();
    assert_eq!(first.task.as_str(), "b", "a is passed over though it comes first");
    let wait = AgentWait { agent: "claude".into(), reason: "limit".into(), since: T0, ends_at: Some(T0 + 60_000) };
    s.agent_waiting(&first.task, first.attempt, &wait).await.unwrap();
    let shorter = AgentWait { ends_at: Some(T0 + 1_000), reason: "again".into(), ..wait.clone() };
    s.agent_waiting(&first.task, first.attempt, &shorter).await.unwrap();
    assert_eq!(s.agent_waits().await.unwrap()[0].ends_at, Some(T0 + 60_000), "the later end is kept");
    let events = s.task("b").await.unwrap().unwrap().events;
    assert!(
        events.iter().any(
            |e| matches!(&e.kind, EventKind::AgentWaiting { agent, wait_ms: Some(60_000), .. } if agent == "claude")
        )
    );
    f.clock.advance(61_000);
    assert!(s.agent_waits().await.unwrap().is_empty(), "a rate limit's wait ends by itself");

    let person = AgentWait { agent: "codex".into(), reason: "log in".into(), since: T0, ends_at: None };
    s.agent_waiting(&first.task, first.attempt, &person).await.unwrap();
    s.agent_waiting(&first.task, first.attempt, &AgentWait { ends_at: Some(T0 + 90_000_000), ..person.clone() })
        .await
        .unwrap();
    assert_eq!(s.agent_waits().await.unwrap()[0].ends_at, None, "a rate limit does not lift a wait for a person");
    s.agent_through("codex").await.unwrap();
    assert_eq!(s.agent_waits().await.unwrap().len(), 1, "a round that went through ends only a timed wait");
    s.clear_person_waits().await.unwrap();
    assert!(s.agent_waits().await.unwrap().is_empty());

    s.record_agent_version(&first.task, first.attempt, "2.1.90").await.unwrap();
    s.record_usage(&first.task, first.attempt, Usage { cost_usd: Some(0.5), ..Usage::default() }).await.unwrap();
    assert_eq!(s.task("b").await.unwrap().unwrap().attempts[0].agent_version.as_deref(), Some("2.1.90"));
    assert_eq!(s.plan_spend("p").await.unwrap().cost_usd, Some(0.5));
    assert_eq!(s.plan_spend("q").await.unwrap().cost_usd, None);
    assert_replays(s).await;
}

/// Store calls cancelled at every moment (an aborted heartbeat, a stop):
/// none leaves a connection that the pool hands out in doubt.
async fn writes_cancelled_midway_leave_no_connection_in_doubt<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[]), ("b", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    let a = s.claim("w", LEASE).await.unwrap().unwrap();
    // Each call is dropped a little later than the one before: at its
    // begin, its statements, its commit, or not at all. (Timers tick in
    // milliseconds, too coarse: the cancel yields until its moment.)
    for step in 0..400u32 {
        let cancel = async {
            let at = std::time::Instant::now() + Duration::from_micros(u64::from(step) * 25);
            while std::time::Instant::now() < at {
                tokio::task::yield_now().await;
            }
        };
        tokio::select! {
            biased;
            _ = s.heartbeat(&a.task, a.attempt, LEASE) => {}
            () = cancel => {}
        }
    }
    for _ in 0..20 {
        s.heartbeat(&a.task, a.attempt, LEASE).await.unwrap();
    }
    let b = s.claim("w", LEASE).await.unwrap().unwrap();
    s.complete(&b.task, b.attempt).await.unwrap();
    s.complete(&a.task, a.attempt).await.unwrap();
    assert_replays(s).await;
}

/// A tail started at the end of the log yields every event written after
/// it, in order and once, across batch boundaries, while a writer adds
/// them.
async fn a_tail_yields_each_later_event_once_in_order(f: Fixture<SqlStore>) {
    let s = &f.store;
    s.add_plan(&plan("first", &[("f1", &[])]), "first.yaml", AddOptions::default()).await.unwrap();
    let start = s.last_seq().await.unwrap();
    let mut tail = Tail::new(s, start, 3, Duration::from_millis(10)).listening().await;
    let writer = tokio::spawn({
        let s = s.clone();
        async move {
            let tasks: Vec<(String, &[&str])> = (0..5).map(|i| (format!("w{i}"), &[][..])).collect();
            let tasks: Vec<(&str, &[&str])> = tasks.iter().map(|(t, d)| (t.as_str(), *d)).collect();
            s.add_plan(&plan("later", &tasks), "later.yaml", AddOptions::default()).await.unwrap();
            while let Some(claim) = s.claim("w", LEASE).await.unwrap() {
                s.complete(&claim.task, claim.attempt).await.unwrap();
            }
            s.last_seq().await.unwrap()
        }
    });
    let mut writer = writer;
    let (mut seen, mut end) = (Vec::new(), None);
    let reading = async {
        while end.is_none_or(|end| tail.since() < end) {
            tokio::select! {
                batch = tail.next() => {
                    let batch = batch.unwrap();
                    assert!(batch.len() <= 3, "a batch is bounded");
                    seen.extend(batch.iter().map(|e| e.seq));
                }
                last = &mut writer, if end.is_none() => end = Some(last.unwrap()),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), reading).await.expect("the tail reaches the writer's last event");
    let expected: Vec<i64> = s.events(start, usize::MAX).await.unwrap().iter().map(|e| e.seq).collect();
    assert!(expected.len() > 3 * 4, "the writer wrote several batches' worth: {expected:?}");
    assert_eq!(seen, expected, "every later event once, in order");
    assert!(tail.read().await.unwrap().is_empty(), "nothing more");
}

fn followups(text: &str, mode: Followups) -> Proposed {
    let config = PlanConfig { followups: mode, ..PlanConfig::default() };
    Proposed::new(text.to_owned(), &config, "colony/{plan}")
}

async fn follow_ups_join_the_plan_when_the_work_that_proposed_them_merges<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[]), ("z", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    let a = s.claim("w", LEASE).await.unwrap().unwrap();
    let text = "- id: docs\n  prompt: Document.\n  deps: [a]\n- id: index\n  prompt: Index.\n  deps: [docs]\n- id: z\n  prompt: Taken.\n";
    let judged = s.record_followups(&a.task, a.attempt, &followups(text, Followups::Approve)).await.unwrap();
    assert_eq!(judged.added, [id("docs"), id("index")]);
    assert!(judged.dropped[0].starts_with("`z`: plan p has a task with this id already"), "{:?}", judged.dropped);
    let stale = s.record_followups(&a.task, a.attempt + 1, &followups(text, Followups::Approve)).await;
    assert!(matches!(stale, Err(StoreError::LeaseLost { .. })), "{stale:?}");
    assert_eq!(s.tasks(&TaskFilter::default()).await.unwrap().len(), 2, "nothing is added before the merge");

    // The person approves attempt 1's work; attempt 2 merges it, and the
    // follow-ups of the work that merged join the plan.
    s.set_phase(&a.task, a.attempt, Phase::Checking).await.unwrap();
    s.request_approval(&a.task, a.attempt).await.unwrap();
    s.decide(&a.task, None).await.unwrap();
    let merging = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(merging.attempt, 2);
    s.complete(&merging.task, merging.attempt).await.unwrap();
    assert_eq!((status(s, "docs").await, status(s, "index").await), (TaskState::Proposed, TaskState::Proposed));
    let detail = s.task("docs").await.unwrap().unwrap();
    assert_eq!(detail.events[0].kind.summary(), "proposed by a (attempt 1): Document.; it waits for `colony approve`");
    let last = s.task("a").await.unwrap().unwrap().events.last().unwrap().kind.summary();
    assert!(last.starts_with("attempt 1: follow-ups not added: `z`:"), "{last}");

    s.decide(&id("docs"), None).await.unwrap();
    assert_eq!(status(s, "docs").await, TaskState::Ready { not_before: None }, "its dependency is done");
    s.decide(&id("docs"), None).await.expect_err("decided once");
    s.decide(&id("index"), Some("not now")).await.unwrap();
    assert_eq!(status(s, "index").await, TaskState::Dropped);
    let counts = s.counts().await.unwrap();
    assert_eq!((counts.total, counts.finished()), (4, 2), "a done, index dropped");
    assert_replays(s).await;
}

async fn dropping_a_proposal_drops_the_proposals_that_depend_on_it<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    let a = s.claim("w", LEASE).await.unwrap().unwrap();
    let text = "- id: x\n  prompt: X.\n- id: x2\n  prompt: Y.\n  deps: [x]\n- id: x3\n  prompt: W.\n  deps: [x, x2]\n";
    let judged = s.record_followups(&a.task, a.attempt, &followups(text, Followups::Approve)).await.unwrap();
    assert_eq!(judged.added.len(), 3, "{judged:?}");
    s.complete(&a.task, a.attempt).await.unwrap();
    s.decide(&id("x"), Some("out of scope")).await.unwrap();
    for t in ["x", "x2", "x3"] {
        assert_eq!(status(s, t).await, TaskState::Dropped, "{t}");
    }
    let why = s.task("x3").await.unwrap().unwrap().events.last().unwrap().kind.summary();
    assert!(why.starts_with("dropped: it depends on "), "{why}");
    assert_replays(s).await;
}

async fn follow_ups_in_auto_mode_run_at_once<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    let a = s.claim("w", LEASE).await.unwrap().unwrap();
    let text = "- id: next\n  prompt: Next.\n  deps: [a]\n";
    s.record_followups(&a.task, a.attempt, &followups(text, Followups::Auto)).await.unwrap();
    s.complete(&a.task, a.attempt).await.unwrap();
    assert_eq!(status(s, "next").await, TaskState::Ready { not_before: None });
    let next = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(next.task.as_str(), "next");
    // A follow-up's own proposals are a level deeper: at the default depth
    // of 2 it may propose once more, and that one may not.
    s.record_followups(&next.task, next.attempt, &followups("- id: deeper\n  prompt: D.\n", Followups::Auto))
        .await
        .unwrap();
    s.complete(&next.task, next.attempt).await.unwrap();
    let deeper = s.claim("w", LEASE).await.unwrap().unwrap();
    let judged = s
        .record_followups(&deeper.task, deeper.attempt, &followups("- id: deepest\n  prompt: D.\n", Followups::Auto))
        .await
        .unwrap();
    assert!(judged.added.is_empty() && judged.dropped[0].contains("followup_depth is 2"), "{judged:?}");
    assert_replays(s).await;
}

async fn runs_are_recorded_seen_and_taken_out<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let entry = colony_store::RunEntry {
        id: String::new(),
        host: "vm".into(),
        pid: 42,
        boot_id: Some("b".into()),
        started_at: 0,
        seen_at: 0,
        detached: true,
        dashboard: Some("http://127.0.0.1:7777".into()),
    };
    let run = s.register_run(entry.clone()).await.unwrap();
    assert_eq!((run.id.as_str(), run.started_at, run.seen_at), (format!("vm:42:{T0}").as_str(), T0, T0));
    f.clock.advance(5000);
    let other =
        s.register_run(colony_store::RunEntry { pid: 43, detached: false, dashboard: None, ..entry }).await.unwrap();
    s.touch_run(&run.id).await.unwrap();
    let runs = s.runs().await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        (runs[0].seen_at, runs[0].detached, runs[0].dashboard.as_deref()),
        (T0 + 5000, true, Some("http://127.0.0.1:7777"))
    );
    assert_eq!((runs[1].pid, runs[1].detached, runs[1].dashboard.clone()), (43, false, None));
    s.end_run(&run.id).await.unwrap();
    assert_eq!(s.runs().await.unwrap(), [other]);
}

async fn notify_cursors_move_only_under_the_notify_lock<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    assert_eq!(s.notify_cursors().await.unwrap(), []);
    let cursor = |seq, failing: Option<&str>| NotifyCursor {
        sink: "webhook".into(),
        seq,
        failing: failing.map(str::to_owned),
        failing_since: failing.map(|_| T0),
    };
    let err = s.advance_notify(&cursor(3, None), ("notify", "run-1")).await.unwrap_err();
    assert!(matches!(err, StoreError::LockLost { .. }), "no holder: {err}");
    assert!(s.try_lock("notify", "run-1", LEASE).await.unwrap());
    s.advance_notify(&cursor(3, None), ("notify", "run-1")).await.unwrap();
    s.advance_notify(&cursor(7, Some("HTTP 503")), ("notify", "run-1")).await.unwrap();
    let command = NotifyCursor { sink: "command".into(), ..cursor(9, None) };
    s.advance_notify(&command, ("notify", "run-1")).await.unwrap();
    assert_eq!(s.notify_cursors().await.unwrap(), [command.clone(), cursor(7, Some("HTTP 503"))], "by sink");
    let err = s.advance_notify(&cursor(8, None), ("notify", "run-2")).await.unwrap_err();
    assert!(matches!(err, StoreError::LockLost { .. }), "another holder: {err}");
    f.clock.advance(31_000);
    let err = s.advance_notify(&cursor(8, None), ("notify", "run-1")).await.unwrap_err();
    assert!(matches!(err, StoreError::LockLost { .. }), "an expired lock fences too: {err}");
    assert_eq!(s.notify_cursors().await.unwrap()[1], cursor(7, Some("HTTP 503")), "unchanged");
}

async fn a_runs_end_and_a_halt_are_global_events<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let before = s.last_seq().await.unwrap();
    s.work_halted("the budget of $5.00 is spent").await.unwrap();
    s.run_finished("all 3 tasks done in 2m", &["/r/night.html".to_owned()]).await.unwrap();
    let events = s.events(before, 10).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| (e.task.clone(), e.kind.clone())).collect();
    assert_eq!(
        kinds,
        [
            (None, EventKind::WorkHalted { reason: "the budget of $5.00 is spent".into() }),
            (
                None,
                EventKind::RunFinished {
                    summary: "all 3 tasks done in 2m".into(),
                    reports: vec!["/r/night.html".into()]
                }
            ),
        ]
    );
    assert_replays(s).await;
}

async fn review_comments_are_kept_and_answered_once<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let comment = |task: &str, id: &str| ReviewComment {
        plan: "pr-4-fixes".into(),
        task: task.into(),
        forge: "github".into(),
        pull: 4,
        head: "colony/night".into(),
        comment: id.into(),
        replied: None,
    };
    s.add_review_comments(&[comment("fix-101", "101"), comment("fix-102", "102")]).await.unwrap();
    s.add_review_comments(&[comment("fix-101", "101")]).await.unwrap();
    assert_eq!(s.review_comments().await.unwrap(), [comment("fix-101", "101"), comment("fix-102", "102")]);
    s.set_replied("pr-4-fixes", "fix-102", "abc123").await.unwrap();
    let kept = s.review_comments().await.unwrap();
    assert_eq!((kept[0].replied.as_deref(), kept[1].replied.as_deref()), (None, Some("abc123")));
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::postgres().await).await;
                }
            )*
        }
    };
}

conformance!(
    a_tail_yields_each_later_event_once_in_order,
    adds_tasks_ready_or_pending_with_events,
    adding_the_same_plan_twice_changes_nothing,
    re_adding_a_changed_waiting_task_updates_it,
    changing_a_started_task_needs_force,
    task_ids_are_unique_across_plans,
    claims_follow_critical_path_then_priority_then_plan_order,
    only_tasks_whose_deps_are_done_are_claimed,
    leases_are_fenced_by_attempt,
    failures_back_off_then_fail_and_block_dependents,
    retry_unblocks_and_cancel_blocks,
    the_rescuer_requeues_expired_leases,
    export_gives_back_the_plan,
    counts_and_filters,
    concurrent_claimers_never_share_a_task,
    a_refused_write_leaves_no_row_locked,
    a_plan_larger_than_one_insert_adds_whole,
    tasks_whose_files_overlap_never_run_together,
    a_release_gives_the_task_back_without_using_a_try,
    processes_are_recorded_and_dead_workers_expired_at_once,
    a_kill_takes_the_lease_counts_a_try_and_refuses_all_or_nothing,
    named_locks_have_one_holder_until_released_or_expired,
    usage_adds_up_per_attempt_and_in_all,
    a_persons_decision_waits_in_the_store_for_the_next_claim,
    an_agents_question_waits_for_its_answer_or_fails_the_task_in_time,
    an_approved_task_cancelled_before_its_merge_forgets_the_decision,
    a_failed_task_is_replaced_and_its_dependents_wait_for_the_new_tasks,
    reviews_are_kept_round_by_round,
    pages_filter_search_and_count,
    running_attempts_show_phase_worker_and_start,
    an_agents_progress_is_its_attempts_and_fenced_like_its_writes,
    attempt_stats_count_merged_attempts_and_their_time,
    a_merge_is_fenced_by_the_lock_and_the_lease_and_its_commit_kept,
    agent_waits_are_kept_and_claims_pass_over_their_tasks,
    writes_cancelled_midway_leave_no_connection_in_doubt,
    live_attempts_get_the_lowest_blocks_that_overlap_no_other,
    ended_and_expired_attempts_free_their_ports,
    ports_that_cannot_be_bound_are_passed_over,
    held_ports_are_let_go_or_expire,
    concurrent_allocations_never_share_a_port,
    follow_ups_join_the_plan_when_the_work_that_proposed_them_merges,
    dropping_a_proposal_drops_the_proposals_that_depend_on_it,
    follow_ups_in_auto_mode_run_at_once,
    runs_are_recorded_seen_and_taken_out,
    notify_cursors_move_only_under_the_notify_lock,
    a_runs_end_and_a_halt_are_global_events,
    review_comments_are_kept_and_answered_once,
);

fn ports(first: u16, last: u16) -> Ports {
    Ports { first, last }
}

/// The range the ports tests take blocks of three from.
const RANGE: Ports = Ports { first: 20000, last: 20009 };

fn any_port(_: u16) -> bool {
    true
}

/// The block recorded on the task's attempt.
async fn recorded_ports<S: Store>(s: &S, task: &str, attempt: u32) -> Option<Ports> {
    let detail = s.task(task).await.unwrap().unwrap();
    detail.attempts.iter().find(|a| a.attempt == attempt).unwrap().ports
}

async fn live_attempts_get_the_lowest_blocks_that_overlap_no_other<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[]), ("b", &[]), ("c", &[]), ("d", &[])]), "p.yaml", AddOptions::default())
        .await
        .unwrap();
    let mut blocks = Vec::new();
    for _ in 0..3 {
        let c = s.claim("w", LEASE).await.unwrap().unwrap();
        let block = s.take_ports(&c.task, c.attempt, (RANGE, 3), &any_port).await.unwrap();
        assert_eq!(recorded_ports(s, c.task.as_str(), c.attempt).await, block, "kept on the attempt");
        blocks.push(block);
    }
    assert_eq!(blocks, [Some(ports(20000, 20002)), Some(ports(20003, 20005)), Some(ports(20006, 20008))]);
    let d = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(s.take_ports(&d.task, d.attempt, (RANGE, 3), &any_port).await.unwrap(), None, "one port is left");
    assert_eq!(recorded_ports(s, d.task.as_str(), d.attempt).await, None);
    assert_eq!(
        s.take_ports(&d.task, d.attempt, (RANGE, 1), &any_port).await.unwrap(),
        Some(ports(20009, 20009)),
        "a smaller block fits"
    );
    let stale = s.take_ports(&d.task, d.attempt + 1, (RANGE, 1), &any_port).await;
    assert!(matches!(stale, Err(StoreError::LeaseLost { .. })), "{stale:?}");
}

async fn ended_and_expired_attempts_free_their_ports<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    let tasks = [("a", &[][..]), ("b", &[]), ("c", &[]), ("d", &[]), ("e", &[])];
    s.add_plan(&plan("p", &tasks), "p.yaml", AddOptions::default()).await.unwrap();
    let take = async |c: &colony_store::Claim| s.take_ports(&c.task, c.attempt, (RANGE, 3), &any_port).await.unwrap();
    let a = s.claim("w", LEASE).await.unwrap().unwrap();
    let b = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!((take(&a).await, take(&b).await), (Some(ports(20000, 20002)), Some(ports(20003, 20005))));

    // b's lease runs out; nobody has rescued it yet.
    f.clock.advance(20_000);
    s.heartbeat(&a.task, a.attempt, LEASE).await.unwrap();
    f.clock.advance(15_000);
    let c = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(take(&c).await, Some(ports(20003, 20005)), "an expired lease's block is free");

    s.fail(&a.task, a.attempt, "broken", Duration::from_secs(3600)).await.unwrap();
    let d = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(take(&d).await, Some(ports(20000, 20002)), "an ended attempt's block is free");

    // b taken back and claimed again: its old attempt is superseded.
    s.rescue_expired().await.unwrap();
    let b2 = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!((b2.task.as_str(), b2.attempt), ("b", 2));
    assert_eq!(take(&b2).await, Some(ports(20006, 20008)));
    let e = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(take(&e).await, None, "every block is live: c, d and b's second attempt hold them");
    assert_eq!(recorded_ports(s, "b", 1).await, Some(ports(20003, 20005)), "the record stays for the history");
}

async fn ports_that_cannot_be_bound_are_passed_over<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[]), ("b", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    let busy = |p: u16| p != 20001 && p != 20005;
    let a = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(s.take_ports(&a.task, a.attempt, (RANGE, 3), &busy).await.unwrap(), Some(ports(20002, 20004)));
    let b = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(s.take_ports(&b.task, b.attempt, (RANGE, 3), &busy).await.unwrap(), Some(ports(20006, 20008)));
}

async fn held_ports_are_let_go_or_expire<S: Store>(f: Fixture<S>) {
    let s = &f.store;
    s.add_plan(&plan("p", &[("a", &[]), ("b", &[]), ("c", &[])]), "p.yaml", AddOptions::default()).await.unwrap();
    let ttl = Duration::from_secs(10);
    assert_eq!(s.hold_ports("look", (RANGE, 3), ttl, &any_port).await.unwrap(), Some(ports(20000, 20002)));
    assert_eq!(
        s.hold_ports("look", (RANGE, 3), ttl, &any_port).await.unwrap(),
        Some(ports(20000, 20002)),
        "a holder's new block replaces its old one"
    );
    let a = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(s.take_ports(&a.task, a.attempt, (RANGE, 3), &any_port).await.unwrap(), Some(ports(20003, 20005)));
    s.free_ports("look").await.unwrap();
    let b = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(s.take_ports(&b.task, b.attempt, (RANGE, 3), &any_port).await.unwrap(), Some(ports(20000, 20002)));

    assert_eq!(s.hold_ports("look", (RANGE, 3), ttl, &any_port).await.unwrap(), Some(ports(20006, 20008)));
    f.clock.advance(11_000);
    for t in [&a, &b] {
        s.heartbeat(&t.task, t.attempt, LEASE).await.unwrap();
    }
    let c = s.claim("w", LEASE).await.unwrap().unwrap();
    assert_eq!(
        s.take_ports(&c.task, c.attempt, (RANGE, 3), &any_port).await.unwrap(),
        Some(ports(20006, 20008)),
        "an expired hold is free"
    );
}

async fn concurrent_allocations_never_share_a_port<S: Store + 'static>(f: Fixture<S>) {
    let s = Arc::new(f.store);
    add_independent(&*s, 40).await;
    let range = ports(20000, 29999);
    let mut all = eight_claimers(&s, move |s: Arc<S>, c: Claim| async move {
        s.take_ports(&c.task, c.attempt, (range, 2), &any_port).await.unwrap().unwrap()
    })
    .await;
    all.sort_by_key(|p| p.first);
    let expected: Vec<Ports> = (0..40).map(|i| ports(20000 + 2 * i, 20001 + 2 * i)).collect();
    assert_eq!(all, expected, "every attempt is live: the 40 lowest blocks, each once");
}

/// PostgreSQL wakes listeners in other connections when tasks become
/// claimable, on commit; SQLite has no listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notifies_listeners_of_ready_work() {
    let f = postgres().await;
    let s = &f.store;
    let mut listener = s.ready_listener().await.unwrap().expect("PostgreSQL listens");
    let woken = async |listener: &mut colony_store::Listener| {
        tokio::time::timeout(Duration::from_millis(300), listener.next()).await.is_ok()
    };
    assert!(!woken(&mut listener).await, "nothing happened yet");
    s.add_plan(&plan("p", &[("a", &[]), ("b", &["a"])]), "p.yaml", AddOptions::default()).await.unwrap();
    assert!(woken(&mut listener).await, "`a` became ready");
    let a = s.claim("w", LEASE).await.unwrap().unwrap();
    assert!(!woken(&mut listener).await, "a claim readies nothing");
    s.complete(&a.task, a.attempt).await.unwrap();
    assert!(woken(&mut listener).await, "`b` became ready");
    assert!(sqlite().await.store.ready_listener().await.unwrap().is_none());
}

/// On PostgreSQL a listening tail is woken by the write itself: its poll
/// is an hour, and the event still arrives at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_wakes_a_listening_tail_on_every_write() {
    let f = postgres().await;
    let s = &f.store;
    let mut tail = Tail::new(s, 0, 100, Duration::from_secs(3600)).listening().await;
    assert!(tail.read().await.unwrap().is_empty());
    let writer = tokio::spawn({
        let s = s.clone();
        async move { s.add_plan(&plan("p", &[("a", &[])]), "p.yaml", AddOptions::default()).await.unwrap() }
    });
    let batch = tokio::time::timeout(Duration::from_secs(30), tail.next()).await.expect("woken by the write").unwrap();
    writer.await.unwrap();
    assert!(matches!(batch[0].kind, EventKind::PlanAdded { .. }), "{batch:?}");
}
