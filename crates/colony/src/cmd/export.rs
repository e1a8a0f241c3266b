//! `colony export`: a stored plan written back out as a plan file.
//!
//! The file is in colony's native shape whatever the plan was imported
//! from, and adding it again changes nothing: the store's specs serialize
//! to exactly what the parser reads back.

use std::io::Write;

use anyhow::{Context, Result};
use colony_core::plan;
use colony_store::Store;

use crate::cli::{ExportArgs, ExportFormat};
use crate::ctx::Ctx;
use crate::exit::bad_input;

pub async fn run(ctx: &Ctx, args: ExportArgs, out: &mut impl Write) -> Result<()> {
    let store = ctx.open_store().await?;
    let name = match args.plan {
        Some(name) => name,
        None => only_plan(&store, "export").await?,
    };
    let plan = store.export_plan(&name).await?;
    store.close().await;
    let text = match args.format {
        ExportFormat::Yaml => plan::to_yaml(&plan),
        ExportFormat::Json => plan::to_json(&plan),
    };
    match args.output {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("could not write {}", path.display()))?;
            writeln!(out, "wrote plan {name} ({} tasks) to {}", plan.tasks.len(), path.display())?;
        }
        None => out.write_all(text.as_bytes())?,
    }
    Ok(())
}

/// The store's one plan, for commands whose `--plan` may be left out when
/// there is only one; `doing` completes "no plans to …".
pub async fn only_plan(store: &impl Store, doing: &str) -> Result<String> {
    let plans = store.plans().await?;
    match plans.as_slice() {
        [] => Err(bad_input(format!("the store has no plans to {doing}; add one with `colony add PLAN`"))),
        [only] => Ok(only.name.to_string()),
        several => {
            let names: Vec<&str> = several.iter().map(|p| p.name.as_str()).collect();
            Err(bad_input(format!("the store has several plans; choose one with --plan: {}", names.join(", "))))
        }
    }
}
