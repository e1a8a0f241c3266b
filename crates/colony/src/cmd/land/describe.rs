//! What a plan's pull request says, made from the store: per task its
//! title, agent and model, attempts, review verdicts, the gates its merge
//! passed and what it spent; the tasks that did not merge and why; totals.
//!
//! [`gather`] reads the store; [`markdown`] writes the description from
//! what was read, and is tested without one. With `--per-task`, each
//! task's pull request gets its part of it ([`task_markdown`]).

use anyhow::Result;
use colony_core::config::Config;
use colony_core::{EventKind, TaskId, TaskState, TaskStatus, Usage};
use colony_store::Store;

use crate::render;

/// The most of a description a forge is given, in characters: GitHub
/// takes 65,536.
pub const MAX_DESCRIPTION: usize = 60_000;

/// The most of one line of agent or plan text (a title, a reason) shown.
const MAX_LINE: usize = 300;

/// A plan's work as its pull request describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanWork {
    pub plan: String,
    /// The file the plan was added from.
    pub source: String,
    /// Its integration branch, the pull request's head.
    pub branch: String,
    pub tasks: Vec<TaskWork>,
}

/// One task's part in it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskWork {
    pub id: TaskId,
    pub title: String,
    pub deps: Vec<TaskId>,
    pub state: TaskState,
    /// The commit its last merge made on the integration branch.
    pub merge: Option<String>,
    pub agent: Option<String>,
    pub model: Option<String>,
    pub attempts: usize,
    /// Each review round's verdicts, in words.
    pub reviews: Vec<String>,
    /// The gates its merge passed: the project's, then its role's.
    pub gates: Vec<String>,
    pub spent: Usage,
}

/// Reads what `plan`'s pull request says from the store.
pub async fn gather(store: &impl Store, config: &Config, plan: &str, branch: &str) -> Result<PlanWork> {
    let stored = store.export_plan(plan).await?;
    let source = store.plans().await?.into_iter().find(|p| p.name.as_str() == plan).map(|p| p.source);
    let mut tasks = Vec::with_capacity(stored.tasks.len());
    for spec in &stored.tasks {
        let Some(detail) = store.task(spec.id.as_str()).await? else { continue };
        let settings = colony_core::resolve::resolve(spec, &stored.defaults, config);
        let mut gates = config.gates.commands.clone();
        gates.extend(settings.role.map(|role| role.gates).unwrap_or_default());
        let reviews = detail
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::ReviewRecorded { .. }))
            .map(|e| e.kind.summary())
            .collect();
        let merge = store.merge_commits(&spec.id).await?.pop().map(|(_, commit)| commit);
        tasks.push(TaskWork {
            id: spec.id.clone(),
            title: spec.title.clone(),
            deps: spec.deps.clone(),
            state: detail.record.task.state,
            merge,
            agent: settings.agent.as_ref().map(|a| a.name.clone()),
            model: settings.agent.and_then(|a| a.model),
            attempts: detail.attempts.len(),
            reviews,
            gates,
            spent: detail.attempts.iter().fold(Usage::default(), |all, a| all.plus(a.usage)),
        });
    }
    Ok(PlanWork { plan: plan.to_owned(), source: source.unwrap_or_default(), branch: branch.to_owned(), tasks })
}

/// The pull request's description, in Markdown, at most `max` characters.
pub fn markdown(work: &PlanWork, max: usize) -> String {
    let merged = work.tasks.iter().filter(|t| t.state == TaskState::Done).count();
    let mut text = format!(
        "colony ran plan **{}** (from `{}`): {} of {} merged into `{}`.\n\n",
        line(&work.plan),
        line(&work.source),
        merged,
        render::count(work.tasks.len(), "task"),
        line(&work.branch)
    );
    text.push_str("| task | status | agent | attempts | spent |\n|---|---|---|---|---|\n");
    for t in &work.tasks {
        let agent = match (&t.agent, &t.model) {
            (Some(agent), Some(model)) => format!("{agent} ({model})"),
            (Some(agent), None) => agent.clone(),
            (None, _) => "—".to_owned(),
        };
        let status = if t.state == TaskState::Done { "merged".to_owned() } else { t.state.status().to_string() };
        text.push_str(&format!(
            "| `{}` {} | {} | {} | {} | {} |\n",
            t.id,
            cell(&t.title),
            status,
            cell(&agent),
            t.attempts,
            cost(&t.spent)
        ));
    }
    for t in work.tasks.iter().filter(|t| t.state == TaskState::Done) {
        text.push_str(&task_section(t));
    }
    let left: Vec<&TaskWork> = work.tasks.iter().filter(|t| !t.state.status().is_finished()).collect();
    if !left.is_empty() {
        text.push_str("\n## Not merged\n\n");
        for t in &left {
            text.push_str(&format!("- `{}` {}: {}\n", t.id, line(&t.title), why_not(&t.state)));
        }
    }
    let spent = work.tasks.iter().fold(Usage::default(), |all, t| all.plus(t.spent));
    let attempts: usize = work.tasks.iter().map(|t| t.attempts).sum();
    let count = |status| work.tasks.iter().filter(|t| t.state.status() == status).count();
    text.push_str(&format!(
        "\n## Totals\n\n{merged} merged, {} failed, {} blocked, {} not done yet, of {}; {}; {}\n",
        count(TaskStatus::Failed),
        count(TaskStatus::Blocked),
        left.len() - count(TaskStatus::Failed) - count(TaskStatus::Blocked),
        render::count(work.tasks.len(), "task"),
        render::count(attempts, "attempt"),
        render::usage(&spent)
    ));
    text.push_str("\n<sub>Written by colony from its store; `colony land --pr` again brings it up to date.</sub>\n");
    cut(text, max)
}

/// Where a task's own pull request sits in the stack, by the numbers of
/// the pull requests of the tasks it depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stacked {
    /// The dependency whose branch it is based on, and its pull request.
    pub on: Option<(TaskId, u64)>,
    /// Its other dependencies with a pull request: their changes are in
    /// its branch too, and show in its diff until they merge.
    pub also: Vec<(TaskId, u64)>,
}

/// The description of task `t`'s own pull request (`--per-task`): where it
/// sits in the stack, then its part of the plan's description.
pub fn task_markdown(work: &PlanWork, t: &TaskWork, stacked: &Stacked, max: usize) -> String {
    let mut text = format!(
        "Task `{}` of colony's plan **{}** (from `{}`), merged into `{}`: one pull request per merged task, \
         stacked by dependency.\n",
        t.id,
        line(&work.plan),
        line(&work.source),
        line(&work.branch)
    );
    match &stacked.on {
        Some((dep, number)) => {
            text.push_str(&format!("\nBased on #{number} (`{dep}`), which it depends on: merge that one first.\n"))
        }
        None => text.push_str("\nIt depends on no other task's pull request.\n"),
    }
    if !stacked.also.is_empty() {
        let others: Vec<String> = stacked.also.iter().map(|(dep, number)| format!("#{number} (`{dep}`)")).collect();
        text.push_str(&format!(
            "\nIt also needs {}: their changes are in this branch, and show here until they merge.\n",
            others.join(", ")
        ));
    }
    text.push_str(&task_section(t));
    text.push_str(
        "\n<sub>Written by colony from its store; `colony land --pr --per-task` again brings it up to date.</sub>\n",
    );
    cut(text, max)
}

/// A merged task's part of the description: its attempts and agent, its
/// review verdicts, the gates its merge passed and what it spent.
fn task_section(t: &TaskWork) -> String {
    let mut text = format!("\n### `{}`: {}\n\n", t.id, line(&t.title));
    text.push_str(&format!(
        "- {} by {}\n",
        render::count(t.attempts, "attempt"),
        cell(t.agent.as_deref().unwrap_or("—"))
    ));
    for review in &t.reviews {
        text.push_str(&format!("- {}\n", line(review)));
    }
    if !t.gates.is_empty() {
        let gates: Vec<String> = t.gates.iter().map(|g| format!("`{}`", line(g).replace('`', "'"))).collect();
        text.push_str(&format!("- gates passed: {}\n", gates.join(", ")));
    }
    text.push_str(&format!("- spent: {}\n", render::usage(&t.spent)));
    text
}

/// Why a task that is not finished did not merge.
fn why_not(state: &TaskState) -> String {
    match state {
        TaskState::Failed { reason } => format!("failed: {}", line(reason)),
        TaskState::Blocked { by } => format!("blocked by `{by}`"),
        TaskState::AwaitingApproval => "awaits a person's approval".to_owned(),
        TaskState::AwaitingInput { question, .. } => format!("its agent asks: {}", line(question)),
        TaskState::Cancelled => "cancelled".to_owned(),
        other => format!("{} (not run to its end yet)", other.status()),
    }
}

/// `$0.42`, or `?` when nobody reported or priced the cost.
fn cost(spent: &Usage) -> String {
    spent.cost_usd.map_or_else(|| "?".to_owned(), render::dollars)
}

/// The first line of someone's text, bounded, with nothing that would
/// open markup of its own: HTML is shown as text.
fn line(text: &str) -> String {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    let bounded: String = match first.chars().count() {
        n if n > MAX_LINE => first.chars().take(MAX_LINE - 1).chain(['…']).collect(),
        _ => first.to_owned(),
    };
    bounded.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// [`line`], fit for a table cell.
fn cell(text: &str) -> String {
    line(text).replace('|', "\\|")
}

/// `text` cut to `max` characters, saying so.
fn cut(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let note = "\n\n… (cut here: `colony list` and `colony show ID` have the rest)\n";
    let kept: String = text.chars().take(max.saturating_sub(note.chars().count())).collect();
    kept + note
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, state: TaskState, cost_usd: Option<f64>) -> TaskWork {
        TaskWork {
            id: TaskId::new(id).unwrap(),
            title: format!("Do {id}"),
            deps: Vec::new(),
            state,
            merge: None,
            agent: Some("claude".into()),
            model: Some("sonnet".into()),
            attempts: 1,
            reviews: Vec::new(),
            gates: vec!["cargo test".into()],
            spent: Usage { input: 1000, output: 100, cached: 0, cost_usd },
        }
    }

    fn work() -> PlanWork {
        let mut a = task("a", TaskState::Done, Some(0.25));
        a.attempts = 2;
        a.reviews = vec!["attempt 2 review 1: critic approved".into()];
        a.title = "Add <b>a</b> | fast".into();
        let failed = TaskState::Failed { reason: "gate `make` failed:\nboom".into() };
        PlanWork {
            plan: "p".into(),
            source: "p.yaml".into(),
            branch: "colony/p".into(),
            tasks: vec![
                a,
                task("b", failed, None),
                task("c", TaskState::Blocked { by: TaskId::new("b").unwrap() }, None),
            ],
        }
    }

    #[test]
    fn the_description_names_every_task_its_failures_and_the_totals() {
        let text = markdown(&work(), MAX_DESCRIPTION);
        assert!(text.starts_with("colony ran plan **p** (from `p.yaml`): 1 of 3 tasks merged into `colony/p`."));
        assert!(
            text.contains("| `a` Add &lt;b&gt;a&lt;/b&gt; \\| fast | merged | claude (sonnet) | 2 | $0.25 |"),
            "{text}"
        );
        assert!(text.contains("| `b` Do b | failed | claude (sonnet) | 1 | ? |"), "{text}");
        assert!(text.contains("- 2 attempts by claude\n- attempt 2 review 1: critic approved\n"), "{text}");
        assert!(text.contains("- gates passed: `cargo test`"), "{text}");
        assert!(text.contains("- `b` Do b: failed: gate `make` failed:\n"), "only the reason's first line: {text}");
        assert!(text.contains("- `c` Do c: blocked by `b`"), "{text}");
        assert!(text.contains("1 merged, 1 failed, 1 blocked, 0 not done yet, of 3 tasks; 4 attempts;"), "{text}");
        assert!(text.contains("3.0k tokens in, 300 out, $0.25"), "a cost known for some is summed: {text}");
    }

    #[test]
    fn a_tasks_own_description_says_where_it_sits_in_the_stack() {
        let work = work();
        let stacked =
            Stacked { on: Some((TaskId::new("schema").unwrap(), 4)), also: vec![(TaskId::new("config").unwrap(), 6)] };
        let text = task_markdown(&work, &work.tasks[0], &stacked, MAX_DESCRIPTION);
        assert!(text.starts_with("Task `a` of colony's plan **p** (from `p.yaml`), merged into `colony/p`"), "{text}");
        assert!(text.contains("Based on #4 (`schema`), which it depends on: merge that one first."), "{text}");
        assert!(text.contains("It also needs #6 (`config`): their changes are in this branch"), "{text}");
        assert!(text.contains("### `a`: Add &lt;b&gt;a&lt;/b&gt; | fast\n\n- 2 attempts by claude\n"), "{text}");
        assert!(!text.contains("`b`"), "only its own part: {text}");
        let alone = task_markdown(&work, &work.tasks[0], &Stacked { on: None, also: Vec::new() }, MAX_DESCRIPTION);
        assert!(alone.contains("It depends on no other task's pull request."), "{alone}");
    }

    #[test]
    fn a_description_too_long_is_cut_saying_so() {
        let mut work = work();
        work.tasks = (0..2000).map(|i| task(&format!("t{i}"), TaskState::Done, Some(0.01))).collect();
        let text = markdown(&work, 5_000);
        assert!(text.chars().count() <= 5_000);
        assert!(text.ends_with("`colony show ID` have the rest)\n"), "{}", &text[text.len() - 200..]);
    }
}
