//! Runs that outlive their terminal, through the real binary: `colony run
//! --detach` returns at once and its run goes on in a session of its own;
//! `colony attach` follows it to its end, `colony stop` stops it from
//! another shell, and a detached run killed with SIGKILL is carried on by
//! the next `colony run` as after any crash. The fake agent blocks on a
//! file each test writes when it is ready.

use std::process::Stdio;

use crate::repo::TestRepo;

const CONFIG: &str = "[run]\nagent = \"fake\"\nshutdown_grace = \"1s\"\ngrace = \"1s\"\n";

/// A plan whose first task waits for `release`, and a second after it.
fn plan(repo: &TestRepo, release: &std::path::Path) -> String {
    let text = format!(
        "name: p\ntasks:\n  - id: slow\n    prompt: p\n    fake: {{wait_for: {}, write: {{s.txt: \"s\\n\"}}}}\n  \
         - id: after\n    prompt: p\n    deps: [slow]\n",
        release.display()
    );
    repo.write_plan("p.yaml", &text)
}

/// Starts the plan detached; the run's pid.
fn detach(repo: &TestRepo, plan: &str) -> u32 {
    let out = repo.stdout(&["run", "--detach", plan], 0);
    assert!(out.contains("colony runs in the background: pid ") && out.contains(".colony/run.log"), "{out}");
    let pid = out.split("pid ").nth(1).and_then(|s| s.split(',').next()).unwrap();
    pid.parse().unwrap()
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits until `slow` is held by a worker: its agent is running.
fn until_running(repo: &TestRepo) {
    loop {
        let status = repo.json(&["show", "slow"])["status"].as_str().unwrap_or_default().to_owned();
        if status == "running" {
            return;
        }
        assert!(["pending", "ready"].contains(&status.as_str()), "slow is {status}");
        std::thread::yield_now();
    }
}

#[test]
fn a_detached_run_goes_on_alone_and_attach_follows_it_to_the_end() {
    let repo = TestRepo::for_runs(CONFIG);
    let release = repo.base().join("release");
    let plan = plan(&repo, &release);
    let pid = detach(&repo, &plan);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let session: u32 = stat.rsplit(')').next().unwrap().split_whitespace().nth(3).unwrap().parse().unwrap();
    assert_eq!(session, pid, "the run leads a session of its own, so no terminal's end reaches it");
    let status = repo.stdout(&["status"], 0);
    assert!(
        status.contains("run:       active since ") && status.contains(&format!("pid {pid} (detached)")),
        "{status}"
    );

    let attach = repo.command(&["attach"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    until_running(&repo);
    std::fs::write(&release, "go").unwrap();
    let out = attach.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.starts_with("attached to the run since "), "{shown}");
    assert!(shown.contains("after  attempt 1 done"), "{shown}");
    assert!(shown.contains("the run ended: 2 of 2 tasks done"), "{shown}");
    let status = repo.stdout(&["status"], 0);
    assert!(status.contains("run:       none is working on it"), "{status}");
    assert_eq!(repo.git_out(&["show", "colony/p:s.txt"]), "s\n");
    let log = std::fs::read_to_string(repo.root().join(".colony/run.log")).unwrap();
    assert!(log.contains("all 2 tasks done"), "the run's summary is in its log: {log}");
}

#[test]
fn ctrl_c_leaves_attach_and_the_run_goes_on() {
    use std::io::BufRead;
    let repo = TestRepo::for_runs(CONFIG);
    let release = repo.base().join("release");
    let plan = plan(&repo, &release);
    let pid = detach(&repo, &plan);
    let mut attach = repo.command(&["attach"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = std::io::BufReader::new(attach.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("attached to the run since "), "{first}");
    // SAFETY: the pid is the attach this test started.
    assert_eq!(unsafe { libc::kill(attach.id() as i32, libc::SIGINT) }, 0);
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert_eq!(attach.wait().unwrap().code(), Some(0));
    assert!(rest.last().unwrap().starts_with("left the run running"), "{rest:?}");
    assert!(alive(pid), "the run goes on");
    std::fs::write(&release, "go").unwrap();
    repo.stdout(&["stop"], 0);
}

#[test]
fn stop_ends_a_detached_run_from_another_shell_and_its_task_waits_for_the_next() {
    let repo = TestRepo::for_runs(CONFIG);
    let release = repo.base().join("release");
    let plan = plan(&repo, &release);
    let pid = detach(&repo, &plan);
    until_running(&repo);
    let out = repo.stdout(&["stop", "--now"], 0);
    assert!(out.contains(&format!("pid {pid} (detached): its agents are being stopped")), "{out}");
    assert!(out.ends_with("stopped; `colony run` carries on where it stopped\n"), "{out}");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(!alive(pid) || stat.contains(") Z "), "stop returns once the run has ended: {stat}");
    let slow = repo.json(&["show", "slow"]);
    assert_eq!((slow["status"].as_str(), slow["tries"].as_u64()), (Some("ready"), Some(0)), "{slow}");
    assert!(repo.stdout(&["stop"], 0).contains("no run is working on this repository"));

    std::fs::write(&release, "go").unwrap();
    repo.colony(&["run", "-q"]).success();
    assert_eq!(repo.json(&["show", "after"])["status"], "done");
}

#[test]
fn a_detached_run_killed_outright_is_carried_on_by_the_next_run() {
    let repo = TestRepo::for_runs(CONFIG);
    let release = repo.base().join("release");
    let plan = plan(&repo, &release);
    let pid = detach(&repo, &plan);
    until_running(&repo);
    // SAFETY: the pid is the detached run this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    while alive(pid) && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ") {
        std::thread::yield_now();
    }
    // Ended: gone, or a zombie its adopter has not reaped yet.
    let status = repo.stdout(&["status"], 0);
    assert!(status.contains("run:       none is working on it"), "a dead run is not taken for a live one: {status}");

    std::fs::write(&release, "go").unwrap();
    let out = repo.stdout(&["run"], 0);
    assert!(out.contains("all 2 tasks done"), "{out}");
    assert_eq!(repo.git_out(&["show", "colony/p:s.txt"]), "s\n");
}
