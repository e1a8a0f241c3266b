//! `colony status`: where things stand, at a glance.
//!
//! Reads only the per-status counts and the plan list, never the tasks
//! themselves, so it answers at once however large the plans are.

use std::io::Write;

use anyhow::Result;
use colony_core::{TaskStatus, Usage};
use colony_store::{AgentWaiting, agents_waiting};
use colony_store::{Counts, PlanInfo, RunEntry, Store, TaskFilter};
use serde::Serialize;

use crate::cli::JsonArg;
use crate::ctx::Ctx;
use crate::render;

/// `status --json`.
#[derive(Serialize)]
struct StatusJson<'a> {
    counts: &'a Counts,
    plans: &'a [PlanInfo],
    /// What every attempt of every task spent.
    spend: Usage,
    /// Agents that cannot take work now, and the tasks waiting for each.
    waiting: &'a [AgentWaiting],
    /// The colony processes working on the store now.
    runs: &'a [RunEntry],
    /// The questions agents asked that wait for `colony answer`.
    questions: &'a [colony_store::Question],
    /// How far each `[notify]` sink has got through the event log.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    notify: &'a [colony_store::NotifyCursor],
}

pub async fn run(ctx: &Ctx, args: JsonArg, out: &mut impl Write) -> Result<()> {
    let store = ctx.open_store().await?;
    let counts = store.counts().await?;
    let plans = store.plans().await?;
    let spend = store.spend().await?;
    // A colony.toml that does not read only loses the default agent here.
    let config = crate::settings::load_config(&ctx.root).ok();
    let default_agents = config.as_ref().map(colony_core::resolve::DefaultAgents::of).unwrap_or_default();
    let waiting = agents_waiting(&store, &default_agents).await?;
    let proposed = match counts.get(TaskStatus::Proposed) {
        0 => Vec::new(),
        _ => store.tasks(&TaskFilter { statuses: vec![TaskStatus::Proposed], plan: None }).await?,
    };
    let questions = colony_store::questions(&store, &counts).await?;
    let runs = crate::presence::active(&store).await?;
    let notify = store.notify_cursors().await?;
    store.close().await;

    if args.json {
        return render::json(
            out,
            &StatusJson {
                counts: &counts,
                plans: &plans,
                spend,
                waiting: &waiting,
                runs: &runs,
                questions: &questions,
                notify: &notify,
            },
        );
    }
    if plans.is_empty() {
        writeln!(out, "no plans yet; add one with `colony add PLAN`")?;
        return Ok(());
    }
    writeln!(out, "plans:")?;
    let name_width = plans.iter().map(|p| p.name.as_str().len()).max().unwrap_or(0);
    let count_width = plans.iter().map(|p| render::count(p.tasks, "task").len()).max().unwrap_or(0);
    for p in &plans {
        let tasks = render::count(p.tasks, "task");
        writeln!(out, "  {:<name_width$}  {tasks:<count_width$}  from {}", p.name.as_str(), p.source)?;
    }
    writeln!(out, "tasks:     {} total: {}", counts.total, render::status_counts(|s| counts.get(s)))?;
    writeln!(out, "progress:  {}/{} done", counts.get(TaskStatus::Done), counts.total)?;
    if runs.is_empty() {
        writeln!(out, "run:       none is working on it")?;
    }
    for run in &runs {
        writeln!(out, "run:       active {}", crate::presence::describe(run))?;
    }
    if !spend.is_empty() {
        writeln!(out, "spend:     {}", render::usage(&spend))?;
    }
    for w in &waiting {
        writeln!(out, "waiting:   {}", render::agent_waiting(w))?;
    }
    for rec in &proposed {
        writeln!(out, "proposed:  {}: {}", rec.task.id, rec.title)?;
    }
    for q in &questions {
        writeln!(out, "question:  {} asks (it fails at {} unanswered):", q.task, render::local_clock(q.until))?;
        for line in q.question.lines() {
            writeln!(out, "             {line}")?;
        }
        writeln!(out, "           answer: colony answer {} \"...\"", q.task)?;
    }
    for n in &notify {
        if let (Some(why), Some(since)) = (&n.failing, n.failing_since) {
            writeln!(out, "notify:    notices to the {} fail since {}: {why}", n.sink, render::local_clock(since))?;
        }
    }
    writeln!(out, "next:      {}", next_step(&counts))?;
    Ok(())
}

/// The most useful thing to say about what comes next.
fn next_step(counts: &Counts) -> String {
    let n = |s| counts.get(s);
    let is_are = |k: usize| if k == 1 { "is" } else { "are" };
    let failed = n(TaskStatus::Failed);
    let in_progress = n(TaskStatus::Running) + n(TaskStatus::Checking) + n(TaskStatus::Merging);
    if failed > 0 {
        return format!(
            "{} failed; see `colony list -s failed`, then `colony retry ID`",
            render::count(failed, "task")
        );
    }
    if counts.finished() == counts.total {
        return "all done".to_owned();
    }
    let asking = n(TaskStatus::AwaitingInput);
    if asking > 0 {
        return format!(
            "{} {} waiting for your answer to {} question: `colony answer ID \"TEXT\"`",
            render::count(asking, "task"),
            is_are(asking),
            if asking == 1 { "its agent's" } else { "their agents'" }
        );
    }
    let waiting = n(TaskStatus::AwaitingApproval);
    if waiting > 0 {
        return format!("{} {} waiting for a person's approval", render::count(waiting, "task"), is_are(waiting));
    }
    let proposed = n(TaskStatus::Proposed);
    if proposed > 0 {
        return format!(
            "{} proposed by agents {} waiting: `colony approve ID` adds one, `colony reject ID -f WHY` drops it",
            render::count(proposed, "follow-up"),
            is_are(proposed)
        );
    }
    let ready = n(TaskStatus::Ready);
    match (ready, in_progress) {
        (0, 0) => {}
        (r, 0) => return format!("{} {} ready to run", render::count(r, "task"), is_are(r)),
        (0, p) => return format!("{} in progress", render::count(p, "task")),
        (r, p) => return format!("{r} ready to run, {p} in progress"),
    }
    let blocked = n(TaskStatus::Blocked);
    if blocked > 0 {
        return format!(
            "{} {} blocked; `colony list --status blocked` says by what",
            render::count(blocked, "task"),
            is_are(blocked)
        );
    }
    let cancelled = n(TaskStatus::Cancelled);
    if cancelled > 0 {
        return format!(
            "nothing can run; {} cancelled, and `colony retry ID` brings one back",
            render::count(cancelled, "task")
        );
    }
    "nothing can run now".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(TaskStatus, usize)]) -> Counts {
        let mut c = Counts::default();
        for &(s, n) in pairs {
            c.by_status.insert(s, n);
            c.total += n;
        }
        c
    }

    #[test]
    fn failures_come_first_then_progress() {
        use TaskStatus::*;
        assert!(next_step(&counts(&[(Failed, 1), (Ready, 3)])).starts_with("1 task failed"));
        assert_eq!(next_step(&counts(&[(Done, 4)])), "all done");
        assert_eq!(next_step(&counts(&[(Ready, 2), (Pending, 5)])), "2 tasks are ready to run");
        assert_eq!(next_step(&counts(&[(Ready, 2), (Running, 1)])), "2 ready to run, 1 in progress");
        assert!(next_step(&counts(&[(Blocked, 2), (Done, 1)])).starts_with("2 tasks are blocked"));
        assert!(next_step(&counts(&[(Cancelled, 1), (Done, 1)])).starts_with("nothing can run"));
        assert!(
            next_step(&counts(&[(Proposed, 2), (Done, 1)])).starts_with("2 follow-ups proposed by agents are waiting")
        );
        assert!(
            next_step(&counts(&[(AwaitingInput, 1), (AwaitingApproval, 1), (Ready, 1)]))
                .starts_with("1 task is waiting for your answer to its agent's question")
        );
    }
}
