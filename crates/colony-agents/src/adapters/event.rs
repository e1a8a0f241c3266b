//! Small readers shared by the adapters' parsers: fields of a JSON event,
//! a one-line summary of a tool's input, an error entry from a message.

use colony_core::Millis;
use serde_json::Value;

use jiff::tz::TimeZone;

use super::classify::classify_with_status;
use crate::harness::Entry;

/// Characters of a tool input summary: enough to recognise a path or a
/// command on one line of `colony logs`.
const SUMMARY_CHARS: usize = 120;

/// Keys whose value best names what a tool works on, best first.
const SUMMARY_KEYS: &[&str] = &[
    "file_path",
    "filePath",
    "absolute_path",
    "notebook_path",
    "command",
    "cmd",
    "pattern",
    "path",
    "query",
    "url",
    "description",
    "prompt",
];

/// An event of a type the adapter does not read: noted, skipped.
pub(super) fn unknown(event: &str) -> Vec<Entry> {
    let event = if event.is_empty() { "(no type)" } else { event };
    vec![Entry::Unknown { event: event.to_owned() }]
}

/// The tokens of a `usage` object, in Claude's and Amp's snake_case
/// (`input_tokens`, `cache_read_input_tokens`, …) or cursor-agent's
/// camelCase (`inputTokens`, `cacheReadTokens`, …). Cache writes count as
/// input.
pub(super) fn usage(usage: &Value) -> Option<Entry> {
    if !usage.is_object() {
        return None;
    }
    let sum = |keys: &[&str]| keys.iter().map(|k| count(usage, k)).sum::<u64>();
    Some(Entry::Usage {
        input: sum(&["input_tokens", "cache_creation_input_tokens", "inputTokens", "cacheWriteTokens"]),
        output: sum(&["output_tokens", "outputTokens"]),
        cached: sum(&["cache_read_input_tokens", "cacheReadTokens"]),
    })
}

/// `v[key]` as a string, if it is one.
pub(super) fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// `v[key]` as a count; absent or not a count is 0, which adds nothing.
pub(super) fn count(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// The event's `type`, or "" when it has none.
pub(super) fn kind(v: &Value) -> &str {
    text(v, "type").unwrap_or("")
}

/// One short line standing for a tool's input: its file path, command,
/// pattern or query when it has one, else the input as compact JSON.
pub(super) fn summarize(input: &Value) -> String {
    let named = SUMMARY_KEYS.iter().find_map(|k| match input.get(*k)? {
        Value::String(s) => Some(s.clone()),
        // Codex gives commands as argv arrays.
        Value::Array(items) => Some(
            items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)).collect::<Vec<_>>().join(" "),
        ),
        _ => None,
    });
    let text = match named {
        Some(text) => text,
        None if input.is_null() => String::new(),
        None => input.to_string(),
    };
    shorten(&text)
}

/// `text` on one line (whitespace runs become one space) and at most
/// [`SUMMARY_CHARS`] characters, ending in `…` when cut.
pub(super) fn shorten(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= SUMMARY_CHARS {
        return line;
    }
    let mut cut: String = line.chars().take(SUMMARY_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// An [`Entry::Error`] for `message`, classified, said at `at`.
pub(super) fn error(message: &str, at: Millis) -> Entry {
    error_with_status(message, None, at)
}

/// An [`Entry::Error`] for `message` and the HTTP status a CLI gave with
/// it: the status decides when it says more than the words ("API Error:
/// request failed" with status 529 is an overload).
pub(super) fn error_with_status(message: &str, status: Option<&Value>, at: Millis) -> Entry {
    let status = status.and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok());
    let (class, reset_at) = classify_with_status(message, status, at, &TimeZone::system());
    Entry::Error { class, message: message.to_owned(), reset_at }
}

/// A tool result's text: a string, or the text blocks of a content array
/// joined by newlines (other blocks, such as images, as `[type]`).
pub(super) fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| match text(b, "text") {
                Some(t) => t.to_owned(),
                None => format!("[{}]", kind(b)),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn summaries_name_the_path_or_command() {
        assert_eq!(summarize(&json!({"file_path": "src/lib.rs", "limit": 10})), "src/lib.rs");
        assert_eq!(summarize(&json!({"command": "cargo test\n  --quiet"})), "cargo test --quiet");
        assert_eq!(summarize(&json!({"command": ["bash", "-lc", "ls"]})), "bash -lc ls");
        assert_eq!(summarize(&json!({"todos": [1]})), r#"{"todos":[1]}"#);
        assert_eq!(summarize(&Value::Null), "");
    }

    #[test]
    fn long_summaries_are_cut_on_a_char_boundary() {
        let long = summarize(&json!({"command": "é".repeat(500)}));
        assert_eq!(long.chars().count(), SUMMARY_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn content_is_text_or_text_blocks() {
        assert_eq!(content_text(&json!("ok")), "ok");
        assert_eq!(content_text(&json!([{"type": "text", "text": "a"}, {"type": "image"}])), "a\n[image]");
        assert_eq!(content_text(&Value::Null), "");
    }
}
