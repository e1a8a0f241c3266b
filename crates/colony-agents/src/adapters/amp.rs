//! Amp (targets the 2025–2026 `amp` CLI).
//!
//! colony runs `amp -x --stream-json --dangerously-allow-all [ARGS]`, or
//! to resume `amp threads continue ID -x --stream-json …`, with the prompt
//! on stdin. Its lines are Claude Code's `stream-json` (the thread id is
//! the `session_id`), read by [`claude::parse`](super::claude::parse).
//!
//! Amp chooses its own model: `model` and `effort` are ignored. Without
//! `--dangerously-allow-all` it asks before commands that nobody can
//! approve headless; any `permission` value leaves the flag out so that
//! Amp's own settings decide.

use std::ffi::OsString;

use super::harness::Args;

/// The argv after `amp`.
pub(super) fn argv(a: &Args) -> Vec<OsString> {
    let mut argv: Vec<OsString> = Vec::new();
    if let Some(thread) = a.session {
        argv.extend(["threads".into(), "continue".into(), thread.into()]);
    }
    argv.extend(["-x".into(), "--stream-json".into()]);
    if a.permission.is_none() {
        argv.push("--dangerously-allow-all".into());
    }
    argv.extend(a.extra());
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

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
        };
        assert_eq!(args(&a), ["threads", "continue", "T-9a1b", "-x", "--stream-json", "--no-notifications"]);
    }
}
