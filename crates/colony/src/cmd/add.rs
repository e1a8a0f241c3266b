//! `colony add PLAN...`: import plan files.
//!
//! `colony.toml` is read first (a plan is checked against the branch names
//! it sets), then every file is read and validated before the store is
//! even opened, so a refused plan leaves no trace: not a half-imported
//! plan, not an empty database. The store then takes all the plans in one
//! transaction: if it refuses one (a started task changed, an id another
//! plan owns), none is added.
//!
//! `colony run PLAN...` imports through the same functions.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use colony_core::config::Config;
use colony_core::plan::{self, PlanErrors};
use colony_core::{Plan, TaskId};
use colony_store::{AddOptions, AddReport, Store};

use crate::cli::AddArgs;
use crate::ctx::Ctx;
use crate::exit::{BadInput, bad_input};
use crate::{render, settings};

/// Names listed in one line of the report before it says "and N more".
const MAX_NAMES: usize = 5;

pub async fn run(ctx: &Ctx, args: AddArgs, out: &mut impl Write) -> Result<()> {
    let config = settings::load_config(&ctx.root)?;
    let plans = load_all(&args.plans, &config)?;
    let store = ctx.open_store().await?;
    let reports = import(ctx, &store, plans, &config, AddOptions { force: args.force }).await;
    store.close().await;
    let reports = reports?;
    if args.json {
        let reports: Vec<&AddReport> = reports.iter().map(|(report, _)| report).collect();
        return render::json(out, &reports);
    }
    write_reports(out, &reports)?;
    if reports.iter().any(|(r, _)| !r.changed_nothing()) {
        writeln!(out, "\nnext: see the tasks with `colony list`, or a summary with `colony status`")?;
    }
    Ok(())
}

/// Adds plans read by [`load_all`] in one transaction, with the config's
/// defaults applied; returns each plan's report and its number of tasks.
pub async fn import(
    ctx: &Ctx,
    store: &impl Store,
    mut plans: Vec<(PathBuf, Plan)>,
    config: &Config,
    opts: AddOptions,
) -> Result<Vec<(AddReport, usize)>> {
    for (_, plan) in &mut plans {
        settings::apply_plan_defaults(plan, config);
    }
    let sources: Vec<String> = plans.iter().map(|(path, _)| ctx.rel(path)).collect();
    let batch: Vec<(&Plan, &str)> =
        plans.iter().zip(&sources).map(|((_, plan), source)| (plan, source.as_str())).collect();
    let what = if plans.len() == 1 { "the plan was not added" } else { "no plan was added" };
    let reports = store.add_plans(&batch, opts).await.context(what)?;
    Ok(reports.into_iter().zip(plans.iter().map(|(_, plan)| plan.tasks.len())).collect())
}

/// One line per plan: what the import changed.
pub fn write_reports(out: &mut impl Write, reports: &[(AddReport, usize)]) -> Result<()> {
    for (report, in_file) in reports {
        write_report(out, report, *in_file)?;
    }
    Ok(())
}

/// Reads every file; any problem in any of them refuses them all. The
/// config names the integration branches the plans will make.
pub fn load_all(paths: &[PathBuf], config: &Config) -> Result<Vec<(PathBuf, Plan)>> {
    let mut plans = Vec::new();
    let mut problems = Vec::new();
    let mut refused = 0;
    for path in paths {
        match plan::load(path, &config.run.integration_branch) {
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
        let roles = plan
            .defaults
            .role
            .iter()
            .map(|r| ("defaults", r))
            .chain(plan.tasks.iter().filter_map(|t| Some((t.id.as_str(), t.role.as_ref()?))));
        for (whose, role) in roles {
            if !config.roles.contains_key(role) {
                let whose = if whose == "defaults" { "defaults".to_owned() } else { format!("task `{whose}`") };
                return Err(bad_input(format!(
                    "{}: {whose}: role `{role}` is not defined in {}; {}; nothing was added",
                    path.display(),
                    colony_core::config::FILE_NAME,
                    crate::settings::known_roles_near(config, role)
                )));
            }
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
        writeln!(out, "  no longer in the file but kept in the store: {}", names(&report.not_in_file))?;
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
