//! `colony-bench flood`: one task whose agent prints far too much, half in
//! lines of 100 bytes and half on one line with no newline, run by the
//! engine in a child process: the engine's peak memory and the size of the
//! attempt's log, against what the agent printed. Prints figures; the
//! bounds themselves are asserted by `cargo test -p colony --test cli
//! flood`.

use std::time::Instant;

use anyhow::Context;
use colony_core::{Defaults, Plan, PlanName, TaskId, TaskSpec};

use super::scratch::{self, EngineOpts, Merges};
use crate::table;

#[derive(clap::Args)]
pub struct Args {
    /// What the agent prints, in MiB.
    #[arg(long, default_value_t = 200)]
    mib: u64,
}

pub fn main(args: Args) -> anyhow::Result<()> {
    let rt = crate::runtime()?;
    let scratch = scratch::Scratch::new()?;
    let repo = scratch.repo("flood")?;
    let bytes = args.mib << 20;
    let (lines, line) = (bytes / 2 / 100, bytes - bytes / 2);
    // `yes` prints 99 zeros and a newline, over and over.
    let agent = scratch.path().join("flood.sh");
    let script = format!(
        "cat > /dev/null\nmkdir -p out\necho flooded > \"out/$COLONY_TASK_ID.txt\"\n\
         yes \"$(printf '%099d' 0)\" | head -n {lines}\nhead -c {line} /dev/zero | tr '\\0' x\necho\n"
    );
    std::fs::write(&agent, script).context("cannot write the agent script")?;
    let task = TaskSpec::new(TaskId::new("flood").expect("a valid id"), "print far too much", "flood");
    let plan = Plan { name: PlanName::new("flood")?, base: None, defaults: Defaults::default(), tasks: vec![task] };
    scratch::add_plan(&rt, &repo, &plan)?;
    let defaults = colony_engine::Settings::new(Default::default(), Default::default());
    let opts = EngineOpts {
        workers: 1,
        idle_poll: defaults.idle_poll,
        gate_ms: 0,
        merges: Merges::Speculate,
        threads: 0,
        sandbox: false,
    };
    let started = Instant::now();
    let run = scratch::run_engine(&rt, &repo, &agent, opts, &[])?;
    let wall = started.elapsed();
    let log = repo.join(".colony/runs/flood/a1/log.jsonl");
    let log_bytes = std::fs::metadata(&log).with_context(|| format!("no log at {}", log.display()))?.len();
    println!(
        "colony-bench flood: one agent prints {} MiB ({lines} lines of 100 bytes, then one line of {line} bytes)",
        args.mib
    );
    table::print(
        &["printed", "engine peak RSS", "wait4 ru_maxrss", "log", "process wall"],
        &[vec![
            format!("{} MiB", args.mib),
            table::mib(run.engine_rss_kib),
            table::mib(run.tree_rss_kib),
            table::mib((log_bytes / 1024) as i64),
            format!("{:.1} s", wall.as_secs_f64()),
        ]],
    );
    println!("  engine peak RSS: the engine process's own VmHWM; ru_maxrss: the largest of it and what it reaped");
    Ok(())
}
