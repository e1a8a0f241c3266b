//! What the engine tests share: a repository with a plan in a real SQLite
//! store, and a harness over a shell script (test scaffolding) speaking a
//! tiny line protocol, so the engine's reactions to what adapters report
//! run without any agent CLI.

// Each test binary uses its own part of what is here.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use colony_agents::Shutdown;
use colony_agents::{AgentRun, AgentVerdict, Entry, ErrorClass, Exit, Harness, Invocation, StdinSource, Stream};
use colony_core::config::{AgentConfig, AgentKind, CliAgent, Config};
use colony_core::kind::CliKind;
use colony_core::{Millis, Plan, PlanName, TaskId, TaskSpec};
use colony_engine::{AgentSetup, Engine, RunReport, Settings};
use colony_git::Repo;
use colony_store::{AddOptions, SqlStore, Store, SystemClock};

/// A harness over a script whose lines say what an adapter would report:
/// `ERROR <class> [reset in ms, maybe past]`, `VERSION <v>`, `USAGE <in> <out> <cached>`, `COST <usd>`,
/// `SESSION <id>`, `FINAL`; any other line is the agent's text. The
/// session to resume reaches the script as `RESUME`.
pub struct Scripted {
    pub script: PathBuf,
    pub resumes: bool,
}

impl Harness for Scripted {
    fn invocation(&self, run: &AgentRun) -> Invocation {
        let mut env: Vec<(OsString, OsString)> = vec![
            ("COLONY_TASK_ID".into(), run.task.id.as_str().into()),
            ("RESUME".into(), run.session.clone().unwrap_or_default().into()),
        ];
        if let Some(f) = &run.feedback_file {
            env.push(("COLONY_FEEDBACK_FILE".into(), f.clone().into()));
        }
        Invocation {
            program: "/bin/sh".into(),
            args: vec![self.script.clone().into()],
            env,
            stdin: StdinSource::Bytes(run.prompt.clone().into_bytes()),
            files: Vec::new(),
        }
    }

    fn parse_line(&self, _stream: Stream, line: &str, at: Millis) -> Vec<Entry> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok()).unwrap_or(0);
        match words.as_slice() {
            ["ERROR", class, ..] => vec![Entry::Error {
                class: match *class {
                    "rate_limit" => ErrorClass::RateLimit,
                    "auth" => ErrorClass::Auth,
                    "spend_limit" => ErrorClass::SpendLimit,
                    _ => ErrorClass::Other,
                },
                message: line.to_owned(),
                reset_at: words.get(2).and_then(|w| w.parse::<Millis>().ok()).map(|ms| at + ms),
            }],
            ["USAGE", ..] => vec![Entry::Usage { input: num(1), output: num(2), cached: num(3) }],
            ["COST", usd] => vec![Entry::Cost { usd: usd.parse().unwrap() }],
            ["SESSION", id] => vec![Entry::Session { id: (*id).to_owned() }],
            ["VERSION", version] => vec![Entry::Version { version: (*version).to_owned() }],
            ["FINAL"] => vec![Entry::Finished { is_error: false, message: None }],
            _ => vec![Entry::Text { text: line.to_owned() }],
        }
    }

    fn verdict(&self, exit: Exit, entries: &[Entry]) -> AgentVerdict {
        let error = entries.iter().find_map(|e| match e {
            Entry::Error { class, message, reset_at } => Some((*class, message.clone(), *reset_at)),
            _ => None,
        });
        match (error, exit.success()) {
            (Some((class, reason, reset_at)), _) => AgentVerdict::Failed { reason, class, reset_at },
            (None, true) => AgentVerdict::Done,
            (None, false) => {
                AgentVerdict::Failed { reason: exit.to_string(), class: ErrorClass::Other, reset_at: None }
            }
        }
    }

    fn resumes(&self) -> bool {
        self.resumes
    }
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(args).env("GIT_CONFIG_NOSYSTEM", "1").output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Arc<SqlStore>,
}

impl Fixture {
    /// A repository with plan `p` of independent `tasks`.
    pub async fn new(tasks: &[&str]) -> Fixture {
        let fixture = Fixture::empty().await;
        fixture.add(&tasks.iter().map(|t| (*t, &[][..])).collect::<Vec<_>>(), |_| {}).await;
        fixture
    }

    /// A repository and its store, with no plan yet.
    pub async fn empty() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        git(repo, &["init", "-q", "-b", "main"]);
        git(repo, &["config", "user.name", "Test"]);
        git(repo, &["config", "user.email", "test@example.com"]);
        std::fs::write(repo.join("README.md"), "hello\n").unwrap();
        git(repo, &["add", "."]);
        git(repo, &["commit", "-qm", "start"]);
        std::fs::create_dir_all(repo.join(".colony/state")).unwrap();
        std::fs::write(repo.join(".git/info/exclude"), "/.colony/\n").unwrap();
        let store = SqlStore::open_sqlite(&repo.join(".colony/colony.db"), Arc::new(SystemClock)).await.unwrap();
        Fixture { dir, store: Arc::new(store) }
    }

    /// Adds plan `p` with `(id, deps)` tasks, each changed by `edit` first.
    pub async fn add(&self, tasks: &[(&str, &[&str])], edit: impl Fn(&mut TaskSpec)) {
        let plan = Plan {
            name: PlanName::new("p").unwrap(),
            base: None,
            defaults: Default::default(),
            tasks: tasks
                .iter()
                .map(|(t, deps)| {
                    let mut spec = TaskSpec::new(TaskId::new(*t).unwrap(), format!("Task {t}"), format!("Do {t}."));
                    spec.deps = deps.iter().map(|d| TaskId::new(*d).unwrap()).collect();
                    edit(&mut spec);
                    spec
                })
                .collect(),
        };
        self.store.add_plan(&plan, "p.yaml", AddOptions { force: true }).await.unwrap();
    }

    pub fn repo(&self) -> &Path {
        self.dir.path()
    }

    /// Where scripts keep what they need across rounds, outside any worktree.
    pub fn state(&self) -> PathBuf {
        self.repo().join(".colony/state")
    }

    /// Settings running `script` (with `$STATE` set to [`Fixture::state`])
    /// through the [`Scripted`] harness, as agent `bot` of model `m`.
    pub fn settings(&self, script: &str, resumes: bool) -> Settings {
        let path = self.script("agent", script);
        let mut s = self.settings_with("bot", AgentSetup::new(Scripted { script: path, resumes }));
        with_model(&mut s, "bot", "m");
        s
    }

    /// Settings with `agent` as the one agent, named `name`: one worker,
    /// and timings short enough for tests.
    pub fn settings_with(&self, name: &str, agent: AgentSetup) -> Settings {
        let mut config = Config::default();
        config.run.agent = Some(name.into());
        config.run.lease = Duration::from_secs(5);
        config.run.backoff_base = Duration::from_millis(10);
        config.run.backoff_cap = Duration::from_millis(50);
        config.run.grace = Duration::from_millis(500);
        let mut s = Settings::new(config, BTreeMap::from([(name.to_owned(), agent)]));
        s.workers = 1;
        s.idle_poll = Duration::from_millis(20);
        s.rate_limit_base = Duration::from_millis(50);
        s
    }

    pub async fn run(&self, settings: Settings) -> RunReport {
        let repo = Repo::open(self.repo()).unwrap();
        Engine::new(self.store.clone(), repo, settings).run(Shutdown::new()).await.unwrap()
    }

    pub fn log(&self, task: &str, attempt: u32) -> String {
        std::fs::read_to_string(self.repo().join(format!(".colony/runs/{task}/a{attempt}/log.jsonl"))).unwrap()
    }

    /// colony's own records in an attempt's log.
    pub fn records(&self, task: &str, attempt: u32) -> Vec<colony_core::record::Record> {
        let path = self.repo().join(format!(".colony/runs/{task}/a{attempt}/log.jsonl"));
        let mut reader = colony_agents::LogReader::open(path).unwrap();
        std::iter::from_fn(|| reader.next_now())
            .filter_map(|r| match r.unwrap().entry {
                colony_agents::Entry::Colony(record) => Some(record),
                _ => None,
            })
            .collect()
    }

    pub fn read_state(&self, name: &str) -> String {
        std::fs::read_to_string(self.state().join(name)).unwrap_or_default()
    }

    /// Writes `.colony/<name>.sh`: `script` with `$STATE` set.
    pub fn script(&self, name: &str, script: &str) -> PathBuf {
        let path = self.repo().join(format!(".colony/{name}.sh"));
        std::fs::write(&path, format!("STATE='{}'\n{script}", self.state().display())).unwrap();
        path
    }

    /// A `command` agent running `script` (with `$STATE` set).
    pub fn command_agent(&self, name: &str, script: &str) -> AgentSetup {
        let path = self.script(name, script);
        AgentSetup::command(vec!["/bin/sh".into(), path.display().to_string()], vec![], self.repo()).unwrap()
    }

    pub fn files_on(&self, branch: &str) -> Vec<String> {
        git(self.repo(), &["ls-tree", "-r", "--name-only", branch]).lines().map(str::to_owned).collect()
    }

    /// How many worktrees git lists, the main tree included.
    pub fn worktrees(&self) -> usize {
        git(self.repo(), &["worktree", "list", "--porcelain"]).lines().filter(|l| l.starts_with("worktree ")).count()
    }

    /// Takes the store's merge lock, as another process merging would.
    pub async fn hold_merge_lock(&self) {
        assert!(self.store.try_lock("merge", "test", Duration::from_secs(600)).await.unwrap());
    }

    /// Once `merging` tasks wait to merge (behind [`Fixture::hold_merge_lock`]),
    /// takes attempt 1 of `task` away as a rescuer would once its lease ran
    /// out, gives the task to another worker, lets the merges go, and once
    /// attempt 1 has had its turn gives the task back (another attempt
    /// follows). Returns
    /// the attempt that other worker held, and the commit attempt 1 had
    /// made: it must never reach the integration branch.
    pub async fn take_over_while_merging(&self, task: &str, merging: usize) -> (u32, String) {
        while self.store.counts().await.unwrap().get(colony_core::TaskStatus::Merging) < merging {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Each says it is merging once it waits for its turn (with trains,
        // on the platform).
        let first = git(self.repo(), &["rev-parse", &format!("colony-task/p/{task}-a1")]).trim().to_owned();
        let task = TaskId::new(task).unwrap();
        // An idle worker of the run may claim the task first: then that
        // attempt's lease is taken too, until the other worker holds it.
        // Each take counts a try: the task needs attempts to spare.
        let mut attempt = 1;
        let held = loop {
            // An attempt that has ended already has nothing to take.
            let _ = self.store.expire(&task, attempt).await;
            match self.store.claim("elsewhere", Duration::from_secs(600)).await.unwrap() {
                Some(claim) => {
                    assert_eq!(claim.task, task, "only {task} is ready");
                    break claim.attempt;
                }
                None => attempt += 1,
            }
            let now = self.store.task(task.as_str()).await.unwrap().unwrap().record.task;
            assert!(now.status().is_leased() || now.status() == colony_core::TaskStatus::Ready, "{task} is {now:?}");
        };
        self.store.unlock("merge", "test").await.unwrap();
        // Attempt 1 has had its turn once its worktree is gone.
        let worktree = self.repo().join(format!(".colony/worktrees/{task}-a1"));
        while worktree.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.store.release(&task, held, "gone elsewhere").await.unwrap();
        (held, first)
    }

    /// Whether `commit` is in `branch`.
    pub fn merged_into(&self, commit: &str, branch: &str) -> bool {
        std::process::Command::new("git")
            .current_dir(self.repo())
            .args(["merge-base", "--is-ancestor", commit, branch])
            .status()
            .unwrap()
            .success()
    }

    pub fn branches(&self) -> Vec<String> {
        git(self.repo(), &["branch", "--format=%(refname:short)"]).lines().map(str::to_owned).collect()
    }
}

/// Gives agent `name` the model `model` the way colony.toml does: in its
/// `[agents.NAME]` table, as an agent CLI's (the harness stays the test's).
pub fn with_model(settings: &mut Settings, name: &str, model: &str) {
    let cli = CliAgent { model: Some(model.into()), ..CliAgent::new(CliKind::Claude) };
    settings.config.agents.insert(name.into(), AgentConfig { kind: AgentKind::Cli(cli), env: BTreeMap::new() });
}
