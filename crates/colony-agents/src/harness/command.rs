//! The `command` harness: any program as an agent.
//!
//! The contract (DESIGN.md): the prompt on stdin, then EOF; the task as JSON
//! in `COLONY_TASK_FILE`; `COLONY_TASK_ID`, `COLONY_ATTEMPT`,
//! `COLONY_WORKTREE` and, after a failed round, `COLONY_FEEDBACK_FILE`; the
//! worktree as cwd; exit 0 means done. Its output is kept line by line as
//! [`Entry::Raw`], since colony cannot know its format.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use colony_core::{Millis, TaskSpec};

use super::contract::{AgentRun, AgentVerdict, Entry, ErrorClass, Harness, Invocation};
use crate::AgentError;
use crate::supervise::{Exit, StdinSource, Stream};

/// Lines of stderr quoted in a failure reason.
const TAIL_LINES: usize = 20;
/// Bytes of stderr quoted in a failure reason: one line may be megabytes.
const TAIL_BYTES: usize = 4000;

/// A configured `command` agent (`[agents.NAME] kind = "command"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandHarness {
    program: OsString,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl CommandHarness {
    /// `argv` is the configured `command`, `env` extra variables for it.
    ///
    /// A relative program path with a `/` (`./scripts/agent.sh`) is taken
    /// from `base`, the directory of `colony.toml`, because the child runs
    /// in a worktree and how a relative program resolves against a changed
    /// cwd is platform-specific. A bare name is looked up on `PATH`.
    pub fn new(argv: Vec<String>, env: Vec<(String, String)>, base: &Path) -> Result<Self, AgentError> {
        let mut argv = argv.into_iter();
        let program = argv.next().ok_or(AgentError::EmptyCommand)?;
        let path = Path::new(&program);
        let program =
            if path.is_relative() && program.contains('/') { base.join(path).into_os_string() } else { program.into() };
        Ok(Self { program, args: argv.collect(), env })
    }
}

impl Harness for CommandHarness {
    fn invocation(&self, run: &AgentRun) -> Invocation {
        Invocation {
            program: self.program.clone(),
            args: self.args.iter().map(OsString::from).collect(),
            env: agent_env(&self.env, run).into_iter().chain(talk_env(run)).collect(),
            stdin: StdinSource::Bytes(run.prompt.clone().into_bytes()),
            files: Vec::new(),
        }
    }

    fn parse_line(&self, stream: Stream, line: &str, _at: Millis) -> Vec<Entry> {
        vec![Entry::Raw { stream, text: line.to_owned() }]
    }

    fn verdict(&self, exit: Exit, entries: &[Entry]) -> AgentVerdict {
        if exit.success() {
            return AgentVerdict::Done;
        }
        let tail = stderr_tail(entries);
        let reason = if tail.is_empty() { exit.to_string() } else { format!("{exit}; stderr ends:\n{tail}") };
        AgentVerdict::Failed { reason, class: ErrorClass::Other, reset_at: None }
    }
}

/// The environment of an agent: the configured variables, then colony's
/// `COLONY_*` ones (task id, attempt, worktree, task file and, after a
/// failed round, feedback file). Colony's come last so a configured
/// variable cannot shadow them (later pairs win).
pub fn agent_env(configured: &[(String, String)], run: &AgentRun) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = configured.iter().map(|(k, v)| (k.into(), v.into())).collect();
    env.push(("COLONY_TASK_ID".into(), run.task.id.as_str().into()));
    env.push(("COLONY_ATTEMPT".into(), run.attempt.to_string().into()));
    env.push(("COLONY_WORKTREE".into(), run.worktree.clone().into()));
    env.push(("COLONY_TASK_FILE".into(), run.task_file.clone().into()));
    if let Some(feedback) = &run.feedback_file {
        env.push(("COLONY_FEEDBACK_FILE".into(), feedback.clone().into()));
    }
    env
}

/// What a `command` agent is told of colony's MCP server, when the run
/// gives one: `COLONY_MCP_SERVER`, the command that starts it as a JSON
/// list, and the variables that command reads.
fn talk_env(run: &AgentRun) -> Vec<(OsString, OsString)> {
    let Some(server) = &run.talk else { return Vec::new() };
    let command = serde_json::to_string(&server.argv()).expect("strings always serialize");
    let mut env: Vec<(OsString, OsString)> = server.env.iter().map(|(k, v)| (k.into(), v.into())).collect();
    env.push(("COLONY_MCP_SERVER".into(), command.into()));
    env
}

/// The last lines of stderr among `entries`, at most 20 lines and about
/// 4000 bytes (cut at a character boundary), for a failure reason.
pub fn stderr_tail(entries: &[Entry]) -> String {
    let mut lines: Vec<&str> = entries
        .iter()
        .rev()
        .filter_map(|e| match e {
            Entry::Raw { stream: Stream::Stderr, text } | Entry::StderrError { message: text, .. } => {
                Some(text.as_str())
            }
            _ => None,
        })
        .take(TAIL_LINES)
        .collect();
    lines.reverse();
    let tail = lines.join("\n");
    if tail.len() <= TAIL_BYTES {
        return tail;
    }
    let mut cut = tail.len() - TAIL_BYTES;
    while !tail.is_char_boundary(cut) {
        cut += 1;
    }
    format!("…{}", &tail[cut..])
}

/// Writes `task` as JSON to `path` (the `COLONY_TASK_FILE`), creating its
/// directory. Written beside and renamed into place, so the agent never
/// reads half a file, even one left from an earlier attempt.
pub fn write_task_file(path: &Path, task: &TaskSpec) -> Result<(), AgentError> {
    let fail = |source| AgentError::TaskFile { path: path.to_owned(), source };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(fail)?;
    }
    let json = serde_json::to_vec_pretty(task).expect("a TaskSpec always serializes");
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, json).map_err(fail)?;
    fs::rename(&tmp, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use colony_core::TaskId;

    use super::*;

    fn agent_run(feedback: Option<&str>) -> AgentRun {
        AgentRun {
            task: TaskSpec::new(TaskId::new("db-schema").unwrap(), "Add users", "Create it"),
            attempt: 2,
            worktree: "/repo/.colony/worktrees/db-schema".into(),
            task_file: "/repo/.colony/runs/db-schema/2/task.json".into(),
            feedback_file: feedback.map(PathBuf::from),
            prompt: "Create the users table; $(rm -rf /) stays text".into(),
            session: None,
            output_schema: None,
            talk: None,
        }
    }

    fn harness(argv: &[&str]) -> CommandHarness {
        let argv = argv.iter().map(|s| s.to_string()).collect();
        CommandHarness::new(argv, vec![("COLONY_ATTEMPT".into(), "99".into())], Path::new("/repo")).unwrap()
    }

    fn env_of(inv: &Invocation, key: &str) -> Option<String> {
        inv.env.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.to_string_lossy().into_owned())
    }

    #[test]
    fn the_prompt_goes_on_stdin_and_never_into_argv() {
        let run = agent_run(None);
        let inv = harness(&["python3", "agent.py", "--fast"]).invocation(&run);
        assert_eq!(inv.program, "python3");
        assert_eq!(inv.args, ["agent.py", "--fast"]);
        assert_eq!(inv.stdin, StdinSource::Bytes(run.prompt.clone().into_bytes()));
        assert!(inv.args.iter().all(|a| !a.to_string_lossy().contains("users table")));
    }

    #[test]
    fn the_colony_variables_are_set_and_win_over_configured_ones() {
        let inv = harness(&["agent"]).invocation(&agent_run(Some("/repo/.colony/runs/fb.md")));
        assert_eq!(env_of(&inv, "COLONY_TASK_ID").as_deref(), Some("db-schema"));
        assert_eq!(env_of(&inv, "COLONY_ATTEMPT").as_deref(), Some("2"));
        assert_eq!(env_of(&inv, "COLONY_WORKTREE").as_deref(), Some("/repo/.colony/worktrees/db-schema"));
        assert_eq!(env_of(&inv, "COLONY_TASK_FILE").as_deref(), Some("/repo/.colony/runs/db-schema/2/task.json"));
        assert_eq!(env_of(&inv, "COLONY_FEEDBACK_FILE").as_deref(), Some("/repo/.colony/runs/fb.md"));
    }

    #[test]
    fn a_command_agent_is_told_how_to_start_colonys_mcp_server() {
        assert_eq!(env_of(&harness(&["agent"]).invocation(&agent_run(None)), "COLONY_MCP_SERVER"), None);
        let mut run = agent_run(None);
        run.talk = Some(crate::TalkServer {
            command: "/bin/colony".into(),
            args: vec!["mcp".into(), "attempt".into()],
            env: vec![("COLONY_TALK_KEY".into(), "k".into())],
            dir: "/d".into(),
        });
        let inv = harness(&["agent"]).invocation(&run);
        assert_eq!(env_of(&inv, "COLONY_MCP_SERVER").as_deref(), Some(r#"["/bin/colony","mcp","attempt"]"#));
        assert_eq!(env_of(&inv, "COLONY_TALK_KEY").as_deref(), Some("k"));
        assert_eq!(inv.files, [], "nothing is written for it");
    }

    #[test]
    fn no_feedback_file_means_no_feedback_variable() {
        let inv = harness(&["agent"]).invocation(&agent_run(None));
        assert_eq!(env_of(&inv, "COLONY_FEEDBACK_FILE"), None);
    }

    #[test]
    fn relative_program_paths_are_taken_from_the_config_directory() {
        let inv = harness(&["./scripts/agent.sh"]).invocation(&agent_run(None));
        assert_eq!(PathBuf::from(inv.program), Path::new("/repo/scripts/agent.sh"));
        let inv = harness(&["/usr/bin/env", "agent"]).invocation(&agent_run(None));
        assert_eq!(inv.program, "/usr/bin/env");
    }

    #[test]
    fn an_empty_command_is_refused() {
        assert!(matches!(CommandHarness::new(vec![], vec![], Path::new("/")), Err(AgentError::EmptyCommand)));
    }

    #[test]
    fn every_line_is_kept_raw() {
        let h = harness(&["agent"]);
        assert_eq!(
            h.parse_line(Stream::Stdout, r#"{"type":"result"}"#, 0),
            [Entry::Raw { stream: Stream::Stdout, text: r#"{"type":"result"}"#.into() }]
        );
    }

    #[test]
    fn exit_zero_is_done_anything_else_fails_with_the_stderr_tail() {
        let h = harness(&["agent"]);
        let mut entries: Vec<Entry> =
            (0..30).map(|i| Entry::Raw { stream: Stream::Stderr, text: format!("err {i}") }).collect();
        entries.push(Entry::Raw { stream: Stream::Stdout, text: "not quoted".into() });
        assert_eq!(h.verdict(Exit::Code(0), &entries), AgentVerdict::Done);
        let AgentVerdict::Failed { reason, class, reset_at } = h.verdict(Exit::Code(3), &entries) else {
            panic!("exit 3 must fail");
        };
        assert_eq!((class, reset_at), (ErrorClass::Other, None));
        assert!(reason.starts_with("exit code 3; stderr ends:\nerr 10\n"), "{reason}");
        assert!(reason.ends_with("err 29"), "{reason}");
        assert!(!reason.contains("not quoted"));
        let AgentVerdict::Failed { reason, .. } = h.verdict(Exit::Signal(9), &[]) else {
            panic!("a signal must fail");
        };
        assert_eq!(reason, "killed by signal 9");
    }

    #[test]
    fn a_huge_stderr_line_is_cut_to_its_end_on_a_char_boundary() {
        let text = format!("{}tail", "é".repeat(10_000));
        let tail = stderr_tail(&[Entry::Raw { stream: Stream::Stderr, text }]);
        assert!(tail.len() <= TAIL_BYTES + "…".len() + 1);
        assert!(tail.starts_with('…') && tail.ends_with("tail"));
    }

    #[test]
    fn the_task_file_holds_the_task_as_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs/db-schema/1/task.json");
        let task = agent_run(None).task;
        write_task_file(&path, &task).unwrap();
        write_task_file(&path, &task).unwrap();
        let back: TaskSpec = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(back, task);
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1, "no temporary left");
    }
}
