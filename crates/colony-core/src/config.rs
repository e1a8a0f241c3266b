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

use crate::input::{ReadError, read_limited};
use crate::kind::{self, CliKind};
use crate::spec::DEFAULT_MAX_ATTEMPTS;

mod read;
#[cfg(test)]
mod tests;

/// The config file's name, at the repository root.
pub const FILE_NAME: &str = "colony.toml";

/// Config files larger than this are refused unread: a generous bound for
/// a file of settings, and far below what would strain memory.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The most agents one colony process runs at once, in `[run] workers` as
/// with `colony run -j`. A bound, not advice: workers are started all at
/// once, each with its own store polling.
pub const MAX_WORKERS: u16 = u16::MAX;

/// Everything `colony.toml` says, with defaults for what it leaves out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub run: RunConfig,
    /// The `[agents.NAME]` tables, by name.
    pub agents: BTreeMap<String, AgentConfig>,
    pub gates: GatesConfig,
    pub merge: MergeConfig,
    pub review: ReviewConfig,
    pub worktree: WorktreeConfig,
    /// `[prices.MODEL]`: what tokens cost, for agents that report none.
    pub prices: BTreeMap<String, Price>,
    pub plan: PlanConfig,
    pub land: LandConfig,
    pub notify: NotifyConfig,
    pub sandbox: SandboxConfig,
    /// The `[roles.NAME]` tables, by name.
    pub roles: BTreeMap<String, RoleConfig>,
}

/// `[roles.NAME]`: a kind of task (a tester, docs, a migration…) with its
/// own prompt template, agent, model, gates and review; a task's `role:`
/// (or its plan's) picks one. What a role leaves out is as for any task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleConfig {
    /// What the role is for, as the planner is told it.
    pub description: Option<String>,
    /// The builder's template for its tasks: a file relative to the
    /// repository's root, checked as `.colony/prompts/builder.md` is.
    pub template: Option<String>,
    pub agent: Option<String>,
    pub model: Option<String>,
    /// Its tasks' own gates, run after the project's `[gates]` on their work.
    pub gates: Vec<String>,
    /// Its tasks' reviewers: empty, none; `None`, as `[review]` says.
    pub reviewers: Option<Vec<String>>,
    /// A person approves its tasks' work; `None`, as `[review]` says.
    pub approval: Option<bool>,
}

/// US dollars per million tokens of one model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Input tokens read from the provider's cache; `input` when not given.
    pub cached_input: Option<f64>,
}

impl Price {
    /// The cost of a run's tokens: `input` the uncached input tokens,
    /// `cached` those read from the cache, as [`Usage`](crate::Usage) counts them.
    pub fn cost(&self, input: u64, output: u64, cached: u64) -> f64 {
        let per_token = |per_million: f64| per_million / 1_000_000.0;
        input as f64 * per_token(self.input)
            + cached as f64 * per_token(self.cached_input.unwrap_or(self.input))
            + output as f64 * per_token(self.output)
    }
}

/// `[run]`: how a run is carried out.
#[derive(Debug, Clone, PartialEq)]
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
    /// How long an agent's question (`ask_human`) waits for a person's
    /// answer before its task fails.
    pub answer_timeout: Duration,
    /// From SIGTERM to SIGKILL when a process group is stopped.
    pub grace: Duration,
    /// On Ctrl-C, how long running attempts may still finish.
    pub shutdown_grace: Duration,
    /// (name, email) of colony's commits; `None` means the user's git identity.
    pub author: Option<(String, String)>,
    /// Spend in US dollars, by every run on this store, after which no new
    /// work is claimed.
    pub max_cost_usd: Option<f64>,
    /// Spend in US dollars on one plan's tasks after which its tasks are
    /// claimed no more.
    pub max_plan_cost_usd: Option<f64>,
    /// The git remote a run across machines shares.
    pub remote: Remote,
}

/// `[run] remote`: the git remote the hosts of a run on a shared
/// (PostgreSQL) store push to and merge on. A SQLite store is one
/// machine's, and uses none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Remote {
    /// Not written: `origin`, if the repository has one.
    #[default]
    Origin,
    /// Written: this remote, which must exist.
    Named(String),
    /// `remote = false`: none; each host merges in its own repository.
    Off,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            workers: 4,
            agent: None,
            integration_branch: crate::branch::DEFAULT_INTEGRATION.into(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(5 * 60),
            lease: Duration::from_secs(30),
            timeout: Duration::from_secs(30 * 60),
            silence_timeout: Duration::from_secs(10 * 60),
            answer_timeout: Duration::from_secs(12 * 60 * 60),
            grace: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(60),
            author: None,
            max_cost_usd: None,
            max_plan_cost_usd: None,
            remote: Remote::Origin,
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
    /// An agent CLI colony drives headless through its adapter.
    Cli(CliAgent),
}

/// An `[agents.NAME]` table for an agent CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliAgent {
    /// Which CLI.
    pub cli: CliKind,
    /// The model; a task's `model:` overrides it.
    pub model: Option<String>,
    /// Reasoning effort, where the CLI has such a setting.
    pub effort: Option<String>,
    /// The CLI's own permission mode; `None` is its non-interactive
    /// full-permission mode, since each agent is confined to its worktree.
    pub permission: Option<String>,
    /// Extra arguments, after colony's own.
    pub args: Vec<String>,
    /// The program to run instead of the CLI's usual name on `PATH`.
    pub binary: Option<String>,
}

impl CliAgent {
    /// The CLI with its own defaults.
    pub fn new(cli: CliKind) -> Self {
        CliAgent { cli, model: None, effort: None, permission: None, args: Vec::new(), binary: None }
    }
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
        GatesConfig { commands: Vec::new(), max_fix_rounds: 3, timeout: Duration::from_secs(30 * 60) }
    }
}

/// `[merge]`: the merge queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeConfig {
    /// Rounds an agent gets to resolve a conflict with the integration tip.
    pub max_resolver_rounds: u32,
    /// Merges waiting at once are gated together, once, on their combined
    /// result (a merge train); off: each is gated on its own.
    pub train: bool,
    /// An attempt's gates run on its merge before its turn: on the
    /// integration tip and every merge queued ahead of it, so that it
    /// lands without gating again (`colony-engine`'s `queue/line.rs`).
    pub speculate: bool,
}

impl Default for MergeConfig {
    fn default() -> Self {
        MergeConfig { max_resolver_rounds: 2, train: true, speculate: true }
    }
}

/// `[review]`: who reviews each attempt after its gates pass, and whether
/// a person approves before the merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewConfig {
    /// The reviewers (`agent = "codex"` or `agents = ["codex", "gemini"]`);
    /// none: no review unless a plan asks for one.
    pub agents: Vec<String>,
    /// How several reviewers' verdicts make one.
    pub policy: crate::review::Policy,
    /// Rounds of changes a review may ask for before the attempt fails.
    pub max_rounds: u32,
    /// Every task waits for a person's `colony approve` before its merge,
    /// unless its plan says otherwise.
    pub approval: bool,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig { agents: Vec::new(), policy: crate::review::Policy::All, max_rounds: 3, approval: false }
    }
}

/// `[land]`: where `colony land --pr` opens pull requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LandConfig {
    /// The forge the remote is on; `None`: told by the remote's URL.
    pub forge: Option<Forge>,
}

/// `[notify]`: who is told when a task needs a person, work stops, or a
/// run ends (`docs/notifications.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// A program (and its arguments) run once per notice, the notice's
    /// JSON on its standard input. Run as given: never through a shell.
    pub command: Option<Vec<String>>,
    /// A URL each notice is POSTed to as JSON.
    pub webhook: Option<String>,
    /// The environment variable holding the secret the webhook's
    /// notices are signed with.
    pub secret_env: String,
    /// The desktop's own notifier (`notify-send`), where there is one.
    pub desktop: bool,
    /// The notices wanted; all of them by default.
    pub on: Vec<NoticeKind>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            command: None,
            webhook: None,
            secret_env: DEFAULT_SECRET_ENV.to_owned(),
            desktop: false,
            on: NoticeKind::ALL.to_vec(),
        }
    }
}

impl NotifyConfig {
    /// Whether any way of telling someone is set.
    pub fn is_on(&self) -> bool {
        (self.command.is_some() || self.webhook.is_some() || self.desktop) && !self.on.is_empty()
    }
}

/// Where the webhook's secret is looked for unless `[notify] secret_env`
/// says otherwise.
pub const DEFAULT_SECRET_ENV: &str = "COLONY_WEBHOOK_SECRET";

/// What a notice is about: the names `[notify] on` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NoticeKind {
    /// A task's checks passed and a person is to approve its merge.
    AwaitingApproval,
    /// A task's agent asked a person a question.
    AwaitingInput,
    /// A task failed for good.
    Failed,
    /// A task cannot run because a task it depends on failed.
    Blocked,
    /// An agent cannot take work: rate limited, or waiting for a person.
    AgentWaiting,
    /// The run stopped taking new work: the budget is spent, a setup or a
    /// baseline keeps failing.
    Halted,
    /// A colony process finished its run.
    RunFinished,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 7] = [
        NoticeKind::AwaitingApproval,
        NoticeKind::AwaitingInput,
        NoticeKind::Failed,
        NoticeKind::Blocked,
        NoticeKind::AgentWaiting,
        NoticeKind::Halted,
        NoticeKind::RunFinished,
    ];

    /// Its name in `[notify] on` and in a notice's JSON.
    pub fn name(self) -> &'static str {
        match self {
            NoticeKind::AwaitingApproval => "awaiting_approval",
            NoticeKind::AwaitingInput => "awaiting_input",
            NoticeKind::Failed => "failed",
            NoticeKind::Blocked => "blocked",
            NoticeKind::AgentWaiting => "agent_waiting",
            NoticeKind::Halted => "halted",
            NoticeKind::RunFinished => "run_finished",
        }
    }
}

/// A forge that hosts pull requests, with its own CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    /// GitHub, through `gh`.
    GitHub,
    /// GitLab, through `glab` (merge requests).
    GitLab,
}

impl Forge {
    /// The forge a remote URL names by its host, if it names one:
    /// `github.com` or a host with `github` in its name, likewise `gitlab`.
    pub fn of_url(url: &str) -> Option<Forge> {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        // `git@host:path` and `user@host/path` alike: the host is what
        // comes before the first `/` or `:` after any user.
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let host = host.split(['/', ':']).next().unwrap_or_default().to_ascii_lowercase();
        if host.contains("github") {
            Some(Forge::GitHub)
        } else if host.contains("gitlab") {
            Some(Forge::GitLab)
        } else {
            None
        }
    }
}

/// `[plan]`: how `colony plan` makes a plan from a goal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanConfig {
    /// The planner's agent; `None`: the run's agent (`[run] agent`).
    pub agent: Option<String>,
    /// Answers a planner may give before colony gives up on it: each
    /// refused plan goes back to it with the refusal.
    pub max_rounds: u32,
    /// What becomes of the follow-up tasks an agent proposes.
    pub followups: Followups,
    /// Follow-ups one task may propose; those past it are dropped.
    pub max_followups: u32,
    /// How long a chain of follow-ups may grow: a plan's own task proposes
    /// at depth 1, its follow-up at depth 2, and so on.
    pub followup_depth: u32,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig { agent: None, max_rounds: 3, followups: Followups::Approve, max_followups: 5, followup_depth: 2 }
    }
}

/// `[plan] followups`: what becomes of the tasks an agent proposes in
/// `.colony/followups.yaml` once its work merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Followups {
    /// Added to the plan and run.
    Auto,
    /// Added as `proposed`, to run once a person approves them.
    Approve,
    /// Dropped, with a note.
    Off,
}

/// `[worktree]`: what a fresh worktree needs before its agent starts,
/// which git does not bring: the files it ignores, installed dependencies,
/// the project's own environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorktreeConfig {
    /// Globs, relative to the repository root, of files copied from the
    /// main checkout into each new worktree (usually git-ignored, like
    /// `.env`).
    pub copy: Vec<String>,
    /// Globs of what each new worktree links to in the main checkout,
    /// for what is safe to share (a cache).
    pub link: Vec<String>,
    /// Run in the worktree through `sh -c` before the agent's first round,
    /// like gates: the user's own config, never task input.
    pub setup: Vec<String>,
    /// Extra environment of the setup commands, the agents and the gates.
    pub env: BTreeMap<String, String>,
    /// Ports each live attempt holds for itself alone (`COLONY_PORT`, the
    /// first, and `COLONY_PORTS`, `first-last`); 0: none.
    pub ports: u16,
    /// Where those blocks are taken from.
    pub port_range: crate::ports::Ports,
    /// What setup made in one worktree may be kept and copied into the
    /// next instead of running setup again, while the key files are the
    /// same (`crate::reuse`).
    pub reuse_setup: bool,
    /// Globs of the files whose content keys what setup made; `None`: the
    /// usual lockfiles ([`crate::reuse::DEFAULT_KEY_FILES`]).
    pub reuse_key: Option<Vec<String>>,
}

impl WorktreeConfig {
    /// The globs of the files that key a kept setup: `reuse_key`, else
    /// the usual lockfiles.
    pub fn reuse_key_globs(&self) -> Vec<String> {
        match &self.reuse_key {
            Some(globs) => globs.clone(),
            None => crate::reuse::DEFAULT_KEY_FILES.iter().map(|g| (*g).to_owned()).collect(),
        }
    }
}

/// One `/`-separated part of a `[worktree]` glob.
#[derive(Debug, Clone)]
pub enum GlobPart {
    /// A name as written.
    Name(String),
    /// `**`: any depth of directories, none included.
    AnyDirs,
    /// A name with wildcards (`*`, `?`, `[ab]`, `{a,b}`), matched within one
    /// part of a path.
    Wild(globset::GlobMatcher),
}

/// The top-level directories no `[worktree]` glob reaches into: git's own,
/// and colony's (which holds the worktrees themselves).
pub const UNSHARED_DIRS: [&str; 2] = [".git", ".colony"];

/// A `[worktree]` glob's parts, or what is wrong with it. Globs are
/// relative to the repository root and stay inside it, so a worktree
/// never receives anything from outside the repository.
pub fn glob_parts(glob: &str) -> Result<Vec<GlobPart>, String> {
    if glob.starts_with('/') {
        return Err("must be relative to the repository root, not absolute".into());
    }
    let mut parts = Vec::new();
    for part in glob.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let next = match part {
            ".." => return Err("must stay inside the repository (no `..`)".into()),
            "**" => GlobPart::AnyDirs,
            _ if part.contains(['*', '?', '[', '{', '\\']) => {
                let glob = globset::GlobBuilder::new(part).literal_separator(true).build();
                GlobPart::Wild(glob.map_err(|e| format!("not a glob: {}", e.kind()))?.compile_matcher())
            }
            _ if parts.is_empty() && UNSHARED_DIRS.contains(&part) => {
                return Err(format!("must not reach into `{part}`"));
            }
            _ => GlobPart::Name(part.to_owned()),
        };
        parts.push(next);
    }
    match parts.last() {
        None => Err("names no path".into()),
        Some(GlobPart::AnyDirs) => Err("must end in a name or a wildcard, not `**`".into()),
        Some(_) => Ok(parts),
    }
}

/// `[sandbox]`: how far each agent's process tree, and each gate, is
/// confined to its worktree (Linux Landlock; docs/architecture.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxConfig {
    pub mode: SandboxMode,
    /// More places agents and gates may write, as written: absolute, or
    /// starting with `~/` for the user's home.
    pub writable: Vec<String>,
    /// Whether `command` agents and gates may use TCP.
    pub network: Network,
}

/// `[sandbox] mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SandboxMode {
    /// Confined where the kernel can; unconfined, with a warning, where not.
    #[default]
    Worktree,
    /// Never confined.
    Off,
    /// Confined, or colony refuses to run.
    Required,
}

/// `[sandbox] network`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Network {
    #[default]
    Allow,
    /// No TCP bind or connect for `command` agents and gates: agent CLIs
    /// keep theirs, since they talk to their model's API.
    Deny,
}

impl Config {
    /// The agent called `name`: a configured one, else the built-in agent
    /// of that name — the fake agent for `fake`, an agent CLI with its
    /// defaults for `claude`, `codex`, … — so that none needs a table.
    pub fn agent(&self, name: &str) -> Option<AgentConfig> {
        if let Some(agent) = self.agents.get(name) {
            return Some(agent.clone());
        }
        let kind = match CliKind::from_name(name) {
            _ if name == kind::FAKE => AgentKind::Fake,
            Some(cli) => AgentKind::Cli(CliAgent::new(cli)),
            None => return None,
        };
        Some(AgentConfig { kind, env: BTreeMap::new() })
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
        crate::plan::write_located(f, &self.file, self.line, self.key.as_deref(), &self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in `colony.toml`, in line order; never empty.
/// Displays one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::plan::write_lines(f, &self.0)
    }
}

impl std::error::Error for ConfigErrors {}

/// Reads `<repo_root>/colony.toml`; a missing file means all defaults.
/// Errors name the file by that joined path.
pub fn load(repo_root: &Path) -> Result<Config, ConfigErrors> {
    let path = repo_root.join(FILE_NAME);
    let file = path.display().to_string();
    let fail = |message: String| ConfigErrors(vec![ConfigError { file: file.clone(), line: None, key: None, message }]);
    let bytes = match read_limited(&path, MAX_CONFIG_BYTES) {
        Ok(bytes) => bytes,
        Err(e) if e.is_missing() => return Ok(Config::default()),
        Err(ReadError::Io(e)) => return Err(fail(format!("cannot read the config file: {e}"))),
        Err(refused) => return Err(fail(format!("the config file is {refused}"))),
    };
    let text = String::from_utf8(bytes).map_err(|_| fail("the config file is not valid UTF-8".into()))?;
    parse(&file, &text)
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
