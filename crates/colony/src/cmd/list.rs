//! `colony list`: the tasks as a table, in plan order.

use std::io::Write;

use anyhow::Result;
use colony_core::TaskStatus;
use colony_store::{Store, TaskFilter, TaskRecord};

use crate::cli::ListArgs;
use crate::ctx::Ctx;
use crate::exit::bad_input;
use crate::render;
use crate::table::Table;

pub async fn run(ctx: &Ctx, args: ListArgs, out: &mut impl Write) -> Result<()> {
    let store = ctx.open_store().await?;
    let plans = store.plans().await?;
    if let Some(name) = &args.plan
        && !plans.iter().any(|p| p.name.as_str() == name)
    {
        let known: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
        return Err(bad_input(match known.as_slice() {
            [] => format!("no plan `{name}`; the store has no plans yet"),
            _ => format!("no plan `{name}`; the store has: {}", known.join(", ")),
        }));
    }
    let filter = TaskFilter { statuses: args.status.clone(), plan: args.plan.clone() };
    let tasks = store.tasks(&filter).await?;
    store.close().await;

    if args.json {
        return render::json(out, &tasks);
    }
    if tasks.is_empty() {
        if plans.is_empty() {
            writeln!(out, "no tasks yet; add a plan with `colony add PLAN`")?;
        } else {
            writeln!(out, "no tasks match; `colony list` without filters shows them all")?;
        }
        return Ok(());
    }
    out.write_all(table(&tasks).as_bytes())?;
    let by = |s: TaskStatus| tasks.iter().filter(|t| t.task.status() == s).count();
    writeln!(out, "\n{}: {}", render::count(tasks.len(), "task"), render::status_counts(by))?;
    writeln!(out, "see one in full with `colony show ID`")?;
    Ok(())
}

/// ID, STATUS, TRIES, TITLE, with PLAN when the rows span several plans and
/// NOTE when any row has something to say (why it failed, what blocks it).
fn table(tasks: &[TaskRecord]) -> String {
    let several_plans = tasks.iter().any(|t| t.task.plan != tasks[0].task.plan);
    let notes: Vec<String> = tasks.iter().map(|t| render::state_note(&t.task.state)).collect();
    let any_note = notes.iter().any(|n| !n.is_empty());

    let mut columns = vec![("ID", true)];
    if several_plans {
        columns.push(("PLAN", true));
    }
    columns.extend([("STATUS", false), ("TRIES", false), ("TITLE", true)]);
    if any_note {
        columns.push(("NOTE", true));
    }
    let mut table = Table::new(&columns);
    for (t, note) in tasks.iter().zip(notes) {
        let mut row = vec![t.task.id.to_string()];
        if several_plans {
            row.push(t.task.plan.to_string());
        }
        row.extend([t.task.status().to_string(), render::tries(t), t.title.clone()]);
        if any_note {
            row.push(note);
        }
        table.row(row);
    }
    table.render()
}
