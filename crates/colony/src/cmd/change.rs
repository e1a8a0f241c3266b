//! `colony retry`, `cancel`, `kill`, `approve`, `reject` and `answer`: a
//! person steering tasks.
//!
//! Each is a [`Request`] carried out by [`steer`], the function the
//! dashboard's controls call too: the store applies it to all the named
//! tasks in one transaction, or to none. What changed is then read back
//! from the event log, so the report shows exactly what the store did,
//! knock-on effects on dependents included.

use std::io::Write;

use anyhow::{Context, Result};
use colony_store::{Request, SteerError, steer};

use crate::ctx::Ctx;
use crate::exit::bad_input;

/// `colony answer`'s text: as given, or stdin for `-`.
pub fn answer_text(text: String) -> Result<String> {
    if text != "-" {
        return Ok(text);
    }
    use std::io::Read;
    // One byte past the limit: the store's refusal then names the size.
    let limit = colony_store::MAX_ANSWER_BYTES as u64 + 1;
    let mut read = Vec::new();
    std::io::stdin().lock().take(limit).read_to_end(&mut read).context("could not read the answer from stdin")?;
    String::from_utf8(read).map_err(|_| bad_input("the answer on stdin is not UTF-8 text"))
}

pub async fn run(ctx: &Ctx, request: Request, out: &mut impl Write) -> Result<()> {
    let store = ctx.open_store().await?;
    let steered = steer(&store, None, &request).await;
    store.close().await;
    let steered = steered.map_err(|err| match err {
        SteerError::NoSuchTask(_) => bad_input(format!("{err}; see `colony list`")),
        SteerError::Bad(_) | SteerError::NotAllowed(_) | SteerError::NoRun => bad_input(err.to_string()),
        SteerError::Store { .. } => anyhow::Error::new(err),
    })?;

    let events = &steered.events;
    let width = events.iter().filter_map(|e| e.task.as_ref()).map(|t| t.as_str().len()).max().unwrap_or(0);
    for e in events {
        let task = e.task.as_ref().map_or("-", |t| t.as_str());
        writeln!(out, "{task:<width$}  {}", e.kind.summary())?;
    }
    let list: Vec<String> = request.tasks().iter().map(ToString::to_string).collect();
    match request {
        Request::Cancel(_) => writeln!(out, "\nundo with `colony retry {}`", list.join(" "))?,
        Request::Retry(_) => writeln!(out, "\nsee where they stand with `colony list`")?,
        Request::Kill(_) => writeln!(
            out,
            "\neach worker stops its agent at its next heartbeat; see where they stand with `colony list`"
        )?,
        Request::Answer { .. } => writeln!(
            out,
            "\nthe next attempt resumes its agent with your answer: the running `colony run` takes it up, \
             or the next one"
        )?,
        Request::Approve(_) | Request::Reject { .. } | Request::Stop { .. } => {
            writeln!(out, "\na worker takes it up next: `colony run` if none is running")?
        }
    }
    Ok(())
}
