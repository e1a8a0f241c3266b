//! Amp (targets the 2025–2026 `amp` CLI).
//!
//! colony runs `amp -x --stream-json --dangerously-allow-all [ARGS]`, or
//! to resume `amp threads continue ID -x --stream-json …`, with the prompt
//! on stdin. Its lines are Claude Code's `stream-json` (the thread id is
//! the `session_id`), read by [`claude::parse`](super::claude::parse).
//!
//! Tokens come from the `assistant` lines, added up: Amp prints each
//! message once, whole (its `stop_reason` set, its own `usage` in Claude's
//! snake_case), where Claude streams a message as several lines repeating
//! its usage so far; and Amp's `result` carries no usage (tested against
//! 0.0.1775837683-g6ddb8e). A `usage` on a `result` would count those
//! tokens twice, so it is left out. Amp reports no dollars.
//!
//! Amp chooses its own model: `model` and `effort` are ignored. Without
//! `--dangerously-allow-all` it asks before commands that nobody can
//! approve headless; any `permission` value leaves the flag out so that
//! Amp's own settings decide.

use std::ffi::OsString;

use colony_core::Millis;
use serde_json::Value;

use super::claude;
use super::event::{self, kind};
use super::harness::Args;
use crate::harness::Entry;

/// Where the CLI writes under the home directory, kept writable by the
/// sandbox: settings in `~/.config/amp`, threads and secrets in `~/.local/share/amp`.
pub(super) const STATE: &[&str] = &[".config/amp", ".local/share/amp"];

/// The argv after `amp`.
pub(super) fn argv(a: &Args) -> Vec<OsString> {
    let mut argv: Vec<OsString> = Vec::new();
    if let Some(thread) = a.session {
        argv.extend(["threads".into(), "continue".into(), thread.into()]);
    }
    argv.extend(["-x".into(), "--stream-json".into()]);
    argv.extend(a.talk.iter().cloned());
    if a.permission.is_none() {
        argv.push("--dangerously-allow-all".into());
    }
    argv.extend(a.extra());
    argv
}

/// The entries of one Amp event: Claude's, with the tokens of each
/// assistant message and none of the result's.
pub(super) fn parse(v: &Value, line: &str, at: Millis) -> Vec<Entry> {
    let mut entries = claude::parse(v, line, at);
    match kind(v) {
        "assistant" => entries.extend(v.pointer("/message/usage").and_then(event::usage)),
        "result" => entries.retain(|e| !matches!(e, Entry::Usage { .. })),
        _ => {}
    }
    entries
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_message_counts_its_own_tokens_and_the_result_none() {
        let message = |n: u64| {
            json!({"type": "assistant", "session_id": "T-1", "message": {"role": "assistant",
                "content": [{"type": "text", "text": "step"}], "stop_reason": "end_turn",
                "usage": {"input_tokens": n, "cache_creation_input_tokens": 2, "cache_read_input_tokens": 900,
                          "output_tokens": 30}}})
        };
        let result = json!({"type": "result", "subtype": "success", "is_error": false, "result": "ok",
                            "usage": {"input_tokens": 99, "output_tokens": 99}, "session_id": "T-1"});
        let usage: Vec<Entry> = [message(5), message(7), result]
            .iter()
            .flat_map(|v| parse(v, "", 0))
            .filter(|e| matches!(e, Entry::Usage { .. }))
            .collect();
        assert_eq!(
            usage,
            [Entry::Usage { input: 7, output: 30, cached: 900 }, Entry::Usage { input: 9, output: 30, cached: 900 }]
        );
    }

    fn args(a: &Args) -> Vec<String> {
        argv(a).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn argv_by_default_allows_all() {
        assert_eq!(args(&Args::default()), ["-x", "--stream-json", "--dangerously-allow-all"]);
    }

    #[test]
    fn argv_with_everything_continues_the_thread_and_ignores_the_model() {
        let extra = ["--no-notifications".to_owned()];
        let a = Args {
            model: Some("claude-sonnet-4-5"),
            effort: Some("high"),
            permission: Some("ask"),
            extra: &extra,
            session: Some("T-9a1b"),
            schema: None,
            talk: &[],
        };
        assert_eq!(args(&a), ["threads", "continue", "T-9a1b", "-x", "--stream-json", "--no-notifications"]);
    }
}
