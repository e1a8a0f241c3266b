//! How long `colony status` and `colony list --json` take on a store of
//! 10,000 tasks, and how much memory they use.
//!
//! The `colony` binary is another package's; it is looked for beside this
//! executable (`target/<profile>/`), and this part is skipped with a note
//! when it is not built or cannot yet set up a repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use colony_store::Store;
use tokio::runtime::Runtime;

use crate::child::Running;
use crate::{seed, table};

const STATUS_TARGET: &str = "< 50 ms";
/// Share of the seeded tasks completed before timing, so the store holds a
/// run in progress (done, ready, pending and running tasks, and their
/// events) rather than a freshly imported plan.
const DONE_SHARE: f64 = 0.3;
/// Tasks left running (claimed, never completed).
const RUNNING: usize = 8;

pub fn main(rt: &Runtime, tasks: usize, runs: usize) -> anyhow::Result<()> {
    println!("\ncolony CLI at {tasks} tasks");
    let Some(colony) = find_colony()? else {
        println!(
            "  skipped: no `colony` binary beside this one; build it (cargo build --release -p colony) to time it"
        );
        return Ok(());
    };
    let repo = tempfile::tempdir().context("cannot make a scratch repository")?;
    let git = Command::new("git").args(["init", "-q"]).arg(repo.path()).status();
    if !git.is_ok_and(|s| s.success()) {
        println!("  skipped: `git init` failed; colony works in a git repository");
        return Ok(());
    }
    let init = colony_run(&colony, repo.path(), &["init"])?;
    if !init.status.success() || !repo.path().join(".colony").is_dir() {
        println!(
            "  skipped: `{} --repo DIR init` did not set up .colony/ ({}): {}",
            colony.display(),
            init.status,
            init.stderr.trim()
        );
        return Ok(());
    }
    let db = repo.path().join(".colony").join("colony.db");
    rt.block_on(fill(&db, tasks))?;

    let mut rows = Vec::new();
    for (command, target) in [(&["status"][..], STATUS_TARGET), (&["list", "--json"][..], "")] {
        let label = format!("colony {}", command.join(" "));
        let warm_up = colony_run(&colony, repo.path(), command)?;
        if !warm_up.status.success() {
            println!("  {label} failed ({}): {}", warm_up.status, warm_up.stderr.trim());
            continue;
        }
        let mut times = Vec::with_capacity(runs);
        let mut max_rss_kib = 0;
        for _ in 0..runs {
            let started = Instant::now();
            let done = colony_run(&colony, repo.path(), command)?;
            times.push(started.elapsed());
            max_rss_kib = max_rss_kib.max(done.max_rss_kib);
        }
        times.sort();
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        let median = times.get(times.len() / 2).copied().unwrap_or_default();
        let max = times.last().copied().unwrap_or_default();
        rows.push(vec![label, ms(median), ms(max), target.to_owned(), table::mib(max_rss_kib)]);
    }
    println!("  {} ({runs} runs each after a warm-up)", colony.display());
    table::print(&["command", "median", "max", "target", "peak RSS"], &rows);
    Ok(())
}

/// `colony` beside this executable, else in the other profile's directory.
fn find_colony() -> anyhow::Result<Option<PathBuf>> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let Some(dir) = exe.parent() else { return Ok(None) };
    let mut candidates = vec![dir.join("colony")];
    if let Some(target) = dir.parent() {
        candidates.extend(["release", "debug"].map(|profile| target.join(profile).join("colony")));
    }
    Ok(candidates.into_iter().find(|c| c.is_file()))
}

/// Runs `colony --repo REPO ARGS...`, output discarded but for stderr.
fn colony_run(colony: &Path, repo: &Path, args: &[&str]) -> anyhow::Result<crate::child::Finished> {
    let child = Command::new(colony)
        .arg("--repo")
        .arg(repo)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", colony.display()))?;
    Running::new(child).finish().with_context(|| format!("waiting for {} failed", colony.display()))
}

/// Seeds `tasks` tasks into the store at `db` and plays part of a run.
async fn fill(db: &Path, tasks: usize) -> anyhow::Result<()> {
    let store = crate::open_store(&format!("sqlite:{}", db.display())).await?;
    seed::seed(&store, "cli", tasks, 50).await?;
    let lease = Duration::from_secs(3600);
    for _ in 0..(tasks as f64 * DONE_SHARE) as usize {
        let Some(claim) = store.claim("bench-filler", lease).await? else { break };
        store.complete(&claim.task, claim.attempt).await?;
    }
    for _ in 0..RUNNING {
        store.claim("bench-filler", lease).await?;
    }
    store.close().await;
    Ok(())
}
