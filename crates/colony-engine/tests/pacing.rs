//! How the engine reacts to what an agent's adapter reports: rate limits,
//! refused logins, spend, sessions, and an agent that will not exit. The
//! agent is a shell script (test scaffolding) speaking a tiny line
//! protocol through the harness in `common`, so these run on real
//! repositories, a real SQLite store and real child processes without any
//! agent CLI.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use colony_core::TaskStatus;
use colony_core::config::Price;
use colony_store::{AddOptions, Store};

use common::Fixture;

/// Counts the script's runs for the task in `$STATE/runs-<task>` and sets `n`.
const COUNT_RUNS: &str = "n=$(( $(cat \"$STATE/runs-$COLONY_TASK_ID\" 2>/dev/null || echo 0) + 1 ))\n\
                          echo $n > \"$STATE/runs-$COLONY_TASK_ID\"\n";

/// Writes out/<task>.txt from the prompt.
const WRITE: &str = "mkdir -p out && cat > \"out/$COLONY_TASK_ID.txt\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_waits_for_the_reset_without_using_up_the_attempt() {
    let f = Fixture::new(&["a"]).await;
    let script = format!("{COUNT_RUNS}if [ $n -le 2 ]; then echo 'ERROR rate_limit 200'; exit 1; fi\n{WRITE}");
    let report = f.run(f.settings(&script, false)).await;
    assert!(report.all_done(), "{report:?}");
    assert_eq!(f.read_state("runs-a").trim(), "3", "ran until the limit lifted");
    let detail = f.store.task("a").await.unwrap().unwrap();
    assert_eq!(detail.attempts.len(), 1, "the waits did not use up attempts");
    assert_eq!(detail.record.task.tries, 1);
    let log = f.log("a", 1);
    assert_eq!(log.matches("is rate limited or overloaded").count(), 2, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_that_never_lifts_fails_the_attempt_after_the_allowed_waits() {
    let f = Fixture::new(&["a"]).await;
    let mut settings = f.settings(&format!("{COUNT_RUNS}echo 'ERROR rate_limit'; exit 1\n"), false);
    settings.rate_limit_base = Duration::from_millis(1);
    settings.max_rate_limit_waits = 2;
    settings.config.gates.max_fix_rounds = 0;
    let mut spec_attempts = f.store.export_plan("p").await.unwrap();
    spec_attempts.tasks[0].max_attempts = Some(1);
    f.store.add_plan(&spec_attempts, "p.yaml", AddOptions { force: true }).await.unwrap();
    let report = f.run(settings).await;
    assert_eq!(report.counts.get(TaskStatus::Failed), 1, "{report:?}");
    assert_eq!(f.read_state("runs-a").trim(), "3", "two waits, then the third limit fails it");
    assert!(report.failed[0].1.contains("ERROR rate_limit"), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_halts_the_run_and_gives_the_task_back() {
    let f = Fixture::new(&["a", "b", "c"]).await;
    let report = f.run(f.settings("echo 'ERROR auth invalid api key'; exit 1\n", false)).await;
    let why = report.halted.clone().expect("the run halts");
    assert!(why.contains("the `bot` agent is not logged in or its key was refused"), "{why}");
    assert!(why.contains("colony doctor"), "{why}");
    assert_eq!(report.counts.get(TaskStatus::Ready), 3, "nothing failed: {report:?}");
    assert!(report.failed.is_empty());
    let detail = f.store.task("a").await.unwrap().unwrap();
    assert_eq!(detail.record.task.tries, 0, "the attempt was released, not used");
    assert_eq!(detail.attempts.len(), 1, "only one task was tried before the halt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_stops_new_work_once_spent() {
    let f = Fixture::new(&["a", "b", "c", "d"]).await;
    let mut settings = f.settings(&format!("{WRITE}echo 'USAGE 100 10 0'\necho 'COST 0.6'\n"), false);
    settings.config.run.max_cost_usd = Some(1.0);
    let report = f.run(settings).await;
    assert_eq!(report.counts.get(TaskStatus::Done), 2, "{report:?}");
    assert_eq!(report.counts.get(TaskStatus::Ready), 2);
    let why = report.halted.clone().expect("the budget halts the run");
    assert!(why.starts_with("the budget of $1.00 is spent ($1.20 by every run on this store so far)"), "{why}");
    assert_eq!(report.usage.cost_usd, Some(1.2));
    assert_eq!(report.usage.input, 200);
    let stored = f.store.spend().await.unwrap();
    assert_eq!((stored.input, stored.output, stored.cost_usd), (200, 20, Some(1.2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_priced_from_the_table_when_the_agent_reports_no_cost() {
    let f = Fixture::new(&["a"]).await;
    let mut settings = f.settings(&format!("{WRITE}echo 'USAGE 1000000 500000 0'\n"), false);
    settings.config.prices = BTreeMap::from([("m".to_owned(), Price { input: 2.0, output: 8.0, cached_input: None })]);
    assert!(f.run(settings).await.all_done());
    let usage = f.store.task("a").await.unwrap().unwrap().attempts[0].usage;
    assert_eq!(usage.cost_usd, Some(6.0), "1M in at $2 and 0.5M out at $8");
}

/// First round: writes the work but not the fix the gate wants. The fix
/// round must resume the session with only the feedback as its prompt.
const SESSION_SCRIPT: &str = "echo 'SESSION s-1'\n\
    if [ -n \"$RESUME\" ]; then echo \"$RESUME\" > \"$STATE/resumed\"; cat > \"$STATE/prompt\"; touch fixed;\n\
    else cat > \"$STATE/prompt\"; echo work > work.txt; fi\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_round_resumes_the_agents_session_with_the_feedback_alone() {
    let f = Fixture::new(&["a"]).await;
    let mut settings = f.settings(SESSION_SCRIPT, true);
    settings.config.gates.commands =
        vec!["test ! -e work.txt || test -f fixed || { echo 'fixed is missing'; exit 1; }".into()];
    assert!(f.run(settings).await.all_done());
    assert_eq!(f.read_state("resumed").trim(), "s-1");
    let prompt = f.read_state("prompt");
    assert!(prompt.starts_with("The gate `test ! -e work.txt || test -f fixed"), "{prompt}");
    assert!(prompt.contains("fixed is missing") && !prompt.contains("Do a."), "{prompt}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_cannot_resume_gets_the_whole_task_again_with_the_feedback() {
    let f = Fixture::new(&["a"]).await;
    let script =
        "if [ -n \"$COLONY_FEEDBACK_FILE\" ]; then cat > \"$STATE/prompt\"; touch fixed; else echo w > w.txt; fi\n";
    let mut settings = f.settings(script, false);
    settings.config.gates.commands = vec!["test ! -e w.txt || test -f fixed".into()];
    assert!(f.run(settings).await.all_done());
    let prompt = f.read_state("prompt");
    assert!(prompt.starts_with("Do a.") && prompt.contains("Feedback on your previous round:"), "{prompt}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_lingering_after_its_final_event_is_stopped_and_judged_by_it() {
    let f = Fixture::new(&["a"]).await;
    let mut settings = f.settings(&format!("{WRITE}echo FINAL\nexec sleep 600\n"), false);
    settings.linger = Duration::from_millis(200);
    let report = f.run(settings).await;
    assert!(report.all_done(), "{report:?}");
    let log = f.log("a", 1);
    assert!(log.contains("after its final event; stopped it"), "{log}");
}

/// Settings with two agents of one worker: `slow` runs `slow`, `quick`
/// runs `quick`; tasks name theirs.
fn two_agents(f: &Fixture, slow: &str, quick: &str) -> colony_engine::Settings {
    let slow = f.script("slow", slow);
    let quick = f.script("quick", quick);
    let mut settings =
        f.settings_with("slow", colony_engine::AgentSetup::new(common::Scripted { script: slow, resumes: false }));
    settings
        .agents
        .insert("quick".into(), colony_engine::AgentSetup::new(common::Scripted { script: quick, resumes: false }));
    settings
}

async fn tasks_for_two_agents(f: &Fixture) {
    f.add(&[("a", &[]), ("b", &[])], |spec| {
        spec.agent = Some(if spec.id.as_str() == "a" { "slow" } else { "quick" }.into());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_agent_gives_its_worker_to_tasks_for_other_agents() {
    let f = Fixture::empty().await;
    tasks_for_two_agents(&f).await;
    // With one worker: had `a` kept it through its wait, `b` could not
    // have run before `a`'s second round.
    let slow = format!(
        "{COUNT_RUNS}if [ $n -eq 1 ]; then echo 'ERROR rate_limit 300'; exit 1; fi\n\
         test -f \"$STATE/b-done\" && echo yes > \"$STATE/b-first\"\n{WRITE}"
    );
    let quick = format!("{WRITE}touch \"$STATE/b-done\"\n");
    let report = f.run(two_agents(&f, &slow, &quick)).await;
    assert!(report.all_done(), "{report:?}");
    assert_eq!(f.read_state("b-first").trim(), "yes", "b ran while a waited out its limit");
    let a = f.store.task("a").await.unwrap().unwrap();
    assert_eq!((a.attempts.len(), a.record.task.tries), (1, 1), "the wait used up no attempt");
    let waited = a.events.iter().any(
        |e| matches!(&e.kind, colony_core::EventKind::AgentWaiting { agent, wait_ms: Some(_), .. } if agent == "slow"),
    );
    assert!(waited, "the wait is an event: {:?}", a.events);
    assert!(f.store.agent_waits().await.unwrap().is_empty(), "the round that went through ended the wait");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_a_rate_limit_wait_is_immediate_and_costs_no_try() {
    let f = Fixture::new(&["a"]).await;
    let mut settings = f.settings("echo 'ERROR rate_limit 3600000'; exit 1\n", false);
    // Were the stop to wait for the grace, this test would not end.
    settings.config.run.shutdown_grace = Duration::from_secs(3600);
    let shutdown = colony_agents::Shutdown::new();
    let engine = colony_engine::Engine::new(f.store.clone(), colony_git::Repo::open(f.repo()).unwrap(), settings);
    let run = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { engine.run(shutdown).await }
    });
    while f.store.agent_waits().await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wait = &f.store.agent_waits().await.unwrap()[0];
    assert_eq!(wait.agent, "bot");
    assert!(wait.ends_at.unwrap() - wait.since > 3_500_000, "the reset the agent gave: {wait:?}");
    shutdown.drain();
    let report = run.await.unwrap().unwrap();
    assert!(report.interrupted);
    let a = f.store.task("a").await.unwrap().unwrap();
    assert_eq!(a.record.task.status(), TaskStatus::Ready);
    assert_eq!(a.record.task.tries, 0, "a stop is not the agent's failure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spend_cap_stops_its_agent_keeps_the_try_and_other_agents_go_on() {
    let f = Fixture::empty().await;
    tasks_for_two_agents(&f).await;
    let slow = format!("{COUNT_RUNS}echo 'ERROR spend_limit monthly spend limit reached'; exit 1\n");
    let report = f.run(two_agents(&f, &slow, WRITE)).await;
    assert_eq!(report.counts.get(TaskStatus::Done), 1, "{report:?}");
    assert_eq!(report.counts.get(TaskStatus::Ready), 1);
    let why = report.halted.clone().expect("the run says why a task is left");
    assert!(why.contains("the `slow` agent reached a spend cap or ran out of credit"), "{why}");
    assert!(why.contains("monthly spend limit reached"), "{why}");
    assert_eq!(f.read_state("runs-a").trim(), "1", "no second call of a capped agent");
    let a = f.store.task("a").await.unwrap().unwrap();
    assert_eq!(a.record.task.tries, 0, "the try is kept");
    let waits = f.store.agent_waits().await.unwrap();
    assert_eq!((waits.len(), waits[0].ends_at), (1, None), "waiting for a person: {waits:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_is_kept_in_the_store_across_runs() {
    let f = Fixture::new(&["a", "b", "c", "d"]).await;
    let script = format!("{COUNT_RUNS}{WRITE}echo 'USAGE 100 10 0'\necho 'COST 0.6'\n");
    let mut settings = f.settings(&script, false);
    settings.config.run.max_cost_usd = Some(1.5);
    let first = f.run(settings.clone()).await;
    assert_eq!(first.counts.get(TaskStatus::Done), 3, "{first:?}");
    let second = f.run(settings.clone()).await;
    let why = second.halted.expect("the next run sees the spend of the first");
    assert!(why.starts_with("the budget of $1.50 is spent ($1.80 by every run"), "{why}");
    assert_eq!(second.counts.get(TaskStatus::Ready), 1, "nothing new was claimed");
    assert_eq!(f.store.task("d").await.unwrap().unwrap().attempts.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plans_budget_holds_its_tasks_only() {
    let f = Fixture::new(&["a", "b"]).await;
    let mut settings = f.settings(&format!("{WRITE}echo 'COST 0.7'\n"), false);
    settings.config.run.max_plan_cost_usd = Some(0.5);
    let report = f.run(settings).await;
    assert_eq!(report.counts.get(TaskStatus::Done), 1, "{report:?}");
    let why = report.halted.expect("the plan's budget halts its tasks");
    assert!(why.starts_with("plan p spent its budget of $0.50 ($0.70 so far)"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_already_past_backs_off_rather_than_calling_again_at_once() {
    let f = Fixture::new(&["a"]).await;
    let mut settings = f.settings(&format!("{COUNT_RUNS}echo 'ERROR rate_limit -60000'; exit 1\n"), false);
    settings.rate_limit_base = Duration::from_millis(200);
    settings.max_rate_limit_waits = 2;
    settings.config.gates.max_fix_rounds = 0;
    let report = f.run(settings).await;
    assert_eq!(report.counts.get(TaskStatus::Failed), 1, "{report:?}");
    let log = f.log("a", 1);
    let waits: Vec<&str> = log.lines().filter(|l| l.contains("its tasks wait")).collect();
    assert_eq!(waits.len(), 2, "{log}");
    assert!(waits.iter().all(|l| !l.contains(" 0s ") && !l.contains(" 0.0s ")), "a backoff, not no wait: {waits:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_an_agent_reports_is_kept_per_attempt() {
    let f = Fixture::new(&["a"]).await;
    let report = f.run(f.settings(&format!("echo 'VERSION 2.1.301'\n{WRITE}"), false)).await;
    assert!(report.all_done(), "{report:?}");
    let a = f.store.task("a").await.unwrap().unwrap();
    assert_eq!(a.attempts[0].agent_version.as_deref(), Some("2.1.301"));
}
