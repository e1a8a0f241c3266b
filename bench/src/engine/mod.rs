//! `colony-bench engine`: the run engine's figures, each beside the baseline
//! measured in the same run. Prints figures and goals; judges nothing.
//!
//! 1. Orchestration overhead ([`overhead`]): colony at one worker against a
//!    shell script doing the same git work by hand, and colony with its
//!    agents in the sandbox against colony without.
//! 2. Makespan ([`makespan`]): colony at several workers on random DAGs of
//!    sleeping tasks, against the lower bound and simulated schedules.
//! 3. Peak memory: every engine run happens in a child process
//!    (`colony-bench engine-child`, [`runner`]) whose peak resident set is
//!    measured.
//!
//! Everything is real: git repositories in a scratch directory, a SQLite
//! store in each, and agents that are shell scripts run by the engine's
//! command harness.

mod dag;
pub mod flood;
mod makespan;
mod overhead;
pub mod runner;
pub mod scratch;

use std::time::Duration;

use anyhow::ensure;

use crate::table;

#[derive(clap::Args)]
pub struct Args {
    /// Tasks in each run.
    #[arg(long, default_value_t = 200)]
    tasks: usize,
    /// The overhead run's plan: layers of this width, each task depending
    /// on two of the layer before (as `seed --width`); 0: independent tasks.
    #[arg(long, default_value_t = 0)]
    width: usize,
    /// Engine workers in the makespan runs.
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// How long the makespan runs' tasks take, as MIN-MAX milliseconds;
    /// one set of runs per range. The first is the goal's yardstick: agent
    /// tasks take minutes, and at a second or more the few tens of
    /// milliseconds of git work a task needs however it is scheduled (see
    /// the overhead figures) no longer hide the scheduling. The second
    /// shows that fixed cost at tasks a tenth as long.
    #[arg(long = "durations", value_name = "MIN-MAX", value_parser = makespan::parse_range, num_args = 1.., default_values = ["1000-4000", "50-400"])]
    durations: Vec<(u64, u64)>,
    /// Also run the makespan DAGs with a gate that sleeps this many
    /// milliseconds, after each agent and again on each merge candidate
    /// under the merge lock (0: no such runs): once with every merge gated
    /// alone, once with merge trains, once gated before their turn (the
    /// default). Shows what gates in the merge queue cost a run, and what
    /// trains and speculation win back.
    #[arg(long, default_value_t = 0)]
    gate_ms: u64,
    /// Seed of the random DAGs and their durations.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How often an idle engine worker looks for work, in milliseconds
    /// (default: the engine's own). An attempt's end wakes idle workers
    /// at once whatever this is.
    #[arg(long)]
    idle_poll_ms: Option<u64>,
    /// Tasks in the short traced runs that count git processes per task
    /// (0: skip them).
    #[arg(long, default_value_t = 20)]
    trace_tasks: usize,
    /// Rounds of the overhead measurement, script and colony alternating.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Tokio worker threads of the engine process (0: one per core, as
    /// `colony run` has).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

pub fn main(args: Args) -> anyhow::Result<()> {
    ensure!(
        args.tasks > 0 && args.workers > 0 && args.rounds > 0,
        "--tasks, --workers and --rounds must be at least 1"
    );
    let rt = crate::runtime()?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let git = scratch::git(std::path::Path::new("."), &["version"]).unwrap_or_default();
    let defaults = colony_engine::Settings::new(Default::default(), Default::default());
    let engine = scratch::EngineOpts {
        workers: args.workers,
        idle_poll: args.idle_poll_ms.map_or(defaults.idle_poll, Duration::from_millis),
        threads: args.threads,
        gate_ms: 0,
        merges: scratch::Merges::Speculate,
        sandbox: false,
    };
    println!(
        "colony-bench engine: real git repositories, SQLite stores, shell-script agents; {cores} cores, {}, load average {}",
        git.trim(),
        load_average()
    );
    let threads = if args.threads == 0 { "one per core, as `colony run`".to_owned() } else { args.threads.to_string() };
    println!(
        "engine settings: idle poll {} ms, everything else default (lease {} s, {} gates); tokio worker threads: {threads}",
        engine.idle_poll.as_millis(),
        defaults.config.run.lease.as_secs(),
        defaults.config.gates.commands.len()
    );
    let scratch = scratch::Scratch::new()?;
    let overhead = overhead::measure(
        &rt,
        &scratch,
        &overhead::Args {
            tasks: args.tasks,
            width: args.width,
            rounds: args.rounds,
            engine,
            trace_tasks: args.trace_tasks,
        },
    )?;
    let makespans = makespan::measure(
        &rt,
        &scratch,
        &makespan::Args {
            tasks: args.tasks,
            durations: args.durations,
            gate_ms: args.gate_ms,
            seed: args.seed,
            engine,
        },
    )?;

    println!("\npeak memory of the engine process");
    let mut rows = vec![memory_row("overhead, 1 worker", &overhead)];
    rows.extend(makespans.iter().map(|(name, run)| memory_row(&format!("{name}, {} workers", args.workers), run)));
    table::print(&["run", "engine peak RSS", "wait4 ru_maxrss", "engine CPU", "children CPU", "process wall"], &rows);
    println!(
        "  engine peak RSS: the process's own VmHWM; ru_maxrss: the largest of it and the git and agent processes it reaped"
    );
    println!("\nload average at the end: {} (other processes on the machine slow every figure)", load_average());
    Ok(())
}

/// The 1, 5 and 15 minute load averages, for judging how quiet the
/// machine was.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    if fields.is_empty() { "unknown".into() } else { fields.join(" ") }
}

fn memory_row(label: &str, run: &scratch::EngineRun) -> Vec<String> {
    vec![
        label.to_owned(),
        table::mib(run.engine_rss_kib),
        table::mib(run.tree_rss_kib),
        overhead::secs(run.engine_cpu),
        overhead::secs(run.children_cpu),
        overhead::secs(run.process_wall),
    ]
}
