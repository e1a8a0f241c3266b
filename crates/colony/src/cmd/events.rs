//! `colony events`: the event log, optionally followed live.
//!
//! Following is the store's [`Tail`]: woken by PostgreSQL's notifications,
//! polling SQLite; a store's sequence numbers only grow in commit order, so
//! asking for "after the last seq seen" never misses or repeats an event.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use colony_core::Event;
use colony_store::Tail;

use crate::cli::EventsArgs;
use crate::ctx::Ctx;
use crate::{render, signal};

/// Events read per query, so a long log streams instead of loading whole.
const BATCH: usize = 1000;

/// How often `--follow` asks for new events where the store cannot say
/// (SQLite).
const POLL: Duration = Duration::from_millis(200);

/// The task column's width; longer ids push the summary right.
const TASK_WIDTH: usize = 16;

pub async fn run(ctx: &Ctx, args: EventsArgs, out: &mut impl Write) -> Result<()> {
    let store = ctx.open_store().await?;
    let mut tail = Tail::new(&store, args.since, BATCH, POLL);
    let mut stop = match args.follow {
        true => {
            tail = tail.listening().await;
            Some(Box::pin(signal::stop_requested()?))
        }
        false => None,
    };
    loop {
        let batch = tail.read().await?;
        for event in &batch {
            write_event(out, event, args.json)?;
        }
        out.flush()?;
        match &mut stop {
            None if batch.is_empty() => break,
            None => {}
            Some(stop) => tokio::select! {
                () = stop => break,
                () = tail.wait() => {}
            },
        }
    }
    let since = tail.since();
    store.close().await;
    if since == 0 && !args.follow && !args.json {
        writeln!(out, "no events yet; add a plan with `colony add PLAN`")?;
    }
    Ok(())
}

/// `   12  14:03:07  login-api         attempt 1 claimed by w1`, or the
/// event's JSON on one line.
fn write_event(out: &mut impl Write, event: &Event, json: bool) -> Result<()> {
    if json {
        serde_json::to_writer(&mut *out, event)?;
        writeln!(out)?;
        return Ok(());
    }
    let task = event.task.as_ref().map_or("-", |t| t.as_str());
    writeln!(out, "{:>5}  {}  {task:<TASK_WIDTH$}  {}", event.seq, render::clock(event.at), event.kind.summary())?;
    Ok(())
}
