//! The agents that cannot take work now and how many ready tasks wait for
//! each, as `colony status` and the dashboard show them.

use std::collections::BTreeMap;

use colony_core::{Millis, PlanName, TaskSpec, TaskStatus};
use colony_store::{AgentWait, Store, StoreError, TaskFilter};
use serde::Serialize;

/// One agent's wait, and the ready tasks that wait with it.
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

/// Every agent's wait in the store, with its ready and running tasks
/// counted: a task's own agent, else its plan's default, else
/// `default_agent`.
pub async fn agents_waiting<S: Store>(store: &S, default_agent: Option<&str>) -> Result<Vec<AgentWaiting>, StoreError> {
    let waits: Vec<AgentWait> = store.agent_waits().await?;
    if waits.is_empty() {
        return Ok(Vec::new());
    }
    let ready = store.tasks(&TaskFilter { statuses: vec![TaskStatus::Ready, TaskStatus::Running], plan: None }).await?;
    let mut plans: BTreeMap<PlanName, (Option<String>, Vec<TaskSpec>)> = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for rec in &ready {
        let plan = &rec.task.plan;
        if !plans.contains_key(plan) {
            let stored = store.export_plan(plan.as_str()).await?;
            plans.insert(plan.clone(), (stored.defaults.agent, stored.tasks));
        }
        let (plan_agent, specs) = &plans[plan];
        let own = specs.iter().find(|s| s.id == rec.task.id).and_then(|s| s.agent.clone());
        if let Some(agent) = own.or_else(|| plan_agent.clone()).or_else(|| default_agent.map(str::to_owned)) {
            *counts.entry(agent).or_default() += 1;
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
