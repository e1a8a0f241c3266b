//! Codex CLI (targets 0.14x).
//!
//! colony runs `codex exec --json --skip-git-repo-check
//! --dangerously-bypass-approvals-and-sandbox [-m M]
//! [-c model_reasoning_effort="E"] [ARGS] [resume ID] -`: `-` reads the
//! prompt from stdin. `--full-auto` is gone (~0.147) and must not be
//! passed. A resumed `exec` inherits no flags, so they are all given again.
//!
//! One `exec` is one turn: `turn.completed` (with that turn's tokens) or
//! `turn.failed` is the final event. Codex reports no dollars.

use std::ffi::OsString;

use colony_core::Millis;
use serde_json::Value;

use super::event::{self, content_text, count, kind, summarize, text};
use super::harness::Args;
use crate::harness::Entry;

/// Where the CLI writes under the home directory, kept writable by the
/// sandbox: sessions, logins and config in `~/.codex` (its `CODEX_HOME`).
pub(super) const STATE: &[&str] = &[".codex"];

/// The argv after `codex`.
pub(super) fn argv(a: &Args, schema_file: Option<&std::path::Path>) -> Vec<OsString> {
    let mut argv: Vec<OsString> = ["exec", "--json", "--skip-git-repo-check"].map(OsString::from).into();
    argv.extend(a.talk.iter().cloned());
    match a.permission {
        None => argv.push("--dangerously-bypass-approvals-and-sandbox".into()),
        Some(sandbox) => argv.extend(["--sandbox".into(), sandbox.into()]),
    }
    if let Some(model) = a.model {
        argv.extend(["-m".into(), model.into()]);
    }
    if let Some(effort) = a.effort {
        argv.extend(["-c".into(), format!("model_reasoning_effort=\"{effort}\"").into()]);
    }
    if let Some(file) = schema_file {
        argv.extend(["--output-schema".into(), file.into()]);
    }
    argv.extend(a.extra());
    if let Some(session) = a.session {
        argv.extend(["resume".into(), session.into()]);
    }
    argv.push("-".into());
    argv
}

/// The entries of one Codex event.
pub(super) fn parse(v: &Value, _line: &str, at: Millis) -> Vec<Entry> {
    let item = v.get("item").unwrap_or(&Value::Null);
    match kind(v) {
        "thread.started" => text(v, "thread_id").map(|id| Entry::Session { id: id.to_owned() }).into_iter().collect(),
        "item.started" => started(item),
        "item.completed" => completed(item, at),
        "turn.completed" => {
            let usage = v.get("usage").unwrap_or(&Value::Null);
            let cached = count(usage, "cached_input_tokens");
            vec![
                Entry::Usage {
                    input: count(usage, "input_tokens").saturating_sub(cached),
                    output: count(usage, "output_tokens"),
                    cached,
                },
                Entry::Finished { is_error: false, message: None },
            ]
        }
        "turn.failed" => {
            let message = v.pointer("/error/message").and_then(Value::as_str).unwrap_or("the turn failed");
            vec![event::error(message, at), Entry::Finished { is_error: true, message: Some(message.to_owned()) }]
        }
        "error" => text(v, "message").map(|m| event::error(m, at)).into_iter().collect(),
        // Nothing colony reads: a turn begins, an item's progress.
        "turn.started" | "item.updated" => vec![],
        other => event::unknown(other),
    }
}

/// A tool starts: a shell command or an MCP tool call.
fn started(item: &Value) -> Vec<Entry> {
    let tool = match kind(item) {
        "command_execution" => Entry::ToolUse { name: "shell".into(), input_summary: summarize(item) },
        "mcp_tool_call" => Entry::ToolUse {
            name: mcp_name(item),
            input_summary: summarize(item.get("arguments").unwrap_or(&Value::Null)),
        },
        _ => return vec![],
    };
    vec![tool]
}

/// An item is done: the agent's words, a tool's result, a file edit.
fn completed(item: &Value, at: Millis) -> Vec<Entry> {
    let failed = text(item, "status") == Some("failed");
    let entry = match kind(item) {
        "agent_message" => match text(item, "text") {
            Some(t) => Entry::Text { text: t.to_owned() },
            None => return vec![],
        },
        "command_execution" => Entry::ToolResult {
            output: text(item, "aggregated_output").unwrap_or("").to_owned(),
            is_error: failed || item.get("exit_code").and_then(Value::as_i64).unwrap_or(0) != 0,
        },
        "mcp_tool_call" => Entry::ToolResult {
            output: match item.pointer("/error/message").and_then(Value::as_str) {
                Some(message) => message.to_owned(),
                None => content_text(item.pointer("/result/content").unwrap_or(&Value::Null)),
            },
            is_error: failed,
        },
        "file_change" => {
            let paths: Vec<&str> = item
                .get("changes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| text(c, "path"))
                .collect();
            Entry::ToolUse { name: "edit".into(), input_summary: event::shorten(&paths.join(", ")) }
        }
        "web_search" => Entry::ToolUse { name: "web_search".into(), input_summary: summarize(item) },
        // A warning the run goes on after, such as a model fallback.
        "error" => match text(item, "message") {
            Some(m) => event::error(m, at),
            None => return vec![],
        },
        _ => return vec![],
    };
    vec![entry]
}

fn mcp_name(item: &Value) -> String {
    match (text(item, "server"), text(item, "tool")) {
        (Some(server), Some(tool)) => format!("{server}.{tool}"),
        (None, Some(tool)) => tool.to_owned(),
        _ => "mcp".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &Args) -> Vec<String> {
        argv(a, None).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn argv_by_default_bypasses_approvals_and_reads_stdin() {
        assert_eq!(
            args(&Args::default()),
            ["exec", "--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", "-"]
        );
    }

    #[test]
    fn argv_with_everything_repeats_the_flags_before_resume() {
        let extra = ["--output-schema".to_owned(), "/tmp/s.json".to_owned()];
        let a = Args {
            model: Some("gpt-5-codex"),
            effort: Some("high"),
            permission: Some("workspace-write"),
            extra: &extra,
            session: Some("0199a213-81c0"),
            schema: None,
            talk: &[],
        };
        assert_eq!(
            args(&a),
            [
                "exec",
                "--json",
                "--skip-git-repo-check",
                "--sandbox",
                "workspace-write",
                "-m",
                "gpt-5-codex",
                "-c",
                "model_reasoning_effort=\"high\"",
                "--output-schema",
                "/tmp/s.json",
                "resume",
                "0199a213-81c0",
                "-"
            ]
        );
    }
}
