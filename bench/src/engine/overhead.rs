//! Orchestration overhead: the engine at one worker on tasks whose agent
//! only writes a file, against a shell script doing the same git work by
//! hand with the same agent, in the same run. What colony adds on top of
//! the script is its overhead: store transactions, process supervision,
//! logs, and the git calls it makes beyond the minimum. colony runs once
//! more with its agents confined (`[sandbox] mode = "worktree"`), against
//! its own run unconfined: the sandbox's added time per attempt.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::runtime::Runtime;

use super::scratch::{self, EngineOpts, EngineRun, GIT_ENV, Scratch};
use crate::child::Running;
use crate::{seed, table};

/// The baseline: for each task, what colony's git layer does for an
/// attempt, by hand — `worktree add` from the tip, the agent with colony's
/// environment variables, `add -A` and `commit`, `merge-tree
/// --write-tree`, `commit-tree` with the tip as first parent, `update-ref`
/// as a compare-and-swap, `worktree remove` — and the task branch deleted,
/// as colony deletes merged ones, so both runs leave the same repository.
/// A measuring tool written out at run time, not a way to run a plan.
const BASELINE: &str = r#"# colony-bench's baseline. Arguments: REPO AGENT REF PROMPT TASK...
set -eu
repo=$1 agent=$2 ref=$3 prompt=$4
shift 4
cd "$repo"
runs=$repo/.colony/runs
mkdir -p "$runs"
tip=$(git rev-parse --verify "$ref")
for id in "$@"; do
	wt=$repo/.colony/worktrees/$id-a1
	branch=colony-task/bench/$id-a1
	git worktree add --quiet -b "$branch" "$wt" "$tip"
	printf '{"id":"%s"}\n' "$id" > "$runs/$id.json"
	printf '%s\n' "$prompt" | (
		cd "$wt"
		export COLONY_TASK_ID="$id" COLONY_ATTEMPT=1 COLONY_WORKTREE="$wt" COLONY_TASK_FILE="$runs/$id.json"
		exec /bin/sh "$agent"
	) > "$runs/$id.log" 2>&1
	git -C "$wt" add -A
	git -C "$wt" commit --quiet --no-verify -m "bench task $id"
	head=$(git -C "$wt" rev-parse HEAD)
	tree=$(git merge-tree --write-tree "$tip" "$head")
	new=$(git commit-tree "$tree" -p "$tip" -p "$head" -m "Merge task $id")
	git update-ref "$ref" "$new" "$tip"
	git worktree remove --force "$wt"
	git branch --quiet -D "$branch"
	tip=$new
done
"#;

const GOAL: &str = "<= 1.50x";
/// The branch both sides merge into: colony's default for plan `bench`.
const BRANCH: &str = "colony/bench";

pub struct Args {
    pub tasks: usize,
    pub width: usize,
    /// Each side runs this many times, alternating, and the best run of
    /// each is compared: load from other processes only ever slows a run.
    pub rounds: usize,
    pub engine: EngineOpts,
    /// Tasks in the traced runs that count git processes; 0: none.
    pub trace_tasks: usize,
}

/// One run of the baseline script.
struct ScriptRun {
    wall: Duration,
    /// The shell's CPU time and that of every process under it.
    cpu: Duration,
}

/// Measures the script and colony, prints the figures, and returns
/// colony's best run for the memory table.
pub fn measure(rt: &Runtime, scratch: &Scratch, args: &Args) -> anyhow::Result<EngineRun> {
    let shape = if args.width == 0 { "independent".to_owned() } else { format!("layers of {}", args.width) };
    println!(
        "\norchestration overhead: {} tasks ({shape}), 1 worker, the agent writes one file; {} alternating rounds",
        args.tasks, args.rounds
    );
    std::fs::write(scratch.path().join("baseline.sh"), BASELINE).context("cannot write the baseline script")?;
    let engine = EngineOpts { workers: 1, ..args.engine };
    let mut scripts = Vec::new();
    let mut colonies = Vec::new();
    let mut confined = Vec::new();
    for round in 1..=args.rounds {
        let repo = scratch.repo(&format!("script-{round}"))?;
        scripts.push(run_script(scratch, &repo, args.tasks, args.width, &[])?);
        scratch::check_result(&repo, BRANCH, args.tasks)?;

        let repo = scratch.repo(&format!("colony-{round}"))?;
        scratch::add_plan(rt, &repo, &seed::plan("bench", args.tasks, args.width)?)?;
        colonies.push(scratch::run_engine(rt, &repo, &scratch.agent(), engine, &[])?);
        scratch::check_result(&repo, BRANCH, args.tasks)?;

        let repo = scratch.repo(&format!("sandboxed-{round}"))?;
        scratch::add_plan(rt, &repo, &seed::plan("bench", args.tasks, args.width)?)?;
        let sandboxed = EngineOpts { sandbox: true, ..engine };
        confined.push(scratch::run_engine(rt, &repo, &scratch.agent(), sandboxed, &[])?);
        scratch::check_result(&repo, BRANCH, args.tasks)?;
    }

    let per_task = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0 / args.tasks as f64);
    let row = |side: &str, round: usize, wall: Duration, cpu: Duration| {
        vec![side.to_owned(), round.to_string(), secs(wall), per_task(wall), secs(cpu), per_task(cpu)]
    };
    let mut rows = Vec::new();
    for (i, (script, colony)) in scripts.iter().zip(&colonies).enumerate() {
        rows.push(row("script (git by hand)", i + 1, script.wall, script.cpu));
        rows.push(row("colony (engine process)", i + 1, colony.process_wall, colony.engine_cpu + colony.children_cpu));
        let sandboxed = &confined[i];
        let cpu = sandboxed.engine_cpu + sandboxed.children_cpu;
        rows.push(row("colony, sandbox worktree", i + 1, sandboxed.process_wall, cpu));
    }
    table::print(&["run", "round", "wall", "wall/task", "CPU incl. children", "CPU/task"], &rows);
    let script = scripts.into_iter().min_by_key(|r| r.wall).context("no round ran")?;
    let colony = colonies.into_iter().min_by_key(|r| r.process_wall).context("no round ran")?;
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "  colony / script, best round of each: wall {:.2}x (goal {GOAL}), {} more per task; CPU {:.2}x",
        ratio(colony.process_wall, script.wall),
        per_task(colony.process_wall.saturating_sub(script.wall)),
        ratio(colony.engine_cpu + colony.children_cpu, script.cpu),
    );
    println!(
        "  (colony's best run: Engine::run {}, the rest is process start, store open and exit; its own CPU {}, its children's {})",
        secs(colony.engine_wall),
        secs(colony.engine_cpu),
        secs(colony.children_cpu)
    );
    let sandboxed = confined.into_iter().min_by_key(|r| r.process_wall).context("no round ran")?;
    let added = |a: Duration, b: Duration| {
        format!("{:+.1} ms", (a.as_secs_f64() - b.as_secs_f64()) * 1000.0 / args.tasks as f64)
    };
    println!(
        "  sandbox worktree / off, best round of each: wall {:.2}x ({} per attempt), Engine::run {:.2}x ({} per attempt)",
        ratio(sandboxed.process_wall, colony.process_wall),
        added(sandboxed.process_wall, colony.process_wall),
        ratio(sandboxed.engine_wall, colony.engine_wall),
        added(sandboxed.engine_wall, colony.engine_wall),
    );
    let (off, on) = spawn_times(rt, scratch)?;
    println!(
        "  one child started and waited for, median of {SPAWNS}: unconfined {:.2} ms, confined {:.2} ms: {:+.2} ms per child",
        off.as_secs_f64() * 1000.0,
        on.as_secs_f64() * 1000.0,
        (on.as_secs_f64() - off.as_secs_f64()) * 1000.0,
    );
    print_steps(&colony, args.tasks);
    if args.trace_tasks > 0 {
        print_git_counts(rt, scratch, args)?;
    }
    Ok(colony)
}

/// Children started for the sandbox's cost per child.
const SPAWNS: usize = 200;

/// The median time to start `/bin/true` under supervision and see it
/// end, unconfined and confined to the scratch directory (alternating,
/// so that load from elsewhere falls on both): what the sandbox adds to
/// each agent and gate, its ruleset built and taken on, measured apart
/// from the noise of whole attempts.
fn spawn_times(rt: &Runtime, scratch: &Scratch) -> anyhow::Result<(Duration, Duration)> {
    use colony_agents::sandbox::{Places, Sandbox};
    let sandbox = Sandbox::new(&Places::from_env(), &[], false);
    let mut times = [Vec::with_capacity(SPAWNS), Vec::with_capacity(SPAWNS)];
    for i in 0..SPAWNS * 2 {
        let mut spec = colony_agents::ChildSpec::new("/bin/true", scratch.path());
        let confined = i % 2 == 1;
        spec.confine = confined.then(|| sandbox.confine(scratch.path(), &[], false));
        let started = Instant::now();
        rt.block_on(colony_agents::run(spec, &Default::default(), &mut Quiet))?;
        times[usize::from(confined)].push(started.elapsed());
    }
    let [mut off, mut on] = times;
    off.sort();
    on.sort();
    Ok((off[SPAWNS / 2], on[SPAWNS / 2]))
}

/// Hears a child and keeps nothing.
struct Quiet;

impl colony_agents::RunObserver for Quiet {
    fn started(&mut self, _: colony_agents::Pgid) {}
    fn line(&mut self, _: colony_agents::OutputLine) {}
}

/// Runs the baseline on `repo` for a plan of `tasks` tasks, timed from
/// spawning the shell until it exited.
fn run_script(
    scratch: &Scratch,
    repo: &Path,
    tasks: usize,
    width: usize,
    env: &[(&str, &Path)],
) -> anyhow::Result<ScriptRun> {
    scratch::git(repo, &["branch", BRANCH, "main"])?;
    let plan = seed::plan("bench", tasks, width)?;
    let prompt = plan.tasks.first().map_or("", |t| t.prompt.as_str()).to_owned();
    let started = Instant::now();
    let child = Command::new("/bin/sh")
        .arg(scratch.path().join("baseline.sh"))
        .arg(repo)
        .arg(scratch.agent())
        .arg(format!("refs/heads/{BRANCH}"))
        .arg(prompt)
        .args(plan.tasks.iter().map(|t| t.id.as_str()))
        .envs(GIT_ENV)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run the baseline script")?;
    let done = Running::new(child).finish().context("waiting for the baseline script failed")?;
    let wall = started.elapsed();
    if !done.status.success() {
        bail!("the baseline script failed ({}):\n{}", done.status, done.stderr);
    }
    Ok(ScriptRun { wall, cpu: done.cpu })
}

/// Where colony's time per task goes, from the timestamps of the store's
/// events. At one worker the attempts follow one another, so the gap from
/// one completion to the next claim is the cleanup after a merge plus the
/// next claim.
fn print_steps(run: &EngineRun, tasks: usize) {
    let steps = scratch::steps(&run.events);
    let extra = scratch::extra_attempts(&run.events);
    let (Some(first), Some(last)) = (steps.first(), steps.last()) else { return };
    let mean = |f: &dyn Fn(usize) -> i64, n: usize| (0..n).map(f).sum::<i64>() as f64 / n.max(1) as f64;
    let n = steps.len();
    let agent = mean(&|i| steps[i].1.checking - steps[i].1.claimed, n);
    let gates = mean(&|i| steps[i].1.merging - steps[i].1.checking, n);
    let merge = mean(&|i| steps[i].1.completed - steps[i].1.merging, n);
    let between = mean(&|i| steps[i + 1].1.claimed - steps[i].1.completed, n - 1);
    let span_ms = (last.1.completed - first.1.claimed) as f64;
    let outside = run.process_wall.as_secs_f64() * 1000.0 - span_ms;
    let row = |step: &str, what: &str, ms: f64| vec![step.to_owned(), what.to_owned(), format!("{ms:.1} ms")];
    println!("\n  colony per task, from the store's event timestamps (mean of {tasks}):");
    table::print(
        &["step", "what happens in it", "mean"],
        &[
            row("claimed -> checking", "worktree add, agent, commit", agent),
            row("checking -> merging", "gates (none configured)", gates),
            row("merging -> completed", "merge lock, bring tip in, merge-tree, commit-tree, update-ref", merge),
            row("completed -> next claim", "unlock, worktree remove, branch delete, claim", between),
            row("outside attempts (once)", "process start, store open, recovery, end of run", outside),
        ],
    );
    if extra > 0 {
        println!("  note: {extra} attempts were retries; per-task means include them");
    }
}

/// Counts the git processes of a short traced run of each side
/// (`GIT_TRACE` makes every git process log its command), per task, and
/// colony's by git command. Untimed: tracing costs a write per process.
fn print_git_counts(rt: &Runtime, scratch: &Scratch, args: &Args) -> anyhow::Result<()> {
    let tasks = args.trace_tasks;
    let script_trace = scratch.path().join("script.trace");
    let script_repo = scratch.repo("trace-script")?;
    run_script(scratch, &script_repo, tasks, args.width, &[("GIT_TRACE", &script_trace)])?;
    let colony_trace = scratch.path().join("colony.trace");
    let colony_repo = scratch.repo("trace-colony")?;
    scratch::add_plan(rt, &colony_repo, &seed::plan("bench", tasks, args.width)?)?;
    let engine = EngineOpts { workers: 1, ..args.engine };
    scratch::run_engine(rt, &colony_repo, &scratch.agent(), engine, &[("GIT_TRACE", &colony_trace)])?;
    let script = git_commands(&script_trace)?;
    let colony = git_commands(&colony_trace)?;
    let per_task = |n: usize| n as f64 / tasks as f64;
    println!(
        "\n  git processes per task (GIT_TRACE, {tasks}-task runs, fixed costs included; a git that starts another counts twice): colony {:.1}, script {:.1}",
        per_task(colony.values().sum()),
        per_task(script.values().sum())
    );
    for (side, counts) in [("colony", &colony), ("script", &script)] {
        let mut by_count: Vec<(&String, &usize)> = counts.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let listed: Vec<String> = by_count.iter().map(|(cmd, n)| format!("{cmd} {:.1}", per_task(**n))).collect();
        println!("  {side}'s by command: {}", listed.join(", "));
    }
    Ok(())
}

/// How many git processes ran each command, from a `GIT_TRACE` file: each
/// git process logs `trace: built-in: git CMD ...` once.
fn git_commands(trace: &Path) -> anyhow::Result<BTreeMap<String, usize>> {
    let text = std::fs::read_to_string(trace).with_context(|| format!("cannot read {}", trace.display()))?;
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        if let Some((_, rest)) = line.split_once("trace: built-in: git ") {
            let cmd = rest.split_whitespace().next().unwrap_or("").to_owned();
            *counts.entry(cmd).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
