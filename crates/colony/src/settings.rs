//! From `colony.toml` and the command line to what the engine is told.
//!
//! The engine never reads configuration; this is where the config file is
//! loaded (a problem in it is bad input, exit 2), where every agent a run
//! will need is checked before anything starts, and where the built-in fake
//! agent's executable is found.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use colony_agents::adapters::{CliFacts, CliHarness, CliOptions};
use colony_agents::sandbox::{self, MIN_ABI, NET_ABI, Places, Sandbox};
use colony_core::config::{
    self, AgentConfig, AgentKind, CliAgent, Config, Network, Remote, SandboxConfig, SandboxMode,
};
use colony_core::kind;
use colony_core::resolve::resolve;
use colony_core::{Plan, TaskStatus};
use colony_engine::prompts::Prompts;
use colony_engine::{AgentSetup, Settings};
use colony_git::Repo;
use colony_store::{Store, StoreUrl, tasks_in};

use crate::exit::{BadInput, bad_input};

/// The environment variable that points colony at the fake agent's
/// executable, for builds that do not put it next to `colony`.
pub const FAKE_AGENT_ENV: &str = "COLONY_FAKE_AGENT";

/// The fake agent's executable name; it is built beside `colony`.
const FAKE_AGENT_EXE: &str = "colony-fake-agent";

/// Reads `colony.toml` at the repository root; every problem in it is bad
/// input, listed one a line.
pub fn load_config(root: &Path) -> Result<Config> {
    config::load(root).map_err(|mut errors| {
        // Errors name the file as joined to the root; the root is where
        // the user is anyway, as with plan files.
        for e in &mut errors.0 {
            e.file = config::FILE_NAME.to_owned();
        }
        anyhow::Error::new(errors).context(BadInput(format!("{} is refused; nothing was done", config::FILE_NAME)))
    })
}

/// Plans get the config's `max_attempts` as their default. The store fixes
/// a task's attempts when it is added, from the task, else the plan's
/// default, else colony's built-in 3, and never sees colony.toml; so the
/// config's value is written into a plan that sets none. A config that
/// says what the store would assume anyway leaves the plan as written, so
/// `colony export` gives back what the user wrote.
pub fn apply_plan_defaults(plan: &mut Plan, config: &Config) {
    if plan.defaults.max_attempts.is_none() && config.run.max_attempts != colony_core::spec::DEFAULT_MAX_ATTEMPTS {
        plan.defaults.max_attempts = Some(config.run.max_attempts);
    }
}

/// What the command line says on top of `colony.toml`.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub workers: Option<usize>,
    pub agent: Option<String>,
}

/// Refuses an `--agent` that names no agent there is.
pub fn check_agent_name(config: &Config, name: &str) -> Result<()> {
    if config.agent(name).is_some() {
        return Ok(());
    }
    Err(bad_input(format!("no agent `{name}` is configured; {}", known_agents_near(config, name))))
}

/// The configuration a run goes by: `colony.toml` with `--agent` as its
/// `[run] agent`.
pub fn run_config(config: &Config, overrides: &Overrides) -> Config {
    let mut config = config.clone();
    if let Some(agent) = &overrides.agent {
        config.run.agent = Some(agent.clone());
    }
    config
}

/// Builds the engine's settings: a harness for every agent the
/// configuration names and every built-in one (a `colony worker` may meet
/// a plan that names any), after checking that the agents the
/// configuration and the tasks still to run use exist, so that a misnamed
/// agent stops the run before it starts rather than failing each of its
/// tasks one attempt at a time.
pub async fn engine_settings(
    config: &Config,
    overrides: &Overrides,
    store: &impl Store,
    root: &Path,
) -> Result<Settings> {
    let config = run_config(config, overrides);
    let needed = needed_agents(store, &config).await?;
    let mut agents = BTreeMap::new();
    let names: BTreeSet<String> = config
        .agents
        .keys()
        .cloned()
        .chain(kind::built_in().map(str::to_owned))
        .chain(needed.keys().cloned())
        .collect();
    for name in names {
        let Some(agent) = config.agent(&name) else {
            let user = match &needed[&name] {
                Some(task) => format!("task {task}"),
                None => config::FILE_NAME.to_owned(),
            };
            return Err(bad_input(format!(
                "{user} asks for agent `{name}`, which is not configured; {}",
                known_agents_near(&config, &name)
            )));
        };
        let setup = match agent_setup(&agent, root) {
            Ok(setup) => setup,
            // Required only when something uses it, so a build without
            // the fake agent runs real agents all the same.
            Err(_) if matches!(agent.kind, AgentKind::Fake) && !needed.contains_key(&name) => continue,
            Err(e) => return Err(e),
        };
        agents.insert(name, setup);
    }
    let mut settings = Settings::new(config, agents);
    if let Some(workers) = overrides.workers {
        settings.workers = workers;
    }
    Ok(settings)
}

/// How to start `agent`.
pub fn agent_setup(agent: &AgentConfig, root: &Path) -> Result<AgentSetup> {
    let env: Vec<(String, String)> = agent.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    Ok(match &agent.kind {
        AgentKind::Command { command } => AgentSetup::command(command.clone(), env, root)?,
        AgentKind::Fake => AgentSetup::command(vec![fake_agent_exe()?.display().to_string()], env, root)?,
        AgentKind::Cli(cli) => cli_agent(cli, env, root),
    })
}

/// The agent `name`, configured or built in, or what there is instead.
pub fn named_agent(config: &Config, name: &str) -> Result<AgentConfig> {
    config
        .agent(name)
        .ok_or_else(|| bad_input(format!("there is no agent `{name}`; {}", known_agents_near(config, name))))
}

/// The git remote a run shares across machines, decided once before it
/// starts: only a PostgreSQL store is shared, so only then; `[run] remote`
/// names it (and it must exist), else `origin` if the repository has one;
/// `remote = false` turns it off. `None`: the run merges in this
/// repository alone, as on one machine.
pub fn shared_remote(config: &Config, url: &StoreUrl, repo: &Repo) -> Result<Option<String>> {
    if matches!(url, StoreUrl::Sqlite(_)) {
        return Ok(None);
    }
    match &config.run.remote {
        Remote::Off => Ok(None),
        Remote::Origin => Ok(repo.has_remote(ORIGIN)?.then(|| ORIGIN.to_owned())),
        Remote::Named(name) if repo.has_remote(name)? => Ok(Some(name.clone())),
        Remote::Named(name) => Err(bad_input(format!(
            "{}'s [run] remote is `{name}`, but this repository has no such remote; add it with \
             `git remote add {name} URL` (the repository every machine of the run pushes to)",
            config::FILE_NAME
        ))),
    }
}

/// The remote a shared run uses unless `[run] remote` names another.
const ORIGIN: &str = "origin";

/// An agent CLI's adapter as `[agents.NAME]` configures it. A relative
/// `binary` with a `/` is taken from the repository root, as a `command`
/// agent's program is.
pub fn cli_agent(cli: &CliAgent, env: Vec<(String, String)>, root: &Path) -> AgentSetup {
    let kind = cli.cli;
    let binary = cli.binary.as_ref().map(|b| match Path::new(b) {
        p if p.is_relative() && b.contains('/') => root.join(p),
        p => p.to_owned(),
    });
    let program = binary.clone().map_or_else(|| kind.binary().into(), PathBuf::into_os_string);
    let version_command = std::iter::once(program).chain(kind.version_args().iter().map(Into::into)).collect();
    let options = CliOptions {
        binary,
        model: cli.model.clone(),
        effort: cli.effort.clone(),
        permission: cli.permission.clone(),
        extra_args: cli.args.clone(),
        env,
    };
    let mut setup = AgentSetup::new(CliHarness::new(kind, options));
    setup.version_command = Some(version_command);
    setup
}

/// The agents the configuration names and the tasks still to run will
/// use, as builders or reviewers, each with one task that uses it (for
/// messages; `None`: colony.toml names it). A task with no agent at all is
/// refused here.
async fn needed_agents(store: &impl Store, config: &Config) -> Result<BTreeMap<String, Option<String>>> {
    let named = config.run.agent.iter().chain(&config.review.agents);
    let mut needed: BTreeMap<String, Option<String>> = named.map(|name| (name.clone(), None)).collect();
    // A task awaiting approval may be sent back to its agent.
    let mut active = TaskStatus::UNFINISHED.to_vec();
    active.push(TaskStatus::AwaitingApproval);
    for task in tasks_in(store, active).await? {
        if let Some(role) = colony_core::resolve::role_name(&task.spec, &task.defaults)
            && !config.roles.contains_key(role)
        {
            return Err(bad_input(format!(
                "task {} asks for role `{role}`, which {} does not define; {}",
                task.spec.id,
                config::FILE_NAME,
                known_roles_near(config, role)
            )));
        }
        let settings = resolve(&task.spec, &task.defaults, config);
        let Some(agent) = settings.agent else {
            return Err(bad_input(format!(
                "task {} names no agent and there is no default; pass --agent NAME, set `agent` \
                 in colony.toml's [run], or `agent:` in the plan",
                task.spec.id
            )));
        };
        for choice in std::iter::once(agent).chain(settings.review.reviewers) {
            needed.entry(choice.name).or_insert_with(|| Some(task.spec.id.to_string()));
        }
    }
    Ok(needed)
}

/// `did you mean `tester`? roles: docs, tester`: what there is instead of
/// `name`.
pub fn known_roles_near(config: &Config, name: &str) -> String {
    if config.roles.is_empty() {
        return "it defines none: add a [roles.NAME] table".to_owned();
    }
    let near = colony_core::plan::closest(name, config.roles.keys().map(String::as_str))
        .map(|n| format!("did you mean `{n}`? "))
        .unwrap_or_default();
    format!("{near}roles: {}", config.roles.keys().cloned().collect::<Vec<_>>().join(", "))
}

/// `did you mean `claude`? configured agents: local; built in: fake, …`:
/// what there is instead of `name`.
fn known_agents_near(config: &Config, name: &str) -> String {
    let built_in: Vec<&str> = kind::built_in().filter(|n| !config.agents.contains_key(*n)).collect();
    let configured: Vec<&str> = config.agents.keys().map(String::as_str).collect();
    let near = colony_core::plan::closest(name, configured.iter().chain(&built_in).copied())
        .map(|n| format!("did you mean `{n}`? "))
        .unwrap_or_default();
    match configured.is_empty() {
        true => format!("{near}known agents: {}", built_in.join(", ")),
        false => format!("{near}configured agents: {}; built in: {}", configured.join(", "), built_in.join(", ")),
    }
}

/// The fake agent's executable: `COLONY_FAKE_AGENT`, else
/// `colony-fake-agent` beside the running `colony`.
pub fn fake_agent_exe() -> Result<PathBuf> {
    let path = match std::env::var_os(FAKE_AGENT_ENV).filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => {
            let exe = std::env::current_exe().context("could not find the running colony executable")?;
            exe.parent().map(|dir| dir.join(FAKE_AGENT_EXE)).unwrap_or_else(|| PathBuf::from(FAKE_AGENT_EXE))
        }
    };
    if !path.is_file() {
        anyhow::bail!(
            "the fake agent is missing: there is no {}; it is built with colony (`cargo build` puts \
             {FAKE_AGENT_EXE} next to colony), or set {FAKE_AGENT_ENV} to its path",
            path.display()
        );
    }
    Ok(path)
}

/// What `[sandbox]` comes to on this machine: the run's sandbox (`None`:
/// unconfined), and what to warn of once before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxChoice {
    pub sandbox: Option<Sandbox>,
    pub warnings: Vec<String>,
}

/// Decides the run's sandbox from `[sandbox]` and the kernel's Landlock
/// `abi`, for a repository at `root`. `required` without what it needs is
/// bad input: nothing has been done yet.
pub fn choose_sandbox(config: &SandboxConfig, abi: u8, places: &Places, root: &Path) -> Result<SandboxChoice> {
    let deny_tcp = config.network == Network::Deny;
    let mut warnings = Vec::new();
    let lacking = match (abi < MIN_ABI, deny_tcp && abi < NET_ABI) {
        _ if config.mode == SandboxMode::Off => {
            return Ok(SandboxChoice { sandbox: None, warnings });
        }
        (true, _) => {
            Some(format!("this kernel has no usable Landlock (ABI {abi}; colony needs {MIN_ABI}, Linux 5.19 or later)"))
        }
        (false, true) => Some(format!(
            "[sandbox] network = \"deny\" needs Landlock ABI {NET_ABI} (Linux 6.7 or later); this kernel has {abi}"
        )),
        (false, false) => None,
    };
    if let Some(lacking) = lacking {
        if config.mode == SandboxMode::Required {
            return Err(bad_input(format!(
                "{}'s [sandbox] mode is \"required\", but {lacking}; nothing was done",
                config::FILE_NAME
            )));
        }
        let unconfined = match abi < MIN_ABI {
            true => "agents and gates run unconfined and may write anywhere you can",
            false => "TCP is not blocked",
        };
        warnings.push(format!(
            "{lacking}: {unconfined}; set [sandbox] mode = \"off\" to say so, or \"required\" to refuse"
        ));
        if abi < MIN_ABI {
            return Ok(SandboxChoice { sandbox: None, warnings });
        }
    }
    let sandbox = Sandbox::new(places, &config.writable, deny_tcp && abi >= NET_ABI);
    if let Some(place) = sandbox.writable.iter().find(|p| root.starts_with(p)) {
        warnings.push(format!(
            "the repository lies under {}, which agents may write: the sandbox does not keep them out of it",
            place.display()
        ));
    }
    Ok(SandboxChoice { sandbox: Some(sandbox), warnings })
}

/// The run's prompt templates: the shipped ones, and the project's own in
/// `.colony/prompts/`, checked before anything runs.
pub fn prompts(root: &Path, config: &Config) -> Result<std::sync::Arc<Prompts>> {
    let dir = colony_core::layout::Layout::new(root).prompts();
    let roles: BTreeMap<String, PathBuf> = config
        .roles
        .iter()
        .filter_map(|(name, role)| Some((name.clone(), root.join(role.template.as_ref()?))))
        .collect();
    let prompts = Prompts::load_with_roles(&dir, &roles).map_err(|e| bad_input(format!("the prompt template {e}")))?;
    Ok(std::sync::Arc::new(prompts))
}

/// The run's sandbox on this machine, its warnings said on stderr.
pub fn sandbox(config: &Config, root: &Path) -> Result<Option<Sandbox>> {
    let choice = choose_sandbox(&config.sandbox, sandbox::probe(), &Places::from_env(), root)?;
    for warning in &choice.warnings {
        crate::terminal::eprint(&format!("warning: {warning}\n"));
    }
    Ok(choice.sandbox)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_default_for_attempts_reaches_plans_that_set_none() {
        let mut config = Config::default();
        let text = "name: p\ntasks:\n  - id: a\n    prompt: p\n";
        let plan = colony_core::plan::parse(
            "p.yaml",
            text.as_bytes(),
            colony_core::plan::Format::Yaml,
            "p",
            colony_core::branch::DEFAULT_INTEGRATION,
        )
        .unwrap();

        let mut same = plan.clone();
        apply_plan_defaults(&mut same, &config);
        assert_eq!(same, plan, "the built-in default is left implicit");

        config.run.max_attempts = 5;
        let mut raised = plan.clone();
        apply_plan_defaults(&mut raised, &config);
        assert_eq!(raised.defaults.max_attempts, Some(5));

        let mut own = plan;
        own.defaults.max_attempts = Some(2);
        apply_plan_defaults(&mut own, &config);
        assert_eq!(own.defaults.max_attempts, Some(2), "the plan's own default wins");
    }

    #[test]
    fn unknown_agents_list_the_known_ones() {
        let config = config::parse("colony.toml", "[agents.local]\nkind = \"command\"\ncommand = [\"x\"]\n").unwrap();
        assert!(check_agent_name(&config, "local").is_ok());
        assert!(check_agent_name(&config, kind::FAKE).is_ok());
        assert!(check_agent_name(&config, "claude").is_ok(), "agent CLIs are built in");
        let err = check_agent_name(&config, "robot").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no agent `robot` is configured; configured agents: local; built in: fake, claude, codex, gemini, opencode, cursor, amp, aider"
        );
        let err = check_agent_name(&config, "locl").unwrap_err();
        assert!(err.to_string().starts_with("no agent `locl` is configured; did you mean `local`?"), "{err}");
    }

    #[test]
    fn the_sandbox_follows_the_mode_and_what_the_kernel_has() {
        let places = Places { home: Some("/home/u".into()), temp: "/tmp".into(), ..Places::default() };
        let root = Path::new("/home/u/project");
        let mode = |mode, network| SandboxConfig { mode, writable: Vec::new(), network };
        let choose = |config: &SandboxConfig, abi| choose_sandbox(config, abi, &places, root);

        let worktree = mode(SandboxMode::Worktree, Network::Allow);
        let confined = choose(&worktree, 7).unwrap();
        assert!(confined.sandbox.is_some() && confined.warnings.is_empty(), "{confined:?}");
        let bare = choose(&worktree, 0).unwrap();
        assert_eq!(bare.sandbox, None);
        assert!(bare.warnings[0].starts_with("this kernel has no usable Landlock (ABI 0;"), "{bare:?}");
        assert_eq!(choose(&worktree, 1).unwrap().sandbox, None, "ABI 1 refuses renames across directories");

        let required = mode(SandboxMode::Required, Network::Allow);
        let refused = choose(&required, 0).unwrap_err();
        assert!(crate::exit::code(&refused) == 2, "{refused}");
        assert!(refused.to_string().contains("[sandbox] mode is \"required\", but this kernel has no usable Landlock"));
        assert!(choose(&required, 2).unwrap().sandbox.is_some());

        let off = choose(&mode(SandboxMode::Off, Network::Deny), 0).unwrap();
        assert_eq!(off, SandboxChoice { sandbox: None, warnings: Vec::new() });

        let deny = mode(SandboxMode::Worktree, Network::Deny);
        assert!(choose(&deny, 4).unwrap().sandbox.unwrap().deny_tcp);
        let old = choose(&deny, 3).unwrap();
        assert!(!old.sandbox.unwrap().deny_tcp && old.warnings[0].contains("TCP is not blocked"), "{:?}", old.warnings);
        assert!(choose(&mode(SandboxMode::Required, Network::Deny), 3).is_err());

        let in_temp = choose_sandbox(&worktree, 7, &places, Path::new("/tmp/project")).unwrap();
        assert!(in_temp.warnings[0].starts_with("the repository lies under /tmp"), "{:?}", in_temp.warnings);
    }
}
