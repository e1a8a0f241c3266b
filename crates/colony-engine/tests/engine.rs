//! The engine on real repositories, a real SQLite store and real child
//! processes; the agent is a small shell script (test scaffolding) that
//! does what each test needs.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use colony_agents::Shutdown;
use colony_core::TaskStatus;
use colony_engine::{Engine, Settings};
use colony_git::Repo;
use colony_store::{SqlStore, Store, SystemClock};
use common::{Fixture, git};

/// The fixture's settings with `script` as a `command` agent, on three
/// workers.
fn settings(f: &Fixture, script: &str) -> Settings {
    let mut s = f.settings_with("script", f.command_agent("agent", script));
    s.workers = 3;
    s
}

/// Writes out/<task>.txt with the prompt it was given.
const WRITER: &str = "mkdir -p out && cat > \"out/$COLONY_TASK_ID.txt\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dag_runs_to_the_end_and_merges_every_task_once() {
    let f = Fixture::empty().await;
    f.add(&[("a", &[]), ("b", &["a"]), ("c", &["a"]), ("d", &["b", "c"]), ("e", &[])], |_| {}).await;
    let report = f.run(settings(&f, WRITER)).await;
    assert!(report.all_done(), "{report:?}");
    let files = f.files_on("colony/p");
    for t in ["a", "b", "c", "d", "e"] {
        assert!(files.contains(&format!("out/{t}.txt")), "{files:?}");
    }
    // One merge per task on the first-parent line, no more.
    let merges = git(f.repo(), &["rev-list", "--count", "--first-parent", "main..colony/p"]);
    assert_eq!(merges.trim(), "5");
    assert_eq!(f.worktrees(), 1, "only the main tree is left");
    assert_eq!(f.branches(), ["colony/p", "main"], "merged task branches are cleaned");
    assert_eq!(git(f.repo(), &["status", "--porcelain", "--untracked-files=no"]), "", "the user's tree is untouched");
    assert_eq!(git(f.repo(), &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "main");
    let prompt = git(f.repo(), &["show", "colony/p:out/d.txt"]);
    let told = "\n\nThis task builds on work already merged into your branch:\n\n- b: Task b\n  Files it changed: out/b.txt\n\n- c: Task c\n  Files it changed: out/c.txt\n";
    assert!(
        prompt.starts_with(&format!("Do d.{told}\nIf you find work")),
        "d is told what its dependencies changed: {prompt}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_workers_wake_when_an_attempt_ends_not_by_polling() {
    let f = Fixture::empty().await;
    // Each layer becomes ready only when the one before it merges, while
    // the other workers wait with nothing to claim.
    f.add(&[("a", &[]), ("b", &["a"]), ("c", &["a"]), ("d", &["b", "c"]), ("e", &["d"]), ("f", &["d"])], |_| {}).await;
    let mut settings = settings(&f, WRITER);
    settings.workers = 4;
    settings.idle_poll = Duration::from_secs(3600);
    let report = tokio::time::timeout(Duration::from_secs(120), f.run(settings))
        .await
        .expect("a worker slept through the end of an attempt");
    assert!(report.all_done(), "{report:?}");
    assert_eq!(f.files_on("colony/p").len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_changes_fails_and_blocks_dependents_keeping_the_branch() {
    let f = Fixture::empty().await;
    f.add(&[("a", &[]), ("b", &["a"])], |_| {}).await;
    let mut settings = settings(&f, "echo nothing to do\n");
    settings.workers = 1;
    let report = f.run(settings).await;
    assert_eq!(report.failed.len(), 1);
    assert_eq!((report.failed[0].0.as_str(), report.failed[0].1.as_str()), ("a", "no changes"));
    assert_eq!(report.blocked.len(), 1);
    assert_eq!(report.counts.get(TaskStatus::Failed), 1);
    let detail = f.store.task("a").await.unwrap().unwrap();
    assert_eq!(detail.attempts.len(), 3, "retried up to max_attempts");
    assert!(
        f.branches().contains(&"colony-task/p/a-a3".to_owned()),
        "a failed attempt's branch is kept: {:?}",
        f.branches()
    );
    assert_eq!(f.worktrees(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_gate_goes_back_to_the_agent_then_passes() {
    let f = Fixture::empty().await;
    f.add(&[("a", &[])], |_| {}).await;
    // First round writes "bad"; with feedback it writes "good".
    let script = "if [ -n \"$COLONY_FEEDBACK_FILE\" ]; then echo good > v.txt; else echo bad > v.txt; fi\n";
    let mut settings = settings(&f, script);
    // Passes on the branch itself (no v.txt): a gate failing there would
    // stop the run before any agent.
    settings.config.gates.commands =
        vec!["test ! -e v.txt || grep -q good v.txt || { echo 'v.txt is not good'; exit 1; }".into()];
    let report = f.run(settings).await;
    assert!(report.all_done(), "{report:?}");
    assert_eq!(git(f.repo(), &["show", "colony/p:v.txt"]), "good\n");
    let detail = f.store.task("a").await.unwrap().unwrap();
    assert_eq!(detail.attempts.len(), 1, "fixed within the attempt");
    let feedback = std::fs::read_to_string(f.repo().join(".colony/runs/a/a1/feedback.md")).unwrap();
    assert!(feedback.contains("v.txt is not good"), "{feedback}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_that_never_passes_fails_with_its_output() {
    let f = Fixture::empty().await;
    f.add(&[("a", &[])], |t| t.max_attempts = Some(1)).await;
    let mut settings = settings(&f, WRITER);
    settings.config.gates.commands = vec!["test ! -e out || { echo 'tests: 3 failed'; exit 1; }".into()];
    settings.config.gates.max_fix_rounds = 1;
    let report = f.run(settings).await;
    let (_, reason) = &report.failed[0];
    assert!(reason.contains("gate") && reason.contains("tests: 3 failed"), "{reason}");
    assert!(f.files_on("colony/p").iter().all(|p| !p.starts_with("out/")), "nothing of it reached the branch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_agent_times_out_and_the_retry_succeeds() {
    let f = Fixture::empty().await;
    f.add(&[("a", &[])], |_| {}).await;
    // Attempt 1 hangs (with a grandchild); attempt 2 works.
    let script = "if [ \"$COLONY_ATTEMPT\" = 1 ]; then sleep 1000 & sleep 1000; fi\necho done > a.txt\n";
    let mut settings = settings(&f, script);
    settings.config.run.timeout = Duration::from_millis(500);
    let report = f.run(settings).await;
    assert!(report.all_done(), "{report:?}");
    let detail = f.store.task("a").await.unwrap().unwrap();
    assert_eq!(detail.attempts.len(), 2);
    assert!(detail.attempts[0].reason.as_deref().unwrap_or("").contains("timeout"), "{:?}", detail.attempts[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_tasks_get_a_resolver_round() {
    let f = Fixture::empty().await;
    f.add(&[("a", &[]), ("b", &[])], |_| {}).await;
    // Both write the same line; a resolver round takes the union.
    let script = "if [ -n \"$COLONY_FEEDBACK_FILE\" ] && grep -q conflict \"$COLONY_FEEDBACK_FILE\"; then\n\
                  printf 'a\\nb\\n' > shared.txt\nelse echo \"$COLONY_TASK_ID\" > shared.txt; fi\n";
    let mut settings = settings(&f, script);
    settings.workers = 2;
    let report = f.run(settings).await;
    assert!(report.all_done(), "{report:?}");
    assert_eq!(git(f.repo(), &["show", "colony/p:shared.txt"]), "a\nb\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unresolved_conflict_fails_naming_the_paths() {
    let f = Fixture::empty().await;
    f.add(&[("a", &[]), ("b", &[])], |t| t.max_attempts = Some(1)).await;
    // The resolver round leaves the markers where they are.
    let script =
        "if [ -n \"$COLONY_FEEDBACK_FILE\" ]; then echo looking; else echo \"$COLONY_TASK_ID\" > shared.txt; fi\n";
    let mut settings = settings(&f, script);
    settings.workers = 2;
    settings.config.merge.max_resolver_rounds = 1;
    let report = f.run(settings).await;
    assert_eq!(report.counts.get(TaskStatus::Done), 1, "{report:?}");
    let (_, reason) = &report.failed[0];
    assert!(reason.contains("merge conflict") && reason.contains("conflict markers left in shared.txt"), "{reason}");
    let merged = git(f.repo(), &["show", "colony/p:shared.txt"]);
    assert!(!merged.contains("<<<<<<<"), "no markers reach the branch: {merged}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_name_agents_and_unknown_ones_fail_clearly() {
    let f = Fixture::empty().await;
    f.add(&[("a", &[])], |t| {
        t.agent = Some("nobody".into());
        t.max_attempts = Some(1);
    })
    .await;
    let report = f.run(settings(&f, WRITER)).await;
    let (_, reason) = &report.failed[0];
    assert!(reason.contains("agent `nobody`") && reason.contains("script"), "{reason}");
}

/// What a colony killed with SIGKILL leaves: a claimed task whose worker
/// process is gone, its agent's process group still running, a daemon the
/// agent started in a session of its own (carrying the dead colony's tag),
/// the merge lock, and its worktree. The next run stops the group and the
/// daemon, takes the task back and frees the lock at once, removes the
/// worktree, and finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_run_recovers_what_a_killed_one_left() {
    use std::os::unix::process::CommandExt;
    let f = Fixture::empty().await;
    f.add(&[("a", &[]), ("b", &["a"])], |_| {}).await;
    let dead_pid = {
        let mut child = Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        child.id()
    };
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_owned();
    let claim = f.store.claim(&format!("{host}:{dead_pid}:0"), Duration::from_secs(3600)).await.unwrap().unwrap();
    let mut orphan = Command::new("sleep").arg("1000").process_group(0).spawn().unwrap();
    let pgid = orphan.id() as i64;
    let mut daemon = Command::new("setsid")
        .args(["sleep", "1000"])
        .env(colony_agents::TAG_VAR, format!("{dead_pid}-00000000000000ff-3"))
        .spawn()
        .unwrap();
    let boot = colony_agents::boot_id().unwrap();
    f.store.record_process(&claim.task, claim.attempt, pgid, &boot).await.unwrap();
    // It died holding the merge lock, taken for an hour: the new run must
    // free it, or its merge would wait that long.
    let holder = format!("{host}:{dead_pid}:0/a-a1");
    assert!(f.store.try_lock("merge", &holder, Duration::from_secs(3600)).await.unwrap());
    let leftover = f.repo().join(".colony/worktrees/a-a1");
    git(f.repo(), &["worktree", "add", "-q", "-b", "colony-task/p/a-a1", leftover.to_str().unwrap()]);

    let report = f.run(settings(&f, WRITER)).await;
    assert!(report.all_done(), "{report:?}");
    assert!(report.recovered.iter().any(|n| n.contains("stopped the agent processes of a")), "{:?}", report.recovered);
    assert!(report.recovered.iter().any(|n| n.contains("leftover worktree")), "{:?}", report.recovered);
    let status = orphan.wait().unwrap();
    assert!(!status.success(), "the orphaned agent was killed: {status:?}");
    let ended = daemon.try_wait().unwrap();
    if ended.is_none() {
        daemon.kill().unwrap();
    }
    assert!(ended.is_some_and(|s| !s.success()), "the daemon outside the group was killed: {ended:?}");
    assert!(report.recovered.iter().any(|n| n.contains("stopped 1 process the dead run")), "{:?}", report.recovered);
    let detail = f.store.task("a").await.unwrap().unwrap();
    assert_eq!(detail.attempts[0].outcome.as_deref(), Some("released"), "colony's death costs no try");
    assert_eq!(detail.record.task.tries, 1, "only the attempt that merged counts");
    assert_eq!(f.worktrees(), 1);
    assert_eq!(f.branches(), ["colony/p", "main"], "the dead attempt's branch goes with its worktree");
}

/// A colony process of this host that dies while this run goes on (a
/// `colony worker` beside a `colony run`): the rescuer takes its task
/// back, this run merges it, and the dead attempt's branch goes then, not
/// at some later run's start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_left_by_a_process_that_died_mid_run_goes_when_its_task_merges() {
    let f = Fixture::empty().await;
    f.add(&[("a", &[]), ("x", &[])], |_| {}).await;
    // x holds the run open until a is done.
    let script = "if [ \"$COLONY_TASK_ID\" = x ]; then while [ ! -e \"$STATE/go\" ]; do sleep 0.02; done; fi\n\
                  mkdir -p out && cat > \"out/$COLONY_TASK_ID.txt\"\n";
    let mut settings = settings(&f, script);
    settings.workers = 2;
    settings.config.run.lease = Duration::from_secs(2);
    // a's holder: a colony process of this host, alive when the run
    // starts (so its start takes nothing back), dead once it is going.
    let mut holder = Command::new("sleep").arg("1000").spawn().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_owned();
    let claim = f.store.claim(&format!("{host}:{}:0", holder.id()), Duration::from_secs(3600)).await.unwrap().unwrap();
    assert_eq!(claim.task.as_str(), "a");
    git(f.repo(), &["branch", "colony-task/p/a-a1", "main"]);
    let release = async {
        while f.store.task("x").await.unwrap().unwrap().attempts.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        holder.kill().unwrap();
        holder.wait().unwrap();
        while f.store.task("a").await.unwrap().unwrap().record.task.status() != colony_core::TaskStatus::Done {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        std::fs::write(f.state().join("go"), "").unwrap();
    };
    let (report, ()) = tokio::join!(f.run(settings), release);
    assert!(report.all_done(), "{report:?}");
    let detail = f.store.task("a").await.unwrap().unwrap();
    assert_eq!(detail.attempts[0].outcome.as_deref(), Some("released"));
    assert_eq!(f.branches(), ["colony/p", "main"]);
}

/// An attempt that waits to merge while its lease is taken (a paused
/// machine, say) must not move the integration branch when its turn
/// comes: the task is another attempt's now, which may have merged it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_whose_lease_was_taken_while_it_waited_to_merge_moves_nothing() {
    let f = Fixture::empty().await;
    f.add(&[("a", &[])], |spec| spec.max_attempts = Some(20)).await;
    f.hold_merge_lock().await;
    // Each attempt writes its own number: two never make the same commit.
    let mut settings = settings(&f, "echo \"$COLONY_ATTEMPT\" > a.txt\n");
    // Its own heartbeat would notice only after 20 s: the merge must.
    // Whether attempt 1's turn comes before the task is attempt 3's or
    // after, it must not merge.
    settings.config.run.lease = Duration::from_secs(60);
    let (report, (held, first)) = tokio::join!(f.run(settings), f.take_over_while_merging("a", 1));
    assert!(report.all_done(), "{report:?}");
    assert!(!f.merged_into(&first, "colony/p"), "attempt 1 moved the branch after its lease was taken");
    let detail = f.store.task("a").await.unwrap().unwrap();
    assert_eq!(detail.attempts.len() as u32, held + 1, "the attempt after the other worker's merged");
    let merges = git(f.repo(), &["rev-list", "--count", "--first-parent", "main..colony/p"]);
    assert_eq!(merges.trim(), "1");
}

/// Two engines on one store at once (each with its own connection pool and
/// repository handle) both finish, and every task is merged exactly once.
/// Separate processes are tested through the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_on_one_store_share_the_work() {
    let f = Fixture::empty().await;
    let ids: Vec<String> = (0..12).map(|i| format!("t{i}")).collect();
    let tasks: Vec<(&str, &[&str])> = ids.iter().map(|t| (t.as_str(), &[][..])).collect();
    f.add(&tasks, |_| {}).await;
    let second =
        Arc::new(SqlStore::open_sqlite(&f.repo().join(".colony/colony.db"), Arc::new(SystemClock)).await.unwrap());
    let repo_a = Repo::open(f.repo()).unwrap();
    let repo_b = Repo::open(f.repo()).unwrap();
    let (mut sa, mut sb) = (settings(&f, WRITER), settings(&f, WRITER));
    sa.workers = 2;
    sb.workers = 2;
    let a = Engine::new(f.store.clone(), repo_a, sa);
    let b = Engine::new(second, repo_b, sb);
    let (ra, rb) = tokio::join!(a.run(Shutdown::new()), b.run(Shutdown::new()));
    assert!(ra.unwrap().all_done() && rb.unwrap().all_done());
    let merges = git(f.repo(), &["rev-list", "--count", "--first-parent", "main..colony/p"]);
    assert_eq!(merges.trim(), "12", "one merge per task");
    assert_eq!(f.worktrees(), 1);
}

/// Fix and resolver rounds are events, so progress can show them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_rounds_are_recorded_as_events() {
    let f = Fixture::empty().await;
    f.add(&[("a", &[])], |_| {}).await;
    let script = "if [ -n \"$COLONY_FEEDBACK_FILE\" ]; then echo good > v.txt; else echo bad > v.txt; fi\n";
    let mut settings = settings(&f, script);
    settings.config.gates.commands = vec!["test ! -e v.txt || grep -q good v.txt".into()];
    assert!(f.run(settings).await.all_done());
    let rounds: Vec<String> = f
        .store
        .task("a")
        .await
        .unwrap()
        .unwrap()
        .events
        .iter()
        .filter(|e| e.kind.name() == "feedback_round")
        .map(|e| e.kind.summary())
        .collect();
    assert_eq!(rounds, ["attempt 1 fix round 1: gate `test ! -e v.txt || grep -q good v.txt` failed"]);
}

/// Eight workers adding and removing worktrees at once: git's worktree
/// commands trip over each other's half-written entries unless colony
/// queues them, and a failed remove used to leave its worktree behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_workers_leave_no_worktree_behind() {
    let f = Fixture::empty().await;
    let ids: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
    let tasks: Vec<(&str, &[&str])> = ids.iter().map(|t| (t.as_str(), &[][..])).collect();
    f.add(&tasks, |_| {}).await;
    let mut settings = settings(&f, WRITER);
    settings.workers = 8;
    let report = f.run(settings).await;
    assert!(report.all_done(), "{report:?}");
    assert_eq!(f.worktrees(), 1, "only the main tree is left");
    assert_eq!(f.branches(), ["colony/p", "main"]);
}

/// An agent that commits its own work leaves nothing for colony to commit;
/// that is work done, not "no changes".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_commits_by_itself_is_merged() {
    let f = Fixture::empty().await;
    f.add(&[("a", &[])], |_| {}).await;
    let script =
        "echo mine > mine.txt && git add mine.txt && git -c user.name=A -c user.email=a@x commit -qm 'agent commit'\n";
    let report = f.run(settings(&f, script)).await;
    assert!(report.all_done(), "{report:?}");
    assert_eq!(git(f.repo(), &["show", "colony/p:mine.txt"]), "mine\n");
}
