//! Plans made by an agent: from a goal (`colony plan`), or tasks to
//! replace one that failed (`colony replan`).
//!
//! The planner is an agent like any other, run in a worktree of its own
//! that is thrown away after (confined to it when the sandbox is on): it
//! is told the goal, or the task and why it failed, the repository
//! ([`repository`]) and the plan format, and answers with a plan. Judging
//! an answer is a pure function ([`judge`], or
//! `colony_core::plan::replace`): the YAML is taken from the answer and read
//! with the same checks as `colony add`, and a plan whose name is taken is
//! refused too. A refusal goes back to the planner with its previous
//! answer, for up to `[plan] max_rounds` answers; [`Planner::plan`] and
//! [`Planner::replan`] are the IO around that.

mod repository;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use colony_agents::sandbox::Sandbox;
use colony_agents::{AgentRun, LogWriter};
use colony_core::plan::{Format, Replacement, format_guide, parse, replace};
use colony_core::{Plan, TaskId, TaskSpec};
use colony_git::Repo;
use colony_store::SqlStore;
use tokio_util::sync::CancellationToken;

use crate::error::EngineError;
use crate::prompts::{Planner as PlannerVars, Prompts, Replanner as ReplannerVars, Role, RoleVars};
use crate::round::{AgentRound, RoundEnd, log_note};
use crate::settings::AgentSetup;

/// How a planner is run.
pub struct Planner<'a> {
    pub repo: &'a Repo,
    /// Where the planner's worktree, log and task file go, removed but for
    /// the log when it is done.
    pub dir: PathBuf,
    pub agent: &'a AgentSetup,
    pub prompts: &'a Prompts,
    pub sandbox: Option<&'a Sandbox>,
    /// `[worktree] env`.
    pub env: &'a BTreeMap<String, String>,
    /// Answers it may give.
    pub max_rounds: u32,
    pub timeout: Duration,
    pub silence_timeout: Duration,
    pub grace: Duration,
    /// The integration branch pattern plans are checked against.
    pub integration: &'a str,
    /// The task roles colony.toml defines: the planner is told them, and
    /// a task may take no other.
    pub roles: &'a BTreeMap<String, colony_core::config::RoleConfig>,
}

/// How planning ended.
#[derive(Debug)]
pub enum Planned<T> {
    /// An answer that passed every check: the text the planner wrote and
    /// what was read from it.
    Plan { text: String, plan: Box<T>, rounds: u32 },
    /// Every answer was refused; the last refusal.
    Refused { rounds: u32, refusal: String },
    /// Stopped (Ctrl-C) before a plan came.
    Stopped,
}

/// What a planner hears between rounds, for the person waiting.
pub trait Progress {
    fn asking(&mut self, round: u32, of: u32);
    fn refused(&mut self, round: u32, refusal: &str);
}

/// A task to replace, as the replanner is told it: [`ReplannerVars`]
/// without what colony fills in (the repository, the format, the previous
/// answer).
pub struct Replacing<'a> {
    pub plan: &'a Plan,
    pub task: &'a TaskSpec,
    /// Why it stopped, in a line: its last failure, or what blocks it.
    pub why: String,
    pub attempts: Vec<crate::prompts::AttemptVars>,
    pub statuses: &'a BTreeMap<String, String>,
}

impl Planner<'_> {
    /// Plans `goal` from the commit `HEAD` names; `taken` says why a plan
    /// name may not be used (the store or the plans directory has it).
    pub async fn plan(
        &self,
        goal: &str,
        taken: &dyn Fn(&str) -> Option<String>,
        progress: &mut dyn Progress,
        cancel: &CancellationToken,
    ) -> Result<Planned<Plan>, EngineError> {
        let default_name = default_name(goal);
        let ask = |repository: &str, previous: Option<String>, refusal: Option<String>| {
            let vars = PlannerVars {
                goal: goal.trim_end().to_owned(),
                repository: repository.to_owned(),
                format: format_guide().trim_end().to_owned(),
                roles: RoleVars::of(self.roles),
                previous,
                refusal,
            };
            self.prompts.render(Role::Planner, &vars)
        };
        let judge = |text: &str| {
            let plan = judge(text, &default_name, self.integration, taken)?;
            known_roles(&plan, self.roles).map(|()| plan)
        };
        let task = TaskSpec::new(TaskId::new("plan").expect("a valid id"), "Plan the goal", goal.trim_end());
        self.in_tree(task, &ask, &judge, progress, cancel).await
    }

    /// Asks for tasks to replace `replacing.task`, and gives its plan as it
    /// would be with them.
    pub async fn replan(
        &self,
        replacing: &Replacing<'_>,
        progress: &mut dyn Progress,
        cancel: &CancellationToken,
    ) -> Result<Planned<Replacement>, EngineError> {
        let plan = replacing.plan;
        let others = plan
            .tasks
            .iter()
            .filter(|t| t.id != replacing.task.id)
            .map(|t| crate::prompts::PlanTaskVars {
                id: t.id.to_string(),
                title: t.title.clone(),
                status: replacing.statuses.get(t.id.as_str()).cloned().unwrap_or_default(),
                deps: t.deps.iter().map(ToString::to_string).collect(),
            })
            .collect::<Vec<_>>();
        let ask = |repository: &str, previous: Option<String>, refusal: Option<String>| {
            let vars = ReplannerVars {
                task: crate::prompts::TaskVars::of(replacing.task, plan.name.as_str()),
                why: replacing.why.clone(),
                attempts: replacing.attempts.clone(),
                others: others.clone(),
                repository: repository.to_owned(),
                format: format_guide().trim_end().to_owned(),
                roles: RoleVars::of(self.roles),
                previous,
                refusal,
            };
            self.prompts.render(Role::Replanner, &vars)
        };
        let judge = |text: &str| {
            let replacement = replace(plan, &replacing.task.id, text, self.integration)?;
            known_roles(&replacement.plan, self.roles).map(|()| replacement)
        };
        let title = format!("Replace task {}", replacing.task.id);
        let task = TaskSpec::new(TaskId::new("replan").expect("a valid id"), title, replacing.task.prompt.clone());
        self.in_tree(task, &ask, &judge, progress, cancel).await
    }

    /// Runs the rounds in a throwaway worktree of `HEAD`.
    async fn in_tree<T>(
        &self,
        task: TaskSpec,
        ask: &Ask<'_>,
        judge: &dyn Fn(&str) -> Result<T, String>,
        progress: &mut dyn Progress,
        cancel: &CancellationToken,
    ) -> Result<Planned<T>, EngineError> {
        let Some(head) = self.repo.rev_parse("HEAD")? else {
            return Err(EngineError::NoBase { branch: "HEAD".into() });
        };
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| EngineError::Io { path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        // Held while this planner runs, released by the kernel if it dies.
        let lock_path = self.dir.join(LOCK);
        let lock = std::fs::File::create(&lock_path).map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        if let Some(all) = self.dir.parent() {
            sweep_left(self.repo, all, &self.dir)?;
        }
        let tree_path = self.dir.join("tree");
        let tree = self.repo.worktree_register_detached(&tree_path, &head)?;
        let planned = async {
            self.repo.worktree_checkout(&tree)?;
            let repository = repository::describe(self.repo, &head, &tree_path)?;
            self.rounds(task, &repository, tree_path.clone(), ask, judge, progress, cancel).await
        }
        .await;
        // A worktree left behind is only clutter: the next `git worktree
        // prune` takes it, so the plan is not lost over it.
        let _ = self.repo.worktree_remove(&tree_path);
        drop(lock);
        planned
    }

    #[allow(clippy::too_many_arguments)]
    async fn rounds<T>(
        &self,
        task: TaskSpec,
        repository: &str,
        tree: PathBuf,
        ask: &Ask<'_>,
        judge: &dyn Fn(&str) -> Result<T, String>,
        progress: &mut dyn Progress,
        cancel: &CancellationToken,
    ) -> Result<Planned<T>, EngineError> {
        let mut log = LogWriter::open(self.dir.join("log.jsonl"))?;
        let (mut previous, mut refusal) = (None, None);
        for round in 1..=self.max_rounds {
            let prompt = ask(repository, previous.take(), refusal.take())?;
            progress.asking(round, self.max_rounds);
            let run = AgentRun {
                task: task.clone(),
                attempt: round,
                worktree: tree.clone(),
                task_file: self.dir.join("task.json"),
                feedback_file: None,
                prompt,
                session: None,
                output_schema: None,
                talk: None,
            };
            let agent_round = AgentRound::<SqlStore> {
                owner: None,
                harness: &*self.agent.harness,
                run,
                wall_timeout: self.timeout,
                silence_timeout: Some(self.silence_timeout),
                grace: self.grace,
                linger: Duration::from_secs(5),
                env: self.env,
                sandbox: self.sandbox,
                said: None,
            };
            let outcome = agent_round.go(&mut log, cancel).await?;
            let why = match outcome.end {
                RoundEnd::Cancelled => return Ok(Planned::Stopped),
                RoundEnd::Failed { reason, .. } => format!("the planner failed: {reason}"),
                RoundEnd::Done => {
                    let text = plan_text(&outcome.answer).to_owned();
                    match judge(&text) {
                        Ok(plan) => return Ok(Planned::Plan { text, plan: Box::new(plan), rounds: round }),
                        Err(why) => {
                            previous = Some(text);
                            why
                        }
                    }
                }
            };
            log_note(&mut log, format!("answer {round} refused: {why}"));
            progress.refused(round, &why);
            refusal = Some(why);
        }
        let refusal = refusal.unwrap_or_else(|| "the planner was given no round".into());
        Ok(Planned::Refused { rounds: self.max_rounds, refusal })
    }
}

/// A round's prompt, from the repository's description, the previous
/// answer and why it was refused.
type Ask<'a> = dyn Fn(&str, Option<String>, Option<String>) -> Result<String, crate::prompts::PromptError> + 'a;

/// The file each planner holds locked in its directory while it runs.
const LOCK: &str = "lock";

/// Removes the worktrees that planners which died (a crash, `kill -9`)
/// left in the directories beside `own`: those whose lock nobody holds.
fn sweep_left(repo: &Repo, all: &Path, own: &Path) -> Result<(), EngineError> {
    let entries = std::fs::read_dir(all).map_err(|source| EngineError::Io { path: all.to_owned(), source })?;
    for entry in entries.flatten() {
        let dir = entry.path();
        let tree = dir.join("tree");
        if dir == own || !tree.exists() {
            continue;
        }
        let free = match std::fs::File::open(dir.join(LOCK)) {
            Ok(file) => file.try_lock().is_ok(),
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        };
        if free {
            repo.worktree_remove(&tree)?;
        }
    }
    Ok(())
}

/// The plan in a planner's answer: its last fenced YAML block, else its
/// last fenced block of any kind, else all of it.
pub fn plan_text(answer: &str) -> &str {
    let mut blocks: Vec<(&str, &str)> = Vec::new();
    let mut rest = answer;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let Some(line_end) = after.find('\n') else { break };
        let info = after[..line_end].trim();
        let body = &after[line_end + 1..];
        let Some(end) = body.find("```") else { break };
        blocks.push((info, &body[..end]));
        rest = &body[end + 3..];
    }
    let yaml = blocks.iter().rev().find(|(info, _)| matches!(*info, "yaml" | "yml"));
    match yaml.or(blocks.last()) {
        Some((_, body)) => body,
        None => answer.trim(),
    }
}

/// A planner's plan read as `colony add` reads a file, or why it is
/// refused, told as the planner will be told it.
pub fn judge(
    text: &str,
    default_name: &str,
    integration: &str,
    taken: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, String> {
    let plan =
        parse("plan.yaml", text.as_bytes(), Format::Yaml, default_name, integration).map_err(|e| e.to_string())?;
    if plan.tasks.is_empty() {
        return Err("plan.yaml: the plan has no tasks".into());
    }
    if let Some(why) = taken(plan.name.as_str()) {
        return Err(format!("plan.yaml: the name `{}` is taken ({why}); choose another `name`", plan.name));
    }
    Ok(plan)
}

/// Refuses a plan whose tasks (or defaults) take a role `roles` does not
/// define, naming the first.
fn known_roles(plan: &Plan, roles: &BTreeMap<String, colony_core::config::RoleConfig>) -> Result<(), String> {
    let defined = || match roles.is_empty() {
        true => "colony.toml defines no roles: leave `role` out".to_owned(),
        false => format!("the roles are {}", roles.keys().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")),
    };
    if let Some(role) = plan.defaults.role.as_deref().filter(|r| !roles.contains_key(*r)) {
        return Err(format!("plan.yaml: defaults: unknown role `{role}`; {}", defined()));
    }
    match plan.tasks.iter().find_map(|t| t.role.as_deref().filter(|r| !roles.contains_key(*r)).map(|r| (t, r))) {
        Some((task, role)) => Err(format!("plan.yaml: task `{}`: unknown role `{role}`; {}", task.id, defined())),
        None => Ok(()),
    }
}

/// A plan name from the goal's first words (`add-a-health-endpoint`), for
/// a planner that gives none.
pub fn default_name(goal: &str) -> String {
    let words: Vec<String> = goal
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(5)
        .map(str::to_ascii_lowercase)
        .collect();
    let mut name = words.join("-");
    name.truncate(40);
    let name = name.trim_end_matches('-');
    if name.is_empty() { "plan".to_owned() } else { name.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "name: health\ntasks:\n  - id: a\n    prompt: Add /health.\n  - id: b\n    prompt: Test it.\n    deps: [a]\n";

    fn free(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_plan_is_the_last_yaml_block_of_the_answer() {
        assert_eq!(plan_text(GOOD), GOOD.trim());
        let answer = format!("Here it is:\n```text\nnot this\n```\n```yaml\n{GOOD}```\nDone.");
        assert_eq!(plan_text(&answer), GOOD);
        assert_eq!(plan_text("```\nname: x\n```"), "name: x\n", "an unlabelled block");
        assert_eq!(plan_text("```yaml\nname: x\n"), "```yaml\nname: x", "an unclosed block is all of it");
    }

    #[test]
    fn an_answer_is_judged_as_colony_add_would_and_a_taken_name_is_refused() {
        assert_eq!(judge(GOOD, "p", "colony/{plan}", &free).unwrap().tasks.len(), 2);
        let cycle = GOOD.replace("prompt: Add /health.", "prompt: Add /health.\n    deps: [b]");
        let why = judge(&cycle, "p", "colony/{plan}", &free).unwrap_err();
        assert!(why.starts_with("plan.yaml:") && why.contains("cycle"), "{why}");
        let why = judge("name: x\ntasks: []\n", "p", "colony/{plan}", &free).unwrap_err();
        assert!(why.contains("no tasks"), "{why}");
        let taken = |name: &str| (name == "health").then(|| "plans/health.yaml exists".to_owned());
        let why = judge(GOOD, "p", "colony/{plan}", &taken).unwrap_err();
        assert_eq!(why, "plan.yaml: the name `health` is taken (plans/health.yaml exists); choose another `name`");
        let unnamed = GOOD.replace("name: health\n", "");
        assert_eq!(judge(&unnamed, "add-health", "colony/{plan}", &free).unwrap().name.as_str(), "add-health");
    }

    #[test]
    fn a_task_may_take_only_a_role_colony_toml_defines() {
        let roles = BTreeMap::from([("tester".to_owned(), colony_core::config::RoleConfig::default())]);
        let with_role = |role: &str| {
            judge(
                &GOOD.replace("prompt: Test it.", &format!("prompt: Test it.\n    role: {role}")),
                "p",
                "colony/{plan}",
                &free,
            )
            .unwrap()
        };
        assert_eq!(known_roles(&with_role("tester"), &roles), Ok(()));
        let why = known_roles(&with_role("tset"), &roles).unwrap_err();
        assert_eq!(why, "plan.yaml: task `b`: unknown role `tset`; the roles are `tester`");
        let why = known_roles(&with_role("tester"), &BTreeMap::new()).unwrap_err();
        assert!(why.ends_with("colony.toml defines no roles: leave `role` out"), "{why}");
        let mut plan = with_role("tester");
        plan.defaults.role = Some("docs".into());
        assert!(known_roles(&plan, &roles).unwrap_err().starts_with("plan.yaml: defaults: unknown role `docs`"));
    }

    #[test]
    fn a_goal_names_its_plan() {
        assert_eq!(default_name("Add a /health endpoint with a test"), "add-a-health-endpoint-with");
        assert_eq!(default_name("  ¿¡ "), "plan");
    }
}
