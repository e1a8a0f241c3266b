//! `colony worker`: join a run whose store several machines share.
//!
//! A worker is `colony run` without plan files: it works whatever the
//! shared store holds, alongside the other machines, until every task is
//! finished, and it waits for a plan when it joins an empty store. Leaving
//! is Ctrl-C, as for a run: its tasks go back to the queue for the others.

use std::io::{IsTerminal, Write};

use anyhow::Result;

use crate::cli::WorkerArgs;
use crate::cmd::run::{Job, execute};
use crate::ctx::Ctx;
use crate::exit::Unfinished;
use crate::progress::Mode;
use crate::settings::Overrides;

pub async fn run(ctx: &Ctx, args: WorkerArgs, out: &mut impl Write) -> Result<()> {
    let mode = match args.quiet {
        true => Mode::Quiet,
        false if std::io::stdout().is_terminal() => Mode::Live,
        false => Mode::Lines,
    };
    let job = Job {
        plans: Vec::new(),
        overrides: Overrides { workers: args.jobs.map(usize::from), agent: args.agent },
        mode,
        serve: None,
        join: true,
        allow_failing_gates: args.allow_failing_gates,
    };
    match execute(ctx, &job, out).await? {
        Some(report) if !report.all_done() => Err(Unfinished.into()),
        _ => Ok(()),
    }
}
