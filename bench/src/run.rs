//! `colony-bench run`: the figures. Prints them beside their targets and
//! judges nothing; the race tests in `tests/race.rs` do the judging.
//!
//! Throughput is measured with real worker processes (`colony-bench
//! worker`) against one store, from spawning them until the last has exited,
//! so it includes process start and store open, as a real fleet pays them.
//! The 1-process run on a fresh store of the same size is the baseline: the
//! ratio shows what concurrency buys, or costs, on each backend.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use colony_core::TaskStatus;
use colony_store::Store;
use colony_testkit::PgServer;
use tokio::runtime::Runtime;

use crate::child::{self, Running};
use crate::{cli_timing, seed, table};

#[derive(clap::Args)]
pub struct Args {
    /// Tasks in each throughput run.
    #[arg(long, default_value_t = 2000)]
    tasks: usize,
    /// Worker processes in the concurrent runs.
    #[arg(long, default_value_t = 8)]
    procs: usize,
    /// Width of the generated DAG's layers (0: no dependencies).
    #[arg(long, default_value_t = 50)]
    width: usize,
    /// Measure on PostgreSQL too, on a private server from colony-testkit.
    #[arg(long)]
    pg: bool,
    /// Tasks in the store when timing the `colony` CLI.
    #[arg(long, default_value_t = 10_000)]
    cli_tasks: usize,
    /// Timed runs of each CLI command (after one untimed warm-up).
    #[arg(long, default_value_t = 20)]
    cli_runs: usize,
}

const SQLITE_TARGET: &str = ">= 500/s";
const PG_TARGET: &str = ">= 2000/s";

/// One throughput run.
struct Measured {
    procs: usize,
    wall: Duration,
    lost: u64,
    idle_polls: u64,
    /// The worst worker's 99th percentile and the slowest claim or
    /// completion, in milliseconds.
    p99_ms: f64,
    max_ms: f64,
    /// The largest worker's peak RSS, in KiB.
    max_rss_kib: i64,
    /// CPU time of all workers together.
    worker_cpu: Duration,
    /// CPU time of the database server during the run (PostgreSQL only).
    server_cpu: Option<Duration>,
}

impl Measured {
    fn rate(&self, tasks: usize) -> f64 {
        tasks as f64 / self.wall.as_secs_f64()
    }
}

pub fn main(args: Args) -> anyhow::Result<()> {
    let rt = crate::runtime()?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "colony-bench run: {} tasks per run (DAG width {}), worker processes claim then complete at once; {cores} cores",
        args.tasks, args.width
    );
    let scratch = tempfile::tempdir().context("cannot make a scratch directory")?;
    let sqlite_url = |name: &str| format!("sqlite:{}", scratch.path().join(name).display());

    let mut rows = Vec::new();
    let one = throughput(&rt, &args, &sqlite_url("one.db"), 1, None)?;
    let many = throughput(&rt, &args, &sqlite_url("many.db"), args.procs, None)?;
    rows.extend(rows_for("sqlite", SQLITE_TARGET, &args, &one, &many));
    if args.pg {
        let server = PgServer::start();
        let one = throughput(&rt, &args, &server.fresh_db(), 1, Some(server.pid()))?;
        let many = throughput(&rt, &args, &server.fresh_db(), args.procs, Some(server.pid()))?;
        rows.extend(rows_for("postgres", PG_TARGET, &args, &one, &many));
    }
    println!("\nclaim+complete throughput");
    let header = [
        "store",
        "procs",
        "wall",
        "claim+complete/s",
        "target",
        "vs 1 proc",
        "lost",
        "idle polls",
        "p99 call",
        "max call",
        "worker CPU",
        "server CPU",
        "peak RSS/worker",
    ];
    table::print(&header, &rows);
    if !args.pg {
        println!("  (PostgreSQL not measured; add --pg)");
    }
    cli_timing::main(&rt, args.cli_tasks, args.cli_runs)
}

fn rows_for(store: &str, target: &str, args: &Args, one: &Measured, many: &Measured) -> Vec<Vec<String>> {
    let base = one.rate(args.tasks);
    [one, many]
        .into_iter()
        .map(|m| {
            vec![
                store.to_owned(),
                m.procs.to_string(),
                format!("{:.2} s", m.wall.as_secs_f64()),
                format!("{:.0}", m.rate(args.tasks)),
                target.to_owned(),
                format!("{:.2}x", m.rate(args.tasks) / base),
                m.lost.to_string(),
                m.idle_polls.to_string(),
                format!("{:.1} ms", m.p99_ms),
                format!("{:.1} ms", m.max_ms),
                secs(m.worker_cpu),
                m.server_cpu.map_or("-".into(), secs),
                table::mib(m.max_rss_kib),
            ]
        })
        .collect()
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Seeds a fresh store at `url` and runs `procs` workers on it to the end.
/// `server` is the process group of the database server, if it has one.
fn throughput(rt: &Runtime, args: &Args, url: &str, procs: usize, server: Option<u32>) -> anyhow::Result<Measured> {
    rt.block_on(async {
        let store = crate::open_store(url).await?;
        seed::seed(&store, "bench", args.tasks, args.width).await?;
        store.close().await;
        anyhow::Ok(())
    })?;
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let server_cpu_before = server.map(child::group_cpu);
    let started = Instant::now();
    let mut workers = Vec::new();
    for i in 0..procs {
        let child = Command::new(&exe)
            .args(["worker", "--store", url, "--worker", &format!("w{i}")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start a worker")?;
        workers.push(Running::new(child));
    }
    let mut measured = Measured {
        procs,
        wall: Duration::ZERO,
        lost: 0,
        idle_polls: 0,
        p99_ms: 0.0,
        max_ms: 0.0,
        max_rss_kib: 0,
        worker_cpu: Duration::ZERO,
        server_cpu: None,
    };
    let mut completed = 0;
    for worker in workers {
        let done = worker.finish().context("waiting for a worker failed")?;
        if !done.status.success() {
            bail!("a worker on {url} failed ({}):\n{}", done.status, done.stderr);
        }
        let summary = done.stdout.last().and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok());
        let Some(summary) = summary.as_ref().and_then(|s| s.get("summary")) else {
            bail!("a worker on {url} printed no summary:\n{}", done.stdout.join("\n"));
        };
        let field = |name: &str| summary[name].as_u64().unwrap_or(0);
        completed += field("completed");
        measured.lost += field("lost");
        measured.idle_polls += field("idle_polls");
        let ms = |q: &str| summary["call_ms"][q].as_f64().unwrap_or(0.0);
        measured.p99_ms = measured.p99_ms.max(ms("p99"));
        measured.max_ms = measured.max_ms.max(ms("max"));
        measured.max_rss_kib = measured.max_rss_kib.max(done.max_rss_kib);
        measured.worker_cpu += done.cpu;
    }
    measured.wall = started.elapsed();
    measured.server_cpu =
        server.zip(server_cpu_before).map(|(pgid, before)| child::group_cpu(pgid).saturating_sub(before));
    let done = rt.block_on(async {
        let store = crate::open_store(url).await?;
        let counts = store.counts().await?;
        store.close().await;
        anyhow::Ok(counts.get(TaskStatus::Done))
    })?;
    ensure!(
        completed as usize == args.tasks && done == args.tasks,
        "{procs} workers on {url}: {completed} completions reported, {done} of {} tasks done",
        args.tasks
    );
    Ok(measured)
}
