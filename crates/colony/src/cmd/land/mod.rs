//! `colony land [--plan NAME] [--merge]`: bring a plan's integration branch
//! into the user's checked-out branch; with `--pr`, push it and open its
//! pull request instead (`pr.rs`, the forges' CLIs in `forge.rs`, the
//! description in `describe.rs`), or with `--per-task` one pull request
//! per merged task, stacked by dependency (`stack.rs`). `colony pr-fixes`
//! turns a pull request's review comments into a plan, and `land --pr` of
//! that plan answers them (`fixes.rs`, the forges' APIs in `review.rs`).
//!
//! This is the one command that changes the user's checkout, so it only
//! acts when that is safe: git refuses, before changing anything, a dirty
//! tree, a detached HEAD, diverged branches without `--merge`, and a merge
//! that would conflict. Each refusal is bad input (exit 2) and says what to
//! do about it.

use std::io::Write;

use anyhow::{Context, Result};
use colony_core::branch::integration_branch;
use colony_git::{GitError, LandOutcome, Oid, Repo};
use colony_store::{SqlStore, Store, TaskFilter};

use crate::cli::LandArgs;
use crate::cmd::export::only_plan;
use crate::ctx::Ctx;
use crate::exit::bad_input;
use crate::{render, settings};

mod describe;
mod fixes;
mod forge;
mod pr;
mod review;
mod stack;

pub use fixes::run as pr_fixes;

pub async fn run(ctx: &Ctx, args: LandArgs, out: &mut impl Write) -> Result<()> {
    let config = settings::load_config(&ctx.root)?;
    let store = ctx.open_store().await?;
    let picked = plan_and_unfinished(&store, args.plan.clone()).await;
    let picked = match picked {
        Ok((plan, unfinished)) if args.pr => {
            let name = colony_core::PlanName::new(&plan).map_err(|e| bad_input(e.to_string()))?;
            let branch = integration_branch(&config.run.integration_branch, &name);
            match describe::gather(&store, &config, &plan, &branch).await {
                Ok(work) => store.review_comments().await.map_err(anyhow::Error::new).map(|all| {
                    let comments: Vec<_> = all.into_iter().filter(|c| c.plan == plan).collect();
                    (plan, unfinished, Some((work, comments)))
                }),
                Err(e) => Err(e),
            }
        }
        other => other.map(|(plan, unfinished)| (plan, unfinished, None)),
    };
    store.close().await;
    let (plan, unfinished, work) = picked?;
    let plan = colony_core::PlanName::new(plan).map_err(|e| bad_input(e.to_string()))?;
    let branch = integration_branch(&config.run.integration_branch, &plan);

    let repo =
        Repo::open(&ctx.root).with_context(|| format!("could not open the repository {}", ctx.root.display()))?;
    if !repo.branch_exists(&branch)? {
        return Err(bad_input(format!(
            "there is nothing to land yet: {branch} does not exist; `colony run` creates it as it merges tasks"
        )));
    }
    match work {
        Some((work, comments)) if !comments.is_empty() => {
            return fixes::land(ctx, &config, &args, &work, &comments, out).await;
        }
        Some((work, _)) => return pr::run(&ctx.root, &config, &args, &work, out),
        None => {}
    }
    let target = repo.head_branch()?.unwrap_or_else(|| "HEAD".to_owned());
    match repo.land(&branch, args.merge) {
        Ok(LandOutcome::UpToDate) => writeln!(out, "{target} already has everything in {branch}; nothing to land")?,
        Ok(LandOutcome::FastForwarded { from, to }) => {
            writeln!(out, "fast-forwarded {target} to {branch}: {}..{}", short(&from), short(&to))?
        }
        Ok(LandOutcome::Merged { commit }) => writeln!(out, "merged {branch} into {target} as {}", short(&commit))?,
        Err(e) => return Err(refusal(e, &branch)),
    }
    if unfinished > 0 {
        writeln!(
            out,
            "note: {} of plan {plan} not done yet, so not in {branch}; land again after `colony run`",
            render::count(unfinished, "task")
        )?;
    }
    Ok(())
}

/// The plan to land and how many of its tasks are not done.
async fn plan_and_unfinished(store: &SqlStore, wanted: Option<String>) -> Result<(String, usize)> {
    let name = match wanted {
        Some(name) => {
            let plans = store.plans().await?;
            if !plans.iter().any(|p| p.name.as_str() == name) {
                let names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
                return Err(bad_input(format!("no plan `{name}`; the store has: {}", names.join(", "))));
            }
            name
        }
        None => only_plan(store, "land").await?,
    };
    let tasks = store.tasks(&TaskFilter { statuses: Vec::new(), plan: Some(name.clone()) }).await?;
    let unfinished = tasks.iter().filter(|t| !t.task.status().is_finished()).count();
    Ok((name, unfinished))
}

/// git's refusals as bad input with what to do next; anything else is an
/// error of its own.
fn refusal(e: GitError, branch: &str) -> anyhow::Error {
    match e {
        GitError::DirtyTree { paths, more } => {
            let mut msg = "your working tree has uncommitted changes, so nothing was landed; commit or stash \
                           them, then run `colony land` again:"
                .to_owned();
            for path in paths {
                msg.push_str(&format!("\n  {path}"));
            }
            if more > 0 {
                msg.push_str(&format!("\n  and {more} more"));
            }
            bad_input(msg)
        }
        GitError::DetachedHead { .. } => bad_input(
            "HEAD is detached, so there is no branch to land into; switch to one (`git switch main`), then run \
             `colony land` again",
        ),
        GitError::NotFastForward { branch: target, integration } => bad_input(format!(
            "{target} has commits that {integration} does not, so it cannot simply move forward; \
             `colony land --merge` makes a merge commit instead"
        )),
        GitError::LandConflict { branch: target, integration, paths } => bad_input(format!(
            "merging {integration} into {target} would conflict in {}; nothing was changed. Merge it by hand \
             with `git merge {integration}` and resolve the conflicts",
            paths.join(", ")
        )),
        other => anyhow::Error::new(other).context(format!("could not land {branch}")),
    }
}

/// The short form of a commit id, as git shows it.
fn short(oid: &Oid) -> &str {
    &oid.as_str()[..oid.as_str().len().min(7)]
}
