//! `colony add PLAN...`: import plan files.
//!
//! Every file is read and validated before the store is even opened, so a
//! refused plan leaves no trace: not a half-imported plan, not an empty
//! database. The store then takes all the plans in one transaction: if it refuses
//! one (a started task changed, an id another plan owns), none is added.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use colony_core::plan::{self, PlanErrors};
use colony_core::{Plan, TaskId};
use colony_store::{AddOptions, AddReport, Store};

use crate::cli::AddArgs;
use crate::ctx::Ctx;
use crate::exit::{BadInput, bad_input};
use crate::render;

/// Names listed in one line of the report before it says "and N more".
const MAX_NAMES: usize = 5;

pub async fn run(ctx: &Ctx, args: AddArgs, out: &mut impl Write) -> Result<()> {
    let plans = load_all(&args.plans)?;
    let store = ctx.open_store().await?;
    let opts = AddOptions { force: args.force };
    let sources: Vec<String> = plans.iter().map(|(path, _)| ctx.rel(path)).collect();
    let batch: Vec<(&Plan, &str)> = plans.iter().zip(&sources).map(|((_, plan), source)| (plan, source.as_str())).collect();
    let what = if plans.len() == 1 { "the plan was not added" } else { "no plan was added" };
    let reports = store.add_plans(&batch, opts).await.context(what)?;
    store.close().await;
    if !args.json {
        for (report, (_, plan)) in reports.iter().zip(&plans) {
            write_report(out, report, plan.tasks.len())?;
        }
    }
    if args.json {
        return render::json(out, &reports);
    }
    if reports.iter().any(|r| !r.changed_nothing()) {
        writeln!(out, "\nnext: see the tasks with `colony list`, or a summary with `colony status`")?;
    }
    Ok(())
}

/// Reads every file; any problem in any of them refuses them all.
fn load_all(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Plan)>> {
    let mut plans = Vec::new();
    let mut problems = Vec::new();
    let mut refused = 0;
    for path in paths {
        match plan::load(path) {
            Ok(plan) => plans.push((path.clone(), plan)),
            Err(errors) => {
                refused += 1;
                problems.extend(errors.0);
            }
        }
    }
    if refused > 0 {
        let what = if paths.len() == 1 {
            "the plan is refused".to_owned()
        } else {
            format!("{refused} of {} plan files are refused", paths.len())
        };
        let problems = anyhow::Error::new(PlanErrors(problems));
        return Err(problems.context(BadInput(format!("{what}; nothing was added"))));
    }
    let mut seen: HashMap<&str, &PathBuf> = HashMap::new();
    for (path, plan) in &plans {
        if let Some(first) = seen.insert(plan.name.as_str(), path) {
            return Err(bad_input(format!(
                "{} and {} both hold plan `{}`; nothing was added",
                first.display(),
                path.display(),
                plan.name
            )));
        }
    }
    Ok(plans)
}

/// `plan auth: 5 added, 1 updated (login-api), 3 unchanged`.
fn write_report(out: &mut impl Write, report: &AddReport, in_file: usize) -> Result<()> {
    if report.changed_nothing() {
        writeln!(out, "plan {}: already up to date ({})", report.plan, render::count(in_file, "task"))?;
    } else {
        let mut parts = Vec::new();
        if report.plan_updated {
            parts.push("settings updated".to_owned());
        }
        if !report.added.is_empty() {
            parts.push(format!("{} added", report.added.len()));
        }
        if !report.updated.is_empty() {
            parts.push(format!("{} updated ({})", report.updated.len(), names(&report.updated)));
        }
        if report.unchanged > 0 {
            parts.push(format!("{} unchanged", report.unchanged));
        }
        writeln!(out, "plan {}: {}", report.plan, parts.join(", "))?;
    }
    if !report.not_in_file.is_empty() {
        writeln!(
            out,
            "  no longer in the file but kept in the store: {}",
            names(&report.not_in_file)
        )?;
    }
    Ok(())
}

/// `a, b, c` or `a, b, c, d, e and 3 more`.
fn names(ids: &[TaskId]) -> String {
    let shown: Vec<&str> = ids.iter().take(MAX_NAMES).map(TaskId::as_str).collect();
    match ids.len().saturating_sub(MAX_NAMES) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_name_lists_are_cut() {
        let ids: Vec<TaskId> = (1..=7).map(|i| TaskId::new(format!("t{i}")).unwrap()).collect();
        assert_eq!(names(&ids[..2]), "t1, t2");
        assert_eq!(names(&ids), "t1, t2, t3, t4, t5 and 2 more");
    }
}
