//! Runs that outlive their terminal: `colony run --detach` starts one in
//! a session of its own, `colony attach` follows one from any shell, and
//! `colony stop` stops the runs of this machine as Ctrl-C would. Which
//! runs there are is the store's (`crate::presence`).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use colony_core::TaskStatus;
use colony_store::{SqlStore, Store, TaskFilter};
use tokio_util::sync::CancellationToken;

use crate::cli::StopArgs;
use crate::ctx::{Ctx, STATE_DIR};
use crate::exit::bad_input;
use colony_agents::process_alive;

use crate::presence::{active, describe};
use crate::progress::{Mode, Progress};
use crate::render;

/// Set in a detached run's environment, so that it records itself as one.
pub const DETACHED_VAR: &str = "COLONY_DETACHED";

/// How often `stop` and `attach` look again.
const LOOK_EVERY: Duration = Duration::from_millis(200);

/// How long `run --detach` waits for its run to record itself.
const START_WAIT: Duration = Duration::from_secs(120);

/// Starts this `colony run` again without `--detach`, in a session of its
/// own with its output in `.colony/run.log`, and returns once it has
/// recorded itself on the store (or says why it ended first).
pub async fn start(ctx: &Ctx, out: &mut impl Write) -> Result<()> {
    let log_path = ctx.root.join(STATE_DIR).join("run.log");
    std::fs::create_dir_all(ctx.root.join(STATE_DIR))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("could not open {}", log_path.display()))?;
    let exe = std::env::current_exe().context("could not find colony's own executable")?;
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).filter(|a| a != "--detach").collect();
    let mut command = std::process::Command::new(exe);
    command
        .args(&args)
        .current_dir(std::env::current_dir()?)
        .env(DETACHED_VAR, "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; the child leaves this
    // terminal's session and process group, so closing the terminal (or
    // killing this shell) sends it nothing.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().context("could not start the detached run")?;
    let pid = child.id();
    let store = ctx.open_store().await?;
    let started = std::time::Instant::now();
    let run = loop {
        if let Some(status) = child.try_wait()? {
            store.close().await;
            let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(12).collect();
            let said: Vec<&str> = tail.into_iter().rev().collect();
            let said = said.join("\n");
            let log = ctx.rel(&log_path);
            match status.code() {
                // It ran, and ended before it was seen at work: a quick
                // run. Its summary is in the log, and that is the answer.
                Some(0 | 3) => {
                    writeln!(out, "the run has already ended; the end of {log}:\n{said}")?;
                    return Ok(());
                }
                // Bad input stays bad input: exit code 2, as the run said.
                Some(2) => {
                    return Err(bad_input(format!("the detached run refused to start; the end of {log}:\n{said}")));
                }
                _ => anyhow::bail!("the detached run ended at once ({status}); the end of {log}:\n{said}"),
            }
        }
        if let Some(run) = store.runs().await?.into_iter().find(|r| r.pid == pid && r.host == colony_agents::hostname())
        {
            break run;
        }
        if started.elapsed() > START_WAIT {
            store.close().await;
            anyhow::bail!("the detached run (pid {pid}) has not started working; see {}", ctx.rel(&log_path));
        }
        tokio::time::sleep(LOOK_EVERY).await;
    };
    store.close().await;
    writeln!(out, "colony runs in the background: pid {pid}, its output in {}", ctx.rel(&log_path))?;
    if let Some(url) = run.dashboard {
        writeln!(out, "its dashboard is at {url} (the address with its token is in the log)")?;
    }
    writeln!(out, "follow it with `colony attach`, stop it with `colony stop` (`--now` stops its agents too)")?;
    Ok(())
}

/// `colony stop [--now]`.
pub async fn stop(ctx: &Ctx, args: StopArgs, out: &mut impl Write) -> Result<()> {
    let store = ctx.open_store().await?;
    let runs = active(&store).await;
    store.close().await;
    let runs = runs?;
    let here = colony_agents::hostname();
    for run in runs.iter().filter(|r| r.host != here) {
        writeln!(out, "a run on {} (pid {}) works on this store too: stop it there", run.host, run.pid)?;
    }
    let mine: Vec<_> = runs.iter().filter(|r| r.host == here).collect();
    if mine.is_empty() {
        if runs.is_empty() {
            writeln!(out, "no run is working on this repository")?;
            return Ok(());
        }
        return Err(bad_input("no run of this machine works on this store; stop the others where they run"));
    }
    for run in &mine {
        signal(run.pid, libc::SIGINT)?;
        if args.now {
            // The run counts interrupts: the second stops its agents.
            tokio::time::sleep(LOOK_EVERY).await;
            signal(run.pid, libc::SIGINT)?;
        }
        let how = if args.now { "its agents are being stopped" } else { "running attempts may finish" };
        writeln!(out, "stopping the run {}: {how}", describe(run))?;
        out.flush()?;
    }
    while mine.iter().any(|r| process_alive(r.pid)) {
        tokio::time::sleep(LOOK_EVERY).await;
    }
    writeln!(out, "stopped; `colony run` carries on where it stopped")?;
    Ok(())
}

fn signal(pid: u32, signal: i32) -> Result<()> {
    let pid = i32::try_from(pid).context("a pid out of range")?;
    // SAFETY: sends a signal to one process, named by the store's record of
    // a colony run on this host and boot that is alive.
    if unsafe { libc::kill(pid, signal) } == -1 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ESRCH) {
            return Err(e).context(format!("could not signal pid {pid}"));
        }
    }
    Ok(())
}

/// `colony attach`: the run's progress until it ends; Ctrl-C leaves it.
pub async fn attach(ctx: &Ctx, out: &mut impl Write) -> Result<()> {
    let store = ctx.open_store().await?;
    let outcome = follow(&store, out).await;
    store.close().await;
    outcome
}

async fn follow(store: &SqlStore, out: &mut impl Write) -> Result<()> {
    let runs = active(store).await?;
    let Some(first) = runs.first() else {
        writeln!(out, "no run is working on this repository; `colony status` says where things stand")?;
        return Ok(());
    };
    // Heard from before the first line, so that a Ctrl-C never kills this.
    let mut stop = std::pin::pin!(crate::signal::stop_requested()?);
    writeln!(out, "attached to the run {}; Ctrl-C leaves it running", describe(first))?;
    out.flush()?;
    let tasks = store.tasks(&TaskFilter::default()).await?;
    let longest = tasks.iter().map(|t| t.task.id.as_str().len()).max().unwrap_or(0);
    let done = tasks.iter().filter(|t| t.task.status() == TaskStatus::Done).count();
    let mut progress = Progress::new(Mode::Lines, store.last_seq().await?, longest, tasks.len(), done);
    let ended = CancellationToken::new();
    let interrupted = CancellationToken::new();
    let watch = async {
        loop {
            tokio::select! {
                () = &mut stop => {
                    interrupted.cancel();
                    break;
                }
                () = tokio::time::sleep(LOOK_EVERY) => {}
            }
            if active(store).await?.is_empty() {
                break;
            }
        }
        ended.cancel();
        anyhow::Ok(())
    };
    let (shown, watched) = tokio::join!(progress.follow(store, out, &ended), watch);
    shown?;
    watched?;
    if interrupted.is_cancelled() {
        writeln!(out, "left the run running; `colony attach` follows it again, `colony stop` stops it")?;
        return Ok(());
    }
    let counts = store.counts().await?;
    let (done, total) = (counts.get(TaskStatus::Done), render::count(counts.total, "task"));
    writeln!(out, "the run ended: {done} of {total} done; `colony status` says what is left")?;
    Ok(())
}

/// Whether this process was started by `colony run --detach`.
pub fn detached() -> bool {
    std::env::var_os(DETACHED_VAR).is_some()
}
