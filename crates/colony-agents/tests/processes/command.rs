//! The `command` harness end to end, as the engine will drive it: task file,
//! invocation, supervised run, parsing, the per-attempt log, the verdict.

use std::path::{Path, PathBuf};

use colony_agents::{
    AgentRun, AgentVerdict, CommandHarness, Entry, Harness, LogReader, LogWriter, OutputLine, Pgid, RunObserver,
    Stream, millis, run, write_task_file,
};
use colony_core::{TaskId, TaskSpec};
use tokio_util::sync::CancellationToken;

/// The script a user would point `command` at: it reports what it was given.
const AGENT: &str = r#"cat > "$COLONY_WORKTREE/prompt.txt"
echo "id=$COLONY_TASK_ID attempt=$COLONY_ATTEMPT"
echo "cwd=$(pwd -P)"
echo "feedback=${COLONY_FEEDBACK_FILE-none}"
grep -q '"id": "login-api"' "$COLONY_TASK_FILE" && echo "task file ok"
echo "complaint" >&2
exit "${EXIT_WITH:-0}"
"#;

/// What the engine does with a harness's output: log it and keep it.
struct Engine<'a> {
    // As the engine holds it: any harness, behind the trait.
    harness: &'a dyn Harness,
    log: LogWriter,
    entries: Vec<Entry>,
}

impl RunObserver for Engine<'_> {
    fn started(&mut self, _pgid: Pgid) {}

    fn line(&mut self, line: OutputLine) {
        for entry in self.harness.parse_line(line.stream, &line.text, millis(line.at)) {
            self.log.append(millis(line.at), &entry).unwrap();
            self.entries.push(entry);
        }
    }
}

struct Attempt {
    verdict: AgentVerdict,
    entries: Vec<Entry>,
    log: PathBuf,
}

async fn attempt(root: &Path, exit_with: &str, feedback: Option<PathBuf>) -> Attempt {
    let script = root.join("agent.sh");
    std::fs::write(&script, AGENT).unwrap();
    let worktree = root.join("worktree");
    std::fs::create_dir_all(&worktree).unwrap();
    let runs = root.join("runs/login-api/1");
    let harness = CommandHarness::new(
        vec!["/bin/sh".into(), script.to_str().unwrap().into()],
        vec![("EXIT_WITH".into(), exit_with.into())],
        root,
    )
    .unwrap();
    let agent_run = AgentRun {
        task: TaskSpec::new(TaskId::new("login-api").unwrap(), "Login", "Add a login endpoint"),
        attempt: 1,
        worktree: worktree.clone(),
        task_file: runs.join("task.json"),
        feedback_file: feedback,
        prompt: "Add a login endpoint.\n$(touch pwned) `touch pwned` stay text.".into(),
        session: None,
        output_schema: None,
        talk: None,
    };
    write_task_file(&agent_run.task_file, &agent_run.task).unwrap();
    let spec = harness.invocation(&agent_run).into_child(&worktree);
    let log = runs.join("log.jsonl");
    let mut engine = Engine { harness: &harness, log: LogWriter::open(&log).unwrap(), entries: Vec::new() };
    let out = run(spec, &CancellationToken::new(), &mut engine).await.unwrap();
    let prompt = std::fs::read_to_string(worktree.join("prompt.txt")).unwrap();
    assert_eq!(prompt, agent_run.prompt, "the prompt arrived whole on stdin");
    assert!(!worktree.join("pwned").exists() && !root.join("pwned").exists(), "no shell read the prompt");
    Attempt { verdict: harness.verdict(out.exit, &engine.entries), entries: engine.entries, log }
}

fn stdout_of(entries: &[Entry]) -> Vec<&str> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Raw { stream: Stream::Stdout, text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_command_agent_gets_its_inputs_and_exit_zero_is_done() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let done = attempt(&root, "0", None).await;
    assert_eq!(done.verdict, AgentVerdict::Done);
    let cwd = format!("cwd={}", root.join("worktree").display());
    assert_eq!(stdout_of(&done.entries), ["id=login-api attempt=1", cwd.as_str(), "feedback=none", "task file ok"]);
    let mut reader = LogReader::open(&done.log).unwrap();
    let logged: Vec<Entry> = std::iter::from_fn(|| reader.next_now()).map(|r| r.unwrap().entry).collect();
    assert_eq!(logged, done.entries, "the log holds every entry in order");
}

#[tokio::test]
async fn a_failing_command_agent_fails_with_its_stderr() {
    let root = tempfile::tempdir().unwrap();
    let feedback = root.path().join("feedback.md");
    let failed = attempt(root.path(), "7", Some(feedback.clone())).await;
    assert!(stdout_of(&failed.entries).contains(&format!("feedback={}", feedback.display()).as_str()));
    let AgentVerdict::Failed { reason, .. } = failed.verdict else { panic!("exit 7 must fail") };
    assert_eq!(reason, "exit code 7; stderr ends:\ncomplaint");
}
