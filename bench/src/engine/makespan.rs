//! Makespan: the engine on random DAGs whose tasks sleep a given duration
//! (their prompt says `sleep SECONDS`), against the lower bound
//! max(critical path, total work / workers) and against list scheduling
//! simulated on the same DAG with no overhead: plain FIFO (plan order) and
//! critical path first, the store's order.

use anyhow::Context;
use colony_core::{Defaults, Plan, PlanName, TaskId, TaskSpec};
use tokio::runtime::Runtime;

use super::dag::{Dag, Order, Rng, SHAPES};
use super::scratch::{self, EngineOpts, EngineRun, Merges, Scratch};
use crate::table;

const GOAL: &str = "<= 1.10x";
const MS_PER_HOUR: f64 = 3_600_000.0;

pub struct Args {
    pub tasks: usize,
    /// Task durations, `(min, max)` milliseconds: one set of runs each.
    pub durations: Vec<(u64, u64)>,
    /// Also run every range with a gate that sleeps this long (0: not).
    pub gate_ms: u64,
    pub seed: u64,
    pub engine: EngineOpts,
}

/// Reads `MIN-MAX` milliseconds.
pub fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let (min, max) = text.split_once('-').ok_or_else(|| format!("`{text}` is not MIN-MAX, such as 1000-4000"))?;
    let ms =
        |v: &str| v.trim().parse::<u64>().map_err(|_| format!("`{v}` in `{text}` is not a number of milliseconds"));
    let (min, max) = (ms(min)?, ms(max)?);
    if min == 0 || min > max {
        return Err(format!("`{text}`: MIN must be at least 1 and at most MAX"));
    }
    Ok((min, max))
}

/// Runs colony on one DAG of each shape for each range of durations,
/// prints the figures, and returns each run with its name for the memory
/// table.
pub fn measure(rt: &Runtime, scratch: &Scratch, args: &Args) -> anyhow::Result<Vec<(String, EngineRun)>> {
    let mut runs = Vec::new();
    for &durations in &args.durations {
        runs.extend(measure_durations(rt, scratch, args, durations, 0, Merges::Speculate)?);
        if args.gate_ms > 0 {
            for merges in [Merges::Alone, Merges::Trains, Merges::Speculate] {
                runs.extend(measure_durations(rt, scratch, args, durations, args.gate_ms, merges)?);
            }
        }
    }
    Ok(runs)
}

fn measure_durations(
    rt: &Runtime,
    scratch: &Scratch,
    args: &Args,
    (min_ms, max_ms): (u64, u64),
    gate_ms: u64,
    merges: Merges,
) -> anyhow::Result<Vec<(String, EngineRun)>> {
    let (gated, gate) = match (gate_ms, merges) {
        (0, _) => (String::new(), String::new()),
        (ms, Merges::Alone) => (
            format!(
                "; a gate of {ms} ms after each agent (counted in the task's work and the bound) \
                 and again on each merge candidate, under the merge lock, every merge gated alone"
            ),
            format!(" gate {ms} ms alone"),
        ),
        (ms, Merges::Trains) => (
            format!(
                "; a gate of {ms} ms after each agent (counted in the task's work and the bound) \
                 and again on each merge candidate, under the merge lock; merges waiting at once ride one train, \
                 gated once"
            ),
            format!(" gate {ms} ms trains"),
        ),
        (ms, Merges::Speculate) => (
            format!(
                "; a gate of {ms} ms after each agent (counted in the task's work and the bound), run on the task's \
                 merge before its turn (onto the tip and the merges queued ahead), gated again only when one ahead \
                 did not land"
            ),
            format!(" gate {ms} ms speculate"),
        ),
    };
    println!(
        "\nmakespan: random DAGs of {} tasks of {min_ms}-{max_ms} ms (seed {}), {} workers; tasks carry their duration as estimated_hours{gated}",
        args.tasks, args.seed, args.engine.workers
    );
    let engine = EngineOpts { gate_ms, merges, ..args.engine };
    let workers = args.engine.workers;
    let mut rows = Vec::new();
    let mut overhead_rows = Vec::new();
    let mut runs = Vec::new();
    for (i, shape) in SHAPES.iter().enumerate() {
        let mut rng = Rng::new(args.seed.wrapping_add(i as u64));
        let sleeps = Dag::random(args.tasks, shape, (min_ms, max_ms), &mut rng);
        // The work each task is: its agent's sleep and its first gate.
        let dag = sleeps.lengthened(gate_ms);
        let name = format!("makespan-{}-{min_ms}-{max_ms}-gate-{gate_ms}-{}", shape.name, merges.arg());
        let repo = scratch.repo(&name)?;
        scratch::add_plan(rt, &repo, &plan(&sleeps, &dag)?)?;
        let run = scratch::run_engine(rt, &repo, &scratch.agent(), engine, &[])?;
        scratch::check_result(&repo, "colony/bench", args.tasks)?;

        let bound = dag.lower_bound(workers);
        let ms = |v: f64| format!("{:.2} s", v / 1000.0);
        let vs = |v: f64| format!("{:.2}x", v / bound);
        let measured = run.engine_wall.as_secs_f64() * 1000.0;
        // No schedule beats the bound: a run under it had agents that did
        // not take their time, and its figures would mean nothing.
        anyhow::ensure!(
            measured >= bound * 0.99,
            "{name}: the run took {measured:.0} ms, under the lower bound of {bound:.0} ms: the agents did not sleep"
        );
        let fifo = dag.simulate(workers, Order::Fifo) as f64;
        let cp = dag.simulate(workers, Order::CriticalPath { weighted: true }) as f64;
        let cp_count = dag.simulate(workers, Order::CriticalPath { weighted: false }) as f64;
        // The tasks one after another that the bound counts: the critical
        // chain, or a worker's share of all of them.
        let in_line = match dag.critical_path() as f64 >= bound {
            true => dag.critical_chain() as f64,
            false => args.tasks as f64 / workers as f64,
        };
        rows.push(vec![
            format!("{} ({:.1} deps/task)", shape.name, dag.mean_deps()),
            format!("{} ({} tasks)", ms(dag.critical_path() as f64), dag.critical_chain()),
            ms(dag.total_work() as f64 / workers as f64),
            ms(bound),
            ms(measured),
            vs(measured),
            GOAL.into(),
            format!("{:.0} ms", (measured - bound) / in_line),
            format!("{} {}", ms(fifo), vs(fifo)),
            format!("{} {}", ms(cp), vs(cp)),
            format!("{} {}", ms(cp_count), vs(cp_count)),
        ]);
        overhead_rows.push(overhead_row(shape.name, &sleeps, &run));
        runs.push((format!("makespan {} {min_ms}-{max_ms} ms{gate}", shape.name), run));
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
            "beyond the bound per task in line",
            "FIFO (simulated)",
            "CP first (simulated)",
            "CP by task count (simulated)",
        ],
        &rows,
    );
    println!(
        "  colony: Engine::run wall time. Beyond the bound per task in line: colony's time past the bound over the\n  \
         tasks the bound has run one after another (the critical chain, or a worker's share when the work bound is\n  \
         higher), which does not grow with the tasks' length. Simulated: greedy list scheduling without overhead;\n  \
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

/// The DAG as a plan: task `tNNN` sleeps its duration in `sleeps`, and
/// tells the store its duration in `work` as its estimate, so that the
/// store's critical path is the one the simulation uses.
fn plan(sleeps: &Dag, work: &Dag) -> anyhow::Result<Plan> {
    let id = |i: usize| TaskId::new(format!("t{i:03}")).expect("t followed by digits is a valid id");
    let tasks = (0..sleeps.len())
        .map(|i| {
            let ms = sleeps.durations[i];
            let mut spec = TaskSpec::new(id(i), format!("bench task {i}"), scratch::sleep_command(ms));
            spec.deps = sleeps.deps[i].iter().map(|&d| id(d)).collect();
            spec.estimated_hours = Some(work.durations[i] as f64 / MS_PER_HOUR);
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

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn a_range_is_min_dash_max_milliseconds() {
        assert_eq!(parse_range("1000-4000"), Ok((1000, 4000)));
        assert_eq!(parse_range("50-50"), Ok((50, 50)));
        assert!(parse_range("4000-1000").unwrap_err().contains("at most MAX"));
        assert!(parse_range("0-10").is_err());
        assert!(parse_range("1000").unwrap_err().contains("MIN-MAX"));
        assert!(parse_range("a-10").unwrap_err().contains("`a`"));
    }
}
