//! [`CliHarness`]: one configured agent CLI behind the [`Harness`] trait,
//! dispatching to the module of its [`CliKind`] for the argv, the events
//! and the rules of its verdict.

use std::ffi::OsString;

use colony_core::Millis;
use serde_json::Value;

use super::classify::classify;
use super::judge::{self, Rules};
use super::kind::{CliFacts, CliKind, CliOptions};
use super::{aider, amp, claude, codex, cursor, gemini, opencode, talk};
use crate::harness::{AgentRun, AgentVerdict, Entry, ErrorClass, Harness, Invocation, agent_env};
use crate::supervise::{Exit, StdinSource, Stream};

/// An agent CLI as configured in `[agents.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliHarness {
    kind: CliKind,
    options: CliOptions,
}

/// Turns one JSON event of a CLI (and the line it came on) into entries.
type EventParser = fn(&Value, &str, Millis) -> Vec<Entry>;

/// What an argv builder works from: the options resolved for one run.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Args<'a> {
    /// The task's model, else the configured one.
    pub model: Option<&'a str>,
    pub effort: Option<&'a str>,
    pub permission: Option<&'a str>,
    pub extra: &'a [String],
    /// The session to resume.
    pub session: Option<&'a str>,
    /// The JSON Schema the final answer must follow.
    pub schema: Option<&'a str>,
    /// What gives the CLI colony's MCP server (`talk.rs`), placed where no
    /// positional follows: some of them take a list.
    pub talk: &'a [OsString],
}

impl Args<'_> {
    /// `extra` as arguments, for the end of an argv.
    pub(super) fn extra(&self) -> impl Iterator<Item = OsString> + '_ {
        self.extra.iter().map(OsString::from)
    }
}

impl CliHarness {
    pub fn new(kind: CliKind, options: CliOptions) -> Self {
        Self { kind, options }
    }

    pub fn kind(&self) -> CliKind {
        self.kind
    }

    /// The parser of one JSON event (with its line), for the CLIs that
    /// print JSON lines: all but aider.
    fn event_parser(&self) -> Option<EventParser> {
        Some(match self.kind {
            CliKind::Claude => claude::parse,
            CliKind::Amp => amp::parse,
            CliKind::Cursor => cursor::parse,
            CliKind::Codex => codex::parse,
            CliKind::Gemini => gemini::parse,
            CliKind::Opencode => opencode::parse,
            CliKind::Aider => return None,
        })
    }

    fn rules(&self) -> Rules {
        match self.kind {
            CliKind::Gemini => gemini::RULES,
            CliKind::Aider => aider::RULES,
            _ => Rules::FINAL_EVENT,
        }
    }
}

impl Harness for CliHarness {
    fn invocation(&self, run: &AgentRun) -> Invocation {
        let o = &self.options;
        let given = |key: &str| {
            o.env.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone()).or_else(|| std::env::var(key).ok())
        };
        let read = |path: &std::path::Path| match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        };
        let talking =
            run.talk.as_ref().and_then(|server| talk::talking(self.kind, server, given, read)).unwrap_or_default();
        let args = Args {
            model: run.task.model.as_deref().or(o.model.as_deref()),
            effort: o.effort.as_deref(),
            permission: o.permission.as_deref(),
            extra: &o.extra_args,
            session: run.session.as_deref().filter(|_| self.kind.resumes()),
            schema: run.output_schema.as_deref(),
            talk: &talking.args,
        };
        let program = match &o.binary {
            Some(path) => path.clone().into_os_string(),
            None => self.kind.binary().into(),
        };
        let mut env = o.env.clone();
        if self.kind == CliKind::Gemini {
            // Besides `--skip-trust`: older releases know only the variable.
            env.insert(0, ("GEMINI_CLI_TRUST_WORKSPACE".into(), "true".into()));
        }
        env.extend(talking.env.iter().cloned());
        let env = agent_env(&env, run);
        let prompt = run.prompt.clone().into_bytes();
        let (args, stdin, files) = match self.kind {
            CliKind::Claude => (claude::argv(&args), StdinSource::Bytes(prompt), vec![]),
            CliKind::Codex => {
                // Codex reads a schema from a file only.
                let schema = run.output_schema.as_ref().map(|s| (run.task_file.with_extension("schema.json"), s));
                let argv = codex::argv(&args, schema.as_ref().map(|(path, _)| path.as_path()));
                let files = schema.map(|(path, s)| (path, s.clone().into_bytes())).into_iter().collect();
                (argv, StdinSource::Bytes(prompt), files)
            }
            CliKind::Gemini => (gemini::argv(&args), StdinSource::Bytes(prompt), vec![]),
            CliKind::Opencode => (opencode::argv(&args), StdinSource::Bytes(prompt), vec![]),
            CliKind::Cursor => (cursor::argv(&args), StdinSource::Bytes(prompt), vec![]),
            CliKind::Amp => (amp::argv(&args), StdinSource::Bytes(prompt), vec![]),
            CliKind::Aider => {
                let files = aider::Files::beside(&run.task_file);
                let argv = aider::argv(&args, &files);
                (argv, StdinSource::Null, vec![(files.message, prompt)])
            }
        };
        let files = files.into_iter().chain(talking.files).collect();
        Invocation { program, args, env, stdin, files }
    }

    /// A stderr line is kept raw, or as an [`Entry::StderrError`] when it
    /// reads as a failure of a known class; on stdout, a line that is not
    /// a JSON object (a banner) stands for nothing, except for aider, which
    /// prints prose.
    fn parse_line(&self, stream: Stream, line: &str, at: Millis) -> Vec<Entry> {
        let Some(parse) = self.event_parser() else {
            return aider::parse(stream, line, at);
        };
        if stream == Stream::Stderr {
            return vec![match classify(line, at) {
                (ErrorClass::Other, _) => Entry::Raw { stream, text: line.to_owned() },
                (class, reset_at) => Entry::StderrError { class, message: line.to_owned(), reset_at },
            }];
        }
        match serde_json::from_str::<Value>(line) {
            Ok(event) if event.is_object() => parse(&event, line, at),
            _ => vec![],
        }
    }

    fn verdict(&self, exit: Exit, entries: &[Entry]) -> AgentVerdict {
        judge::verdict(self.rules(), exit, entries)
    }

    fn resumes(&self) -> bool {
        self.kind.resumes()
    }

    fn state(&self) -> &'static [&'static str] {
        self.kind.state()
    }

    fn needs_network(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use colony_core::{TaskId, TaskSpec};

    use super::*;

    const PROMPT: &str = "Create the users table; $(rm -rf /) stays text";

    fn agent_run(session: Option<&str>, task_model: Option<&str>) -> AgentRun {
        let mut task = TaskSpec::new(TaskId::new("db-schema").unwrap(), "Add users", PROMPT);
        task.model = task_model.map(str::to_owned);
        AgentRun {
            task,
            attempt: 2,
            worktree: "/repo/.colony/worktrees/db-schema".into(),
            task_file: "/repo/.colony/runs/db-schema/2/task.json".into(),
            feedback_file: Some("/repo/.colony/runs/db-schema/2/feedback.md".into()),
            prompt: PROMPT.into(),
            session: session.map(str::to_owned),
            output_schema: None,
            talk: None,
        }
    }

    fn options() -> CliOptions {
        CliOptions {
            model: Some("configured-model".into()),
            env: vec![("COLONY_ATTEMPT".into(), "99".into()), ("A".into(), "1".into())],
            ..CliOptions::default()
        }
    }

    fn env_of(inv: &Invocation, key: &str) -> Option<String> {
        inv.env.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.to_string_lossy().into_owned())
    }

    fn has(inv: &Invocation, arg: &str) -> bool {
        inv.args.iter().any(|a| a == arg)
    }

    #[test]
    fn the_prompt_is_never_in_argv_and_goes_on_stdin_or_into_a_file() {
        for kind in CliKind::ALL {
            let inv = CliHarness::new(kind, options()).invocation(&agent_run(None, None));
            assert!(inv.args.iter().all(|a| !a.to_string_lossy().contains("users table")), "{kind:?}");
            let prompt = PROMPT.as_bytes().to_vec();
            if kind == CliKind::Aider {
                assert_eq!(inv.stdin, StdinSource::Null);
                let file = PathBuf::from("/repo/.colony/runs/db-schema/2/task.prompt.md");
                assert_eq!(inv.files, [(file, prompt)]);
            } else {
                assert_eq!(inv.stdin, StdinSource::Bytes(prompt), "{kind:?}");
                assert_eq!(inv.files, [], "{kind:?}");
            }
        }
    }

    #[test]
    fn every_cli_gets_the_colony_variables_which_win() {
        for kind in CliKind::ALL {
            let inv = CliHarness::new(kind, options()).invocation(&agent_run(None, None));
            assert_eq!(env_of(&inv, "COLONY_TASK_ID").as_deref(), Some("db-schema"));
            assert_eq!(env_of(&inv, "COLONY_ATTEMPT").as_deref(), Some("2"));
            assert_eq!(env_of(&inv, "A").as_deref(), Some("1"));
            assert_eq!(
                env_of(&inv, "COLONY_FEEDBACK_FILE").as_deref(),
                Some("/repo/.colony/runs/db-schema/2/feedback.md")
            );
        }
        let gemini = CliHarness::new(CliKind::Gemini, options());
        let inv = gemini.invocation(&agent_run(None, None));
        assert_eq!(env_of(&inv, "GEMINI_CLI_TRUST_WORKSPACE").as_deref(), Some("true"));
    }

    #[test]
    fn a_cli_that_takes_mcp_servers_headless_is_given_colonys() {
        let mut run = agent_run(None, None);
        run.talk = Some(crate::TalkServer {
            command: "/bin/colony".into(),
            args: vec!["mcp".into(), "attempt".into()],
            env: vec![("COLONY_TALK_KEY".into(), "k".into())],
            dir: "/repo/.colony/runs/db-schema/2/talk".into(),
        });
        let given = |kind| CliHarness::new(kind, options()).invocation(&run);
        let claude = given(CliKind::Claude);
        let at = claude.args.iter().position(|a| a == "--mcp-config").expect("--mcp-config");
        assert_eq!(claude.args[at + 1], "/repo/.colony/runs/db-schema/2/talk/claude-mcp.json");
        assert_eq!(claude.args[at + 3], "mcp__colony");
        assert!(claude.args[at + 4].to_string_lossy().starts_with("--"), "a flag ends the list: {:?}", claude.args);
        assert_eq!(claude.files.len(), 1);
        assert!(has(&given(CliKind::Codex), "mcp_servers.colony.command=\"/bin/colony\""));
        assert!(has(&given(CliKind::Amp), "--mcp-config"));
        let opencode = env_of(&given(CliKind::Opencode), "OPENCODE_CONFIG_CONTENT").expect("opencode's config");
        assert!(opencode.contains("\"COLONY_TALK_KEY\":\"k\""), "{opencode}");
        for kind in [CliKind::Cursor, CliKind::Aider] {
            let inv = given(kind);
            assert_eq!(inv, CliHarness::new(kind, options()).invocation(&agent_run(None, None)), "{kind:?}");
        }
    }

    #[test]
    fn the_program_is_the_cli_on_path_unless_configured() {
        let inv = CliHarness::new(CliKind::Cursor, options()).invocation(&agent_run(None, None));
        assert_eq!(inv.program, "cursor-agent");
        let custom = CliOptions { binary: Some("/opt/claude/bin/claude".into()), ..options() };
        let inv = CliHarness::new(CliKind::Claude, custom).invocation(&agent_run(None, None));
        assert_eq!(inv.program, "/opt/claude/bin/claude");
    }

    #[test]
    fn the_task_model_wins_over_the_configured_one() {
        let claude = CliHarness::new(CliKind::Claude, options());
        assert!(has(&claude.invocation(&agent_run(None, None)), "configured-model"));
        let inv = claude.invocation(&agent_run(None, Some("opus")));
        assert!(has(&inv, "opus") && !has(&inv, "configured-model"));
    }

    #[test]
    fn an_answer_schema_goes_inline_to_claude_and_in_a_file_to_codex() {
        let schema = r#"{"type":"object"}"#;
        let mut run = agent_run(None, None);
        run.output_schema = Some(schema.into());
        let claude = CliHarness::new(CliKind::Claude, options()).invocation(&run);
        let at = claude.args.iter().position(|a| a == "--json-schema").expect("claude gets --json-schema");
        assert_eq!(claude.args[at + 1], schema);
        let codex = CliHarness::new(CliKind::Codex, options()).invocation(&run);
        let at = codex.args.iter().position(|a| a == "--output-schema").expect("codex gets --output-schema");
        let file = PathBuf::from(&codex.args[at + 1]);
        assert_eq!(file, PathBuf::from("/repo/.colony/runs/db-schema/2/task.schema.json"));
        assert_eq!(codex.files, [(file, schema.as_bytes().to_vec())]);
        assert_eq!(codex.args.last().unwrap(), "-", "the prompt still comes on stdin");
        let gemini = CliHarness::new(CliKind::Gemini, options()).invocation(&run);
        assert!(!has(&gemini, "--json-schema") && !has(&gemini, "--output-schema"), "others rely on the prompt");
        let plain = CliHarness::new(CliKind::Claude, options()).invocation(&agent_run(None, None));
        assert!(!has(&plain, "--json-schema"));
    }

    #[test]
    fn claudes_structured_output_is_the_final_answer() {
        let h = CliHarness::new(CliKind::Claude, options());
        let line = r#"{"type":"result","subtype":"success","is_error":false,"result":"","structured_output":{"verdict":"approved"},"session_id":"s"}"#;
        let entries = h.parse_line(Stream::Stdout, line, 0);
        assert!(
            entries.contains(&Entry::Finished { is_error: false, message: Some(r#"{"verdict":"approved"}"#.into()) }),
            "{entries:?}"
        );
    }

    #[test]
    fn a_session_is_resumed_by_all_but_aider() {
        for kind in CliKind::ALL {
            let h = CliHarness::new(kind, options());
            let inv = h.invocation(&agent_run(Some("sess-1"), None));
            assert_eq!(has(&inv, "sess-1"), kind.resumes(), "{kind:?}");
            assert_eq!(h.resumes(), kind.resumes());
            assert!(!has(&h.invocation(&agent_run(None, None)), "sess-1"));
        }
    }

    #[test]
    fn stderr_is_kept_raw_and_stdout_banners_are_skipped() {
        let h = CliHarness::new(CliKind::Codex, options());
        assert_eq!(
            h.parse_line(Stream::Stderr, "warning: {\"x\":1}", 0),
            [Entry::Raw { stream: Stream::Stderr, text: "warning: {\"x\":1}".into() }]
        );
        assert_eq!(h.parse_line(Stream::Stdout, "Codex v0.147 starting", 0), []);
        assert_eq!(h.parse_line(Stream::Stdout, "[1,2]", 0), []);
        assert_eq!(
            h.parse_line(Stream::Stdout, r#"{"type":"mystery"}"#, 0),
            [Entry::Unknown { event: "mystery".into() }]
        );
    }

    #[test]
    fn stderr_that_reads_as_a_known_failure_is_classified_for_every_cli() {
        let login = "Error: Authentication required. Please run 'agent login' first.";
        for kind in CliKind::ALL.into_iter().filter(|k| *k != CliKind::Aider) {
            let h = CliHarness::new(kind, options());
            assert_eq!(
                h.parse_line(Stream::Stderr, login, 0),
                [Entry::StderrError { class: ErrorClass::Auth, message: login.into(), reset_at: None }],
                "{kind:?}"
            );
            let quota = "TerminalQuotaError: capacity spent. Your quota will reset after 2m5s.";
            assert_eq!(
                h.parse_line(Stream::Stderr, quota, 1_000),
                [Entry::StderrError { class: ErrorClass::RateLimit, message: quota.into(), reset_at: Some(126_000) }],
                "{kind:?}"
            );
        }
    }
}
