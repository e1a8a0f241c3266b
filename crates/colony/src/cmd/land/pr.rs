//! `colony land --pr`: push a plan's integration branch and open (or, run
//! again, update) its pull request with the forge's own CLI.
//!
//! Everything that can refuse is asked before anything is pushed: the
//! remote, which forge it is on, a base branch, the CLI on `PATH` and its
//! login. Each refusal is bad input (exit 2) and says what to do. The
//! branch then goes up with a lease (it is pushed only over what the
//! remote held a moment before), and the pull request whose head it is,
//! if one is open, gets the new title and description.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, anyhow};
use colony_core::config::{Config, Forge};
use colony_git::{PushOutcome, Repo};

use super::describe::{self, PlanWork};
use super::forge::{self, Invocation, Proposal};
use crate::cli::LandArgs;
use crate::exit::bad_input;

/// Where a pull request goes, decided before anything is pushed.
pub(crate) struct Target {
    pub remote: String,
    pub forge: Forge,
    pub base: String,
}

pub fn run(root: &Path, config: &Config, args: &LandArgs, work: &PlanWork, out: &mut impl Write) -> Result<()> {
    let repo = Repo::open(root).with_context(|| format!("could not open the repository {}", root.display()))?;
    let target = target(&repo, config, args, &work.branch)?;
    logged_in(root, target.forge)?;
    if args.per_task {
        return super::stack::run(root, &repo, &target, work, args.draft, out);
    }

    let tip = repo.rev_parse(&work.branch)?.ok_or_else(|| anyhow!("{} has no commit", work.branch))?;
    let before = repo.remote_branch(&target.remote, &work.branch)?;
    match repo.push_lease(&target.remote, &work.branch, &tip, before.as_ref())? {
        PushOutcome::Pushed => writeln!(out, "pushed {} to {} at {}", work.branch, target.remote, tip.short())?,
        PushOutcome::Stale { .. } => {
            return Err(anyhow!(
                "{} moved on {} while colony pushed it; run `colony land --pr` again",
                work.branch,
                target.remote
            ));
        }
    }

    let merged = work.tasks.iter().filter(|t| t.state == colony_core::TaskState::Done).count();
    let title = args.title.clone().unwrap_or_else(|| {
        format!("colony: plan {} ({merged} of {})", work.plan, crate::render::count(work.tasks.len(), "task"))
    });
    let body = describe::markdown(work, describe::MAX_DESCRIPTION);
    let proposal = Proposal { head: &work.branch, base: &target.base, title: &title, body: &body, draft: args.draft };
    let listed = checked(root, target.forge, &forge::find(target.forge, &work.branch))?;
    match forge::found(target.forge, &String::from_utf8_lossy(&listed.stdout)).map_err(|e| anyhow!(e))? {
        Some(open) => {
            checked(root, target.forge, &forge::update(target.forge, open.number, proposal, args.base.is_some()))?;
            writeln!(out, "updated pull request #{} with the plan's work so far: {}", open.number, open.url)?;
        }
        None => {
            let made = checked(root, target.forge, &forge::create(target.forge, proposal))?;
            let said = String::from_utf8_lossy(&made.stdout);
            let url = forge::created_url(&said).unwrap_or_else(|| said.trim().to_owned());
            writeln!(out, "opened pull request {url}: {title}")?;
        }
    }
    if merged < work.tasks.len() {
        writeln!(
            out,
            "note: {} of {} not merged yet; `colony land --pr` again after `colony run` updates the pull request",
            work.tasks.len() - merged,
            crate::render::count(work.tasks.len(), "task")
        )?;
    }
    Ok(())
}

/// The remote, its forge and the base branch, or why there is none.
fn target(repo: &Repo, config: &Config, args: &LandArgs, head: &str) -> Result<Target> {
    let remote = args.remote.clone().unwrap_or_else(|| "origin".to_owned());
    let forge = forge_of(repo, config, &remote)?;
    let base = match &args.base {
        Some(base) => base.clone(),
        None => repo.head_branch()?.ok_or_else(|| {
            bad_input("HEAD is detached, so there is no branch to propose the work to: name one with --base BRANCH")
        })?,
    };
    if base == head {
        return Err(bad_input(format!(
            "the pull request would merge {head} into itself; check out your own branch or name it with --base"
        )));
    }
    Ok(Target { remote, forge, base })
}

/// The forge `remote` is on: `[land] forge`, else told by its URL.
pub(crate) fn forge_of(repo: &Repo, config: &Config, remote: &str) -> Result<Forge> {
    let Some(url) = repo.remote_url(remote)? else {
        return Err(bad_input(format!(
            "this repository has no remote `{remote}`; add one (`git remote add {remote} URL`) or name another \
             with --remote"
        )));
    };
    config.land.forge.or_else(|| Forge::of_url(&url)).ok_or_else(|| {
        bad_input(format!(
            "cannot tell which forge {remote} ({url}) is on; set `[land] forge = \"github\"` (or \"gitlab\") in \
             colony.toml"
        ))
    })
}

/// Refuses a forge CLI that is not logged in.
pub(crate) fn logged_in(root: &Path, forge: Forge) -> Result<()> {
    let program = forge::program(forge);
    let auth = call(root, forge, &forge::auth_status(forge))?;
    if !auth.status.success() {
        return Err(bad_input(format!(
            "`{program}` is not logged in ({}): run `{program} auth login`, then try again; nothing was changed",
            last_line(&auth.stderr)
        )));
    }
    Ok(())
}

/// Runs the forge's CLI; a missing one is bad input.
pub(crate) fn call(root: &Path, forge: Forge, invocation: &Invocation) -> Result<Output> {
    let program = forge::program(forge);
    let mut command = Command::new(program);
    command
        .args(&invocation.args)
        .current_dir(root)
        // Never ask: colony gives every value, and no one is at a prompt.
        .env("GH_PROMPT_DISABLED", "1")
        .env("NO_PROMPT", "1")
        .stdin(if invocation.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad_input(format!(
                "{} is not installed, or not on PATH: install it and log in (`{program} auth login`); nothing \
                 was changed",
                forge::about(forge)
            )));
        }
        Err(e) => return Err(anyhow!(e).context(format!("could not run {program}"))),
    };
    if let (Some(text), Some(mut stdin)) = (invocation.stdin.clone(), child.stdin.take()) {
        // Written from a thread: a child that answers before it has read
        // all of it cannot block this write against its own.
        std::thread::spawn(move || {
            let _ = stdin.write_all(text.as_bytes());
        });
    }
    child.wait_with_output().with_context(|| format!("could not run {program}"))
}

/// [`call`], its failure an error with what it said.
pub(crate) fn checked(root: &Path, forge: Forge, invocation: &Invocation) -> Result<Output> {
    let output = call(root, forge, invocation)?;
    if output.status.success() {
        return Ok(output);
    }
    Err(anyhow!(
        "`{} {}` failed ({}): {}",
        forge::program(forge),
        invocation.args.iter().take(2).cloned().collect::<Vec<_>>().join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

pub(crate) fn last_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("it said nothing").trim().to_owned()
}
