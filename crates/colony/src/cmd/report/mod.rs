//! `colony report [PLAN]`: what a run did and where its time went, read
//! from the store. [`model`] computes, [`render`] writes; this file reads.

mod model;
mod render;

use std::io::Write;

use anyhow::{Context, Result};
use colony_store::{Clock, Store, SystemClock, TaskFilter};

use crate::cli::{ReportArgs, ReportFormat};
use crate::ctx::Ctx;
use crate::exit::bad_input;

pub async fn run(ctx: &Ctx, args: ReportArgs, out: &mut impl Write) -> Result<()> {
    if let Some(path) = args.output.as_ref().filter(|p| p.is_dir()) {
        return Err(bad_input(format!("{} is a directory; give -o a file", path.display())));
    }
    let store = ctx.open_store().await?;
    let plan = match args.plan {
        Some(name) => known_plan(&store, name).await?,
        None => super::export::only_plan(&store, "report on").await?,
    };
    let filter = TaskFilter { plan: Some(plan.clone()), ..TaskFilter::default() };
    let mut details = Vec::new();
    for task in store.tasks(&filter).await? {
        if let Some(detail) = store.task(task.task.id.as_str()).await? {
            details.push(detail);
        }
    }
    store.close().await;
    let report = model::build(&plan, &details, SystemClock.now());
    let text = match args.format {
        ReportFormat::Md => render::markdown(&report),
        ReportFormat::Html => render::html(&report),
        ReportFormat::Json => render::json(&report)?,
    };
    match args.output {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("could not write {}", path.display()))?;
            writeln!(out, "wrote the report on plan {plan} to {}", path.display())?;
        }
        None => out.write_all(text.as_bytes())?,
    }
    Ok(())
}

/// `name` if the store has that plan; otherwise a bad-input error naming
/// the plans it has.
async fn known_plan(store: &impl Store, name: String) -> Result<String> {
    let plans = store.plans().await?;
    if plans.iter().any(|p| p.name.as_str() == name) {
        return Ok(name);
    }
    let names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
    Err(bad_input(format!("no plan `{name}`; the store has: {}", names.join(", "))))
}
