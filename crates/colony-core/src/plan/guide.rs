//! The plan format as a planner agent is told it: every field a task may
//! have, with what it means. A test holds the list to the fields the
//! reader accepts, so what the planner is told cannot drift from what
//! `colony add` reads.

/// The fields of a plan, then of a task, each with what it is. `fake`, the
/// fake agent's instructions for colony's own tests, is left out.
pub const PLAN_FIELDS: &[(&str, &str)] = &[
    ("name", "the plan's name: letters, digits, `.`, `_` and `-`; its work merges into colony/<name>"),
    ("base", "the branch or commit the plan starts from (default: the current HEAD)"),
    ("defaults", "settings every task inherits: role, agent, model, review, timeout, max_attempts, approval"),
    ("tasks", "the list of tasks"),
];

/// See [`PLAN_FIELDS`].
pub const TASK_FIELDS: &[(&str, &str)] = &[
    ("id", "required; unique in the plan; letters, digits, `.`, `_` and `-`"),
    ("title", "one line saying what the task does"),
    ("prompt", "required; what the agent that does the task is told: the change, where, and how to check it"),
    ("deps", "ids of tasks that must be merged before this one starts"),
    ("acceptance", "a list of checkable criteria the work must meet"),
    ("files", "globs of the files the task works on (`src/auth/**`); tasks whose files are disjoint run in parallel"),
    ("priority", "an integer, or critical, high, medium, low: the order among tasks ready at once"),
    ("estimated_hours", "a number: the task's weight on the critical path"),
    ("role", "a kind of task colony.toml defines (`[roles.NAME]`), which brings its prompt, agent, gates and review"),
    ("agent", "the agent that does it, when not the run's or its role's"),
    ("model", "the model that agent uses"),
    ("review", "`none`, or `{ agent: NAME }` for a reviewer of its own"),
    ("timeout", "how long one agent round may take (`30m`)"),
    ("max_attempts", "attempts before the task fails"),
    ("approval", "`required`: a person approves its merge; `auto`: no one needs to"),
    ("phase", "a label grouping tasks"),
    ("kind", "a label for the kind of work (feature, test, docs)"),
    ("design_docs", "paths of documents the agent should read first"),
];

/// The format as a planner's prompt gives it: the fields, then a short
/// example.
pub fn format_guide() -> String {
    let fields =
        |list: &[(&str, &str)]| list.iter().map(|(name, what)| format!("- `{name}`: {what}\n")).collect::<String>();
    let mut out =
        format!("A plan is YAML. Its fields:\n{}Each task's fields:\n{}", fields(PLAN_FIELDS), fields(TASK_FIELDS));
    out.push_str(
        "\nFor example:\n\nname: auth\ntasks:\n  - id: users-table\n    title: Add the users table\n    prompt: |\n      \
         Add a migration that creates a users table with an email and a password hash.\n    \
         acceptance: [\"the migration applies on an empty database\"]\n    files: [\"migrations/**\"]\n  \
         - id: login\n    title: Log in\n    prompt: Add POST /login that checks the password hash.\n    \
         deps: [users-table]\n    files: [\"src/auth/**\"]\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Format, parse};

    /// The names `colony add` says it accepts where `field` stood.
    fn accepted(text: &str) -> Vec<String> {
        let e = parse("p.yaml", text.as_bytes(), Format::Yaml, "p", "colony/{plan}").unwrap_err().to_string();
        let list = e.split("expected one of ").nth(1).unwrap_or_else(|| panic!("{e}"));
        list.split(", ").map(|name| name.trim().trim_matches('`').to_owned()).collect()
    }

    #[test]
    fn the_guide_names_every_field_the_reader_accepts() {
        let mut plan: Vec<String> = accepted("name: p\nzzzzzzzz: 1\ntasks: []\n");
        plan.sort();
        let mut told: Vec<String> = PLAN_FIELDS.iter().map(|(f, _)| f.to_string()).collect();
        told.sort();
        assert_eq!(told, plan);

        let mut task = accepted("name: p\ntasks:\n  - id: a\n    prompt: p\n    zzzzzzzz: 1\n");
        task.retain(|f| f != "fake");
        task.sort();
        let mut told: Vec<String> = TASK_FIELDS.iter().map(|(f, _)| f.to_string()).collect();
        told.sort();
        assert_eq!(told, task);
    }

    #[test]
    fn the_example_in_the_guide_is_a_plan() {
        let guide = format_guide();
        let example = guide.split("For example:\n\n").nth(1).unwrap();
        let plan = parse("p.yaml", example.as_bytes(), Format::Yaml, "p", "colony/{plan}").unwrap();
        assert_eq!(plan.tasks.len(), 2);
    }
}
