//! What the engine is told: resolved from `colony.toml` and the command
//! line by the caller, so the engine never reads configuration files.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use colony_agents::{AgentError, CommandHarness, Harness};
use colony_core::config::Price;
use colony_git::Identity;

/// A configured agent the engine can start.
#[derive(Clone)]
pub struct AgentSetup {
    pub harness: Arc<dyn Harness>,
    /// The model it runs when a task names none, to price its tokens.
    pub model: Option<String>,
    /// The program and arguments that print its version (`claude
    /// --version`), for an agent CLI.
    pub version_command: Option<Vec<std::ffi::OsString>>,
}

impl AgentSetup {
    pub fn new(harness: impl Harness + 'static, model: Option<String>) -> Self {
        AgentSetup { harness: Arc::new(harness), model, version_command: None }
    }

    /// A `command` agent: a program and its arguments (never a shell
    /// string) with extra environment; a relative program is taken from
    /// `base`.
    pub fn command(argv: Vec<String>, env: Vec<(String, String)>, base: &Path) -> Result<Self, AgentError> {
        Ok(Self::new(CommandHarness::new(argv, env, base)?, None))
    }
}

impl fmt::Debug for AgentSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentSetup").field("model", &self.model).finish_non_exhaustive()
    }
}

/// Where the engine tells of trouble it rides out, such as a store it
/// cannot reach: the CLI prints each notice on stderr. By default they go
/// nowhere.
#[derive(Clone, Default)]
pub struct Notices(Option<Arc<Say>>);

type Say = dyn Fn(&str) + Send + Sync;

impl Notices {
    pub fn new(say: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Notices(Some(Arc::new(say)))
    }

    pub(crate) fn say(&self, text: &str) {
        if let Some(say) = &self.0 {
            say(text);
        }
    }
}

impl fmt::Debug for Notices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Notices(..)" } else { "Notices(none)" })
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Attempts run at once by this process.
    pub workers: usize,
    /// The agent for tasks and plans that name none.
    pub default_agent: Option<String>,
    pub agents: BTreeMap<String, AgentSetup>,
    /// What tokens cost by model, for agents that report no cost.
    pub prices: BTreeMap<String, Price>,
    /// Spend of every run on the store after which no new work is claimed.
    pub max_cost_usd: Option<f64>,
    /// Spend on one plan's tasks after which they are claimed no more.
    pub max_plan_cost_usd: Option<f64>,
    /// `colony/{plan}` unless configured.
    pub integration_branch: String,
    pub lease: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Wall clock per agent run, unless the task or its plan says.
    pub timeout: Duration,
    pub silence_timeout: Option<Duration>,
    /// SIGTERM to SIGKILL.
    pub grace: Duration,
    /// After a stop is asked for, how long running attempts may finish.
    pub shutdown_grace: Duration,
    /// The project's gates, run through `sh -c` in the worktree: they are
    /// the user's own configuration, never task input.
    pub gates: Vec<String>,
    pub gate_timeout: Duration,
    pub max_fix_rounds: u32,
    pub max_resolver_rounds: u32,
    /// Merges that wait at once are gated together on their combined
    /// result (see `train.rs`); off: one at a time. Only with gates, on
    /// one machine.
    pub merge_train: bool,
    /// The agents that review each attempt after its gates pass, unless
    /// the task or its plan names its own (or none).
    pub reviewers: Vec<String>,
    pub review_policy: colony_core::review::Policy,
    /// Review rounds an attempt gets; changes still asked for after the
    /// last one fail it.
    pub max_review_rounds: u32,
    /// A person approves every merge, unless the task or its plan says.
    pub approval: bool,
    /// Author of colony's commits; `None`: the user's git identity.
    pub author: Option<Identity>,
    /// How often an idle worker looks for work.
    pub idle_poll: Duration,
    /// How long an agent may go on after its final event before its
    /// process group is stopped (Claude Code may linger).
    pub linger: Duration,
    /// Waits on a rate-limited or overloaded agent that gave no reset
    /// time: base × 2^(strikes−1), capped.
    pub rate_limit_base: Duration,
    pub rate_limit_cap: Duration,
    /// Rate-limit waits one agent round may take before it fails.
    pub max_rate_limit_waits: u32,
    /// The git remote shared by every host of a run across machines: the
    /// integration branch lives there and moves by lease-checked push;
    /// each attempt's branch is pushed there too. `None`: one machine, the
    /// integration branch moves in this repository alone. Decided once,
    /// before the run starts.
    pub remote: Option<String>,
    /// An empty store is waited on, not taken for the end of the run: a
    /// `colony worker` may join before the plan is added.
    pub wait_for_plans: bool,
    pub notices: Notices,
}

impl Settings {
    /// Defaults for everything but the agents.
    pub fn new(agents: BTreeMap<String, AgentSetup>, default_agent: Option<String>) -> Self {
        Settings {
            workers: 4,
            default_agent,
            agents,
            prices: BTreeMap::new(),
            max_cost_usd: None,
            max_plan_cost_usd: None,
            integration_branch: "colony/{plan}".into(),
            lease: Duration::from_secs(30),
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(300),
            timeout: Duration::from_secs(30 * 60),
            silence_timeout: Some(Duration::from_secs(10 * 60)),
            grace: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(60),
            gates: Vec::new(),
            gate_timeout: Duration::from_secs(30 * 60),
            max_fix_rounds: 3,
            max_resolver_rounds: 2,
            merge_train: true,
            reviewers: Vec::new(),
            review_policy: colony_core::review::Policy::All,
            max_review_rounds: 3,
            approval: false,
            author: None,
            idle_poll: Duration::from_millis(200),
            linger: Duration::from_secs(5),
            rate_limit_base: Duration::from_secs(30),
            rate_limit_cap: Duration::from_secs(15 * 60),
            max_rate_limit_waits: 20,
            remote: None,
            wait_for_plans: false,
            notices: Notices::default(),
        }
    }

    /// The wait before the next attempt after `tries` failed ones:
    /// base × 2^(tries−1), capped.
    pub fn backoff(&self, tries: u32) -> Duration {
        doubling(self.backoff_base, self.backoff_cap, tries)
    }

    /// The wait on a rate-limited agent after `strikes` limits in a row.
    pub fn rate_limit_wait(&self, strikes: u32) -> Duration {
        doubling(self.rate_limit_base, self.rate_limit_cap, strikes)
    }
}

/// base × 2^(n−1), at most `cap`.
fn doubling(base: Duration, cap: Duration, n: u32) -> Duration {
    let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = Settings::new(BTreeMap::new(), None);
        let secs: Vec<u64> = (1..=9).map(|t| s.backoff(t).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(s.backoff(200), s.backoff_cap);
    }
}
