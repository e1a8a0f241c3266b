//! Cursor's agent CLI, `cursor-agent` (targets the 2026 releases).
//!
//! colony runs `cursor-agent -p --output-format stream-json --trust
//! --force [--model M] [--resume ID] [ARGS]` with the prompt on stdin.
//! `--trust` trusts the worktree, which headless mode would otherwise
//! refuse as a folder never trusted (each worktree is new). Its lines
//! are Claude Code's `system`/`assistant`/`result` events (read by
//! [`claude::parse`]) plus `tool_call` events, which name the tool by a key
//! such as `shellToolCall` or `readToolCall` holding its `args` and, once
//! done, its `result`.
//!
//! The final `result` carries the run's tokens in camelCase (`inputTokens`,
//! `outputTokens`, `cacheReadTokens`, `cacheWriteTokens`), read once there
//! as Claude's are. A refused login is printed on stderr ("Error:
//! Authentication required…", exit code 1, nothing on stdout).
//!
//! Effort is part of Cursor's model names (`gpt-5-high`): `effort` is
//! ignored. Without `--force` commands wait for an approval nobody gives;
//! any `permission` value leaves it out so Cursor's own settings decide.
//! Cursor reports no dollars.

use std::ffi::OsString;

use colony_core::Millis;
use serde_json::{Map, Value};

use super::claude;
use super::event::{content_text, summarize, text};
use super::harness::Args;
use crate::harness::Entry;

/// Where the CLI writes under the home directory, kept writable by the
/// sandbox: cursor-agent's config and chats in `~/.cursor`, its login in `~/.config/cursor`.
pub(super) const STATE: &[&str] = &[".cursor", ".config/cursor"];

/// The argv after `cursor-agent`.
pub(super) fn argv(a: &Args) -> Vec<OsString> {
    let mut argv: Vec<OsString> = ["-p", "--output-format", "stream-json", "--trust"].map(OsString::from).into();
    if a.permission.is_none() {
        argv.push("--force".into());
    }
    if let Some(model) = a.model {
        argv.extend(["--model".into(), model.into()]);
    }
    if let Some(session) = a.session {
        argv.extend(["--resume".into(), session.into()]);
    }
    argv.extend(a.extra());
    argv
}

/// The entries of one Cursor event.
pub(super) fn parse(v: &Value, line: &str, at: Millis) -> Vec<Entry> {
    match text(v, "type") {
        Some("tool_call") => {}
        // Its reasoning, streamed: not shown.
        Some("thinking") => return vec![],
        _ => return claude::parse(v, line, at),
    }
    let Some((name, call)) = v.get("tool_call").and_then(Value::as_object).and_then(|calls| calls.iter().next()) else {
        return vec![];
    };
    match text(v, "subtype") {
        Some("started") => {
            vec![Entry::ToolUse { name: tool_name(name, call), input_summary: summarize(&tool_args(call)) }]
        }
        Some("completed") => call.get("result").and_then(Value::as_object).map(tool_result).into_iter().collect(),
        _ => vec![],
    }
}

/// `shellToolCall` is `shell`; a generic `function` call names itself.
fn tool_name(key: &str, call: &Value) -> String {
    if key == "function" {
        return text(call, "name").unwrap_or("function").to_owned();
    }
    key.strip_suffix("ToolCall").unwrap_or(key).to_owned()
}

/// The call's arguments; a `function` call gives them as a JSON string.
fn tool_args(call: &Value) -> Value {
    match call.get("args") {
        Some(args) => args.clone(),
        None => text(call, "arguments").and_then(|s| serde_json::from_str(s).ok()).unwrap_or(Value::Null),
    }
}

/// A result is `{"success": {...}}` or a failure under another key
/// (`error`, `failure`, `rejected`).
fn tool_result(result: &Map<String, Value>) -> Entry {
    let Some((outcome, body)) = result.iter().next() else {
        return Entry::ToolResult { output: String::new(), is_error: false };
    };
    let output = ["stdout", "content", "message", "error"]
        .iter()
        .find_map(|k| body.get(*k))
        .map(content_text)
        .unwrap_or_else(|| content_text(body));
    Entry::ToolResult { output, is_error: outcome != "success" }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(a: &Args) -> Vec<String> {
        argv(a).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn argv_by_default_forces_commands() {
        assert_eq!(args(&Args::default()), ["-p", "--output-format", "stream-json", "--trust", "--force"]);
    }

    #[test]
    fn argv_with_everything_resumes_and_ignores_the_effort() {
        let extra = ["--browser".to_owned()];
        let a = Args {
            model: Some("gpt-5"),
            effort: Some("high"),
            permission: Some("default"),
            extra: &extra,
            session: Some("c0ffee-chat"),
            schema: None,
            talk: &[],
        };
        assert_eq!(
            args(&a),
            [
                "-p",
                "--output-format",
                "stream-json",
                "--trust",
                "--model",
                "gpt-5",
                "--resume",
                "c0ffee-chat",
                "--browser"
            ]
        );
    }

    #[test]
    fn function_calls_name_themselves_and_parse_their_arguments() {
        let v = json!({"type": "tool_call", "subtype": "started", "tool_call":
            {"function": {"name": "mcp_search", "arguments": "{\"query\":\"users table\"}"}}});
        assert_eq!(
            parse(&v, "", 0),
            [Entry::ToolUse { name: "mcp_search".into(), input_summary: "users table".into() }]
        );
    }
}
