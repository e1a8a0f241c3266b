//! The agents that cannot take work now and how many tasks wait for each,
//! as `colony status` and the dashboard show them; and the tasks of some
//! states with their plans' defaults, which the engine's claims read too.
//! A task's agent is `colony_core::resolve`'s to say.

use std::collections::BTreeMap;

use colony_core::resolve::DefaultAgents;
use colony_core::{Defaults, Millis, PlanName, TaskSpec, TaskStatus};
use serde::Serialize;

use crate::{Store, StoreError, TaskFilter};

/// One agent's wait, and the tasks that wait with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentWaiting {
    pub agent: String,
    pub reason: String,
    pub since: Millis,
    /// When a rate limit lifts; `None`: when a person has acted.
    pub ends_at: Option<Millis>,
    /// Tasks for the agent that wait: ready ones, and running ones (an
    /// attempt that met the limit waits before its next round).
    pub tasks: usize,
}

/// A task in the store, with its plan, its plan's defaults and its spec.
pub struct StoredTask {
    pub plan: PlanName,
    pub defaults: Defaults,
    pub spec: TaskSpec,
}

/// The tasks in `statuses`, read with their plans (each plan once).
pub async fn tasks_in<S: Store>(store: &S, statuses: Vec<TaskStatus>) -> Result<Vec<StoredTask>, StoreError> {
    let records = store.tasks(&TaskFilter { statuses, plan: None }).await?;
    let mut plans: BTreeMap<PlanName, (Defaults, Vec<TaskSpec>)> = BTreeMap::new();
    let mut found = Vec::with_capacity(records.len());
    for rec in records {
        let plan = rec.task.plan;
        if !plans.contains_key(&plan) {
            let stored = store.export_plan(plan.as_str()).await?;
            plans.insert(plan.clone(), (stored.defaults, stored.tasks));
        }
        let (defaults, specs) = &plans[&plan];
        if let Some(spec) = specs.iter().find(|s| s.id == rec.task.id) {
            found.push(StoredTask { defaults: defaults.clone(), spec: spec.clone(), plan });
        }
    }
    Ok(found)
}

/// Every agent's wait in the store, with its ready and running tasks;
/// `defaults` say the agent of tasks that name none.
pub async fn agents_waiting<S: Store>(store: &S, defaults: &DefaultAgents) -> Result<Vec<AgentWaiting>, StoreError> {
    let waits = store.agent_waits().await?;
    if waits.is_empty() {
        return Ok(Vec::new());
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks_in(store, vec![TaskStatus::Ready, TaskStatus::Running]).await? {
        if let Some(agent) = defaults.agent_name(&task.spec, &task.defaults) {
            *counts.entry(agent.to_owned()).or_default() += 1;
        }
    }
    Ok(waits
        .into_iter()
        .map(|w| AgentWaiting {
            tasks: counts.get(&w.agent).copied().unwrap_or(0),
            agent: w.agent,
            reason: w.reason,
            since: w.since,
            ends_at: w.ends_at,
        })
        .collect())
}
