//! `[worktree]`: what a fresh worktree gets before its agent starts —
//! files git ignores copied from the main checkout, links to what is
//! shared, the setup commands, and the project's environment — on real
//! repositories, a real SQLite store and real child processes.

mod common;

use colony_core::TaskStatus;
use colony_core::record::{GateEnd, Record};
use colony_store::Store;

use common::{Fixture, git};

/// Writes out/<task>.txt from the prompt.
const WRITE: &str = "mkdir -p out && cat > \"out/$COLONY_TASK_ID.txt\"\n";

/// A gate that passes only with the main checkout's `.env`.
const READS_ENV: &str = "grep -q '^TOKEN=local$' .env || { echo 'no .env with TOKEN'; exit 1; }";

/// Plan `p` of `tasks`, each given one attempt, on a repository whose
/// `.gitignore` (committed) ignores `ignored`.
async fn fixture(tasks: &[&str], ignored: &[&str]) -> Fixture {
    let f = Fixture::empty().await;
    f.add(&tasks.iter().map(|t| (*t, &[][..])).collect::<Vec<_>>(), |spec| spec.max_attempts = Some(1)).await;
    std::fs::write(f.repo().join(".gitignore"), ignored.join("\n") + "\n").unwrap();
    git(f.repo(), &["add", ".gitignore"]);
    git(f.repo(), &["commit", "-qm", "ignore"]);
    f
}

/// A `.env` the project's gate reads, ignored by git as it usually is.
async fn with_env_file() -> Fixture {
    let f = fixture(&["a"], &[".env"]).await;
    std::fs::write(f.repo().join(".env"), "TOKEN=local\n").unwrap();
    f
}

/// An agent that writes its task's file, and the gate that reads `.env`,
/// with no fix round.
fn gated_on_env(f: &Fixture) -> colony_engine::Settings {
    let mut settings = f.settings(WRITE, false);
    settings.config.gates.commands = vec![READS_ENV.into()];
    settings.config.gates.max_fix_rounds = 0;
    settings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_copy_a_gate_needing_an_ignored_file_fails_on_the_branch_itself_and_no_agent_runs() {
    let f = with_env_file().await;
    let report = f.run(gated_on_env(&f)).await;
    let halted = report.halted.clone().unwrap_or_default();
    assert!(halted.contains("already fails on colony/p") && halted.contains("no .env with TOKEN"), "{report:?}");
    assert_eq!(report.counts.get(TaskStatus::Ready), 1, "{report:?}");
    assert!(f.store.task("a").await.unwrap().unwrap().attempts.is_empty(), "no agent ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copied_files_reach_the_worktree_and_never_the_integration_branch() {
    let f = with_env_file().await;
    let mut settings = gated_on_env(&f);
    settings.config.worktree.copy = vec![".env".into(), "*.key".into()];
    let report = f.run(settings).await;
    assert!(report.all_done(), "{report:?}");
    let files = f.files_on("colony/p");
    assert!(files.contains(&"out/a.txt".to_owned()) && !files.contains(&".env".to_owned()), "{files:?}");
    let log = f.log("a", 1);
    assert!(log.contains("[worktree] copy `*.key` matches nothing in the main checkout"), "{log}");
    assert!(log.contains("[worktree] from the main checkout: copy `.env`"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_is_a_symlink_to_the_main_checkout() {
    let f = fixture(&["a"], &["node_modules/"]).await;
    std::fs::create_dir_all(f.repo().join("node_modules/.cache")).unwrap();
    std::fs::write(f.repo().join("node_modules/.cache/hit"), "cached\n").unwrap();
    let script = format!(
        "if [ -L node_modules/.cache ]; then readlink node_modules/.cache > \"$STATE/link\"; fi\n\
         cat node_modules/.cache/hit > \"$STATE/hit\"\n{WRITE}"
    );
    let mut settings = f.settings(&script, false);
    settings.config.worktree.link = vec!["node_modules/.cache".into()];
    let report = f.run(settings).await;
    assert!(report.all_done(), "{report:?}");
    let target = std::path::PathBuf::from(f.read_state("link").trim());
    assert_eq!(target, f.repo().join("node_modules/.cache"), "a symlink to the main checkout's path");
    assert_eq!(f.read_state("hit"), "cached\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_runs_before_the_agent_with_its_output_in_typed_records() {
    let f = fixture(&["a"], &[".ready"]).await;
    let setup = "echo installing dependencies; echo done > .ready";
    let script = format!("cat .ready > \"$STATE/ready\"\n{WRITE}");
    let mut settings = f.settings(&script, false);
    settings.config.worktree.setup = vec![setup.into()];
    let report = f.run(settings).await;
    assert!(report.all_done(), "{report:?}");
    assert_eq!(f.read_state("ready"), "done\n", "the agent saw what setup made");
    let records = f.records("a", 1);
    let began = records.iter().position(|r| matches!(r, Record::Began { .. })).unwrap();
    assert_eq!(records[began + 1], Record::Setup { command: setup.into() });
    assert_eq!(
        records[began + 2],
        Record::SetupEnded { command: setup.into(), end: GateEnd::Exited { code: 0 }, tail: vec![] }
    );
    let log = f.log("a", 1);
    assert!(log.contains("installing dependencies"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_setup_fails_the_attempt_without_an_agent_and_twice_halts_new_work() {
    let f = fixture(&["a", "b", "c"], &[]).await;
    let setup = "echo 'npm ERR! missing lockfile'; exit 3";
    let mut settings = f.settings(&format!("echo ran >> \"$STATE/runs\"\n{WRITE}"), false);
    settings.config.worktree.setup = vec![setup.into()];
    let report = f.run(settings).await;
    assert_eq!(f.read_state("runs"), "", "no agent ran");
    assert_eq!(report.counts.get(TaskStatus::Failed), 2, "{report:?}");
    assert_eq!(report.counts.get(TaskStatus::Ready), 1, "the third task was not started: {report:?}");
    for (_, reason) in &report.failed {
        assert_eq!(reason, &format!("setup `{setup}` failed:\nnpm ERR! missing lockfile"));
    }
    let why = report.halted.clone().expect("the same setup failing twice halts the run");
    assert!(why.contains(&format!("setup command `{setup}` failed for 2 attempts in a row")), "{why}");
    let task = &report.failed[0].0;
    let ended = Record::SetupEnded {
        command: setup.into(),
        end: GateEnd::Exited { code: 3 },
        tail: vec!["npm ERR! missing lockfile".into()],
    };
    assert!(f.records(task.as_str(), 1).contains(&ended));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projects_env_reaches_setup_the_agent_and_the_gates() {
    let f = fixture(&["a"], &[]).await;
    let seen = f.state().join("seen");
    let note = |who: &str| format!("echo \"{who}:$MODE\" >> '{}'", seen.display());
    let mut settings = f.settings(&format!("{}\n{WRITE}", note("agent")), false);
    settings.config.worktree.env = [("MODE".to_owned(), "colony-test".to_owned())].into();
    settings.config.worktree.setup = vec![note("setup")];
    settings.config.gates.commands = vec![note("gate")];
    let report = f.run(settings).await;
    assert!(report.all_done(), "{report:?}");
    let seen = f.read_state("seen");
    for who in ["setup", "agent", "gate"] {
        assert!(seen.contains(&format!("{who}:colony-test\n")), "{who}: {seen}");
    }
}

/// Counts its runs in `$STATE/setups` and installs `deps/lib.txt` from
/// the lockfile, as `npm ci` would `node_modules`.
fn counting_setup(f: &Fixture) -> String {
    let runs = f.state().join("setups");
    format!("echo run >> '{}'; mkdir -p deps && echo \"lib $(cat package-lock.json)\" > deps/lib.txt", runs.display())
}

/// Plan `p` of a chain of `tasks`, each after the one before, on a
/// repository with a lockfile and `deps/` ignored; the agent keeps what
/// it found in `deps/` and task `b` changes the lockfile.
async fn chain(tasks: &[&str], reuse: bool) -> (Fixture, colony_engine::Settings) {
    let f = Fixture::empty().await;
    let deps: Vec<Vec<&str>> = (0..tasks.len()).map(|i| tasks[..i].iter().rev().take(1).copied().collect()).collect();
    let plan: Vec<(&str, &[&str])> = tasks.iter().zip(&deps).map(|(t, d)| (*t, d.as_slice())).collect();
    f.add(&plan, |spec| spec.max_attempts = Some(1)).await;
    std::fs::write(f.repo().join(".gitignore"), "deps/\n").unwrap();
    std::fs::write(f.repo().join("package-lock.json"), "v1\n").unwrap();
    git(f.repo(), &["add", "."]);
    git(f.repo(), &["commit", "-qm", "lockfile"]);
    let script = format!(
        "cat deps/lib.txt > \"$STATE/deps-$COLONY_TASK_ID\"\n\
         if [ \"$COLONY_TASK_ID\" = b ]; then echo v2 > package-lock.json; fi\n{WRITE}"
    );
    let mut settings = f.settings(&script, false);
    settings.config.worktree.setup = vec![counting_setup(&f)];
    settings.config.worktree.reuse_setup = reuse;
    (f, settings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_setup_is_copied_into_the_next_worktree_until_the_lockfile_changes() {
    let (f, settings) = chain(&["a", "b", "c"], true).await;
    let report = f.run(settings).await;
    assert!(report.all_done(), "{report:?}");
    assert_eq!(f.read_state("setups"), "run\nrun\n", "setup ran for a, and for c after b changed the lockfile");
    assert_eq!(f.read_state("deps-a"), "lib v1\n");
    assert_eq!(f.read_state("deps-b"), "lib v1\n", "b got a's deps/ without running setup");
    assert_eq!(f.read_state("deps-c"), "lib v2\n", "c's setup installed from the new lockfile");

    let kept = f.records("a", 1).into_iter().find_map(|r| match r {
        Record::SetupKept { key, files } => Some((key, files)),
        _ => None,
    });
    let (key, files) = kept.expect("a's setup was kept");
    assert_eq!(files, 1);
    let reused = Record::SetupReused { key: key.clone(), files: 1, commands: vec![counting_setup(&f)] };
    let b = f.records("b", 1);
    assert!(b.contains(&reused), "{b:?}");
    assert!(!b.iter().any(|r| matches!(r, Record::Setup { .. })), "b ran no setup command: {b:?}");
    let c = f.records("c", 1);
    assert!(c.iter().any(|r| matches!(r, Record::SetupKept { key: other, .. } if *other != key)), "{c:?}");
    assert!(f.repo().join(".colony/setup-cache").join(&key).join("tree/deps/lib.txt").is_file());
    assert!(!f.files_on("colony/p").iter().any(|p| p.starts_with("deps/")), "what setup made is never committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_reuse_setup_runs_in_every_worktree() {
    let (f, settings) = chain(&["a", "b"], false).await;
    let report = f.run(settings).await;
    assert!(report.all_done(), "{report:?}");
    assert_eq!(f.read_state("setups"), "run\nrun\n");
    assert_eq!(f.read_state("deps-b"), "lib v1\n");
    assert!(!f.repo().join(".colony/setup-cache").exists());
}
