//! Gates against the integration branch itself (`baseline.rs`), on real
//! repositories, a real SQLite store and real child processes.

mod common;

use colony_core::TaskStatus;
use colony_core::record::Record;
use colony_store::Store;
use common::{Fixture, git};

/// Notes each run in agents.log, then writes out/<task>.txt; task `c`
/// writes `bad` into it until it gets feedback.
const AGENT: &str = "echo \"$COLONY_TASK_ID\" >> \"$STATE/agents.log\"\n\
    mkdir -p out\n\
    if [ \"$COLONY_TASK_ID\" = c ] && [ -z \"$COLONY_FEEDBACK_FILE\" ]; then echo bad > out/c.txt;\n\
    else echo \"$COLONY_TASK_ID\" > \"out/$COLONY_TASK_ID.txt\"; fi\n";

/// A gate that fails while BROKEN is in the tree.
const NOT_BROKEN: &str = "test ! -e BROKEN || { echo 'BROKEN is here'; exit 1; }";

fn agent_runs(f: &Fixture) -> Vec<String> {
    f.read_state("agents.log").lines().map(str::to_owned).collect()
}

/// Commits BROKEN onto `branch`.
fn break_branch(f: &Fixture, branch: &str) {
    let repo = f.repo();
    let scratch = repo.join(".colony/breaking");
    git(repo, &["worktree", "add", "-q", "--detach", scratch.to_str().unwrap(), branch]);
    std::fs::write(scratch.join("BROKEN"), "x\n").unwrap();
    git(&scratch, &["add", "BROKEN"]);
    git(&scratch, &["commit", "-qm", "break it"]);
    let head = git(&scratch, &["rev-parse", "HEAD"]);
    git(repo, &["update-ref", &format!("refs/heads/{branch}"), head.trim()]);
    git(repo, &["worktree", "remove", "--force", scratch.to_str().unwrap()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_that_fails_on_the_integration_branch_stops_the_run_before_any_agent() {
    let f = Fixture::new(&["a", "b"]).await;
    break_branch(&f, "main");
    let mut settings = f.settings_with("script", f.command_agent("agent", AGENT));
    settings.config.gates.commands = vec![NOT_BROKEN.into()];
    let report = f.run(settings).await;

    let halted = report.halted.clone().unwrap_or_default();
    let tip = git(f.repo(), &["rev-parse", "main"]);
    assert!(halted.contains(&format!("gate `{NOT_BROKEN}` already fails on colony/p at {}", &tip[..12])), "{halted}");
    assert!(halted.contains("BROKEN is here") && halted.contains("--allow-failing-gates"), "{halted}");
    assert!(agent_runs(&f).is_empty(), "no agent ran: {:?}", agent_runs(&f));
    assert_eq!(report.counts.get(TaskStatus::Ready), 2, "{report:?}");
    for task in ["a", "b"] {
        assert!(f.store.task(task).await.unwrap().unwrap().attempts.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_failing_gates_allowed_only_what_the_branch_shares_is_passed_over() {
    let f = Fixture::new(&["a", "b", "c"]).await;
    break_branch(&f, "main");
    let mut settings = f.settings_with("script", f.command_agent("agent", AGENT));
    settings.config.gates.commands = vec![NOT_BROKEN.into(), "! grep -rq bad out".into()];
    settings.allow_failing_gates = true;
    let report = f.run(settings).await;
    assert!(report.all_done(), "{report:?}");

    // The failure every tree shares went back to no agent; c's own did.
    let runs = agent_runs(&f);
    for (task, n) in [("a", 1), ("b", 1), ("c", 2)] {
        assert_eq!(runs.iter().filter(|r| *r == task).count(), n, "{task}: {runs:?}");
    }
    let passed_over = |task: &str| {
        f.records(task, 1).iter().any(|r| matches!(r, Record::GateFailsOnBase { command, .. } if command == NOT_BROKEN))
    };
    assert!(["a", "b", "c"].iter().all(|t| passed_over(t)));
    let feedback = std::fs::read_to_string(f.repo().join(".colony/runs/c/a1/feedback.md")).unwrap();
    assert!(feedback.contains("The gate `! grep -rq bad out` failed") && !feedback.contains("BROKEN"), "{feedback}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identical_tree_is_never_gated_twice() {
    let f = Fixture::new(&["a", "b"]).await;
    // Both tasks make the same change: the second's merge is a tree the
    // first's gates saw already.
    let agent = "echo \"$COLONY_TASK_ID\" >> \"$STATE/agents.log\"; echo same > shared.txt\n";
    let mut settings = f.settings_with("script", f.command_agent("agent", agent));
    settings.workers = 2;
    let gates = f.state().join("gates.log");
    settings.config.gates.commands = vec![format!("git rev-parse HEAD^{{tree}} >> '{}'", gates.display())];
    let report = f.run(settings).await;
    assert!(report.all_done(), "{report:?}");

    let trees: Vec<String> = f.read_state("gates.log").lines().map(str::to_owned).collect();
    let mut unique = trees.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), trees.len(), "a tree gated twice: {trees:?}");
    // The start's look at the branch, and one tree of the tasks' work.
    assert_eq!(trees.len(), 2, "{trees:?}");
    let known = |task: &str| f.records(task, 1).iter().any(|r| matches!(r, Record::GateKnown { passed: true, .. }));
    assert!(known("a") || known("b"), "one task's gates were known already");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tip_moved_to_a_tree_that_fails_stops_new_work_without_costing_the_task_a_try() {
    let f = Fixture::empty().await;
    f.add(&[("a", &[]), ("b", &["a"])], |_| {}).await;
    // a's agent waits until the test has broken the integration branch
    // under it, as a person's push would.
    let agent = "echo \"$COLONY_TASK_ID\" >> \"$STATE/agents.log\"\n\
        n=0; until [ -e \"$STATE/go\" ]; do n=$((n+1)); [ $n -lt 3000 ] || exit 1; sleep 0.02; done\n\
        echo a > a.txt\n";
    let mut settings = f.settings_with("script", f.command_agent("agent", agent));
    settings.config.gates.commands = vec![NOT_BROKEN.into()];
    let breaker = async {
        while f.read_state("agents.log").is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        break_branch(&f, "colony/p");
        std::fs::write(f.state().join("go"), "").unwrap();
    };
    let (report, ()) = tokio::join!(f.run(settings), breaker);

    let halted = report.halted.clone().unwrap_or_default();
    assert!(halted.contains(&format!("gate `{NOT_BROKEN}` already fails on colony/p")), "{halted}");
    let a = f.store.task("a").await.unwrap().unwrap();
    assert_eq!(a.attempts.len(), 1);
    assert_eq!(a.attempts[0].outcome.as_deref(), Some("released"), "{:?}", a.attempts);
    assert_eq!(a.record.task.tries, 0, "the try is not counted");
    assert_eq!(agent_runs(&f), vec!["a"], "b never started");
}
