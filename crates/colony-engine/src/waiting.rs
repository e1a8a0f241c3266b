//! The agents that cannot take work now and how many tasks wait for each,
//! as `colony status` and the dashboard show them; and which agent a task
//! runs with, as the engine and they read it.

use std::collections::BTreeMap;

use colony_core::{Millis, PlanName, TaskSpec, TaskStatus};
use colony_store::{Store, StoreError, TaskFilter};
use serde::Serialize;

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

/// The agent a task runs with: its own, else its plan's default, else
/// the run's.
pub(crate) fn agent_of<'a>(
    spec: &'a TaskSpec,
    plan_agent: Option<&'a String>,
    default_agent: Option<&'a String>,
) -> Option<&'a String> {
    spec.agent.as_ref().or(plan_agent).or(default_agent)
}

/// A task in the store, with its plan, its plan's default agent and its spec.
pub(crate) struct Stored {
    pub plan: PlanName,
    pub plan_agent: Option<String>,
    pub spec: TaskSpec,
}

/// The tasks in `statuses`, read with their plans (each plan once).
pub(crate) async fn tasks_in<S: Store>(store: &S, statuses: Vec<TaskStatus>) -> Result<Vec<Stored>, StoreError> {
    let records = store.tasks(&TaskFilter { statuses, plan: None }).await?;
    let mut plans: BTreeMap<PlanName, (Option<String>, Vec<TaskSpec>)> = BTreeMap::new();
    let mut found = Vec::with_capacity(records.len());
    for rec in records {
        let plan = rec.task.plan;
        if !plans.contains_key(&plan) {
            let stored = store.export_plan(plan.as_str()).await?;
            plans.insert(plan.clone(), (stored.defaults.agent, stored.tasks));
        }
        let (plan_agent, specs) = &plans[&plan];
        if let Some(spec) = specs.iter().find(|s| s.id == rec.task.id) {
            found.push(Stored { plan_agent: plan_agent.clone(), spec: spec.clone(), plan });
        }
    }
    Ok(found)
}

/// Every agent's wait in the store, with its ready and running tasks
/// counted by [`agent_of`].
pub async fn agents_waiting<S: Store>(store: &S, default_agent: Option<&str>) -> Result<Vec<AgentWaiting>, StoreError> {
    let waits = store.agent_waits().await?;
    if waits.is_empty() {
        return Ok(Vec::new());
    }
    let default_agent = default_agent.map(str::to_owned);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks_in(store, vec![TaskStatus::Ready, TaskStatus::Running]).await? {
        if let Some(agent) = agent_of(&task.spec, task.plan_agent.as_ref(), default_agent.as_ref()) {
            *counts.entry(agent.clone()).or_default() += 1;
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
