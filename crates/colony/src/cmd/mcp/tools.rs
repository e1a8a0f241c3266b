//! The MCP tools: what each is called, what it takes, and the `colony`
//! command it runs.
//!
//! This is the pure half of the server: a tool call's arguments become a
//! [`Call`] (a command line for `colony`, and at most a plan text to write
//! first) or a message saying what is wrong with them. Nothing here runs
//! anything. Each argument is checked by serde against the tool's own type
//! (the type its JSON schema is made from), ids as ids; what only the
//! command can judge (an unknown task, a state that does not allow the
//! change) is left to the command, so an MCP client gets the CLI's errors.
//! Values a person typed always follow `--`, so none is read as a flag.

use std::sync::Arc;

use colony_core::{PlanName, TaskId};
use rmcp::model::{JsonObject, Tool};
use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// What a tool call runs: `colony ARGS`, after writing `plan` if there is
/// one (its path is then the last argument); of its output, at most
/// `lines` lines are returned.
#[derive(Debug, PartialEq, Eq)]
pub struct Call {
    pub args: Vec<String>,
    pub plan: Option<PlanText>,
    pub lines: Option<usize>,
}

/// A plan given as text, to be written where `colony add` reads it.
#[derive(Debug, PartialEq, Eq)]
pub struct PlanText {
    /// The file's name under `.colony/plans/`: `<name>.<format>`.
    pub file: String,
    pub text: String,
}

impl Call {
    fn new<const N: usize>(args: [&str; N]) -> Call {
        Call { args: args.iter().map(|a| (*a).to_owned()).collect(), plan: None, lines: None }
    }

    fn flag(mut self, on: bool, flag: &str) -> Call {
        if on {
            self.args.push(flag.to_owned());
        }
        self
    }

    fn opt(mut self, flag: &str, value: Option<impl ToString>) -> Call {
        if let Some(value) = value {
            self.args.push(flag.to_owned());
            self.args.push(value.to_string());
        }
        self
    }

    /// The positional values, after `--`.
    fn values<S: ToString>(mut self, values: impl IntoIterator<Item = S>) -> Call {
        self.args.push("--".to_owned());
        self.args.extend(values.into_iter().map(|v| v.to_string()));
        self
    }
}

/// One tool: its name, its description, the JSON schema of its arguments,
/// and how its arguments become a [`Call`].
pub struct ToolDef {
    pub tool: Tool,
    call: Box<dyn Fn(JsonObject) -> Result<Call, String> + Send + Sync>,
}

impl ToolDef {
    fn new<A: DeserializeOwned + JsonSchema + 'static>(
        name: &'static str,
        description: &'static str,
        call: fn(A) -> Result<Call, String>,
    ) -> ToolDef {
        let tool = Tool::new(name, description, rmcp::handler::server::tool::schema_for_type::<A>());
        let call = Box::new(move |arguments: JsonObject| {
            let args: A = serde_json::from_value(serde_json::Value::Object(arguments))
                .map_err(|e| format!("bad arguments for {name}: {e}"))?;
            call(args)
        });
        ToolDef { tool, call }
    }

    /// The call for these arguments, or what is wrong with them.
    pub fn call(&self, arguments: JsonObject) -> Result<Call, String> {
        (self.call)(arguments)
    }
}

/// Every tool the server offers, in the order clients list them.
pub fn all() -> Arc<Vec<ToolDef>> {
    Arc::new(vec![
        ToolDef::new(
            "init",
            "Set up colony in the repository (`colony init`): its state directory, a commented colony.toml and \
             the store. Changes nothing that is already there.",
            |NoArgs {}| Ok(Call::new(["init"])),
        ),
        ToolDef::new(
            "plan",
            "Make a plan from a goal (`colony plan`): a planner agent reads the goal and the repository and \
             writes plans/<name>.yaml, checked as add_plan would. Returns its summary; run it with add_plan \
             and run, or read it first. Takes as long as the planner does.",
            |a: PlanArgs| Ok(Call::new(["plan"]).opt("--agent", a.agent).opt("--output", a.output).values([a.goal])),
        ),
        ToolDef::new(
            "add_plan",
            "Import a plan (`colony add`): either `text` (the plan itself, in `format`, kept in \
             .colony/plans/<name>.<format>) or `path` (a plan file in the repository). Every problem is \
             reported and nothing is added when there is one. Adding it again updates the tasks that changed; \
             started tasks only with `force`.",
            add_plan,
        ),
        ToolDef::new(
            "run",
            "Start a run in the background (`colony run --detach`), which outlives this session; returns at \
             once. Watch it with status, list_tasks or the colony://tasks resource; stop it with stop.",
            |a: RunArgs| {
                Ok(Call::new(["run", "--detach"])
                    .opt("--jobs", a.jobs)
                    .opt("--agent", a.agent)
                    .flag(a.serve, "--serve"))
            },
        ),
        ToolDef::new(
            "stop",
            "Stop the runs working on the repository (`colony stop`): running agents may finish, unless `now`; \
             unfinished tasks go back to the queue. Returns when they have ended.",
            |a: StopArgs| Ok(Call::new(["stop"]).flag(a.now, "--now")),
        ),
        ToolDef::new(
            "status",
            "Where things stand (`colony status --json`): tasks by status, plans, active runs, proposals and \
             tasks awaiting approval.",
            |NoArgs {}| Ok(Call::new(["status", "--json"])),
        ),
        ToolDef::new(
            "list_tasks",
            "List tasks with their status and attempts (`colony list --json`), optionally only some statuses \
             or one plan.",
            |a: ListArgs| {
                let statuses = (!a.status.is_empty()).then(|| a.status.join(","));
                Ok(Call::new(["list", "--json"]).opt("--status", statuses).opt("--plan", a.plan))
            },
        ),
        ToolDef::new(
            "show_task",
            "One task in full (`colony show --json`): state, dependencies, prompt, attempts and history; with \
             `prompt`, the prompts sent to its agents instead.",
            |a: ShowArgs| Ok(Call::new(["show"]).flag(!a.prompt, "--json").flag(a.prompt, "--prompt").values([a.id])),
        ),
        ToolDef::new(
            "task_log",
            "The end of what a task's agent printed (`colony logs`): the last `tail` records (default 100) of \
             the latest attempt, or of `attempt`.",
            |a: LogArgs| {
                Ok(Call::new(["logs"])
                    .opt("--attempt", a.attempt)
                    .opt("--tail", Some(a.tail.unwrap_or(100)))
                    .values([a.id]))
            },
        ),
        ToolDef::new(
            "events",
            "The event log after sequence number `since` (`colony events --json`), one JSON object a line, at \
             most `limit` (default 200) of them; call again with the last one's seq for more.",
            |a: EventsArgs| {
                let mut call = Call::new(["events", "--json"]).opt("--since", Some(a.since));
                call.lines = Some(a.limit.unwrap_or(200).max(1));
                Ok(call)
            },
        ),
        ToolDef::new(
            "retry",
            "Send failed or cancelled tasks back to the queue (`colony retry`); all or none.",
            |a: IdsArgs| ids("retry", a),
        ),
        ToolDef::new(
            "cancel",
            "Cancel tasks (`colony cancel`); the tasks that depend on them become blocked. All or none.",
            |a: IdsArgs| ids("cancel", a),
        ),
        ToolDef::new(
            "kill",
            "Stop tasks' running attempts now (`colony kill`); each counts as a try. All or none.",
            |a: IdsArgs| ids("kill", a),
        ),
        ToolDef::new(
            "approve",
            "Approve a task that awaits approval, to be merged, or add a proposed follow-up to its plan \
             (`colony approve`).",
            |a: IdArgs| Ok(Call::new(["approve"]).values([a.id])),
        ),
        ToolDef::new(
            "reject",
            "Send a task that awaits approval back to its agent with `feedback`, or drop a proposed follow-up \
             saying why (`colony reject`).",
            |a: RejectArgs| {
                if a.feedback.trim().is_empty() {
                    return Err(
                        "bad arguments for reject: `feedback` is empty; say what the agent should change".into()
                    );
                }
                Ok(Call::new(["reject"]).opt("--feedback", Some(a.feedback)).values([a.id]))
            },
        ),
        ToolDef::new(
            "answer",
            "Answer the question a task's agent asked a person (`colony answer`; `status` lists the \
             questions): the task's agent goes on with `text`, from the work it had done.",
            |a: AnswerArgs| {
                if a.text.trim().is_empty() {
                    return Err("bad arguments for answer: `text` is empty; say what the agent asked for".into());
                }
                Ok(Call::new(["answer"]).values([a.id.to_string(), a.text]))
            },
        ),
        ToolDef::new(
            "land",
            "Bring a plan's finished work (its integration branch colony/<plan>) into the branch checked out \
             in the repository (`colony land`): a fast-forward, or a merge commit with `merge`. Needs a clean \
             working tree. With `pr`, the checkout is left alone: the branch is pushed and its pull request \
             opened or updated with gh or glab (`draft`, `base`, `title`), or with `per_task` one pull request \
             per merged task, stacked by dependency.",
            |a: LandArgs| {
                Ok(Call::new(["land"])
                    .opt("--plan", a.plan)
                    .flag(a.merge, "--merge")
                    .flag(a.pr, "--pr")
                    .flag(a.per_task, "--per-task")
                    .flag(a.draft, "--draft")
                    .opt("--base", a.base)
                    .opt("--title", a.title))
            },
        ),
    ])
}

/// The file formats a plan given as text may be in.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Format {
    #[default]
    Yaml,
    Toml,
    Json,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PlanArgs {
    /// What the plan is to achieve, in a sentence or more.
    goal: String,
    /// The planner's agent (default: colony.toml's [plan] agent, else its [run] agent).
    agent: Option<String>,
    /// Where to write the plan, relative to the repository (default: plans/<name>.yaml).
    output: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AddPlanArgs {
    /// The plan itself (tasks with ids, titles, prompts and deps), in `format`.
    text: Option<String>,
    /// The format of `text` (default yaml).
    #[serde(default)]
    format: Format,
    /// With `text`: the plan's name when the text names none, and its file's (default: "plan").
    #[schemars(with = "Option<String>")]
    name: Option<PlanName>,
    /// A plan file in the repository, instead of `text`.
    path: Option<String>,
    /// Also update tasks that have started or finished; they run again.
    #[serde(default)]
    force: bool,
}

fn add_plan(a: AddPlanArgs) -> Result<Call, String> {
    let call = |target: Vec<String>, plan| {
        let mut call = Call::new(["add", "--json"]).flag(a.force, "--force").values(target);
        call.plan = plan;
        call
    };
    match (a.text, a.path) {
        (Some(text), None) => {
            let name = a.name.as_ref().map_or("plan", PlanName::as_str);
            let ext = match a.format {
                Format::Yaml => "yaml",
                Format::Toml => "toml",
                Format::Json => "json",
            };
            Ok(call(Vec::new(), Some(PlanText { file: format!("{name}.{ext}"), text })))
        }
        (None, Some(path)) if a.name.is_none() => Ok(call(vec![path], None)),
        (None, Some(_)) => {
            Err("bad arguments for add_plan: `name` goes with `text`; a file's plan is named in it".into())
        }
        (Some(_), Some(_)) => Err("bad arguments for add_plan: give `text` or `path`, not both".into()),
        (None, None) => Err("bad arguments for add_plan: give the plan as `text`, or a plan file's `path`".into()),
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RunArgs {
    /// How many agents work at once (default: colony.toml's workers).
    jobs: Option<u16>,
    /// The agent for tasks whose plan names none (default: colony.toml's agent).
    agent: Option<String>,
    /// Also serve the dashboard while the run lives.
    #[serde(default)]
    serve: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct StopArgs {
    /// Stop the agents at once too; their tasks go back to the queue.
    #[serde(default)]
    now: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    /// Only tasks in these statuses (pending, ready, running, checking, merging, awaiting_approval, awaiting_input, done, failed, ...).
    #[serde(default)]
    status: Vec<String>,
    /// Only the tasks of this plan.
    #[schemars(with = "Option<String>")]
    plan: Option<PlanName>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ShowArgs {
    /// The task's id.
    #[schemars(with = "String")]
    id: TaskId,
    /// The prompts sent to its agents, round by round, instead.
    #[serde(default)]
    prompt: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LogArgs {
    /// The task's id.
    #[schemars(with = "String")]
    id: TaskId,
    /// Which attempt (default: the latest).
    #[schemars(range(min = 1))]
    attempt: Option<u32>,
    /// How many of the last records (default 100).
    tail: Option<usize>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EventsArgs {
    /// Only events after this sequence number (default 0: from the start).
    #[serde(default)]
    since: i64,
    /// At most this many events (default 200).
    limit: Option<usize>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct IdsArgs {
    /// Task ids.
    #[schemars(with = "Vec<String>", length(min = 1))]
    ids: Vec<TaskId>,
}

fn ids(command: &str, a: IdsArgs) -> Result<Call, String> {
    if a.ids.is_empty() {
        return Err(format!("bad arguments for {command}: `ids` is empty; name at least one task"));
    }
    Ok(Call::new([command]).values(a.ids))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct IdArgs {
    /// The task's id.
    #[schemars(with = "String")]
    id: TaskId,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RejectArgs {
    /// The task's id.
    #[schemars(with = "String")]
    id: TaskId,
    /// What the agent should change (or, for a proposal, why it is dropped).
    feedback: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AnswerArgs {
    /// The task's id.
    #[schemars(with = "String")]
    id: TaskId,
    /// Your answer to its agent's question.
    text: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LandArgs {
    /// The plan to land; needed only when the store holds several.
    #[schemars(with = "Option<String>")]
    plan: Option<PlanName>,
    /// Make a merge commit instead of fast-forwarding.
    #[serde(default)]
    merge: bool,
    /// Push the plan's branch and open or update its pull request instead.
    #[serde(default)]
    pr: bool,
    /// With `pr`: one pull request per merged task, stacked by dependency.
    #[serde(default)]
    per_task: bool,
    /// With `pr`: open it as a draft.
    #[serde(default)]
    draft: bool,
    /// With `pr`: the branch it goes into (default: the checked-out one).
    base: Option<String>,
    /// With `pr`: its title (not with `per_task`).
    title: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, arguments: serde_json::Value) -> Result<Call, String> {
        let tools = all();
        let def = tools.iter().find(|d| d.tool.name == name).expect("a tool of that name");
        let serde_json::Value::Object(arguments) = arguments else { panic!("arguments are an object") };
        def.call(arguments)
    }

    fn args(name: &str, arguments: serde_json::Value) -> Vec<String> {
        call(name, arguments).expect("arguments accepted").args
    }

    #[test]
    fn values_follow_a_double_dash_so_none_is_read_as_a_flag() {
        assert_eq!(args("retry", json!({"ids": ["-x", "b"]})), ["retry", "--", "-x", "b"]);
        assert_eq!(args("plan", json!({"goal": "--force everything"})), ["plan", "--", "--force everything"]);
        assert_eq!(
            args("reject", json!({"id": "a", "feedback": "--now"})),
            ["reject", "--feedback", "--now", "--", "a"]
        );
        assert_eq!(args("answer", json!({"id": "a", "text": "--users"})), ["answer", "--", "a", "--users"]);
    }

    #[test]
    fn options_become_flags_only_when_given() {
        assert_eq!(args("run", json!({})), ["run", "--detach"]);
        assert_eq!(args("run", json!({"jobs": 3, "serve": true})), ["run", "--detach", "--jobs", "3", "--serve"]);
        assert_eq!(
            args("list_tasks", json!({"status": ["failed", "blocked"], "plan": "web"})),
            ["list", "--json", "--status", "failed,blocked", "--plan", "web"]
        );
        assert_eq!(args("task_log", json!({"id": "a"})), ["logs", "--tail", "100", "--", "a"]);
        assert_eq!(args("show_task", json!({"id": "a", "prompt": true})), ["show", "--prompt", "--", "a"]);
        assert_eq!(
            args("land", json!({"pr": true, "per_task": true, "draft": true, "base": "main"})),
            ["land", "--pr", "--per-task", "--draft", "--base", "main"]
        );
        assert_eq!(args("land", json!({"pr": true, "title": "Night work"})), ["land", "--pr", "--title", "Night work"]);
    }

    #[test]
    fn a_plan_text_is_written_under_its_name_and_format() {
        let named = call("add_plan", json!({"text": "tasks: []", "format": "toml", "name": "web"})).unwrap();
        assert_eq!(named.args, ["add", "--json", "--"]);
        assert_eq!(named.plan, Some(PlanText { file: "web.toml".into(), text: "tasks: []".into() }));
        let default = call("add_plan", json!({"text": "x"})).unwrap();
        assert_eq!(default.plan.map(|p| p.file).as_deref(), Some("plan.yaml"));
        assert_eq!(call("events", json!({"since": 4})).unwrap().lines, Some(200));
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        let err = |name, a| call(name, a).expect_err("refused");
        assert!(err("retry", json!({"ids": []})).contains("`ids` is empty"));
        assert!(err("retry", json!({"ids": ["a/b"]})).contains("has `/`"));
        assert!(err("add_plan", json!({"text": "x", "name": "../../etc"})).contains("has `/`"));
        assert!(err("add_plan", json!({})).contains("give the plan as `text`"));
        assert!(err("add_plan", json!({"text": "x", "path": "p.yaml"})).contains("not both"));
        assert!(err("approve", json!({"id": "a", "force": true})).contains("unknown field `force`"));
        assert!(err("run", json!({"jobs": "many"})).contains("bad arguments for run"));
        assert!(err("reject", json!({"id": "a", "feedback": "  "})).contains("`feedback` is empty"));
        assert!(err("answer", json!({"id": "a", "text": ""})).contains("`text` is empty"));
    }

    #[test]
    fn every_tool_has_a_description_and_an_object_schema() {
        for def in all().iter() {
            assert!(def.tool.description.as_deref().is_some_and(|d| d.len() > 20), "{}", def.tool.name);
            assert_eq!(def.tool.input_schema.get("type"), Some(&json!("object")), "{}", def.tool.name);
        }
    }
}
