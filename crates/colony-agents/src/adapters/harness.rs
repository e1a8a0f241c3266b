//! [`CliHarness`]: one configured agent CLI behind the [`Harness`] trait,
//! dispatching to the module of its [`CliKind`] for the argv, the events
//! and the rules of its verdict.

use std::ffi::OsString;

use colony_core::Millis;
use serde_json::Value;

use super::judge::{self, Rules};
use super::kind::{CliKind, CliOptions};
use super::{aider, amp, claude, codex, cursor, gemini, opencode};
use crate::harness::{AgentRun, AgentVerdict, Entry, Harness, Invocation, agent_env};
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
            CliKind::Claude | CliKind::Amp => claude::parse,
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
        let args = Args {
            model: run.task.model.as_deref().or(o.model.as_deref()),
            effort: o.effort.as_deref(),
            permission: o.permission.as_deref(),
            extra: &o.extra_args,
            session: run.session.as_deref().filter(|_| self.kind.resumes()),
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
        let env = agent_env(&env, run);
        let prompt = run.prompt.clone().into_bytes();
        let (args, stdin, files) = match self.kind {
            CliKind::Claude => (claude::argv(&args), StdinSource::Bytes(prompt), vec![]),
            CliKind::Codex => (codex::argv(&args), StdinSource::Bytes(prompt), vec![]),
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
        Invocation {
            program,
            args,
            env,
            stdin,
            files,
        }
    }

    /// Stderr is kept raw; on stdout, a line that is not a JSON object (a
    /// banner) stands for nothing, except for aider, which prints prose.
    fn parse_line(&self, stream: Stream, line: &str, at: Millis) -> Vec<Entry> {
        let Some(parse) = self.event_parser() else {
            return aider::parse(stream, line, at);
        };
        if stream == Stream::Stderr {
            return vec![Entry::Raw {
                stream,
                text: line.to_owned(),
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
}
