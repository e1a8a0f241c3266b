//! The merge queue's plumbing on real repositories, used as the engine uses
//! it: an in-memory merge (`merge_tree`, then `commit_tree` with the
//! integration tip as first parent), the compare-and-swap on the
//! integration ref, and bringing the integration tip into a task's worktree.

mod common;

use std::sync::{Arc, Barrier};

use colony_git::{BringIn, CasOutcome, GitError, MergeOutcome, Oid, Repo};
use common::{TestRepo, git_in, write_in};

const INTEGRATION: &str = "refs/heads/colony/plan";

/// A repository with `colony/plan` created from `main`.
fn with_integration() -> TestRepo {
    let t = TestRepo::new();
    t.repo().create_branch("colony/plan", "main").unwrap();
    t
}

fn parents(t: &TestRepo, commit: &Oid) -> Vec<String> {
    t.git(&["show", "-s", "--format=%P", commit.as_str()]).split(' ').map(str::to_owned).collect()
}

/// Merges `task` into `tip` in memory, as the engine does, and writes the
/// merge commit (the integration tip first) without moving any ref.
fn merge_commit(repo: &Repo, tip: &Oid, task: &Oid, message: &str) -> Oid {
    let outcome = repo.merge_tree(tip, task).unwrap();
    let MergeOutcome::Clean { tree } = outcome else {
        panic!("expected a clean merge, got {outcome:?}");
    };
    repo.commit_tree(&tree, &[tip, task], message, None).unwrap()
}

#[test]
fn clean_merge_builds_a_two_parent_commit_and_moves_the_ref() {
    let t = with_integration();
    let before = t.main_state();
    let other = t.commit_on("colony/plan", &[("other.txt", "o\n")], "Other task");
    let task = t.commit_on("colony-task/a", &[("a.txt", "a\n")], "Task a");
    let repo = t.repo();

    let commit = merge_commit(&repo, &other, &task, "Merge task a");
    assert_eq!(t.oid("colony/plan"), other, "commit_tree moves no ref");
    assert_eq!(repo.update_ref_cas(INTEGRATION, &commit, &other).unwrap(), CasOutcome::Moved);
    assert_eq!(t.oid("colony/plan"), commit);
    assert_eq!(parents(&t, &commit), [other.to_string(), task.to_string()]);
    assert_eq!(repo.commit_subject(&commit).unwrap(), "Merge task a");
    let files = t.git(&["ls-tree", "--name-only", "colony/plan"]);
    assert_eq!(files, "README.md\na.txt\nother.txt");
    assert_eq!(t.main_state(), before, "the user's checkout is not touched");
}

#[test]
fn a_merge_commit_changed_what_the_task_brought_in_not_what_was_there() {
    let t = with_integration();
    let other = t.commit_on("colony/plan", &[("other.txt", "o\n")], "Other task");
    t.commit_on("colony-task/a", &[("src/a.txt", "a\n")], "Task a, first");
    let task = t.commit_on("colony-task/a", &[("docs/a.md", "a\n"), ("README.md", "changed\n")], "Task a");
    let repo = t.repo();
    let commit = merge_commit(&repo, &other, &task, "Merge task a");
    assert_eq!(repo.changed_paths(&commit).unwrap(), ["README.md", "docs/a.md", "src/a.txt"], "not other.txt");
    assert_eq!(repo.changed_paths(&other).unwrap(), ["other.txt"], "a plain commit against its parent");
}

#[test]
fn a_commits_files_and_recent_history_are_read_from_the_commit_not_the_checkout() {
    let t = with_integration();
    let first = t.commit_on("colony/plan", &[("src/a.txt", "a\n")], "Add a");
    let second = t.commit_on("colony/plan", &[("docs/b.md", "b\n")], "Add b");
    write_in(t.path(), "untracked.txt", "u\n");
    let repo = t.repo();
    let files = repo.files_at(&second).unwrap();
    assert!(files.contains(&"src/a.txt".to_owned()) && files.contains(&"docs/b.md".to_owned()), "{files:?}");
    assert!(!files.contains(&"untracked.txt".to_owned()));
    assert!(!repo.files_at(&first).unwrap().contains(&"docs/b.md".to_owned()));
    let recent = repo.recent_commits(&second, 2).unwrap();
    assert_eq!(recent.len(), 2);
    assert!(recent[0].ends_with(" Add b") && recent[1].ends_with(" Add a"), "{recent:?}");
}

#[test]
fn merge_tree_reports_a_conflict_with_its_paths_and_moves_nothing() {
    let t = with_integration();
    let before = t.main_state();
    t.commit_on(
        "colony/plan",
        &[("README.md", "integration\n"), ("shared.txt", "i\n")],
        "Rewrite readme on integration",
    );
    t.commit_on("colony/plan", &[("unrelated.txt", "u\n")], "Unrelated change");
    t.commit_on("colony-task/a", &[("README.md", "task\n"), ("shared.txt", "t\n")], "Rewrite readme in task");
    let task = t.oid("colony-task/a");
    let tip = t.oid("colony/plan");
    let repo = t.repo();

    let outcome = repo.merge_tree(&tip, &task).unwrap();
    let MergeOutcome::Conflict { paths, messages, .. } = outcome else {
        panic!("expected a conflict, got {outcome:?}");
    };
    assert_eq!(paths, ["README.md", "shared.txt"]);
    let conflicts: Vec<_> = messages.iter().filter(|m| m.kind.starts_with("CONFLICT")).collect();
    assert_eq!(conflicts.len(), 2, "{messages:?}");
    assert_eq!(conflicts[0].paths, ["README.md"]);
    assert!(conflicts[0].message.contains("README.md"), "{messages:?}");
    assert_eq!(t.oid("colony/plan"), tip, "a conflict moves nothing");
    assert_eq!(t.oid("colony-task/a"), task);
    assert_eq!(t.main_state(), before, "the user's checkout is not touched");
}

#[test]
fn an_already_merged_task_is_an_ancestor_of_the_integration_tip() {
    let t = with_integration();
    let other = t.commit_on("colony/plan", &[("other.txt", "o\n")], "Other task");
    let task = t.commit_on("colony-task/a", &[("a.txt", "a\n")], "Task a");
    let repo = t.repo();
    assert!(!repo.is_ancestor(&task, &other).unwrap());

    let merged = merge_commit(&repo, &other, &task, "Merge a");
    assert_eq!(repo.update_ref_cas(INTEGRATION, &merged, &other).unwrap(), CasOutcome::Moved);

    // A restarted run sees the task already in the integration branch, and
    // an unrelated later task does not look merged.
    let tip = t.oid("colony/plan");
    assert!(repo.is_ancestor(&task, &tip).unwrap());
    let later = t.commit_on("colony-task/b", &[("b.txt", "b\n")], "Task b");
    assert!(!repo.is_ancestor(&later, &tip).unwrap());
}

#[test]
fn cas_refuses_a_stale_old_value_and_leaves_the_ref_where_the_other_writer_put_it() {
    let t = with_integration();
    let old = t.oid("colony/plan");
    let theirs = t.commit_on("colony/plan", &[("b.txt", "b\n")], "Another writer");
    let ours = t.commit_on("colony-task/a", &[("a.txt", "a\n")], "Task a");
    let repo = t.repo();

    let outcome = repo.update_ref_cas(INTEGRATION, &ours, &old).unwrap();
    assert_eq!(outcome, CasOutcome::Stale { actual: Some(theirs.clone()) });
    assert_eq!(t.oid("colony/plan"), theirs);

    assert_eq!(repo.update_ref_cas(INTEGRATION, &ours, &theirs).unwrap(), CasOutcome::Moved);
    assert_eq!(t.oid("colony/plan"), ours);
}

#[test]
fn update_ref_cas_refuses_a_branch_checked_out_in_a_worktree() {
    let t = with_integration();
    let tip = t.oid("colony/plan");
    let task = t.commit_on("colony-task/a", &[("a.txt", "a\n")], "Task a");
    let path = t.worktree_path("looking");
    t.git(&["worktree", "add", "--quiet", path.to_str().unwrap(), "colony/plan"]);

    let err = t.repo().update_ref_cas(INTEGRATION, &task, &tip).unwrap_err();
    let GitError::RefCheckedOut { worktree, .. } = &err else { panic!("{err:?}") };
    assert_eq!(worktree.canonicalize().unwrap(), path.canonicalize().unwrap(), "names the worktree");
    assert_eq!(t.oid("colony/plan"), tip);

    t.git(&["worktree", "remove", path.to_str().unwrap()]);
    t.git(&["checkout", "--quiet", "colony/plan"]);
    let err = t.repo().update_ref_cas(INTEGRATION, &task, &tip).unwrap_err();
    assert!(matches!(err, GitError::RefCheckedOut { .. }), "the main tree's branch too: {err:?}");
    t.git(&["checkout", "--quiet", "main"]);
    assert_eq!(t.repo().update_ref_cas(INTEGRATION, &task, &tip).unwrap(), CasOutcome::Moved);
}

#[test]
fn update_ref_cas_requires_a_full_ref_name() {
    let t = with_integration();
    let tip = t.oid("colony/plan");
    let err = t.repo().update_ref_cas("colony/plan", &tip, &tip).unwrap_err();
    assert!(matches!(err, GitError::NotAFullRef { .. }), "{err}");
    assert!(!t.repo().git_common_dir().join("colony/plan").exists());
}

#[test]
fn a_merge_built_before_another_merge_finds_the_tip_moved() {
    let t = with_integration();
    let a = t.commit_on("colony-task/a", &[("a.txt", "a\n")], "Task a");
    let b = t.commit_on("colony-task/b", &[("b.txt", "b\n")], "Task b");
    let repo = t.repo();

    let tip = t.oid("colony/plan");
    let candidate = merge_commit(&repo, &tip, &a, "Merge a");
    // While task a's gates run on its merge, task b lands.
    let merged_b = merge_commit(&repo, &tip, &b, "Merge b");
    assert_eq!(repo.update_ref_cas(INTEGRATION, &merged_b, &tip).unwrap(), CasOutcome::Moved);

    let result = repo.update_ref_cas(INTEGRATION, &candidate, &tip).unwrap();
    assert_eq!(result, CasOutcome::Stale { actual: Some(merged_b.clone()) });
    assert_eq!(t.oid("colony/plan"), merged_b);

    // The retry builds on the new tip and keeps both tasks.
    let retry = merge_commit(&repo, &merged_b, &a, "Merge a");
    assert_eq!(repo.update_ref_cas(INTEGRATION, &retry, &merged_b).unwrap(), CasOutcome::Moved);
    assert_eq!(parents(&t, &retry), [merged_b.to_string(), a.to_string()]);
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
        let winner = if outcomes[0] == CasOutcome::Moved { &a } else { &b };
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
    let (tree, _) = repo.worktree_add(&path, "colony-task/a", "colony/plan").unwrap();
    write_in(&path, "README.md", "task\n");
    let task = repo.commit_all(&tree, "Task edits readme", None).unwrap().unwrap();
    t.commit_on("colony/plan", &[("README.md", "integration\n")], "Integration edits readme");
    // Not about the conflicted file: left out of the subjects.
    let tip = t.commit_on("colony/plan", &[("other.txt", "o\n")], "Unrelated change");

    let result = repo.bring_in(&tree, &tip, None).unwrap();
    let BringIn::Conflict(conflict) = result else {
        panic!("expected a conflict, got {result:?}");
    };
    assert_eq!(conflict.paths, ["README.md"]);
    assert_eq!(conflict.integration_subjects, ["Integration edits readme"]);
    assert_eq!(conflict.task_subjects, ["Task edits readme"]);
    assert_eq!(conflict.messages, ["CONFLICT (content): Merge conflict in README.md"]);
    let marked = std::fs::read_to_string(path.join("README.md")).unwrap();
    assert!(marked.contains("<<<<<<<") && marked.contains(">>>>>>>"), "{marked}");

    // A resolver keeps the task's side: no change against HEAD, yet the
    // merge must still be concluded.
    write_in(&path, "README.md", "task\n");
    let merged = repo.commit_all(&tree, "Resolve conflict", None).unwrap().unwrap();
    assert_eq!(parents(&t, &merged), [task.to_string(), tip.to_string()]);
    assert!(repo.is_ancestor(&tip, &merged).unwrap());

    // The resolved branch merges cleanly in memory, to its own tree: what
    // the engine commits onto the integration branch after a resolver.
    let tree = Oid::parse(&t.git(&["rev-parse", &format!("{merged}^{{tree}}")])).unwrap();
    assert_eq!(repo.merge_tree(&tip, &merged).unwrap(), MergeOutcome::Clean { tree });
    assert_eq!(t.main_state(), before);
}

#[test]
fn bring_in_merges_cleanly_then_reports_up_to_date() {
    let t = with_integration();
    let repo = t.repo();
    let path = t.worktree_path("a");
    let (tree, _) = repo.worktree_add(&path, "colony-task/a", "colony/plan").unwrap();
    write_in(&path, "a.txt", "a\n");
    repo.commit_all(&tree, "Task a", None).unwrap().unwrap();
    let tip = t.commit_on("colony/plan", &[("b.txt", "b\n")], "Task b");

    let BringIn::Merged { commit } = repo.bring_in(&tree, &tip, None).unwrap() else {
        panic!("expected a merge");
    };
    assert_eq!(git_in(&path, &["rev-parse", "HEAD"]), commit.as_str());
    assert!(path.join("b.txt").exists());
    assert_eq!(repo.bring_in(&tree, &tip, None).unwrap(), BringIn::UpToDate);
}

#[test]
fn abort_merge_restores_the_worktree() {
    let t = with_integration();
    let repo = t.repo();
    let path = t.worktree_path("a");
    let (tree, _) = repo.worktree_add(&path, "colony-task/a", "colony/plan").unwrap();
    write_in(&path, "README.md", "task\n");
    let task = repo.commit_all(&tree, "Task", None).unwrap().unwrap();
    let tip = t.commit_on("colony/plan", &[("README.md", "integration\n")], "Integration");

    assert!(matches!(repo.bring_in(&tree, &tip, None).unwrap(), BringIn::Conflict(_)));
    repo.abort_merge(&tree).unwrap();
    assert_eq!(git_in(&path, &["rev-parse", "HEAD"]), task.as_str());
    assert_eq!(git_in(&path, &["status", "--porcelain"]), "");
    assert_eq!(std::fs::read_to_string(path.join("README.md")).unwrap(), "task\n");
}

#[test]
fn bring_in_refuses_when_uncommitted_changes_are_in_the_way() {
    let t = with_integration();
    let repo = t.repo();
    let path = t.worktree_path("a");
    let (tree, _) = repo.worktree_add(&path, "colony-task/a", "colony/plan").unwrap();
    write_in(&path, "a.txt", "a\n");
    repo.commit_all(&tree, "Task", None).unwrap().unwrap();
    let tip = t.commit_on("colony/plan", &[("README.md", "integration\n")], "Integration");
    write_in(&path, "README.md", "uncommitted\n");

    let err = repo.bring_in(&tree, &tip, None).unwrap_err();
    assert!(matches!(err, GitError::Failed { .. }), "{err:?}");
    assert_eq!(std::fs::read_to_string(path.join("README.md")).unwrap(), "uncommitted\n");
}

#[test]
fn the_first_parent_log_reads_trailers_of_merge_commits_only_down_the_first_parent() {
    let t = TestRepo::new();
    let repo = t.repo();
    let base = t.oid("main");
    let side = t.commit_on("side", &[("s.txt", "s\n")], "Side\n\nColony-Task: not-first-parent");
    let tree = Oid::parse(&t.git(&["rev-parse", "side^{tree}"])).unwrap();
    let message = "Merge task a: A\n\nColony-Task: a\nColony-Spec: 0123abcd";
    let merge = repo.commit_tree(&tree, &[&base, &side], message, None).unwrap();

    let log = repo.first_parent_log(&merge, 0, 10).unwrap();
    assert_eq!(log.iter().map(|c| c.commit.clone()).collect::<Vec<_>>(), [merge.clone(), base.clone()]);
    assert_eq!(log[0].trailer("Colony-Task"), Some("a"));
    assert_eq!(log[0].trailer("Colony-Spec"), Some("0123abcd"));
    assert_eq!(log[1].trailer("Colony-Task"), None);
    assert_eq!(repo.first_parent_log(&merge, 1, 10).unwrap()[0].commit, base, "skip leaves the newest out");
    assert_eq!(repo.first_parent_log(&merge, 0, 1).unwrap().len(), 1);
}

#[test]
fn a_picked_change_comes_alone_and_a_dated_commit_is_written_the_same_twice() {
    let t = TestRepo::new();
    let repo = t.repo();
    let main = t.oid("main");
    repo.create_branch("side", "main").unwrap();
    let first = t.commit_on("side", &[("first.txt", "1\n")], "First");
    let second = t.commit_on("side", &[("second.txt", "2\n")], "Second");

    // What `second` changed since `first`, onto main: second.txt alone.
    let MergeOutcome::Clean { tree } = repo.pick_tree(&first, &main, &second).unwrap() else {
        panic!("expected a clean pick");
    };
    let date = repo.commit_date(&second).unwrap();
    let made = repo.commit_tree_dated(&tree, &[&main], "Second alone", &date).unwrap();
    assert_eq!(repo.commit_tree_dated(&tree, &[&main], "Second alone", &date).unwrap(), made, "the same commit");
    assert_eq!(parents(&t, &made), [main.as_str()]);
    let files = repo.files_at(&made).unwrap();
    assert!(files.contains(&"second.txt".to_owned()) && !files.contains(&"first.txt".to_owned()), "{files:?}");
    assert_eq!(t.git(&["show", "-s", "--format=%cd", "--date=raw", made.as_str()]), date);

    // A change to a file its new base lacks cannot come alone.
    let third = t.commit_on("side", &[("first.txt", "1, changed\n")], "Third");
    let outcome = repo.pick_tree(&second, &main, &third).unwrap();
    assert!(matches!(&outcome, MergeOutcome::Conflict { paths, .. } if paths == &["first.txt"]), "{outcome:?}");
}
