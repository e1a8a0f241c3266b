//! Claude Code (targets 2.1.x), and the parser of its `stream-json` lines,
//! which Amp and Cursor print too.
//!
//! colony runs `claude -p --output-format stream-json --verbose
//! --permission-mode bypassPermissions [--model M] [--resume ID] [ARGS]`
//! with the prompt on stdin. `stream-json` without `--verbose` is refused.
//!
//! Tokens and dollars come from the `result` event only: every streamed
//! `assistant` line repeats the usage of its message so far, so adding
//! those up would count tokens several times. An API failure can arrive as
//! a `result` with `is_error: true` and exit code 0, so `is_error` decides.

use std::ffi::OsString;

use colony_core::Millis;
use serde_json::Value;

use super::event::{self, content_text, count, kind, summarize, text};
use super::harness::Args;
use crate::harness::{Entry, ErrorClass};
use crate::supervise::Stream;

/// The argv after `claude`.
pub(super) fn argv(a: &Args) -> Vec<OsString> {
    let mut argv: Vec<OsString> = ["-p", "--output-format", "stream-json", "--verbose"].map(OsString::from).into();
    argv.push("--permission-mode".into());
    argv.push(a.permission.unwrap_or("bypassPermissions").into());
    if let Some(model) = a.model {
        argv.extend(["--model".into(), model.into()]);
    }
    if let Some(session) = a.session {
        argv.extend(["--resume".into(), session.into()]);
    }
    if let Some(schema) = a.schema {
        argv.extend(["--json-schema".into(), schema.into()]);
    }
    argv.extend(a.extra());
    argv
}

/// The entries of one Claude-style event.
pub(super) fn parse(v: &Value, line: &str, at: Millis) -> Vec<Entry> {
    match kind(v) {
        "system" => system(v, line),
        "assistant" => assistant(v),
        "user" => tool_results(v),
        "result" => result(v, at),
        "rate_limit_event" => rate_limit(v),
        _ => vec![],
    }
}

fn system(v: &Value, line: &str) -> Vec<Entry> {
    match text(v, "subtype") {
        Some("init") => text(v, "session_id").map(|id| Entry::Session { id: id.to_owned() }).into_iter().collect(),
        // Kept as it is so that a log shows why nothing else happens while
        // Claude waits between retries.
        Some("api_retry") => vec![Entry::Raw { stream: Stream::Stdout, text: line.to_owned() }],
        _ => vec![],
    }
}

/// Text and tool calls of an assistant message (its usage is ignored: see
/// the module doc).
fn assistant(v: &Value) -> Vec<Entry> {
    blocks(v)
        .filter_map(|b| match kind(b) {
            "text" => text(b, "text").filter(|t| !t.trim().is_empty()).map(|t| Entry::Text { text: t.to_owned() }),
            "tool_use" => Some(Entry::ToolUse {
                name: text(b, "name").unwrap_or("tool").to_owned(),
                input_summary: summarize(b.get("input").unwrap_or(&Value::Null)),
            }),
            _ => None,
        })
        .collect()
}

/// Tool results, which come back in a `user` message.
fn tool_results(v: &Value) -> Vec<Entry> {
    blocks(v)
        .filter(|b| kind(b) == "tool_result")
        .map(|b| Entry::ToolResult {
            output: content_text(b.get("content").unwrap_or(&Value::Null)),
            is_error: b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
        })
        .collect()
}

/// The content blocks of `message`; none when the content is a plain
/// string (the prompt, echoed).
fn blocks(v: &Value) -> impl Iterator<Item = &Value> {
    v.pointer("/message/content").and_then(Value::as_array).into_iter().flatten()
}

/// The final event: the run's tokens and cost, its error if any, and
/// [`Entry::Finished`].
fn result(v: &Value, at: Millis) -> Vec<Entry> {
    let mut entries = Vec::new();
    if let Some(usage) = v.get("usage").filter(|u| u.is_object()) {
        entries.push(Entry::Usage {
            input: count(usage, "input_tokens") + count(usage, "cache_creation_input_tokens"),
            output: count(usage, "output_tokens"),
            cached: count(usage, "cache_read_input_tokens"),
        });
    }
    if let Some(usd) = v.get("total_cost_usd").and_then(Value::as_f64) {
        entries.push(Entry::Cost { usd });
    }
    let is_error = v.get("is_error").and_then(Value::as_bool).unwrap_or(false);
    // With `--json-schema` the answer comes as `structured_output`.
    let structured = v.get("structured_output").filter(|s| s.is_object()).map(Value::to_string);
    // Amp puts a failure's words in `error`.
    let said = text(v, "result").or_else(|| text(v, "error")).filter(|r| !r.trim().is_empty());
    let message = match (structured, said, is_error) {
        (Some(answer), _, false) => Some(answer),
        (_, Some(said), _) => Some(said.to_owned()),
        (_, None, true) => Some(text(v, "subtype").unwrap_or("error").to_owned()),
        (_, None, false) => None,
    };
    if is_error {
        let described = message.as_deref().unwrap_or("error");
        entries.push(event::error_with_status(described, v.get("api_error_status"), at));
    }
    entries.push(Entry::Finished { is_error, message });
    entries
}

/// A `rate_limit_event`: only a rejection is an error; "allowed" and
/// warnings say nothing colony acts on.
fn rate_limit(v: &Value) -> Vec<Entry> {
    let Some(info) = v.get("rate_limit_info") else {
        return vec![];
    };
    if text(info, "status") != Some("rejected") {
        return vec![];
    }
    let which = text(info, "rateLimitType").unwrap_or("usage");
    // Unix seconds.
    let reset_at = info.get("resetsAt").and_then(Value::as_i64).map(|s| s * 1000);
    vec![Entry::Error { class: ErrorClass::RateLimit, message: format!("rate limit reached ({which})"), reset_at }]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(argv: Vec<OsString>) -> Vec<String> {
        argv.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn argv_by_default_bypasses_permissions_and_adds_nothing_else() {
        assert_eq!(
            args(argv(&Args::default())),
            ["-p", "--output-format", "stream-json", "--verbose", "--permission-mode", "bypassPermissions"]
        );
    }

    #[test]
    fn argv_with_everything_resumes_and_appends_extra_args_last() {
        let extra = ["--max-turns".to_owned(), "30".to_owned()];
        let a = Args {
            model: Some("sonnet"),
            effort: Some("high"),
            permission: Some("acceptEdits"),
            extra: &extra,
            session: Some("4f1c-session"),
            schema: None,
        };
        assert_eq!(
            args(argv(&a)),
            [
                "-p",
                "--output-format",
                "stream-json",
                "--verbose",
                "--permission-mode",
                "acceptEdits",
                "--model",
                "sonnet",
                "--resume",
                "4f1c-session",
                "--max-turns",
                "30"
            ]
        );
    }

    #[test]
    fn an_api_error_status_raises_the_class_of_a_vague_message() {
        let v = json!({"type": "result", "subtype": "success", "is_error": true,
                       "result": "API Error: request failed", "api_error_status": 529});
        let entries = parse(&v, "", 0);
        assert!(matches!(entries[0], Entry::Error { class: ErrorClass::Overloaded, .. }));
    }

    #[test]
    fn an_allowed_rate_limit_event_is_nothing() {
        let v = json!({"type": "rate_limit_event", "rate_limit_info": {"status": "allowed"}});
        assert_eq!(parse(&v, "", 0), []);
    }
}
