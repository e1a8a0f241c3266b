//! `colony run [PLAN...]`: drive the store's tasks to the end.
//!
//! Everything that can be refused is checked before the first agent
//! starts: the plan files (as `colony add` checks them), `colony.toml`, the
//! agent of every task still to run, git's version. Then the engine runs
//! while this command tails the event log to show progress and listens for
//! Ctrl-C: the first drains (no new claims; running attempts may finish
//! within the shutdown grace), the second stops everything at once. Either
//! way the tasks that did not finish go back to `ready`, and the next
//! `colony run` carries on.
//!
//! While it runs, colony is the subreaper of what its agents start: an
//! orphan among those processes is reparented to colony, not to init, and
//! whatever of them still runs when the run ends is stopped.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use colony_agents::Shutdown;
use colony_core::config::{Config, NoticeKind};
use colony_core::{Millis, Plan, TaskStatus};
use colony_engine::notify::Notifier;
use colony_engine::prompts::Prompts;
use colony_engine::{Engine, RunReport};
use colony_git::Repo;
use colony_store::{AddOptions, Clock, SqlStore, Store, SystemClock, TaskFilter};
use colony_web::Server;
use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
use crate::cmd::add;
use crate::cmd::serve::Dashboard;
use crate::ctx::Ctx;
use crate::exit::Unfinished;
use crate::presence::Presence;
use crate::progress::{Mode, Progress};
use crate::settings::{self, Overrides};
use crate::signal::Interrupts;
use crate::{render, summary, terminal};

pub async fn run(ctx: &Ctx, args: RunArgs, out: &mut impl Write) -> Result<()> {
    if args.detach {
        return crate::cmd::detach::start(ctx, out).await;
    }
    let mode = match (args.json, args.quiet) {
        (true, _) => Mode::Json,
        (false, true) => Mode::Quiet,
        (false, false) if std::io::stdout().is_terminal() => Mode::Live,
        (false, false) => Mode::Lines,
    };
    let job = Job {
        plans: args.plans,
        overrides: Overrides { workers: args.jobs.map(usize::from), agent: args.agent },
        mode,
        serve: args.serve.then_some(args.addr),
        join: false,
        allow_failing_gates: args.allow_failing_gates,
    };
    match execute(ctx, &job, out).await? {
        Some(report) if !report.all_done() => Err(Unfinished.into()),
        _ => Ok(()),
    }
}

/// A run as `colony run` and `colony demo` ask for it.
pub struct Job {
    /// Plan files to import first.
    pub plans: Vec<PathBuf>,
    pub overrides: Overrides,
    pub mode: Mode,
    /// Serve the dashboard here while the run lasts.
    pub serve: Option<SocketAddr>,
    /// `colony worker`: an empty store is waited on, not "nothing to do".
    pub join: bool,
    /// `--allow-failing-gates`.
    pub allow_failing_gates: bool,
}

/// Imports the job's plans, runs the engine to the end with progress, and
/// prints the summary. Returns the engine's report, or `None` when the
/// store holds no tasks at all.
pub async fn execute(ctx: &Ctx, job: &Job, out: &mut impl Write) -> Result<Option<RunReport>> {
    let config = settings::load_config(&ctx.root)?;
    let plans = add::load_all(&job.plans, &config)?;
    if let Some(agent) = &job.overrides.agent {
        settings::check_agent_name(&config, agent)?;
    }
    let repo = open_repo(ctx)?;
    let sandbox = settings::sandbox(&config, &ctx.root)?;
    let prompts = settings::prompts(&ctx.root, &config)?;
    // Bound before anything is written: a taken address changes nothing.
    let server = match job.serve {
        Some(addr) => Some(Dashboard::bind(addr).await?),
        None => None,
    };
    let checked = Checked { plans, config, repo, server, sandbox, prompts };
    let store = Arc::new(ctx.open_store().await?);
    let outcome = drive(ctx, job, checked, &store, out).await;
    store.close().await;
    outcome
}

/// What is read, checked and bound before the store is opened.
struct Checked {
    plans: Vec<(PathBuf, Plan)>,
    config: Config,
    repo: Repo,
    server: Option<Server>,
    sandbox: Option<colony_agents::sandbox::Sandbox>,
    prompts: Arc<Prompts>,
}

/// The repository, checked for a git that can run the merge queue.
fn open_repo(ctx: &Ctx) -> Result<Repo> {
    let repo =
        Repo::open(&ctx.root).with_context(|| format!("could not open the repository {}", ctx.root.display()))?;
    if !repo.supports_merge_tree_write_tree()? {
        anyhow::bail!(
            "colony needs git 2.38 or later to merge (it uses `git merge-tree --write-tree`); found git {}",
            repo.version()?
        );
    }
    Ok(repo)
}

async fn drive(
    ctx: &Ctx,
    job: &Job,
    checked: Checked,
    store: &Arc<SqlStore>,
    out: &mut impl Write,
) -> Result<Option<RunReport>> {
    let Checked { plans, config, repo, server, sandbox, prompts } = checked;
    let config = &config;
    if !plans.is_empty() {
        let reports = add::import(ctx, &**store, plans, config, AddOptions::default()).await?;
        if job.mode.for_people() {
            add::write_reports(out, &reports)?;
        }
    }
    let counts = store.counts().await?;
    if counts.total == 0 && !job.join {
        let mut stderr = terminal::stderr();
        let text: &mut dyn Write = if job.mode == Mode::Json { &mut stderr } else { out };
        writeln!(
            text,
            "nothing to do: there are no tasks yet; give `colony run` a plan file, or add one with `colony add PLAN`"
        )?;
        return Ok(None);
    }
    let mut settings = settings::engine_settings(config, &job.overrides, &**store, &ctx.root).await?;
    settings.remote = settings::shared_remote(config, &ctx.url, &repo)?;
    settings.wait_for_plans = job.join;
    settings.allow_failing_gates = job.allow_failing_gates;
    settings.sandbox = sandbox;
    settings.prompts = prompts;
    settings.talk = Some(colony_engine::talk::TalkCommand {
        program: std::env::current_exe().context("could not find colony's own executable")?,
        args: vec!["mcp".into(), "attempt".into()],
    });
    settings.notices = colony_engine::Notices::new(|text| terminal::eprint(&format!("colony: {text}\n")));
    let workers = settings.workers;
    let grace = settings.config.run.shutdown_grace;
    let done_before = counts.get(TaskStatus::Done);
    let to_run: usize = TaskStatus::UNFINISHED.iter().map(|s| counts.get(*s)).sum();
    let longest_id =
        store.tasks(&TaskFilter::default()).await?.iter().map(|t| t.task.id.as_str().len()).max().unwrap_or(0);
    let shutdown = Shutdown::new();
    let dashboard_url = server.as_ref().map(|s| format!("http://{}", s.local_addr()));
    let dashboard = match server {
        Some(server) => {
            let mut stderr = terminal::stderr();
            let text: &mut dyn Write = if job.mode == Mode::Json { &mut stderr } else { out };
            let pattern = &config.run.integration_branch;
            let agent = colony_core::resolve::DefaultAgents::of(&settings.config);
            Some(Dashboard::start(ctx, server, store, pattern, agent, Some(shutdown.clone()), text)?)
        }
        None => None,
    };
    let shared = settings.remote.as_ref().map(|r| format!(", merging on the remote {r}")).unwrap_or_default();
    if job.mode.for_people() && job.join {
        let tasks = match counts.total {
            0 => "a run (no plan added yet)".to_owned(),
            _ => format!("a run of {} ({to_run} to go)", render::count(counts.total, "task")),
        };
        writeln!(out, "joining {tasks} with {}{shared}; Ctrl-C leaves", render::count(workers, "worker"))?;
        out.flush()?;
    } else if job.mode.for_people() && to_run > 0 {
        let tasks = match to_run < counts.total {
            true => format!("{to_run} of {}", render::count(counts.total, "task")),
            false => render::count(to_run, "task"),
        };
        writeln!(out, "running {tasks} on {}{shared}; Ctrl-C stops", render::count(workers, "worker"))?;
        out.flush()?;
    }

    // Orphans among the agents' processes come to colony rather than to
    // init, so that none outlives the run.
    if let Err(e) = colony_agents::adopt_orphans() {
        terminal::eprint(&format!("colony: {e}; a process an agent starts outside its group may outlive colony\n"));
    }
    let say = settings.notices.clone();
    let engine = Engine::new(store.clone(), repo, settings);
    let mut interrupts = Interrupts::install()?;
    // Recorded once an interrupt is heard, so that `colony stop` never
    // finds a run a signal would kill.
    let presence = Presence::register(store, crate::cmd::detach::detached(), dashboard_url).await?;
    if job.mode.for_people() {
        for other in crate::presence::active(store).await?.iter().filter(|r| r.id != presence.entry.id) {
            let how = crate::presence::describe(other);
            writeln!(out, "another run works on this store too ({how}); this one adds its workers to it")?;
        }
    }
    let notifier = Notifier::start(store.clone(), &config.notify, say, presence.entry.id.clone());
    let started_at = SystemClock.now();
    let mut progress = Progress::new(job.mode, store.last_seq().await?, longest_id, counts.total, done_before);
    let finished = CancellationToken::new();
    let engine_run = async {
        let report = engine.run(shutdown.clone()).await;
        finished.cancel();
        report
    };
    let watch = progress.follow(&**store, out, &finished);
    let stop = async {
        tokio::select! {
            () = interrupts.next() => {}
            () = finished.cancelled() => return,
        }
        shutdown.drain();
        terminal::eprint(&format!(
            "stopping: running attempts may finish (up to {}); press Ctrl-C again to stop now\n",
            humantime::format_duration(grace)
        ));
        tokio::select! {
            () = interrupts.next() => {}
            () = finished.cancelled() => return,
        }
        shutdown.now();
        terminal::eprint("stopping now: the agents are being stopped and their tasks go back to the queue\n");
    };
    let (report, shown, ()) = tokio::join!(engine_run, watch, stop);
    let touched = plans_touched(store, started_at).await;
    let mut written = Vec::new();
    if let Some(notifier) = notifier {
        written = tell_finished(ctx, store, config, &report, to_run > 0 || job.join, &touched).await;
        notifier.finish(FINISH_WAIT).await;
    }
    presence.end(store).await?;
    let stray = colony_agents::end_adopted().await;
    if stray > 0 {
        let what = if stray == 1 { "process" } else { "processes" };
        terminal::eprint(&format!("colony: stopped {stray} {what} the agents left running\n"));
    }
    if let Some(dashboard) = dashboard {
        dashboard.stop().await?;
    }
    let report = report.context("the run stopped on an error")?;
    shown?;

    // With --json, stdout carries only events; people read the rest on
    // stderr.
    let mut stderr = terminal::stderr();
    let text: &mut dyn Write = if job.mode == Mode::Json { &mut stderr } else { out };
    if job.mode.for_people() && to_run > 0 {
        // Set the summary apart from the progress lines.
        writeln!(text)?;
    }
    summary::write_recovered(text, &report.recovered)?;
    if done_before == counts.total && counts.total > 0 {
        writeln!(text, "nothing to do: all {} are done", render::count(counts.total, "task"))?;
    } else {
        let reports = summary::Reports { plans: &touched, written: &written };
        summary::write(text, &report, to_run > 0 || job.join, &reports)?;
    }
    Ok(Some(report))
}

/// How long a run's end waits at most for its notices to go out; a sink
/// already failing is not waited for (see `colony_engine::notify`).
const FINISH_WAIT: Duration = Duration::from_secs(5);

/// The plans whose tasks moved in this run, by name.
async fn plans_touched(store: &SqlStore, started_at: Millis) -> Vec<String> {
    match store.tasks(&TaskFilter::default()).await {
        Ok(tasks) => {
            let plans: BTreeSet<String> =
                tasks.iter().filter(|t| t.updated_at >= started_at).map(|t| t.task.plan.to_string()).collect();
            plans.into_iter().collect()
        }
        Err(e) => {
            terminal::eprint(&format!("colony: could not tell which plans this run worked on: {e}\n"));
            Vec::new()
        }
    }
}

/// Records the run's end in the log for `[notify]`, with an HTML report
/// of each plan it worked on when `run_finished` is wanted; gives the
/// reports' paths, relative to the repository. Trouble here is said, and
/// costs the run nothing.
async fn tell_finished(
    ctx: &Ctx,
    store: &SqlStore,
    config: &Config,
    report: &Result<RunReport, colony_engine::EngineError>,
    ran: bool,
    plans: &[String],
) -> Vec<String> {
    if !config.notify.on.contains(&NoticeKind::RunFinished) {
        return Vec::new();
    }
    let summary = match report {
        Ok(report) => summary::in_a_line(report, ran),
        Err(e) => format!("the run stopped on an error: {e}"),
    };
    let mut reports = Vec::new();
    for plan in plans {
        let path = Path::new(".colony").join("reports").join(format!("{plan}.html"));
        match crate::cmd::report::write_html(ctx, store, plan, &ctx.root.join(&path)).await {
            Ok(()) => reports.push(path.display().to_string()),
            Err(e) => terminal::eprint(&format!("colony: no report on plan {plan}: {e:#}\n")),
        }
    }
    let absolute: Vec<String> = reports.iter().map(|r| ctx.root.join(r).display().to_string()).collect();
    if let Err(e) = store.run_finished(&summary, &absolute).await {
        terminal::eprint(&format!("colony: could not record the run's end for [notify]: {e}\n"));
    }
    reports
}
