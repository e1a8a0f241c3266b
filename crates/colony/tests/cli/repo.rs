//! `TestRepo`: a throwaway git repository to run the real `colony` binary
//! in, with a private HOME and no system git config, so the user's own
//! settings and `COLONY_STORE` cannot leak into a test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::assert::{Assert, OutputAssertExt};
use tempfile::TempDir;

/// The example plans shipped at the workspace root.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

pub struct TestRepo {
    /// Holds `home/` and `repo/`; removed on drop.
    _dir: TempDir,
    root: PathBuf,
    home: PathBuf,
}

impl TestRepo {
    /// An empty repository (`git init`), not yet set up for colony.
    pub fn new() -> TestRepo {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // Canonical, because git reports the repository root that way.
        let base = dir.path().canonicalize().unwrap();
        let root = base.join("repo");
        let home = base.join("home");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(base.join("tmp")).unwrap();
        let repo = TestRepo { _dir: dir, root, home };
        let out = repo.git(&["init", "--quiet", "--initial-branch=main"]);
        assert!(out.status.success(), "git init failed: {}", String::from_utf8_lossy(&out.stderr));
        repo
    }

    /// A repository after `colony init`.
    pub fn initialized() -> TestRepo {
        let repo = TestRepo::new();
        repo.colony(&["init"]).success();
        repo
    }

    /// A repository with a first commit (a README), set up with `colony
    /// init` and the given `colony.toml`, both committed: ready for
    /// `colony run` with the fake agent.
    pub fn for_runs(config: &str) -> TestRepo {
        let repo = TestRepo::new();
        std::fs::write(repo.root.join("README.md"), "# A project\n").unwrap();
        std::fs::write(repo.root.join("colony.toml"), config).unwrap();
        repo.colony(&["init"]).success();
        repo.commit_all("Start");
        repo
    }

    /// Commits everything in the working tree, under a fixed identity.
    pub fn commit_all(&self, message: &str) {
        for args in [
            &["add", "--all"][..],
            &["-c", "user.name=Test", "-c", "user.email=test@example.com", "commit", "-qm", message],
        ] {
            let out = self.git(args);
            assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }

    /// A repository after `colony init` and `colony add plans/auth.yaml`.
    pub fn with_auth_plan() -> TestRepo {
        let repo = TestRepo::initialized();
        repo.write_plan("auth.yaml", &std::fs::read_to_string(example("auth.yaml")).unwrap());
        repo.colony(&["add", "plans/auth.yaml"]).success();
        repo
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory the temporary repository and home live in.
    pub fn base(&self) -> &Path {
        self.root.parent().unwrap()
    }

    /// Writes `plans/NAME` and returns its path relative to the root.
    pub fn write_plan(&self, name: &str, text: &str) -> String {
        self.write_plan_bytes(name, text.as_bytes())
    }

    pub fn write_plan_bytes(&self, name: &str, bytes: &[u8]) -> String {
        let dir = self.root.join("plans");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
        format!("plans/{name}")
    }

    /// `colony ARGS` run in the repository root.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_colony"));
        cmd.args(args);
        self.isolate(cmd)
    }

    /// `WRAPPER... COLONY ARGS` run in the repository root, `COLONY` the
    /// path of the colony binary: colony started by another program.
    pub fn command_under(&self, wrapper: &[&str], args: &[&str]) -> Command {
        let mut cmd = Command::new(wrapper[0]);
        cmd.args(&wrapper[1..]).arg(env!("CARGO_BIN_EXE_colony")).args(args);
        self.isolate(cmd)
    }

    /// `PROGRAM ARGS` run in the repository root, in the same isolation
    /// as colony: a client that starts colony itself.
    pub fn program(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args);
        self.isolate(cmd)
    }

    fn isolate(&self, mut cmd: Command) -> Command {
        cmd.current_dir(&self.root)
            .env("HOME", &self.home)
            // Beside the repository, not around it: agents may write to
            // the temp dir, and the sandbox must keep them out of the
            // repository.
            .env("TMPDIR", self.base().join("tmp"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("TZ", "UTC")
            .env("COLONY_FAKE_AGENT", env!("CARGO_BIN_EXE_colony-fake-agent"))
            .env_remove("COLONY_STORE")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE");
        cmd
    }

    /// Runs `colony ARGS` and returns the assertion on its outcome.
    pub fn colony(&self, args: &[&str]) -> Assert {
        self.command(args).output().unwrap().assert()
    }

    /// Runs `colony ARGS`, asserts it exited `code`, returns its stdout.
    pub fn stdout(&self, args: &[&str], code: i32) -> String {
        let out = self.colony(args).code(code);
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    }

    /// Runs `colony ARGS`, asserts it exited `code`, returns its stderr.
    pub fn stderr(&self, args: &[&str], code: i32) -> String {
        let out = self.colony(args).code(code);
        String::from_utf8(out.get_output().stderr.clone()).unwrap()
    }

    /// `colony ARGS --json`, parsed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.stdout(&args, 0)).unwrap()
    }

    /// Every event, as `colony events --json` prints them.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout(&["events", "--json"], 0).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// `git ARGS`'s stdout, asserting it succeeded.
    pub fn git_out(&self, args: &[&str]) -> String {
        let out = self.git(args);
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn git(&self, args: &[&str]) -> Output {
        Command::new("git")
            .args(args)
            .current_dir(&self.root)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap()
    }

    /// The SQLite file of the default store.
    pub fn db(&self) -> PathBuf {
        self.root.join(".colony/colony.db")
    }
}

/// Filters that make output stable: the temporary path and clock times.
pub fn filters(repo: &TestRepo) -> Vec<(String, String)> {
    vec![
        (regex_escape(&repo.base().display().to_string()), "[TMP]".into()),
        (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d".into(), "[DATE TIME]".into()),
        (r"\b\d\d:\d\d:\d\d\b".into(), "[TIME]".into()),
        // A run's wall time: `4.2s`, `3m 05s`.
        (r"\b(\d+\.\d|\d+m \d\d)s\b".into(), "[SECS]".into()),
    ]
}

fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `assert_snapshot!` with [`filters`] for `repo`.
#[macro_export]
macro_rules! snap {
    ($repo:expr, $name:expr, $text:expr) => {{
        let mut settings = insta::Settings::clone_current();
        for (pattern, replacement) in $crate::repo::filters($repo) {
            settings.add_filter(&pattern, replacement);
        }
        settings.set_prepend_module_to_snapshot(false);
        let name: &str = &$name;
        settings.bind(|| insta::assert_snapshot!(name, $text));
    }};
}
