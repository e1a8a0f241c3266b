//! colony's fake agent: a deterministic stand-in for an AI coding agent.
//!
//! colony's end-to-end tests and `colony demo` run it as a `command` agent
//! (DESIGN.md, "Project config"): the worktree as cwd, the prompt on stdin,
//! the task as JSON in `COLONY_TASK_FILE`, the attempt number in
//! `COLONY_ATTEMPT` and, after a failed round, `COLONY_FEEDBACK_FILE`. What
//! it does comes from the task's `fake:` block ([`script::Script`]) and
//! nothing else, so a test knows every line and file it will produce.
//!
//! In order, each step printing a line so that logs show it:
//!
//! 1. read the whole prompt, the task and its block; anything malformed is
//!    reported on stderr with exit code 2, before anything changes;
//! 2. on attempts up to `fail_attempts`, fail at once with exit code 1;
//! 3. print the `print` lines, the `eprint` lines on stderr, the
//!    `flood_lines` and the `flood_line`, then stay silent
//!    `silent_after_print_ms`, then wait until the file `wait_for` exists;
//! 4. change files: `fix_on_feedback` when there is feedback, else `write`
//!    then `append`, else nothing with `no_changes`, else write
//!    `colony-fake/<task-id>.txt` holding the prompt; then append the
//!    prompt to `prompts_to`;
//! 5. with `commit`, commit those changes with git; call the tools of
//!    colony's MCP server `mcp` lists (`mcp_on_feedback` when there is
//!    feedback);
//! 6. sleep `sleep_ms`; then hang forever with `hang`, abort with `crash`,
//!    or exit with `exit` (0 unless set).
//!
//! The executable `colony-fake-agent` is built by the `colony` package, next
//! to `colony`, where the `fake` agent and `colony demo` look for it; it
//! only calls [`run`]. This crate's own binary, `colony-fake`, is the same
//! program under a name of its own (two packages of one workspace must not
//! build executables of the same name), for this crate's tests.

pub mod cli;
pub mod forge;
mod script;
mod work;

use std::fs;
use std::io::{self, Write};
use std::process::ExitCode;
use std::thread::sleep;
use std::time::Duration;

use colony_core::TaskSpec;

use script::Script;

/// What a run works from, all read before anything is done.
struct Run {
    task: TaskSpec,
    script: Script,
    attempt: u32,
    prompt: String,
    /// Whether the last round left feedback to act on.
    feedback: bool,
}

/// The whole program: reads the task and its `fake:` block from the
/// environment and stdin, does what the block says, and returns the exit
/// code to end the process with.
pub fn run() -> ExitCode {
    let run = match Run::read() {
        Ok(run) => run,
        Err(message) => {
            eprintln!("colony-fake-agent: {message}");
            return ExitCode::from(2);
        }
    };
    match run.go() {
        Ok(code) => code,
        Err(message) => {
            eprintln!("colony-fake-agent: {message}");
            ExitCode::FAILURE
        }
    }
}

impl Run {
    fn read() -> Result<Run, String> {
        // All of stdin first, so that colony's write of the prompt never
        // blocks or breaks, whatever the script does next.
        let prompt = io::read_to_string(io::stdin()).map_err(|e| format!("reading stdin: {e}"))?;
        let attempt = var("COLONY_ATTEMPT")?;
        let attempt = attempt.parse().map_err(|_| format!("COLONY_ATTEMPT `{attempt}` is not a number"))?;
        let (task, script) = read_task()?;
        let feedback = has_feedback();
        Ok(Run { task, script, attempt, prompt, feedback })
    }

    fn go(self) -> Result<ExitCode, String> {
        let s = &self.script;
        println!("fake: task {}, attempt {}", self.task.id, self.attempt);
        if self.attempt <= s.fail_attempts {
            eprintln!("fake failure on attempt {}", self.attempt);
            return Ok(ExitCode::FAILURE);
        }
        for line in &s.print {
            println!("{line}");
        }
        for line in &s.eprint {
            eprintln!("{line}");
        }
        flood(s.flood_lines, s.flood_line).map_err(|e| format!("flooding stdout: {e}"))?;
        if s.silent_after_print_ms > 0 {
            sleep(Duration::from_millis(s.silent_after_print_ms));
        }
        if let Some(file) = &s.wait_for {
            println!("fake: waiting for {}", file.display());
            while !file.exists() {
                sleep(Duration::from_millis(10));
            }
        }
        let mut out = io::stdout();
        work::change_files(s, self.task.id.as_str(), &self.prompt, self.feedback, &mut out)?;
        if s.commit {
            work::commit(&format!("fake: {}", self.task.id), &mut out)?;
        }
        let calls = s.calls(self.feedback);
        if !calls.is_empty() {
            for answer in cli::talk_as_command(calls)? {
                let how = if answer.error { " with an error" } else { "" };
                println!("fake: {} answered{how}: {}", answer.tool, answer.text);
            }
        }
        if s.sleep_ms > 0 {
            println!("fake: sleeping {} ms", s.sleep_ms);
            sleep(Duration::from_millis(s.sleep_ms));
        }
        if s.hang {
            println!("fake: hanging");
            loop {
                sleep(Duration::from_secs(3600));
            }
        }
        if s.crash {
            println!("fake: crashing");
            // println! flushes at the newline; make sure anyway, since
            // abort runs no destructors.
            let _ = io::stdout().flush();
            std::process::abort();
        }
        println!("fake: exiting with {}", s.exit);
        Ok(ExitCode::from(s.exit))
    }
}

/// `lines` numbered lines of 100 bytes, then one line of `line` bytes, on
/// stdout, a block at a time: the fake's memory stays small however much
/// it prints, so a measure of colony's is not one of the fake's.
fn flood(lines: u64, line: u64) -> io::Result<()> {
    const BLOCK: u64 = 64 * 1024;
    let mut out = io::BufWriter::with_capacity(BLOCK as usize, io::stdout().lock());
    let pad = "x".repeat(78);
    for i in 1..=lines {
        writeln!(out, "flood line {i:09} {pad}")?;
    }
    let piece = vec![b'x'; BLOCK as usize];
    let mut left = line;
    while left > 0 {
        let n = left.min(BLOCK);
        out.write_all(&piece[..n as usize])?;
        left -= n;
    }
    if line > 0 {
        writeln!(out)?;
    }
    out.flush()
}

/// The task in `COLONY_TASK_FILE` and the script of its `fake:` block.
fn read_task() -> Result<(TaskSpec, Script), String> {
    let task_file = var("COLONY_TASK_FILE")?;
    let json = fs::read(&task_file).map_err(|e| format!("reading {task_file}: {e}"))?;
    let task: TaskSpec = serde_json::from_slice(&json).map_err(|e| format!("reading the task in {task_file}: {e}"))?;
    let script = Script::new(task.fake.as_ref())?;
    Ok((task, script))
}

/// Whether the last round left feedback: `COLONY_FEEDBACK_FILE` names a
/// file that is not empty.
fn has_feedback() -> bool {
    std::env::var_os("COLONY_FEEDBACK_FILE").and_then(|path| fs::metadata(path).ok()).is_some_and(|meta| meta.len() > 0)
}

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}
