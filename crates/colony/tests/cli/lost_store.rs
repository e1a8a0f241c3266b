//! A store that lost its contents (a full disk, a bad copy) is never taken
//! for a new one, and a store started afresh on purpose never merges again
//! what the integration branch already holds.

use crate::repo::TestRepo;
use crate::run::{FAKE_CONFIG, dag, merges};

/// A repository whose 6-task plan has run to the end.
fn after_a_run() -> (TestRepo, String) {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    let plan = repo.write_plan("lost.yaml", &dag("lost", 6));
    let out = repo.stdout(&["run", "-q", &plan], 0);
    assert!(out.contains("all 6 tasks done"), "{out}");
    (repo, plan)
}

/// The store's file as a bad copy leaves it: 0 bytes, no write-ahead log.
fn empty_the_store(repo: &TestRepo) {
    std::fs::write(repo.db(), b"").unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", repo.db().display()));
    }
}

#[test]
fn an_emptied_store_is_refused_where_colony_has_run_and_nothing_changes() {
    let (repo, plan) = after_a_run();
    let tip = repo.git_out(&["rev-parse", "colony/lost"]);
    empty_the_store(&repo);

    for args in [&["status"][..], &["run", &plan], &["list"], &["init"]] {
        let err = repo.stderr(args, 1);
        assert!(
            err.contains(
                "the store sqlite:.colony/colony.db is empty (0 bytes), but colony has run in this repository"
            ),
            "colony {args:?}: {err}"
        );
        assert!(
            err.contains(".colony/runs holds the attempts of 6 tasks") && err.contains("branch colony/lost"),
            "{err}"
        );
        assert!(err.contains("Nothing was changed. Put a copy of the store back"), "{err}");
        assert_eq!(std::fs::metadata(repo.db()).unwrap().len(), 0, "colony {args:?} left the file alone");
    }
    assert_eq!(repo.git_out(&["rev-parse", "colony/lost"]), tip, "nothing merged again");
}

#[test]
fn an_empty_store_where_colony_never_ran_says_to_set_it_up() {
    let repo = TestRepo::initialized();
    std::fs::write(repo.db(), b"").unwrap();
    let err = repo.stderr(&["status"], 1);
    assert!(
        err.contains("the store sqlite:.colony/colony.db is empty (0 bytes); set it up with `colony init`"),
        "{err}"
    );
    repo.colony(&["init"]).success();
    repo.stdout(&["status"], 0);
}

#[test]
fn a_store_started_afresh_never_merges_again_what_the_branch_holds() {
    let (repo, plan) = after_a_run();
    std::fs::rename(repo.db(), repo.root().join("old.db")).unwrap();
    repo.colony(&["init"]).success();

    let out = repo.stdout(&["run", "-q", &plan], 0);
    assert!(out.contains("all 6 tasks done"), "{out}");
    let counts = merges(&repo, "colony/lost");
    assert_eq!(counts.len(), 6, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "each task merged once: {counts:?}");
    let logs = repo.stdout(&["logs", "t03"], 0);
    assert!(logs.contains("colony/lost has this task's merge already"), "{logs}");
}

#[test]
fn a_task_changed_and_forced_after_its_merge_merges_again() {
    let (repo, plan) = after_a_run();
    let changed = dag("lost", 6).replace("prompt: Do task 5.", "prompt: Do task 5 again, differently.");
    repo.write_plan("lost.yaml", &changed);
    repo.colony(&["add", "--force", &plan]).success();

    let out = repo.stdout(&["run", "-q", &plan], 0);
    assert!(out.contains("all 6 tasks done"), "{out}");
    assert_eq!(merges(&repo, "colony/lost").get("Merge task t05: Task 5"), Some(&2), "the new version merged too");
    let prompt = repo.git_out(&["show", "colony/lost:colony-fake/t05.txt"]);
    assert_eq!(prompt.lines().next(), Some("Do task 5 again, differently."), "{prompt}");
}
