//! OpenCode (targets 1.x).
//!
//! colony runs `opencode run --format json --auto [-m provider/model]
//! [--variant E] [--session ID] [ARGS]` with the prompt on stdin, which
//! must be closed. Without `--auto` every permission request is rejected.
//!
//! Every line is `{type, timestamp, sessionID, part}`. Each `step_finish`
//! carries its step's tokens and dollars, so they add up over the run. A
//! run is many steps: a step that ends asking for tools (`part.reason`
//! `tool-calls`, or `tool_use`/`tool_calls` as some providers name it) is
//! followed by another. The final event is the `step_finish` whose reason
//! says the model stopped ([`STOP_REASONS`], or no reason) or failed
//! ([`FAILED_REASONS`]), or an `error`; a reason colony does not know ends
//! nothing, since ending early would have the engine stop a working CLI.
//! The session id rides on every line; it is announced once, with the
//! final event.
//!
//! Errors come in two shapes: 1.x's `{name, data: {message, statusCode}}`
//! and 2.x's `{type, message, status}` (`provider.rate-limit`,
//! `provider.quota`). A `provider.quota` error or status 402 is a spend
//! cap ([`ErrorClass::SpendLimit`]).

use std::ffi::OsString;

use colony_core::Millis;
use serde_json::Value;

use super::event::{self, count, kind, summarize, text};
use super::harness::Args;
use crate::harness::{Entry, ErrorClass};

/// Where the CLI writes under the home directory, kept writable by the
/// sandbox: config in `~/.config/opencode`, sessions and logins in `~/.local/share/opencode`.
pub(super) const STATE: &[&str] = &[".config/opencode", ".local/share/opencode"];

/// Finish reasons of a model that is done: the run ends well.
const STOP_REASONS: &[&str] = &["stop", "end_turn", "end-turn", "stop_sequence"];

/// Finish reasons that end a run badly.
const FAILED_REASONS: &[&str] = &["length", "max_tokens", "content-filter", "content_filter", "error"];

/// The argv after `opencode`.
pub(super) fn argv(a: &Args) -> Vec<OsString> {
    let mut argv: Vec<OsString> = ["run", "--format", "json"].map(OsString::from).into();
    if a.permission.is_none() {
        argv.push("--auto".into());
    }
    if let Some(model) = a.model {
        argv.extend(["-m".into(), model.into()]);
    }
    if let Some(effort) = a.effort {
        argv.extend(["--variant".into(), effort.into()]);
    }
    if let Some(session) = a.session {
        argv.extend(["--session".into(), session.into()]);
    }
    argv.extend(a.extra());
    argv
}

/// The entries of one OpenCode event.
pub(super) fn parse(v: &Value, _line: &str, at: Millis) -> Vec<Entry> {
    let part = v.get("part").unwrap_or(&Value::Null);
    match kind(v) {
        "text" => text(part, "text")
            .filter(|t| !t.trim().is_empty())
            .map(|t| Entry::Text { text: t.to_owned() })
            .into_iter()
            .collect(),
        "tool_use" => tool(part),
        "step_finish" => step_finish(v, part),
        "error" => error(v, at),
        // A step begins: nothing to show.
        "step_start" => vec![],
        other => event::unknown(other),
    }
}

/// A tool call, printed once it has run: its input and its result.
fn tool(part: &Value) -> Vec<Entry> {
    let state = part.get("state").unwrap_or(&Value::Null);
    let mut entries = vec![Entry::ToolUse {
        name: text(part, "tool").unwrap_or("tool").to_owned(),
        input_summary: summarize(state.get("input").unwrap_or(&Value::Null)),
    }];
    match text(state, "status") {
        Some("completed") => {
            entries.push(Entry::ToolResult { output: text(state, "output").unwrap_or("").to_owned(), is_error: false })
        }
        Some("error") => {
            entries.push(Entry::ToolResult { output: text(state, "error").unwrap_or("").to_owned(), is_error: true })
        }
        _ => {}
    }
    entries
}

/// One step's tokens and cost; the last step also ends the run.
fn step_finish(v: &Value, part: &Value) -> Vec<Entry> {
    let tokens = part.get("tokens").unwrap_or(&Value::Null);
    let cache = tokens.get("cache").unwrap_or(&Value::Null);
    let mut entries = vec![Entry::Usage {
        input: count(tokens, "input") + count(cache, "write"),
        // Reasoning is billed as output.
        output: count(tokens, "output") + count(tokens, "reasoning"),
        cached: count(cache, "read"),
    }];
    if let Some(usd) = part.get("cost").and_then(Value::as_f64) {
        entries.push(Entry::Cost { usd });
    }
    let reason = text(part, "reason").unwrap_or("stop");
    let is_error = FAILED_REASONS.contains(&reason);
    if is_error || STOP_REASONS.contains(&reason) {
        entries.extend(session(v));
        entries.push(Entry::Finished { is_error, message: is_error.then(|| format!("the model stopped: {reason}")) });
    }
    entries
}

/// A session error, which ends the run.
fn error(v: &Value, at: Millis) -> Vec<Entry> {
    let e = v.get("error").unwrap_or(&Value::Null);
    let message = e
        .pointer("/data/message")
        .and_then(Value::as_str)
        .or_else(|| text(e, "message"))
        .or_else(|| text(e, "name"))
        .or_else(|| text(e, "type"))
        .unwrap_or("error")
        .to_owned();
    let status = e.pointer("/data/statusCode").or_else(|| e.get("status"));
    let mut error = event::error_with_status(&message, status, at);
    if let (Entry::Error { class, reset_at, .. }, Some("provider.quota")) = (&mut error, text(e, "type")) {
        *class = ErrorClass::SpendLimit;
        *reset_at = None;
    }
    let mut entries = vec![error];
    entries.extend(session(v));
    entries.push(Entry::Finished { is_error: true, message: Some(message) });
    entries
}

fn session(v: &Value) -> Option<Entry> {
    text(v, "sessionID").map(|id| Entry::Session { id: id.to_owned() })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn finishes(reason: &str) -> bool {
        let v = json!({"type": "step_finish", "sessionID": "ses_1",
                       "part": {"type": "step-finish", "reason": reason, "tokens": {"input": 1}}});
        parse(&v, "", 0).iter().any(|e| matches!(e, Entry::Finished { .. }))
    }

    #[test]
    fn only_a_stop_or_a_failure_ends_the_run() {
        for reason in ["stop", "end_turn", "length", "error", "content-filter"] {
            assert!(finishes(reason), "{reason}");
        }
        for reason in ["tool-calls", "tool_use", "tool_calls", "unknown", "pause_turn"] {
            assert!(!finishes(reason), "{reason} goes on");
        }
    }

    #[test]
    fn both_error_shapes_read_with_their_status() {
        let old = json!({"type": "error", "sessionID": "ses_1", "error": {"name": "APIError",
                         "data": {"message": "Service Unavailable", "statusCode": 503}}});
        let new = json!({"type": "error", "sessionID": "ses_1", "error": {"type": "provider.overloaded",
                         "message": "upstream said no", "status": 529}});
        let quota = json!({"type": "error", "sessionID": "ses_1", "error": {"type": "provider.quota",
                           "message": "This call needs 9000 tokens of credit; 120 are left.", "status": 400}});
        for (v, class, said) in [
            (old, ErrorClass::Overloaded, "Service Unavailable"),
            (new, ErrorClass::Overloaded, "upstream said no"),
            (quota, ErrorClass::SpendLimit, "This call needs 9000 tokens of credit; 120 are left."),
        ] {
            let entries = parse(&v, "", 0);
            assert_eq!(entries[0], Entry::Error { class, message: said.into(), reset_at: None }, "{v}");
            assert!(matches!(entries.last(), Some(Entry::Finished { is_error: true, .. })));
        }
    }

    fn args(a: &Args) -> Vec<String> {
        argv(a).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn argv_by_default_approves_permissions() {
        assert_eq!(args(&Args::default()), ["run", "--format", "json", "--auto"]);
    }

    #[test]
    fn argv_with_everything_drops_auto_for_a_permission_setting() {
        let extra = ["--agent".to_owned(), "build".to_owned()];
        let a = Args {
            model: Some("anthropic/claude-sonnet-4-5"),
            effort: Some("high"),
            permission: Some("ask"),
            extra: &extra,
            session: Some("ses_7f2a"),
            schema: None,
            talk: &[],
        };
        assert_eq!(
            args(&a),
            [
                "run",
                "--format",
                "json",
                "-m",
                "anthropic/claude-sonnet-4-5",
                "--variant",
                "high",
                "--session",
                "ses_7f2a",
                "--agent",
                "build"
            ]
        );
    }
}
