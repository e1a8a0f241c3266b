//! `colony land --pr`: the plan's branch pushed and its pull request
//! opened, then updated, through stand-in `gh` and `glab` that keep what
//! they are given and answer as the real ones do (`colony-fake-forge`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::repo::TestRepo;

/// One task merges, one fails, one is blocked behind it.
const PLAN: &str = r#"name: p
tasks:
  - id: good
    title: Add the <b>good</b> part
    prompt: Write good.txt
    fake: {write: {good.txt: "good\n"}}
  - id: bad
    title: Add the bad part
    prompt: Write bad.txt
    fake: {fail_attempts: 9}
  - id: after
    title: Build on the bad part
    prompt: Write after.txt
    deps: [bad]
"#;

pub const CONFIG: &str = "[run]\nagent = \"fake\"\nmax_attempts = 1\n[gates]\ncommands = [\"true\"]\n";

/// A repository after a run of a plan, whose `origin` names `url` and
/// is, through `insteadOf`, a bare repository beside it.
pub struct Forged {
    pub repo: TestRepo,
    bin: PathBuf,
    pub state: PathBuf,
    bare: PathBuf,
}

impl Forged {
    /// After a run of [`PLAN`]: one task merged, one failed, one blocked.
    fn new(config: &str, url: &str) -> Forged {
        Forged::after(config, url, PLAN, 3)
    }

    /// After a run of `plan`, which ends with exit code `code`.
    pub fn after(config: &str, url: &str, plan: &str, code: i32) -> Forged {
        let repo = TestRepo::for_runs(config);
        let plan = repo.write_plan("p.yaml", plan);
        let out = repo.command(&["run", "-q", &plan]).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{}", String::from_utf8_lossy(&out.stderr));
        let bare = repo.base().join("origin.git");
        assert!(Command::new("git").args(["init", "-q", "--bare"]).arg(&bare).status().unwrap().success());
        for args in [
            vec!["remote".to_owned(), "add".to_owned(), "origin".to_owned(), url.to_owned()],
            vec!["config".to_owned(), format!("url.{}.insteadOf", bare.display()), url.to_owned()],
        ] {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            assert!(repo.git(&args).status.success());
        }
        let bin = repo.base().join("forge-bin");
        let state = repo.base().join("forge");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        for name in ["gh", "glab"] {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_colony-fake-forge"), bin.join(name)).unwrap();
        }
        Forged { repo, bin, state, bare }
    }

    /// `colony ARGS`, the stand-in forges first on `PATH`.
    pub fn colony(&self, args: &[&str]) -> std::process::Output {
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap_or_default());
        self.repo.command(args).env("PATH", path).env("COLONY_FAKE_FORGE_DIR", &self.state).output().unwrap()
    }

    /// The pull requests the stand-in holds.
    pub fn prs(&self) -> Vec<Value> {
        match std::fs::read_to_string(self.state.join("prs.json")) {
            Ok(text) => serde_json::from_str(&text).unwrap(),
            Err(_) => Vec::new(),
        }
    }

    /// Where the bare remote's `colony/p` is, if anywhere.
    pub fn pushed(&self) -> Option<String> {
        self.remote_tip("colony/p")
    }

    /// Where the bare remote's `branch` is, if anywhere.
    pub fn remote_tip(&self, branch: &str) -> Option<String> {
        let out = self.remote_git(&["rev-parse", "--verify", "-q", &format!("refs/heads/{branch}")]);
        out.status.success().then(|| text(&out.stdout).trim().to_owned())
    }

    /// The files the bare remote's `branch` holds.
    fn remote_files(&self, branch: &str) -> Vec<String> {
        let out = self.remote_git(&["ls-tree", "-r", "--name-only", &format!("refs/heads/{branch}")]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).lines().map(str::to_owned).collect()
    }

    fn remote_git(&self, args: &[&str]) -> std::process::Output {
        Command::new("git").arg("-C").arg(&self.bare).args(args).output().unwrap()
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_pull_request_is_opened_with_the_runs_story_then_updated() {
    let f = Forged::new(CONFIG, "https://github.com/fake/repo.git");
    let out = f.colony(&["land", "--pr", "--draft"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    let tip = f.repo.git_out(&["rev-parse", "colony/p"]).trim().to_owned();
    assert!(said.contains(&format!("pushed colony/p to origin at {}", &tip[..7])), "{said}");
    assert!(said.contains("opened pull request https://github.com/fake/repo/pull/1: colony: plan p (1 of 3 tasks)"));
    assert!(said.contains("note: 2 of 3 tasks not merged yet"), "{said}");
    assert_eq!(f.pushed().as_deref(), Some(tip.as_str()), "the branch is on the remote");

    let prs = f.prs();
    assert_eq!(prs.len(), 1);
    let pr = &prs[0];
    assert_eq!(
        (pr["head"].as_str(), pr["base"].as_str(), pr["draft"].as_bool()),
        (Some("colony/p"), Some("main"), Some(true))
    );
    let body = pr["body"].as_str().unwrap();
    assert!(
        body.starts_with("colony ran plan **p** (from `plans/p.yaml`): 1 of 3 tasks merged into `colony/p`."),
        "{body}"
    );
    assert!(
        body.contains("| `good` Add the &lt;b&gt;good&lt;/b&gt; part | merged | fake | 1 |"),
        "markup shown as text: {body}"
    );
    assert!(body.contains("- gates passed: `true`"), "{body}");
    assert!(
        body.contains("| `bad` Add the bad part | failed |") && body.contains("- `bad` Add the bad part: failed: "),
        "{body}"
    );
    assert!(body.contains("- `after` Build on the bad part: blocked by `bad`"), "{body}");
    assert!(body.contains("1 merged, 1 failed, 1 blocked, 0 not done yet, of 3 tasks; 2 attempts;"), "{body}");

    // Run again: the same pull request gets the new title and description.
    let out = f.colony(&["land", "--pr", "--title=-- a title like a flag"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .contains("updated pull request #1 with the plan's work so far: https://github.com/fake/repo/pull/1")
    );
    let prs = f.prs();
    assert_eq!(prs.len(), 1, "{prs:?}");
    assert_eq!(prs[0]["title"], "-- a title like a flag");
    let calls = std::fs::read_to_string(f.state.join("calls.jsonl")).unwrap();
    assert!(calls.lines().all(|l| serde_json::from_str::<Value>(l).unwrap()["forge"] == "gh"), "{calls}");
}

/// A diamond and a task on its own: `join` needs `left` and `right`, which
/// both need `root`.
const STACK: &str = r#"name: p
tasks:
  - id: root
    title: Lay the root
    prompt: Write root.txt
    fake: {write: {root.txt: "root\n"}}
  - id: left
    title: Add the left part
    prompt: Write left.txt
    deps: [root]
    fake: {write: {left.txt: "left\n"}}
  - id: right
    title: Add the right part
    prompt: Write right.txt
    deps: [root]
    fake: {write: {right.txt: "right\n"}}
  - id: join
    title: Join them
    prompt: Write join.txt
    deps: [left, right]
    fake: {write: {join.txt: "join\n"}}
  - id: alone
    title: Stand alone
    prompt: Write alone.txt
    fake: {write: {alone.txt: "alone\n"}}
"#;

#[test]
fn per_task_pull_requests_stack_by_dependency_then_update() {
    let f = Forged::after(CONFIG, "https://github.com/fake/repo.git", STACK, 0);
    let out = f.colony(&["land", "--pr", "--per-task"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains(
            "opened pull request https://github.com/fake/repo/pull/1 for `root`, into main: Lay the root (p/root)"
        ),
        "{said}"
    );

    let prs = f.prs();
    let bases: Vec<(&str, &str)> =
        prs.iter().map(|p| (p["head"].as_str().unwrap(), p["base"].as_str().unwrap())).collect();
    assert_eq!(
        bases,
        [
            ("colony-pr/p/root", "main"),
            ("colony-pr/p/left", "colony-pr/p/root"),
            ("colony-pr/p/right", "colony-pr/p/root"),
            ("colony-pr/p/join", "colony-pr/p/left"),
            ("colony-pr/p/alone", "main"),
        ],
        "in dependency order, each into the branch of what it depends on"
    );
    let join = prs[3]["body"].as_str().unwrap();
    assert!(join.starts_with("Task `join` of colony's plan **p**"), "{join}");
    assert!(join.contains("Based on #2 (`left`)") && join.contains("It also needs #3 (`right`)"), "{join}");
    assert!(join.contains("### `join`: Join them") && !join.contains("### `left`"), "its own part only: {join}");

    // Each branch holds its task's change on what it depends on, and
    // nothing of the tasks it does not depend on.
    let files = |branch| f.remote_files(branch).into_iter().filter(|p| p.ends_with(".txt")).collect::<Vec<_>>();
    assert_eq!(files("colony-pr/p/root"), ["root.txt"]);
    assert_eq!(files("colony-pr/p/left"), ["left.txt", "root.txt"]);
    assert_eq!(files("colony-pr/p/join"), ["join.txt", "left.txt", "right.txt", "root.txt"]);
    assert_eq!(files("colony-pr/p/alone"), ["alone.txt"]);
    let tips: Vec<Option<String>> =
        ["root", "left", "right", "join", "alone"].iter().map(|t| f.remote_tip(&format!("colony-pr/p/{t}"))).collect();
    assert_eq!(f.repo.git_out(&["rev-parse", "colony-pr/p/join"]).trim(), tips[3].as_deref().unwrap(), "local too");

    // Again: the same commits, the same pull requests, updated.
    let out = f.colony(&["land", "--pr", "--per-task"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("colony-pr/p/join is up to date on origin"), "{said}");
    assert!(said.contains("updated pull request #4 for `join`, into colony-pr/p/left"), "{said}");
    assert!(!said.contains("opened"), "{said}");
    assert_eq!(f.prs().len(), 5);
    let again: Vec<Option<String>> =
        ["root", "left", "right", "join", "alone"].iter().map(|t| f.remote_tip(&format!("colony-pr/p/{t}"))).collect();
    assert_eq!(again, tips);

    // With another base, the pull requests at the bottom of the stack
    // move to it; those above stay on their dependency's branch.
    assert!(f.repo.git(&["branch", "release", "main"]).status.success());
    let out = f.colony(&["land", "--pr", "--per-task", "--base", "release"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let bases: Vec<String> = f.prs().iter().map(|p| p["base"].as_str().unwrap().to_owned()).collect();
    assert_eq!(bases, ["release", "colony-pr/p/root", "colony-pr/p/root", "colony-pr/p/left", "release"]);
}

#[test]
fn gitlab_gets_a_merge_request_through_glab_when_colony_toml_names_it() {
    let config = format!("{CONFIG}[land]\nforge = \"gitlab\"\n");
    let f = Forged::new(&config, "ssh://git.example.com/team/repo.git");
    let out = f.colony(&["land", "--pr", "--base", "release"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("opened pull request https://gitlab.com/fake/repo/-/merge_requests/1"));
    let prs = f.prs();
    assert_eq!((prs[0]["head"].as_str(), prs[0]["base"].as_str()), (Some("colony/p"), Some("release")));
    assert!(prs[0]["body"].as_str().unwrap().contains("## Not merged"));
    let out = f.colony(&["land", "--pr"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("updated pull request #1"), "{}", text(&out.stdout));
    assert_eq!(f.prs().len(), 1);
}

#[test]
fn a_missing_or_logged_out_forge_cli_pushes_nothing() {
    let f = Forged::new(CONFIG, "git@github.com:fake/repo.git");
    std::fs::write(f.state.join("logged-out"), "").unwrap();
    let out = f.colony(&["land", "--pr"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("`gh` is not logged in (You are not logged into any GitHub hosts"), "{err}");
    assert!(err.contains("run `gh auth login`") && err.contains("nothing was changed"), "{err}");
    assert_eq!(f.pushed(), None);

    // Only git on PATH: no gh at all.
    let only_git = f.repo.base().join("only-git");
    std::fs::create_dir_all(&only_git).unwrap();
    std::os::unix::fs::symlink(which("git"), only_git.join("git")).unwrap();
    let out = f.repo.command(&["land", "--pr"]).env("PATH", &only_git).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("GitHub's CLI `gh` (https://cli.github.com) is not installed, or not on PATH"));
    assert_eq!(f.pushed(), None);
    assert!(f.prs().is_empty());
}

#[test]
fn a_remote_colony_cannot_place_or_a_bad_base_is_refused() {
    let f = Forged::new(CONFIG, "https://example.com/team/repo.git");
    let out = f.colony(&["land", "--pr"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot tell which forge origin (https://example.com/team/repo.git) is on"));
    let out = f.colony(&["land", "--pr", "--remote", "upstream"]);
    assert!(text(&out.stderr).contains("this repository has no remote `upstream`"), "{}", text(&out.stderr));
    let out = f.colony(&["land", "--draft"]);
    assert_eq!(out.status.code(), Some(2), "--draft needs --pr");
    let out = f.colony(&["land", "--pr", "--merge"]);
    assert_eq!(out.status.code(), Some(2), "--merge changes the checkout; --pr does not");
    assert_eq!(f.pushed(), None);
    assert!(!f.state.join("calls.jsonl").exists(), "no forge CLI was run");
}

fn which(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| Path::new(p).is_file()).expect("on PATH")
}
