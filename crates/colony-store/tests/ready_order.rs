//! Property: on any DAG and any interleaving of completions and failures,
//! the store only hands out tasks whose dependencies are all done, and
//! always the ready task with the longest remaining path first.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use colony_core::dag::Dag;
use colony_core::{Plan, PlanName, TaskId, TaskSpec, TaskStatus};
use colony_store::{AddOptions, ManualClock, SqlStore, Store, TaskFilter};
use proptest::prelude::*;

/// A DAG as, for each task, the earlier tasks it depends on (so no cycle).
fn dag() -> impl Strategy<Value = Vec<Vec<usize>>> {
    (2usize..16)
        .prop_flat_map(|n| (0..n).map(|i| proptest::collection::vec(0..i.max(1), 0..3.min(i + 1))).collect::<Vec<_>>())
}

fn plan(deps: &[Vec<usize>], hours: &[u8]) -> Plan {
    let tasks = deps
        .iter()
        .enumerate()
        .map(|(i, ds)| {
            let mut spec = TaskSpec::new(TaskId::new(format!("t{i}")).unwrap(), format!("T{i}"), "p");
            let mut ds: Vec<usize> = ds.iter().copied().filter(|&d| d < i).collect();
            ds.sort();
            ds.dedup();
            spec.deps = ds.into_iter().map(|d| TaskId::new(format!("t{d}")).unwrap()).collect();
            spec.estimated_hours = Some(f64::from(hours[i % hours.len()]) + 1.0);
            spec.max_attempts = Some(2);
            spec
        })
        .collect();
    Plan { name: PlanName::new("p").unwrap(), base: None, defaults: Default::default(), tasks }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn claims_respect_dependencies_and_critical_path(
        deps in dag(),
        hours in proptest::collection::vec(0u8..5, 1..8),
        fails in proptest::collection::vec(any::<bool>(), 1..32),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = SqlStore::open_sqlite(&dir.path().join("c.db"), Arc::new(ManualClock::at(0))).await.unwrap();
            let plan = plan(&deps, &hours);
            store.add_plan(&plan, "p.yaml", AddOptions::default()).await.unwrap();
            let weights: HashMap<String, f64> = plan
                .tasks
                .iter()
                .zip(Dag::new(&plan.tasks).critical_path().unwrap())
                .map(|(t, w)| (t.id.to_string(), w))
                .collect();
            let mut step = 0;
            loop {
                let before: BTreeMap<TaskId, TaskStatus> = store
                    .tasks(&TaskFilter::default())
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| (r.task.id.clone(), r.task.status()))
                    .collect();
                let Some(claim) = store.claim("w", Duration::from_secs(60)).await.unwrap() else { break };
                for dep in &claim.spec.deps {
                    prop_assert_eq!(before[dep], TaskStatus::Done, "{} claimed before its dep {}", claim.task, dep);
                }
                let best = before
                    .iter()
                    .filter(|(_, s)| **s == TaskStatus::Ready)
                    .map(|(id, _)| weights[id.as_str()])
                    .fold(f64::MIN, f64::max);
                prop_assert_eq!(weights[claim.task.as_str()], best, "{} is not on the longest path", claim.task);
                if fails[step % fails.len()] {
                    store.fail(&claim.task, claim.attempt, "no", Duration::ZERO).await.unwrap();
                } else {
                    store.complete(&claim.task, claim.attempt).await.unwrap();
                }
                step += 1;
            }
            // Nothing is left claimable: every task ended, or waits on one
            // that failed.
            for rec in store.tasks(&TaskFilter::default()).await.unwrap() {
                prop_assert!(
                    matches!(rec.task.status(), TaskStatus::Done | TaskStatus::Failed | TaskStatus::Blocked),
                    "{} ended {}", rec.task.id, rec.task.status()
                );
            }
            Ok(())
        })?;
    }
}
