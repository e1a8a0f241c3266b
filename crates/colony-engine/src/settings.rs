//! What the engine is told: `colony.toml` as the caller read it, and the
//! harnesses it built, so the engine never reads configuration files.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use colony_agents::{AgentError, CommandHarness, Harness};
use colony_core::config::Config;

/// A configured agent the engine can start.
#[derive(Clone)]
pub struct AgentSetup {
    pub harness: Arc<dyn Harness>,
    /// The program and arguments that print its version (`claude
    /// --version`), for an agent CLI.
    pub version_command: Option<Vec<std::ffi::OsString>>,
}

impl AgentSetup {
    pub fn new(harness: impl Harness + 'static) -> Self {
        AgentSetup { harness: Arc::new(harness), version_command: None }
    }

    /// A `command` agent: a program and its arguments (never a shell
    /// string) with extra environment; a relative program is taken from
    /// `base`.
    pub fn command(argv: Vec<String>, env: Vec<(String, String)>, base: &Path) -> Result<Self, AgentError> {
        Ok(Self::new(CommandHarness::new(argv, env, base)?))
    }
}

impl fmt::Debug for AgentSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentSetup").field("version_command", &self.version_command).finish_non_exhaustive()
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

/// What the engine is told: `colony.toml` as read, and what is not
/// configuration (the harnesses, `-j`, the remote, where notices go, the
/// engine's own pace).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `colony.toml` as read, `--agent` written into `[run] agent`: every
    /// task's settings are resolved from it (`colony_core::resolve`).
    pub config: Config,
    /// A harness for each agent a task may name, by name.
    pub agents: BTreeMap<String, AgentSetup>,
    /// Attempts run at once by this process: `-j`, else `[run] workers`.
    pub workers: usize,
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
    /// A gate that fails on the integration branch too does not stop the
    /// run, and is not held against the work (`baseline.rs`).
    pub allow_failing_gates: bool,
    pub notices: Notices,
    /// Where agents and gates may write (`[sandbox]`, with the kernel's
    /// Landlock as the caller found it); `None`: anywhere.
    pub sandbox: Option<colony_agents::sandbox::Sandbox>,
    /// The templates every prompt is made from (`prompts/`).
    pub prompts: std::sync::Arc<crate::prompts::Prompts>,
    /// How an attempt's agent starts colony's MCP server to talk back
    /// (`crate::talk`); `None`: agents are given none.
    pub talk: Option<crate::talk::TalkCommand>,
}

impl Settings {
    /// `config`'s run with `agents`, on one machine; the engine's own pace
    /// at its defaults.
    pub fn new(config: Config, agents: BTreeMap<String, AgentSetup>) -> Self {
        Settings {
            workers: config.run.workers,
            config,
            agents,
            idle_poll: Duration::from_millis(200),
            linger: Duration::from_secs(5),
            rate_limit_base: Duration::from_secs(30),
            rate_limit_cap: Duration::from_secs(15 * 60),
            max_rate_limit_waits: 20,
            remote: None,
            wait_for_plans: false,
            allow_failing_gates: false,
            notices: Notices::default(),
            sandbox: None,
            prompts: std::sync::Arc::default(),
            talk: None,
        }
    }

    /// The wait before the next attempt after `tries` failed ones:
    /// base × 2^(tries−1), capped.
    pub fn backoff(&self, tries: u32) -> Duration {
        doubling(self.config.run.backoff_base, self.config.run.backoff_cap, tries)
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
        let s = Settings::new(Config::default(), BTreeMap::new());
        let secs: Vec<u64> = (1..=9).map(|t| s.backoff(t).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(s.backoff(200), s.config.run.backoff_cap);
    }
}
