//! `colony run` driving each agent CLI through its adapter, against fake
//! executables named `claude`, `codex`, … placed first on `PATH`. The fake
//! (`colony-fake-cli`) checks its argv as the real CLI does, does the
//! task's file work, and prints a transcript in that CLI's format, so these
//! runs cross the whole path: config, argv, stdin, parsing, the verdict,
//! usage, resumed sessions, the merge.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

use crate::repo::TestRepo;

/// The CLIs, by the name colony.toml gives them and the program on PATH.
const CLIS: &[(&str, &str)] = &[
    ("claude", "claude"),
    ("codex", "codex"),
    ("gemini", "gemini"),
    ("opencode", "opencode"),
    ("cursor", "cursor-agent"),
    ("amp", "amp"),
    ("aider", "aider"),
];

/// A repository whose `PATH` starts with fake agent CLIs.
pub(crate) struct Fakes {
    pub repo: TestRepo,
    pub bin: PathBuf,
}

impl Fakes {
    pub(crate) fn new(config: &str) -> Fakes {
        let repo = TestRepo::for_runs(config);
        let bin = repo.base().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for (_, program) in CLIS {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_colony-fake-cli"), bin.join(program)).unwrap();
        }
        Fakes { repo, bin }
    }

    /// In the temp dir, which the fake CLIs may write in their sandbox.
    fn calls_log(&self) -> PathBuf {
        self.repo.base().join("tmp/calls.jsonl")
    }

    /// `colony ARGS` in the repository, the fakes first on `PATH`, their
    /// calls logged.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap_or_default());
        let mut command = self.repo.command(args);
        command.env("PATH", path).env("COLONY_FAKE_CLI_LOG", self.calls_log());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Every invocation the fakes logged, in order.
    pub(crate) fn calls(&self) -> Vec<Value> {
        std::fs::read_to_string(self.calls_log())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn task(&self, id: &str) -> Value {
        self.repo.json(&["show", id])
    }
}

fn config(agent: &str) -> String {
    format!("[run]\nagent = \"{agent}\"\nbackoff_base = \"1s\"\nbackoff_cap = \"1s\"\nmax_attempts = 1\n")
}

/// Two chained tasks writing files, so the second sees the first's merge.
const PLAN: &str = "name: p\ntasks:\n  - id: a\n    title: Add a\n    prompt: Write a.txt\n    fake: {write: {a.txt: \"a\\n\"}}\n  - id: b\n    title: Add b\n    prompt: Write b.txt\n    deps: [a]\n    fake: {write: {b.txt: \"b\\n\"}}\n";

fn argv(call: &Value) -> Vec<String> {
    call["argv"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect()
}

fn assert_ran(out: &Output, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_cli_runs_a_plan_to_the_end_through_its_adapter() {
    for (name, program) in CLIS {
        let fakes = Fakes::new(&config(name));
        let plan = fakes.repo.write_plan("p.yaml", PLAN);
        let out = fakes.run(&["run", "-q", &plan]);
        assert_ran(&out, name);
        let files = fakes.repo.git_out(&["ls-tree", "-r", "--name-only", "colony/p"]);
        assert!(files.contains("a.txt") && files.contains("b.txt"), "{name}: {files}");

        let calls = fakes.calls();
        assert_eq!(calls.len(), 2, "{name}: one call per task: {calls:?}");
        for call in &calls {
            assert_eq!(call["cli"], *program);
            let args = argv(call);
            assert!(
                args.iter().all(|a| !a.contains("Write a.txt") && !a.contains("Write b.txt")),
                "{name}: the prompt never goes into argv: {args:?}"
            );
            assert!(call["prompt_len"].as_u64().unwrap() > 0, "{name}: the prompt arrived: {call}");
            let cwd = call["cwd"].as_str().unwrap();
            assert!(cwd.contains("/.colony/worktrees/"), "{name}: runs in its worktree: {cwd}");
        }
        let a = fakes.task("a");
        let version = a["attempts"][0]["agent_version"].as_str().unwrap_or_default();
        assert!(version.contains("9.9.9"), "{name}: the CLI's version is kept for the attempt: {a}");
        let log = fakes.repo.stdout(&["logs", "a"], 0);
        // Aider prints plain text, kept as it is.
        let shown = if *name == "aider" { "stdout" } else { "tool" };
        assert!(log.contains(shown), "{name}: the agent's work is rendered: {log}");
        // The CLIs whose transcripts carry token counts.
        if ["claude", "codex", "gemini", "opencode"].contains(name) {
            let usage = &a["attempts"][0]["usage"];
            assert!(usage["input"].as_u64().unwrap() > 0, "{name}: tokens are recorded: {a}");
        }
    }
}

#[test]
fn claude_is_driven_headless_with_stream_json_and_full_permissions() {
    let fakes = Fakes::new(&format!(
        "{}[agents.claude]\nmodel = \"sonnet\"\nargs = [\"--max-turns\", \"40\"]\n",
        config("claude")
    ));
    let plan = fakes.repo.write_plan("p.yaml", PLAN);
    assert_ran(&fakes.run(&["run", "-q", &plan]), "claude");
    let args = argv(&fakes.calls()[0]);
    for flag in ["-p", "--output-format", "stream-json", "--verbose", "--model", "sonnet", "--max-turns", "40"] {
        assert!(args.iter().any(|a| a == flag), "{flag} missing from {args:?}");
    }
    assert!(args.iter().any(|a| a == "bypassPermissions" || a == "--dangerously-skip-permissions"), "{args:?}");
    let status = fakes.repo.json(&["status"]);
    let cost = status["spend"]["cost_usd"].as_f64().unwrap();
    assert!(cost > 0.0, "claude reports its cost: {status}");
    let summary = String::from_utf8(fakes.run(&["status"]).stdout).unwrap();
    assert!(summary.contains("spend:") && summary.contains('$'), "{summary}");
}

#[test]
fn a_task_model_overrides_the_agents_and_codex_tokens_are_priced() {
    let config = format!(
        "{}[agents.codex]\nmodel = \"gpt-5-codex\"\n[prices.\"gpt-5\"]\ninput = 1.25\noutput = 10.0\n",
        config("codex")
    );
    let fakes = Fakes::new(&config);
    let plan =
        fakes.repo.write_plan("p.yaml", &PLAN.replace("    title: Add a\n", "    title: Add a\n    model: gpt-5\n"));
    assert_ran(&fakes.run(&["run", "-q", &plan]), "codex");
    let calls = fakes.calls();
    let model_of = |call: &Value| {
        let args = argv(call);
        args.iter().position(|a| a == "-m" || a == "--model").map(|i| args[i + 1].clone())
    };
    assert_eq!(model_of(&calls[0]).as_deref(), Some("gpt-5"), "the task's model wins: {:?}", argv(&calls[0]));
    assert_eq!(model_of(&calls[1]).as_deref(), Some("gpt-5-codex"));
    let a = fakes.task("a");
    assert!(a["attempts"][0]["usage"]["cost_usd"].as_f64().unwrap() > 0.0, "gpt-5 has a price: {a}");
    let b = fakes.task("b");
    assert!(b["attempts"][0]["usage"]["cost_usd"].is_null(), "gpt-5-codex has none, so no cost is made up: {b}");
}

#[test]
fn a_gate_fix_round_resumes_the_agents_own_session() {
    let config = format!("{}[gates]\ncommands = [\"test ! -e a.txt || grep -q fixed a.txt\"]\n", config("claude"));
    let fakes = Fakes::new(&config);
    let plan = "name: p\ntasks:\n  - id: a\n    title: Add a\n    prompt: Write a.txt\n    fake: {write: {a.txt: \"draft\\n\"}, fix_on_feedback: {a.txt: \"fixed\\n\"}}\n";
    let plan = fakes.repo.write_plan("p.yaml", plan);
    assert_ran(&fakes.run(&["run", "-q", &plan]), "claude");
    let calls = fakes.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0]["resume"].is_null());
    let resumed = calls[1]["resume"].as_str().expect("the fix round resumes");
    let args = argv(&calls[1]);
    assert!(args.windows(2).any(|w| w[0] == "--resume" && w[1] == resumed), "{args:?}");
    let feedback = std::fs::read_to_string(fakes.repo.root().join(".colony/runs/a/a1/feedback.md")).unwrap();
    let sent = calls[1]["prompt_len"].as_u64().unwrap() as usize;
    assert_eq!(sent, feedback.trim_end().len() + 1, "only the feedback is sent, not the task again: {calls:?}");
}

/// A stream without its final event, an error result, and Claude's
/// `is_error` with exit code 0 all fail the attempt with the reason.
#[test]
fn a_run_is_judged_by_its_final_event() {
    for (cli, scenario, expected) in [
        ("claude", "is_error_exit0", ""),
        ("claude", "crash", "final event"),
        ("codex", "error", ""),
        ("gemini", "crash", "final event"),
    ] {
        let fakes = Fakes::new(&config(cli));
        let plan = format!(
            "name: p\ntasks:\n  - id: a\n    title: A\n    prompt: Write a.txt\n    fake: {{cli: {scenario}}}\n"
        );
        let plan = fakes.repo.write_plan("p.yaml", &plan);
        let out = fakes.run(&["run", "-q", &plan]);
        assert_eq!(out.status.code(), Some(3), "{cli} {scenario}: {}", String::from_utf8_lossy(&out.stderr));
        let a = fakes.task("a");
        assert_eq!(a["status"], "failed", "{cli} {scenario}: {a}");
        let reason = a["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(expected), "{cli} {scenario}: {reason}");
        assert!(!fakes.repo.git_out(&["ls-tree", "-r", "--name-only", "colony/p"]).contains("a.txt"), "nothing merged");
    }
}

#[test]
fn doctor_finds_the_clis_on_path_and_fails_for_a_missing_default() {
    let fakes = Fakes::new(&config("claude"));
    let out = fakes.run(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for (name, _) in CLIS {
        assert!(text.lines().any(|l| l.trim_start().starts_with(name) && l.contains(" ok ")), "{name}: {text}");
    }
    assert!(text.contains("(default)") && text.contains("merges in memory"), "{text}");

    std::fs::remove_file(fakes.bin.join("claude")).unwrap();
    let out = fakes.run(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let claude = report["agents"].as_array().unwrap().iter().find(|a| a["name"] == "claude").unwrap();
    assert!(claude["path"].is_null() && claude["hint"].as_str().unwrap().contains("install"), "{claude}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("the default agent `claude` cannot run"));
}

/// A CLI older than the one its adapter is tested against is pointed out.
#[test]
fn doctor_warns_about_a_cli_older_than_its_adapter_is_tested_against() {
    let fakes = Fakes::new(&config("claude"));
    std::fs::remove_file(fakes.bin.join("claude")).unwrap();
    let old = fakes.bin.join("claude");
    std::fs::write(&old, "#!/bin/sh\necho '2.0.14 (Claude Code)'\n").unwrap();
    std::fs::set_permissions(&old, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = fakes.run(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let warning = text.lines().find(|l| l.contains("warning")).unwrap_or_else(|| panic!("{text}"));
    assert!(warning.contains("older than 2.1."), "{text}");
    let report: Value = serde_json::from_slice(&fakes.run(&["doctor", "--json"]).stdout).unwrap();
    let agents = report["agents"].as_array().unwrap();
    let claude = agents.iter().find(|a| a["name"] == "claude").unwrap();
    assert!(claude["older_than_tested"].as_str().unwrap().starts_with("2.1."), "{claude}");
    let codex = agents.iter().find(|a| a["name"] == "codex").unwrap();
    assert!(codex["older_than_tested"].is_null(), "the fake's 9.9.9 is newer: {codex}");
}

/// `binary` points an agent at a program of another name.
#[test]
fn a_binary_override_is_used_instead_of_path() {
    let fakes = Fakes::new(&config("claude"));
    let elsewhere = fakes.repo.base().join("opt/claude-code/bin");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::rename(fakes.bin.join("claude"), elsewhere.join("claude")).unwrap();
    let toml = format!("{}[agents.claude]\nbinary = \"{}\"\n", config("claude"), elsewhere.join("claude").display());
    std::fs::write(fakes.repo.root().join("colony.toml"), toml).unwrap();
    fakes.repo.commit_all("binary override");
    let plan = fakes.repo.write_plan("p.yaml", PLAN);
    assert_ran(&fakes.run(&["run", "-q", &plan]), "claude via binary");
    assert_eq!(fakes.calls().len(), 2);
}
