//! `colony report [PLAN]`: what a run did and where its time went, read
//! from the store. The report itself ([`colony_web::report`]: its model
//! and its three renderings) is shared with the dashboard; this file picks
//! the plan and where the text goes.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use colony_core::layout::Layout;
use colony_store::{Clock, Store, SystemClock};
use colony_web::report::{input, model, render};

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
    let input = input(&store, &Layout::new(&ctx.root), &plan).await?;
    store.close().await;
    let report = model::build(&plan, &input, SystemClock.now());
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

/// Writes the HTML report on `plan` to `path`, making its directory:
/// what a run's end leaves for `[notify]` to point at.
pub async fn write_html(ctx: &Ctx, store: &impl Store, plan: &str, path: &Path) -> Result<()> {
    let report = model::build(plan, &input(store, &Layout::new(&ctx.root), plan).await?, SystemClock.now());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("could not make {}", dir.display()))?;
    }
    std::fs::write(path, render::html(&report)).with_context(|| format!("could not write {}", path.display()))
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
