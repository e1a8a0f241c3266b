//! A task of a plan replaced by new tasks (`colony replan`): the new tasks
//! join the plan, the tasks that depended on the replaced one depend on
//! the new tasks nothing else among them depends on (the last of the
//! replacement's chains), and the whole is checked as `colony add` checks a
//! file.

use std::collections::BTreeSet;

use super::parse::{Format, parse, to_json};
use super::{PlanError, PlanErrors};
use crate::TaskId;
use crate::spec::Plan;

/// A plan with one task replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct Replacement {
    /// The plan as it is to be: without the replaced task, with the new
    /// ones, its dependents rewired.
    pub plan: Plan,
    /// The new tasks, in the order given.
    pub added: Vec<TaskId>,
    /// The tasks that depended on the replaced one, now on the new ones.
    pub rewired: Vec<TaskId>,
}

/// `plan` with `replaced` taken out and the tasks of `answer` (YAML: a
/// list of tasks, or a mapping with `tasks`) put in its place; or why not,
/// one problem per line, each naming its task.
pub fn replace(plan: &Plan, replaced: &TaskId, answer: &str, integration: &str) -> Result<Replacement, String> {
    let tasks = task_list(answer, "a replacement")?;
    if tasks.is_empty() {
        return Err("the replacement has no tasks".into());
    }
    if let Some(taken) = tasks.iter().filter_map(id_of).find(|id| plan.tasks.iter().any(|t| t.id.as_str() == id)) {
        return Err(format!("task `{taken}` is in plan {} already: give each new task a new id", plan.name));
    }
    let mut whole = serde_json::to_value(plan).expect("a plan always serializes");
    whole["tasks"].as_array_mut().expect("a plan's tasks are a list").extend(tasks);
    let combined = checked(&whole.to_string(), plan, integration)?;

    let before: BTreeSet<&TaskId> = plan.tasks.iter().map(|t| &t.id).collect();
    let new: Vec<_> = combined.tasks.iter().filter(|t| !before.contains(&t.id)).collect();
    if let Some(t) = new.iter().find(|t| t.deps.contains(replaced)) {
        return Err(format!("task `{}`: depends on `{replaced}`, the task it replaces", t.id));
    }
    let added: Vec<TaskId> = new.iter().map(|t| t.id.clone()).collect();
    let needed: BTreeSet<&TaskId> = new.iter().flat_map(|t| &t.deps).collect();
    let last: Vec<TaskId> = added.iter().filter(|id| !needed.contains(id)).cloned().collect();

    let mut result = combined.clone();
    result.tasks.retain(|t| &t.id != replaced);
    let mut rewired = Vec::new();
    for task in &mut result.tasks {
        if let Some(at) = task.deps.iter().position(|d| d == replaced) {
            task.deps.remove(at);
            for id in &last {
                if !task.deps.contains(id) {
                    task.deps.push(id.clone());
                }
            }
            rewired.push(task.id.clone());
        }
    }
    let plan = checked(&to_json(&result), plan, integration)?;
    Ok(Replacement { plan, added, rewired })
}

/// The tasks of `answer`: YAML, a list of tasks or a mapping with `tasks`
/// alone; or why not, `what` naming what it was to be.
pub(super) fn task_list(answer: &str, what: &str) -> Result<Vec<serde_json::Value>, String> {
    let value: serde_json::Value =
        serde_saphyr::from_str_with_options(answer, super::parse::yaml_options()).map_err(|e| {
            let first = e.to_string().lines().next().unwrap_or_default().to_owned();
            format!("the answer is not YAML: {first}")
        })?;
    match value {
        serde_json::Value::Array(tasks) => Ok(tasks),
        serde_json::Value::Object(mut map) => {
            let others: Vec<String> = map.keys().filter(|k| *k != "tasks").map(|k| format!("`{k}`")).collect();
            if !others.is_empty() {
                return Err(format!(
                    "{what} is a list of tasks (or `tasks:` alone); {} cannot be set here",
                    others.join(", ")
                ));
            }
            match map.remove("tasks") {
                Some(serde_json::Value::Array(tasks)) => Ok(tasks),
                _ => Err("`tasks` must be a list of tasks".into()),
            }
        }
        _ => Err(format!("{what} must be a list of tasks")),
    }
}

/// A task's id as given, before any check.
pub(super) fn id_of(task: &serde_json::Value) -> Option<String> {
    match task.get("id") {
        Some(serde_json::Value::String(id)) => Some(id.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// `text` read as `colony add` reads a plan, its problems told by task (the
/// lines are of a plan put together here, not of any file).
fn checked(text: &str, plan: &Plan, integration: &str) -> Result<Plan, String> {
    parse("plan", text.as_bytes(), Format::Json, plan.name.as_str(), integration).map_err(|e| told(&e))
}

fn told(errors: &PlanErrors) -> String {
    let lines: Vec<String> = errors
        .iter()
        .map(|PlanError { task, message, .. }| match task {
            Some(task) => format!("task `{task}`: {message}"),
            None => message.clone(),
        })
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let text = "name: p\ntasks:\n  - id: a\n    prompt: A.\n  - id: b\n    prompt: B.\n    deps: [a]\n  - id: c\n    prompt: C.\n    deps: [a, b]\n";
        parse("p.yaml", text.as_bytes(), Format::Yaml, "p", "colony/{plan}").unwrap()
    }

    fn id(s: &str) -> TaskId {
        TaskId::new(s).unwrap()
    }

    fn deps(plan: &Plan, of: &str) -> Vec<String> {
        plan.tasks.iter().find(|t| t.id.as_str() == of).unwrap().deps.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn dependents_move_to_the_last_of_the_new_tasks() {
        let answer = "tasks:\n  - id: a1\n    prompt: First half.\n  - id: a2\n    prompt: Second half.\n    deps: [a1]\n  - id: a3\n    prompt: Aside.\n";
        let r = replace(&plan(), &id("a"), answer, "colony/{plan}").unwrap();
        let ids: Vec<&str> = r.plan.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["b", "c", "a1", "a2", "a3"]);
        assert_eq!(r.added, [id("a1"), id("a2"), id("a3")]);
        assert_eq!(r.rewired, [id("b"), id("c")]);
        assert_eq!(deps(&r.plan, "b"), ["a2", "a3"]);
        assert_eq!(deps(&r.plan, "c"), ["b", "a2", "a3"]);
    }

    #[test]
    fn a_bare_list_is_a_replacement_too() {
        let r = replace(&plan(), &id("b"), "- id: b1\n  prompt: B again.\n  deps: [a]\n", "colony/{plan}").unwrap();
        assert_eq!(deps(&r.plan, "c"), ["a", "b1"]);
        assert_eq!(r.rewired, [id("c")]);
    }

    #[test]
    fn what_cannot_be_a_replacement_says_why_by_task() {
        let cases = [
            ("name: q\ntasks: []\n", "`name` cannot be set here"),
            ("tasks: []\n", "the replacement has no tasks"),
            ("- id: b\n  prompt: again\n", "task `b` is in plan p already"),
            ("- id: x\n  prompt: X.\n  deps: [zz]\n", "task `x`: unknown dependency `zz`"),
            ("- id: x\n  prompt: X.\n  dep: [a]\n", "task `x`: unknown field `dep`"),
            ("- id: x\n  prompt: X.\n  deps: [a]\n", "task `x`: depends on `a`, the task it replaces"),
            ("- id: x\n  prompt: X.\n  deps: [c]\n", "cycle"),
            ("tasks: [unclosed\n", "the answer is not YAML"),
        ];
        for (answer, says) in cases {
            let why = replace(&plan(), &id("a"), answer, "colony/{plan}").unwrap_err();
            assert!(why.contains(says), "{answer:?}: {why}");
            assert!(!why.contains("plan:"), "no line of a file nobody wrote: {why}");
        }
    }
}
