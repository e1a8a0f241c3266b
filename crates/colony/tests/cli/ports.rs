//! `[worktree] ports`: with real `colony` processes and `command` agents
//! that listen on `COLONY_PORT` (and gates that do too), a port two live
//! attempts shared would be refused (EADDRINUSE) and fail a task. Each
//! attempt's block is recorded; those of attempts live at once are
//! disjoint, within one process and across two on one store.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::repo::TestRepo;

/// Listens on 127.0.0.1:$COLONY_PORT, or fails; then runs `then` (Perl).
fn listen(who: &str, then: &str) -> String {
    format!(
        "perl -MIO::Socket::INET -e 'IO::Socket::INET->new(LocalAddr => \"127.0.0.1\", \
         LocalPort => $ENV{{COLONY_PORT}}, Listen => 1, ReuseAddr => 1) \
         or die \"{who} cannot listen on $ENV{{COLONY_PORT}}: $!\\n\"; {then}'"
    )
}

/// Writes what `who` was given to `$STATE/<who>-<worktree's name>`.
fn note(who: &str) -> String {
    format!("echo \"$COLONY_PORT $COLONY_PORTS\" > \"$STATE/{who}-$(basename \"$PWD\")\"")
}

/// The agent: listens until three agents listen at once (or a minute
/// passes), notes its ports, writes its task's file.
fn agent() -> String {
    let wait = "open(my $f, \">\", \"$ENV{STATE}/listening-$ENV{COLONY_TASK_ID}\"); close $f; \
                for (1..1200) { my @l = glob(\"$ENV{STATE}/listening-*\"); last if @l >= 3; \
                select(undef, undef, undef, 0.05) }";
    format!("{} || exit 1\n{}\necho done > \"$COLONY_TASK_ID.txt\"\n", listen("the agent", wait), note("agent"))
}

const TASKS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

/// A repository whose `colony.toml` gives each attempt 2 ports of
/// `range` and runs the listening agent, and plan `p` of [`TASKS`], one
/// try each; the directory the agents and commands note in.
fn project(range: &str) -> (TestRepo, PathBuf) {
    let repo = TestRepo::new();
    let state = repo.base().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let script = repo.base().join("agent.sh");
    std::fs::write(&script, agent()).unwrap();
    let toml_str = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let gate = format!("{} && {}", listen("the gate", ""), note("gate"));
    let config = format!(
        "[run]\nagent = \"listener\"\nmax_attempts = 1\n\n\
         [agents.listener]\nkind = \"command\"\ncommand = [\"sh\", {script}]\nenv = {{ STATE = {state} }}\n\n\
         [gates]\ncommands = [{gate}]\n\n\
         [worktree]\nsetup = [{setup}]\nenv = {{ STATE = {state} }}\nports = 2\nport_range = \"{range}\"\n\n\
         [sandbox]\nwritable = [{state}]\n",
        script = toml_str(&script.display().to_string()),
        state = toml_str(&state.display().to_string()),
        gate = toml_str(&gate),
        setup = toml_str(&note("setup")),
    );
    std::fs::write(repo.root().join("README.md"), "# A project\n").unwrap();
    std::fs::write(repo.root().join("colony.toml"), config).unwrap();
    repo.colony(&["init"]).success();
    repo.commit_all("Start");
    let tasks: String = TASKS.iter().map(|t| format!("  - id: {t}\n    prompt: Do {t}.\n")).collect();
    let plan = repo.write_plan("p.yaml", &format!("name: p\ntasks:\n{tasks}"));
    repo.colony(&["add", &plan]).success();
    (repo, state)
}

/// A task's one attempt: its block, when its log noted it, and when the
/// attempt ended.
#[derive(Debug)]
pub struct Held {
    pub first: u16,
    pub last: u16,
    pub taken: i64,
    pub ended: i64,
}

pub fn held(repo: &TestRepo, task: &str) -> Held {
    let shown = repo.json(&["show", task]);
    assert_eq!(shown["status"], "done", "{shown}");
    let attempts = shown["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "one try, and it merged: {shown}");
    let ports = &attempts[0]["ports"];
    let (first, last) = (ports["first"].as_u64().unwrap() as u16, ports["last"].as_u64().unwrap() as u16);
    let log = std::fs::read_to_string(repo.root().join(format!(".colony/runs/{task}/a1/log.jsonl"))).unwrap();
    let said = format!("ports {first}-{last}: COLONY_PORT={first}");
    let line = log.lines().find(|l| l.contains(&said)).unwrap_or_else(|| panic!("{task}'s log names its ports"));
    let taken = serde_json::from_str::<serde_json::Value>(line).unwrap()["t"].as_i64().unwrap();
    Held { first, last, taken, ended: attempts[0]["ended_at"].as_i64().unwrap() }
}

/// Every task merged with one try; setup, agent and gate of each attempt
/// were given its block; blocks held at once are disjoint, and at least
/// three were held at once.
fn check(repo: &TestRepo, state: &Path, range: (u16, u16)) {
    let all: Vec<(&str, Held)> = TASKS.iter().map(|t| (*t, held(repo, t))).collect();
    let mut at_once = 0;
    for (i, (x, xh)) in all.iter().enumerate() {
        let (xf, xl) = (xh.first, xh.last);
        assert!(xl - xf == 1 && xf >= range.0 && xl <= range.1, "{x}: {xf}-{xl}");
        let given = format!("{xf} {xf}-{xl}\n");
        for who in ["setup", "agent", "gate"] {
            let seen = std::fs::read_to_string(state.join(format!("{who}-{x}-a1"))).unwrap_or_default();
            assert_eq!(seen, given, "{who} of {x}");
        }
        for (y, yh) in &all[i + 1..] {
            if xh.taken < yh.ended && yh.taken < xh.ended {
                at_once += 1;
                assert!(xl < yh.first || yh.last < xf, "{x} ({xf}-{xl}) and {y} ({yh:?}) held ports at once");
            }
        }
    }
    assert!(at_once >= 3, "three attempts listened at once: {all:?}");
}

#[test]
fn attempts_at_once_each_listen_on_their_own_ports() {
    let (repo, state) = project("42000-42099");
    let out = repo.command(&["run", "-j", "3", "--quiet"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    check(&repo, &state, (42000, 42099));
    let Held { first, last, .. } = held(&repo, "a");
    let shown = repo.stdout(&["show", "a"], 0);
    assert!(shown.contains(&format!("      ports {first}-{last} (COLONY_PORT={first})\n")), "{shown}");
}

#[test]
fn two_processes_on_one_store_never_share_a_port() {
    let (repo, state) = project("42100-42199");
    let spawn = |args: &[&str]| repo.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let run = spawn(&["run", "-j", "2", "--quiet"]);
    let worker = spawn(&["worker", "-j", "2"]);
    for child in [run, worker] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    check(&repo, &state, (42100, 42199));
    let workers = crate::run::claimers(&repo);
    assert_eq!(workers.len(), 2, "both processes claimed work: {workers:?}");
}
