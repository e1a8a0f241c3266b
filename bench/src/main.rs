//! `colony-bench`: load tools and benchmarks for colony's store and engine.
//!
//! `seed` fills a store with a generated plan, `worker` is a minimal worker
//! process (claim, complete, repeat) whose JSON lines let tests check that
//! every task ran exactly once, and `run` measures throughput with many such
//! processes and the latency of the `colony` CLI on a large store. The
//! workers are separate processes, not tasks in one runtime, because the
//! store's cross-process behaviour (SQLite file locks, PostgreSQL row locks)
//! is what needs measuring.
//!
//! `engine` measures the run engine on real repositories: its overhead
//! against the same git work done by a shell script, its makespan on random
//! DAGs against the lower bound, and its peak memory, with each engine run
//! in a child process (the hidden `engine-child`); `flood`, its memory and
//! the log it leaves when an agent prints far too much.
//!
//! `setup` measures what a worktree's setup costs each attempt with
//! `[worktree] reuse_setup` against without.
//!
//! `notify` measures what `[notify]` costs a run, with a webhook that
//! answers, refuses connections or never answers, against none.
//!
//! `web` measures the dashboard's API at 10,000 tasks with 50 event streams
//! open, against the same store reads called directly, and the server's
//! memory (in the hidden `web-child`).

mod child;
mod cli_timing;
mod engine;
mod notify;
mod run;
mod seed;
mod setup;
mod table;
mod web;
mod worker;

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use colony_store::{SqlStore, StoreUrl, SystemClock};

#[derive(Parser)]
#[command(name = "colony-bench", version, about = "Load tools and benchmarks for colony's store and engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Claim and complete tasks until none is left; one JSON line per task.
    Worker(worker::Args),
    /// Add a plan of generated tasks to a store.
    Seed(seed::Args),
    /// Measure claim+complete throughput and `colony` CLI latency.
    Run(run::Args),
    /// Measure the run engine: overhead against a script, makespan, memory.
    Engine(engine::Args),
    /// Measure the engine's memory and the log's size when an agent floods
    /// its output.
    Flood(engine::flood::Args),
    /// Measure a worktree's setup cost per attempt with `[worktree]
    /// reuse_setup` against without.
    Setup(setup::Args),
    /// Measure what `[notify]` costs a run: a webhook that answers, one
    /// refusing connections and one that never answers, against none.
    Notify(notify::Args),
    /// Run the engine on a prepared repository; one JSON line (for `engine`).
    #[command(hide = true)]
    EngineChild(engine::runner::Args),
    /// Measure the dashboard: list and detail latency with many event
    /// streams open, and the server's memory.
    Web(web::Args),
    /// Serve a repository's store as `colony serve` does (for `web`).
    #[command(hide = true)]
    WebChild(web::ChildArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Worker(args) => runtime()?.block_on(worker::main(args)),
        Command::Seed(args) => runtime()?.block_on(seed::main(args)),
        Command::Run(args) => run::main(args),
        Command::Engine(args) => engine::main(args),
        Command::Flood(args) => engine::flood::main(args),
        Command::Setup(args) => setup::main(args),
        Command::Notify(args) => notify::main(args),
        Command::EngineChild(args) => engine::runner::main(args),
        Command::Web(args) => web::main(args),
        Command::WebChild(args) => web::child(args),
    }
}

/// One thread is plenty: each process does one store call at a time.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start a tokio runtime")
}

/// Opens the store `url` names (`sqlite:PATH` or `postgres://…`).
async fn open_store(url: &str) -> anyhow::Result<SqlStore> {
    let cwd = std::env::current_dir().context("no current directory")?;
    let parsed = StoreUrl::parse(url, &cwd)?;
    SqlStore::open(&parsed, Arc::new(SystemClock))
        .await
        .with_context(|| format!("cannot open store {}", parsed.display()))
}
