//! What the engine is told: resolved from `colony.toml` and the command
//! line by the caller, so the engine never reads configuration files.

use std::collections::BTreeMap;
use std::time::Duration;

use colony_git::Identity;

/// A configured agent the engine can start: a program and its arguments
/// (never a shell string) with extra environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCommand {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Attempts run at once by this process.
    pub workers: usize,
    /// The agent for tasks and plans that name none.
    pub default_agent: Option<String>,
    pub agents: BTreeMap<String, AgentCommand>,
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
    /// Author of colony's commits; `None`: the user's git identity.
    pub author: Option<Identity>,
    /// How often an idle worker looks for work.
    pub idle_poll: Duration,
}

impl Settings {
    /// Defaults for everything but the agents.
    pub fn new(agents: BTreeMap<String, AgentCommand>, default_agent: Option<String>) -> Self {
        Settings {
            workers: 4,
            default_agent,
            agents,
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
            author: None,
            idle_poll: Duration::from_millis(200),
        }
    }

    /// The wait before the next attempt after `tries` failed ones:
    /// base × 2^(tries−1), capped.
    pub fn backoff(&self, tries: u32) -> Duration {
        let factor = 1u32.checked_shl(tries.saturating_sub(1)).unwrap_or(u32::MAX);
        self.backoff_base.saturating_mul(factor).min(self.backoff_cap)
    }
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
