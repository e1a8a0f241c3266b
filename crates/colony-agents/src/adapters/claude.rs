//! Claude Code (targets 2.1.x), and the parser of its `stream-json` lines,
//! which Amp and Cursor print too.
//!
//! colony runs `claude -p --output-format stream-json --verbose
//! --permission-mode bypassPermissions [--model M] [--resume ID] [ARGS]`
//! with the prompt on stdin. `stream-json` without `--verbose` is refused.
//!
//! Tested against 2.1.59 (a whole `stream-json` run) and 2.1.284 (a
//! `result` refusing for a monthly spend limit).
//!
//! Tokens and dollars come from the `result` event only: every streamed
//! `assistant` line (one per content block, `stop_reason` still null)
//! repeats the usage of its message so far, so adding those up would count
//! tokens several times. An API failure can arrive as a `result` with
//! `is_error: true` and exit code 0, so `is_error` decides. A failed
//! `result` of subtype `error_during_execution` or `error_max_turns` gives
//! its cause in `errors`, an array of strings, which the failure keeps.
//! The `init` event names the CLI's version (`claude_code_version`).

use std::ffi::OsString;

use colony_core::Millis;
use serde_json::Value;

use super::event::{self, content_text, kind, summarize, text};
use super::harness::Args;
use crate::harness::{Entry, ErrorClass};
use crate::supervise::Stream;

/// Where the CLI writes under the home directory, kept writable by the
/// sandbox: the session transcripts and settings in `~/.claude`, the config in `~/.claude.json` (written in place when its atomic rename beside it is refused), and the native install with its updates in `~/.local/share/claude`.
pub(super) const STATE: &[&str] = &[".claude", ".claude.json", ".local/share/claude"];

/// The argv after `claude`.
pub(super) fn argv(a: &Args) -> Vec<OsString> {
    let mut argv: Vec<OsString> = ["-p", "--output-format", "stream-json", "--verbose"].map(OsString::from).into();
    // `--mcp-config` and `--allowedTools` take lists: a flag must follow.
    argv.extend(a.talk.iter().cloned());
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
        // Pieces of messages, with `--include-partial-messages` only; the
        // whole messages follow.
        "stream_event" => vec![],
        other => event::unknown(other),
    }
}

fn system(v: &Value, line: &str) -> Vec<Entry> {
    match text(v, "subtype") {
        Some("init") => {
            let session = text(v, "session_id").map(|id| Entry::Session { id: id.to_owned() });
            let version = text(v, "claude_code_version").map(|version| Entry::Version { version: version.to_owned() });
            session.into_iter().chain(version).collect()
        }
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
    let mut entries: Vec<Entry> = v.get("usage").and_then(event::usage).into_iter().collect();
    if let Some(usd) = v.get("total_cost_usd").and_then(Value::as_f64) {
        entries.push(Entry::Cost { usd });
    }
    let is_error = v.get("is_error").and_then(Value::as_bool).unwrap_or(false);
    // With `--json-schema` the answer comes as `structured_output`.
    let structured = v.get("structured_output").filter(|s| s.is_object()).map(Value::to_string);
    // Amp puts a failure's words in `error`; Claude's error subtypes give
    // their causes in `errors`, named after the subtype.
    let causes: Vec<&str> =
        v.get("errors").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let said = text(v, "result").or_else(|| text(v, "error")).filter(|r| !r.trim().is_empty());
    let said = match (said, causes.is_empty()) {
        (said, true) => said.map(str::to_owned),
        (None, false) => Some(causes.join("; ")),
        (Some(said), false) => Some(format!("{said}; {}", causes.join("; "))),
    };
    let subtype = text(v, "subtype").unwrap_or("error");
    let message = match (structured, said.as_deref(), is_error) {
        (Some(answer), _, false) => Some(answer),
        (_, Some(said), true) if !causes.is_empty() => Some(format!("{subtype}: {said}")),
        (_, Some(said), _) => Some(said.to_owned()),
        (_, None, true) => Some(subtype.to_owned()),
        (_, None, false) => None,
    };
    if is_error {
        let described = said.as_deref().unwrap_or(subtype);
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
            talk: &[],
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
    fn an_error_result_keeps_its_causes() {
        let v = json!({"type": "result", "subtype": "error_max_turns", "is_error": true,
                       "errors": ["Stopped after 12 turns, the limit set"], "session_id": "s"});
        let entries = parse(&v, "", 0);
        assert_eq!(
            entries.last(),
            Some(&Entry::Finished {
                is_error: true,
                message: Some("error_max_turns: Stopped after 12 turns, the limit set".into())
            })
        );
        assert!(
            matches!(&entries[entries.len() - 2], Entry::Error { message, .. } if message == "Stopped after 12 turns, the limit set")
        );
    }

    #[test]
    fn init_names_the_session_and_the_version() {
        let v = json!({"type": "system", "subtype": "init", "session_id": "s-1", "claude_code_version": "2.1.90"});
        assert_eq!(
            parse(&v, "", 0),
            [Entry::Session { id: "s-1".into() }, Entry::Version { version: "2.1.90".into() }]
        );
    }

    #[test]
    fn an_allowed_rate_limit_event_is_nothing() {
        let v = json!({"type": "rate_limit_event", "rate_limit_info": {"status": "allowed"}});
        assert_eq!(parse(&v, "", 0), []);
    }
}
