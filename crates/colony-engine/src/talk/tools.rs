//! The tools an attempt's agent is given, and what a call of each asks
//! for, decided without the store.

use colony_core::plan::Judged;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub(crate) const REPORT_PROGRESS: &str = "report_progress";
pub(crate) const PROPOSE_FOLLOWUP: &str = "propose_followup";
pub(crate) const ASK_HUMAN: &str = "ask_human";
pub(crate) const VIEW_PLAN: &str = "view_plan";

/// The most tasks of its plan `view_plan` lists.
pub(crate) const MAX_PLAN_TASKS: usize = 500;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReportProgress {
    /// One line on how far you are and what you do next, as a person
    /// watching the run should read it.
    message: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ViewPlan {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AskHuman {
    /// The question, with what the person needs to answer it: the choices
    /// you see and what each would mean. They do not see your
    /// conversation.
    question: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ProposeFollowup {
    /// The task, as a plan file writes one.
    task: Followup,
}

/// A follow-up task: what a plan's task may say but who does it and how it
/// is checked, which stay the plan's.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Followup {
    /// A new id in the plan: lowercase letters, digits and dashes.
    id: String,
    /// A short title; the first line of the prompt when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    /// What the task's agent is to do, in full: it does not see your
    /// conversation.
    prompt: String,
    /// Ids of tasks of the plan (yours among them) that must be done first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    deps: Vec<String>,
    /// What must be true when it is done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    acceptance: Vec<String>,
    /// The files it will likely change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    files: Vec<String>,
}

/// What a call asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ask {
    Progress(String),
    /// The follow-up's id, and the follow-up as a list of one task (JSON,
    /// which the follow-up judge reads as YAML).
    Followup {
        id: String,
        text: String,
    },
    Question(String),
    ViewPlan,
}

/// The tools, each with its input's JSON schema. None destroys anything or
/// reaches past colony: Codex runs such tools without asking.
pub(crate) fn all() -> Vec<Tool> {
    let plain = || ToolAnnotations::new().read_only(false).destructive(false).open_world(false);
    vec![
        Tool::new(
            REPORT_PROGRESS,
            "Tell the person running colony how far you are with your task, in one line (for example \
             \"tests written, now the migration\"). It shows in colony's live view, dashboard and your \
             attempt's log. Call it at each milestone; it changes nothing in your work.",
            rmcp::handler::server::tool::schema_for_type::<ReportProgress>(),
        )
        .annotate(plain().idempotent(false)),
        Tool::new(
            PROPOSE_FOLLOWUP,
            "Propose a follow-up task you found but that is not yours to do (a bug elsewhere, missing docs, \
             a refactor). It is judged as a plan's task would be and, if it passes, joins your plan once \
             your work merges (or waits for a person's approval, as colony is set up). The answer says \
             whether it was taken, or why not.",
            rmcp::handler::server::tool::schema_for_type::<ProposeFollowup>(),
        )
        .annotate(plain().idempotent(true)),
        Tool::new(
            ASK_HUMAN,
            "Ask the person running colony a question you cannot settle from the task, the code or its docs \
             (a choice only they can make, a missing secret, a contradiction in the task), instead of \
             guessing. Then end your turn at once with a short summary of where you are: colony keeps your \
             work, waits for the answer, and resumes you with it. One question per turn; put all you need \
             to know in it.",
            rmcp::handler::server::tool::schema_for_type::<AskHuman>(),
        )
        .annotate(plain().idempotent(false)),
        Tool::new(
            VIEW_PLAN,
            "See the plan your task is part of, read-only: every task's id, title, status and dependencies \
             (yours is `you`), and for each task yours depends on, the files its merged work changed and what \
             its agent said when it was done.",
            rmcp::handler::server::tool::schema_for_type::<ViewPlan>(),
        )
        .annotate(ToolAnnotations::new().read_only(true).destructive(false).open_world(false).idempotent(true)),
    ]
}

/// What the call of `name` with `arguments` asks for, or what is wrong
/// with it.
pub(crate) fn ask(name: &str, arguments: JsonObject) -> Result<Ask, String> {
    let value = serde_json::Value::Object(arguments);
    let bad = |e: serde_json::Error| format!("bad arguments for {name}: {e}");
    match name {
        REPORT_PROGRESS => {
            let args: ReportProgress = serde_json::from_value(value).map_err(bad)?;
            colony_core::event::progress_message(&args.message)
                .map(Ask::Progress)
                .ok_or_else(|| "the message is empty: say how far you are".to_owned())
        }
        PROPOSE_FOLLOWUP => {
            let args: ProposeFollowup = serde_json::from_value(value).map_err(bad)?;
            let id = args.task.id.clone();
            let text = serde_json::to_string(&[args.task]).expect("a follow-up always serializes");
            Ok(Ask::Followup { id, text })
        }
        ASK_HUMAN => {
            let args: AskHuman = serde_json::from_value(value).map_err(bad)?;
            colony_core::event::question_text(&args.question)
                .map(Ask::Question)
                .ok_or_else(|| "the question is empty: say what you need to know".to_owned())
        }
        VIEW_PLAN => {
            let ViewPlan {} = serde_json::from_value(value).map_err(bad)?;
            Ok(Ask::ViewPlan)
        }
        _ => Err(format!(
            "no tool `{name}`; there are {REPORT_PROGRESS}, {PROPOSE_FOLLOWUP}, {ASK_HUMAN} and {VIEW_PLAN}"
        )),
    }
}

/// One task of the plan, as `view_plan` shows it.
#[derive(Debug, Serialize)]
pub(crate) struct PlanTask {
    pub id: String,
    pub title: String,
    pub status: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<String>,
}

/// What `view_plan` answers.
#[derive(Debug, Serialize)]
pub(crate) struct PlanView {
    pub plan: String,
    /// The asking agent's task.
    pub you: String,
    pub tasks: Vec<PlanTask>,
    /// Tasks past [`MAX_PLAN_TASKS`], not listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub more_tasks: usize,
    pub dependencies: Vec<crate::prompts::Dependency>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The answer to asking a person, which `wait` at most for their answer.
pub(crate) fn question_answer(asked: Result<(), super::NotAsked>, wait: std::time::Duration) -> Result<String, String> {
    match asked {
        Ok(()) => Ok(format!(
            "Your question is with a person. End your turn now: stop working and reply with a short summary \
             of where you are. colony keeps your work and resumes you with their answer; if none comes within \
             {}, the task fails with your question as the reason.",
            colony_core::time::human(wait)
        )),
        Err(super::NotAsked::Asked) => {
            Err("you asked a question already in this turn: end your turn now, and ask the rest once \
                 you are resumed with its answer"
                .into())
        }
        Err(super::NotAsked::Closed) => Err("nobody can be asked now: you are resolving a merge conflict. \
                                              Decide as best you can, and say what you assumed in your \
                                              final message."
            .into()),
    }
}

/// The answer to proposing `id`, given what became of all the attempt
/// proposed; `held`: taken follow-ups wait for a person's approval.
pub(crate) fn followup_answer(id: &str, judged: &Judged, held: bool) -> Result<String, String> {
    if judged.added.iter().any(|added| added.as_str() == id) {
        let then = match held {
            true => "it waits for a person's approval once your work merges",
            false => "it joins the plan once your work merges",
        };
        return Ok(format!("follow-up `{id}` is proposed: {then}. Go on with your own task."));
    }
    let named = format!("`{id}`:");
    match judged.dropped.iter().find(|why| why.starts_with(&named)).or(judged.dropped.first()) {
        Some(why) => Err(format!("follow-up not taken: {why}")),
        None => Err(format!("follow-up `{id}` was not taken")),
    }
}

#[cfg(test)]
mod tests {
    use colony_core::TaskId;
    use serde_json::json;

    use super::*;

    fn object(value: serde_json::Value) -> JsonObject {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn every_tool_has_an_object_schema_and_harmless_annotations() {
        for tool in all() {
            assert_eq!(tool.input_schema.get("type"), Some(&json!("object")), "{}", tool.name);
            let notes = tool.annotations.clone().unwrap();
            assert_eq!((notes.destructive_hint, notes.open_world_hint), (Some(false), Some(false)), "{}", tool.name);
        }
    }

    #[test]
    fn a_progress_report_is_one_clean_line_and_never_empty() {
        let asked = ask(REPORT_PROGRESS, object(json!({"message": "tests pass\n now docs"})));
        assert_eq!(asked, Ok(Ask::Progress("tests pass now docs".into())));
        let empty = ask(REPORT_PROGRESS, object(json!({"message": " \n"}))).unwrap_err();
        assert!(empty.contains("empty"), "{empty}");
        let extra = ask(REPORT_PROGRESS, object(json!({"message": "x", "level": 3}))).unwrap_err();
        assert!(extra.contains("unknown field `level`"), "{extra}");
        let missing = ask(REPORT_PROGRESS, object(json!({}))).unwrap_err();
        assert!(missing.contains("missing field `message`"), "{missing}");
    }

    #[test]
    fn a_followup_becomes_a_list_of_one_task_and_may_not_pick_its_agent() {
        let asked =
            ask(PROPOSE_FOLLOWUP, object(json!({"task": {"id": "docs", "prompt": "Document it.", "deps": ["a"]}})));
        let Ok(Ask::Followup { id, text }) = asked else { panic!("{asked:?}") };
        assert_eq!(id, "docs");
        let tasks: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(tasks, json!([{"id": "docs", "prompt": "Document it.", "deps": ["a"]}]));
        let agent = ask(PROPOSE_FOLLOWUP, object(json!({"task": {"id": "x", "prompt": "X.", "agent": "opus"}})));
        assert!(agent.unwrap_err().contains("unknown field `agent`"));
        assert!(ask("rm_rf", JsonObject::new()).unwrap_err().contains("no tool `rm_rf`"));
    }

    #[test]
    fn a_question_is_kept_with_its_lines_and_the_agent_told_to_end_its_turn() {
        let asked = ask(ASK_HUMAN, object(json!({"question": "Which table?\n(a) users\n(b) accounts\n"})));
        assert_eq!(asked, Ok(Ask::Question("Which table?\n(a) users\n(b) accounts".into())));
        assert!(ask(ASK_HUMAN, object(json!({"question": "\n "}))).unwrap_err().contains("empty"));
        let wait = std::time::Duration::from_secs(2 * 3600);
        let told = question_answer(Ok(()), wait).unwrap();
        assert!(told.contains("End your turn now") && told.contains("2h"), "{told}");
        assert!(question_answer(Err(super::super::NotAsked::Asked), wait).unwrap_err().contains("already"));
        assert!(question_answer(Err(super::super::NotAsked::Closed), wait).unwrap_err().contains("merge conflict"));
    }

    #[test]
    fn the_answer_says_whether_the_followup_was_taken_and_why_not() {
        let judged = Judged {
            plan: None,
            added: vec![TaskId::new("docs").unwrap()],
            dropped: vec!["`lint`: plan p has a task with this id already".into()],
        };
        assert!(followup_answer("docs", &judged, false).unwrap().contains("joins the plan once your work merges"));
        assert!(followup_answer("docs", &judged, true).unwrap().contains("a person's approval"));
        assert_eq!(
            followup_answer("lint", &judged, false),
            Err("follow-up not taken: `lint`: plan p has a task with this id already".into())
        );
        let none = Judged { dropped: vec!["follow-ups are off".into()], ..Judged::default() };
        assert_eq!(followup_answer("x", &none, false), Err("follow-up not taken: follow-ups are off".into()));
    }
}
