//! `colony-bench worker`: the smallest possible worker, for load and race
//! tests. It claims a task, optionally holds it, completes it, and prints
//! one JSON line per outcome:
//!
//! - `{"task":ID,"attempt":N,"worker":NAME}`: a completed claim;
//! - `{"lost":{"task":…,"attempt":…,"worker":…,"error":…}}`: the completion
//!   was refused because the lease had been lost (not fatal);
//! - `{"rescued":{"task":…,"attempt":…,"worker":DEAD_WORKER}}`: this worker
//!   took back a task whose lease ran out;
//! - `{"hanging":{"task":…,"attempt":…,"worker":…}}`: with `--hang-after`,
//!   the claim it now holds without ever heartbeating;
//! - `{"summary":{…}}`: the last line, when it runs out of work, with the
//!   latency of its successful claims and completions (`call_ms`: p50, p99
//!   and max), where lock waits show.
//!
//! Every line is flushed as it is printed (stdout is line-buffered), so a
//! test can act on a line the moment it appears.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use anyhow::Context;
use colony_core::TaskStatus;
use colony_store::{Store, StoreError};
use serde_json::json;

/// How long an idle worker waits before it looks for work again.
const IDLE_POLL: Duration = Duration::from_millis(20);
/// How long to wait when tasks are ready but the claim found none of them
/// free (other workers had them locked): a retry will likely succeed.
const BUSY_POLL: Duration = Duration::from_millis(1);

#[derive(clap::Args)]
pub struct Args {
    /// `sqlite:PATH` or `postgres://USER@HOST:PORT/DB`.
    #[arg(long)]
    store: String,
    /// The name claims are made under.
    #[arg(long)]
    worker: String,
    #[arg(long, default_value_t = 30_000)]
    lease_ms: u64,
    /// How long to hold each task before completing it.
    #[arg(long, default_value_t = 0)]
    hold_ms: u64,
    /// Stop after this many completions.
    #[arg(long)]
    max: Option<usize>,
    /// After this many completions, claim one more task and hold it forever
    /// without heartbeating, as a worker that hung or is about to be killed.
    #[arg(long)]
    hang_after: Option<usize>,
}

#[derive(Default)]
struct Tally {
    completed: usize,
    lost: usize,
    rescued: usize,
    idle_polls: usize,
    /// Claims that found nothing free while tasks were ready.
    busy_polls: usize,
    /// How long each claim that got a task, and each completion, took.
    calls: Vec<Duration>,
}

impl Tally {
    /// The `q` quantile of the call latencies, in milliseconds.
    fn call_ms(&mut self, q: f64) -> f64 {
        self.calls.sort_unstable();
        let i = ((self.calls.len() as f64 * q) as usize).min(self.calls.len().saturating_sub(1));
        self.calls.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }
}

pub async fn main(args: Args) -> anyhow::Result<()> {
    let store = crate::open_store(&args.store).await?;
    let lease = Duration::from_millis(args.lease_ms);
    let started = Instant::now();
    let mut tally = Tally::default();
    while args.max.is_none_or(|max| tally.completed < max) {
        let call = Instant::now();
        let claim = store.claim(&args.worker, lease).await.context("claim failed")?;
        let Some(claim) = claim else {
            match work_left(&store).await? {
                WorkLeft::None => break,
                WorkLeft::Ready => {
                    tally.busy_polls += 1;
                    tokio::time::sleep(BUSY_POLL).await;
                }
                WorkLeft::Waiting => {
                    for r in store.rescue_expired().await.context("rescue failed")? {
                        println!("{}", json!({"rescued": {"task": r.task, "attempt": r.attempt, "worker": r.worker}}));
                        tally.rescued += 1;
                    }
                    tally.idle_polls += 1;
                    tokio::time::sleep(IDLE_POLL).await;
                }
            }
            continue;
        };
        tally.calls.push(call.elapsed());
        let line = json!({"task": claim.task, "attempt": claim.attempt, "worker": args.worker});
        if args.hang_after == Some(tally.completed) {
            println!("{}", json!({"hanging": line}));
            match std::future::pending::<Infallible>().await {}
        }
        if args.hold_ms > 0 {
            tokio::time::sleep(Duration::from_millis(args.hold_ms)).await;
        }
        let call = Instant::now();
        let completed = store.complete(&claim.task, claim.attempt).await;
        tally.calls.push(call.elapsed());
        match completed {
            Ok(()) => {
                println!("{line}");
                tally.completed += 1;
            }
            Err(e @ StoreError::LeaseLost { .. }) => {
                let mut lost = line;
                lost["error"] = e.to_string().into();
                println!("{}", json!({"lost": lost}));
                tally.lost += 1;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("completing {} attempt {} failed", claim.task, claim.attempt));
            }
        }
    }
    let summary = json!({"summary": {
        "worker": args.worker,
        "completed": tally.completed,
        "lost": tally.lost,
        "rescued": tally.rescued,
        "idle_polls": tally.idle_polls,
        "busy_polls": tally.busy_polls,
        "call_ms": {"p50": tally.call_ms(0.5), "p99": tally.call_ms(0.99), "max": tally.call_ms(1.0)},
        "secs": started.elapsed().as_secs_f64(),
    }});
    println!("{summary}");
    store.close().await;
    Ok(())
}

enum WorkLeft {
    /// Every task is done, failed, blocked or cancelled.
    None,
    /// Some task is ready, yet the claim got none: on PostgreSQL, other
    /// claims held every ready row (`SKIP LOCKED`). This worker never fails
    /// a task, and a rescued one is ready at once, so no backoff is waited
    /// out here.
    Ready,
    /// Tasks wait on dependencies or on other workers' leases.
    Waiting,
}

async fn work_left(store: &impl Store) -> anyhow::Result<WorkLeft> {
    let counts = store.counts().await.context("counting tasks failed")?;
    let finished: usize = [TaskStatus::Done, TaskStatus::Failed, TaskStatus::Blocked, TaskStatus::Cancelled]
        .into_iter()
        .map(|s| counts.get(s))
        .sum();
    Ok(if finished == counts.total {
        WorkLeft::None
    } else if counts.get(TaskStatus::Ready) > 0 {
        WorkLeft::Ready
    } else {
        WorkLeft::Waiting
    })
}
