//! The ready tasks this process passes over, and why: agents that cannot
//! take work (rate limited, or waiting for a person) and plans whose
//! budget is spent. Read from the store before every claim, so a wait or a
//! spend another process learnt of counts here too.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use colony_core::resolve::DefaultAgents;
use colony_core::time::dollars;
use colony_core::{Defaults, PlanName, TaskSpec, TaskStatus, Usage};
use colony_store::{AgentWait, Store, tasks_in};

use crate::error::EngineError;
use crate::pacing::millis_of;
use crate::shared::Inner;

/// What a claim passes over.
#[derive(Debug, Default)]
pub(crate) struct Held {
    /// Agents that cannot take work now.
    pub agents: BTreeSet<String>,
    /// Plans whose budget is spent, and what that says.
    pub plans: BTreeMap<PlanName, String>,
    /// Each plan's defaults, for tasks that name no agent.
    pub plan_defaults: BTreeMap<PlanName, Defaults>,
    pub default_agents: DefaultAgents,
}

impl Held {
    /// Whether a claim may take `spec` of `plan`.
    pub fn accepts(&self, plan: &PlanName, spec: &TaskSpec) -> bool {
        if self.plans.contains_key(plan) {
            return false;
        }
        if self.agents.is_empty() {
            return true;
        }
        let none = Defaults::default();
        let defaults = self.plan_defaults.get(plan).unwrap_or(&none);
        self.default_agents.agent_name(spec, defaults).is_none_or(|a| !self.agents.contains(a))
    }
}

/// Why the store's spend halts all new work, if it does.
pub(crate) fn over_budget(spent: &Usage, cap: Option<f64>) -> Option<String> {
    let (cap, cost) = (cap?, spent.cost_usd?);
    (cost >= cap).then(|| {
        format!(
            "the budget of {} is spent ({} by every run on this store so far). \
             Raise [run] max_cost_usd in colony.toml, then `colony run` carries on",
            dollars(cap),
            dollars(cost)
        )
    })
}

/// Why one plan's tasks are claimed no more, if they are not.
pub(crate) fn plan_over_budget(plan: &PlanName, spent: &Usage, cap: Option<f64>) -> Option<String> {
    let (cap, cost) = (cap?, spent.cost_usd?);
    (cost >= cap).then(|| {
        format!(
            "plan {plan} spent its budget of {} ({} so far); its tasks wait. \
             Raise [run] max_plan_cost_usd in colony.toml, then `colony run` carries on",
            dollars(cap),
            dollars(cost)
        )
    })
}

impl<S: Store + 'static> Inner<S> {
    /// Halts the run when the store's spend is over `max_cost_usd`.
    pub(crate) async fn check_budget(&self) -> Result<(), EngineError> {
        let cap = self.settings.config.run.max_cost_usd;
        if cap.is_some()
            && let Some(why) = over_budget(&self.store.spend().await?, cap)
        {
            self.pacing.halt(why);
        }
        Ok(())
    }

    /// What the next claim passes over; halts the run when the store's
    /// spend is over the budget.
    pub(crate) async fn held(&self) -> Result<Held, EngineError> {
        self.check_budget().await?;
        let waits = self.store.agent_waits().await?;
        self.pacing.absorb(&waits);
        let mut held = Held {
            agents: self.pacing.blocked(SystemTime::now()),
            default_agents: DefaultAgents::of(&self.settings.config),
            ..Held::default()
        };
        let cap = self.settings.config.run.max_plan_cost_usd;
        if held.agents.is_empty() && cap.is_none() {
            return Ok(held);
        }
        for plan in self.store.plans().await? {
            let name = plan.name;
            if cap.is_some()
                && let Some(why) = plan_over_budget(&name, &self.store.plan_spend(name.as_str()).await?, cap)
            {
                self.say_once(why.clone());
                held.plans.insert(name.clone(), why);
            }
            if !held.agents.is_empty() {
                let run = self.plan_info(&name).await?;
                held.plan_defaults.insert(name, run.defaults.clone());
            }
        }
        Ok(held)
    }

    /// Whether what is left can move only after a person acts: nothing
    /// runs anywhere, and every ready task is for an agent waiting for a
    /// person or of a plan whose budget is spent. Their reasons become the
    /// run's halt.
    pub(crate) async fn only_held_left(&self) -> Result<bool, EngineError> {
        let counts = self.store.counts().await?;
        let running = [TaskStatus::Running, TaskStatus::Checking, TaskStatus::Merging];
        if running.iter().any(|s| counts.get(*s) > 0) || counts.get(TaskStatus::Ready) == 0 {
            return Ok(false);
        }
        let mut held = self.held().await?;
        let locked = self.pacing.locked();
        held.agents = locked.keys().cloned().collect();
        if held.agents.is_empty() && held.plans.is_empty() {
            return Ok(false);
        }
        let ready = tasks_in(&*self.store, vec![TaskStatus::Ready]).await?;
        if ready.iter().any(|t| held.accepts(&t.plan, &t.spec)) {
            return Ok(false);
        }
        for why in locked.into_values().chain(held.plans.into_values()) {
            self.pacing.halt(why);
        }
        Ok(true)
    }

    /// Keeps that a round of the attempt found `agent` unable to take work,
    /// for every process and for `colony status`.
    pub(crate) async fn agent_waits(
        &self,
        task: &colony_core::TaskId,
        attempt: u32,
        agent: &str,
        reason: &str,
        until: Option<SystemTime>,
    ) -> Result<(), EngineError> {
        let wait = AgentWait {
            agent: agent.to_owned(),
            reason: reason.to_owned(),
            since: millis_of(SystemTime::now()),
            ends_at: until.map(millis_of),
        };
        Ok(self.store.agent_waiting(task, attempt, &wait).await?)
    }
}

#[cfg(test)]
mod tests {
    use colony_core::TaskId;

    use super::*;

    fn spec(id: &str, agent: Option<&str>) -> TaskSpec {
        let mut spec = TaskSpec::new(TaskId::new(id).unwrap(), id, "do it");
        spec.agent = agent.map(str::to_owned);
        spec
    }

    #[test]
    fn a_claim_passes_over_held_agents_by_the_task_the_plan_or_the_default() {
        let p = PlanName::new("p").unwrap();
        let q = PlanName::new("q").unwrap();
        let held = Held {
            agents: BTreeSet::from(["claude".to_owned()]),
            plans: BTreeMap::new(),
            plan_defaults: BTreeMap::from([
                (p.clone(), Defaults { agent: Some("codex".to_owned()), ..Defaults::default() }),
                (q.clone(), Defaults::default()),
            ]),
            default_agents: DefaultAgents { run: Some("claude".into()), ..DefaultAgents::default() },
        };
        assert!(!held.accepts(&p, &spec("a", Some("claude"))), "the task's own agent");
        assert!(held.accepts(&p, &spec("b", None)), "the plan's default, codex");
        assert!(!held.accepts(&q, &spec("c", None)), "the run's default, claude");
        assert!(held.accepts(&q, &spec("d", Some("gemini"))));
        let spent = Held { plans: BTreeMap::from([(q.clone(), "spent".to_owned())]), ..Held::default() };
        assert!(!spent.accepts(&q, &spec("e", Some("gemini"))), "a plan over its budget");
        assert!(spent.accepts(&p, &spec("f", None)));
    }

    #[test]
    fn budgets_say_what_was_spent_without_rounding_it_away() {
        let spent = Usage { cost_usd: Some(0.0042), ..Usage::default() };
        let why = over_budget(&spent, Some(0.004)).unwrap();
        assert!(why.starts_with("the budget of $0.0040 is spent ($0.0042 by every run"), "{why}");
        assert!(!why.contains("no new work"), "the summary says that part: {why}");
        assert_eq!(over_budget(&spent, Some(1.0)), None);
        assert_eq!(over_budget(&Usage::default(), Some(0.0)), None, "an unknown cost is no spend");
        let plan = PlanName::new("night").unwrap();
        let why = plan_over_budget(&plan, &Usage { cost_usd: Some(2.5), ..Usage::default() }, Some(2.0)).unwrap();
        assert!(why.starts_with("plan night spent its budget of $2.00 ($2.50 so far)"), "{why}");
    }
}
