//! Makespan: the engine on random DAGs whose tasks sleep a given duration
//! (their prompt says `sleep SECONDS`), against the lower bound
//! max(critical path, total work / workers) and against list scheduling
//! simulated on the same DAG with no overhead: plain FIFO (plan order) and
//! critical path first, the store's order.

use anyhow::Context;
use colony_core::{Defaults, Plan, PlanName, TaskId, TaskSpec};
use tokio::runtime::Runtime;

use super::dag::{Dag, Order, Rng, SHAPES};
use super::scratch::{self, EngineOpts, EngineRun, Scratch};
use crate::table;

const GOAL: &str = "<= 1.10x";
const MS_PER_HOUR: f64 = 3_600_000.0;

pub struct Args {
    pub tasks: usize,
    pub min_ms: u64,
    pub max_ms: u64,
    pub seed: u64,
    pub engine: EngineOpts,
}

/// Runs colony on one DAG of each shape, prints the figures, and returns
/// each run with its DAG's name for the memory table.
pub fn measure(rt: &Runtime, scratch: &Scratch, args: &Args) -> anyhow::Result<Vec<(String, EngineRun)>> {
    println!(
        "\nmakespan: random DAGs of {} tasks of {}-{} ms (seed {}), {} workers; tasks carry their duration as estimated_hours",
        args.tasks, args.min_ms, args.max_ms, args.seed, args.engine.workers
    );
    let workers = args.engine.workers;
    let mut rows = Vec::new();
    let mut overhead_rows = Vec::new();
    let mut runs = Vec::new();
    for (i, shape) in SHAPES.iter().enumerate() {
        let mut rng = Rng::new(args.seed.wrapping_add(i as u64));
        let dag = Dag::random(args.tasks, shape, (args.min_ms, args.max_ms), &mut rng);
        let repo = scratch.repo(&format!("makespan-{}", shape.name))?;
        scratch::add_plan(rt, &repo, &plan(&dag)?)?;
        let run = scratch::run_engine(rt, &repo, &scratch.agent(), args.engine, &[])?;
        scratch::check_result(&repo, "colony/bench", args.tasks)?;

        let bound = dag.lower_bound(workers);
        let ms = |v: f64| format!("{:.2} s", v / 1000.0);
        let vs = |v: f64| format!("{:.2}x", v / bound);
        let measured = run.engine_wall.as_secs_f64() * 1000.0;
        let fifo = dag.simulate(workers, Order::Fifo) as f64;
        let cp = dag.simulate(workers, Order::CriticalPath { weighted: true }) as f64;
        let cp_count = dag.simulate(workers, Order::CriticalPath { weighted: false }) as f64;
        rows.push(vec![
            format!("{} ({:.1} deps/task)", shape.name, dag.mean_deps()),
            format!("{} ({} tasks)", ms(dag.critical_path() as f64), dag.critical_chain()),
            ms(dag.total_work() as f64 / workers as f64),
            ms(bound),
            ms(measured),
            vs(measured),
            GOAL.into(),
            format!("{} {}", ms(fifo), vs(fifo)),
            format!("{} {}", ms(cp), vs(cp)),
            format!("{} {}", ms(cp_count), vs(cp_count)),
        ]);
        overhead_rows.push(overhead_row(shape.name, &dag, &run));
        runs.push((format!("makespan {}", shape.name), run));
    }
    table::print(
        &[
            "DAG",
            "critical path",
            "work / workers",
            "lower bound",
            "colony",
            "vs bound",
            "goal",
            "FIFO (simulated)",
            "CP first (simulated)",
            "CP by task count (simulated)",
        ],
        &rows,
    );
    println!(
        "  colony: Engine::run wall time. Simulated: greedy list scheduling without overhead; \
         CP by task count is the store's order when a plan gives no estimated_hours."
    );
    println!("\n  where colony's time per task went (means, from the store's event timestamps):");
    table::print(
        &[
            "DAG",
            "claimed -> checking, beyond the sleep",
            "merging -> completed (incl. lock wait)",
            "completions with a merge waiting",
            "gap between those completions",
            "gap x tasks",
            "attempts/task",
        ],
        &overhead_rows,
    );
    println!(
        "  With another task waiting to merge, the gap from one completion to the next is one turn of the merge\n  \
         queue: unlock, hand-off, the next holder's merge. Gap x tasks near the makespan: the queue is the bottleneck."
    );
    Ok(runs)
}

/// The DAG as a plan: task `tNNN` sleeps its duration, and tells the store
/// that duration as its estimate, so that the store's critical path is the
/// one the simulation uses.
fn plan(dag: &Dag) -> anyhow::Result<Plan> {
    let id = |i: usize| TaskId::new(format!("t{i:03}")).expect("t followed by digits is a valid id");
    let tasks = (0..dag.len())
        .map(|i| {
            let ms = dag.durations[i];
            let mut spec =
                TaskSpec::new(id(i), format!("bench task {i}"), format!("sleep {}.{:03}", ms / 1000, ms % 1000));
            spec.deps = dag.deps[i].iter().map(|&d| id(d)).collect();
            spec.estimated_hours = Some(ms as f64 / MS_PER_HOUR);
            spec
        })
        .collect();
    let name = PlanName::new("bench").context("bad plan name")?;
    Ok(Plan { name, base: None, defaults: Defaults::default(), tasks })
}

fn overhead_row(name: &str, dag: &Dag, run: &EngineRun) -> Vec<String> {
    let steps = scratch::steps(&run.events);
    let n = steps.len().max(1) as f64;
    // Task ids are t000.. in plan order, so the id gives the duration.
    let beyond_sleep: f64 = steps
        .iter()
        .map(|(task, s)| {
            let i: usize = task.as_str()[1..].parse().unwrap_or(0);
            (s.checking - s.claimed) as f64 - dag.durations[i] as f64
        })
        .sum::<f64>()
        / n;
    let merge: f64 = steps.iter().map(|(_, s)| (s.completed - s.merging) as f64).sum::<f64>() / n;
    // In order of completion: where the next task had entered its merge
    // phase before this one completed, the merge queue was never idle
    // between the two.
    let mut by_completion: Vec<_> = steps.iter().map(|(_, s)| *s).collect();
    by_completion.sort_by_key(|s| s.completed);
    let turns: Vec<i64> = by_completion
        .windows(2)
        .filter(|w| w[1].merging <= w[0].completed)
        .map(|w| w[1].completed - w[0].completed)
        .collect();
    let turn = turns.iter().sum::<i64>() as f64 / turns.len().max(1) as f64;
    let attempts = 1.0 + scratch::extra_attempts(&run.events) as f64 / n;
    vec![
        name.to_owned(),
        format!("{beyond_sleep:.1} ms"),
        format!("{merge:.1} ms"),
        format!("{} of {}", turns.len(), by_completion.len().saturating_sub(1)),
        format!("{turn:.1} ms"),
        format!("{:.2} s", turn * steps.len() as f64 / 1000.0),
        format!("{attempts:.2}"),
    ]
}
