//! `colony-bench setup`: what a worktree's setup costs each attempt with
//! `[worktree] reuse_setup` against without, in the same run.
//!
//! The setup is a shell script that installs a `node_modules`-like tree of
//! many small files (and a symlink per package, as `.bin` has), the way
//! `npm ci` leaves one, minus the network. Each mode runs the engine
//! in this process on a fresh repository with a chain of tasks, one after
//! another, so every attempt after the first may reuse the first one's
//! setup. An attempt's setup cost is read from its log: from the record
//! that its worktree was made to the record that ends its setup (the last
//! command's end, what was kept, or what was reused). The scratch
//! directory is under `TMPDIR`: run it once on a tmpfs and once on disk.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use colony_agents::{Entry, LogReader, Shutdown};
use colony_core::Millis;
use colony_core::layout::Layout;
use colony_core::record::Record;
use colony_engine::{AgentSetup, Engine, Settings};
use colony_git::Repo;

use crate::engine::scratch::{self, Scratch};
use crate::table;

#[derive(clap::Args)]
pub struct Args {
    /// Attempts in each mode: a chain of this many tasks.
    #[arg(long, default_value_t = 6)]
    attempts: usize,
    /// Files the setup makes.
    #[arg(long, default_value_t = 5000)]
    files: usize,
    /// Files per package directory of the tree.
    #[arg(long, default_value_t = 50)]
    per_package: usize,
    /// Milliseconds the setup waits before it writes its files, standing
    /// for what a real install does besides (resolving, downloading,
    /// unpacking); 0: writing the files is all it does.
    #[arg(long, default_value_t = 0)]
    install_ms: u64,
    /// Runs of each mode, alternating, each on a fresh repository: the
    /// figures are over all of them.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
}

/// How one mode's attempts went, over every round.
#[derive(Default)]
struct Mode {
    /// The setup cost of each round's first attempt.
    first: Vec<Duration>,
    /// The setup cost of each later attempt.
    later: Vec<Duration>,
    /// What each round's engine run took in all.
    walls: Vec<Duration>,
    /// Attempts whose setup was reused.
    reused: usize,
}

impl Mode {
    fn all(&self) -> Vec<Duration> {
        self.first.iter().chain(&self.later).copied().collect()
    }
}

pub fn main(args: Args) -> anyhow::Result<()> {
    ensure!(args.attempts >= 2, "--attempts must be at least 2: the first one makes what the others reuse");
    ensure!(
        args.files > 0 && args.per_package > 0 && args.rounds > 0,
        "--files, --per-package and --rounds must be at least 1"
    );
    for (name, value) in scratch::GIT_ENV {
        // SAFETY: no other thread runs yet; colony's git processes inherit
        // these, as the engine child's do in `colony-bench engine`.
        unsafe { std::env::set_var(name, value) };
    }
    let scratch = Scratch::new()?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "colony-bench setup: {} attempts per mode, a setup of {} files ({} per package) after {} ms of other work; \
         scratch in {} ({cores} cores)",
        args.attempts,
        args.files,
        args.per_package,
        args.install_ms,
        scratch.path().display()
    );
    let (mut without, mut with) = (Mode::default(), Mode::default());
    for round in 0..args.rounds {
        run_mode(&scratch, &format!("without-{round}"), false, &args, &mut without)?;
        run_mode(&scratch, &format!("with-{round}"), true, &args, &mut with)?;
    }
    ensure!(without.reused == 0, "without reuse_setup, {} attempts reused a setup", without.reused);
    let later = (args.attempts - 1) * args.rounds;
    ensure!(with.reused == later, "with reuse_setup, {} of the {later} later attempts reused a setup", with.reused);

    let rows: Vec<Vec<String>> = [("without reuse_setup", &without), ("with reuse_setup", &with)]
        .into_iter()
        .map(|(label, mode)| {
            vec![
                label.to_owned(),
                ms(mean(&mode.first)),
                ms(mean(&mode.later)),
                ms(mean(&mode.all())),
                ms(mode.all().into_iter().max().unwrap_or_default()),
                secs(mean(&mode.walls)),
            ]
        })
        .collect();
    let header = ["setup", "first attempt (mean)", "later (mean)", "per attempt (mean)", "max", "engine wall (mean)"];
    table::print(&header, &rows);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!(
        "  later attempts: {:.1}x cheaper with reuse_setup; per attempt over all {}: {:.1}x; the first attempt \
         pays {} more to keep what setup made",
        ratio(mean(&without.later), mean(&with.later)),
        args.attempts,
        ratio(mean(&without.all()), mean(&with.all())),
        ms(mean(&with.first).saturating_sub(mean(&without.first))),
    );
    println!("  {} rounds of each mode, alternating; load average at the end: {}", args.rounds, load_average());
    println!("  an attempt's setup cost: from its worktree being made to its setup's end, read from its log");
    Ok(())
}

/// Runs the engine on a fresh repository of `args.attempts` tasks in a
/// chain with the setup, `reuse` on or off, and adds its figures to `mode`.
fn run_mode(scratch: &Scratch, name: &str, reuse: bool, args: &Args, mode: &mut Mode) -> anyhow::Result<()> {
    let repo = scratch.repo(name)?;
    std::fs::write(repo.join(".gitignore"), "node_modules/\n")?;
    std::fs::write(repo.join("package-lock.json"), "{\"lockfileVersion\": 3}\n")?;
    std::fs::write(repo.join("install.sh"), install_script(args.files, args.per_package, args.install_ms))?;
    scratch::git(&repo, &["add", "."])?;
    scratch::git(&repo, &["commit", "-qm", "a project with dependencies"])?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start a runtime")?;
    let plan = crate::seed::plan("p", args.attempts, 1)?;
    scratch::add_plan(&rt, &repo, &plan)?;

    let agent = AgentSetup::command(vec!["/bin/sh".into(), scratch.agent().display().to_string()], Vec::new(), &repo)?;
    let mut config = colony_core::config::Config::default();
    config.run.agent = Some("bench".into());
    config.worktree.setup = vec!["sh install.sh".into()];
    config.worktree.reuse_setup = reuse;
    let mut settings = Settings::new(config, BTreeMap::from([("bench".to_owned(), agent)]));
    settings.workers = 1;
    let report = rt.block_on(async {
        let store = Arc::new(scratch::open_store(&repo).await?);
        let git = Repo::open(&repo).context("cannot open the repository")?;
        let report =
            Engine::new(store.clone(), git, settings).run(Shutdown::new()).await.context("the engine failed")?;
        store.close().await;
        anyhow::Ok(report)
    })?;
    ensure!(report.all_done(), "not every task is done in {name}: {:?}", report.failed);

    let layout = Layout::new(&repo);
    mode.walls.push(report.wall);
    for (i, task) in plan.tasks.iter().enumerate() {
        let (cost, reused) = setup_cost(&layout.log(&task.id, 1))
            .with_context(|| format!("no setup in the log of {} ({name})", task.id))?;
        if i == 0 {
            mode.first.push(cost)
        } else {
            mode.later.push(cost)
        }
        mode.reused += usize::from(reused);
    }
    // Its setup cache goes with it: every round starts with none.
    std::fs::remove_dir_all(&repo).with_context(|| format!("cannot remove {}", repo.display()))?;
    Ok(())
}

/// The 1, 5 and 15 minute load averages, for judging how quiet the
/// machine was.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// From an attempt's log: how long from its worktree being made to the
/// end of its setup, and whether the setup was reused.
fn setup_cost(log: &Path) -> Option<(Duration, bool)> {
    let mut reader = LogReader::open(log).ok()?;
    let (mut began, mut ended, mut reused): (Option<Millis>, Option<Millis>, bool) = (None, None, false);
    while let Some(Ok(record)) = reader.next_now() {
        let Entry::Colony(step) = record.entry else { continue };
        match step {
            Record::Began { .. } => began = Some(record.t),
            Record::SetupEnded { .. } | Record::SetupKept { .. } => ended = Some(record.t),
            Record::SetupReused { .. } => (ended, reused) = (Some(record.t), true),
            _ => {}
        }
    }
    let ms = ended?.checked_sub(began?)?;
    Some((Duration::from_millis(u64::try_from(ms).ok()?), reused))
}

/// A shell script that makes `files` files in `node_modules/`, in package
/// directories of `per_package` files each with a `package.json`, and a
/// `.bin` symlink per package, after waiting `wait_ms`.
fn install_script(files: usize, per_package: usize, wait_ms: u64) -> String {
    let wait = scratch::sleep_command(wait_ms);
    format!(
        r#"# An install: many small files, as npm ci leaves them.
{wait}
rm -rf node_modules
mkdir -p node_modules/.bin
n=0
p=0
while [ $n -lt {files} ]; do
  d=node_modules/pkg-$p
  mkdir -p $d/lib
  echo "{{\"name\": \"pkg-$p\", \"version\": \"1.0.$p\"}}" > $d/package.json
  n=$((n + 1))
  i=1
  while [ $i -lt {per_package} ] && [ $n -lt {files} ]; do
    echo "module.exports = function f$i() {{ return $p * $i; }};" > $d/lib/f$i.js
    i=$((i + 1))
    n=$((n + 1))
  done
  ln -s ../pkg-$p/lib node_modules/.bin/pkg-$p
  p=$((p + 1))
done
"#
    )
}

fn mean(costs: &[Duration]) -> Duration {
    let total: Duration = costs.iter().sum();
    total / u32::try_from(costs.len().max(1)).unwrap_or(u32::MAX)
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
