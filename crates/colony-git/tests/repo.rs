//! Opening a repository and the ref and branch queries, on real
//! repositories.

mod common;

use colony_git::{GitError, Repo, branch_ref};
use common::TestRepo;

#[test]
fn open_finds_the_top_level_from_a_subdirectory_and_a_worktree() {
    let t = TestRepo::new();
    std::fs::create_dir_all(t.path().join("src/deep")).unwrap();
    let repo = Repo::open(t.path().join("src/deep")).unwrap();
    let top = t.path().canonicalize().unwrap();
    assert_eq!(repo.top_level(), top);
    assert_eq!(repo.git_common_dir(), top.join(".git"));
    assert_eq!(repo.worktrees_dir(), top.join(".colony/worktrees"));

    let path = t.worktree_path("wt");
    repo.worktree_add(&path, "colony-task/wt", "main").unwrap();
    let inside = Repo::open(&path).unwrap();
    assert_eq!(inside.top_level(), path.canonicalize().unwrap());
    assert_eq!(inside.git_common_dir(), top.join(".git"), "shared git dir");
}

#[test]
fn open_refuses_a_directory_outside_any_repository() {
    let t = TestRepo::new();
    for path in [t.outside(), t.outside().join("missing")] {
        let err = Repo::open(&path).unwrap_err();
        assert!(matches!(err, GitError::NotARepository { .. }), "{err:?}");
        assert!(err.to_string().starts_with("not a git repository"), "{err}");
    }
}

#[test]
fn version_is_recent_enough_for_merge_tree() {
    let t = TestRepo::new();
    let repo = t.repo();
    let version = repo.version().unwrap();
    assert!(version.major >= 2, "{version}");
    assert!(repo.supports_merge_tree_write_tree().unwrap(), "{version}");
}

#[test]
fn branches_are_created_and_deleted_without_checkout() {
    let t = TestRepo::new();
    let before = t.main_state();
    let repo = t.repo();

    assert!(!repo.branch_exists("colony/plan").unwrap());
    let tip = repo.create_branch("colony/plan", "HEAD").unwrap();
    assert_eq!(tip, t.oid("main"));
    assert!(repo.branch_exists("colony/plan").unwrap());
    assert_eq!(repo.rev_parse(&branch_ref("colony/plan")).unwrap(), Some(tip));
    assert_eq!(repo.head_branch().unwrap().as_deref(), Some("main"));

    let err = repo.create_branch("colony/plan", "main").unwrap_err();
    let GitError::Failed { args, code, stderr_tail } = &err else {
        panic!("expected a git failure, got {err:?}");
    };
    assert_eq!(args[0], "branch");
    assert_eq!(*code, Some(128));
    assert!(stderr_tail.contains("already exists"), "{stderr_tail}");
    assert!(err.to_string().contains("exit code 128"), "{err}");

    // A name that looks like an option is taken as a name, and refused.
    let err = repo.create_branch("-f", "main").unwrap_err();
    assert!(err.to_string().contains("not a valid branch name"), "{err}");

    // A branch checked out in a worktree, or in the main tree, is refused.
    let path = t.worktree_path("busy");
    repo.worktree_add(&path, "colony-task/busy", "main").unwrap();
    let err = repo.delete_branch("colony-task/busy").unwrap_err();
    assert!(
        matches!(&err, GitError::RefCheckedOut { worktree, .. } if *worktree == path.canonicalize().unwrap()),
        "{err}"
    );
    assert!(matches!(repo.delete_branch("main").unwrap_err(), GitError::RefCheckedOut { .. }));
    repo.worktree_remove(&path).unwrap();
    repo.delete_branch("colony-task/busy").unwrap();
    assert!(!repo.branch_exists("colony-task/busy").unwrap());

    repo.delete_branch("colony/plan").unwrap();
    assert!(!repo.branch_exists("colony/plan").unwrap());
    assert_eq!(t.main_state(), before);
}

#[test]
fn branches_are_listed_by_prefix() {
    let t = TestRepo::new();
    let repo = t.repo();
    for name in ["colony-task/p/a-a1", "colony-task/p/b-a2", "colony-tasks", "colony/p"] {
        repo.create_branch(name, "main").unwrap();
    }
    assert_eq!(repo.branches("colony-task/").unwrap(), ["colony-task/p/a-a1", "colony-task/p/b-a2"]);
    assert_eq!(repo.branches("colony-task/p/b").unwrap(), ["colony-task/p/b-a2"]);
    assert_eq!(repo.branches("colony-t").unwrap(), ["colony-task/p/a-a1", "colony-task/p/b-a2", "colony-tasks"]);
    assert!(repo.branches("nothing/").unwrap().is_empty());
}

#[test]
fn rev_parse_peels_tags_and_reports_missing_revisions() {
    let t = TestRepo::new();
    t.git(&["-c", "user.name=T", "-c", "user.email=t@t", "tag", "-a", "v1", "-m", "v1"]);
    let repo = t.repo();
    assert_eq!(repo.rev_parse("v1").unwrap(), Some(t.oid("main")));
    assert_eq!(repo.rev_parse("no-such-branch").unwrap(), None);
    assert_eq!(repo.rev_parse("HEAD^{tree}:README.md").unwrap(), None);
    assert_eq!(repo.rev_parse("--all").unwrap(), None);
}

#[test]
fn head_branch_is_none_when_detached() {
    let t = TestRepo::new();
    let repo = t.repo();
    assert_eq!(repo.head_branch().unwrap().as_deref(), Some("main"));
    t.git(&["checkout", "--quiet", "--detach"]);
    assert_eq!(repo.head_branch().unwrap(), None);
}

#[test]
fn ancestry_and_subjects() {
    let t = TestRepo::new();
    let base = t.oid("main");
    let next = t.commit_on("feature", &[("f.txt", "f\n")], "Add f\n\nWith a body.");
    let repo = t.repo();
    assert!(repo.is_ancestor(&base, &next).unwrap());
    assert!(repo.is_ancestor(&next, &next).unwrap());
    assert!(!repo.is_ancestor(&next, &base).unwrap());
    assert_eq!(repo.commit_subject(&next).unwrap(), "Add f");
}

#[test]
fn diff_shows_a_branch_against_its_merge_base() {
    let t = TestRepo::new();
    let repo = t.repo();
    let main = t.oid("main");
    let work = t.commit_on("colony-task/p/a-a1", &[("notes.txt", "<script>alert(1)</script>\n")], "Work");
    t.commit_on("main", &[("other.txt", "moved on\n")], "Meanwhile");
    let moved = t.oid("main");

    assert_eq!(repo.merge_base(&moved, &work).unwrap(), Some(main.clone()));
    let diff = repo.diff(&main, &work).unwrap();
    assert!(diff.contains("+++ b/notes.txt") && diff.contains("+<script>alert(1)</script>"), "{diff}");
    assert!(!diff.contains("other.txt"), "only the branch's own change: {diff}");
    assert_eq!(repo.diff(&work, &work).unwrap(), "");
}

#[test]
fn restore_undoes_edits_new_files_and_commits_but_keeps_ignored_files() {
    let t = TestRepo::new();
    let repo = t.repo();
    let dir = &t.worktree_path("review");
    let (tree, head) = repo.worktree_add(dir, "colony-task/review", "main").unwrap();
    assert!(!repo.restore(&tree, &head).unwrap(), "nothing to undo");
    std::fs::write(dir.join(".gitignore"), "target/\n").unwrap();
    std::fs::create_dir_all(dir.join("target")).unwrap();
    std::fs::write(dir.join("target/build.o"), "obj").unwrap();
    repo.commit_all(&tree, "ignore target", None).unwrap();
    let base = t.oid("colony-task/review");
    std::fs::write(dir.join("stray.txt"), "new").unwrap();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/more.txt"), "new").unwrap();
    repo.commit_all(&tree, "a reviewer's commit", None).unwrap();
    std::fs::write(dir.join(".gitignore"), "changed\n").unwrap();
    assert!(repo.restore(&tree, &base).unwrap());
    assert_eq!(t.oid("colony-task/review"), base);
    assert!(!dir.join("stray.txt").exists() && !dir.join("sub").exists());
    assert_eq!(std::fs::read_to_string(dir.join(".gitignore")).unwrap(), "target/\n");
    assert!(dir.join("target/build.o").exists(), "ignored build output is kept");
}
