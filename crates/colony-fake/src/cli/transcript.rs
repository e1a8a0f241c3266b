//! What a fake CLI prints: one short story ([`Step`]s) told in each CLI's
//! own output format, close enough to the real ones that colony's adapters
//! read it as they read the real CLI.

use serde_json::{Value, json};

use super::Cli;
use crate::script::Scenario;

/// One beat of a fake run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// The session starts.
    Init,
    /// The assistant says something.
    Say(String),
    /// One tool use: the file written, or none (a look at the status).
    Tool(Option<String>),
    /// The final event: success.
    Done,
    /// The final event: failure, with these words.
    Fail(String),
}

/// A line of output and its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    Out(String),
    Err(String),
}

/// What the rate-limit scenario says; the adapters read the reset from it.
pub(crate) const RATE_LIMIT: &str = "You've hit your usage limit. Try again in 5 minutes.";

/// The steps of `scenario` for task `task`; `wrote` is the first file the
/// file work changed. A crash stops before the final event.
pub(crate) fn steps(scenario: Scenario, task: &str, wrote: Option<String>) -> Vec<Step> {
    let working = Step::Say(format!("Working on task {task}."));
    match scenario {
        Scenario::Success => vec![Step::Init, working, Step::Tool(wrote), Step::Say("Done.".into()), Step::Done],
        Scenario::Error => vec![Step::Init, working, Step::Fail("fake error: the task could not be done".into())],
        Scenario::RateLimit => vec![Step::Init, Step::Fail(RATE_LIMIT.into())],
        Scenario::Crash => vec![Step::Init, working],
        Scenario::IsErrorExit0 => vec![Step::Init, Step::Fail("API Error: 500 Internal server error".into())],
    }
}

/// `steps` in `cli`'s format, for session `session`.
pub(crate) fn render(cli: Cli, session: &str, steps: &[Step]) -> Vec<Line> {
    steps
        .iter()
        .flat_map(|step| match cli {
            Cli::Claude | Cli::Amp | Cli::Cursor => claude_like(cli, session, step),
            Cli::Codex => codex(session, step),
            Cli::Gemini => gemini(session, step),
            Cli::Opencode => opencode(session, step),
            Cli::Aider => aider(step),
        })
        .collect()
}

fn out(v: Value) -> Line {
    Line::Out(v.to_string())
}

fn claude_like(cli: Cli, session: &str, step: &Step) -> Vec<Line> {
    let message = |content: Value| {
        out(json!({"type": "assistant", "session_id": session,
                   "message": {"role": "assistant", "content": content}}))
    };
    let result = |is_error: bool, text: &str| {
        let mut v = json!({"type": "result", "subtype": "success", "is_error": is_error,
                           "duration_ms": 10, "num_turns": 1, "result": text,
                           "session_id": session});
        if cli == Cli::Claude {
            v["total_cost_usd"] = json!(if is_error { 0.0 } else { 0.0012 });
            v["usage"] = json!({"input_tokens": 100, "output_tokens": 20,
                                "cache_read_input_tokens": 0});
        }
        out(v)
    };
    match step {
        Step::Init => vec![out(json!({"type": "system", "subtype": "init",
                                       "session_id": session, "model": "fake"}))],
        Step::Say(text) => vec![message(json!([{"type": "text", "text": text}]))],
        Step::Tool(path) if cli == Cli::Cursor => {
            let (key, args) = cursor_tool(path);
            let started = json!({"type": "tool_call", "subtype": "started", "call_id": "fake_1",
                                 "session_id": session, "tool_call": {key: {"args": args}}});
            let completed = json!({"type": "tool_call", "subtype": "completed",
                "call_id": "fake_1", "session_id": session,
                "tool_call": {key: {"args": args, "result": {"success": {"content": "ok"}}}}});
            vec![out(started), out(completed)]
        }
        Step::Tool(path) => {
            let (name, input) = match path {
                Some(p) => ("Write", json!({"file_path": p})),
                None => ("Bash", json!({"command": "git status"})),
            };
            vec![
                message(json!([{"type": "tool_use", "id": "toolu_fake_1", "name": name,
                                 "input": input}])),
                out(json!({"type": "user", "session_id": session, "message": {"role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_fake_1",
                                 "content": "ok", "is_error": false}]}})),
            ]
        }
        Step::Done => vec![result(false, "Done.")],
        Step::Fail(text) => vec![result(true, text)],
    }
}

/// Cursor's tool key and arguments: a write, or a shell command.
fn cursor_tool(path: &Option<String>) -> (&'static str, Value) {
    match path {
        Some(p) => ("writeToolCall", json!({"path": p})),
        None => ("shellToolCall", json!({"command": "git status"})),
    }
}

fn codex(session: &str, step: &Step) -> Vec<Line> {
    match step {
        Step::Init => {
            vec![out(json!({"type": "thread.started", "thread_id": session})), out(json!({"type": "turn.started"}))]
        }
        Step::Say(text) => vec![out(json!({"type": "item.completed",
            "item": {"id": "item_0", "type": "agent_message", "text": text}}))],
        Step::Tool(Some(path)) => vec![out(json!({"type": "item.completed", "item": {
            "id": "item_1", "type": "file_change", "status": "completed",
            "changes": [{"path": path, "kind": "add"}]}}))],
        Step::Tool(None) => {
            let item = json!({"id": "item_1", "type": "command_execution",
                "command": "bash -lc 'git status'", "aggregated_output": "ok\n",
                "exit_code": 0, "status": "completed"});
            vec![
                out(json!({"type": "item.started", "item": item})),
                out(json!({"type": "item.completed", "item": item})),
            ]
        }
        Step::Done => vec![out(json!({"type": "turn.completed", "usage": {
            "input_tokens": 100, "cached_input_tokens": 40, "output_tokens": 20}}))],
        Step::Fail(text) => vec![
            out(json!({"type": "error", "message": text})),
            out(json!({"type": "turn.failed", "error": {"message": text}})),
        ],
    }
}

fn gemini(session: &str, step: &Step) -> Vec<Line> {
    let stats = json!({"total_tokens": 120, "input_tokens": 100, "output_tokens": 20,
                       "cached": 0, "duration_ms": 10, "tool_calls": 1});
    match step {
        Step::Init => vec![out(json!({"type": "init", "session_id": session, "model": "fake"}))],
        Step::Say(text) => vec![out(json!({"type": "message", "role": "assistant",
                                            "content": text, "delta": true}))],
        Step::Tool(path) => {
            let (name, params) = match path {
                Some(p) => ("write_file", json!({"file_path": p})),
                None => ("run_shell_command", json!({"command": "git status"})),
            };
            vec![
                out(json!({"type": "tool_use", "tool_name": name, "tool_id": "fake-1",
                           "parameters": params})),
                out(json!({"type": "tool_result", "tool_id": "fake-1", "status": "success",
                           "output": "ok"})),
            ]
        }
        Step::Done => vec![out(json!({"type": "result", "status": "success", "stats": stats}))],
        Step::Fail(text) => vec![
            out(json!({"type": "error", "severity": "error", "message": text})),
            out(json!({"type": "result", "status": "error",
                       "error": {"type": "FatalError", "message": text}, "stats": stats})),
        ],
    }
}

fn opencode(session: &str, step: &Step) -> Vec<Line> {
    let line = |kind: &str, part: Value| out(json!({"type": kind, "timestamp": 0, "sessionID": session, "part": part}));
    match step {
        Step::Init => vec![line("step_start", json!({"type": "step-start"}))],
        Step::Say(text) => vec![line("text", json!({"type": "text", "text": text}))],
        Step::Tool(path) => {
            let (tool, input) = match path {
                Some(p) => ("write", json!({"filePath": p})),
                None => ("bash", json!({"command": "git status"})),
            };
            vec![line(
                "tool_use",
                json!({"type": "tool", "tool": tool, "callID": "fake_1",
                "state": {"status": "completed", "input": input, "output": "ok"}}),
            )]
        }
        Step::Done => vec![line(
            "step_finish",
            json!({"type": "step-finish", "reason": "stop",
            "cost": 0.0012,
            "tokens": {"input": 100, "output": 20, "reasoning": 0,
                       "cache": {"read": 0, "write": 0}}}),
        )],
        Step::Fail(text) => vec![out(json!({"type": "error", "timestamp": 0,
            "sessionID": session, "error": {"name": "APIError", "data": {"message": text}}}))],
    }
}

fn aider(step: &Step) -> Vec<Line> {
    match step {
        Step::Init => vec![Line::Out("Aider v0.0.0 (colony fake)".into())],
        Step::Say(text) => vec![Line::Out(text.clone())],
        Step::Tool(Some(path)) => vec![Line::Out(format!("Applied edit to {path}"))],
        Step::Tool(None) => vec![Line::Out("No changes made.".into())],
        Step::Done => vec![Line::Out("Tokens: 100 sent, 20 received.".into())],
        Step::Fail(text) if text == RATE_LIMIT => {
            vec![Line::Out(format!("litellm.RateLimitError: {text}"))]
        }
        Step::Fail(text) => vec![Line::Err(format!("Error: {text}"))],
    }
}
