//! One run across several hosts: `colony worker` processes, each in a clone
//! of its own, share a real PostgreSQL store and a bare repository as the
//! git remote. The hosts are separate processes and clones on this machine
//! (no network namespaces): everything between them goes through the store
//! and the remote, as it would between machines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use colony_testkit::{PgServer, Proxy};

use crate::repo::TestRepo;
use crate::run::slow_dag;

/// Short leases so a dead host's tasks come back within seconds.
const CONFIG: &str = "[run]\nagent = \"fake\"\nbackoff_base = \"1s\"\nbackoff_cap = \"1s\"\nlease = \"5s\"\n";

/// The shared remote and the hosts' clones of it, all set up with
/// `colony init` against one PostgreSQL database.
struct Cluster {
    /// Holds the bare remote; removed on drop.
    _dir: tempfile::TempDir,
    remote: PathBuf,
    hosts: Vec<TestRepo>,
    store: String,
}

impl Cluster {
    fn new(hosts: usize, store: String) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let remote = dir.path().join("remote.git");
        git(dir.path(), &["init", "--quiet", "--bare", "--initial-branch=main", remote.to_str().unwrap()]);
        let seed = TestRepo::new();
        std::fs::write(seed.root().join("README.md"), "# A project\n").unwrap();
        std::fs::write(seed.root().join("colony.toml"), CONFIG).unwrap();
        seed.commit_all("Start");
        seed.git_out(&["remote", "add", "origin", remote.to_str().unwrap()]);
        seed.git_out(&["push", "--quiet", "origin", "main"]);
        let hosts = (0..hosts)
            .map(|_| {
                let host = TestRepo::new();
                host.git_out(&["remote", "add", "origin", remote.to_str().unwrap()]);
                host.git_out(&["fetch", "--quiet", "origin"]);
                host.git_out(&["checkout", "--quiet", "-B", "main", "origin/main"]);
                let out = host.command(&["init"]).env("COLONY_STORE", &store).output().unwrap();
                assert!(out.status.success(), "colony init: {}", String::from_utf8_lossy(&out.stderr));
                host
            })
            .collect();
        Cluster { _dir: dir, remote, hosts, store }
    }

    /// `colony ARGS` on host `i`, with the shared store.
    fn command(&self, i: usize, args: &[&str]) -> Command {
        let mut cmd = self.hosts[i].command(args);
        cmd.env("COLONY_STORE", &self.store);
        cmd
    }

    fn worker(&self, i: usize, jobs: &str) -> Child {
        self.command(i, &["worker", "-j", jobs]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    }

    fn list(&self) -> Vec<serde_json::Value> {
        let out = self.command(0, &["list", "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap().as_array().unwrap().clone()
    }

    /// Every event, as `colony events --json` prints them, one a line.
    fn events(&self) -> String {
        let out = self.command(0, &["events", "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Subjects of the remote integration branch's first-parent line, counted.
    fn merges(&self, branch: &str) -> BTreeMap<String, usize> {
        let log = git(&self.remote, &["log", "--first-parent", "--format=%s", &format!("main..{branch}")]);
        let mut counts = BTreeMap::new();
        for subject in log.lines() {
            *counts.entry(subject.to_owned()).or_insert(0) += 1;
        }
        counts
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(args).env("GIT_CONFIG_NOSYSTEM", "1").output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Waits for `child` to exit, at most `limit`; its status and output.
fn finish(mut child: Child, limit: Duration) -> (Option<i32>, String, String) {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            // SAFETY: kill(2) on a child this test started and has not reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            let out = child.wait_with_output().unwrap();
            panic!(
                "a host did not finish in {limit:?}:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// Polls `check` every 100 ms until it holds, at most `limit`.
fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The process groups led by children of `pid`: a worker's agents. Its
/// other children (git) are in the worker's own group, which is this
/// test's: never those.
fn child_groups(pid: u32) -> Vec<i32> {
    let mut groups = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid)
            && fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(child)
        {
            groups.push(child);
        }
    }
    groups
}

/// Every task merged exactly once on the remote, its file in the tree, and
/// the store says done.
fn assert_exactly_once(cluster: &Cluster, plan: &str, n: usize) {
    let merged = cluster.merges(&format!("colony/{plan}"));
    assert_eq!(merged.len(), n, "{merged:?}");
    for i in 0..n {
        let subject = format!("Merge task t{i:02}: Task {i}");
        assert_eq!(merged.get(&subject), Some(&1), "{subject} exactly once: {merged:?}");
    }
    let files = git(&cluster.remote, &["ls-tree", "-r", "--name-only", &format!("colony/{plan}")]);
    assert_eq!(files.lines().filter(|f| f.starts_with("colony-fake/")).count(), n);
    let list = cluster.list();
    assert!(list.iter().all(|t| t["status"] == "done"), "{list:?}");
}

#[test]
fn three_hosts_share_a_run_and_one_killed_mid_run_loses_and_doubles_nothing() {
    let cluster = Cluster::new(3, PgServer::shared().fresh_db());
    let plan = cluster.hosts[0].write_plan("hosts.yaml", &slow_dag("hosts", 40, 400));
    let out = cluster.command(0, &["add", &plan]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let workers: Vec<Child> = (0..3).map(|i| cluster.worker(i, "3")).collect();
    let victim = workers[2].id();
    // Kill the third host while it has an attempt under way, after some
    // work is merged.
    wait_until(Duration::from_secs(60), "the third host at work mid-run", || {
        let list = cluster.list();
        let done = list.iter().filter(|t| t["status"] == "done").count();
        let its =
            |t: &&serde_json::Value| t["lease"]["worker"].as_str().is_some_and(|w| w.contains(&format!(":{victim}:")));
        done >= 6 && list.iter().any(|t| its(&t) && t["status"] == "running")
    });
    let groups = child_groups(victim);
    // SAFETY: kill(2) on a child this test started and has not reaped, and
    // on the process groups its agents lead.
    unsafe {
        libc::kill(victim as i32, libc::SIGKILL);
        for group in groups {
            libc::kill(-group, libc::SIGKILL);
        }
    }
    let mut workers = workers.into_iter();
    let (first, second, killed) = (workers.next().unwrap(), workers.next().unwrap(), workers.next().unwrap());
    assert_eq!(finish(killed, Duration::from_secs(5)).0, None, "killed");
    for host in [first, second] {
        let (code, stdout, stderr) = finish(host, Duration::from_secs(90));
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        assert!(stdout.contains("merging on the remote origin"), "{stdout}");
        assert!(stdout.contains("all 40 tasks done"), "{stdout}");
    }

    assert_exactly_once(&cluster, "hosts", 40);
    let events = cluster.events();
    // The hosts share a machine here, so the others see that the killed
    // one is gone and take its attempt back without counting a try.
    assert!(
        events.lines().any(|l| l.contains("\"type\":\"released\"") && l.contains(&format!("colony process {victim} "))),
        "the killed host's attempt was taken back: {events}"
    );
    let local = cluster.hosts[1].git_out(&["rev-parse", "colony/hosts"]);
    assert_eq!(local, git(&cluster.remote, &["rev-parse", "colony/hosts"]), "a host's branch follows the remote");
}

/// A host dies at `failpoint` in its first merge; a second host, joining
/// afterwards, finishes the plan. Returns the cluster and the second host's
/// log of the task the first one died merging.
fn die_merging_then_finish_elsewhere(failpoint: &str) -> (Cluster, String) {
    let cluster = Cluster::new(2, PgServer::shared().fresh_db());
    let plan = cluster.hosts[0].write_plan("die.yaml", &slow_dag("die", 3, 0));
    let out = cluster.command(0, &["add", &plan]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = cluster.command(0, &["worker", "-j", "1"]).env("COLONY_FAILPOINT", failpoint).output().unwrap();
    assert_eq!(out.status.code(), None, "aborted at {failpoint}: {}", String::from_utf8_lossy(&out.stderr));
    let (code, stdout, stderr) = finish(cluster.worker(1, "1"), Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_exactly_once(&cluster, "die", 3);
    let out = cluster.command(1, &["logs", "t00"]).output().unwrap();
    (cluster, String::from_utf8(out.stdout).unwrap())
}

#[test]
fn a_host_that_dies_after_its_push_is_not_merged_again_by_another() {
    let (_cluster, log) = die_merging_then_finish_elsewhere("after-merge");
    assert!(
        log.contains("has this task's merge already"),
        "the second host finds the first one's merge on the remote: {log}"
    );
}

#[test]
fn a_host_that_dies_before_its_push_is_merged_by_another() {
    let (cluster, log) = die_merging_then_finish_elsewhere("before-push");
    assert!(!log.contains("has this task's merge already") && log.contains("merged into colony/die"), "{log}");
    let attempts = cluster.command(1, &["show", "t00", "--json"]).output().unwrap();
    let attempts: serde_json::Value = serde_json::from_slice(&attempts.stdout).unwrap();
    assert_eq!(attempts["attempts"].as_array().unwrap().len(), 2);
}

#[test]
fn a_store_that_blinks_is_waited_out_and_fails_no_task() {
    let server = PgServer::shared();
    let direct = server.fresh_db();
    let proxy = Proxy::start(server.port());
    let cluster = Cluster::new(2, proxy.url(&direct, server.port()));
    let plan = cluster.hosts[0].write_plan("blink.yaml", &slow_dag("blink", 12, 300));
    let out = cluster.command(0, &["add", &plan]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let workers: Vec<Child> = (0..2).map(|i| cluster.worker(i, "2")).collect();
    wait_until(Duration::from_secs(60), "work under way", || {
        cluster.list().iter().filter(|t| t["status"] == "done").count() >= 2
    });
    // The outage lasts a while, as a network's would.
    proxy.cut();
    std::thread::sleep(Duration::from_secs(3));
    proxy.restore();
    for host in workers {
        let (code, stdout, stderr) = finish(host, Duration::from_secs(90));
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        assert!(stdout.contains("all 12 tasks done"), "{stdout}");
        assert!(stderr.contains("colony: the store is unreachable ("), "{stderr}");
        assert!(stderr.contains("colony: the store is reachable again"), "{stderr}");
    }
    assert_exactly_once(&cluster, "blink", 12);
    let events = cluster.events();
    let failures: Vec<&str> = events.lines().filter(|l| l.contains("\"type\":\"attempt_failed\"")).collect();
    assert!(failures.is_empty(), "no task failed because the store blinked:\n{}", failures.join("\n"));
}

#[test]
fn the_remote_is_used_only_with_a_shared_store_and_must_exist_when_named() {
    // SQLite is one machine's: an `origin` nobody can reach is left alone.
    let repo = TestRepo::for_runs(crate::run::FAKE_CONFIG);
    repo.git_out(&["remote", "add", "origin", "/nonexistent/remote.git"]);
    let plan = repo.write_plan("one.yaml", "name: one\ntasks:\n  - id: a\n    prompt: Do a.\n");
    let out = repo.stdout(&["run", &plan], 0);
    assert!(out.contains("all 1 task done") && !out.contains("remote"), "{out}");

    // A remote named in colony.toml that the clone lacks is refused.
    let cluster = Cluster::new(1, PgServer::shared().fresh_db());
    std::fs::write(cluster.hosts[0].root().join("colony.toml"), format!("{CONFIG}remote = \"shared\"\n")).unwrap();
    let out = cluster.command(0, &["worker"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: colony.toml's [run] remote is `shared`, but this repository has no such remote; add it with \
         `git remote add shared URL` (the repository every machine of the run pushes to)\n"
    );
}
