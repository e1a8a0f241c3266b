//! `colony-bench seed`: a generated plan, layered so that dependencies
//! matter: completing a task makes its dependents ready, as in a real run.

use std::time::Instant;

use anyhow::Context;
use colony_core::{Defaults, Plan, PlanName, TaskId, TaskSpec};
use colony_store::{AddOptions, Store};

#[derive(clap::Args)]
pub struct Args {
    /// `sqlite:PATH` or `postgres://USER@HOST:PORT/DB`.
    #[arg(long)]
    store: String,
    /// How many tasks the plan has.
    #[arg(long)]
    tasks: usize,
    /// Tasks per layer; each depends on up to two tasks of the layer before.
    /// 0: no dependencies at all.
    #[arg(long, default_value_t = 50)]
    width: usize,
    #[arg(long, default_value = "bench")]
    plan: String,
}

pub async fn main(args: Args) -> anyhow::Result<()> {
    let store = crate::open_store(&args.store).await?;
    let started = Instant::now();
    seed(&store, &args.plan, args.tasks, args.width).await?;
    let line = serde_json::json!({"seeded": args.tasks, "plan": args.plan, "secs": started.elapsed().as_secs_f64()});
    println!("{line}");
    store.close().await;
    Ok(())
}

/// Adds [`plan`] to `store`.
pub async fn seed(store: &impl Store, name: &str, tasks: usize, width: usize) -> anyhow::Result<()> {
    let plan = plan(name, tasks, width)?;
    store
        .add_plan(&plan, "colony-bench seed", AddOptions::default())
        .await
        .with_context(|| format!("cannot add plan {name}"))?;
    Ok(())
}

/// A plan of `tasks` tasks `t000000`, `t000001`, … in layers of `width`:
/// task `p` of layer `l` depends on tasks `p` and `p + 1` (wrapping) of
/// layer `l - 1`. Acyclic by construction, as `add_plan` requires.
pub fn plan(name: &str, tasks: usize, width: usize) -> anyhow::Result<Plan> {
    let id = |i: usize| TaskId::new(format!("t{i:06}")).expect("t followed by digits is a valid id");
    let specs = (0..tasks)
        .map(|i| {
            let mut spec = TaskSpec::new(id(i), format!("bench task {i}"), "nothing to do");
            if width > 0 && i >= width {
                let prev = (i / width - 1) * width;
                let pos = i % width;
                spec.deps.push(id(prev + pos));
                if width > 1 {
                    spec.deps.push(id(prev + (pos + 1) % width));
                }
            }
            spec
        })
        .collect();
    let name = PlanName::new(name).with_context(|| format!("bad plan name {name}"))?;
    Ok(Plan { name, base: None, defaults: Defaults::default(), tasks: specs })
}

#[cfg(test)]
mod tests {
    #[test]
    fn layers_depend_on_two_tasks_of_the_layer_before() {
        let plan = super::plan("p", 7, 3).unwrap();
        let deps: Vec<Vec<&str>> = plan.tasks.iter().map(|t| t.deps.iter().map(|d| d.as_str()).collect()).collect();
        assert_eq!(deps[..3], [Vec::<&str>::new(), vec![], vec![]]);
        assert_eq!(deps[3], ["t000000", "t000001"]);
        assert_eq!(deps[5], ["t000002", "t000000"]);
        assert_eq!(deps[6], ["t000003", "t000004"]);
        assert!(super::plan("p", 5, 0).unwrap().tasks.iter().all(|t| t.deps.is_empty()));
        assert_eq!(super::plan("p", 3, 1).unwrap().tasks[2].deps.len(), 1);
    }
}
