//! A shared remote on real repositories: a bare repository and two clones
//! playing two hosts.

mod common;

use colony_git::{PushOutcome, Repo};
use common::{TestRepo, git_in};

const BRANCH: &str = "colony/plan";

/// A bare remote holding `main`, and the fixture's repository and a second
/// clone of it with `origin` pointing there.
struct Hosts {
    first: TestRepo,
    second: std::path::PathBuf,
}

fn hosts() -> Hosts {
    let first = TestRepo::new();
    let bare = first.outside().join("remote.git");
    git_in(&first.outside(), &["init", "--quiet", "--bare", bare.to_str().unwrap()]);
    first.git(&["remote", "add", "origin", bare.to_str().unwrap()]);
    first.git(&["push", "--quiet", "origin", "main"]);
    let second = first.outside().join("second");
    git_in(&first.outside(), &["clone", "--quiet", bare.to_str().unwrap(), second.to_str().unwrap()]);
    Hosts { first, second }
}

#[test]
fn the_first_push_creates_the_branch_and_a_stale_lease_is_refused() {
    let h = hosts();
    let (a, b) = (h.first.repo(), Repo::open(&h.second).unwrap());
    assert!(a.has_remote("origin").unwrap() && !a.has_remote("upstream").unwrap());
    assert_eq!(a.remote_branch("origin", BRANCH).unwrap(), None);
    assert_eq!(a.fetch_branch("origin", BRANCH).unwrap(), None, "nothing to fetch yet");

    let start = h.first.oid("main");
    assert_eq!(a.push_lease("origin", BRANCH, &start, None).unwrap(), PushOutcome::Pushed);
    assert_eq!(b.push_lease("origin", BRANCH, &start, None).unwrap(), PushOutcome::Pushed, "already there");
    git_in(&h.second, &["-c", "user.name=T", "-c", "user.email=t@x", "commit", "-q", "--allow-empty", "-m", "Two"]);
    let two = b.rev_parse("HEAD").unwrap().unwrap();
    assert_eq!(
        b.push_lease("origin", BRANCH, &two, None).unwrap(),
        PushOutcome::Stale { actual: Some(start.clone()) },
        "it exists now"
    );

    // Both hosts merge from the same tip; the second to push loses.
    assert_eq!(b.fetch_branch("origin", BRANCH).unwrap(), Some(start.clone()));
    let one = h.first.commit_on("colony-task/one", &[("one.txt", "1\n")], "One");
    assert_eq!(a.push_lease("origin", BRANCH, &one, Some(&start)).unwrap(), PushOutcome::Pushed);
    assert_eq!(
        b.push_lease("origin", BRANCH, &two, Some(&start)).unwrap(),
        PushOutcome::Stale { actual: Some(one.clone()) }
    );
    assert_eq!(b.fetch_branch("origin", BRANCH).unwrap(), Some(one.clone()), "the local branch follows the remote");
    assert_eq!(b.rev_parse(&format!("refs/heads/{BRANCH}")).unwrap(), Some(one));
}

#[test]
fn task_branches_are_pushed_replaced_and_deleted() {
    let h = hosts();
    let a = h.first.repo();
    let first = h.first.commit_on("colony-task/p/t-a1", &[("t.txt", "1\n")], "T");
    a.push_branch("origin", "colony-task/p/t-a1").unwrap();
    assert_eq!(a.remote_branch("origin", "colony-task/p/t-a1").unwrap(), Some(first));
    h.first.git(&["branch", "-f", "colony-task/p/t-a1", "main"]);
    a.push_branch("origin", "colony-task/p/t-a1").unwrap();
    assert_eq!(a.remote_branch("origin", "colony-task/p/t-a1").unwrap(), Some(h.first.oid("main")), "forced");
    a.delete_remote_branch("origin", "colony-task/p/t-a1").unwrap();
    assert_eq!(a.remote_branch("origin", "colony-task/p/t-a1").unwrap(), None);
    a.delete_remote_branch("origin", "colony-task/p/t-a1").unwrap();
}

#[test]
fn an_unreachable_remote_is_an_error_not_a_lost_race() {
    let h = hosts();
    let a = h.first.repo();
    h.first.git(&["remote", "set-url", "origin", "/nonexistent/remote.git"]);
    let start = h.first.oid("main");
    assert!(a.remote_branch("origin", BRANCH).is_err());
    assert!(a.fetch_branch("origin", BRANCH).is_err());
    assert!(a.push_lease("origin", BRANCH, &start, None).is_err());
}

#[test]
fn fetches_and_pushes_of_one_branch_from_one_repository_do_not_collide() {
    // One host's workers: one fetches the integration branch to start an
    // attempt while another pushes its merge.
    let h = hosts();
    let a = h.first.repo();
    let mut commits = vec![h.first.oid("main")];
    for i in 0..40 {
        commits.push(h.first.commit_on("colony-task/p/t-a1", &[("t.txt", &format!("{i}\n"))], "T"));
    }
    assert_eq!(a.push_lease("origin", BRANCH, &commits[0], None).unwrap(), PushOutcome::Pushed);
    std::thread::scope(|scope| {
        let pusher = scope.spawn(|| {
            for pair in commits.windows(2) {
                assert_eq!(a.push_lease("origin", BRANCH, &pair[1], Some(&pair[0])).unwrap(), PushOutcome::Pushed);
            }
        });
        while !pusher.is_finished() {
            a.fetch_branch("origin", BRANCH).unwrap();
        }
    });
    assert_eq!(a.fetch_branch("origin", BRANCH).unwrap().as_ref(), commits.last());
}
