//! `colony land` on real repositories: the one operation that changes the
//! user's checkout, and every way it refuses to.

mod common;

use colony_git::{GitError, LandOutcome};
use common::TestRepo;

/// A repository whose `colony/plan` is one commit ahead of `main`.
fn ahead() -> TestRepo {
    let t = TestRepo::new();
    t.repo().create_branch("colony/plan", "main").unwrap();
    t.commit_on("colony/plan", &[("done.txt", "done\n")], "Task done");
    t
}

#[test]
fn land_fast_forwards_the_users_branch() {
    let t = ahead();
    let from = t.oid("main");
    let to = t.oid("colony/plan");

    let outcome = t.repo().land("colony/plan", false).unwrap();
    assert_eq!(outcome, LandOutcome::FastForwarded { from, to: to.clone() });
    assert_eq!(t.oid("HEAD"), to);
    assert_eq!(t.read("done.txt"), "done\n");
    assert_eq!(t.git(&["status", "--porcelain"]), "");

    assert_eq!(t.repo().land("colony/plan", false).unwrap(), LandOutcome::UpToDate);
}

#[test]
fn land_with_merge_makes_a_merge_commit() {
    let t = ahead();
    let mine = t.commit_on("main", &[("mine.txt", "mine\n")], "My own work");
    t.git(&["reset", "--quiet", "--hard"]);
    let integration = t.oid("colony/plan");

    let LandOutcome::Merged { commit } = t.repo().land("colony/plan", true).unwrap() else {
        panic!("expected a merge commit");
    };
    assert_eq!(t.oid("main"), commit);
    let parents = t.git(&["show", "-s", "--format=%P", commit.as_str()]);
    assert_eq!(parents, format!("{mine} {integration}"));
    assert_eq!(t.git(&["show", "-s", "--format=%s", "HEAD"]), "Merge branch 'colony/plan' into main");
    assert_eq!(t.read("done.txt"), "done\n");
    assert_eq!(t.read("mine.txt"), "mine\n");
    assert_eq!(t.git(&["status", "--porcelain"]), "");
}

#[test]
fn land_with_merge_makes_a_merge_commit_even_when_fast_forward_was_possible() {
    let t = ahead();
    let LandOutcome::Merged { commit } = t.repo().land("colony/plan", true).unwrap() else {
        panic!("expected a merge commit");
    };
    let parents = t.git(&["show", "-s", "--format=%P", commit.as_str()]);
    assert_eq!(parents.split(' ').count(), 2);
}

#[test]
fn land_refuses_a_dirty_tree_and_leaves_it_exactly_as_it_was() {
    let t = ahead();
    t.write("README.md", "unstaged edit\n");
    t.write("staged.txt", "staged\n");
    t.git(&["add", "staged.txt"]);
    t.write("untracked.txt", "untracked\n");
    let before = t.main_state();

    for merge in [false, true] {
        let err = t.repo().land("colony/plan", merge).unwrap_err();
        let GitError::DirtyTree { paths, more } = &err else {
            panic!("expected a dirty-tree refusal, got {err:?}");
        };
        assert_eq!(paths, &["README.md", "staged.txt"]);
        assert_eq!(*more, 0);
        let message = err.to_string();
        assert!(message.contains("uncommitted changes"), "{message}");
        assert!(message.contains("README.md, staged.txt"), "{message}");
    }
    assert_eq!(t.main_state(), before);
    assert_eq!(t.read("README.md"), "unstaged edit\n");
    assert!(!t.path().join("done.txt").exists());
}

#[test]
fn a_dirty_tree_refusal_names_at_most_ten_paths() {
    let t = ahead();
    for i in 0..12 {
        t.write(&format!("f{i:02}.txt"), "x\n");
    }
    t.git(&["add", "."]);
    let err = t.repo().land("colony/plan", false).unwrap_err();
    let GitError::DirtyTree { paths, more } = &err else {
        panic!("expected a dirty-tree refusal, got {err:?}");
    };
    assert_eq!(paths.len(), 10);
    assert_eq!(*more, 2);
    assert!(err.to_string().ends_with("(and 2 more)"), "{err}");
}

#[test]
fn land_refuses_diverged_branches_without_merge() {
    let t = ahead();
    t.commit_on("main", &[("mine.txt", "mine\n")], "My own work");
    t.git(&["reset", "--quiet", "--hard"]);
    let before = t.main_state();

    let err = t.repo().land("colony/plan", false).unwrap_err();
    assert!(matches!(err, GitError::NotFastForward { .. }), "{err:?}");
    assert!(err.to_string().contains("pass --merge"), "{err}");
    assert_eq!(t.main_state(), before);
}

#[test]
fn land_refuses_a_detached_head() {
    let t = ahead();
    t.git(&["checkout", "--quiet", "--detach"]);
    let before = t.main_state();
    let err = t.repo().land("colony/plan", false).unwrap_err();
    assert!(matches!(err, GitError::DetachedHead { .. }), "{err:?}");
    assert_eq!(t.main_state(), before);
}

#[test]
fn land_with_merge_refuses_a_conflict_without_touching_the_tree() {
    let t = ahead();
    t.commit_on("colony/plan", &[("README.md", "integration\n")], "Integration readme");
    t.commit_on("main", &[("README.md", "mine\n")], "My readme");
    t.git(&["reset", "--quiet", "--hard"]);
    let before = t.main_state();

    let err = t.repo().land("colony/plan", true).unwrap_err();
    let GitError::LandConflict { paths, .. } = &err else {
        panic!("expected a conflict refusal, got {err:?}");
    };
    assert_eq!(paths, &["README.md"]);
    assert_eq!(t.main_state(), before);
    assert!(!t.repo().git_common_dir().join("MERGE_HEAD").exists());
}

#[test]
fn land_reports_an_unknown_integration_branch() {
    let t = TestRepo::new();
    let err = t.repo().land("colony/missing", false).unwrap_err();
    assert!(matches!(err, GitError::UnknownRevision { .. }), "{err:?}");
}
