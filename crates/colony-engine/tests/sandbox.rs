//! Agents and gates confined to their worktree, for real (the kernel must
//! have Landlock): every write outside it is refused, an agent's and a
//! gate's, and noted in the attempt's log, while the task's own work, its own commits included,
//! still merges; without TCP a gate cannot reach a listener.

mod common;

use std::net::TcpListener;
use std::path::Path;

use colony_agents::sandbox::{NET_ABI, Places, Sandbox, probe};
use colony_core::record::Record;
use colony_engine::Settings;
use common::{Fixture, git};

/// A sandbox whose home and temp dir are the test's own, so that neither
/// holds the repository (which lives in the system's temp dir).
fn sandbox(home: &Path, temp: &Path, deny_tcp: bool) -> Sandbox {
    let places = Places { home: Some(home.to_owned()), temp: temp.to_owned(), xdg_cache: None, xdg_state: None };
    Sandbox::new(&places, &[], deny_tcp)
}

/// What the user would see of the main checkout: its status, its files'
/// contents, and its refs other than colony's.
fn main_checkout(repo: &Path) -> (String, Vec<(String, Vec<u8>)>, String) {
    let status = git(repo, &["status", "--porcelain", "--ignored"]);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(repo).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    files.sort();
    let refs = git(repo, &["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/main", "refs/tags"]);
    (status, files, refs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_writes_only_in_its_worktree_and_its_work_still_merges() {
    let f = Fixture::new(&["a", "b"]).await;
    let (home, temp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let repo = f.repo();
    // Task a tries every write once b's worktree is there (the temp dir,
    // which both may write, tells b when it has); then both do their own
    // work and commit it themselves.
    let script = format!(
        "wait_for() {{ n=0; while [ ! -e \"$1\" ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n+1)); done; }}\n\
         if [ \"$COLONY_TASK_ID\" = a ]; then\n\
           wait_for ../b-a1/.git\n\
           for target in ../../outside '{home}/x' '{repo}/README.md' '{repo}/new' ../b-a1/x \\\n\
             '{repo}/.git/refs/heads/evil' '{repo}/.git/config'; do\n\
             (echo bad >> \"$target\") 2>&1 || true\n\
           done\n\
           echo done > '{temp}/a-tried'\n\
         else\n\
           wait_for '{temp}/a-tried'\n\
         fi\n\
         echo work > \"own-$COLONY_TASK_ID.txt\" && git add . && git commit -qm \"$COLONY_TASK_ID's own commit\" 2>&1\n",
        home = home.path().display(),
        repo = repo.display(),
        temp = temp.path().display(),
    );
    let before = main_checkout(repo);

    let mut settings: Settings = f.settings_with("script", f.command_agent("agent", &script));
    settings.workers = 2;
    settings.sandbox = Some(sandbox(home.path(), temp.path(), false));
    // Gates run in the same sandbox; this one only tries.
    let gate = repo.join("gate-was-here");
    settings.config.gates.commands = vec![format!("(echo gate > '{}') 2>&1; true", gate.display())];
    let report = f.run(settings).await;

    assert!(report.all_done(), "{report:?}\n{}", f.log("a", 1));
    let files = f.files_on("colony/p");
    assert!(files.contains(&"own-a.txt".to_owned()) && files.contains(&"own-b.txt".to_owned()), "{files:?}");
    assert!(!files.contains(&"x".to_owned()), "nothing of a's got into b's worktree: {files:?}");
    let subjects = git(repo, &["log", "--format=%s", "colony/p"]);
    assert!(subjects.contains("a's own commit") && subjects.contains("b's own commit"), "{subjects}");
    assert_eq!(main_checkout(repo), before, "the main checkout is byte-identical");
    assert!(!repo.join(".colony/outside").exists());
    assert!(!home.path().join("x").exists());
    assert_eq!(std::fs::read_to_string(temp.path().join("a-tried")).unwrap(), "done\n", "the temp dir is writable");

    let notes: Vec<String> = f
        .records("a", 1)
        .into_iter()
        .filter_map(|r| match r {
            Record::Note { text } if text.starts_with("the sandbox refused a write") => Some(text),
            _ => None,
        })
        .collect();
    let other = repo.join(".colony/worktrees/b-a1/x");
    assert!(!gate.exists(), "the gate was refused too");
    for path in [repo.join(".colony/outside"), home.path().join("x"), repo.join("README.md"), other, gate] {
        let named = format!("refused a write to {}", path.display());
        assert!(notes.iter().any(|n| n.contains(&named)), "{named} in {notes:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tcp_a_gate_cannot_reach_a_listener() {
    assert!(probe() >= NET_ABI, "this test needs Landlock ABI {NET_ABI} or later");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let gate = format!("bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'");
    let (home, temp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut ends = Vec::new();
    for deny_tcp in [false, true] {
        let f = Fixture::new(&["a"]).await;
        let mut settings = f.settings_with("script", f.command_agent("agent", "echo work > own.txt\n"));
        settings.config.gates.commands = vec![gate.clone()];
        settings.config.gates.max_fix_rounds = 0;
        settings.config.run.max_attempts = 1;
        settings.sandbox = Some(sandbox(home.path(), temp.path(), deny_tcp));
        let report = f.run(settings).await;
        ends.push(report.all_done());
        // Denied, the gate fails on the integration branch itself already,
        // which the run checks before any agent (`baseline.rs`).
        let halted = report.halted.clone().unwrap_or_default();
        assert_eq!(halted.contains("already fails on colony/p") && halted.contains("Permission denied"), deny_tcp);
    }
    assert_eq!(ends, [true, false], "the gate connects when allowed, and fails when denied");
}
