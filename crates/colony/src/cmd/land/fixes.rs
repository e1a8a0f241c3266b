//! Review comments come back as work: `colony pr-fixes [PR]` turns a pull
//! request's unresolved review threads into a plan of tasks based on the
//! pull request's branch, and `colony land --pr` of that plan pushes its
//! work to that branch and answers each thread with the commit that
//! addressed it.
//!
//! The store keeps which comment each task answers (`review_comments`):
//! a comment already made into a task is not made into another by a later
//! `pr-fixes`, and once a reply is sent it is recorded, so a second
//! `land --pr` sends none. Everything that can refuse (the forge, its
//! login, the pull request, its branch) is asked before anything is
//! written. Comments are other people's text: they go into the plan file
//! and the agent's prompt, quoted, and never through a shell.

use std::collections::HashSet;
use std::io::Write;

use anyhow::{Context, Result, anyhow};
use colony_core::branch::integration_branch;
use colony_core::config::{Config, Forge};
use colony_core::plan::{self, Format};
use colony_core::{Plan, PlanName, TaskId, TaskSpec, TaskState};
use colony_git::{CasOutcome, PushOutcome, Repo, branch_ref};
use colony_store::{AddOptions, ReviewComment, SqlStore, Store};

use super::describe::PlanWork;
use super::forge;
use super::pr::{call, checked, forge_of, last_line, logged_in};
use super::review::{self, Thread, Viewed};
use crate::cli::{LandArgs, PrFixesArgs};
use crate::cmd::{add, export::only_plan, plan::write_plan};
use crate::ctx::Ctx;
use crate::exit::bad_input;
use crate::{render, settings};

/// The most of one comment quoted in a task's prompt, in characters.
const MAX_COMMENT: usize = 4000;

/// The most of a comment's first line a task's title takes.
const MAX_TITLE: usize = 72;

pub async fn run(ctx: &Ctx, args: PrFixesArgs, out: &mut impl Write) -> Result<()> {
    let config = settings::load_config(&ctx.root)?;
    let repo =
        Repo::open(&ctx.root).with_context(|| format!("could not open the repository {}", ctx.root.display()))?;
    let remote = args.remote.clone().unwrap_or_else(|| "origin".to_owned());
    let forge = forge_of(&repo, &config, &remote)?;
    logged_in(&ctx.root, forge)?;
    let store = ctx.open_store().await?;
    let found = read(ctx, &store, &config, forge, &args).await;
    store.close().await;
    let (pull, threads, taken) = found?;
    if threads.is_empty() {
        writeln!(
            out,
            "pull request #{} has no unresolved review comments that are not tasks already; nothing to do",
            pull.number
        )?;
        return Ok(());
    }
    ready_branch(&repo, &remote, &pull.head)?;

    let name = free_name(ctx, &taken, pull.number)?;
    let plan = Plan {
        name: name.clone(),
        base: Some(pull.head.clone()),
        defaults: Default::default(),
        tasks: threads.iter().map(|t| task(&pull, t)).collect::<Result<_>>()?,
    };
    let text = plan::to_yaml(&plan);
    let path = ctx.root.join("plans").join(format!("{name}.yaml"));
    let shown = ctx.rel(&path);
    let plan = plan::parse(&shown, text.as_bytes(), Format::Yaml, name.as_str(), &config.run.integration_branch)
        .map_err(|e| anyhow::Error::new(e).context("colony made a plan it refuses itself; nothing was written"))?;
    let header = format!(
        "# Made by `colony pr-fixes` from the unresolved review comments of pull request #{} ({}).\n",
        pull.number, pull.url
    );
    write_plan(&path, &header, &text)?;
    let rows: Vec<ReviewComment> = plan
        .tasks
        .iter()
        .zip(&threads)
        .map(|(task, thread)| ReviewComment {
            plan: name.to_string(),
            task: task.id.to_string(),
            forge: forge_name(forge).to_owned(),
            pull: pull.number,
            head: pull.head.clone(),
            comment: thread.reply_to.clone(),
            replied: None,
        })
        .collect();
    let store = ctx.open_store().await?;
    let added = add::import(ctx, &store, vec![(path, plan.clone())], &config, AddOptions { force: false }).await;
    let recorded = match added {
        Ok(_) => store.add_review_comments(&rows).await.map_err(anyhow::Error::new),
        Err(e) => Err(e),
    };
    store.close().await;
    recorded?;

    writeln!(
        out,
        "wrote {shown}: {} from the unresolved review comments of pull request #{} ({}), based on its branch {}",
        render::count(plan.tasks.len(), "task"),
        pull.number,
        pull.url,
        pull.head
    )?;
    for (task, thread) in plan.tasks.iter().zip(&threads) {
        writeln!(out, "  {}  {}", task.id, task.title)?;
        if let Some(path) = &thread.path {
            writeln!(out, "      on {path}{}", thread.line.map(|l| format!(":{l}")).unwrap_or_default())?;
        }
    }
    writeln!(
        out,
        "\nnext: `colony run {shown}`, then `colony land --pr --plan {name}` pushes the fixes to {} and answers each \
         comment",
        pull.head
    )?;
    Ok(())
}

/// The pull request, its threads not yet made into tasks, and the plan
/// names taken in the store.
async fn read(
    ctx: &Ctx,
    store: &SqlStore,
    config: &Config,
    forge: Forge,
    args: &PrFixesArgs,
) -> Result<(Viewed, Vec<Thread>, Vec<String>)> {
    let program = forge::program(forge);
    let pull = match args.pr {
        Some(number) => {
            let said = call(&ctx.root, forge, &review::view(forge, number))?;
            if !said.status.success() {
                return Err(bad_input(format!(
                    "there is no pull request #{number} here ({program} said: {}); nothing was changed",
                    last_line(&said.stderr)
                )));
            }
            review::viewed(forge, &String::from_utf8_lossy(&said.stdout)).map_err(|e| anyhow!(e))?
        }
        None => {
            let plan = match &args.plan {
                Some(plan) => plan.clone(),
                None => only_plan(store, "read review comments for").await?,
            };
            let name = PlanName::new(&plan).map_err(|e| bad_input(e.to_string()))?;
            let branch = integration_branch(&config.run.integration_branch, &name);
            let listed = checked(&ctx.root, forge, &forge::find(forge, &branch))?;
            let open = forge::found(forge, &String::from_utf8_lossy(&listed.stdout)).map_err(|e| anyhow!(e))?;
            let Some(open) = open else {
                return Err(bad_input(format!(
                    "no open pull request has {branch} as its head: open one with `colony land --pr`, or name one \
                     with `colony pr-fixes NUMBER`; nothing was changed"
                )));
            };
            Viewed { number: open.number, url: open.url, head: branch, open: true }
        }
    };
    if !pull.open {
        return Err(bad_input(format!(
            "pull request #{} is not open, so its comments need no fixes; nothing was changed",
            pull.number
        )));
    }
    let said = checked(&ctx.root, forge, &review::threads(forge, pull.number))?;
    let threads = review::unresolved(forge, &String::from_utf8_lossy(&said.stdout)).map_err(|e| anyhow!(e))?;
    let plans: Vec<String> = store.plans().await?.into_iter().map(|p| p.name.to_string()).collect();
    let made: HashSet<String> = store
        .review_comments()
        .await?
        .into_iter()
        .filter(|c| c.forge == forge_name(forge) && c.pull == pull.number && plans.contains(&c.plan))
        .map(|c| c.comment)
        .collect();
    let threads = threads.into_iter().filter(|t| !made.contains(&t.reply_to)).collect();
    Ok((pull, threads, plans))
}

/// Makes sure the pull request's branch is here, as far as the remote's:
/// fetched when it is only there, refused when the two differ and the
/// local one does not contain the remote's.
fn ready_branch(repo: &Repo, remote: &str, head: &str) -> Result<()> {
    let local = repo.rev_parse(&branch_ref(head))?;
    let theirs = repo.remote_branch(remote, head)?;
    match (local, theirs) {
        (None, None) => Err(bad_input(format!(
            "the pull request's branch {head} is neither here nor on {remote}; nothing was changed"
        ))),
        (None, Some(_)) => {
            repo.fetch_branch(remote, head)?;
            Ok(())
        }
        (Some(local), Some(theirs))
            if local != theirs
                && !(repo.rev_parse(theirs.as_str())?.is_some() && repo.is_ancestor(&theirs, &local)?) =>
        {
            Err(bad_input(format!(
                "{head} here does not contain {remote}'s {head}: bring it up to date (`git fetch {remote} \
                 {head}:{head}`), then run `colony pr-fixes` again; nothing was changed"
            )))
        }
        _ => Ok(()),
    }
}

/// `pr-7-fixes`, or `pr-7-fixes-2` and on when the store or `plans/` has
/// that name already.
fn free_name(ctx: &Ctx, taken: &[String], number: u64) -> Result<PlanName> {
    let first = format!("pr-{number}-fixes");
    let name = (1..)
        .map(|n| if n == 1 { first.clone() } else { format!("{first}-{n}") })
        .find(|name| !taken.contains(name) && !ctx.root.join("plans").join(format!("{name}.yaml")).exists())
        .unwrap_or(first);
    PlanName::new(name).map_err(|e| bad_input(e.to_string()))
}

/// The task that answers `thread`: its prompt quotes every comment in it
/// with its author, and the file and line it is on; its files are that
/// file.
fn task(pull: &Viewed, thread: &Thread) -> Result<TaskSpec> {
    let first = thread.comments.first().ok_or_else(|| anyhow!("a review thread with no comment"))?;
    let id = TaskId::new(format!("fix-{}", first.id)).map_err(|e| anyhow!("comment id {}: {e}", first.id))?;
    let said = first.body.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(no text)");
    let said: String = match said.chars().count() {
        n if n > MAX_TITLE => said.chars().take(MAX_TITLE - 1).chain(['…']).collect(),
        _ => said.to_owned(),
    };
    let title = format!("Review: {said}");
    let place = match (&thread.path, thread.line) {
        (Some(path), Some(line)) => format!("on `{path}` at line {line}"),
        (Some(path), None) => format!("on `{path}`"),
        (None, _) => "on the pull request as a whole".to_owned(),
    };
    let mut prompt = format!(
        "A reviewer commented on pull request #{} ({}) {place}. Make the change the comment asks for on this \
         branch; if it asks for no change to the code, change nothing and say why.\n",
        pull.number, pull.url
    );
    for (i, comment) in thread.comments.iter().enumerate() {
        let who = if i == 0 { "wrote" } else { "replied" };
        prompt.push_str(&format!("\n@{} {who}:\n\n", comment.author));
        let body: String = comment.body.chars().take(MAX_COMMENT).collect();
        for line in body.lines() {
            prompt.push_str(&format!("> {line}\n"));
        }
    }
    let mut spec = TaskSpec::new(id, title, prompt);
    spec.files = thread.path.iter().cloned().collect();
    Ok(spec)
}

fn forge_name(forge: Forge) -> &'static str {
    match forge {
        Forge::GitHub => "github",
        Forge::GitLab => "gitlab",
    }
}

/// `colony land --pr` of a plan `pr-fixes` made: its work goes to the pull
/// request's own branch, and each comment whose task merged is answered
/// with the commit of that merge, once.
pub async fn land(
    ctx: &Ctx,
    config: &Config,
    args: &LandArgs,
    work: &PlanWork,
    comments: &[ReviewComment],
    out: &mut impl Write,
) -> Result<()> {
    let Some(first) = comments.first() else { return Ok(()) };
    if args.per_task || args.base.is_some() || args.title.is_some() || args.draft {
        return Err(bad_input(format!(
            "plan {} answers pull request #{}: its work goes to that pull request's branch {}, so --per-task, \
             --base, --title and --draft do not apply",
            work.plan, first.pull, first.head
        )));
    }
    let repo =
        Repo::open(&ctx.root).with_context(|| format!("could not open the repository {}", ctx.root.display()))?;
    let remote = args.remote.clone().unwrap_or_else(|| "origin".to_owned());
    let forge = forge_of(&repo, config, &remote)?;
    if forge_name(forge) != first.forge {
        return Err(bad_input(format!(
            "plan {} answers a pull request on {}, but {remote} is on {}; name its remote with --remote",
            work.plan,
            first.forge,
            forge_name(forge)
        )));
    }
    logged_in(&ctx.root, forge)?;

    let (head, pull) = (&first.head, first.pull);
    let tip = repo.rev_parse(&branch_ref(&work.branch))?.ok_or_else(|| anyhow!("{} has no commit", work.branch))?;
    let before = repo.remote_branch(&remote, head)?;
    if let Some(before) = &before
        && before != &tip
        && !(repo.rev_parse(before.as_str())?.is_some() && repo.is_ancestor(before, &tip)?)
    {
        return Err(bad_input(format!(
            "{remote}'s {head} has commits {} lacks (someone pushed to pull request #{pull} meanwhile); nothing was \
             pushed: make a new plan of fixes from it with `colony pr-fixes {pull}`",
            work.branch
        )));
    }
    if before.as_ref() == Some(&tip) {
        writeln!(out, "{remote}'s {head} already has {}", work.branch)?;
    } else {
        match repo.push_lease(&remote, head, &tip, before.as_ref())? {
            PushOutcome::Pushed => writeln!(
                out,
                "pushed {} to {remote}'s {head} at {}: pull request #{pull} has the fixes",
                work.branch,
                tip.short()
            )?,
            PushOutcome::Stale { .. } => {
                return Err(anyhow!("{head} moved on {remote} while colony pushed it; run `colony land --pr` again"));
            }
        }
    }
    // The local branch follows, so that landing the pull request's own
    // plan again later does not push it back to before the fixes.
    if let Some(local) = repo.rev_parse(&branch_ref(head))?
        && local != tip
        && repo.is_ancestor(&local, &tip)?
        && let CasOutcome::Stale { .. } = repo.update_ref_cas(&branch_ref(head), &tip, &local)?
    {
        writeln!(out, "note: {head} moved here meanwhile, so it was left as it is")?;
    }

    let store = ctx.open_store().await?;
    let replied = reply_all(ctx, &store, forge, work, comments, out).await;
    store.close().await;
    replied
}

/// Answers each comment whose task merged and that has no answer yet.
async fn reply_all(
    ctx: &Ctx,
    store: &SqlStore,
    forge: Forge,
    work: &PlanWork,
    comments: &[ReviewComment],
    out: &mut impl Write,
) -> Result<()> {
    let mut waiting = Vec::new();
    for comment in comments.iter().filter(|c| c.replied.is_none()) {
        let task = work.tasks.iter().find(|t| t.id.as_str() == comment.task);
        let Some((task, merge)) =
            task.and_then(|t| Some((t, t.merge.as_ref().filter(|_| t.state == TaskState::Done)?)))
        else {
            waiting.push(comment.task.as_str());
            continue;
        };
        let body = format!("Addressed in {merge} by colony (task `{}` of plan `{}`).", task.id, work.plan);
        checked(&ctx.root, forge, &review::reply(forge, comment.pull, &comment.comment, &body))?;
        store.set_replied(&comment.plan, &comment.task, merge).await?;
        writeln!(
            out,
            "answered the comment `{}` addresses on #{}: {}",
            task.id,
            comment.pull,
            &merge[..7.min(merge.len())]
        )?;
    }
    if !waiting.is_empty() {
        writeln!(
            out,
            "note: not answered yet, their tasks have not merged: {}; `colony land --pr` again after `colony run`",
            waiting.join(", ")
        )?;
    }
    Ok(())
}
