//! Walking `colony.toml` into a [`Config`].
//!
//! The file is walked by hand over toml's spanned document rather than read
//! with serde, so that one read reports every problem, each with its line
//! and the key it is about, in this file's own words:
//! `colony.toml:7: [gates] max_fix_rounds: expected a whole number, found a string`.
//! serde would stop at the first problem and speak of Rust types (`u32`).

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::{
    AgentConfig, AgentKind, CliAgent, Config, ConfigError, Followups, Forge, GatesConfig, LandConfig, MAX_WORKERS,
    MergeConfig, Network, NoticeKind, NotifyConfig, PlanConfig, Price, Remote, ReviewConfig, RoleConfig, RunConfig,
    SandboxConfig, SandboxMode, WorktreeConfig, glob_parts,
};
use crate::branch::{PLAN_PLACEHOLDER, check_branch};
use crate::id::check_id;
use crate::kind::{self, CliKind};
use crate::plan::closest;
use crate::spec::opt_duration;

/// Reads a config file's text (without a byte order mark); the errors come
/// in the order found.
pub(super) fn read(file: &str, text: &str) -> Result<Config, Vec<ConfigError>> {
    let mut reader = Reader { file, text, errors: Vec::new() };
    let config = match DeTable::parse(text) {
        Ok(doc) => reader.document(doc.get_ref()),
        Err(e) => {
            let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
            reader.error(e.span().unwrap_or(0..0), None, message);
            Config::default()
        }
    };
    if reader.errors.is_empty() { Ok(config) } else { Err(reader.errors) }
}

const SECTIONS: &[&str] =
    &["run", "agents", "gates", "merge", "review", "worktree", "prices", "plan", "roles", "land", "notify", "sandbox"];
const NOTIFY_KEYS: &[&str] = &["command", "webhook", "secret_env", "desktop", "on"];
const ROLE_KEYS: &[&str] = &["description", "template", "agent", "model", "gates", "review", "approval"];
const RUN_KEYS: &[&str] = &[
    "workers",
    "agent",
    "integration_branch",
    "max_attempts",
    "backoff_base",
    "backoff_cap",
    "lease",
    "timeout",
    "silence_timeout",
    "answer_timeout",
    "grace",
    "shutdown_grace",
    "author",
    "max_cost_usd",
    "max_plan_cost_usd",
    "remote",
];
const AGENT_KEYS: &[&str] = &["kind", "command", "env", "model", "effort", "permission", "args", "binary"];
/// The keys only an agent CLI's table takes.
const CLI_KEYS: &[&str] = &["model", "effort", "permission", "args", "binary"];
const PRICE_KEYS: &[&str] = &["input", "output", "cached_input"];
const GATES_KEYS: &[&str] = &["commands", "max_fix_rounds", "timeout"];
const MERGE_KEYS: &[&str] = &["max_resolver_rounds", "train", "speculate"];
const REVIEW_KEYS: &[&str] = &["agent", "agents", "policy", "max_rounds", "approval"];
const WORKTREE_KEYS: &[&str] = &["copy", "link", "setup", "env", "ports", "port_range", "reuse_setup", "reuse_key"];
/// The most ports one attempt may hold.
const MAX_PORTS: i64 = 1000;
/// What `[worktree] env` may not set: colony's own variables.
const RESERVED_ENV: &str = "COLONY_";
const SANDBOX_KEYS: &[&str] = &["mode", "writable", "network"];
const PLAN_KEYS: &[&str] = &["agent", "max_rounds", "followups", "max_followups", "followup_depth"];

const DURATION: &str = "expected a duration like `30m` or `1h 30m`, or a number of seconds";

type Value<'i> = Spanned<DeValue<'i>>;

/// What is wrong with naming `name`, an agent there is not: the nearest
/// configured or built-in name, else how to make one.
fn unknown_agent(config: &Config, name: &str) -> String {
    let built_in: Vec<&str> = kind::built_in().collect();
    let hint = match closest(name, config.agents.keys().map(String::as_str).chain(built_in)) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!("add an [agents.{name}] table"),
    };
    format!("no agent `{name}` is configured; {hint}")
}

/// The agent CLIs' names, for messages: `claude, codex, …`.
fn cli_names() -> String {
    CliKind::ALL.map(CliKind::name).join(", ")
}

/// Walks the document, building the config and collecting problems.
struct Reader<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<ConfigError>,
}

impl Reader<'_> {
    fn error(&mut self, span: Range<usize>, key: Option<String>, message: String) {
        let start = span.start.min(self.text.len());
        let line = self.text.as_bytes()[..start].iter().filter(|&&b| b == b'\n').count() + 1;
        self.errors.push(ConfigError { file: self.file.to_owned(), line: Some(line), key, message });
    }

    /// Reports `value` as not what `key` takes; returns `None` to pass on.
    fn wrong<T>(&mut self, key: &str, value: &Value, expected: &str) -> Option<T> {
        let found = found(value.get_ref());
        self.error(value.span(), Some(key.to_owned()), format!("{expected}, found {found}"));
        None
    }

    fn unknown(&mut self, section: &str, key: &Spanned<DeString>, known: &[&str]) {
        let name = key.get_ref();
        let message = match closest(name, known.iter().copied()) {
            Some(near) => format!("unknown key; did you mean `{near}`?"),
            None => {
                let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
                format!("unknown key; expected one of {}", list.join(", "))
            }
        };
        self.error(key.span(), Some(format!("{section} {name}")), message);
    }

    fn document(&mut self, doc: &DeTable) -> Config {
        let mut config = Config::default();
        let mut default_agent = None;
        let mut reviewers_at = None;
        let mut planner_at = None;
        let mut role_agents_at = Vec::new();
        for (key, value) in doc {
            let name = key.get_ref().as_ref();
            if !SECTIONS.contains(&name) {
                self.unknown_section(key, value);
                continue;
            }
            let Some(table) = self.table(&format!("[{name}]"), value) else {
                continue;
            };
            match name {
                "run" => default_agent = self.run(table, &mut config.run),
                "agents" => config.agents = self.agents(table),
                "gates" => self.gates(table, &mut config.gates),
                "merge" => self.merge(table, &mut config.merge),
                "review" => reviewers_at = self.review(table, &mut config.review),
                "worktree" => self.worktree(table, &mut config.worktree),
                "prices" => config.prices = self.prices(table),
                "plan" => planner_at = self.plan(table, &mut config.plan),
                "roles" => config.roles = self.roles(table, &mut role_agents_at),
                "land" => self.land(table, &mut config.land),
                "notify" => self.notify(table, &mut config.notify),
                // The last of SECTIONS.
                _ => self.sandbox(table, &mut config.sandbox),
            }
        }
        self.default_agent(&mut config, default_agent);
        if let Some(at) = reviewers_at {
            self.check_reviewers(&config, at);
        }
        if let (Some(at), Some(name)) = (planner_at, &config.plan.agent)
            && config.agent(name).is_none()
        {
            self.error(at, Some("[plan] agent".into()), unknown_agent(&config, name));
        }
        for (key, name, at) in role_agents_at {
            if config.agent(&name).is_none() {
                self.error(at, Some(key), unknown_agent(&config, &name));
            }
        }
        config
    }

    /// Reads `[roles.NAME]` tables; `agents_at` gets each agent a role
    /// names, with its key and where, for checking once the agents are known.
    fn roles(
        &mut self,
        table: &DeTable,
        agents_at: &mut Vec<(String, String, Range<usize>)>,
    ) -> BTreeMap<String, RoleConfig> {
        let mut roles = BTreeMap::new();
        for (k, v) in table {
            let name = k.get_ref().as_ref();
            let section = format!("[roles.{name}]");
            let DeValue::Table(t) = v.get_ref() else {
                self.wrong::<()>(&format!("[roles] {name}"), v, "expected a table [roles.NAME]");
                continue;
            };
            if let Err(e) = check_id(name) {
                self.error(k.span(), Some(section.clone()), format!("bad role name: {e}"));
            }
            let mut role = RoleConfig::default();
            for (k, v) in t {
                let key = format!("{section} {}", k.get_ref());
                match k.get_ref().as_ref() {
                    "description" => role.description = self.string(&key, v),
                    "template" => role.template = self.string(&key, v),
                    "agent" => {
                        role.agent = self.name(&key, v);
                        if let Some(agent) = &role.agent {
                            agents_at.push((key.clone(), agent.clone(), v.span()));
                        }
                    }
                    "model" => role.model = self.string(&key, v),
                    "gates" => set(&mut role.gates, self.gate_commands(&key, v)),
                    "review" => {
                        role.reviewers = match v.get_ref() {
                            DeValue::String(s) if s.as_ref() == "none" => Some(Vec::new()),
                            DeValue::Array(_) => self.names(&key, v),
                            _ => self.wrong(&key, v, "expected \"none\" or a list of reviewer agents"),
                        };
                        for agent in role.reviewers.iter().flatten() {
                            agents_at.push((key.clone(), agent.clone(), v.span()));
                        }
                    }
                    "approval" => {
                        let choices = [("required", true), ("auto", false)];
                        role.approval = self.choice(&key, v, &choices);
                    }
                    _ => self.unknown(&section, k, ROLE_KEYS),
                }
            }
            roles.insert(name.to_owned(), role);
        }
        roles
    }

    /// A top-level key that is no section: a near miss of one, or a key
    /// written above the section it belongs in.
    fn unknown_section(&mut self, key: &Spanned<DeString>, value: &Value) {
        let name = key.get_ref().as_ref();
        let home = [
            ("run", RUN_KEYS),
            ("gates", GATES_KEYS),
            ("merge", MERGE_KEYS),
            ("worktree", WORKTREE_KEYS),
            ("sandbox", SANDBOX_KEYS),
            ("plan", PLAN_KEYS),
        ]
        .into_iter()
        .find(|(_, keys)| keys.contains(&name));
        let (shown, message) = match (value.get_ref(), closest(name, SECTIONS.iter().copied())) {
            (DeValue::Table(_), Some(near)) => {
                (format!("[{name}]"), format!("unknown section; did you mean [{near}]?"))
            }
            (DeValue::Table(_), None) => (
                format!("[{name}]"),
                "unknown section; expected [run], [agents.NAME], [gates], [merge], [review], [worktree], [prices.MODEL], [plan], [roles.NAME] or [sandbox]"
                    .to_owned(),
            ),
            (_, _) => match home {
                Some((section, _)) => (name.to_owned(), format!("unknown key here; it belongs in [{section}]")),
                None => (
                    name.to_owned(),
                    "unknown key; settings go in [run], [agents.NAME], [gates], [merge], [review], [worktree], [prices.MODEL], [plan], [roles.NAME] or [sandbox]"
                        .to_owned(),
                ),
            },
        };
        self.error(key.span(), Some(shown), message);
    }

    fn table<'v, 'i>(&mut self, key: &str, value: &'v Value<'i>) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => self.wrong(key, value, "expected a table"),
        }
    }

    /// Reads `[run]`; returns the `agent` it names and where, for checking
    /// once the agents are known.
    fn run(&mut self, table: &DeTable, run: &mut RunConfig) -> Option<(String, Range<usize>)> {
        let mut agent = None;
        for (k, v) in table {
            let key = &format!("[run] {}", k.get_ref());
            match k.get_ref().as_ref() {
                "workers" => set(&mut run.workers, self.count_up_to(key, v, 1, MAX_WORKERS.into())),
                "agent" => agent = self.name(key, v).map(|a| (a, v.span())),
                "integration_branch" => set(&mut run.integration_branch, self.branch(key, v)),
                "max_attempts" => set(&mut run.max_attempts, self.count(key, v, 1)),
                "backoff_base" => set(&mut run.backoff_base, self.duration(key, v)),
                "backoff_cap" => set(&mut run.backoff_cap, self.duration(key, v)),
                "lease" => set(&mut run.lease, self.duration(key, v)),
                "timeout" => set(&mut run.timeout, self.duration(key, v)),
                "silence_timeout" => set(&mut run.silence_timeout, self.duration(key, v)),
                "answer_timeout" => set(&mut run.answer_timeout, self.duration(key, v)),
                "grace" => set(&mut run.grace, self.duration(key, v)),
                "shutdown_grace" => set(&mut run.shutdown_grace, self.duration(key, v)),
                "author" => run.author = self.author(key, v),
                "max_cost_usd" => run.max_cost_usd = self.dollars(key, v),
                "max_plan_cost_usd" => run.max_plan_cost_usd = self.dollars(key, v),
                "remote" => set(&mut run.remote, self.remote(key, v)),
                _ => self.unknown("[run]", k, RUN_KEYS),
            }
        }
        agent
    }

    fn agents(&mut self, table: &DeTable) -> BTreeMap<String, AgentConfig> {
        let mut agents = BTreeMap::new();
        for (k, v) in table {
            let name = k.get_ref().as_ref();
            let section = format!("[agents.{name}]");
            let DeValue::Table(t) = v.get_ref() else {
                self.wrong::<()>(&format!("[agents] {name}"), v, "expected a table [agents.NAME]");
                continue;
            };
            if let Err(e) = check_id(name) {
                self.error(k.span(), Some(section.clone()), format!("bad agent name: {e}"));
            }
            if let Some(agent) = self.agent(name, &section, t, k.span()) {
                agents.insert(name.to_owned(), agent);
            }
        }
        agents
    }

    /// One agent table; `at` is where its name is written.
    fn agent(&mut self, name: &str, section: &str, table: &DeTable, at: Range<usize>) -> Option<AgentConfig> {
        let mut kind = None;
        // `Some(None)`: written, and its problem reported.
        let mut command = None;
        let mut env = BTreeMap::new();
        // The CLI's keys, read before its kind is known.
        let mut cli = CliAgent::new(CliKind::Claude);
        // Where the first CLI-only key is written, to refuse it elsewhere.
        let mut cli_key = None;
        for (k, v) in table {
            let key = &format!("{section} {}", k.get_ref());
            let name = k.get_ref().as_ref();
            if CLI_KEYS.contains(&name) && cli_key.is_none() {
                cli_key = Some((name.to_owned(), k.span()));
            }
            match name {
                "kind" => kind = self.string(key, v).map(|s| (s, v.span())),
                "command" => command = Some((self.command(key, v), v.span())),
                "env" => env = self.env(key, v, env_name_problem),
                "model" => cli.model = self.string(key, v),
                "effort" => cli.effort = self.string(key, v),
                "permission" => cli.permission = self.string(key, v),
                "args" => set(&mut cli.args, self.strings(key, v)),
                "binary" => cli.binary = self.string(key, v),
                _ => self.unknown(section, k, AGENT_KEYS),
            }
        }
        // Without `kind`, the table's name is the adapter's.
        let (kind, kind_key, kind_at) = match kind {
            Some((kind, span)) => (kind, format!("{section} kind"), span),
            None => (name.to_owned(), section.to_owned(), at.clone()),
        };
        if let Some((key, span)) = &cli_key
            && [kind::COMMAND, kind::FAKE].contains(&kind.as_str())
        {
            let m = format!("only an agent CLI ({}) takes `{key}`; this one is `{kind}`", cli_names());
            self.error(span.clone(), Some(format!("{section} {key}")), m);
            return None;
        }
        let kind = match (kind.as_str(), command) {
            ("command", Some((Some(command), _))) => AgentKind::Command { command },
            ("command", Some((None, _))) => return None,
            ("command", None) => {
                let m = "a `command` agent needs `command`, the program and its arguments, like command = [\"./scripts/agent.sh\"]";
                self.error(at, Some(section.to_owned()), m.into());
                return None;
            }
            (other, Some((_, span))) if other == kind::FAKE || CliKind::from_name(other).is_some() => {
                let m = format!("only a `command` agent takes a command; this one is `{other}`");
                self.error(span, Some(format!("{section} command")), m);
                return None;
            }
            ("fake", None) => AgentKind::Fake,
            (other, _) => match CliKind::from_name(other) {
                Some(kind) => AgentKind::Cli(CliAgent { cli: kind, ..cli }),
                None => {
                    let message = match closest(other, kind::names()) {
                        Some(near) => {
                            format!("unknown agent kind `{other}`; did you mean `{near}`?")
                        }
                        None => format!(
                            "unknown agent kind `{other}`; set kind = \"command\" (any program), \"fake\", or one of {}",
                            cli_names()
                        ),
                    };
                    self.error(kind_at, Some(kind_key), message);
                    return None;
                }
            },
        };
        Some(AgentConfig { kind, env })
    }

    /// `[prices.MODEL]` tables: dollars per million tokens.
    fn prices(&mut self, table: &DeTable) -> BTreeMap<String, Price> {
        let mut prices = BTreeMap::new();
        for (k, v) in table {
            let model = k.get_ref().as_ref();
            let section = format!("[prices.\"{model}\"]");
            let DeValue::Table(t) = v.get_ref() else {
                let expected = "expected a table like { input = 3.0, output = 15.0 } (dollars per million tokens)";
                self.wrong::<()>(&format!("[prices] {model}"), v, expected);
                continue;
            };
            // `Some(None)`: written, and its problem reported.
            let (mut input, mut output, mut cached_input) = (None, None, None);
            for (k, v) in t {
                let key = &format!("{section} {}", k.get_ref());
                match k.get_ref().as_ref() {
                    "input" => input = Some(self.dollars(key, v)),
                    "output" => output = Some(self.dollars(key, v)),
                    "cached_input" => cached_input = self.dollars(key, v),
                    _ => self.unknown(&section, k, PRICE_KEYS),
                }
            }
            match (input, output) {
                (Some(Some(input)), Some(Some(output))) => {
                    prices.insert(model.to_owned(), Price { input, output, cached_input });
                }
                (Some(_), Some(_)) => {}
                _ => {
                    let m = "a price needs both `input` and `output`, in dollars per million tokens";
                    self.error(k.span(), Some(section), m.into());
                }
            }
        }
        prices
    }

    fn gates(&mut self, table: &DeTable, gates: &mut GatesConfig) {
        for (k, v) in table {
            let key = &format!("[gates] {}", k.get_ref());
            match k.get_ref().as_ref() {
                "commands" => set(&mut gates.commands, self.gate_commands(key, v)),
                "max_fix_rounds" => set(&mut gates.max_fix_rounds, self.count(key, v, 0)),
                "timeout" => set(&mut gates.timeout, self.duration(key, v)),
                _ => self.unknown("[gates]", k, GATES_KEYS),
            }
        }
    }

    fn merge(&mut self, table: &DeTable, merge: &mut MergeConfig) {
        for (k, v) in table {
            let key = &format!("[merge] {}", k.get_ref());
            match k.get_ref().as_ref() {
                "max_resolver_rounds" => set(&mut merge.max_resolver_rounds, self.count(key, v, 0)),
                "train" => set(&mut merge.train, self.boolean(key, v)),
                "speculate" => set(&mut merge.speculate, self.boolean(key, v)),
                _ => self.unknown("[merge]", k, MERGE_KEYS),
            }
        }
    }

    fn worktree(&mut self, table: &DeTable, worktree: &mut WorktreeConfig) {
        let (mut ports_at, mut reuse_at) = (None, None);
        for (k, v) in table {
            let key = &format!("[worktree] {}", k.get_ref());
            match k.get_ref().as_ref() {
                "reuse_setup" => {
                    set(&mut worktree.reuse_setup, self.boolean(key, v));
                    reuse_at = Some(v.span());
                }
                "reuse_key" => worktree.reuse_key = self.globs(key, v),
                "copy" => set(&mut worktree.copy, self.globs(key, v)),
                "link" => set(&mut worktree.link, self.globs(key, v)),
                "setup" => set(&mut worktree.setup, self.gate_commands(key, v)),
                "env" => worktree.env = self.env(key, v, worktree_env_problem),
                "ports" => {
                    set(&mut worktree.ports, self.count_up_to(key, v, 0, MAX_PORTS));
                    ports_at = Some(v.span());
                }
                "port_range" => set(&mut worktree.port_range, self.port_range(key, v)),
                _ => self.unknown("[worktree]", k, WORKTREE_KEYS),
            }
        }
        let range = worktree.port_range;
        if let Some(at) = ports_at.filter(|_| u32::from(worktree.ports) > range.count()) {
            let message = format!("{} ports do not fit in port_range {range}", worktree.ports);
            self.error(at, Some("[worktree] ports".to_owned()), message);
        }
        if let Some(at) = reuse_at.filter(|_| worktree.reuse_setup && worktree.setup.is_empty()) {
            let message = "there is no setup to reuse: [worktree] setup names no commands".to_owned();
            self.error(at, Some("[worktree] reuse_setup".to_owned()), message);
        }
    }

    /// `"20000-29999"`: a range of ports to take attempts' blocks from.
    fn port_range(&mut self, key: &str, value: &Value) -> Option<crate::ports::Ports> {
        let text = self.string(key, value)?;
        text.parse().map_err(|m| self.error(value.span(), Some(key.to_owned()), m)).ok()
    }

    /// Globs of paths in the repository (see [`glob_parts`]).
    fn globs(&mut self, key: &str, value: &Value) -> Option<Vec<String>> {
        let globs = self.strings(key, value)?;
        let mut good = Vec::with_capacity(globs.len());
        for glob in globs {
            match glob_parts(&glob) {
                Ok(_) => good.push(glob),
                Err(problem) => self.error(value.span(), Some(key.to_owned()), format!("`{glob}`: {problem}")),
            }
        }
        Some(good)
    }

    fn land(&mut self, table: &DeTable, land: &mut LandConfig) {
        for (k, v) in table {
            let key = &format!("[land] {}", k.get_ref());
            match k.get_ref().as_ref() {
                "forge" => land.forge = self.choice(key, v, &[("github", Forge::GitHub), ("gitlab", Forge::GitLab)]),
                _ => self.unknown("[land]", k, &["forge"]),
            }
        }
    }

    fn notify(&mut self, table: &DeTable, notify: &mut NotifyConfig) {
        for (k, v) in table {
            let key = &format!("[notify] {}", k.get_ref());
            match k.get_ref().as_ref() {
                "command" => notify.command = self.gate_commands(key, v).and_then(|argv| self.argv(key, v, argv)),
                "webhook" => notify.webhook = self.string(key, v).and_then(|url| self.webhook(key, v, url)),
                "secret_env" => {
                    if let Some(name) = self.string(key, v) {
                        match env_name_problem(&name) {
                            Some(m) => self.error(v.span(), Some(key.clone()), m.into()),
                            None => notify.secret_env = name,
                        }
                    }
                }
                "desktop" => set(&mut notify.desktop, self.boolean(key, v)),
                "on" => set(&mut notify.on, self.notice_kinds(key, v)),
                _ => self.unknown("[notify]", k, NOTIFY_KEYS),
            }
        }
    }

    /// A program and its arguments: at least the program.
    fn argv(&mut self, key: &str, value: &Value, argv: Vec<String>) -> Option<Vec<String>> {
        if argv.is_empty() {
            let m = "expected the program and its arguments, like [\"notify-me\", \"--quiet\"]";
            return self.wrong(key, value, m);
        }
        Some(argv)
    }

    /// An `http://` or `https://` URL with a host.
    fn webhook(&mut self, key: &str, value: &Value, url: String) -> Option<String> {
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
        if rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) && !url.contains(char::is_whitespace) {
            return Some(url);
        }
        let m = format!("expected an http:// or https:// URL with a host, found `{url}`");
        self.error(value.span(), Some(key.to_owned()), m);
        None
    }

    fn notice_kinds(&mut self, key: &str, value: &Value) -> Option<Vec<NoticeKind>> {
        let names = self.strings(key, value)?;
        let mut kinds = Vec::with_capacity(names.len());
        for name in names {
            match NoticeKind::ALL.into_iter().find(|k| k.name() == name) {
                Some(kind) => kinds.push(kind),
                None => {
                    let known = NoticeKind::ALL.map(NoticeKind::name);
                    let m = match closest(&name, known) {
                        Some(near) => format!("unknown notice `{name}`; did you mean `{near}`?"),
                        None => format!("unknown notice `{name}`; expected some of {}", known.join(", ")),
                    };
                    self.error(value.span(), Some(key.to_owned()), m);
                }
            }
        }
        kinds.sort_unstable();
        kinds.dedup();
        Some(kinds)
    }

    /// Reads `[review]`; returns where its reviewers are named, for
    /// checking once the agents are known.
    fn review(&mut self, table: &DeTable, review: &mut ReviewConfig) -> Option<Range<usize>> {
        let mut named: Option<Range<usize>> = None;
        for (k, v) in table {
            let key = &format!("[review] {}", k.get_ref());
            match k.get_ref().as_ref() {
                "agent" | "agents" if named.is_some() => {
                    let m = "give the reviewers once: `agent = \"NAME\"` or `agents = [\"A\", \"B\"]`";
                    self.error(k.span(), Some(key.clone()), m.into());
                }
                "agent" => {
                    named = Some(k.span());
                    review.agents = self.name(key, v).into_iter().collect();
                }
                "agents" => {
                    named = Some(k.span());
                    review.agents = self.names(key, v).unwrap_or_default();
                }
                "policy" => match self.string(key, v).as_deref() {
                    Some("all") => review.policy = crate::review::Policy::All,
                    Some("majority") => review.policy = crate::review::Policy::Majority,
                    Some(other) => {
                        let m = format!("expected \"all\" (every reviewer approves) or \"majority\", found `{other}`");
                        self.error(v.span(), Some(key.clone()), m);
                    }
                    None => {}
                },
                "max_rounds" => set(&mut review.max_rounds, self.count(key, v, 1)),
                "approval" => match self.string(key, v).as_deref() {
                    Some("required") => review.approval = true,
                    Some("auto") => review.approval = false,
                    Some(other) => {
                        let m = format!(
                            "expected \"required\" (a person approves each merge) or \"auto\", found `{other}`"
                        );
                        self.error(v.span(), Some(key.clone()), m);
                    }
                    None => {}
                },
                _ => self.unknown("[review]", k, REVIEW_KEYS),
            }
        }
        named
    }

    /// Reads `[plan]`; returns where its agent is named, for checking
    /// once the agents are known.
    fn plan(&mut self, table: &DeTable, plan: &mut PlanConfig) -> Option<Range<usize>> {
        let mut named = None;
        for (k, v) in table {
            let key = &format!("[plan] {}", k.get_ref());
            match k.get_ref().as_ref() {
                "agent" => {
                    named = Some(v.span());
                    plan.agent = self.name(key, v);
                }
                "max_rounds" => set(&mut plan.max_rounds, self.count(key, v, 1)),
                "followups" => {
                    let modes = [("auto", Followups::Auto), ("approve", Followups::Approve), ("off", Followups::Off)];
                    set(&mut plan.followups, self.choice(key, v, &modes));
                }
                "max_followups" => set(&mut plan.max_followups, self.count(key, v, 1)),
                "followup_depth" => set(&mut plan.followup_depth, self.count(key, v, 1)),
                _ => self.unknown("[plan]", k, PLAN_KEYS),
            }
        }
        named
    }

    fn sandbox(&mut self, table: &DeTable, sandbox: &mut SandboxConfig) {
        for (k, v) in table {
            let key = &format!("[sandbox] {}", k.get_ref());
            match k.get_ref().as_ref() {
                "mode" => {
                    let modes = [
                        ("worktree", SandboxMode::Worktree),
                        ("off", SandboxMode::Off),
                        ("required", SandboxMode::Required),
                    ];
                    set(&mut sandbox.mode, self.choice(key, v, &modes));
                }
                "writable" => set(&mut sandbox.writable, self.writable(key, v)),
                "network" => set(
                    &mut sandbox.network,
                    self.choice(key, v, &[("allow", Network::Allow), ("deny", Network::Deny)]),
                ),
                _ => self.unknown("[sandbox]", k, SANDBOX_KEYS),
            }
        }
    }

    /// One of `choices`, by its name.
    fn choice<T: Copy>(&mut self, key: &str, value: &Value, choices: &[(&str, T)]) -> Option<T> {
        let text = self.string(key, value)?;
        if let Some((_, choice)) = choices.iter().find(|(name, _)| *name == text) {
            return Some(*choice);
        }
        let names: Vec<String> = choices.iter().map(|(name, _)| format!("\"{name}\"")).collect();
        let message = format!("expected one of {}, found `{text}`", names.join(", "));
        self.error(value.span(), Some(key.to_owned()), message);
        None
    }

    /// Paths that are absolute or start with `~/`: a relative one would
    /// depend on where each child runs.
    fn writable(&mut self, key: &str, value: &Value) -> Option<Vec<String>> {
        let paths = self.strings(key, value)?;
        if let Some(bad) = paths.iter().find(|p| !(p.starts_with('/') || p.starts_with("~/"))) {
            let message = format!("expected absolute paths or paths starting with `~/`, found `{bad}`");
            self.error(value.span(), Some(key.to_owned()), message);
            return None;
        }
        Some(paths)
    }

    /// Every reviewer must be an agent there is.
    fn check_reviewers(&mut self, config: &Config, at: Range<usize>) {
        for name in &config.review.agents {
            if config.agent(name).is_none() {
                self.error(at.clone(), Some("[review]".into()), unknown_agent(config, name));
            }
        }
    }

    /// A list of agent names, each held to the id rule.
    fn names(&mut self, key: &str, value: &Value) -> Option<Vec<String>> {
        let names = self.strings(key, value)?;
        let mut good = Vec::with_capacity(names.len());
        for name in names {
            match check_id(&name) {
                Ok(()) => good.push(name),
                Err(e) => self.error(value.span(), Some(key.to_owned()), format!("bad agent name: {e}")),
            }
        }
        Some(good)
    }

    /// `[run] agent` must name an agent there is; without it, a lone
    /// configured agent is the default.
    fn default_agent(&mut self, config: &mut Config, named: Option<(String, Range<usize>)>) {
        match named {
            Some((name, _)) if config.agent(&name).is_some() => config.run.agent = Some(name),
            Some((name, span)) => self.error(span, Some("[run] agent".into()), unknown_agent(config, &name)),
            None if config.agents.len() == 1 => config.run.agent = config.agents.keys().next().cloned(),
            None => {}
        }
    }

    fn string(&mut self, key: &str, value: &Value) -> Option<String> {
        match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => self.wrong(key, value, "expected a string"),
        }
    }

    /// An agent's name, held to the id rule.
    fn name(&mut self, key: &str, value: &Value) -> Option<String> {
        let name = self.string(key, value)?;
        match check_id(&name) {
            Ok(()) => Some(name),
            Err(e) => {
                self.error(value.span(), Some(key.to_owned()), format!("bad agent name: {e}"));
                None
            }
        }
    }

    fn strings(&mut self, key: &str, value: &Value) -> Option<Vec<String>> {
        const LIST: &str = "expected a list of strings";
        let DeValue::Array(items) = value.get_ref() else {
            return self.wrong(key, value, LIST);
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push(s.to_string()),
                _ => return self.wrong(key, item, LIST),
            }
        }
        Some(out)
    }

    fn boolean(&mut self, key: &str, value: &Value) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => self.wrong(key, value, "expected true or false"),
        }
    }

    /// A whole number, at least `min`, that fits in `T`.
    fn count<T: TryFrom<i64>>(&mut self, key: &str, value: &Value, min: i64) -> Option<T> {
        self.count_up_to(key, value, min, i64::MAX)
    }

    /// A whole number from `min` to `max` that fits in `T`.
    fn count_up_to<T: TryFrom<i64>>(&mut self, key: &str, value: &Value, min: i64, max: i64) -> Option<T> {
        let n = self.integer(key, value, "expected a whole number")?;
        let message = if n < 0 && min == 0 {
            format!("must be 0 or more, found {n}")
        } else if n < min {
            format!("must be at least {min}, found {n}")
        } else if n > max {
            format!("must be at most {max}, found {n}")
        } else if let Ok(n) = T::try_from(n) {
            return Some(n);
        } else {
            format!("{n} is too large")
        };
        self.error(value.span(), Some(key.to_owned()), message);
        None
    }

    fn integer(&mut self, key: &str, value: &Value, expected: &str) -> Option<i64> {
        let DeValue::Integer(i) = value.get_ref() else {
            return self.wrong(key, value, expected);
        };
        match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Some(n),
            Err(_) => {
                self.error(value.span(), Some(key.to_owned()), format!("{i} is too large"));
                None
            }
        }
    }

    /// An amount of US dollars: a number, 0 or more.
    fn dollars(&mut self, key: &str, value: &Value) -> Option<f64> {
        const DOLLARS: &str = "expected an amount of dollars like 25 or 2.5";
        let n = match value.get_ref() {
            DeValue::Float(f) => match f.as_str().parse::<f64>() {
                Ok(n) => n,
                Err(_) => return self.wrong(key, value, DOLLARS),
            },
            DeValue::Integer(_) => self.integer(key, value, DOLLARS)? as f64,
            _ => return self.wrong(key, value, DOLLARS),
        };
        if n.is_finite() && n >= 0.0 {
            return Some(n);
        }
        self.error(value.span(), Some(key.to_owned()), format!("must be 0 or more, found {n}"));
        None
    }

    /// `30m`, `1h 30m`, or a number of seconds; never zero.
    fn duration(&mut self, key: &str, value: &Value) -> Option<Duration> {
        let result = match value.get_ref() {
            DeValue::String(s) => opt_duration::parse(s),
            DeValue::Integer(_) => match self.integer(key, value, DURATION)? {
                n if n > 0 => opt_duration::at_most_max(Duration::from_secs(n.unsigned_abs()))
                    .map_err(|m| format!("{n} seconds {m}")),
                n => Err(format!("must be more than zero, found {n}")),
            },
            _ => return self.wrong(key, value, DURATION),
        };
        result.map_err(|m| self.error(value.span(), Some(key.to_owned()), m)).ok()
    }

    /// A branch pattern: not empty, `{plan}` the only placeholder, and a
    /// name git takes once a plan's name is put in. The sample name is
    /// letters only, so it can neither cause nor hide a broken rule; a plan
    /// whose own name breaks one is refused when it is added.
    fn branch(&mut self, key: &str, value: &Value) -> Option<String> {
        const SAMPLE: &str = "plan";
        let pattern = self.string(key, value)?;
        let rest = pattern.replace(PLAN_PLACEHOLDER, "");
        let problem = if pattern.trim().is_empty() {
            "must not be empty".to_owned()
        } else if rest.contains(['{', '}']) {
            "the only placeholder is `{plan}`".to_owned()
        } else if let Err(e) = check_branch(&pattern.replace(PLAN_PLACEHOLDER, SAMPLE)) {
            match pattern.contains(PLAN_PLACEHOLDER) {
                true => format!("git refuses the branches it makes, such as `{}`: {}", e.name, e.rule),
                false => format!("git refuses the branch `{pattern}`: {}", e.rule),
            }
        } else {
            return Some(pattern);
        };
        self.error(value.span(), Some(key.to_owned()), problem);
        None
    }

    /// A git remote's name, or `false` for none.
    fn remote(&mut self, key: &str, value: &Value) -> Option<Remote> {
        const EXPECTED: &str = "expected a git remote's name, like \"origin\", or false for none";
        let name = match value.get_ref() {
            DeValue::Boolean(false) => return Some(Remote::Off),
            DeValue::String(s) => s.to_string(),
            _ => return self.wrong(key, value, EXPECTED),
        };
        if name.is_empty() || name.starts_with('-') || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.error(value.span(), Some(key.to_owned()), format!("{EXPECTED}, found `{name}`"));
            return None;
        }
        Some(Remote::Named(name))
    }

    /// `Name <email>`, as git wants an identity.
    fn author(&mut self, key: &str, value: &Value) -> Option<(String, String)> {
        let text = self.string(key, value)?;
        let parsed = text.trim().split_once('<').and_then(|(name, rest)| {
            let (name, email) = (name.trim(), rest.strip_suffix('>')?.trim());
            let bad = |s: &str| s.is_empty() || s.contains(['<', '>', '\n']);
            (!bad(name) && !bad(email)).then(|| (name.to_owned(), email.to_owned()))
        });
        if parsed.is_none() {
            let message = format!("expected `Name <email>`, found `{text}`");
            self.error(value.span(), Some(key.to_owned()), message);
        }
        parsed
    }

    /// An agent's argv: a list, so no shell ever reads it.
    fn command(&mut self, key: &str, value: &Value) -> Option<Vec<String>> {
        if !matches!(value.get_ref(), DeValue::Array(_)) {
            let expected = "expected a list of strings, the program and its arguments (never a shell line)";
            return self.wrong(key, value, expected);
        }
        let argv = self.strings(key, value)?;
        if argv.first().is_none_or(|p| p.trim().is_empty()) {
            let message = "names no program; give the program and its arguments".to_owned();
            self.error(value.span(), Some(key.to_owned()), message);
            return None;
        }
        Some(argv)
    }

    fn gate_commands(&mut self, key: &str, value: &Value) -> Option<Vec<String>> {
        let commands = self.strings(key, value)?;
        if let Some(i) = commands.iter().position(|c| c.trim().is_empty()) {
            self.error(value.span(), Some(key.to_owned()), format!("command {} is empty", i + 1));
            return None;
        }
        Some(commands)
    }

    /// A table of environment variables; `problem` says what is wrong
    /// with a name, if anything.
    fn env(&mut self, key: &str, value: &Value, problem: fn(&str) -> Option<&'static str>) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        let DeValue::Table(table) = value.get_ref() else {
            self.wrong::<()>(key, value, "expected a table of strings, like env = { KEY = \"value\" }");
            return env;
        };
        for (k, v) in table {
            let name = k.get_ref().as_ref();
            let var = format!("{key}.{name}");
            if let Some(m) = problem(name) {
                self.error(k.span(), Some(var.clone()), m.into());
            }
            if let Some(text) = self.string(&var, v) {
                env.insert(name.to_owned(), text);
            }
        }
        env
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// A value's type, in the words of an error message.
fn found(value: &DeValue) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// What is wrong with `name` as a variable's name, if anything.
fn env_name_problem(name: &str) -> Option<&'static str> {
    (!is_env_name(name)).then_some("not a variable name; use letters, digits and `_`, not starting with a digit")
}

/// As [`env_name_problem`], and colony's own variables are not the
/// project's to set: they say which task, attempt and ports are whose.
fn worktree_env_problem(name: &str) -> Option<&'static str> {
    env_name_problem(name).or_else(|| {
        name.starts_with(RESERVED_ENV).then_some("names starting with `COLONY_` are colony's own; choose another")
    })
}

/// `[A-Za-z_][A-Za-z0-9_]*`: a name every shell and `env` accept.
fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
