//! The `fake:` block of a task: what the fake agent is to do.
//!
//! The plan accepts any value under `fake`, so this is where the block is
//! judged: unknown fields, wrong types, contradictions and paths that would
//! leave the worktree are all refused before the agent touches anything.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use serde::Deserialize;

/// Files to write or append to: path relative to the worktree, then text.
pub type Files = BTreeMap<String, String>;

/// One task's instructions. Every field is optional; an empty block
/// behaves like no block.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping of fake agent instructions")]
pub struct Script {
    /// Files to write, replacing what is there.
    pub write: Files,
    /// Files to append to, created if missing; after `write`.
    pub append: Files,
    /// Commit the changes with git; by default they are left for colony.
    pub commit: bool,
    /// Pause before finishing.
    pub sleep_ms: u64,
    /// Before changing files, wait until this file exists (an absolute
    /// path): a test lets the agent work when it is ready for it.
    pub wait_for: Option<std::path::PathBuf>,
    /// Lines for stdout.
    pub print: Vec<String>,
    /// Lines for stderr, after `print`.
    pub eprint: Vec<String>,
    /// Then this many numbered lines of 100 bytes on stdout
    /// (`flood line 000000001 xxx…`), to flood the log.
    pub flood_lines: u64,
    /// Then one line of this many bytes (`x`…), written a piece at a time,
    /// its newline last.
    pub flood_line: u64,
    /// After printing, say nothing for this long (to trip a silence timeout).
    pub silent_after_print_ms: u64,
    /// Never finish.
    pub hang: bool,
    /// Abort (SIGABRT) instead of exiting.
    pub crash: bool,
    /// The exit code at the end.
    pub exit: u8,
    /// Attempts up to this number fail at once with exit code 1.
    pub fail_attempts: u32,
    /// Written instead of `write` and `append` when there is feedback.
    pub fix_on_feedback: Option<Files>,
    /// Appends each round's prompt to this file (relative to the
    /// worktree), after the other file work: what the agent was told
    /// becomes part of its work, for a test to read.
    pub prompts_to: Option<String>,
    /// Change no file.
    pub no_changes: bool,
    /// What a fake agent CLI (`colony-fake-cli`) reports; the fake
    /// `command` agent ignores it.
    pub cli: Scenario,
    /// Transcript files (absolute paths) a fake agent CLI plays instead of
    /// `cli`: the n-th call for the task plays the n-th file, the last once
    /// they run out. The file work is done first, whatever they say.
    pub play: Vec<std::path::PathBuf>,
    /// Tools of colony's MCP server a fake agent CLI calls, in order, after
    /// the file work (the fake `command` agent is given no server). Each
    /// answer goes to stderr as `fake CLI: TOOL answered[ with an error]: …`.
    pub mcp: Vec<McpCall>,
    /// Called instead of `mcp` when there is feedback.
    pub mcp_on_feedback: Option<Vec<McpCall>>,
}

/// One call of a tool of colony's MCP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpCall {
    pub tool: String,
    #[serde(default)]
    pub arguments: serde_json::Map<String, serde_json::Value>,
}

/// The story a fake agent CLI tells in its own output format.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Does the file work, with one tool use, and succeeds.
    #[default]
    Success,
    /// Fails with an error in its final event, exit code 1.
    Error,
    /// Is refused by a rate limit that lifts in 5 minutes.
    RateLimit,
    /// Dies (SIGABRT) before its final event.
    Crash,
    /// Reports a failure in its final event but exits 0, as Claude Code
    /// does for an API error.
    IsErrorExit0,
}

impl Script {
    /// The calls of colony's MCP server for this round.
    pub fn calls(&self, feedback: bool) -> &[McpCall] {
        match &self.mcp_on_feedback {
            Some(calls) if feedback => calls,
            _ => &self.mcp,
        }
    }

    /// The script of a task's `fake` value; no value is the default script.
    pub fn new(fake: Option<&serde_json::Value>) -> Result<Script, String> {
        let Some(value) = fake else {
            return Ok(Script::default());
        };
        let script = Script::deserialize(value).map_err(|e| format!("bad `fake` block: {e}"))?;
        if script.no_changes && !(script.write.is_empty() && script.append.is_empty()) {
            return Err("bad `fake` block: `no_changes` contradicts `write` and `append`".into());
        }
        let fixes = script.fix_on_feedback.iter().flat_map(|f| f.keys());
        for path in script.write.keys().chain(script.append.keys()).chain(fixes).chain(&script.prompts_to) {
            check_path(path)?;
        }
        Ok(script)
    }
}

/// A path must stay inside the worktree: relative, with no `..`.
fn check_path(path: &str) -> Result<(), String> {
    let mut names = 0;
    for part in Path::new(path).components() {
        match part {
            Component::Normal(_) => names += 1,
            Component::CurDir => {}
            Component::ParentDir => return Err(format!("bad `fake` path `{path}`: no `..`")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("bad `fake` path `{path}`: must be relative to the worktree"));
            }
        }
    }
    if names == 0 {
        return Err(format!("bad `fake` path `{path}`: names no file"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn no_block_and_an_empty_block_are_the_default() {
        assert!(Script::new(None).unwrap().write.is_empty());
        let empty = Script::new(Some(&json!({}))).unwrap();
        assert_eq!((empty.exit, empty.commit, empty.no_changes), (0, false, false));
    }

    #[test]
    fn every_field_reads() {
        let s = Script::new(Some(&json!({
            "write": {"a": "1"}, "append": {"b": "2"}, "commit": true, "sleep_ms": 5,
            "print": ["x"], "eprint": ["e"], "flood_lines": 3, "flood_line": 4, "silent_after_print_ms": 6, "hang": true, "crash": true,
            "exit": 7, "fail_attempts": 2, "fix_on_feedback": {"./c/d": "3"}, "wait_for": "/tmp/go",
        })))
        .unwrap();
        assert_eq!(s.wait_for.as_deref(), Some(Path::new("/tmp/go")));
        assert_eq!((s.write["a"].as_str(), s.append["b"].as_str()), ("1", "2"));
        assert_eq!((s.commit, s.sleep_ms, s.print.as_slice()), (true, 5, ["x".to_owned()].as_slice()));
        assert_eq!((s.eprint.as_slice(), s.flood_lines, s.flood_line), (["e".to_owned()].as_slice(), 3, 4));
        assert_eq!((s.silent_after_print_ms, s.hang, s.crash), (6, true, true));
        assert_eq!((s.exit, s.fail_attempts), (7, 2));
        assert_eq!(s.fix_on_feedback.unwrap()["./c/d"], "3");
        let cli = Script::new(Some(&json!({"cli": "is_error_exit0"}))).unwrap();
        assert_eq!((cli.cli, s.cli), (Scenario::IsErrorExit0, Scenario::Success));
    }

    #[test]
    fn malformed_blocks_are_refused_with_the_reason() {
        let refused = |v: serde_json::Value| Script::new(Some(&v)).unwrap_err();
        assert!(refused(json!({"wirte": {}})).contains("unknown field `wirte`"));
        assert!(refused(json!({"exit": 300})).contains("300"));
        assert!(refused(json!(true)).contains("expected a mapping of fake agent instructions"));
        assert!(refused(json!({"write": {"/etc/x": ""}})).contains("relative to the worktree"));
        assert!(refused(json!({"append": {"a/../../x": ""}})).contains("no `..`"));
        assert!(refused(json!({"fix_on_feedback": {".": ""}})).contains("names no file"));
        assert!(refused(json!({"write": {"": ""}})).contains("names no file"));
        assert!(refused(json!({"no_changes": true, "write": {"a": ""}})).contains("contradicts"));
    }
}
