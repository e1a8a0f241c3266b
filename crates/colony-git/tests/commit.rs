//! Committing what an agent left in its worktree, on real repositories.

mod common;

use colony_git::{GitError, Identity, Oid};
use common::{TestRepo, USER, git_in, write_in};

fn author_of(dir: &std::path::Path, rev: &str) -> String {
    git_in(dir, &["show", "-s", "--format=%an <%ae>|%cn <%ce>", rev])
}

#[test]
fn commit_all_commits_new_modified_and_deleted_files() {
    let t = TestRepo::new();
    let repo = t.repo();
    let path = t.worktree_path("t");
    let base = t.commit_on("main", &[("old.txt", "old\n")], "add old");
    t.git(&["reset", "--quiet", "--hard"]);
    let before = t.main_state();
    let (tree, _) = repo.worktree_add(&path, "colony-task/t", "main").unwrap();

    write_in(&path, "README.md", "edited\n");
    write_in(&path, "src/new.rs", "fn main() {}\n");
    std::fs::remove_file(path.join("old.txt")).unwrap();
    write_in(&path, ".gitignore", "target/\n");
    write_in(&path, "target/junk", "ignored\n");

    let commit = repo.commit_all(&tree, "Add users table", None).unwrap().expect("a commit");
    assert_eq!(repo.commit_subject(&commit).unwrap(), "Add users table");
    assert_eq!(git_in(&path, &["rev-parse", "HEAD^"]), base.as_str());
    let files = git_in(&path, &["show", "--name-status", "--format=", "HEAD"]);
    assert_eq!(files, "A\t.gitignore\nM\tREADME.md\nD\told.txt\nA\tsrc/new.rs");
    assert_eq!(git_in(&path, &["status", "--porcelain"]), "");
    assert_eq!(author_of(&path, "HEAD"), format!("{0} <{1}>|{0} <{1}>", USER.0, USER.1));
    assert_eq!(t.main_state(), before);
}

#[test]
fn commit_all_returns_none_when_nothing_changed() {
    let t = TestRepo::new();
    let repo = t.repo();
    let path = t.worktree_path("t");
    let (tree, start) = repo.worktree_add(&path, "colony-task/t", "main").unwrap();

    assert_eq!(repo.commit_all(&tree, "nothing", None).unwrap(), None);
    // An ignored file alone is no change either.
    write_in(&path, ".git-ignored-by-exclude", "");
    std::fs::write(t.repo().git_common_dir().join("info/exclude"), ".colony/\n.git-ignored-by-exclude\n").unwrap();
    assert_eq!(repo.commit_all(&tree, "nothing", None).unwrap(), None);
    assert!(!repo.has_commits_since(&t.oid("colony-task/t"), &start).unwrap());
}

#[test]
fn commit_all_works_without_a_configured_identity() {
    let t = TestRepo::without_identity();
    let repo = t.repo();
    let path = t.worktree_path("t");
    let (tree, _) = repo.worktree_add(&path, "colony-task/t", "main").unwrap();
    write_in(&path, "a.txt", "a\n");

    let commit = repo.commit_all(&tree, "Add a", None).unwrap().unwrap();
    assert_eq!(author_of(&path, commit.as_str()), "colony <colony@localhost>|colony <colony@localhost>");

    // And with an explicit author, the committer still gets a fallback.
    write_in(&path, "b.txt", "b\n");
    let author = Identity::new("Agent Smith", "agent@example.invalid");
    let commit = repo.commit_all(&tree, "Add b", Some(&author)).unwrap().unwrap();
    assert_eq!(author_of(&path, commit.as_str()), "Agent Smith <agent@example.invalid>|colony <colony@localhost>");

    // commit-tree needs an identity just the same.
    let tree = Oid::parse(&t.git(&["rev-parse", "main^{tree}"])).unwrap();
    let main = t.oid("main");
    let made = repo.commit_tree(&tree, &[&main], "plumbing", None).unwrap();
    assert_eq!(author_of(t.path(), made.as_str()), "colony <colony@localhost>|colony <colony@localhost>");
}

#[test]
fn commit_all_uses_the_given_author_and_the_configured_committer() {
    let t = TestRepo::new();
    let repo = t.repo();
    let path = t.worktree_path("t");
    let (tree, _) = repo.worktree_add(&path, "colony-task/t", "main").unwrap();
    write_in(&path, "a.txt", "a\n");

    let author = Identity::new("Agent", "agent@example.invalid");
    let commit = repo.commit_all(&tree, "Add a", Some(&author)).unwrap().unwrap();
    assert_eq!(author_of(&path, commit.as_str()), format!("Agent <agent@example.invalid>|{} <{}>", USER.0, USER.1));
}

#[test]
fn commit_all_skips_hooks_that_would_reject_the_commit() {
    let t = TestRepo::new();
    let hook = t.repo().git_common_dir().join("hooks/pre-commit");
    std::fs::write(&hook, "#!/bin/sh\nexit 1\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let repo = t.repo();
    let path = t.worktree_path("t");
    let (tree, _) = repo.worktree_add(&path, "colony-task/t", "main").unwrap();
    write_in(&path, "a.txt", "a\n");
    assert!(repo.commit_all(&tree, "Add a", None).unwrap().is_some());
}

#[test]
fn has_commits_since_sees_commits_the_agent_made_itself() {
    let t = TestRepo::new();
    let repo = t.repo();
    let path = t.worktree_path("t");
    let (tree, start) = repo.worktree_add(&path, "colony-task/t", "main").unwrap();
    assert!(!repo.has_commits_since(&t.oid("colony-task/t"), &start).unwrap());

    write_in(&path, "a.txt", "a\n");
    git_in(&path, &["add", "a.txt"]);
    git_in(&path, &["commit", "--quiet", "-m", "agent's own commit"]);

    assert!(repo.has_commits_since(&t.oid("colony-task/t"), &start).unwrap());
    assert_eq!(repo.commit_all(&tree, "nothing left", None).unwrap(), None);
}

#[test]
fn commit_all_reports_a_commit_git_refused_with_changes_staged() {
    let t = TestRepo::new();
    let repo = t.repo();
    let path = t.worktree_path("t");
    let (tree, _) = repo.worktree_add(&path, "colony-task/t", "main").unwrap();
    // A signing program that always fails makes `git commit` fail for a
    // reason other than having nothing to commit.
    t.git(&["config", "commit.gpgSign", "true"]);
    t.git(&["config", "gpg.program", "false"]);
    write_in(&path, "a.txt", "a\n");

    let err = repo.commit_all(&tree, "Add a", None).unwrap_err();
    assert!(matches!(&err, GitError::Failed { args, .. } if args.contains(&"commit".to_owned())), "{err}");
}
