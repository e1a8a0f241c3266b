//! A small real project run as a user would: a Node package with a
//! lockfile and a local dependency, a git-ignored `.env` its test reads,
//! and a test that starts an HTTP server on the port colony gives the
//! attempt (`tests/fixtures/greeter`). The gate is the project's own `npm
//! test`; nothing is stubbed but the agent.

use std::path::Path;

use crate::ports::held;
use crate::repo::TestRepo;

const ROUTES: [&str; 6] = ["ada", "grace", "edsger", "barbara", "donald", "frances"];

/// What a user of such a project writes in colony.toml to make each
/// worktree fit to test in, with ports from [`ports`]`(slot)`.
fn worktree(slot: u16) -> String {
    format!(
        "[worktree]\ncopy = [\".env\"]\nsetup = [\"npm ci --offline --no-audit --no-fund\"]\nports = 1\n{}",
        ports(slot)
    )
}

/// A port range of its own for each test here (`slot`) and each copy of
/// the suite running at once (told apart by process id). Blocks are kept
/// apart per store, and each test has its own store: two of them on the
/// default range both take its lowest ports, and their servers collide.
fn ports(slot: u16) -> String {
    let first = 20000 + ((std::process::id() % 60) as u16 * 3 + slot) * 50;
    format!("port_range = \"{first}-{}\"\n", first + 49)
}

/// Six tasks, each adding one route with its own file: all can run at once.
fn plan() -> String {
    let mut plan = String::from("name: greeter\ntasks:\n");
    for name in ROUTES {
        plan.push_str(&format!(
            "  - id: {name}\n    prompt: Add a route that greets {name}.\n    files: [\"src/routes/{name}.js\"]\n    \
             fake:\n      write:\n        src/routes/{name}.js: \"module.exports = {{ name: '{name}' }};\\n\"\n"
        ));
    }
    plan
}

/// The greeter project with `config`, committed, its `.env` in the main
/// checkout only.
fn greeter(config: &str) -> TestRepo {
    let repo =
        TestRepo::for_runs(&format!("[run]\nagent = \"fake\"\n\n[gates]\ncommands = [\"npm test\"]\n\n{config}"));
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/greeter"), repo.root());
    repo.write_plan("greeter.yaml", &plan());
    repo.commit_all("The greeter");
    std::fs::write(repo.root().join(".env"), "GREETING=Hello\n").unwrap();
    assert_eq!(repo.git_out(&["status", "--porcelain"]), "", ".env is ignored");
    repo
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn six_tasks_of_a_real_project_merge_with_setup_copy_and_ports() {
    let repo = greeter(&worktree(0));

    let out = repo.stdout(&["run", "plans/greeter.yaml", "-j", "3"], 0);

    assert!(out.contains("all 6 tasks done"), "{out}");
    let routes = repo.git_out(&["ls-tree", "--name-only", "colony/greeter", "src/routes/"]);
    assert_eq!(routes.lines().count(), 6, "{routes}");
    assert!(!repo.git_out(&["ls-tree", "-r", "--name-only", "colony/greeter"]).contains(".env"));
    let held: Vec<_> = ROUTES.iter().map(|t| (*t, held(&repo, t))).collect();
    for (i, (x, xh)) in held.iter().enumerate() {
        for (y, yh) in &held[i + 1..] {
            let at_once = xh.taken < yh.ended && yh.taken < xh.ended;
            assert!(!at_once || xh.last < yh.first || yh.last < xh.first, "{x} {xh:?} and {y} {yh:?} shared ports");
        }
    }
}

#[test]
fn without_setup_and_copy_the_same_run_fails_its_gate_and_costs_no_agent() {
    let repo = greeter(&format!("[worktree]\nports = 1\n{}", ports(1)));

    let out = repo.command(&["run", "plans/greeter.yaml", "-j", "3"]).output().unwrap();

    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    let said = format!("{stdout}\n{stderr}");
    assert!(said.contains("gate `npm test` already fails on colony/greeter"), "{said}");
    assert!(said.contains("src/server.js:5"), "the output ends at the require of the missing module: {said}");
    assert!(repo.events().iter().all(|e| e["type"] != "claimed"), "no agent ran");
}

/// How many records of `step` the attempt logs of the run hold.
fn steps(repo: &TestRepo, step: &str) -> usize {
    let runs = repo.root().join(".colony/runs");
    let needle = format!("\"step\":\"{step}\"");
    let mut count = 0;
    for task in ROUTES {
        let Ok(log) = std::fs::read_to_string(runs.join(task).join("a1/log.jsonl")) else { continue };
        count += log.lines().filter(|l| l.contains(&needle)).count();
    }
    count
}

#[test]
fn with_reuse_setup_npm_ci_runs_once_and_every_attempt_gets_its_copy() {
    let repo = greeter(&format!("{}reuse_setup = true\n", worktree(2)));

    let out = repo.stdout(&["run", "plans/greeter.yaml", "-j", "3"], 0);

    assert!(out.contains("all 6 tasks done"), "{out}");
    assert_eq!(steps(&repo, "setup"), 0, "no attempt ran npm ci");
    assert_eq!(steps(&repo, "setup_reused"), ROUTES.len(), "each attempt copied what the look at the branch kept");
    let cache = repo.root().join(".colony/setup-cache");
    let keys: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let dependency = keys[0].join("tree/node_modules/greeting-words");
    assert!(std::fs::symlink_metadata(&dependency).is_ok(), "npm's link to the local package is kept: {keys:?}");
    let logs = repo.stdout(&["logs", "ada"], 0);
    let key = keys[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(logs.contains(&format!("setup reused from {key} (")), "{logs}");
    assert!(logs.contains("instead of running `npm ci --offline --no-audit --no-fund`"), "{logs}");
}
