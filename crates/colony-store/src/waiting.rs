//! The agents that cannot take work now and how many tasks wait for each,
//! and the questions agents asked a person, as `colony status` and the
//! dashboard show them; and the tasks of some states with their plans'
//! defaults, which the engine's claims read too.
//! A task's agent is `colony_core::resolve`'s to say.

use std::collections::BTreeMap;

use colony_core::resolve::DefaultAgents;
use colony_core::{Defaults, Millis, PlanName, TaskId, TaskSpec, TaskState, TaskStatus};
use serde::Serialize;

use crate::{Counts, Store, StoreError, TaskFilter};

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

/// A question an agent asked (`ask_human`), waiting for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Question {
    pub task: TaskId,
    pub title: String,
    pub question: String,
    /// When the task fails if nobody answers.
    pub until: Millis,
}

/// Every question waiting for an answer, in the plans' order. Reads the
/// tasks only when `counts` says some await input.
pub async fn questions<S: Store>(store: &S, counts: &Counts) -> Result<Vec<Question>, StoreError> {
    if counts.get(TaskStatus::AwaitingInput) == 0 {
        return Ok(Vec::new());
    }
    let asking = store.tasks(&TaskFilter { statuses: vec![TaskStatus::AwaitingInput], plan: None }).await?;
    Ok(asking
        .into_iter()
        .filter_map(|rec| match rec.task.state {
            TaskState::AwaitingInput { question, until } => {
                Some(Question { task: rec.task.id, title: rec.title, question, until })
            }
            _ => None,
        })
        .collect())
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
