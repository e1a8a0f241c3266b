//! What every engine measurement stands on: scratch repositories with a
//! SQLite store, the agent script, and the engine run in a child process
//! (`colony-bench engine-child`) so that `wait4` reports its memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use colony_core::{Event, EventKind, Millis, Phase, Plan, TaskId};
use colony_store::{AddOptions, SqlStore, Store, SystemClock};
use tokio::runtime::Runtime;

use crate::child::Running;

/// The agent of every run, colony's and the baseline's: it reads the
/// prompt on stdin, sleeps if its first line (the task's own prompt;
/// colony's words follow) says `sleep SECONDS` (the makespan runs), and
/// writes one file named after its task.
const AGENT: &str = r#"# colony-bench's agent: one file per task, after an optional sleep.
prompt=$(cat)
first=$(printf '%s\n' "$prompt" | head -n 1)
case $first in
"sleep "*) sleep "${first#sleep }" || exit 1 ;;
esac
mkdir -p out
printf '%s\n' "$prompt" > "out/$COLONY_TASK_ID.txt"
"#;

/// Set for every git process of the benchmark, colony's included: the
/// machine's global and system configuration (hooks, signing, fsmonitor,
/// credential helpers) would change what is measured from one machine to
/// the next. Each scratch repository configures its own identity.
pub const GIT_ENV: [(&str, &str); 2] = [("GIT_CONFIG_GLOBAL", "/dev/null"), ("GIT_CONFIG_NOSYSTEM", "1")];

/// A directory holding the agent script and the scratch repositories.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> anyhow::Result<Scratch> {
        let dir = tempfile::tempdir().context("cannot make a scratch directory")?;
        let scratch = Scratch { dir };
        std::fs::write(scratch.agent(), AGENT).context("cannot write the agent script")?;
        Ok(scratch)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn agent(&self) -> PathBuf {
        self.path().join("agent.sh")
    }

    /// A fresh repository `name` with one commit on `main` and an empty
    /// `.colony/` that git ignores, as `colony init` leaves it.
    pub fn repo(&self, name: &str) -> anyhow::Result<PathBuf> {
        let repo = self.path().join(name);
        std::fs::create_dir(&repo).with_context(|| format!("cannot make {}", repo.display()))?;
        git(&repo, &["init", "-q", "-b", "main"])?;
        git(&repo, &["config", "user.name", "colony-bench"])?;
        git(&repo, &["config", "user.email", "bench@example.invalid"])?;
        std::fs::write(repo.join("README.md"), "bench\n")?;
        git(&repo, &["add", "README.md"])?;
        git(&repo, &["commit", "-qm", "start"])?;
        std::fs::create_dir(repo.join(".colony"))?;
        std::fs::write(repo.join(".git/info/exclude"), "/.colony/\n")?;
        Ok(repo)
    }
}

/// `sleep S.mmm`: a wait of `ms` milliseconds, as a task's prompt to the
/// bench agent or as a gate command.
pub fn sleep_command(ms: u64) -> String {
    format!("sleep {}.{:03}", ms / 1000, ms % 1000)
}

/// Runs git in `dir`, failing unless it exits 0; returns its stdout.
pub fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).envs(GIT_ENV).output().context("cannot run git")?;
    ensure!(
        out.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Checks what a run left in `repo`: one first-parent merge and one file
/// per task on `branch`, and no worktree but the main one.
pub fn check_result(repo: &Path, branch: &str, tasks: usize) -> anyhow::Result<()> {
    let merges: usize =
        git(repo, &["rev-list", "--count", "--first-parent", &format!("main..{branch}")])?.trim().parse()?;
    let files = git(repo, &["ls-tree", "-r", "--name-only", branch, "out/"])?.lines().count();
    let worktrees =
        git(repo, &["worktree", "list", "--porcelain"])?.lines().filter(|l| l.starts_with("worktree ")).count();
    ensure!(
        merges == tasks && files == tasks && worktrees == 1,
        "{}: {merges} merges and {files} files for {tasks} tasks on {branch}, {worktrees} worktrees left",
        repo.display()
    );
    Ok(())
}

/// The store of a scratch repository, where colony looks for it.
fn store_path(repo: &Path) -> PathBuf {
    repo.join(".colony").join("colony.db")
}

pub async fn open_store(repo: &Path) -> anyhow::Result<SqlStore> {
    let path = store_path(repo);
    SqlStore::open_sqlite(&path, Arc::new(SystemClock))
        .await
        .with_context(|| format!("cannot open the store {}", path.display()))
}

pub fn add_plan(rt: &Runtime, repo: &Path, plan: &Plan) -> anyhow::Result<()> {
    rt.block_on(async {
        let store = open_store(repo).await?;
        store.add_plan(plan, "colony-bench engine", AddOptions::default()).await.context("cannot add the plan")?;
        store.close().await;
        Ok(())
    })
}

/// One engine run, as the parent saw it and as the child reported it.
pub struct EngineRun {
    /// From spawning the child until it exited: process start, store open,
    /// recovery, the run, and exit.
    pub process_wall: Duration,
    /// What the engine's `RunReport` says: `Engine::run` alone.
    pub engine_wall: Duration,
    /// The engine process's own peak resident set (`VmHWM`), in KiB.
    pub engine_rss_kib: i64,
    /// `wait4`'s `ru_maxrss`: the largest of the engine process and every
    /// process it reaped (git, the agent's shell), in KiB.
    pub tree_rss_kib: i64,
    /// CPU time of the engine process itself, and of the children it reaped.
    pub engine_cpu: Duration,
    pub children_cpu: Duration,
    /// The store's event log after the run.
    pub events: Vec<Event>,
}

/// How the engine child runs.
#[derive(Clone, Copy)]
pub struct EngineOpts {
    pub workers: usize,
    pub idle_poll: Duration,
    /// A gate that sleeps this long, run after each agent and again on
    /// each merge candidate; 0: no gates.
    pub gate_ms: u64,
    /// How merges are gated.
    pub merges: Merges,
    /// Tokio worker threads; 0: one per core.
    pub threads: usize,
    /// Agents and gates confined with Landlock, as `[sandbox] mode =
    /// "worktree"` has them.
    pub sandbox: bool,
}

/// How a run's merges are gated, when there are gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Merges {
    /// Every merge gated on its own, under the merge lock.
    Alone,
    /// Merges waiting at once ride one train, gated once.
    Trains,
    /// Gated before their turn, in the line (the engine's default), trains
    /// for the rest.
    Speculate,
}

impl Merges {
    pub fn arg(self) -> &'static str {
        match self {
            Merges::Alone => "alone",
            Merges::Trains => "trains",
            Merges::Speculate => "speculate",
        }
    }
}

/// Runs the engine on `repo` until no task is left, in a child process with
/// `env` added to its environment, and checks that every task is done.
pub fn run_engine(
    rt: &Runtime,
    repo: &Path,
    agent: &Path,
    opts: EngineOpts,
    env: &[(&str, &Path)],
) -> anyhow::Result<EngineRun> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let started = Instant::now();
    let child = Command::new(exe)
        .arg("engine-child")
        .arg("--repo")
        .arg(repo)
        .arg("--agent")
        .arg(agent)
        .args(["--workers", &opts.workers.to_string(), "--idle-poll-ms", &opts.idle_poll.as_millis().to_string()])
        .args(["--threads", &opts.threads.to_string(), "--gate-ms", &opts.gate_ms.to_string()])
        .args(["--merges", opts.merges.arg()])
        .args(opts.sandbox.then_some("--sandbox"))
        .envs(GIT_ENV)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start the engine child")?;
    let done = Running::new(child).finish().context("waiting for the engine child failed")?;
    let process_wall = started.elapsed();
    if !done.status.success() {
        bail!("the engine on {} failed ({}):\n{}", repo.display(), done.status, done.stderr);
    }
    let report: serde_json::Value =
        done.stdout.last().and_then(|l| serde_json::from_str(l).ok()).with_context(|| {
            format!("the engine child printed no report:\n{}\n{}", done.stdout.join("\n"), done.stderr)
        })?;
    let (total, finished) = (report["total"].as_u64(), report["done"].as_u64());
    ensure!(total.is_some() && total == finished, "not every task is done on {}: {report}", repo.display());
    let ms = |field: &str| Duration::from_secs_f64(report[field].as_f64().unwrap_or(0.0) / 1000.0);
    let events = rt.block_on(async {
        let store = open_store(repo).await?;
        let mut events = Vec::new();
        loop {
            let batch = store.events(events.last().map_or(0, |e: &Event| e.seq), 10_000).await?;
            if batch.is_empty() {
                break;
            }
            events.extend(batch);
        }
        store.close().await;
        anyhow::Ok(events)
    })?;
    Ok(EngineRun {
        process_wall,
        engine_wall: ms("wall_ms"),
        engine_rss_kib: report["vm_hwm_kib"].as_i64().unwrap_or(0),
        tree_rss_kib: done.max_rss_kib,
        engine_cpu: ms("cpu_self_ms"),
        children_cpu: ms("cpu_children_ms"),
        events,
    })
}

/// When one attempt reached each step, from the store's events (millisecond
/// timestamps of the store's clock).
#[derive(Default, Clone, Copy)]
pub struct Steps {
    pub claimed: Millis,
    pub checking: Millis,
    pub merging: Millis,
    pub completed: Millis,
}

/// The steps of every task's last attempt, in order of claiming.
pub fn steps(events: &[Event]) -> Vec<(TaskId, Steps)> {
    let mut by_task: HashMap<&TaskId, Steps> = HashMap::new();
    for e in events {
        let Some(task) = &e.task else { continue };
        let steps = by_task.entry(task).or_default();
        match e.kind {
            EventKind::Claimed { .. } => *steps = Steps { claimed: e.at, ..Steps::default() },
            EventKind::PhaseChanged { phase: Phase::Checking, .. } => steps.checking = e.at,
            EventKind::PhaseChanged { phase: Phase::Merging, .. } => steps.merging = e.at,
            EventKind::Completed { .. } => steps.completed = e.at,
            _ => {}
        }
    }
    let mut out: Vec<(TaskId, Steps)> = by_task.into_iter().map(|(t, s)| (t.clone(), s)).collect();
    out.sort_by_key(|(t, s)| (s.claimed, t.clone()));
    out
}

/// Attempts in the events beyond one per task: retries would make the
/// per-task figures mean something else.
pub fn extra_attempts(events: &[Event]) -> usize {
    let claims = events.iter().filter(|e| matches!(e.kind, EventKind::Claimed { .. })).count();
    let tasks = events.iter().filter(|e| matches!(e.kind, EventKind::TaskAdded { .. })).count();
    claims.saturating_sub(tasks)
}
