//! A task's effective settings, decided here and nowhere else.
//!
//! Each setting is the task's own, else its plan's default, else
//! `colony.toml`'s, else colony's default; colony's defaults are written
//! once, in [`Config::default`], so a config read from a file already
//! holds them where the file is silent. The engine, the CLI's checks
//! before a run, `colony status` and the dashboard all ask here, so that
//! none of them can pick a different agent for the same task.
//!
//! A task's role (`role:`, else its plan's, naming a `[roles.NAME]` of
//! `colony.toml`) comes between the task and its plan: it is the kind of
//! task it is, more particular than the plan it is in. Its template and
//! gates are the role's alone.
//!
//! Gates and merges have no task or plan level: they are `[gates]` and
//! `[merge]` as they are, and a role's gates come on top.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::config::{AgentKind, Config};
use crate::review::Policy;
use crate::spec::{Approval, Defaults, Review, TaskSpec};

/// What one task runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSettings {
    /// The agent that does the work; `None` when neither the task, its
    /// plan nor `[run] agent` names one.
    pub agent: Option<AgentChoice>,
    pub review: ReviewSettings,
    /// A person approves the work before it merges.
    pub approval: bool,
    /// Wall clock of one agent run.
    pub timeout: Duration,
    /// An agent that prints nothing for this long is stopped.
    pub silence_timeout: Duration,
    /// The role it takes, when it takes one `colony.toml` defines.
    pub role: Option<RoleSettings>,
}

/// What a task takes of its role beyond its agent and review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSettings {
    pub name: String,
    /// The builder's template for the role's tasks, relative to the
    /// repository's root.
    pub template: Option<String>,
    /// Gates its tasks run after the project's.
    pub gates: Vec<String>,
}

/// An agent as a task runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentChoice {
    /// As configured: the name its harness and its waits are kept by.
    pub name: String,
    /// The model the task or its plan asks for, which the harness passes on.
    pub task_model: Option<String>,
    /// The model it runs, as far as colony knows, to price its tokens:
    /// `task_model`, else the one its `[agents.NAME]` table sets.
    pub model: Option<String>,
}

/// Who reviews a task's work, and how their verdicts count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewSettings {
    /// Empty: no review.
    pub reviewers: Vec<AgentChoice>,
    pub policy: Policy,
    /// Rounds of changes a review may ask for before the attempt fails.
    pub max_rounds: u32,
}

/// The settings `task` of a plan with `plan` as its defaults runs with.
pub fn resolve(task: &TaskSpec, plan: &Defaults, config: &Config) -> TaskSettings {
    let role = role_name(task, plan).and_then(|name| Some((name, config.roles.get(name)?)));
    let role_config = role.map(|(_, r)| r);
    let task_model = task.model.as_ref().or(role_config.and_then(|r| r.model.as_ref())).or(plan.model.as_ref());
    let choice = |name: &str| AgentChoice {
        name: name.to_owned(),
        task_model: task_model.cloned(),
        model: task_model.cloned().or_else(|| agent_model(config, name)),
    };
    let reviewers: Vec<&str> = match (task.review.as_ref(), role_config.and_then(|r| r.reviewers.as_ref())) {
        (Some(Review::Skip(_)), _) => Vec::new(),
        (Some(Review::Agent { agent }), _) => vec![agent],
        (None, Some(agents)) => agents.iter().map(String::as_str).collect(),
        (None, None) => match plan.review.as_ref() {
            Some(Review::Skip(_)) => Vec::new(),
            Some(Review::Agent { agent }) => vec![agent],
            None => config.review.agents.iter().map(String::as_str).collect(),
        },
    };
    TaskSettings {
        agent: DefaultAgents::of(config).agent_name(task, plan).map(&choice),
        review: ReviewSettings {
            reviewers: reviewers.into_iter().map(&choice).collect(),
            policy: config.review.policy,
            max_rounds: config.review.max_rounds,
        },
        approval: match (task.approval, role_config.and_then(|r| r.approval)) {
            (Some(approval), _) => approval == Approval::Required,
            (None, Some(required)) => required,
            (None, None) => plan.approval.map_or(config.review.approval, |a| a == Approval::Required),
        },
        timeout: task.timeout.or(plan.timeout).unwrap_or(config.run.timeout),
        silence_timeout: config.run.silence_timeout,
        role: role.map(|(name, r)| RoleSettings {
            name: name.to_owned(),
            template: r.template.clone(),
            gates: r.gates.clone(),
        }),
    }
}

/// The role `task` names, else its plan's default.
pub fn role_name<'a>(task: &'a TaskSpec, plan: &'a Defaults) -> Option<&'a str> {
    task.role.as_deref().or(plan.role.as_deref())
}

/// Who does a task's work when the task names no agent: for readers that
/// do not hold the whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefaultAgents {
    /// `[run] agent`, or `--agent`.
    pub run: Option<String>,
    /// The agent each `[roles.NAME]` names.
    pub roles: BTreeMap<String, String>,
}

impl DefaultAgents {
    pub fn of(config: &Config) -> DefaultAgents {
        let roles = config.roles.iter().filter_map(|(name, r)| Some((name.clone(), r.agent.clone()?))).collect();
        DefaultAgents { run: config.run.agent.clone(), roles }
    }

    /// The agent `task` runs with: its own, else its role's, else its
    /// plan's default, else `[run] agent`.
    pub fn agent_name<'a>(&'a self, task: &'a TaskSpec, plan: &'a Defaults) -> Option<&'a str> {
        let role = role_name(task, plan).and_then(|name| self.roles.get(name)).map(String::as_str);
        task.agent.as_deref().or(role).or(plan.agent.as_deref()).or(self.run.as_deref())
    }
}

/// The agents the configuration itself names: every `[agents.NAME]`
/// table, the default agent and the reviewers. A process that starts
/// before any plan is known prepares these, and `colony doctor` checks
/// them.
pub fn named_agents(config: &Config) -> BTreeSet<&str> {
    let tables = config.agents.keys().map(String::as_str);
    tables.chain(config.run.agent.as_deref()).chain(config.review.agents.iter().map(String::as_str)).collect()
}

/// The model an agent's table sets, if it is an agent CLI's.
fn agent_model(config: &Config, name: &str) -> Option<String> {
    match config.agent(name)?.kind {
        AgentKind::Cli(cli) => cli.model,
        AgentKind::Command { .. } | AgentKind::Fake => None,
    }
}

#[cfg(test)]
mod tests;
