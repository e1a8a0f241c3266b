//! `colony demo`: the whole flow on a sample project, in under a minute.
//!
//! It builds a scratch repository (a README and a few notes), sets colony
//! up in it with the demo's own `colony.toml` (the fake agent, a TODO
//! gate) and runs a 12-task plan through `colony run`'s own code, so what
//! a newcomer sees is exactly what a real run prints. The plan's `fake:`
//! blocks make one task fail once, one fail a gate and fix it, and two
//! conflict; afterwards the attempt logs are read back to point each of
//! those out, and the repository is left for the user to explore.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use colony_agents::{Entry, LogReader};
use colony_core::TaskId;
use colony_core::layout::Layout;
use colony_core::record::Record;
use colony_store::{Store, StoreUrl, TaskFilter};

use crate::cli::DemoArgs;
use crate::cmd::init;
use crate::cmd::run::{self, Job};
use crate::ctx::{Ctx, STATE_DIR};
use crate::exit::{Unfinished, bad_input};
use crate::progress::Mode;
use crate::repo;
use crate::settings::Overrides;

const CONFIG: &str = include_str!("demo/colony.toml");
const PLAN: &str = include_str!("demo/plan.yaml");
const PLAN_FILE: &str = "plans/demo.yaml";

/// The project the plan works on: a notebook of field notes.
const PROJECT: &[(&str, &str)] = &[
    ("README.md", "# Field notes\n\nNotes from walks on the coast, one Markdown file each in `notes/`.\n"),
    ("notes/bees.md", "# Bees in the dunes\n\nMining bees nest in the bare sand behind the first dune.\n"),
    ("notes/tides.md", "# Spring tides\n\nThe lowest tide of the year uncovered the old jetty.\n"),
];

/// The task that fails its first attempt, the one a gate sends back, and
/// the two that conflict: what the plan's `fake:` blocks arrange.
const RETRIED: &str = "feed";
const GATE_FIXED: &str = "about-page";
const CONFLICTING: [&str; 2] = ["base-styles", "dark-styles"];

pub async fn run(args: DemoArgs, out: &mut impl Write) -> Result<()> {
    let dir = match &args.keep {
        Some(dir) => prepare_dir(dir)?,
        None => tempfile::Builder::new()
            .prefix("colony-demo-")
            .tempdir()
            .context("could not create a temporary directory")?
            .keep(),
    };
    write_project(&dir)?;
    // Always its own SQLite store: a COLONY_STORE pointing at a shared
    // database must not receive the demo's tasks.
    let root = repo::root(Some(&dir))?;
    let ctx = Ctx { url: StoreUrl::Sqlite(root.join(STATE_DIR).join("colony.db")), root };
    init::run(&ctx, &mut std::io::sink()).await?;

    writeln!(out, "colony demo, in a scratch git repository at {}:", ctx.root.display())?;
    writeln!(out, "a notebook of field notes, and a 12-task plan ({PLAN_FILE}) to turn them into a")?;
    writeln!(out, "small website. colony's fake agent does the work, four tasks at a time.\n")?;
    out.flush()?;

    let job = Job {
        plans: vec![ctx.root.join(PLAN_FILE)],
        overrides: Overrides { workers: Some(4), agent: None },
        mode: if std::io::stdout().is_terminal() { Mode::Live } else { Mode::Lines },
        serve: None,
        join: false,
        allow_failing_gates: false,
    };
    let report = run::execute(&ctx, &job, out).await?;
    let store = ctx.open_store().await?;
    let story = what_happened(&ctx, &store).await;
    store.close().await;
    let story = story?;
    if !story.is_empty() {
        writeln!(out, "\nwhat to notice:")?;
        for line in story {
            writeln!(out, "  - {line}")?;
        }
    }
    where_to_look(out, &ctx.root)?;
    match report {
        Some(report) if report.all_done() => Ok(()),
        _ => Err(Unfinished.into()),
    }
}

/// `--keep DIR`: a new or empty directory, made if missing.
fn prepare_dir(dir: &Path) -> Result<PathBuf> {
    if dir.exists() && dir.read_dir().with_context(|| format!("could not read {}", dir.display()))?.next().is_some() {
        return Err(bad_input(format!(
            "--keep {}: the directory is not empty; give a new or empty one",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    Ok(dir.to_path_buf())
}

/// The repository: the project, the demo's config and plan, one commit.
fn write_project(dir: &Path) -> Result<()> {
    let files = PROJECT.iter().copied().chain([("colony.toml", CONFIG), (PLAN_FILE, PLAN)]);
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("could not create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("could not write {}", path.display()))?;
    }
    git(dir, &["init", "--quiet", "--initial-branch=main"])?;
    git(dir, &["add", "--all"])?;
    // A fixed identity for this one commit, so the demo works where no git
    // identity is configured; colony's own commits fall back the same way.
    git(
        dir,
        &[
            "-c",
            "user.name=colony demo",
            "-c",
            "user.email=demo@colony.invalid",
            "commit",
            "--quiet",
            "-m",
            "A notebook of field notes",
        ],
    )
}

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .context("could not run git; is it installed and on PATH?")?;
    if !out.status.success() {
        anyhow::bail!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// One sentence for each thing the plan arranged that did happen, read
/// from the store and the attempt logs rather than assumed.
async fn what_happened(ctx: &Ctx, store: &impl Store) -> Result<Vec<String>> {
    let layout = Layout::new(&ctx.root);
    let mut story = Vec::new();
    if let Some(detail) = store.task(RETRIED).await?
        && detail.attempts.len() > 1
        && detail.attempts.first().and_then(|a| a.outcome.as_deref()) == Some("failed")
    {
        story.push(format!(
            "{RETRIED}'s first attempt failed, and colony retried it: attempt {} went through",
            detail.attempts.len()
        ));
    }
    let gate_failed = |r: &Record| match r {
        Record::GateEnded { command, end, .. } if !end.passed() => Some(command.clone()),
        _ => None,
    };
    if let Some(gate) = find_record(&layout, store, GATE_FIXED, gate_failed).await? {
        story.push(format!(
            "{GATE_FIXED} left a TODO; the gate `{gate}` failed, its output went back to the agent as feedback, and the fix passed"
        ));
    }
    for task in CONFLICTING {
        let conflict = |r: &Record| match r {
            Record::Conflict { paths, .. } => Some(paths.join(", ")),
            _ => None,
        };
        if let Some(paths) = find_record(&layout, store, task, conflict).await? {
            let other = CONFLICTING.iter().find(|t| **t != task).expect("two tasks");
            story.push(format!(
                "{task} and {other} both wrote {paths}; {task} merged second, met a conflict, and its agent resolved it"
            ));
        }
    }
    if let Some((task, ahead)) = gated_ahead(&layout, store).await? {
        story.push(format!(
            "{task}'s gates ran before its turn, on its merge onto the work of {ahead}, which was still to land: \
             merges are gated side by side and land in order"
        ));
    }
    if let Some(riders) = merge_train(&layout, store).await? {
        story.push(format!(
            "{riders} waited to merge at the same time and rode one merge train: the gates ran once, on their combined result"
        ));
    }
    if !story.is_empty() {
        story.push("`colony logs ID` shows any task's log, with colony's own notes in it".to_owned());
    }
    Ok(story)
}

/// A task that merged on a candidate gated before its turn with merges
/// ahead of it, and those merges, if one did.
async fn gated_ahead(layout: &Layout, store: &impl Store) -> Result<Option<(String, String)>> {
    for task in store.tasks(&TaskFilter::default()).await? {
        let id = task.task.id.as_str();
        let ahead = |r: &Record| match r {
            Record::Candidate { ahead, .. } if !ahead.is_empty() => Some(ahead.clone()),
            _ => None,
        };
        let merged = |r: &Record| matches!(r, Record::Merged { .. }).then_some(());
        if let Some(ahead) = find_record(layout, store, id, ahead).await?
            && find_record(layout, store, id, merged).await?.is_some()
        {
            return Ok(Some((id.to_owned(), names(&ahead))));
        }
    }
    Ok(None)
}

/// The tasks of the first merge train that merged, as its leader's log
/// names them, if one did.
async fn merge_train(layout: &Layout, store: &impl Store) -> Result<Option<String>> {
    for task in store.tasks(&TaskFilter::default()).await? {
        let id = task.task.id.as_str();
        let led = |r: &Record| match r {
            Record::Merged { train: Some(ride), .. } if ride.leader == id => Some(()),
            _ => None,
        };
        if find_record(layout, store, id, led).await?.is_none() {
            continue;
        }
        let riders = |r: &Record| match r {
            Record::Train { riders, .. } => Some(riders.clone()),
            _ => None,
        };
        if let Some(riders) = find_record(layout, store, id, riders).await? {
            return Ok(Some(names(&riders)));
        }
    }
    Ok(None)
}

/// `a`, `b`, `c` → `a, b and c`.
fn names(items: &[String]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, others)) => format!("{} and {last}", others.join(", ")),
    }
}

/// What `wanted` picks of the first of colony's own records in the task's
/// latest attempt log that it picks anything of.
async fn find_record<T>(
    layout: &Layout,
    store: &impl Store,
    task: &str,
    wanted: impl Fn(&Record) -> Option<T>,
) -> Result<Option<T>> {
    let Some(detail) = store.task(task).await? else { return Ok(None) };
    let Some(attempt) = detail.attempts.iter().map(|a| a.attempt).max() else { return Ok(None) };
    let id = TaskId::new(task).expect("the demo's ids are valid");
    let Ok(mut reader) = LogReader::open(layout.log(&id, attempt)) else { return Ok(None) };
    while let Some(record) = reader.next_now() {
        if let Ok(record) = record
            && let Entry::Colony(record) = record.entry
            && let Some(found) = wanted(&record)
        {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The repository's path and the commands to look around it.
fn where_to_look(out: &mut impl Write, root: &Path) -> Result<()> {
    // As the user typed it, so the hints work from where they are.
    let colony = std::env::args().next().unwrap_or_else(|| "colony".to_owned());
    let dir = root.display();
    let hints = [
        ("one merge per task", format!("git -C {dir} log --oneline --graph colony/demo")),
        ("the resolved conflict", format!("git -C {dir} show colony/demo:site/style.css")),
        ("the tasks", format!("{colony} --repo {dir} list")),
        ("one agent's log", format!("{colony} --repo {dir} logs {GATE_FIXED}")),
        ("where the time went", format!("{colony} --repo {dir} report")),
        ("bring it into main", format!("{colony} --repo {dir} land")),
    ];
    let width = hints.iter().map(|(label, _)| label.len() + 1).max().unwrap_or(0);
    writeln!(out, "\nthe result is in {dir}:")?;
    for (label, command) in hints {
        writeln!(out, "  {:<width$}  {command}", format!("{label}:"))?;
    }
    writeln!(out, "remove it with `rm -rf {dir}` when you are done")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::names;

    #[test]
    fn riders_are_named_as_a_list() {
        let list = |items: &[&str]| names(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(list(&["notes-index", "about-page", "tags"]), "notes-index, about-page and tags");
        assert_eq!(list(&["a", "b"]), "a and b");
        assert_eq!(list(&["a"]), "a");
    }
}
