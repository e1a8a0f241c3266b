//! A full disk, under the store or under the worktrees: new work pauses
//! with a clear message and goes on when there is room again, and nothing
//! is lost or counted against a task.
//!
//! The full place is a small filesystem of its own, a tmpfs that `colony`
//! mounts in a mount namespace of its own (`unshare`), so the test needs
//! no privileges; the test fills it from outside, through the colony
//! process's `/proc/<pid>/root`, and empties it again. The agents wait for
//! the test's word, so the disk is full exactly while they finish.

use std::io::Write;
use std::path::Path;

use crate::background::Background;
use crate::repo::TestRepo;
use crate::run::{FAKE_CONFIG, merges};

/// Mounts a tmpfs on the directory `$1`, sets colony (`$2`) up with its
/// store there, and runs it with the rest of the arguments.
const STORE_ON_TMPFS: &str = r#"dir=$1; colony=$2; shift 2
mount -t tmpfs -o size=16m tmpfs "$dir" || exit 90
"$colony" --store "sqlite:$dir/colony.db" init >/dev/null || exit 91
exec "$colony" --store "sqlite:$dir/colony.db" "$@""#;

/// Mounts a tmpfs on the directory `$1` and runs colony (`$2`) with the
/// rest of the arguments.
const DIR_ON_TMPFS: &str = r#"dir=$1; colony=$2; shift 2
mkdir -p "$dir" && mount -t tmpfs -o size=16m tmpfs "$dir" || exit 90
exec "$colony" "$@""#;

/// `unshare` running `script` with `dir` as its first argument: colony in
/// a mount namespace of its own, `dir` on a tmpfs.
fn in_namespace<'a>(script: &'a str, dir: &'a Path) -> Vec<&'a str> {
    vec!["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", dir.to_str().unwrap()]
}

/// `dir` as the process `pid` sees it, in its mount namespace.
fn seen_by(pid: u32, dir: &Path) -> std::path::PathBuf {
    Path::new(&format!("/proc/{pid}/root")).join(dir.strip_prefix("/").unwrap())
}

/// Fills the tmpfs on `dir` that `run` sees, lets its agents work (the
/// file `release`), waits for colony to say the disk is full (`said[0]`)
/// and for the first attempt of each of `tasks` to have gone one way or
/// the other (a worktree removed frees room, so a later agent may well
/// write), empties it, and waits for colony to say it goes on (`said[1]`).
fn full_while_released(run: &mut Background, dir: &Path, release: &Path, said: [&str; 2], tasks: &[&str]) {
    let filler = seen_by(run.pid(), dir).join("filler");
    fill(&filler);
    std::fs::write(release, "").unwrap();
    run.wait_for_stderr(said[0]);
    let mut left: Vec<&str> = tasks.to_vec();
    while !left.is_empty() {
        let went = run.wait_for_line("a first attempt's end", |line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let ended = words.get(2..4) == Some(&["attempt", "1"][..])
                && matches!(words.get(4), Some(&"released:" | &"checking"));
            ended.then(|| words[1].to_owned())
        });
        left.retain(|t| *t != went);
    }
    std::fs::remove_file(&filler).unwrap();
    run.wait_for_stderr(said[1]);
}

/// A plan of `n` tasks whose agents wait for the file `release`.
fn waiting_plan(name: &str, n: usize, release: &Path) -> String {
    let mut plan = format!("name: {name}\ntasks:\n");
    for i in 0..n {
        plan.push_str(&format!("  - id: t{i}\n    prompt: Do {i}.\n    fake: {{wait_for: {}}}\n", release.display()));
    }
    plan
}

/// Each of `tasks` merged once into `branch`, and no try counted.
fn all_merged_once(repo: &TestRepo, branch: &str, tasks: usize, out: &str) {
    assert!(out.contains(&format!("all {tasks} tasks done")), "{out}");
    let counts = merges(repo, branch);
    assert_eq!(counts.len(), tasks, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
}

/// Writes `path` until the filesystem under it is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match file.write_all(&chunk).and_then(|()| file.sync_data()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => return,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
}

#[test]
fn a_full_disk_under_the_store_pauses_the_run_until_there_is_room() {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    let store_dir = repo.base().join("store");
    std::fs::create_dir(&store_dir).unwrap();
    let release = repo.base().join("release");
    let plan = repo.write_plan("full.yaml", &waiting_plan("full", 4, &release));
    let wrapper = in_namespace(STORE_ON_TMPFS, &store_dir);
    let mut run = Background::spawn(repo.command_under(&wrapper, &["run", &plan, "-j", "2"]));
    run.wait_for("attempt 1 claimed by");
    run.wait_for("attempt 1 claimed by");

    // Both agents are at work; the disk fills before they report back.
    let said =
        ["colony: the disk holding the store is full", "colony: the store can be written again; new work goes on"];
    full_while_released(&mut run, &store_dir, &release, said, &[]);

    let (code, out, err) = run.finish();
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(!out.contains("failed") && !err.contains("transaction depth"), "{out}\n{err}");
    all_merged_once(&repo, "colony/full", 4, &out);
}

#[test]
fn a_full_disk_under_the_worktrees_gives_the_tasks_back_and_waits_for_room() {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    let worktrees = repo.root().join(".colony/worktrees");
    let release = repo.base().join("release");
    let plan = repo.write_plan("room.yaml", &waiting_plan("room", 2, &release));
    let mut run =
        Background::spawn(repo.command_under(&in_namespace(DIR_ON_TMPFS, &worktrees), &["run", &plan, "-j", "2"]));
    run.wait_for("attempt 1 claimed by");
    run.wait_for("attempt 1 claimed by");
    for task in ["t0", "t1"] {
        let mut log = Background::start(&repo, &["logs", task, "-f"]);
        log.wait_for("fake: waiting for");
        log.interrupt();
        log.finish();
    }

    // The agents' writes fail on the full disk: colony's problem, not theirs.
    let said =
        ["colony: the disk holding the worktrees is full", "colony: there is room on the disk again; new work goes on"];
    full_while_released(&mut run, &worktrees, &release, said, &["t0", "t1"]);

    let (code, out, err) = run.finish();
    assert_eq!(code, Some(0), "{out}\n{err}");
    all_merged_once(&repo, "colony/room", 2, &out);
    let events = repo.events();
    let failed: Vec<_> = events.iter().filter(|e| e["type"] == "attempt_failed").collect();
    assert!(failed.is_empty(), "no try was counted: {failed:?}");
    assert!(events.iter().any(|e| e["type"] == "released"), "the stopped attempts were given back");
}
