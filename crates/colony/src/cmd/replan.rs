//! `colony replan ID`: a planner agent proposes tasks to replace a failed
//! one (`colony_engine::planner`); once the person agrees, the store swaps
//! them in, in one step (the task ends `replaced`), and the plan's file is
//! rewritten to match.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result};
use colony_agents::cut::cut_middle;
use colony_core::plan::{Replacement, to_json, to_yaml};
use colony_core::{Plan, TaskState};
use colony_engine::planner::Replacing;
use colony_engine::prompts::AttemptVars;
use colony_store::{Store, TaskFilter};

use super::plan::{Said, Setup, cancellable};
use crate::cli::ReplanArgs;
use crate::ctx::Ctx;
use crate::exit::bad_input;
use crate::render;

/// The most of an attempt's reason, and of its agent's last words, the
/// planner is told.
const MAX_TOLD: usize = 2000;

pub async fn run(ctx: &Ctx, args: ReplanArgs, out: &mut impl Write) -> Result<()> {
    let store = ctx.open_store().await?;
    let Some(detail) = store.task(&args.id).await? else {
        return Err(bad_input(format!("there is no task `{}`", args.id)));
    };
    let task = &detail.record.task;
    let why = match &task.state {
        TaskState::Failed { reason } => format!("it failed: {}", cut_middle(reason, MAX_TOLD)),
        TaskState::Blocked { by } => format!("it is blocked: it depends on {by}, which failed or was cancelled"),
        other => {
            return Err(bad_input(format!(
                "task {} is {}; only a failed or blocked task can be replanned",
                task.id,
                other.status()
            )));
        }
    };
    let asks = !args.yes;
    if asks && !std::io::stdin().is_terminal() {
        return Err(bad_input(
            "colony replan asks before it changes the plan, and stdin is not a terminal: pass --yes to replace without asking",
        ));
    }
    let setup = Setup::load(ctx, args.agent.as_ref())?;
    let plan = store.export_plan(task.plan.as_str()).await?;
    let source = store.plans().await?.into_iter().find(|p| p.name == task.plan).map(|p| p.source).unwrap_or_default();
    let filter = TaskFilter { statuses: Vec::new(), plan: Some(task.plan.to_string()) };
    let statuses: BTreeMap<String, String> =
        store.tasks(&filter).await?.into_iter().map(|t| (t.task.id.to_string(), t.task.status().to_string())).collect();
    let attempts = detail
        .attempts
        .iter()
        .map(|a| AttemptVars {
            attempt: a.attempt,
            outcome: a.outcome.clone().unwrap_or_else(|| "running".into()),
            reason: a.reason.as_deref().map(|r| cut_middle(r, MAX_TOLD).into_owned()),
            answer: a.answer.as_deref().map(|r| cut_middle(r, MAX_TOLD).into_owned()),
        })
        .collect();
    let replacing = Replacing { plan: &plan, task: &detail.spec, why, attempts, statuses: &statuses };

    let planner = setup.planner();
    let mut progress = Said { agent: &setup.name };
    let planned = cancellable(async |cancel| planner.replan(&replacing, &mut progress, cancel).await).await;
    let (_, replacement, _) = setup.accepted(ctx, planned?, "replacement", "nothing changed")?;
    show(out, task.id.as_str(), task.status().as_str(), &replacement)?;
    if asks && !agreed(out)? {
        writeln!(out, "nothing changed")?;
        return Ok(());
    }
    store.replace_task(&replacement.plan, &source, &task.id).await?;
    store.close().await;
    writeln!(out, "replaced: task {} is replaced, the new tasks are in the queue", task.id)?;
    if !source.is_empty() {
        match rewrite(&ctx.root.join(&source), &replacement.plan, task.id.as_str())? {
            true => writeln!(out, "rewrote {source} to match")?,
            false => writeln!(
                out,
                "{source} still holds task {}: `colony export --plan {} -o FILE` writes the plan as it is now",
                task.id, task.plan
            )?,
        }
    }
    writeln!(out, "next: `colony run`")?;
    Ok(())
}

/// The proposal, for the person to agree to.
fn show(out: &mut impl Write, id: &str, status: &str, r: &Replacement) -> Result<()> {
    writeln!(out, "replace task {id} ({status}) with {}:", render::count(r.added.len(), "task"))?;
    for new in &r.added {
        let spec = r.plan.tasks.iter().find(|t| &t.id == new).expect("an added task is in the plan");
        let after = match spec.deps.as_slice() {
            [] => String::new(),
            deps => format!(" (after {})", deps.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
        };
        writeln!(out, "  {new}  {}{after}", spec.title)?;
    }
    for moved in &r.rewired {
        let spec = r.plan.tasks.iter().find(|t| &t.id == moved).expect("a rewired task is in the plan");
        let deps: Vec<String> = spec.deps.iter().map(ToString::to_string).collect();
        writeln!(out, "{moved} will depend on {} instead of {id}", deps.join(", "))?;
    }
    Ok(())
}

/// Asks on the terminal; only `y` or `yes` agrees.
fn agreed(out: &mut impl Write) -> Result<bool> {
    write!(out, "replace it? [y/N] ")?;
    out.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// Writes `plan` over its file when it is a YAML or JSON file (true), whole
/// or not at all; a TOML file, or one that is gone, is left alone (false).
fn rewrite(path: &Path, plan: &Plan, replaced: &str) -> Result<bool> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
    let text = match extension {
        "yaml" | "yml" => format!(
            "# Rewritten by `colony replan` on {}: task {replaced} replaced.\n{}",
            render::date_time(render::now_millis()),
            to_yaml(plan)
        ),
        "json" => to_json(plan),
        _ => return Ok(false),
    };
    if !path.is_file() {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("could not write in {}", dir.display()))?;
    file.write_all(text.as_bytes())?;
    file.persist(path).with_context(|| format!("could not write {}", path.display()))?;
    Ok(true)
}
