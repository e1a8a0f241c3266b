//! Merges gated before their turn (`queue/line.rs`), on real repositories,
//! a real SQLite store and real child processes. In each test, y's agent
//! waits until x's gates run, and x's gates wait until y's have run on its
//! candidate: y is gated on x's merge and its own before x lands.

mod common;

use colony_core::record::Record;
use colony_engine::Settings;
use colony_store::Store;
use common::{Fixture, git};

/// Notes each run; y waits until x's gates run. A round with feedback
/// leaves `out/<task>-fixed`.
const AGENT: &str = "echo \"$COLONY_TASK_ID\" >> \"$STATE/agents.log\"\n\
    if [ \"$COLONY_TASK_ID\" = y ]; then\n\
      n=0; until [ -e \"$STATE/x-gating\" ]; do n=$((n+1)); [ $n -lt 3000 ] || exit 1; sleep 0.02; done\n\
    fi\n\
    mkdir -p out && echo \"$COLONY_TASK_ID $COLONY_ATTEMPT\" > \"out/$COLONY_TASK_ID.txt\"\n\
    if [ -n \"$COLONY_FEEDBACK_FILE\" ]; then touch \"out/$COLONY_TASK_ID-fixed\"; fi\n";

/// Notes the task files it sees; on x's work alone, waits until y's gates
/// have run on x's and y's together; then runs `check`.
fn gate(f: &Fixture, check: &str) -> String {
    let state = f.state().display().to_string();
    format!(
        "echo \"$(ls out | tr '\\n' ' ')\" >> '{state}/gates.log'; \
         if [ -e out/x.txt ] && [ -e out/y.txt ]; then touch '{state}/y-gated'; fi; \
         if [ -e out/x.txt ] && [ ! -e out/y.txt ]; then touch '{state}/x-gating'; \
           n=0; until [ -e '{state}/y-gated' ]; do n=$((n+1)); [ $n -lt 3000 ] || exit 1; sleep 0.02; done; fi; \
         {check}"
    )
}

fn settings(f: &Fixture, check: &str) -> Settings {
    let mut s = f.settings_with("script", f.command_agent("agent", AGENT));
    s.workers = 2;
    s.config.gates.commands = vec![gate(f, check)];
    s
}

/// How often each of `tasks` had its agent run.
fn agent_runs(f: &Fixture, task: &str) -> usize {
    f.read_state("agents.log").lines().filter(|l| *l == task).count()
}

/// The candidates `task`'s first attempt was gated on: the tasks ahead of
/// each.
fn candidates(f: &Fixture, task: &str) -> Vec<Vec<String>> {
    let records = f.records(task, 1);
    records
        .into_iter()
        .filter_map(|r| match r {
            Record::Candidate { ahead, .. } => Some(ahead),
            _ => None,
        })
        .collect()
}

/// Gate runs in `task`'s first attempt, as passed or not.
fn gate_ends(f: &Fixture, task: &str) -> Vec<bool> {
    let records = f.records(task, 1);
    records
        .into_iter()
        .filter_map(|r| match r {
            Record::GateEnded { end, .. } => Some(end.passed()),
            _ => None,
        })
        .collect()
}

fn merges_on_the_line(f: &Fixture) -> Vec<String> {
    let subjects = git(f.repo(), &["log", "--first-parent", "--reverse", "--format=%s", "main..colony/p"]);
    subjects.lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_only_the_combination_causes_goes_to_the_task_behind_and_the_one_ahead_lands_ungated_again() {
    let f = Fixture::new(&["x", "y"]).await;
    let check =
        "if [ -e out/x.txt ] && [ -e out/y.txt ] && [ ! -e out/y-fixed ]; then echo 'x and y clash'; exit 1; fi";
    let report = f.run(settings(&f, check)).await;
    assert!(report.all_done(), "{report:?}");

    // x was gated once, on its merge onto the tip, and landed on it.
    assert_eq!(candidates(&f, "x"), vec![Vec::<String>::new()]);
    assert_eq!(gate_ends(&f, "x"), vec![true]);
    assert_eq!(agent_runs(&f, "x"), 1);
    // y was gated on x's merge and its own, failed there, and once x had
    // landed the failure was y's: a fix round, then gated again.
    let y = candidates(&f, "y");
    assert_eq!(y.first(), Some(&vec!["x".to_owned()]), "{y:?}");
    assert_eq!(gate_ends(&f, "y"), vec![false, true]);
    assert_eq!(agent_runs(&f, "y"), 2);
    assert!(f.log("y", 1).contains("x and y clash"));
    assert_eq!(f.store.task("y").await.unwrap().unwrap().attempts.len(), 1);

    // Three gate runs on work in all (besides the run's look at the branch
    // itself, which sees none): none again under the merge lock.
    let runs = f.read_state("gates.log");
    assert_eq!(runs.lines().filter(|l| !l.trim().is_empty()).count(), 3, "{runs}");
    let merges = merges_on_the_line(&f);
    assert!(merges.len() == 2 && merges[0].contains("x") && merges[1].contains("y"), "{merges:?}");
    let files = f.files_on("colony/p");
    assert!(files.contains(&"out/y-fixed".to_owned()), "{files:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_ahead_in_the_line_costs_the_task_behind_nothing() {
    let f = Fixture::new(&["x", "y"]).await;
    let check = "if [ -e out/x.txt ] && [ ! -e out/x-fixed ]; then echo 'x is broken'; exit 1; fi";
    let report = f.run(settings(&f, check)).await;
    assert!(report.all_done(), "{report:?}");

    // y's candidate held x's broken work and failed; x did not land, so y
    // was built again on the tip without it, gated again and landed, with
    // no fix round: the failure was never y's.
    assert_eq!(candidates(&f, "y"), vec![vec!["x".to_owned()], vec![]]);
    assert_eq!(gate_ends(&f, "y"), vec![false, true]);
    assert_eq!(agent_runs(&f, "y"), 1);
    // x's failure was its own: a fix round. (Its fixed work may be gated
    // twice: once more if it queued behind y before y was built again.)
    let x = gate_ends(&f, "x");
    assert!(x.len() >= 2 && !x[0] && x[1..].iter().all(|passed| *passed), "{x:?}");
    assert_eq!(agent_runs(&f, "x"), 2);
    assert!(f.log("x", 1).contains("x is broken"));

    let merges = merges_on_the_line(&f);
    assert!(merges.len() == 2 && merges[0].contains("y") && merges[1].contains("x"), "{merges:?}");
    for task in ["x", "y"] {
        assert_eq!(f.store.task(task).await.unwrap().unwrap().attempts.len(), 1, "{task} merged on its first attempt");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_speculation_off_the_gates_run_on_the_task_branch() {
    let f = Fixture::new(&["x", "y"]).await;
    let mut settings = f.settings_with("script", f.command_agent("agent", "echo a > \"$COLONY_TASK_ID.txt\"\n"));
    let gates = f.state().join("gates.log");
    settings.config.gates.commands = vec![format!("git rev-parse --abbrev-ref HEAD >> '{}'", gates.display())];
    settings.config.merge.speculate = false;
    settings.config.merge.train = false;
    let report = f.run(settings).await;
    assert!(report.all_done(), "{report:?}");
    assert!(candidates(&f, "x").is_empty() && candidates(&f, "y").is_empty());
    // Besides the run's look at the branch itself, detached.
    let runs = f.read_state("gates.log");
    let on_work: Vec<&str> = runs.lines().filter(|l| *l != "HEAD").collect();
    assert!(on_work.len() == 2 && on_work.iter().all(|l| l.starts_with("colony-task/p/")), "{runs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_place_whose_lease_was_taken_does_not_land() {
    let f = Fixture::empty().await;
    f.add(&[("a", &[]), ("b", &[]), ("d", &[])], |spec| spec.max_attempts = Some(20)).await;
    let mut settings =
        f.settings_with("script", f.command_agent("agent", "echo \"$COLONY_ATTEMPT\" > \"$COLONY_TASK_ID.txt\"\n"));
    settings.config.gates.commands = vec!["true".into()];
    settings.workers = 3;
    // Heartbeats would notice only after 20 s: the landing must.
    settings.config.run.lease = std::time::Duration::from_secs(60);
    f.hold_merge_lock().await;
    let (report, (_, first)) = tokio::join!(f.run(settings), f.take_over_while_merging("b", 3));
    assert!(report.all_done(), "{report:?}");
    assert!(!candidates(&f, "b").is_empty(), "b's first attempt was gated before its turn");
    assert!(!f.merged_into(&first, "colony/p"), "b's first attempt landed after its lease was taken");
    assert_eq!(git(f.repo(), &["rev-list", "--count", "--first-parent", "main..colony/p"]).trim(), "3");
}
