//! A task's effective settings, decided here and nowhere else.
//!
//! Each setting is the task's own, else its plan's default, else
//! `colony.toml`'s, else colony's default; colony's defaults are written
//! once, in [`Config::default`], so a config read from a file already
//! holds them where the file is silent. The engine, the CLI's checks
//! before a run, `colony status` and the dashboard all ask here, so that
//! none of them can pick a different agent for the same task.
//!
//! Gates and merges have no task or plan level: they are `[gates]` and
//! `[merge]` as they are.

use std::collections::BTreeSet;
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
    let task_model = task.model.as_ref().or(plan.model.as_ref());
    let choice = |name: &str| AgentChoice {
        name: name.to_owned(),
        task_model: task_model.cloned(),
        model: task_model.cloned().or_else(|| agent_model(config, name)),
    };
    let reviewers: Vec<&str> = match task.review.as_ref().or(plan.review.as_ref()) {
        Some(Review::Skip(_)) => Vec::new(),
        Some(Review::Agent { agent }) => vec![agent],
        None => config.review.agents.iter().map(String::as_str).collect(),
    };
    TaskSettings {
        agent: agent_name(task, plan, config.run.agent.as_deref()).map(&choice),
        review: ReviewSettings {
            reviewers: reviewers.into_iter().map(&choice).collect(),
            policy: config.review.policy,
            max_rounds: config.review.max_rounds,
        },
        approval: match task.approval.or(plan.approval) {
            Some(approval) => approval == Approval::Required,
            None => config.review.approval,
        },
        timeout: task.timeout.or(plan.timeout).unwrap_or(config.run.timeout),
        silence_timeout: config.run.silence_timeout,
    }
}

/// The agent `task` runs with: its own, else its plan's default, else
/// `default` (`[run] agent`, or `--agent`). For a reader that has only
/// the default's name, not the whole configuration.
pub fn agent_name<'a>(task: &'a TaskSpec, plan: &'a Defaults, default: Option<&'a str>) -> Option<&'a str> {
    task.agent.as_deref().or(plan.agent.as_deref()).or(default)
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
