//! Aider (targets 0.8x).
//!
//! Aider prints prose, not events, so the exit code decides ([`RULES`]).
//! colony writes the prompt to a file beside the task file and runs
//! `aider --message-file F --yes-always --no-stream --no-pretty
//! --no-auto-commits --no-check-update --no-gitignore --chat-history-file H
//! --input-history-file I [--model M] [--reasoning-effort E] [ARGS]` with
//! stdin null: colony commits, as with every agent; aider would otherwise
//! add `.aider*` to `.gitignore` and keep its histories in the worktree,
//! where they would be committed.
//!
//! Output lines are kept raw; a line that reads as a rate limit, an
//! overload or a refused key also becomes an [`Entry::Error`], which gives
//! a failure its class. Aider has no session to resume.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use colony_core::Millis;

use super::classify::classify;
use super::harness::Args;
use super::judge::Rules;
use crate::harness::{Entry, ErrorClass};
use crate::supervise::Stream;

/// Where the CLI writes under the home directory, kept writable by the
/// sandbox: its caches and analytics in `~/.aider` (its chat history goes in the repository: the worktree).
pub(super) const STATE: &[&str] = &[".aider"];

/// No final event: the exit code decides.
pub(super) const RULES: Rules = Rules { final_event: false, ..Rules::FINAL_EVENT };

/// The files of one aider run, beside the task file so that they stay out
/// of the worktree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Files {
    /// The prompt, written by the engine before spawning.
    pub message: PathBuf,
    pub chat_history: PathBuf,
    pub input_history: PathBuf,
}

impl Files {
    /// `task.json` → `task.prompt.md`, `task.aider-chat.md`,
    /// `task.aider-input`.
    pub(super) fn beside(task_file: &Path) -> Files {
        Files {
            message: task_file.with_extension("prompt.md"),
            chat_history: task_file.with_extension("aider-chat.md"),
            input_history: task_file.with_extension("aider-input"),
        }
    }
}

/// The argv after `aider`.
pub(super) fn argv(a: &Args, files: &Files) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec!["--message-file".into(), files.message.clone().into()];
    if a.permission.is_none() {
        argv.push("--yes-always".into());
    }
    argv.extend(
        ["--no-stream", "--no-pretty", "--no-auto-commits", "--no-check-update", "--no-gitignore"].map(OsString::from),
    );
    argv.extend([
        "--chat-history-file".into(),
        files.chat_history.clone().into(),
        "--input-history-file".into(),
        files.input_history.clone().into(),
    ]);
    if let Some(model) = a.model {
        argv.extend(["--model".into(), model.into()]);
    }
    if let Some(effort) = a.effort {
        argv.extend(["--reasoning-effort".into(), effort.into()]);
    }
    argv.extend(a.extra());
    argv
}

/// A line of aider's output, kept raw; an error line worth a class is also
/// an [`Entry::Error`].
pub(super) fn parse(stream: Stream, line: &str, at: Millis) -> Vec<Entry> {
    let mut entries = vec![Entry::Raw { stream, text: line.to_owned() }];
    let lower = line.to_lowercase();
    if lower.contains("error") || lower.contains("exception") {
        let (class, reset_at) = classify(line, at);
        if class != ErrorClass::Other {
            entries.push(Entry::Error { class, message: line.to_owned(), reset_at });
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &Args) -> Vec<String> {
        let files = Files::beside(Path::new("/runs/t1/1/task.json"));
        argv(a, &files).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn argv_by_default_says_yes_and_keeps_files_out_of_the_worktree() {
        assert_eq!(
            args(&Args::default()),
            [
                "--message-file",
                "/runs/t1/1/task.prompt.md",
                "--yes-always",
                "--no-stream",
                "--no-pretty",
                "--no-auto-commits",
                "--no-check-update",
                "--no-gitignore",
                "--chat-history-file",
                "/runs/t1/1/task.aider-chat.md",
                "--input-history-file",
                "/runs/t1/1/task.aider-input"
            ]
        );
    }

    #[test]
    fn argv_with_everything_never_resumes() {
        let extra = ["--edit-format".to_owned(), "diff".to_owned()];
        let a = Args {
            model: Some("sonnet"),
            effort: Some("high"),
            permission: Some("ask"),
            extra: &extra,
            session: Some("ignored"),
            schema: None,
            talk: &[],
        };
        let argv = args(&a);
        assert!(!argv.contains(&"--yes-always".to_owned()));
        assert!(!argv.iter().any(|a| a == "ignored"));
        assert_eq!(
            argv[argv.len() - 6..],
            ["--model", "sonnet", "--reasoning-effort", "high", "--edit-format", "diff"]
        );
    }

    #[test]
    fn error_lines_with_a_class_become_errors_too() {
        let line = "litellm.RateLimitError: AnthropicException - rate_limit_error";
        let entries = parse(Stream::Stdout, line, 0);
        assert!(matches!(entries[1], Entry::Error { class: ErrorClass::RateLimit, .. }));
        assert_eq!(parse(Stream::Stdout, "Applied edit to src/lib.rs", 0).len(), 1);
        assert_eq!(parse(Stream::Stderr, "SyntaxError in file", 0).len(), 1);
    }
}
