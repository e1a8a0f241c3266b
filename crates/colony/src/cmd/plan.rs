//! `colony plan GOAL`: a planner agent makes a plan from a goal
//! (`colony_engine::planner`); this writes it out, summarises it, and with
//! `--run` runs it.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use anyhow::{Context, Result};
use colony_agents::sandbox::Sandbox;
use colony_core::config::Config;
use colony_core::dag::Dag;
use colony_core::input::read_limited;
use colony_core::layout::Layout;
use colony_core::{Millis, Plan};
use colony_engine::AgentSetup;
use colony_engine::planner::{Planned, Planner, Progress};
use colony_engine::prompts::Prompts;
use colony_store::Store;
use tokio_util::sync::CancellationToken;

use super::run::{Job, execute};
use crate::cli::PlanArgs;
use crate::ctx::Ctx;
use crate::exit::{Unfinished, bad_input};
use crate::progress::Mode;
use crate::settings::{self, Overrides};
use crate::{render, terminal};

/// The most of a goal file read.
const MAX_GOAL_BYTES: u64 = 64 * 1024;

pub async fn run(ctx: &Ctx, args: PlanArgs, out: &mut impl Write) -> Result<()> {
    let goal = goal(&args)?;
    let setup = Setup::load(ctx, args.agent.as_ref())?;
    let config = &setup.config;
    if let Some(path) = &args.output
        && path.exists()
    {
        return Err(bad_input(format!("{} exists already; name another file with --output", path.display())));
    }
    let store = ctx.open_store().await?;
    let taken_in_store: Vec<String> = store.plans().await?.into_iter().map(|p| p.name.to_string()).collect();
    store.close().await;

    let plans_dir = ctx.root.join("plans");
    let fixed_output = args.output.is_some();
    let taken = |plan: &str| {
        if taken_in_store.iter().any(|p| p == plan) {
            return Some("the store has a plan of that name".to_owned());
        }
        let file = plans_dir.join(format!("{plan}.yaml"));
        (!fixed_output && file.exists()).then(|| format!("plans/{plan}.yaml exists"))
    };
    let planner = setup.planner();
    let mut progress = Said { agent: &setup.name };
    let planned = cancellable(async |cancel| planner.plan(&goal, &taken, &mut progress, cancel).await).await;
    let (text, plan, rounds) = setup.accepted(ctx, planned?, "plan", "nothing was written")?;
    let path = args.output.clone().unwrap_or_else(|| plans_dir.join(format!("{}.yaml", plan.name)));
    write_plan(&path, &header(&goal, &setup.name, rounds, setup.stamp), &text)?;
    let shown = ctx.rel(&path);
    let plan = if args.edit { edited(&path, config)? } else { *plan };
    summarise(out, &plan, &shown, rounds)?;
    if !args.run {
        writeln!(out, "\nnext: read it, then `colony run {shown}`")?;
        return Ok(());
    }
    writeln!(out)?;
    out.flush()?;
    let job = Job {
        plans: vec![path],
        overrides: Overrides { workers: args.jobs.map(usize::from), agent: None },
        mode: if std::io::stdout().is_terminal() { Mode::Live } else { Mode::Lines },
        serve: None,
        join: false,
        allow_failing_gates: false,
    };
    match execute(ctx, &job, out).await? {
        Some(report) if !report.all_done() => Err(Unfinished.into()),
        _ => Ok(()),
    }
}

/// The goal as given, or read from `--file`; never empty.
fn goal(args: &PlanArgs) -> Result<String> {
    let goal = match (&args.goal, &args.file) {
        (Some(goal), _) => goal.clone(),
        (None, Some(file)) => {
            let bytes = read_limited(file, MAX_GOAL_BYTES)
                .map_err(|e| bad_input(format!("cannot read the goal from {}: {e}", file.display())))?;
            String::from_utf8(bytes).map_err(|_| bad_input(format!("{} is not UTF-8 text", file.display())))?
        }
        (None, None) => unreachable!("clap requires a goal or --file"),
    };
    if goal.trim().is_empty() {
        return Err(bad_input("the goal is empty: say what the plan is to achieve"));
    }
    Ok(goal)
}

/// What tops the written plan: where it came from.
fn header(goal: &str, agent: &str, rounds: u32, at: Millis) -> String {
    let mut header = format!(
        "# Planned by `colony plan` with agent `{agent}` on {} ({}), for the goal:\n",
        render::date_time(at),
        render::count(rounds as usize, "round")
    );
    for line in goal.trim().lines() {
        header.push_str(&format!("#   {line}\n"));
    }
    header
}

/// Writes the plan whole or not at all.
pub(crate) fn write_plan(path: &Path, header: &str, text: &str) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let mut file =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("could not write in {}", dir.display()))?;
    file.write_all(format!("{header}{}\n", text.trim_end()).as_bytes())?;
    file.persist(path).with_context(|| format!("could not write {}", path.display()))?;
    Ok(())
}

/// Opens the plan in the person's editor, then reads it again: what they
/// saved is what is summarised and run.
fn edited(path: &Path, config: &Config) -> Result<Plan> {
    let editor = std::env::var("VISUAL").or_else(|_| std::env::var("EDITOR")).unwrap_or_else(|_| "vi".into());
    let mut words = editor.split_whitespace();
    let program = words.next().ok_or_else(|| bad_input("$EDITOR is empty"))?;
    let status = std::process::Command::new(program)
        .args(words)
        .arg(path)
        .status()
        .with_context(|| format!("could not start the editor `{editor}`"))?;
    if !status.success() {
        return Err(bad_input(format!(
            "the editor `{editor}` failed ({status}); the plan is kept in {}",
            path.display()
        )));
    }
    let mut plans = super::add::load_all(&[PathBuf::from(path)], config)?;
    Ok(plans.remove(0).1)
}

/// `plan health: 6 tasks in plans/health.yaml`, its chain, its width and
/// its most shared files.
fn summarise(out: &mut impl Write, plan: &Plan, shown: &str, rounds: u32) -> Result<()> {
    writeln!(
        out,
        "plan {}: {} in {shown} ({} of the planner)",
        plan.name,
        render::count(plan.tasks.len(), "task"),
        render::count(rounds as usize, "answer")
    )?;
    let Some(shape) = Dag::new(&plan.tasks).shape() else {
        return Ok(());
    };
    writeln!(out, "  longest chain: {} ({})", render::count(shape.depth, "task"), shape.critical_path.join(" → "))?;
    writeln!(out, "  at most {} at once", render::count(shape.width, "task"))?;
    if !shape.contended.is_empty() {
        let shared: Vec<String> = shape.contended.iter().map(|(glob, n)| format!("{glob} ({n} tasks)")).collect();
        writeln!(out, "  files most shared: {}", shared.join(", "))?;
    }
    Ok(())
}

/// What a planner runs with, checked before it starts.
pub(super) struct Setup {
    /// The agent's name.
    pub name: String,
    pub config: Config,
    agent: AgentSetup,
    prompts: Arc<Prompts>,
    sandbox: Option<Sandbox>,
    repo: colony_git::Repo,
    /// When it started: names its directory.
    pub stamp: Millis,
    dir: PathBuf,
}

impl Setup {
    /// The planner's agent is `agent`, else `[plan] agent`, else `[run]
    /// agent`.
    pub fn load(ctx: &Ctx, agent: Option<&String>) -> Result<Setup> {
        let config = settings::load_config(&ctx.root)?;
        let name = match agent.or(config.plan.agent.as_ref()).or(config.run.agent.as_ref()) {
            Some(name) => name.clone(),
            None => {
                return Err(bad_input(
                    "no agent to plan with: pass --agent NAME, or set `agent` in colony.toml's [plan] or [run]",
                ));
            }
        };
        let agent = settings::agent_setup(&settings::named_agent(&config, &name)?, &ctx.root)?;
        let prompts = settings::prompts(&ctx.root, &config)?;
        let sandbox = settings::sandbox(&config, &ctx.root)?;
        let repo = colony_git::Repo::open(&ctx.root)
            .with_context(|| format!("could not open the repository {}", ctx.root.display()))?;
        let stamp = render::now_millis();
        let dir = Layout::new(&ctx.root).colony_dir().join("planner").join(stamp.to_string());
        Ok(Setup { name, config, agent, prompts, sandbox, repo, stamp, dir })
    }

    /// What the planner gave, when colony accepted it; else says why not
    /// (it was stopped, or every `noun` it gave was refused, and so
    /// `untouched`) and exits 3.
    pub fn accepted<T>(
        &self,
        ctx: &Ctx,
        planned: Planned<T>,
        noun: &str,
        untouched: &str,
    ) -> Result<(String, Box<T>, u32)> {
        match planned {
            Planned::Plan { text, plan, rounds } => return Ok((text, plan, rounds)),
            Planned::Stopped => terminal::eprint(&format!("stopped before the planner gave a {noun}; {untouched}\n")),
            Planned::Refused { rounds, refusal } => terminal::eprint(&format!(
                "error: the planner gave no {noun} colony accepts in {}; the last refusal:\n{refusal}\n\
                 (its log: {}; more rounds: `max_rounds` in colony.toml's [plan]); {untouched}\n",
                render::count(rounds as usize, "answer"),
                ctx.rel(&self.dir.join("log.jsonl"))
            )),
        }
        Err(Unfinished.into())
    }

    pub fn planner(&self) -> Planner<'_> {
        Planner {
            repo: &self.repo,
            dir: self.dir.clone(),
            agent: &self.agent,
            prompts: &self.prompts,
            sandbox: self.sandbox.as_ref(),
            env: &self.config.worktree.env,
            max_rounds: self.config.plan.max_rounds,
            timeout: self.config.run.timeout,
            silence_timeout: self.config.run.silence_timeout,
            grace: self.config.run.grace,
            integration: &self.config.run.integration_branch,
            roles: &self.config.roles,
        }
    }
}

/// Runs `work` with a token that Ctrl-C cancels.
pub(super) async fn cancellable<T>(work: impl AsyncFnOnce(&CancellationToken) -> T) -> T {
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.cancel();
        }
    });
    let done = work(&cancel).await;
    ctrl_c.abort();
    done
}

/// Progress on stderr, so that stdout is the summary alone.
pub(super) struct Said<'a> {
    pub agent: &'a str,
}

impl Progress for Said<'_> {
    fn asking(&mut self, round: u32, of: u32) {
        terminal::eprint(&format!("planning with agent `{}` (answer {round} of at most {of})…\n", self.agent));
    }

    fn refused(&mut self, round: u32, refusal: &str) {
        let first = refusal.lines().next().unwrap_or_default();
        let more = refusal.lines().count().saturating_sub(1);
        let more = if more > 0 { format!(" (and {})", render::count(more, "more problem")) } else { String::new() };
        terminal::eprint(&format!("answer {round} refused: {first}{more}; it goes back to the planner\n"));
    }
}
