//! `colony doctor`: can this machine run a plan? Which agent CLIs are
//! installed (and their versions), whether git can run the merge queue,
//! whether the store answers. Exits 1 when the default agent cannot run,
//! so a script can check before it starts a night's work.
//!
//! Whether a CLI is logged in cannot be seen without spending a request;
//! a run that meets one that is not stops claiming work and says so.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Result;
use colony_agents::sandbox::{self, Places};
use colony_agents::{CliFacts, CliVersion, ask_version};
use colony_core::config::{AgentKind, Config, SandboxMode};
use colony_core::kind::{self, CliKind};
use colony_core::resolve::named_agents;
use colony_git::GitVersion;
use colony_store::Store;
use serde::Serialize;

use crate::cli::{DoctorArgs, Global};
use crate::ctx::Ctx;
use crate::settings::Overrides;
use crate::{render, settings};

/// How long a `--version` may take; some CLIs start a runtime first.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize)]
struct AgentCheck {
    name: String,
    kind: String,
    /// The program as configured or by its usual name.
    program: String,
    /// Where it was found.
    path: Option<PathBuf>,
    version: Option<String>,
    /// The version colony's adapter is tested against, when the one found
    /// is older: its output may not read as colony expects.
    older_than_tested: Option<String>,
    /// What to do when it is missing, or how it logs in when it is there.
    hint: Option<String>,
}

impl AgentCheck {
    fn runs(&self) -> bool {
        self.path.is_some()
    }
}

#[derive(Debug, Serialize)]
struct Report {
    agents: Vec<AgentCheck>,
    default_agent: Option<String>,
    git: Option<String>,
    merge_tree_write_tree: bool,
    repository: Option<PathBuf>,
    store: Option<String>,
    /// Tasks in the store, when it answered.
    tasks: Option<usize>,
    sandbox: SandboxCheck,
    problems: Vec<String>,
}

/// `[sandbox]` on this machine.
#[derive(Debug, Serialize)]
struct SandboxCheck {
    /// `[sandbox] mode`, as written or by default.
    mode: &'static str,
    /// The kernel's Landlock ABI; 0: none.
    landlock_abi: u8,
    /// Whether a run here confines its agents and gates.
    confined: bool,
    /// Whether a run here refuses to start (`required` without Landlock).
    refused: bool,
}

fn check_sandbox(config: &Config, root: Option<&Path>) -> SandboxCheck {
    let mode = match config.sandbox.mode {
        SandboxMode::Worktree => "worktree",
        SandboxMode::Off => "off",
        SandboxMode::Required => "required",
    };
    let landlock_abi = sandbox::probe();
    let root = root.unwrap_or(Path::new("/"));
    let choice = settings::choose_sandbox(&config.sandbox, landlock_abi, &Places::from_env(), root);
    let confined = choice.as_ref().is_ok_and(|c| c.sandbox.is_some());
    SandboxCheck { mode, landlock_abi, confined, refused: choice.is_err() }
}

pub async fn run(global: &Global, args: DoctorArgs, out: &mut impl Write) -> Result<()> {
    let mut problems = Vec::new();
    let ctx = match Ctx::new(global) {
        Ok(ctx) => Some(ctx),
        Err(e) => {
            problems.push(format!("{e:#}"));
            None
        }
    };
    let config = match &ctx {
        Some(ctx) => settings::load_config(&ctx.root)?,
        None => Config::default(),
    };
    // The agents as a run would have them, `--agent` included.
    let config = settings::run_config(&config, &Overrides { workers: None, agent: args.agent.clone() });
    let root = ctx.as_ref().map(|c| c.root.clone());
    let agents = check_agents(&config, root.as_deref()).await;
    let default_agent = config.run.agent.clone();
    if let Some(name) = &default_agent {
        match agents.iter().find(|a| &a.name == name) {
            Some(a) if a.runs() => {}
            Some(a) => problems.push(format!(
                "the default agent `{name}` cannot run: `{}` is not installed{}",
                a.program,
                a.hint.as_deref().map(|h| format!("; install: {h}")).unwrap_or_default()
            )),
            None => problems.push(format!("the default agent `{name}` is not configured")),
        }
    }
    let git = git_version(root.as_deref());
    let merge_tree_write_tree =
        git.as_deref().and_then(GitVersion::parse).is_some_and(|v| v >= GitVersion::MERGE_TREE_WRITE_TREE);
    match &git {
        None => problems.push("git is not installed; colony needs git 2.38 or later".into()),
        Some(v) if !merge_tree_write_tree => problems
            .push(format!("{v} cannot merge in memory (`git merge-tree --write-tree`); colony needs 2.38 or later")),
        Some(_) => {}
    }
    let (store, tasks) = match &ctx {
        Some(ctx) => match ctx.open_store().await {
            Ok(s) => {
                let counts = s.counts().await;
                s.close().await;
                match counts {
                    Ok(c) => (Some(ctx.store_label()), Some(c.total)),
                    Err(e) => {
                        problems.push(format!("the store {} does not answer: {e}", ctx.store_label()));
                        (Some(ctx.store_label()), None)
                    }
                }
            }
            Err(e) => {
                problems.push(format!("{e:#}"));
                (Some(ctx.store_label()), None)
            }
        },
        None => (None, None),
    };
    let sandbox = check_sandbox(&config, root.as_deref());
    if sandbox.refused {
        problems.push(format!(
            "[sandbox] mode is \"required\", but this kernel cannot confine agents (Landlock ABI {}): \
             `colony run` refuses to start",
            sandbox.landlock_abi
        ));
    }
    let report =
        Report { agents, default_agent, git, merge_tree_write_tree, repository: root, store, tasks, sandbox, problems };
    if args.json {
        render::json(out, &report)?;
    } else {
        write(out, &report)?;
    }
    match report
        .default_agent
        .as_ref()
        .zip(report.agents.iter().find(|a| Some(&a.name) == report.default_agent.as_ref()))
    {
        Some((name, a)) if !a.runs() => {
            anyhow::bail!("the default agent `{name}` cannot run on this machine")
        }
        _ => Ok(()),
    }
}

fn write(out: &mut impl Write, r: &Report) -> Result<()> {
    writeln!(out, "agents:")?;
    let width = r.agents.iter().map(|a| a.name.len()).max().unwrap_or(0);
    for a in &r.agents {
        let mark = if Some(&a.name) == r.default_agent.as_ref() { "  (default)" } else { "" };
        match (&a.path, &a.version) {
            (Some(path), version) => {
                let version = version.as_deref().map(|v| format!("  {v}")).unwrap_or_default();
                writeln!(out, "  {:<width$}  ok       {}{version}{mark}", a.name, path.display())?;
                if let Some(tested) = &a.older_than_tested {
                    writeln!(
                        out,
                        "  {:<width$}  warning  older than {tested}, the version colony reads the output of; \
                         update it, or failures it reports may go unrecognized",
                        ""
                    )?;
                }
            }
            (None, _) => {
                let hint = match (a.kind.as_str(), a.hint.as_deref()) {
                    ("command" | "fake", Some(h)) => format!("; {h}"),
                    (_, Some(h)) => format!("; install: {h}"),
                    (_, None) => String::new(),
                };
                writeln!(out, "  {:<width$}  missing  `{}` not found{hint}{mark}", a.name, a.program)?;
            }
        }
    }
    writeln!(out, "git:")?;
    match &r.git {
        Some(v) if r.merge_tree_write_tree => writeln!(out, "  {v}, merges in memory (merge-tree --write-tree)")?,
        Some(v) => writeln!(out, "  {v}: too old, colony needs 2.38 or later")?,
        None => writeln!(out, "  not found")?,
    }
    writeln!(out, "store:")?;
    match (&r.store, r.tasks) {
        (Some(url), Some(n)) => writeln!(out, "  {url}, reachable, {}", render::count(n, "task"))?,
        (Some(url), None) => writeln!(out, "  {url}, not reachable")?,
        (None, _) => writeln!(out, "  none: not in a git repository")?,
    }
    writeln!(out, "sandbox:")?;
    let abi = match r.sandbox.landlock_abi {
        0 => "no Landlock".to_owned(),
        abi => format!("Landlock ABI {abi}"),
    };
    let what = match (r.sandbox.confined, r.sandbox.refused) {
        (true, _) => "agents and gates write only to their worktrees",
        (false, true) => "`colony run` refuses to start",
        (false, false) => "agents and gates run unconfined",
    };
    writeln!(out, "  {}, {abi}: {what}", r.sandbox.mode)?;
    if r.default_agent.is_none() {
        writeln!(out, "\nno default agent: set [run] agent in colony.toml, or pass `colony run --agent NAME`")?;
    }
    if !r.problems.is_empty() {
        writeln!(out, "\nproblems:")?;
        for p in &r.problems {
            writeln!(out, "  {p}")?;
        }
    }
    let found: Vec<&AgentCheck> =
        r.agents.iter().filter(|a| a.runs() && a.kind != "command" && a.kind != "fake").collect();
    if !found.is_empty() {
        writeln!(
            out,
            "\ncolony cannot see whether a CLI is logged in; if a run finds one that is not, it stops and says so:"
        )?;
        for a in found {
            if let Some(hint) = &a.hint {
                writeln!(out, "  {:<width$}  {hint}", a.name)?;
            }
        }
    }
    Ok(())
}

/// Every agent CLI colony knows, as configured or with its defaults, then
/// the other agents the configuration names (its tables, its default, its
/// reviewers), as a run resolves them.
async fn check_agents(config: &Config, root: Option<&Path>) -> Vec<AgentCheck> {
    let clis = CliKind::ALL.map(CliKind::name);
    let mut names: Vec<&str> = clis.to_vec();
    names.extend(named_agents(config).into_iter().filter(|name| !clis.contains(name)));
    let mut checks = Vec::new();
    for name in names {
        let Some(agent) = config.agent(name) else { continue };
        let name = name.to_owned();
        checks.push(match agent.kind {
            AgentKind::Cli(cli) => {
                let kind = cli.cli;
                let program = cli.binary.clone().unwrap_or_else(|| kind.binary().to_owned());
                let path = find_program(&program, root);
                let version = match &path {
                    Some(path) => {
                        let argv: Vec<OsString> = std::iter::once(path.clone().into_os_string())
                            .chain(kind.version_args().iter().map(Into::into))
                            .collect();
                        ask_version(&argv, &std::env::temp_dir(), VERSION_TIMEOUT).await
                    }
                    None => None,
                };
                let hint = Some(if path.is_some() { kind.login_hint() } else { kind.install_hint() }.to_owned());
                let older_than_tested = older_than_tested(kind, version.as_deref());
                AgentCheck { name, kind: kind.name().to_owned(), program, path, version, older_than_tested, hint }
            }
            AgentKind::Command { command } => {
                let program = command[0].clone();
                let path = find_program(&program, root);
                AgentCheck {
                    name,
                    kind: kind::COMMAND.into(),
                    program,
                    path,
                    version: None,
                    older_than_tested: None,
                    hint: None,
                }
            }
            AgentKind::Fake => {
                let path = settings::fake_agent_exe().ok();
                let hint = Some("it is built with colony: `cargo build` puts it next to colony".to_owned());
                AgentCheck {
                    name,
                    kind: kind::FAKE.into(),
                    program: "colony-fake-agent".into(),
                    path,
                    version: None,
                    older_than_tested: None,
                    hint,
                }
            }
        });
    }
    checks
}

/// The tested version of `kind`'s adapter, when `version` (what the CLI
/// printed) is older than it.
fn older_than_tested(kind: CliKind, version: Option<&str>) -> Option<String> {
    let (found, tested) = (CliVersion::parse(version?)?, kind.tested_version()?);
    (found < tested).then(|| tested.to_string())
}

/// `program` as a path (relative ones with a `/` from the repository root)
/// or by name on `PATH`, if it is an executable file.
fn find_program(program: &str, root: Option<&Path>) -> Option<PathBuf> {
    let given = Path::new(program);
    if program.contains('/') {
        let path = match root {
            Some(root) if given.is_relative() => root.join(given),
            _ => given.to_owned(),
        };
        return is_executable(&path).then_some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(program)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `git version 2.47.3`, from the repository's git when there is one.
fn git_version(root: Option<&Path>) -> Option<String> {
    let mut git = Command::new("git");
    if let Some(root) = root {
        git.current_dir(root);
    }
    let out = git.arg("--version").env("LC_ALL", "C").stdin(Stdio::null()).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success().then(|| text.trim().to_owned())
}
