//! Gemini CLI (targets 0.3x).
//!
//! colony runs `gemini --output-format stream-json --skip-trust
//! --approval-mode yolo [-m M] [--resume ID] [ARGS]` with the prompt on
//! stdin and `GEMINI_CLI_TRUST_WORKSPACE=true`: a fresh worktree is an
//! untrusted folder, which Gemini refuses with exit code 55. With stdin
//! piped Gemini runs headless and takes stdin as the prompt (`-p` would
//! only be appended to it), up to 8 MB.
//!
//! The assistant's words arrive as many `message` events with `delta:
//! true`, pieces of one message: they become [`Entry::TextDelta`]s, which
//! the log joins into one text.
//!
//! API failures (a spent quota, a refused key) are printed on stderr, with
//! exit code 1 and no `result`: the stderr lines that read as such are
//! [`Entry::StderrError`]s, which give the failure its class and reset.
//!
//! The final event is `result`, but a turn limit still ends in a `result`
//! with status success: an `error` event or a non-zero exit code fails the
//! run ([`RULES`]). Tokens come from `result.stats`; Gemini reports no
//! dollars. Warnings (`error` events with severity `warning`) are kept raw
//! and fail nothing.

use std::ffi::OsString;

use colony_core::Millis;
use serde_json::Value;

use super::event::{self, count, kind, summarize, text};
use super::harness::Args;
use super::judge::Rules;
use crate::harness::{Entry, ErrorClass};
use crate::supervise::Stream;

/// Where the CLI writes under the home directory, kept writable by the
/// sandbox: settings, logins and chats in `~/.gemini`.
pub(super) const STATE: &[&str] = &[".gemini"];

/// Errors and exit codes count besides the final event.
pub(super) const RULES: Rules = Rules { final_event: true, errors_fail: true, exit_fails: true, exit_meaning };

/// What Gemini's exit codes mean.
fn exit_meaning(code: i32) -> Option<(ErrorClass, &'static str)> {
    Some(match code {
        41 => (ErrorClass::Auth, "not signed in"),
        42 => (ErrorClass::Other, "bad input"),
        53 => (ErrorClass::Other, "turn limit exceeded"),
        55 => (ErrorClass::Other, "untrusted folder"),
        130 => (ErrorClass::Other, "cancelled"),
        _ => return None,
    })
}

/// The argv after `gemini`.
pub(super) fn argv(a: &Args) -> Vec<OsString> {
    let mut argv: Vec<OsString> = ["--output-format", "stream-json", "--skip-trust"].map(OsString::from).into();
    argv.push("--approval-mode".into());
    argv.push(a.permission.unwrap_or("yolo").into());
    if let Some(model) = a.model {
        argv.extend(["-m".into(), model.into()]);
    }
    if let Some(session) = a.session {
        argv.extend(["--resume".into(), session.into()]);
    }
    argv.extend(a.extra());
    argv
}

/// The entries of one Gemini event.
pub(super) fn parse(v: &Value, line: &str, at: Millis) -> Vec<Entry> {
    let entry = match kind(v) {
        "init" => match text(v, "session_id").or_else(|| text(v, "sessionId")) {
            Some(id) => Entry::Session { id: id.to_owned() },
            None => return vec![],
        },
        "message" => match (text(v, "role"), text(v, "content")) {
            (Some("assistant"), Some(t)) if !t.is_empty() => {
                if v.get("delta").and_then(Value::as_bool) == Some(true) {
                    Entry::TextDelta { text: t.to_owned() }
                } else {
                    Entry::Text { text: t.to_owned() }
                }
            }
            _ => return vec![],
        },
        "tool_use" => Entry::ToolUse {
            name: text(v, "tool_name").unwrap_or("tool").to_owned(),
            input_summary: summarize(v.get("parameters").unwrap_or(&Value::Null)),
        },
        "tool_result" => {
            let ok = text(v, "status") == Some("success");
            let output = text(v, "output")
                .filter(|o| !o.is_empty())
                .or_else(|| v.pointer("/error/message").and_then(Value::as_str))
                .unwrap_or("");
            Entry::ToolResult { output: output.to_owned(), is_error: !ok }
        }
        "error" if text(v, "severity") == Some("warning") => {
            Entry::Raw { stream: Stream::Stdout, text: line.to_owned() }
        }
        "error" => event::error(text(v, "message").unwrap_or("error"), at),
        "result" => return result(v, at),
        other => return event::unknown(other),
    };
    vec![entry]
}

/// The final event: the run's tokens, its error if any, and
/// [`Entry::Finished`].
fn result(v: &Value, at: Millis) -> Vec<Entry> {
    let mut entries = Vec::new();
    if let Some(stats) = v.get("stats").filter(|s| s.is_object()) {
        // `input_tokens` includes the cached ones.
        let cached = count(stats, "cached");
        entries.push(Entry::Usage {
            input: count(stats, "input_tokens").saturating_sub(cached),
            output: count(stats, "output_tokens"),
            cached,
        });
    }
    let is_error = text(v, "status") != Some("success");
    let message = is_error.then(|| v.pointer("/error/message").and_then(Value::as_str).unwrap_or("error").to_owned());
    if let Some(m) = &message {
        entries.push(event::error(m, at));
    }
    entries.push(Entry::Finished { is_error, message });
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &Args) -> Vec<String> {
        argv(a).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn argv_by_default_is_yolo_in_a_trusted_folder() {
        assert_eq!(
            args(&Args::default()),
            ["--output-format", "stream-json", "--skip-trust", "--approval-mode", "yolo"]
        );
    }

    #[test]
    fn argv_with_everything_ignores_the_effort() {
        let extra = ["--sandbox".to_owned()];
        let a = Args {
            model: Some("gemini-2.5-pro"),
            effort: Some("high"),
            permission: Some("auto_edit"),
            extra: &extra,
            session: Some("5d3e-session"),
            schema: None,
            talk: &[],
        };
        assert_eq!(
            args(&a),
            [
                "--output-format",
                "stream-json",
                "--skip-trust",
                "--approval-mode",
                "auto_edit",
                "-m",
                "gemini-2.5-pro",
                "--resume",
                "5d3e-session",
                "--sandbox"
            ]
        );
    }

    #[test]
    fn exit_codes_have_their_meanings() {
        assert_eq!(exit_meaning(41).unwrap().0, ErrorClass::Auth);
        assert_eq!(exit_meaning(55).unwrap().1, "untrusted folder");
        assert_eq!(exit_meaning(1), None);
    }
}
