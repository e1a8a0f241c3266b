//! `colony-bench engine-child` (hidden): colony's engine alone in a process
//! on a prepared repository and store, so that the parent's `wait4`
//! measures this process and nothing else of the benchmark. It prints one
//! JSON line: the tasks done of the total, the engine's wall time, this
//! process's peak resident set (`VmHWM`) and its CPU time, its own and its
//! reaped children's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use colony_agents::Shutdown;
use colony_core::TaskStatus;
use colony_engine::{AgentSetup, Engine, Settings};
use colony_git::Repo;
use serde_json::json;

use crate::child::timeval;

#[derive(clap::Args)]
pub struct Args {
    /// The repository, with its store at `.colony/colony.db`.
    #[arg(long)]
    repo: PathBuf,
    /// The agent script, run as `/bin/sh SCRIPT`.
    #[arg(long)]
    agent: PathBuf,
    #[arg(long)]
    workers: usize,
    #[arg(long)]
    idle_poll_ms: u64,
    /// Tokio worker threads; 0: one per core, as `colony run` has.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// A gate that sleeps this many milliseconds; 0: no gates.
    #[arg(long, default_value_t = 0)]
    gate_ms: u64,
    /// How merges are gated.
    #[arg(long, value_enum)]
    merges: crate::engine::scratch::Merges,
    /// Confine agents and gates with Landlock, as `[sandbox] mode =
    /// "worktree"` does.
    #[arg(long)]
    sandbox: bool,
}

pub fn main(args: Args) -> anyhow::Result<()> {
    // Worker threads, as `colony run` gets: attempts run side by side, and
    // the engine's git calls block a thread while they last.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if args.threads > 0 {
        builder.worker_threads(args.threads);
    }
    let rt = builder.enable_all().build().context("cannot start a tokio runtime")?;
    let report = rt.block_on(async {
        let store = std::sync::Arc::new(crate::engine::scratch::open_store(&args.repo).await?);
        let repo = Repo::open(&args.repo).context("cannot open the repository")?;
        let agent =
            AgentSetup::command(vec!["/bin/sh".into(), args.agent.display().to_string()], Vec::new(), &args.repo)?;
        let mut config = colony_core::config::Config::default();
        config.run.agent = Some("bench".into());
        let mut settings = Settings::new(config, BTreeMap::from([("bench".to_owned(), agent)]));
        settings.workers = args.workers;
        settings.idle_poll = Duration::from_millis(args.idle_poll_ms);
        if args.sandbox {
            anyhow::ensure!(
                colony_agents::sandbox::probe() >= colony_agents::sandbox::MIN_ABI,
                "--sandbox needs a kernel with Landlock"
            );
            let places = colony_agents::sandbox::Places::from_env();
            settings.sandbox = Some(colony_agents::sandbox::Sandbox::new(&places, &[], false));
        }
        if args.gate_ms > 0 {
            settings.config.gates.commands = vec![crate::engine::scratch::sleep_command(args.gate_ms)];
        }
        use crate::engine::scratch::Merges;
        settings.config.merge.train = args.merges != Merges::Alone;
        settings.config.merge.speculate = args.merges == Merges::Speculate;
        let report =
            Engine::new(store.clone(), repo, settings).run(Shutdown::new()).await.context("the engine failed")?;
        store.close().await;
        anyhow::Ok(report)
    })?;
    let failed: Vec<_> = report.failed.iter().map(|(task, reason)| json!({"task": task, "reason": reason})).collect();
    let line = json!({
        "total": report.counts.total,
        "done": report.counts.get(TaskStatus::Done),
        "failed": failed,
        "blocked": report.blocked.len(),
        "wall_ms": report.wall.as_secs_f64() * 1000.0,
        "vm_hwm_kib": vm_hwm_kib(),
        "cpu_self_ms": cpu(libc::RUSAGE_SELF).as_secs_f64() * 1000.0,
        "cpu_children_ms": cpu(libc::RUSAGE_CHILDREN).as_secs_f64() * 1000.0,
    });
    println!("{line}");
    Ok(())
}

/// This process's peak resident set, in KiB; 0 where /proc does not say.
fn vm_hwm_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User plus system CPU time of `who` (`RUSAGE_SELF` or `RUSAGE_CHILDREN`).
fn cpu(who: libc::c_int) -> Duration {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid for the duration of the call.
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}
