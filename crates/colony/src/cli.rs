//! The command line as clap sees it: every command, flag and help line.
//!
//! Help is written for someone who has never seen colony: the top level says
//! what colony is and shows a first session, and every command and flag has
//! a line of its own. Only commands that work are listed; the ones still to
//! come (doctor, …) are left out rather than stubbed.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;
use colony_core::config::MAX_WORKERS;
use colony_core::{TaskId, TaskStatus};

const ABOUT: &str = "Run a plan of coding tasks through many AI coding agents at once";

const LONG_ABOUT: &str = "\
colony runs a plan of coding tasks through many AI coding agents at once,
each agent in its own git worktree. A plan is a YAML, TOML or JSON file of
tasks and their dependencies; colony keeps every task's state in a durable
store in your repository, where you can list, inspect and steer them.";

const AFTER_HELP: &str = "\
New here? `colony demo` runs a sample plan in a scratch repository.

Example:
  colony init              set up this repository
  colony add plan.yaml     import a plan (`colony add --help` shows one)
  colony run               work through its tasks, several agents at once
  colony status            see where things stand
  colony land              bring the finished work into your branch";

/// `colony`: the parsed command line.
#[derive(Debug, Parser)]
#[command(
    name = "colony",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    max_term_width = 80,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The repository to work in [default: the git repository around the
    /// current directory]
    #[arg(long, global = true, value_name = "DIR", display_order = GLOBAL_ORDER)]
    pub repo: Option<PathBuf>,

    /// Where colony keeps its state: sqlite:PATH (relative to the repository
    /// root) or postgres://USER@HOST/DB for a store shared by several
    /// machines
    #[arg(
        long,
        global = true,
        env = "COLONY_STORE",
        value_name = "URL",
        default_value = DEFAULT_STORE,
        hide_env_values = true,
        display_order = GLOBAL_ORDER
    )]
    pub store: String,
}

/// Global options are listed after each command's own.
const GLOBAL_ORDER: usize = 100;

/// The store a repository uses unless told otherwise.
const DEFAULT_STORE: &str = "sqlite:.colony/colony.db";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up colony in this repository
    #[command(long_about = "\
Set up colony in this repository.

Creates .colony/ (colony's state, kept out of git through
.git/info/exclude), writes a commented colony.toml at the repository root if
there is none, and creates the store. Running it again changes nothing that
is already there.")]
    Init,

    /// Make a plan from a goal: an agent plans the tasks
    #[command(long_about = "\
Make a plan from a goal: a planner agent reads the goal and a summary of the
repository (its files, languages, README and recent commits) and answers
with a plan of tasks. colony checks the plan as `colony add` would; a plan it
refuses goes back to the planner with the reason, up to [plan] max_rounds
times (default 3). The planner works in a worktree of its own that is thrown
away, confined to it when the sandbox is on; your checkout is not touched.

The plan is written to plans/<name>.yaml (or --output) and summarised: its
tasks, its longest chain of dependencies, how many tasks can run at once,
and the files most tasks share. Read it, then `colony run` it, or pass --run.

The planner is --agent, else [plan] agent in colony.toml, else the run's
agent. Exit code: 0 with a plan, 2 for bad input, 3 when the planner gave no
plan colony accepts (the last refusal is printed).")]
    Plan(PlanArgs),

    /// Replace a failed task with new ones a planner agent proposes
    #[command(long_about = "\
Replace a failed (or blocked) task with new tasks: a planner agent is given
the task, why each of its attempts ended, what its agent said last and the
rest of its plan, and proposes tasks to do what it was for. colony checks
them as `colony add` would (a refusal goes back to the planner, up to [plan]
max_rounds times) and shows them. Once you say yes (or with --yes), in one
step: the new tasks join the plan, the tasks that depended on the replaced
one depend on the last of the new ones instead, and the replaced task ends
`replaced` (counted as finished). The plan's file is rewritten to match, as
`colony export` writes it. Then `colony run` works on them.

Exit code: 0 when replaced (or when you said no), 2 for bad input (a task
that is not failed or blocked, no --yes without a terminal), 3 when the
planner gave nothing colony accepts.")]
    Replan(ReplanArgs),

    /// Import plan files (again, to update the tasks that changed)
    #[command(long_about = "\
Import plan files into the store.

Every file is checked before anything is written: if one has a problem, all
problems are printed and nothing is added. Adding a plan again is safe: new
tasks are added, changed tasks updated, and unchanged ones left alone. Tasks
that have already started are only changed with --force.

A plan is YAML, TOML or JSON. Each task has an id (letters, digits, `.`, `_`
and `-`), a title and a prompt for the agent, and may list the tasks it
depends on, acceptance criteria and the files it works on:

  name: auth                 # the plan's name (default: the file's name)
  tasks:
    - id: db-schema
      title: Add the users table
      prompt: |
        Add a migration that creates a users table ...
      acceptance: [\"the migration applies\", \"tests pass\"]
      files: [\"migrations/**\", \"src/db/**\"]
    - id: login-api
      title: Login endpoint
      prompt: Add POST /api/login ...
      deps: [db-schema]

amplifier-swarm's tasks.yaml is read as it is, too.")]
    Add(AddArgs),

    /// Run the tasks: agents work in parallel, finished work is merged
    #[command(long_about = "\
Run the tasks until nothing more can run.

Each task's agent works in a git worktree of its own under
.colony/worktrees/. When it is done, the checks in colony.toml's [gates]
run; a failure goes back to the agent to fix. Passing work is merged, one
task at a time, into the plan's integration branch (colony/<plan>); your own
branch and working tree are not touched until you run `colony land`.

Plan files given here are imported first, as `colony add` would. A run can
be stopped with Ctrl-C (running agents may finish; press it again to stop
them at once) and continued later with `colony run`.

Exit code: 0 when every task is done, 3 when tasks failed, are blocked or
cancelled, or the run was stopped early.")]
    Run(RunArgs),

    /// Serve the dashboard: watch and steer the run in a browser
    #[command(long_about = "\
Serve the dashboard and its JSON API (docs/api.md) until Ctrl-C.

The page shows progress, every task with its log, diff and gate output,
the dependency graph and the workers, updated live. Reading is open to
anyone who can reach the address (127.0.0.1 by default: this machine
only); the controls (retry, cancel, kill) need the token colony keeps in
.colony/token. The URL printed at start carries it: open that one. The
server answers only to its address, localhost and loopback addresses
(bound to 0.0.0.0, to any address), not to other names (DNS rebinding).

To stop a run from the page, serve it from the run itself with
`colony run --serve`.")]
    Serve(ServeArgs),

    /// Stop the runs working on this repository, from any shell
    #[command(long_about = "\
Stop the colony runs (and workers) of this machine that work on the store,
as Ctrl-C in their terminal would: no new attempts start, running ones may
finish within the shutdown grace, and the rest go back to the queue for the
next `colony run`. With --now, the agents are stopped at once too. Waits
until they have ended. A run on another machine is named, to be stopped
there.")]
    Stop(StopArgs),

    /// Follow the run working on this repository until it ends
    #[command(long_about = "\
Follow a run started elsewhere (`colony run --detach`, another terminal):
its progress, line by line, until it ends. Ctrl-C leaves the run running.")]
    Attach,

    /// Join a run shared by several machines and work on its tasks
    #[command(long_about = "\
Join a run whose store several machines share (--store postgres://…) and
work on its tasks until none is left, without importing plans.

Each machine needs a clone of the repository whose remote ([run] remote in
colony.toml, default origin) is the one every machine pushes to. A worker
claims ready tasks from the shared store, works them in local worktrees,
pushes each attempt's branch to the remote, and merges finished work into
the remote's integration branch, one task at a time across all machines.
`colony run` on one machine adds the plans and works too; workers may join
or leave (Ctrl-C) at any time. A worker that starts before any plan is
added waits for one.

Exit code: 0 when every task is done, 3 when tasks failed, are blocked or
cancelled, or the worker was stopped early.")]
    Worker(WorkerArgs),

    /// List tasks with their status and attempts
    List(ListArgs),

    /// Show one task in full: state, dependencies, prompt, history
    Show(ShowArgs),

    /// Summarize: tasks by status, plans, progress, what to do next
    Status(JsonArg),

    /// Show what a task's agent printed, or follow it live with -f
    Logs(LogsArgs),

    /// Print the event log, the record of everything that happened
    Events(EventsArgs),

    /// Send failed or cancelled tasks back to the queue
    #[command(long_about = "\
Send failed or cancelled tasks back to the queue, with their attempts reset.

Tasks that were blocked by them wait for them again. Either every named
task is retried or, if one cannot be, none is.")]
    Retry(IdsArg),

    /// Cancel tasks; the tasks that depend on them become blocked
    #[command(long_about = "\
Cancel tasks. The tasks that depend on them become blocked until the
cancelled task is retried with `colony retry`. Either every named task is
cancelled or, if one cannot be, none is.")]
    Cancel(IdsArg),

    /// Stop running attempts now; each task gets a new try
    #[command(long_about = "\
Kill the running attempts of tasks: each lease is taken back at once, and
the worker holding it, in any colony process on any machine sharing the
store, stops the agent at its next heartbeat (within a third of the
lease). The kill counts as a try: the task is queued again while it has
attempts left (`max_attempts`), else it fails, recorded as killed by a
person. Either every named task is killed or, if one is not running,
none is.

Like retry, cancel, approve and reject (and the dashboard's buttons), it
is one request carried out by the store the same way whichever door it
came by.")]
    Kill(IdsArg),

    /// Send a task that awaits approval on to the merge
    #[command(long_about = "\
Approve a task whose automatic checks (gates, review) passed and that waits
for a person (`approval: required`). A worker then merges its work: the
running `colony run`, or the next one.

Approving a follow-up an agent proposed (status `proposed`) adds it to its
plan's work.")]
    Approve(ApproveArgs),

    /// Send a task that awaits approval back to its agent with feedback
    #[command(long_about = "\
Reject a task that awaits approval: its agent gets your feedback (in its own
session where the agent CLI can resume one) for another round, then the
gates and the review run again and it waits for you once more.

Rejecting a follow-up an agent proposed (status `proposed`) drops it, and
the proposals that depend on it; the feedback says why.")]
    Reject(RejectArgs),

    /// Answer the question a task's agent asked
    #[command(long_about = "\
Answer the question a task's agent asked a person (its `ask_human` tool;
`colony status` and `colony show ID` show the question). The task is ready
again: its next attempt goes on from the asking attempt's work and gives
the agent your answer, in its own session where the agent CLIs can resume
one. TEXT `-` reads the answer from stdin.

A question nobody answers within `[run] answer_timeout` (12h unless
colony.toml says otherwise) fails its task, the question as the reason.")]
    Answer(AnswerArgs),

    /// Check which agent CLIs are installed, git, and the store
    #[command(long_about = "\
Check that this machine can run a plan: each agent CLI colony knows or
colony.toml configures (found on PATH or not, its version, how to install it
or log it in), git (2.38 or later merges in memory), and the store.

Exit code: 1 when the default agent ([run] agent, or --agent) cannot run.")]
    Doctor(DoctorArgs),

    /// Bring a plan's finished work into your branch or a pull request
    #[command(long_about = "\
Bring a plan's integration branch (colony/<plan>) into the branch you have
checked out: a fast-forward, or a merge commit with --merge. Your working
tree must have no uncommitted changes; if it has, or the branches have
diverged, nothing is changed and colony says what to do.

With --pr, your checkout is left alone: colony pushes colony/<plan> to the
remote and opens a pull request for it with the forge's own CLI (`gh` for
GitHub, `glab` for GitLab, told by the remote's URL or `[land] forge` in
colony.toml), described from the store: each task's agent, attempts,
reviews, gates and cost, what failed and why, and the totals. Run again
after more work, it updates the same pull request. A missing or logged-out
CLI is refused before anything is pushed.

With --per-task, each merged task gets a pull request of its own, from a
branch colony-pr/<plan>/<task> holding its change alone on the branch of the
first task it depends on (into which it is proposed), or on the base branch:
a stack, in dependency order. For a plan `colony pr-fixes` made, its work is
pushed to the reviewed pull request's branch and each comment is answered
with the commit that addressed it.")]
    Land(LandArgs),

    /// Turn a pull request's unresolved review comments into tasks
    #[command(long_about = "\
Turn a pull request's unresolved review comments into a plan of tasks, one
per comment thread, based on the pull request's branch. Each task's prompt
quotes the comment, its author, and the file and line it is on; its files
are that file. The comments are read with `gh api` (GitHub's review threads)
or `glab api` (GitLab's discussions); resolved ones, and ones an earlier
`colony pr-fixes` made into tasks, are left out.

The plan is written to plans/pr-<N>-fixes.yaml and added to the store:
`colony run` works on it like any plan. Then `colony land --pr --plan
pr-<N>-fixes` pushes its work to the pull request's branch and answers each
comment with the commit that addressed it, once.

Without PR, the pull request is the open one whose head is the plan's
branch (colony/<plan>). Exit code 2, with nothing changed, for a pull request
that does not exist or is closed, a branch with none, or a missing or
logged-out CLI.")]
    PrFixes(PrFixesArgs),

    /// Write a stored plan back out as a plan file
    #[command(long_about = "\
Write a stored plan back out in colony's plan format. Adding the written
file again changes nothing.")]
    Export(ExportArgs),

    /// Report what a run did and where its time went
    #[command(long_about = "\
Report on a plan's run: a timeline of attempts per worker, the critical
path, the time split into agent work, gates, review, the merge queue and
rate-limit pauses, per agent and model totals, the slowest and most
expensive tasks, and every failure with its class. See docs/report.md.")]
    Report(ReportArgs),

    /// Watch colony work: a sample plan run in a scratch repository
    #[command(long_about = "\
Watch colony work on a sample project, with no agent to install.

Creates a git repository in a new temporary directory (or DIR with --keep),
adds a 12-task plan that builds a small static site, and runs it with
colony's built-in fake agent on 4 workers. Along the way one task fails and
is retried, one is sent back by a check and fixed, and two tasks that edit
the same file conflict and are reconciled. It takes under a minute; the
repository is kept so you can look around.")]
    Demo(DemoArgs),

    /// Serve colony's tools to an agent session (MCP, on stdio)
    #[command(long_about = "\
Serve colony as an MCP server on standard input and output, for the agent
session you work in (Claude Code, Codex, Gemini CLI, Cursor, OpenCode): it
can then plan from a goal, add a plan, start a detached run, watch it,
approve, reject, retry and land, as the commands of the same names do.
Each tool runs that command for this repository, with the same checks and
the same errors. Resources (colony://status, colony://tasks, a task, a plan)
change notifications follow the run.

Your client starts the server; `colony mcp install CLIENT` adds it to the
client's configuration. docs/mcp.md lists the tools.")]
    Mcp(McpArgs),

    /// See, and take over, the templates colony makes its prompts from
    #[command(long_about = "\
See, and take over, the templates colony makes every prompt from: builder
(the task's first round), fixer (feedback: failed gates, review findings, a
person's answer, a conflict), reviewer, and resolver (a conflict at the
merge). A project's own .colony/prompts/<role>.md replaces the shipped one;
`eject` writes the shipped one there to start from. docs/prompts.md lists
what each template is given. `colony show ID --prompt` prints what was sent.")]
    Prompts(PromptsArgs),

    /// Print a shell completion script
    #[command(long_about = "\
Print a shell completion script. For example:
  colony completions bash > ~/.local/share/bash-completion/completions/colony
  colony completions zsh > ~/.zfunc/_colony
  colony completions fish > ~/.config/fish/completions/colony.fish")]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The task, as `colony list` shows it
    #[arg(value_name = "ID")]
    pub id: TaskId,
}

#[derive(Debug, Args)]
pub struct RejectArgs {
    /// The task, as `colony list` shows it
    #[arg(value_name = "ID")]
    pub id: TaskId,

    /// What the agent should change
    #[arg(long, short, value_name = "TEXT")]
    pub feedback: String,
}

#[derive(Debug, Args)]
pub struct AnswerArgs {
    /// The task, as `colony status` shows it
    #[arg(value_name = "ID")]
    pub id: TaskId,

    /// Your answer; `-` reads it from stdin
    #[arg(value_name = "TEXT")]
    pub text: String,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check this agent as the one a run would use [default: colony.toml's
    /// [run] agent]
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,

    /// Print the findings as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Plan files to import
    #[arg(value_name = "PLAN", required = true)]
    pub plans: Vec<PathBuf>,

    /// Also update tasks that have already started or finished; they go back
    /// to the queue and run again
    #[arg(long)]
    pub force: bool,

    /// Print what was added as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["goal", "file"])))]
pub struct PlanArgs {
    /// What the plan is to achieve, in a sentence or more
    #[arg(value_name = "GOAL")]
    pub goal: Option<String>,

    /// Read the goal from this file instead
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Where to write the plan [default: plans/<name>.yaml]
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// The planner's agent [default: `agent` in colony.toml's [plan], else
    /// its [run]]
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,

    /// Open the plan in $VISUAL or $EDITOR before it is summarised
    #[arg(long)]
    pub edit: bool,

    /// Then run it, as `colony run PLAN` would
    #[arg(long)]
    pub run: bool,

    /// With --run: how many agents work at once
    #[arg(long = "jobs", short = 'j', value_name = "N", requires = "run", value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_WORKERS)))]
    pub jobs: Option<u16>,
}

#[derive(Debug, Args)]
pub struct ReplanArgs {
    /// The failed or blocked task to replace
    #[arg(value_name = "ID")]
    pub id: String,

    /// The planner's agent [default: `agent` in colony.toml's [plan], else
    /// its [run]]
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,

    /// Replace it without asking (needed when not on a terminal)
    #[arg(long, short)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Plan files to import first, as `colony add` would
    #[arg(value_name = "PLAN")]
    pub plans: Vec<PathBuf>,

    /// How many agents work at once [default: `workers` in colony.toml]
    #[arg(long = "jobs", short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_WORKERS)))]
    pub jobs: Option<u16>,

    /// The agent for tasks whose plan names none [default: `agent` in
    /// colony.toml]
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,

    /// Print nothing but the summary at the end
    #[arg(long, short, conflicts_with = "json")]
    pub quiet: bool,

    /// Print one JSON event per line (the summary goes to stderr)
    #[arg(long)]
    pub json: bool,

    /// Serve the dashboard while the run lasts (see `colony serve`); its
    /// stop buttons stop this run
    #[arg(long)]
    pub serve: bool,

    /// The dashboard's address, with --serve
    #[arg(long, value_name = "HOST:PORT", default_value = colony_web::DEFAULT_ADDR, requires = "serve")]
    pub addr: SocketAddr,

    /// Run even when a gate already fails on the integration branch; a
    /// gate failure the branch shares is then not held against a task
    #[arg(long)]
    pub allow_failing_gates: bool,

    /// Run in the background, in a session of its own that outlives this
    /// terminal, its output in .colony/run.log; `colony attach` follows it
    /// and `colony stop` stops it
    #[arg(long)]
    pub detach: bool,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Stop the agents at once too, as Ctrl-C twice; their tasks go back
    /// to the queue
    #[arg(long)]
    pub now: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen; port 0 picks a free port (printed at start). An
    /// address other than 127.0.0.1 lets other machines read the dashboard
    #[arg(long, value_name = "HOST:PORT", default_value = colony_web::DEFAULT_ADDR)]
    pub addr: SocketAddr,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// How many agents work at once on this machine [default: `workers` in
    /// colony.toml]
    #[arg(long = "jobs", short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_WORKERS)))]
    pub jobs: Option<u16>,

    /// The agent for tasks whose plan names none [default: `agent` in
    /// colony.toml]
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,

    /// Print nothing but the summary at the end
    #[arg(long, short)]
    pub quiet: bool,

    /// Work even when a gate already fails on the integration branch (as
    /// `colony run --allow-failing-gates`)
    #[arg(long)]
    pub allow_failing_gates: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The task's id, as `colony list` shows it
    pub id: String,

    /// Keep printing as the agent writes, until its attempt ends (or Ctrl-C)
    #[arg(long, short)]
    pub follow: bool,

    /// Which attempt [default: the latest]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub attempt: Option<u32>,

    /// Print only the last N records already written (then, with -f, each
    /// new one)
    #[arg(long, short = 'n', value_name = "N", default_value_t = 200, conflicts_with = "all")]
    pub tail: usize,

    /// Print every record, however long the log
    #[arg(long)]
    pub all: bool,

    /// Print the log's records as they are stored, one JSON object a line
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LandArgs {
    /// The plan to land; needed only when the store holds several
    #[arg(long, short, value_name = "NAME")]
    pub plan: Option<String>,

    /// Make a merge commit instead of fast-forwarding (also when your branch
    /// has commits of its own)
    #[arg(long, conflicts_with = "pr")]
    pub merge: bool,

    /// Push the plan's branch and open (or update) its pull request, with
    /// `gh` or `glab`, instead of changing your checkout
    #[arg(long)]
    pub pr: bool,

    /// With --pr: one pull request per merged task instead, each from a
    /// branch of its own (colony-pr/<plan>/<task>) into the branch of a task
    /// it depends on, or into the base branch
    #[arg(long, requires = "pr", conflicts_with = "title")]
    pub per_task: bool,

    /// With --pr: open it as a draft
    #[arg(long, requires = "pr")]
    pub draft: bool,

    /// With --pr: the branch it proposes the work to [default: the branch
    /// you have checked out]
    #[arg(long, value_name = "BRANCH", requires = "pr")]
    pub base: Option<String>,

    /// With --pr: its title [default: `colony: plan NAME (N of M tasks)`]
    #[arg(long, value_name = "TEXT", requires = "pr")]
    pub title: Option<String>,

    /// With --pr: the git remote to push to [default: origin]
    #[arg(long, value_name = "NAME", requires = "pr")]
    pub remote: Option<String>,
}

#[derive(Debug, Args)]
pub struct PrFixesArgs {
    /// The pull request's number [default: the open one of the plan's
    /// branch]
    #[arg(value_name = "PR", value_parser = clap::value_parser!(u64).range(1..))]
    pub pr: Option<u64>,

    /// The plan whose branch's pull request to read; needed only without PR
    /// when the store holds several plans
    #[arg(long, short, value_name = "NAME", conflicts_with = "pr")]
    pub plan: Option<String>,

    /// The git remote the pull request's branch is on [default: origin]
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Create the demo repository in DIR (new or empty) instead of a new
    /// temporary directory
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only tasks in this status; repeat or separate with commas
    #[arg(long, short, value_name = "STATUS", value_delimiter = ',', value_parser = status_parser())]
    pub status: Vec<TaskStatus>,

    /// Only tasks of this plan
    #[arg(long, short, value_name = "PLAN")]
    pub plan: Option<String>,

    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The task's id, as `colony list` shows it
    pub id: String,

    /// Print the prompts sent to its agents, round by round, as sent
    #[arg(long)]
    pub prompt: bool,

    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only events after this sequence number
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub since: i64,

    /// Keep waiting for new events until interrupted (Ctrl-C)
    #[arg(long, short)]
    pub follow: bool,

    /// Print one JSON object per event and line
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct IdsArg {
    /// Task ids, as `colony list` shows them
    #[arg(value_name = "ID", required = true)]
    pub ids: Vec<TaskId>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The plan to export; needed only when the store holds several
    #[arg(long, short, value_name = "NAME")]
    pub plan: Option<String>,

    /// The file format
    #[arg(long, value_enum, default_value_t = ExportFormat::Yaml)]
    pub format: ExportFormat,

    /// Write to this file instead of standard output
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The plan to report on; needed only when the store holds several
    #[arg(value_name = "PLAN")]
    pub plan: Option<String>,

    /// The output format
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,

    /// Write to this file instead of standard output
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Md,
    Html,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct PromptsArgs {
    #[command(subcommand)]
    pub action: PromptsAction,
}

#[derive(Debug, Subcommand)]
pub enum PromptsAction {
    /// Every role: where its template comes from, and what it is given
    List,
    /// Print the template a role's prompts are made from now
    Show {
        /// builder, fixer, reviewer or resolver
        role: String,
    },
    /// Write the shipped template to .colony/prompts/ROLE.md, to edit
    Eject {
        /// builder, fixer, reviewer or resolver
        role: String,
        /// Replace the project's template if it has one
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(subcommand)]
    pub action: Option<McpAction>,
}

#[derive(Debug, Subcommand)]
pub enum McpAction {
    /// Add colony's MCP server to an agent client's configuration
    #[command(long_about = "\
Add colony's MCP server to an agent client's configuration, keeping what
else is there, and print what changed. Without --project, the user's own
configuration (every project); with it, the repository's (committed with
it, where the client reads one). Adding it again changes nothing.")]
    Install(McpInstallArgs),
    /// The server an attempt's agent starts to talk back to the colony
    /// running it (given to its CLI by colony; see docs/mcp.md)
    #[command(hide = true)]
    Attempt,
}

#[derive(Debug, Args)]
pub struct McpInstallArgs {
    /// The client whose configuration to change
    #[arg(value_enum)]
    pub client: McpClient,

    /// Write the repository's configuration instead of the user's
    #[arg(long)]
    pub project: bool,

    /// Only print the configuration; change nothing
    #[arg(long)]
    pub print: bool,
}

/// The MCP clients `colony mcp install` knows how to configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum McpClient {
    Claude,
    Codex,
    Gemini,
    Cursor,
    Opencode,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// `--status` values: clap lists the names in its error and in completions.
fn status_parser() -> impl TypedValueParser<Value = TaskStatus> {
    let names = TaskStatus::ALL.map(TaskStatus::as_str);
    PossibleValuesParser::new(names).map(|name| name.parse().expect("every possible value is a status name"))
}

impl Command {
    /// Commands that run agents or serve the dashboard. They get a runtime
    /// with worker threads: the engine's attempts run side by side, its git
    /// calls block a thread while they last, and the dashboard answers many
    /// browsers at once.
    pub fn runs_agents(&self) -> bool {
        matches!(
            self,
            Command::Run(_)
                | Command::Plan(_)
                | Command::Replan(_)
                | Command::Worker(_)
                | Command::Demo(_)
                | Command::Serve(_)
        )
    }
}
