//! The merge queue's plumbing on real repositories: candidates, the
//! compare-and-swap on the integration ref, and bringing the integration
//! tip into a task's worktree.

mod common;

use std::sync::{Arc, Barrier};

use colony_git::{BringIn, Candidate, CasOutcome, GitError, MergeOutcome, MergeResult, Oid};
use common::{TestRepo, git_in, write_in};

const INTEGRATION: &str = "refs/heads/colony/plan";

/// A repository with `colony/plan` created from `main`.
fn with_integration() -> TestRepo {
    let t = TestRepo::new();
    t.repo().create_branch("colony/plan", "main").unwrap();
    t
}

fn parents(t: &TestRepo, commit: &Oid) -> Vec<String> {
    t.git(&["show", "-s", "--format=%P", commit.as_str()])
        .split(' ')
        .map(str::to_owned)
        .collect()
}

#[test]
fn clean_merge_builds_a_two_parent_commit_and_moves_the_ref() {
    let t = with_integration();
    let before = t.main_state();
    let other = t.commit_on("colony/plan", &[("other.txt", "o\n")], "Other task");
    let task = t.commit_on("colony-task/a", &[("a.txt", "a\n")], "Task a");
    let repo = t.repo();

    let result = repo
        .merge_into(INTEGRATION, &task, "Merge task a", None)
        .unwrap();
    let MergeResult::Merged {
        commit,
        fast_forward: false,
    } = result
    else {
        panic!("expected a merge commit, got {result:?}");
    };
    assert_eq!(t.oid("colony/plan"), commit);
    assert_eq!(parents(&t, &commit), [other.to_string(), task.to_string()]);
    assert_eq!(repo.commit_subject(&commit).unwrap(), "Merge task a");
    let files = t.git(&["ls-tree", "--name-only", "colony/plan"]);
    assert_eq!(files, "README.md\na.txt\nother.txt");
    assert_eq!(t.main_state(), before, "the user's checkout is not touched");
}

#[test]
fn fast_forward_when_the_task_contains_the_integration_tip() {
    let t = with_integration();
    let task = t.commit_on("colony-task/a", &[("a.txt", "a\n")], "Task a");
    let repo = t.repo();

    let tip = t.oid("colony/plan");
    let candidate = repo.merge_candidate(&tip, &task, "unused", None).unwrap();
    assert_eq!(
        candidate,
        Candidate::Ready {
            commit: task.clone(),
            fast_forward: true
        }
    );
    let result = repo.advance(INTEGRATION, candidate, &tip).unwrap();
    assert_eq!(
        result,
        MergeResult::Merged {
            commit: task.clone(),
            fast_forward: true
        }
    );
    assert_eq!(t.oid("colony/plan"), task);
}

#[test]
fn conflict_names_paths_and_both_sides_subjects() {
    let t = with_integration();
    t.commit_on(
        "colony/plan",
        &[("README.md", "integration\n"), ("shared.txt", "i\n")],
        "Rewrite readme on integration",
    );
    t.commit_on(
        "colony/plan",
        &[("unrelated.txt", "u\n")],
        "Unrelated change",
    );
    t.commit_on(
        "colony-task/a",
        &[("README.md", "task\n"), ("shared.txt", "t\n")],
        "Rewrite readme in task",
    );
    let task = t.oid("colony-task/a");
    let tip = t.oid("colony/plan");
    let repo = t.repo();

    let MergeOutcome::Conflict {
        paths, messages, ..
    } = repo.merge_tree(&tip, &task).unwrap()
    else {
        panic!("expected a conflict");
    };
    assert_eq!(paths, ["README.md", "shared.txt"]);
    assert!(messages.iter().any(|m| m.kind.starts_with("CONFLICT")));

    let result = repo
        .merge_into(INTEGRATION, &task, "Merge a", None)
        .unwrap();
    let MergeResult::Conflict(conflict) = result else {
        panic!("expected a conflict, got {result:?}");
    };
    assert_eq!(conflict.paths, ["README.md", "shared.txt"]);
    assert_eq!(
        conflict.integration_subjects,
        ["Rewrite readme on integration"]
    );
    assert_eq!(conflict.task_subjects, ["Rewrite readme in task"]);
    assert_eq!(conflict.messages.len(), 2, "{:?}", conflict.messages);
    assert!(conflict.messages[0].contains("README.md"));
    assert_eq!(t.oid("colony/plan"), tip, "a conflict moves nothing");
}

#[test]
fn an_already_merged_task_is_not_merged_again() {
    let t = with_integration();
    t.commit_on("colony/plan", &[("other.txt", "o\n")], "Other task");
    let task = t.commit_on("colony-task/a", &[("a.txt", "a\n")], "Task a");
    let repo = t.repo();

    let first = repo
        .merge_into(INTEGRATION, &task, "Merge a", None)
        .unwrap();
    assert!(matches!(first, MergeResult::Merged { .. }));
    let tip = t.oid("colony/plan");

    // A restarted run tries the same merge again.
    let again = repo
        .merge_into(INTEGRATION, &task, "Merge a", None)
        .unwrap();
    assert_eq!(again, MergeResult::AlreadyMerged);
    assert_eq!(t.oid("colony/plan"), tip);
}

#[test]
fn cas_refuses_a_stale_old_value_and_leaves_the_ref_where_the_other_writer_put_it() {
    let t = with_integration();
    let old = t.oid("colony/plan");
    let theirs = t.commit_on("colony/plan", &[("b.txt", "b\n")], "Another writer");
    let ours = t.commit_on("colony-task/a", &[("a.txt", "a\n")], "Task a");
    let repo = t.repo();

    let outcome = repo.update_ref_cas(INTEGRATION, &ours, &old).unwrap();
    assert_eq!(
        outcome,
        CasOutcome::Stale {
            actual: Some(theirs.clone())
        }
    );
    assert_eq!(t.oid("colony/plan"), theirs);

    assert_eq!(
        repo.update_ref_cas(INTEGRATION, &ours, &theirs).unwrap(),
        CasOutcome::Moved
    );
    assert_eq!(t.oid("colony/plan"), ours);
}

#[test]
fn update_ref_cas_refuses_a_branch_checked_out_in_a_worktree() {
    let t = with_integration();
    let tip = t.oid("colony/plan");
    let task = t.commit_on("colony-task/a", &[("a.txt", "a\n")], "Task a");
    let path = t.worktree_path("looking");
    t.git(&[
        "worktree",
        "add",
        "--quiet",
        path.to_str().unwrap(),
        "colony/plan",
    ]);

    let err = t
        .repo()
        .merge_into(INTEGRATION, &task, "Merge a", None)
        .unwrap_err();
    assert!(matches!(err, GitError::RefCheckedOut { .. }), "{err:?}");
    assert_eq!(t.oid("colony/plan"), tip);
}

#[test]
fn update_ref_cas_requires_a_full_ref_name() {
    let t = with_integration();
    let tip = t.oid("colony/plan");
    let err = t
        .repo()
        .update_ref_cas("colony/plan", &tip, &tip)
        .unwrap_err();
    assert!(matches!(err, GitError::NotAFullRef { .. }), "{err}");
    assert!(!t.repo().git_common_dir().join("colony/plan").exists());
}

#[test]
fn a_candidate_built_before_another_merge_reports_tip_moved() {
    let t = with_integration();
    let a = t.commit_on("colony-task/a", &[("a.txt", "a\n")], "Task a");
    let b = t.commit_on("colony-task/b", &[("b.txt", "b\n")], "Task b");
    let repo = t.repo();

    let tip = t.oid("colony/plan");
    let candidate = repo.merge_candidate(&tip, &a, "Merge a", None).unwrap();
    // While task a's gates run on its candidate, task b lands.
    let merged_b = repo.merge_into(INTEGRATION, &b, "Merge b", None).unwrap();
    assert!(matches!(merged_b, MergeResult::Merged { .. }));
    let after_b = t.oid("colony/plan");

    let result = repo.advance(INTEGRATION, candidate, &tip).unwrap();
    assert_eq!(
        result,
        MergeResult::TipMoved {
            actual: Some(after_b.clone())
        }
    );
    assert_eq!(t.oid("colony/plan"), after_b);

    // The retry builds on the new tip and keeps both tasks.
    let retry = repo.merge_into(INTEGRATION, &a, "Merge a", None).unwrap();
    assert!(matches!(
        retry,
        MergeResult::Merged {
            fast_forward: false,
            ..
        }
    ));
    let files = t.git(&["ls-tree", "--name-only", "colony/plan"]);
    assert_eq!(files, "README.md\na.txt\nb.txt");
}

#[test]
fn two_racing_writers_exactly_one_wins() {
    let t = with_integration();
    let repo = t.repo();
    for round in 0..10 {
        let old = t.oid("colony/plan");
        // Distinct messages: identical commits made in the same second
        // would share an id with the previous round's.
        let a = t.commit_on("race/a", &[("a.txt", "a\n")], &format!("a{round}"));
        let b = t.commit_on("race/b", &[("b.txt", "b\n")], &format!("b{round}"));
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .map(|new| {
                let (repo, old, barrier) = (repo.clone(), old.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    repo.update_ref_cas(INTEGRATION, &new, &old).unwrap()
                })
            })
            .collect();
        let outcomes: Vec<CasOutcome> = handles.into_iter().map(|h| h.join().unwrap()).collect();

        let winners = outcomes.iter().filter(|o| **o == CasOutcome::Moved).count();
        assert_eq!(winners, 1, "round {round}: {outcomes:?}");
        let tip = t.oid("colony/plan");
        let winner = if outcomes[0] == CasOutcome::Moved {
            &a
        } else {
            &b
        };
        assert_eq!(&tip, winner);
        let loser = outcomes.iter().find(|o| **o != CasOutcome::Moved).unwrap();
        assert_eq!(loser, &CasOutcome::Stale { actual: Some(tip) });
    }
}

#[test]
fn bring_in_conflict_leaves_markers_then_commit_all_concludes_the_merge() {
    let t = with_integration();
    let before = t.main_state();
    let repo = t.repo();
    let path = t.worktree_path("a");
    repo.worktree_add(&path, "colony-task/a", "colony/plan")
        .unwrap();
    write_in(&path, "README.md", "task\n");
    let task = repo
        .commit_all(&path, "Task edits readme", None)
        .unwrap()
        .unwrap();
    let tip = t.commit_on(
        "colony/plan",
        &[("README.md", "integration\n")],
        "Integration edits readme",
    );

    let result = repo.bring_in(&path, &tip, None).unwrap();
    let BringIn::Conflict(conflict) = result else {
        panic!("expected a conflict, got {result:?}");
    };
    assert_eq!(conflict.paths, ["README.md"]);
    assert_eq!(conflict.integration_subjects, ["Integration edits readme"]);
    assert_eq!(conflict.task_subjects, ["Task edits readme"]);
    assert_eq!(
        conflict.messages,
        ["CONFLICT (content): Merge conflict in README.md"]
    );
    let marked = std::fs::read_to_string(path.join("README.md")).unwrap();
    assert!(
        marked.contains("<<<<<<<") && marked.contains(">>>>>>>"),
        "{marked}"
    );

    // A resolver keeps the task's side: no change against HEAD, yet the
    // merge must still be concluded.
    write_in(&path, "README.md", "task\n");
    let merged = repo
        .commit_all(&path, "Resolve conflict", None)
        .unwrap()
        .unwrap();
    assert_eq!(parents(&t, &merged), [task.to_string(), tip.to_string()]);
    assert!(repo.is_ancestor(&tip, &merged).unwrap());

    let candidate = repo.merge_candidate(&tip, &merged, "unused", None).unwrap();
    assert!(matches!(
        candidate,
        Candidate::Ready {
            fast_forward: true,
            ..
        }
    ));
    assert_eq!(t.main_state(), before);
}

#[test]
fn bring_in_merges_cleanly_then_reports_up_to_date() {
    let t = with_integration();
    let repo = t.repo();
    let path = t.worktree_path("a");
    repo.worktree_add(&path, "colony-task/a", "colony/plan")
        .unwrap();
    write_in(&path, "a.txt", "a\n");
    repo.commit_all(&path, "Task a", None).unwrap().unwrap();
    let tip = t.commit_on("colony/plan", &[("b.txt", "b\n")], "Task b");

    let BringIn::Merged { commit } = repo.bring_in(&path, &tip, None).unwrap() else {
        panic!("expected a merge");
    };
    assert_eq!(git_in(&path, &["rev-parse", "HEAD"]), commit.as_str());
    assert!(path.join("b.txt").exists());
    assert_eq!(repo.bring_in(&path, &tip, None).unwrap(), BringIn::UpToDate);
}

#[test]
fn abort_merge_restores_the_worktree() {
    let t = with_integration();
    let repo = t.repo();
    let path = t.worktree_path("a");
    repo.worktree_add(&path, "colony-task/a", "colony/plan")
        .unwrap();
    write_in(&path, "README.md", "task\n");
    let task = repo.commit_all(&path, "Task", None).unwrap().unwrap();
    let tip = t.commit_on(
        "colony/plan",
        &[("README.md", "integration\n")],
        "Integration",
    );

    assert!(matches!(
        repo.bring_in(&path, &tip, None).unwrap(),
        BringIn::Conflict(_)
    ));
    repo.abort_merge(&path).unwrap();
    assert_eq!(git_in(&path, &["rev-parse", "HEAD"]), task.as_str());
    assert_eq!(git_in(&path, &["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(path.join("README.md")).unwrap(),
        "task\n"
    );
}

#[test]
fn bring_in_refuses_when_uncommitted_changes_are_in_the_way() {
    let t = with_integration();
    let repo = t.repo();
    let path = t.worktree_path("a");
    repo.worktree_add(&path, "colony-task/a", "colony/plan")
        .unwrap();
    write_in(&path, "a.txt", "a\n");
    repo.commit_all(&path, "Task", None).unwrap().unwrap();
    let tip = t.commit_on(
        "colony/plan",
        &[("README.md", "integration\n")],
        "Integration",
    );
    write_in(&path, "README.md", "uncommitted\n");

    let err = repo.bring_in(&path, &tip, None).unwrap_err();
    assert!(matches!(err, GitError::Failed { .. }), "{err:?}");
    assert_eq!(
        std::fs::read_to_string(path.join("README.md")).unwrap(),
        "uncommitted\n"
    );
}
