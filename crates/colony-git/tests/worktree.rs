//! Task worktrees on real repositories: creation, listing, removal and crash
//! recovery, with the user's main tree left alone throughout.

mod common;

use colony_git::{Breakage, GitError, Repo, TreeState};
use common::{TestRepo, git_in, write_in};

#[test]
fn worktree_add_list_remove_leaves_main_tree_untouched() {
    let t = TestRepo::new();
    let before = t.main_state();
    let repo = t.repo();
    let path = t.worktree_path("task-1");

    let (tree, start) = repo.worktree_add(&path, "colony-task/task-1", "main").unwrap();
    assert_eq!(repo.task_tree(&path).unwrap(), Some(tree));
    assert_eq!(start, t.oid("main"));
    assert_eq!(git_in(&path, &["symbolic-ref", "--short", "HEAD"]), "colony-task/task-1");
    assert_eq!(std::fs::read_to_string(path.join("README.md")).unwrap(), "hello\n");

    let list = repo.worktree_list().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].path, t.path().canonicalize().unwrap());
    assert_eq!(list[0].branch.as_deref(), Some("refs/heads/main"));
    assert_eq!(list[1].path, path.canonicalize().unwrap());
    assert_eq!(list[1].branch.as_deref(), Some("refs/heads/colony-task/task-1"));
    assert_eq!(list[1].head.as_ref(), Some(&start));

    // Work left uncommitted in the worktree is discarded with it.
    write_in(&path, "README.md", "changed by an agent\n");
    write_in(&path, "new.txt", "untracked\n");
    assert_eq!(t.main_state(), before);

    repo.worktree_remove(&path).unwrap();
    assert!(!path.exists());
    assert_eq!(repo.worktree_list().unwrap().len(), 1);
    assert!(repo.branch_exists("colony-task/task-1").unwrap(), "branches are kept");
    assert_eq!(t.main_state(), before);
    assert_eq!(t.read("README.md"), "hello\n");
}

#[test]
fn worktree_add_refuses_an_existing_path() {
    let t = TestRepo::new();
    let repo = t.repo();
    let path = t.worktree_path("taken");
    std::fs::create_dir_all(&path).unwrap();

    let err = repo.worktree_add(&path, "colony-task/taken", "main").unwrap_err();
    assert!(matches!(err, GitError::WorktreePathExists { .. }), "{err}");
    assert!(!repo.branch_exists("colony-task/taken").unwrap(), "no branch was made");
    assert_eq!(repo.worktree_list().unwrap().len(), 1);
}

#[test]
fn worktree_remove_succeeds_when_the_directory_is_already_gone() {
    let t = TestRepo::new();
    let repo = t.repo();
    let path = t.worktree_path("vanished");
    repo.worktree_add(&path, "colony-task/vanished", "main").unwrap();
    std::fs::remove_dir_all(&path).unwrap();

    repo.worktree_remove(&path).unwrap();
    repo.worktree_remove(&path).unwrap();
    assert_eq!(t.worktree_paths().len(), 1);
}

#[test]
fn worktree_remove_clears_what_a_dead_run_left() {
    let t = TestRepo::new();
    let before = t.main_state();
    {
        // The "dead run": three worktrees left behind in different states.
        let repo = t.repo();
        for name in ["dirty", "locked", "deleted"] {
            let path = t.worktree_path(name);
            repo.worktree_add(&path, &format!("colony-task/{name}"), "main").unwrap();
        }
        write_in(&t.worktree_path("dirty"), "README.md", "half done\n");
        t.git(&["worktree", "lock", t.worktree_path("locked").to_str().unwrap()]);
        std::fs::remove_dir_all(t.worktree_path("deleted")).unwrap();
    }
    // A worktree outside colony's directory belongs to the user.
    let mine = t.outside().join("mine");
    t.git(&["worktree", "add", "--quiet", mine.to_str().unwrap(), "-b", "mine"]);
    assert_eq!(t.worktree_paths().len(), 5);

    // A new run removes what it finds under colony's directory.
    let repo = Repo::open(t.path()).unwrap();
    let dir = repo.worktrees_dir().canonicalize().unwrap();
    let mut removed = Vec::new();
    for wt in repo.worktree_list().unwrap() {
        if wt.path.starts_with(&dir) {
            repo.worktree_remove(&wt.path).unwrap();
            removed.push(wt.path);
        }
    }
    assert_eq!(removed.len(), 3, "{removed:?}");

    let left = t.worktree_paths();
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(left[1], mine.canonicalize().unwrap());
    for name in ["dirty", "locked", "deleted"] {
        assert!(!t.worktree_path(name).exists());
        assert!(repo.branch_exists(&format!("colony-task/{name}")).unwrap());
    }

    repo.worktree_remove(&mine).unwrap();
    assert_eq!(t.worktree_paths(), [t.path().canonicalize().unwrap()]);
    assert_eq!(t.main_state(), before);
}

#[test]
fn a_registered_worktree_has_no_files_until_checked_out() {
    let t = TestRepo::new();
    let repo = t.repo();
    let path = t.worktree_path("split");
    let start = t.oid("main");

    let tree = repo.worktree_register(&path, "colony-task/split", &start).unwrap();
    assert!(!path.join("README.md").exists());
    assert_eq!(repo.worktree_list().unwrap()[1].head.as_ref(), Some(&start));
    repo.worktree_checkout(&tree).unwrap();
    assert_eq!(std::fs::read_to_string(path.join("README.md")).unwrap(), "hello\n");
    assert_eq!(git_in(&path, &["status", "--porcelain"]), "", "index and files agree with HEAD");

    // Discarding deletes the files and leaves the registration to forget.
    repo.worktree_discard(&path).unwrap();
    assert!(!path.exists());
    assert!(repo.worktree_list().unwrap()[1].prunable);
    repo.worktree_forget(&path).unwrap();
    assert_eq!(t.worktree_paths().len(), 1);
    repo.worktree_discard(&path).unwrap();
    repo.worktree_forget(&path).unwrap();
}

#[test]
fn a_worktree_detaches_at_a_commit_and_attaches_back_to_its_branch() {
    let t = TestRepo::new();
    let repo = t.repo();
    let path = t.worktree_path("gate");
    let other = t.commit_on("colony-task/other", &[("other.txt", "o\n")], "Other");
    let (tree, _) = repo.worktree_add(&path, "colony-task/gate", "main").unwrap();
    std::fs::write(path.join("README.md"), "changed\n").unwrap();
    std::fs::write(path.join("build.out"), "kept\n").unwrap();

    repo.worktree_detach(&tree, &other).unwrap();
    assert_eq!(git_in(&path, &["rev-parse", "HEAD"]), other.as_str());
    assert_eq!(git_in(&path, &["branch", "--show-current"]), "", "detached");
    assert_eq!(std::fs::read_to_string(path.join("other.txt")).unwrap(), "o\n");
    assert_eq!(std::fs::read_to_string(path.join("README.md")).unwrap(), "hello\n", "changes discarded");
    assert!(path.join("build.out").exists(), "untracked output kept");

    repo.worktree_attach(&tree, "colony-task/gate").unwrap();
    assert_eq!(git_in(&path, &["branch", "--show-current"]), "colony-task/gate");
    assert!(!path.join("other.txt").exists());
    assert_eq!(git_in(&path, &["status", "--porcelain", "--untracked-files=no"]), "");
    assert_eq!(t.oid("colony-task/gate"), t.oid("main"), "the branch never moved");
}

/// What the engine relies on: with only registering and forgetting kept
/// one at a time, workers making, filling, committing in, deleting and
/// forgetting worktrees and deleting their branches all at once never
/// trip over each other. (Unserialized `git worktree add`, or `git branch
/// -D` beside one, fails here now and then.)
#[test]
fn worktrees_made_and_removed_side_by_side_never_collide() {
    let t = TestRepo::new();
    let start = t.oid("main");
    let serial = std::sync::Mutex::new(());
    std::thread::scope(|scope| {
        for worker in 0..8 {
            let (t, serial, start) = (&t, &serial, &start);
            scope.spawn(move || {
                let repo = t.repo();
                for round in 0..8 {
                    let name = format!("w{worker}-{round}");
                    let (path, branch) = (t.worktree_path(&name), format!("colony-task/{name}"));
                    let one_at_a_time = || serial.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let tree = {
                        let _turn = one_at_a_time();
                        repo.worktree_register(&path, &branch, start).unwrap()
                    };
                    repo.worktree_checkout(&tree).unwrap();
                    write_in(&path, &format!("{name}.txt"), "work\n");
                    assert!(repo.commit_all(&tree, &name, None).unwrap().is_some());
                    repo.worktree_discard(&path).unwrap();
                    {
                        let _turn = one_at_a_time();
                        repo.worktree_forget(&path).unwrap();
                    }
                    repo.delete_branch(&branch).unwrap();
                }
            });
        }
    });
    assert_eq!(t.worktree_paths().len(), 1);
    assert_eq!(t.git(&["branch", "--list", "colony-task/*"]), "");
}

/// An agent that deletes its worktree's `.git` and goes on writing: git run
/// in that directory would find the user's repository above it. colony's
/// calls name the worktree's git directory, so the commit still lands on
/// the task branch and the user's checkout is untouched.
#[test]
fn a_worktree_whose_git_file_was_deleted_is_reported_and_never_redirects_a_commit() {
    let t = TestRepo::new();
    t.write("user.txt", "uncommitted work of the user\n");
    let before = t.main_state();
    let repo = t.repo();
    let path = t.worktree_path("rm");
    let (tree, start) = repo.worktree_add(&path, "colony-task/rm", "main").unwrap();

    std::fs::remove_file(path.join(".git")).unwrap();
    write_in(&path, "f.txt", "x\n");

    assert_eq!(repo.inspect(&tree, "colony-task/rm").unwrap(), TreeState::Broken(Breakage::GitFileDeleted));
    let commit = repo.commit_all(&tree, "Task title", None).unwrap().expect("a commit on the task branch");
    assert_eq!(t.oid("colony-task/rm"), commit);
    assert!(repo.has_commits_since(&commit, &start).unwrap());
    assert_eq!(t.oid("main"), start, "the user's branch did not move");
    assert_eq!(t.main_state(), before, "the user's checkout is untouched");
}

#[test]
fn a_git_file_replaced_or_pointed_elsewhere_is_reported() {
    let t = TestRepo::new();
    let repo = t.repo();
    let path = t.worktree_path("swap");
    let (tree, _) = repo.worktree_add(&path, "colony-task/swap", "main").unwrap();

    std::fs::remove_file(path.join(".git")).unwrap();
    git_in(&path, &["init", "--quiet"]);
    assert_eq!(repo.inspect(&tree, "colony-task/swap").unwrap(), TreeState::Broken(Breakage::GitFileReplaced));

    std::fs::remove_dir_all(path.join(".git")).unwrap();
    let main_git = repo.git_common_dir().to_path_buf();
    std::fs::write(path.join(".git"), format!("gitdir: {}\n", main_git.display())).unwrap();
    assert_eq!(
        repo.inspect(&tree, "colony-task/swap").unwrap(),
        TreeState::Broken(Breakage::GitFileRedirected { to: main_git })
    );

    std::fs::remove_dir_all(&path).unwrap();
    assert_eq!(repo.inspect(&tree, "colony-task/swap").unwrap(), TreeState::Broken(Breakage::Gone));
}

#[test]
fn a_worktree_moved_off_its_branch_is_reported_and_its_head_can_be_taken() {
    let t = TestRepo::new();
    let repo = t.repo();
    let path = t.worktree_path("moved");
    let (tree, start) = repo.worktree_add(&path, "colony-task/moved", "main").unwrap();
    assert_eq!(repo.inspect(&tree, "colony-task/moved").unwrap(), TreeState::OnBranch);

    git_in(&path, &["checkout", "--quiet", "-b", "other"]);
    write_in(&path, "a.txt", "a\n");
    git_in(&path, &["add", "a.txt"]);
    git_in(&path, &["commit", "--quiet", "-m", "work on another branch"]);
    let work = t.oid("other");
    assert_eq!(
        repo.inspect(&tree, "colony-task/moved").unwrap(),
        TreeState::OffBranch { branch: Some("other".into()), head: Some(work.clone()) }
    );

    git_in(&path, &["checkout", "--quiet", "--detach"]);
    assert_eq!(
        repo.inspect(&tree, "colony-task/moved").unwrap(),
        TreeState::OffBranch { branch: None, head: Some(work.clone()) }
    );

    write_in(&path, "b.txt", "uncommitted\n");
    repo.take_head(&tree, "colony-task/moved", &work, &start).unwrap();
    assert_eq!(repo.inspect(&tree, "colony-task/moved").unwrap(), TreeState::OnBranch);
    assert_eq!(t.oid("colony-task/moved"), work);
    let commit = repo.commit_all(&tree, "the rest", None).unwrap().expect("the uncommitted file");
    assert_eq!(t.oid("colony-task/moved"), commit);

    // The branch moved meanwhile: taking the head refuses.
    git_in(&path, &["checkout", "--quiet", "--detach", "HEAD^"]);
    assert!(repo.take_head(&tree, "colony-task/moved", &work, &start).is_err());
}

#[test]
fn ignored_paths_are_what_git_ignores_in_the_worktree_each_ignored_directory_once() {
    let t = TestRepo::new();
    t.commit_on("main", &[(".gitignore", "deps/\n*.o\n.env\n")], "ignore");
    let repo = t.repo();
    let path = t.worktree_path("task-1");
    let (tree, _) = repo.worktree_add(&path, "colony-task/task-1", "main").unwrap();
    assert!(repo.ignored_paths(&tree).unwrap().is_empty(), "a fresh worktree has nothing ignored");
    for file in ["deps/a/b/f", "deps/g", "build/x.o", "build/y.c", ".env", "src/new.rs"] {
        write_in(&path, file, "x\n");
    }
    let ignored = repo.ignored_paths(&tree).unwrap();
    let shown: Vec<&str> = ignored.iter().map(|p| p.to_str().unwrap()).collect();
    assert_eq!(shown, [".env", "build/x.o", "deps"], "untracked files git does not ignore are left out");
}
