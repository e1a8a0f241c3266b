//! `colony.toml`: the project's settings, read strictly.
//!
//! Every key is optional and has a default, so a repository without the
//! file runs as it is. What is written is held to the shape in DESIGN.md
//! ("Project config"): an unknown key is refused with a "did you mean"
//! suggestion rather than ignored, since a misspelt `max_fix_rounds` that
//! quietly kept its default would only show when a run misbehaves.
//!
//! This file holds the settings' types and their defaults; `read` walks
//! the file into them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::spec::DEFAULT_MAX_ATTEMPTS;

mod read;
#[cfg(test)]
mod tests;

/// The config file's name, at the repository root.
pub const FILE_NAME: &str = "colony.toml";

/// The agent name that means colony's own fake agent, configured or not.
pub const FAKE_AGENT: &str = "fake";

/// Everything `colony.toml` says, with defaults for what it leaves out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub run: RunConfig,
    /// The `[agents.NAME]` tables, by name.
    pub agents: BTreeMap<String, AgentConfig>,
    pub gates: GatesConfig,
    pub merge: MergeConfig,
    pub review: ReviewConfig,
}

/// `[run]`: how a run is carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    /// Agents working at once; `colony run -j` overrides it.
    pub workers: usize,
    /// The agent of tasks whose task and plan name none: `[run] agent`,
    /// else the only `[agents.*]` table, else none.
    pub agent: Option<String>,
    /// The branch a plan's work is merged into; `{plan}` is the plan's name.
    pub integration_branch: String,
    /// Attempts a task gets unless the task or its plan says otherwise.
    pub max_attempts: u32,
    /// Retry backoff is `backoff_base * 2^(tries-1)`, at most `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// How long a claim holds without a heartbeat; heartbeats come every
    /// third of it.
    pub lease: Duration,
    /// Wall clock of one agent run, unless the task or its plan sets `timeout`.
    pub timeout: Duration,
    /// An agent that prints nothing for this long is stopped.
    pub silence_timeout: Duration,
    /// From SIGTERM to SIGKILL when a process group is stopped.
    pub grace: Duration,
    /// On Ctrl-C, how long running attempts may still finish.
    pub shutdown_grace: Duration,
    /// (name, email) of colony's commits; `None` means the user's git identity.
    pub author: Option<(String, String)>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            workers: 4,
            agent: None,
            integration_branch: "colony/{plan}".into(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(5 * 60),
            lease: Duration::from_secs(30),
            timeout: Duration::from_secs(30 * 60),
            silence_timeout: Duration::from_secs(10 * 60),
            grace: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(60),
            author: None,
        }
    }
}

/// One `[agents.NAME]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    pub kind: AgentKind,
    /// Extra environment variables for the agent.
    pub env: BTreeMap<String, String>,
}

/// The adapter an agent runs through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentKind {
    /// Any program: the prompt on stdin, the task in the environment.
    Command {
        /// The program and its arguments; never a shell line.
        command: Vec<String>,
    },
    /// colony's deterministic fake agent (`colony-fake-agent`), for tests
    /// and the demo.
    Fake,
}

/// `[gates]`: the project's own checks of each task's work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatesConfig {
    /// Run in the worktree through `sh -c`: they are the user's own
    /// config, never task input.
    pub commands: Vec<String>,
    /// Rounds of gate failures sent back to the agent before the attempt fails.
    pub max_fix_rounds: u32,
    /// Wall clock of one gate command.
    pub timeout: Duration,
}

impl Default for GatesConfig {
    fn default() -> Self {
        GatesConfig {
            commands: Vec::new(),
            max_fix_rounds: 3,
            timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// `[merge]`: the merge queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeConfig {
    /// Rounds an agent gets to resolve a conflict with the integration tip.
    pub max_resolver_rounds: u32,
}

impl Default for MergeConfig {
    fn default() -> Self {
        MergeConfig { max_resolver_rounds: 2 }
    }
}

/// `[review]`: read and kept, not yet acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewConfig {
    pub agent: Option<String>,
    pub max_rounds: u32,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig { agent: None, max_rounds: 3 }
    }
}

/// What `fake` means when no `[agents.fake]` table says otherwise.
static BUILT_IN_FAKE: AgentConfig = AgentConfig { kind: AgentKind::Fake, env: BTreeMap::new() };

impl Config {
    /// The agent called `name`: a configured one, else for `fake` the
    /// built-in fake agent, so tests and the demo need no config.
    pub fn agent(&self, name: &str) -> Option<&AgentConfig> {
        self.agents.get(name).or((name == FAKE_AGENT).then_some(&BUILT_IN_FAKE))
    }
}

/// One problem with `colony.toml`. Displays as
/// `colony.toml:7: [gates] max_fix_rounds: expected a whole number`,
/// leaving out the line and the key when they are not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as it was named.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The key it is about, as `[section] key`, or `[section]` alone.
    pub key: Option<String>,
    /// What is wrong: lowercase, one line.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in `colony.toml`, in line order; never empty.
/// Displays one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Reads `<repo_root>/colony.toml`; a missing file means all defaults.
/// Errors name the file by that joined path.
pub fn load(repo_root: &Path) -> Result<Config, ConfigErrors> {
    let path = repo_root.join(FILE_NAME);
    let file = path.display().to_string();
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&file, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(ConfigErrors(vec![ConfigError {
            file,
            line: None,
            key: None,
            message: format!("cannot read the config file: {e}"),
        }])),
    }
}

/// Reads a config file's text. `file` is the name errors show.
pub fn parse(file: &str, text: &str) -> Result<Config, ConfigErrors> {
    // As for plans: editors on Windows may add a byte order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    read::read(file, text).map_err(|mut errors| {
        errors.sort_by_key(|e| e.line);
        ConfigErrors(errors)
    })
}
