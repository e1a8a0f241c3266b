//! `colony land --pr --per-task`: one pull request per merged task, in
//! dependency order, each based on the branch of a task it depends on (a
//! stack), so that reviewers can take them one at a time.
//!
//! Each merged task gets a branch `colony-pr/<plan>/<task>` holding its own
//! change on top of what it depends on. Its change is what its merge did
//! to the integration branch (the merge commit against its first parent),
//! applied in memory onto its base: the branch of its first dependency
//! that merged, with the branches of its other merged dependencies merged
//! in; or, for a task that depends on none, the commit where the
//! integration branch left the base branch. A task with two dependencies
//! is so based on the first one's pull request, and its description names
//! the others, whose changes its diff shows until they merge.
//!
//! The commits are dated as the task's merge, so building the branches
//! again writes the very same commits: a second run pushes nothing new and
//! updates the same pull requests. A change that does not apply without
//! work its task does not depend on (it edits what an unrelated task
//! added) is refused before anything is pushed: that plan lands as one
//! pull request.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Result, anyhow};
use colony_core::branch::{check_branch, pr_branch};
use colony_core::{PlanName, TaskId, TaskState};
use colony_git::{CasOutcome, MergeOutcome, Oid, PushOutcome, Repo, branch_ref};

use super::describe::{self, PlanWork, Stacked, TaskWork};
use super::forge::{self, Proposal};
use super::pr::{Target, checked};
use crate::exit::bad_input;
use crate::render;

/// A merged task in the stack: the dependency whose branch it is based on
/// (its first one that merged) and its other merged dependencies.
#[derive(Debug, PartialEq)]
pub struct Layer<'a> {
    pub task: &'a TaskWork,
    pub on: Option<&'a TaskId>,
    pub also: Vec<&'a TaskId>,
}

/// The merged tasks, each after the tasks it depends on, in plan order
/// among equals.
pub fn layers(tasks: &[TaskWork]) -> Vec<Layer<'_>> {
    let merged: Vec<&TaskWork> = tasks.iter().filter(|t| t.state == TaskState::Done && t.merge.is_some()).collect();
    let mut placed: Vec<&TaskId> = Vec::new();
    let mut out = Vec::new();
    loop {
        let before = out.len();
        for t in &merged {
            if placed.contains(&&t.id) {
                continue;
            }
            let deps: Vec<&TaskId> = t.deps.iter().filter(|d| merged.iter().any(|m| &m.id == *d)).collect();
            if deps.iter().all(|d| placed.contains(d)) {
                placed.push(&t.id);
                out.push(Layer { task: t, on: deps.first().copied(), also: deps.iter().skip(1).copied().collect() });
            }
        }
        // A stored plan has no cycle, so each pass places a task until
        // all are placed.
        if out.len() == before {
            return out;
        }
    }
}

/// A task's branch as built: its name and tip, and the branch its pull
/// request goes into.
struct Built<'a> {
    layer: Layer<'a>,
    branch: String,
    tip: Oid,
    into: String,
}

pub fn run(
    root: &Path,
    repo: &Repo,
    target: &Target,
    work: &PlanWork,
    draft: bool,
    out: &mut impl Write,
) -> Result<()> {
    let plan = PlanName::new(&work.plan).map_err(|e| bad_input(e.to_string()))?;
    let layers = layers(&work.tasks);
    if layers.is_empty() {
        return Err(bad_input(format!(
            "no task of plan {plan} has merged yet, so there is no pull request to open; run `colony run` first"
        )));
    }
    let built = build(repo, &plan, target, work, layers)?;
    for b in &built {
        set_branch(repo, &b.branch, &b.tip)?;
    }
    for b in &built {
        let before = repo.remote_branch(&target.remote, &b.branch)?;
        if before.as_ref() == Some(&b.tip) {
            writeln!(out, "{} is up to date on {}", b.branch, target.remote)?;
            continue;
        }
        match repo.push_lease(&target.remote, &b.branch, &b.tip, before.as_ref())? {
            PushOutcome::Pushed => writeln!(out, "pushed {} to {} at {}", b.branch, target.remote, b.tip.short())?,
            PushOutcome::Stale { .. } => {
                return Err(anyhow!(
                    "{} moved on {} while colony pushed it; run `colony land --pr --per-task` again",
                    b.branch,
                    target.remote
                ));
            }
        }
    }

    let mut numbers: HashMap<&TaskId, u64> = HashMap::new();
    for b in &built {
        let t = b.layer.task;
        let number_of = |dep: &TaskId| numbers.get(dep).map(|n| (dep.clone(), *n));
        let stacked = Stacked {
            on: b.layer.on.and_then(number_of),
            also: b.layer.also.iter().filter_map(|d| number_of(d)).collect(),
        };
        let body = describe::task_markdown(work, t, &stacked, describe::MAX_DESCRIPTION);
        let title = format!("{} ({plan}/{})", t.title.lines().next().unwrap_or_default().trim(), t.id);
        let proposal = Proposal { head: &b.branch, base: &b.into, title: &title, body: &body, draft };
        let listed = checked(root, target.forge, &forge::find(target.forge, &b.branch))?;
        let number = match forge::found(target.forge, &String::from_utf8_lossy(&listed.stdout))
            .map_err(|e| anyhow!(e))?
        {
            Some(open) => {
                checked(root, target.forge, &forge::update(target.forge, open.number, proposal, true))?;
                writeln!(out, "updated pull request #{} for `{}`, into {}: {}", open.number, t.id, b.into, open.url)?;
                open.number
            }
            None => {
                let made = checked(root, target.forge, &forge::create(target.forge, proposal))?;
                let said = String::from_utf8_lossy(&made.stdout);
                let url = forge::created_url(&said).unwrap_or_else(|| said.trim().to_owned());
                let number = forge::number_in(&url).ok_or_else(|| {
                    anyhow!("{} opened a pull request but printed no address colony can read: {url}", target.remote)
                })?;
                writeln!(out, "opened pull request {url} for `{}`, into {}: {title}", t.id, b.into)?;
                number
            }
        };
        numbers.insert(&t.id, number);
    }
    let left = work.tasks.len() - built.len();
    if left > 0 {
        writeln!(
            out,
            "note: {} of {} not merged, so without a pull request; `colony land --pr --per-task` again after \
             `colony run` adds theirs",
            left,
            render::count(work.tasks.len(), "task")
        )?;
    }
    Ok(())
}

/// Every layer's branch, written as commit objects only: nothing moves
/// until all of them are made.
fn build<'a>(
    repo: &Repo,
    plan: &PlanName,
    target: &Target,
    work: &PlanWork,
    layers: Vec<Layer<'a>>,
) -> Result<Vec<Built<'a>>> {
    let integration =
        repo.rev_parse(&branch_ref(&work.branch))?.ok_or_else(|| anyhow!("{} has no commit", work.branch))?;
    let fork = fork_point(repo, target, &integration, &work.branch)?;
    let mut built: Vec<Built<'a>> = Vec::new();
    for layer in layers {
        let t = layer.task;
        let branch = pr_branch(plan, &t.id);
        check_branch(&branch).map_err(|e| {
            bad_input(format!("task `{}` cannot have a branch of its own: {e}; nothing was pushed", t.id))
        })?;
        let merge = t.merge.as_deref().and_then(Oid::parse);
        let first_parent = match &merge {
            Some(merge) => repo.rev_parse(&format!("{merge}^1"))?,
            None => None,
        };
        let (Some(merge), Some(first_parent)) = (merge, first_parent) else {
            return Err(anyhow!(
                "the merge of task `{}` ({}) is not a merge commit in this repository; fetch {}",
                t.id,
                t.merge.as_deref().unwrap_or_default(),
                work.branch
            ));
        };
        let date = repo.commit_date(&merge)?;
        let tip_of =
            |id: &TaskId| built.iter().find(|b| &b.layer.task.id == id).map(|b| (b.tip.clone(), b.branch.clone()));
        let (mut start, into) = match layer.on.and_then(tip_of) {
            Some((tip, branch)) => (tip, branch),
            None => (fork.clone(), target.base.clone()),
        };
        for other in &layer.also {
            let Some((tip, other_branch)) = tip_of(other) else { continue };
            if repo.is_ancestor(&tip, &start)? {
                continue;
            }
            let MergeOutcome::Clean { tree } = repo.merge_tree(&start, &tip)? else {
                return Err(bad_input(format!(
                    "the branches of the tasks `{}` depends on conflict with each other ({into} and {other_branch}); \
                     nothing was pushed: land the plan as one pull request with `colony land --pr`",
                    t.id
                )));
            };
            let message = format!("Merge {other_branch} into {branch}: `{}` needs `{other}` too", t.id);
            start = repo.commit_tree_dated(&tree, &[&start, &tip], &message, &date)?;
        }
        let tree = match repo.pick_tree(&first_parent, &start, &merge)? {
            MergeOutcome::Clean { tree } => tree,
            MergeOutcome::Conflict { paths, .. } => {
                return Err(bad_input(format!(
                    "task `{}`'s change does not apply without work it does not depend on (it conflicts in {}); \
                     nothing was pushed: land the plan as one pull request with `colony land --pr`",
                    t.id,
                    paths.join(", ")
                )));
            }
        };
        let title = t.title.lines().next().unwrap_or_default().trim();
        let message =
            format!("{title}\n\ncolony: task {} of plan {plan}, merged into {} as {merge}.", t.id, work.branch);
        let tip = repo.commit_tree_dated(&tree, &[&start], &message, &date)?;
        built.push(Built { layer, branch, tip, into });
    }
    Ok(built)
}

/// Where the integration branch left the base branch: the start of the
/// tasks that depend on no other.
fn fork_point(repo: &Repo, target: &Target, integration: &Oid, branch: &str) -> Result<Oid> {
    let tracking = format!("refs/remotes/{}/{}", target.remote, target.base);
    let base = match repo.rev_parse(&branch_ref(&target.base))? {
        Some(tip) => tip,
        None => repo.rev_parse(&tracking)?.ok_or_else(|| {
            bad_input(format!(
                "the base branch {} is neither a branch here nor known from {} (`git fetch {} {}`), so colony \
                 cannot tell where each task's change starts; nothing was pushed",
                target.base, target.remote, target.remote, target.base
            ))
        })?,
    };
    repo.merge_base(integration, &base)?.ok_or_else(|| {
        bad_input(format!(
            "{branch} and {} share no history, so no task's change can be proposed to it alone; nothing was pushed",
            target.base
        ))
    })
}

/// Makes the local branch `name` point at `tip`.
fn set_branch(repo: &Repo, name: &str, tip: &Oid) -> Result<()> {
    match repo.rev_parse(&branch_ref(name))? {
        None => {
            repo.create_branch(name, tip.as_str())?;
        }
        Some(old) if old == *tip => {}
        Some(old) => {
            if let CasOutcome::Stale { .. } = repo.update_ref_cas(&branch_ref(name), tip, &old)? {
                return Err(anyhow!("{name} moved while colony set it; run `colony land --pr --per-task` again"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use colony_core::Usage;

    use super::*;

    fn task(id: &str, deps: &[&str], state: TaskState) -> TaskWork {
        TaskWork {
            id: TaskId::new(id).unwrap(),
            title: format!("Do {id}"),
            deps: deps.iter().map(|d| TaskId::new(*d).unwrap()).collect(),
            state,
            merge: Some(format!("{id}-merge")),
            agent: None,
            model: None,
            attempts: 1,
            reviews: Vec::new(),
            gates: Vec::new(),
            spent: Usage::default(),
        }
    }

    #[test]
    fn tasks_come_after_their_dependencies_based_on_the_first_that_merged() {
        let failed = TaskState::Failed { reason: "no".into() };
        // `join` is listed first but needs the others; `lost` never merged.
        let tasks = vec![
            task("join", &["lost", "left", "right"], TaskState::Done),
            task("right", &["root"], TaskState::Done),
            task("left", &["root"], TaskState::Done),
            task("root", &[], TaskState::Done),
            task("lost", &[], failed),
            task("alone", &[], TaskState::Done),
        ];
        let layers = layers(&tasks);
        let order: Vec<&str> = layers.iter().map(|l| l.task.id.as_str()).collect();
        assert_eq!(order, ["root", "alone", "right", "left", "join"]);
        let join = &layers[4];
        assert_eq!(join.on.map(TaskId::as_str), Some("left"), "the first dependency that merged");
        assert_eq!(join.also.iter().map(|d| d.as_str()).collect::<Vec<_>>(), ["right"]);
        assert_eq!((layers[0].on, layers[1].on), (None, None), "based on the base branch");
    }
}
