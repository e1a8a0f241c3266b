//! Fake agent CLIs: one executable, `colony-fake-cli`, that behaves like
//! `claude`, `codex`, `gemini`, `opencode`, `cursor-agent`, `amp` or
//! `aider` run headless, after the file name it was started under (tests
//! link it under those names in a directory put first on `PATH`).
//!
//! In order:
//!
//! 0. answer `--version` with [`FAKE_VERSION`], and do nothing else;
//! 1. check argv as the real CLI would for the flags colony uses
//!    ([`argv`]); a refusal prints the CLI's error and exits with its code;
//! 2. read the prompt (stdin to its end, or aider's message file) and, when
//!    `COLONY_FAKE_CLI_LOG` is set, append to that file one JSON line: the
//!    CLI, argv, cwd, prompt length and session resumed;
//! 3. read the task and its `fake:` block as the fake `command` agent does;
//! 4. on resume, refuse a session this fake did not issue; else issue the
//!    task's session (stable: the same for a CLI and task every time) and
//!    record it in the repository's git directory;
//! 5. for the `success` scenario (`fake: {cli: …}`, the default), do the
//!    file work of the block, notes on stderr; then call the tools of
//!    colony's MCP server the block lists (`fake: {mcp: …}`, [`mcp`]);
//! 6. print the scenario in the CLI's format ([`transcript`]) and exit as
//!    the CLI would (a crash aborts before the final event); or, when the
//!    block names transcripts to `play`, print the next of them as it is
//!    ([`play`]).

mod argv;
mod mcp;
mod play;
mod transcript;

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread::sleep;
use std::time::Duration;

use serde_json::json;

use crate::script::Scenario;
use crate::{has_feedback, read_task, work};
use argv::{Call, Prompt, Refusal};
use transcript::Line;

/// The CLI a fake plays: one of colony's agent CLIs, the list
/// [`colony_core::kind`] keeps.
pub(crate) use colony_core::kind::CliKind as Cli;

/// The CLI started as `name`: only by its program's name (`cursor-agent`,
/// not `cursor`), as a shell would find it.
fn from_program(name: &str) -> Option<Cli> {
    Cli::ALL.into_iter().find(|c| c.binary() == name)
}

/// What every fake CLI answers to `--version`.
pub const FAKE_VERSION: &str = "9.9.9";

/// The whole program: plays the CLI named by argv[0] and returns the exit
/// code to end the process with.
pub fn run_cli() -> ExitCode {
    let mut args = std::env::args();
    let argv0 = args.next().unwrap_or_default();
    let name = Path::new(&argv0).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let Some(cli) = from_program(&name) else {
        let names: Vec<_> = Cli::ALL.iter().map(|c| c.binary()).collect();
        eprintln!("colony-fake-cli: started as `{name}`; link it as one of {}", names.join(", "));
        return ExitCode::from(2);
    };
    let args: Vec<String> = args.collect();
    // As the real CLIs do: the version, and nothing else happens.
    if args == ["--version"] {
        println!("{} {FAKE_VERSION} (colony-fake-cli)", cli.binary());
        return ExitCode::SUCCESS;
    }
    match play(cli, &args) {
        Ok(code) => code,
        Err(Refusal { message, code }) => {
            eprintln!("{message}");
            ExitCode::from(code)
        }
    }
}

fn play(cli: Cli, args: &[String]) -> Result<ExitCode, Refusal> {
    let checked = argv::check(cli, args, |k| std::env::var(k).ok());
    let call = match checked {
        Ok(call) => call,
        Err(refusal) => {
            log(cli, args, None, None);
            return Err(refusal);
        }
    };
    let prompt = read_prompt(&call).map_err(|e| fail(cli, e))?;
    log(cli, args, Some(prompt.len()), call.resume.as_deref());
    if prompt.trim().is_empty() {
        return Err(fail(cli, "no prompt: stdin was empty".into()));
    }
    let (task, script) =
        read_task().map_err(|e| Refusal { message: format!("fake {}: {e}", cli.binary()), code: 2 })?;
    let task_id = task.id.as_str();
    let sessions = sessions_file();
    let playing = !script.play.is_empty();
    let session = match (&call.resume, cli) {
        (_, Cli::Aider) => String::new(),
        // A played transcript names sessions this fake never issued.
        (Some(id), _) if playing => id.clone(),
        (Some(id), _) => {
            if !issued(&sessions, id) {
                return Err(fail(cli, format!("no session found with id {id}")));
            }
            id.clone()
        }
        (None, _) => {
            let id = session_id(cli, task_id);
            record(&sessions, &id).map_err(|e| fail(cli, e))?;
            id
        }
    };
    let mut wrote = None;
    if script.cli == Scenario::Success || playing {
        let notes = &mut io::stderr();
        let changed = work::change_files(&script, task_id, &prompt, has_feedback(), notes).map_err(|e| fail(cli, e))?;
        if script.commit {
            work::commit(&format!("fake: {task_id}"), notes).map_err(|e| fail(cli, e))?;
        }
        wrote = changed.into_iter().next();
    }
    let calls = script.calls(has_feedback());
    if !calls.is_empty() {
        talk(cli, args, calls)?;
    }
    if script.sleep_ms > 0 {
        sleep(Duration::from_millis(script.sleep_ms));
    }
    if playing {
        let counter = sessions.with_file_name(format!("colony-fake-cli-plays-{task_id}"));
        let call = play::count_call(&counter).map_err(|e| fail(cli, e))?;
        let file = play::pick(&script.play, call).expect("playing: at least one file");
        let end = play::play(file).map_err(|e| fail(cli, e))?;
        return Ok(play::finish(end));
    }
    let steps = transcript::steps(script.cli, task_id, wrote);
    for line in transcript::render(cli, &session, &steps) {
        match line {
            Line::Out(text) => println!("{text}"),
            Line::Err(text) => eprintln!("{text}"),
        }
    }
    if script.hang {
        loop {
            sleep(Duration::from_secs(3600));
        }
    }
    Ok(match script.cli {
        Scenario::Success | Scenario::IsErrorExit0 => ExitCode::SUCCESS,
        Scenario::Error | Scenario::RateLimit => ExitCode::FAILURE,
        Scenario::Crash => {
            eprintln!("fake {}: crashing", cli.binary());
            let _ = io::stdout().flush();
            std::process::abort();
        }
    })
}

/// Calls colony's MCP server as the task's block asks, each answer on
/// stderr; a CLI that was given no server fails.
fn talk(cli: Cli, args: &[String], calls: &[crate::script::McpCall]) -> Result<(), Refusal> {
    let server = mcp::server(cli, args, |k| std::env::var(k).ok())
        .map_err(|e| fail(cli, e))?
        .ok_or_else(|| fail(cli, "the task calls colony's MCP server, but none was given".into()))?;
    for answer in mcp::call(&server, calls).map_err(|e| fail(cli, format!("colony's MCP server: {e}")))? {
        let how = if answer.error { " with an error" } else { "" };
        eprintln!("fake {}: {} answered{how}: {}", cli.binary(), answer.tool, answer.text);
    }
    Ok(())
}

/// Calls colony's MCP server as a `command` agent can: started as
/// `$COLONY_MCP_SERVER` (a JSON list: the program and its arguments), its
/// socket and key in this process's environment already.
pub(crate) fn talk_as_command(calls: &[crate::script::McpCall]) -> Result<Vec<mcp::Answer>, String> {
    let given = std::env::var("COLONY_MCP_SERVER")
        .map_err(|_| "the task calls colony's MCP server, but COLONY_MCP_SERVER is not set".to_owned())?;
    let mut words: Vec<String> =
        serde_json::from_str(&given).map_err(|e| format!("COLONY_MCP_SERVER is not a JSON list of strings: {e}"))?;
    if words.is_empty() {
        return Err("COLONY_MCP_SERVER is empty".into());
    }
    let command = words.remove(0);
    mcp::call(&mcp::Server { command, args: words, env: Vec::new() }, calls)
}

/// A failure after argv was accepted: exit code 1, as the CLIs have it.
fn fail(cli: Cli, message: String) -> Refusal {
    Refusal { message: format!("fake {}: {message}", cli.binary()), code: 1 }
}

fn read_prompt(call: &Call) -> Result<String, String> {
    match &call.prompt {
        Prompt::Stdin => {
            let mut prompt = String::new();
            io::stdin().read_to_string(&mut prompt).map_err(|e| format!("reading stdin: {e}"))?;
            Ok(prompt)
        }
        Prompt::File(path) => fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display())),
    }
}

/// Appends one line about this invocation to `$COLONY_FAKE_CLI_LOG`, if
/// set: `prompt_len` is absent when argv was refused.
fn log(cli: Cli, args: &[String], prompt_len: Option<usize>, resume: Option<&str>) {
    let Some(path) = std::env::var_os("COLONY_FAKE_CLI_LOG") else {
        return;
    };
    let cwd = std::env::current_dir().unwrap_or_default();
    let line = json!({"cli": cli.binary(), "argv": args, "cwd": cwd,
                      "prompt_len": prompt_len, "resume": resume});
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = written {
        eprintln!("colony-fake-cli: cannot log to {}: {e}", path.to_string_lossy());
    }
}

/// Where issued sessions are kept: in the temporary directory, one file
/// per repository (its git directory, shared by its worktrees, names it).
/// Not in the repository itself: colony's sandbox lets an agent write its
/// worktree and the temporary directory, not the main `.git`.
fn sessions_file() -> PathBuf {
    let repo = work::git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]).unwrap_or_default();
    std::env::temp_dir().join(format!("colony-fake-cli-sessions-{:016x}", fnv1a(repo.trim())))
}

fn issued(file: &Path, id: &str) -> bool {
    fs::read_to_string(file).is_ok_and(|text| text.lines().any(|l| l == id))
}

fn record(file: &Path, id: &str) -> Result<(), String> {
    if issued(file, id) {
        return Ok(());
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .and_then(|mut f| writeln!(f, "{id}"))
        .map_err(|e| format!("recording the session in {}: {e}", file.display()))
}

/// The session id of `task` under `cli`: the same every time, shaped like
/// the CLI's own.
fn session_id(cli: Cli, task: &str) -> String {
    let key = format!("{}/{task}", cli.binary());
    let hex = format!("{:016x}{:016x}", fnv1a(&key), fnv1a(&key.repeat(2)));
    let uuid = format!("{}-{}-4{}-8{}-{}", &hex[..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..]);
    match cli {
        Cli::Opencode => format!("ses_{hex}"),
        Cli::Amp => format!("T-{uuid}"),
        _ => uuid,
    }
}

/// FNV-1a: stable across Rust releases, unlike the std hasher.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_stable_and_shaped_per_cli() {
        let claude = session_id(Cli::Claude, "t1");
        assert_eq!(claude, session_id(Cli::Claude, "t1"));
        assert_ne!(claude, session_id(Cli::Claude, "t2"));
        assert_eq!(claude.len(), 36);
        assert!(session_id(Cli::Opencode, "t1").starts_with("ses_"));
        assert!(session_id(Cli::Amp, "t1").starts_with("T-"));
    }

    #[test]
    fn program_names_round_trip() {
        for cli in Cli::ALL {
            assert_eq!(from_program(cli.binary()), Some(cli));
        }
        assert_eq!(from_program("cursor"), None);
    }
}
