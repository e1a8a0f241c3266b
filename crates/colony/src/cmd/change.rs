//! `colony retry`, `cancel`, `approve` and `reject`: a person steering
//! tasks.
//!
//! The store applies each request to all the named tasks in one
//! transaction, or to none. What changed is then read back from the event
//! log, so the report shows exactly what the store did, knock-on effects on
//! dependents included.

use std::io::Write;

use anyhow::Result;
use colony_core::TaskId;
use colony_store::{Store, StoreError};

use crate::cli::IdsArg;
use crate::ctx::Ctx;
use crate::exit::bad_input;

#[derive(Debug, Clone)]
pub enum Change {
    Retry,
    Cancel,
    Approve,
    /// With the feedback for the agent.
    Reject(String),
}

impl Change {
    fn verb(&self) -> &'static str {
        match self {
            Change::Retry => "retry",
            Change::Cancel => "cancel",
            Change::Approve => "approve",
            Change::Reject(_) => "reject",
        }
    }
}

pub async fn run(ctx: &Ctx, change: Change, args: IdsArg, out: &mut impl Write) -> Result<()> {
    // Naming a task twice is one request, not a second transition that the
    // state machine would refuse.
    let mut ids: Vec<TaskId> = Vec::new();
    for id in args.ids {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let store = ctx.open_store().await?;
    let before = store.last_seq().await?;
    if let Change::Reject(feedback) = &change
        && feedback.trim().is_empty()
    {
        store.close().await;
        return Err(bad_input("--feedback is empty; say what the agent should change"));
    }
    let done = match &change {
        Change::Retry => store.retry(&ids).await,
        Change::Cancel => store.cancel(&ids).await,
        Change::Approve => store.decide(&ids[0], None).await,
        Change::Reject(feedback) => store.decide(&ids[0], Some(feedback)).await,
    };
    if let Err(err) = done {
        store.close().await;
        return Err(match err {
            StoreError::NoSuchTask(id) => bad_input(format!("no task `{id}`; see `colony list`")),
            StoreError::NotAllowed(why) => bad_input(format!("{why}; nothing was changed")),
            other => anyhow::Error::new(other).context(format!("could not {}", change.verb())),
        });
    }
    // Another process may write at the same time; its events would show
    // here too, which is still true news about these tasks' neighbours.
    let events = store.events(before, usize::MAX).await?;
    store.close().await;

    let width = events.iter().filter_map(|e| e.task.as_ref()).map(|t| t.as_str().len()).max().unwrap_or(0);
    for e in &events {
        let task = e.task.as_ref().map_or("-", |t| t.as_str());
        writeln!(out, "{task:<width$}  {}", e.kind.summary())?;
    }
    let list: Vec<&str> = ids.iter().map(TaskId::as_str).collect();
    match change {
        Change::Cancel => writeln!(out, "\nundo with `colony retry {}`", list.join(" "))?,
        Change::Retry => writeln!(out, "\nsee where they stand with `colony list`")?,
        Change::Approve | Change::Reject(_) => {
            writeln!(out, "\na worker takes it up next: `colony run` if none is running")?
        }
    }
    Ok(())
}
