//! A fresh worktree made fit to work in, before its agent's first round:
//! what `[worktree]` in colony.toml asks for. git brings only what it
//! tracks; a real project also needs the files it ignores (`.env`), what
//! is safe to share with the main checkout (a cache, by symlink) and its
//! dependencies installed (`npm ci`).
//!
//! Deciding what goes where is a pure function of what the globs matched
//! ([`plan`]); copying, linking and running the setup commands is the IO
//! around it ([`Base::prepare`]), called by the attempt once its worktree is
//! checked out. Globs never reach outside the repository: they
//! are relative to its root, skip `.git` and `.colony`, never walk through
//! a symlinked directory, and a match that is a symlink leading out of the
//! repository is left out.
//!
//! A setup command that fails is colony's problem, not the agent's: the
//! attempt fails before any agent round, and the same command failing for
//! two attempts in a row halts the claiming of new work ([`Failures`]).
//!
//! With `reuse_setup`, what the setup commands made is kept and copied
//! into later worktrees instead of running them again (`reuse.rs`).

use std::path::{Path, PathBuf};

use colony_agents::LogWriter;
use colony_core::config::{GlobPart, UNSHARED_DIRS, WorktreeConfig, glob_parts};
use colony_core::record::Record;
use colony_git::TaskTree;
use colony_store::Store;
use tokio_util::sync::CancellationToken;

use crate::base::Base;
use crate::base::reuse::{self, Kept};
use crate::error::EngineError;
use crate::round::{Commands, CommandsEnd, Step, log_note, log_record};

/// Failures in a row of one setup command after which no new work is
/// claimed: one may be the task's bad luck, two are the project's setup.
const FAILURES_TO_HALT: u32 = 2;

/// Which `[worktree]` list a glob is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Share {
    /// Copied into the worktree.
    Copy,
    /// Linked to from the worktree.
    Link,
}

impl Share {
    fn key(self) -> &'static str {
        match self {
            Share::Copy => "copy",
            Share::Link => "link",
        }
    }
}

/// A path in the main checkout one glob matched, relative to its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub path: PathBuf,
    /// It is a symlink that leads out of the repository.
    pub leads_out: bool,
}

/// One glob and what it matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Matched {
    pub share: Share,
    pub glob: String,
    pub found: Vec<Found>,
}

/// What goes into a fresh worktree, and what the log says about the rest.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Paths relative to the root, each with how it is shared.
    pub puts: Vec<(Share, PathBuf)>,
    pub notes: Vec<String>,
}

/// Decides what each glob's matches put into the worktree, in the order
/// written, copies before links. A path is put once, by the first glob
/// that matched it or a directory above it. A path the worktree has
/// already (git tracks it) is left as the task's branch has it: copying
/// the main checkout's over it would slip the user's uncommitted edits
/// into the task's work.
pub(crate) fn plan(matched: &[Matched], in_worktree: impl Fn(&Path) -> bool) -> Plan {
    let mut plan = Plan::default();
    for m in matched {
        let key = m.share.key();
        if m.found.is_empty() {
            plan.notes.push(format!("[worktree] {key} `{}` matches nothing in the main checkout", m.glob));
        }
        for found in &m.found {
            let path = &found.path;
            let shown = path.display();
            if plan.puts.iter().any(|(_, put)| path.starts_with(put)) {
                continue;
            }
            if found.leads_out {
                plan.notes.push(format!("[worktree] {key}: `{shown}` is a symlink out of the repository; left out"));
            } else if in_worktree(path) {
                plan.notes
                    .push(format!("[worktree] {key}: `{shown}` is in the worktree already (git tracks it); kept"));
            } else {
                plan.puts.push((m.share, path.clone()));
            }
        }
    }
    plan
}

/// Whether `glob`'s part `part` takes the name `name` of an entry of a
/// directory. `.git` and `.colony` at the root are never taken.
fn takes(part: &GlobPart, name: &str, at_root: bool) -> bool {
    if at_root && UNSHARED_DIRS.contains(&name) {
        return false;
    }
    match part {
        GlobPart::Name(n) => n == name,
        GlobPart::Wild(m) => m.is_match(name),
        GlobPart::AnyDirs => true,
    }
}

/// Every path under `root` that `parts` match, relative to it, sorted.
pub(super) fn expand(root: &Path, parts: &[GlobPart]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(root, PathBuf::new(), parts, &mut out);
    out.sort();
    out.dedup();
    out
}

fn walk(root: &Path, at: PathBuf, parts: &[GlobPart], out: &mut Vec<PathBuf>) {
    let Some((part, rest)) = parts.split_first() else {
        out.push(at);
        return;
    };
    let here = root.join(&at);
    // Only real directories are walked into: never through a symlink.
    let is_dir = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    if !at.as_os_str().is_empty() && !is_dir(&here) {
        return;
    }
    if let GlobPart::AnyDirs = part {
        // `**` as no directory at all, then as each directory below.
        walk(root, at.clone(), rest, out);
    }
    let names: Vec<String> = match part {
        GlobPart::Name(name) => vec![name.clone()],
        _ => match std::fs::read_dir(&here) {
            Ok(entries) => entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect(),
            Err(_) => return,
        },
    };
    for name in names {
        let path = at.join(&name);
        if !takes(part, &name, at.as_os_str().is_empty()) || std::fs::symlink_metadata(root.join(&path)).is_err() {
            continue;
        }
        match part {
            GlobPart::AnyDirs if is_dir(&root.join(&path)) => walk(root, path, parts, out),
            GlobPart::AnyDirs => {}
            _ => walk(root, path, rest, out),
        }
    }
}

/// Each glob of `config` with what it matches under `root`.
fn matches(root: &Path, config: &WorktreeConfig) -> Vec<Matched> {
    let canonical_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
    let lists = [(Share::Copy, &config.copy), (Share::Link, &config.link)];
    let globs = lists.into_iter().flat_map(|(share, globs)| globs.iter().map(move |g| (share, g)));
    globs
        .map(|(share, glob)| {
            // colony.toml was checked when read: a glob is never refused here.
            let parts = glob_parts(glob).unwrap_or_default();
            let found = expand(root, &parts)
                .into_iter()
                .map(|path| {
                    let full = root.join(&path);
                    let symlink = std::fs::symlink_metadata(&full).is_ok_and(|m| m.file_type().is_symlink());
                    let inside = std::fs::canonicalize(&full).is_ok_and(|target| target.starts_with(&canonical_root));
                    let leads_out = symlink && !inside;
                    Found { path, leads_out }
                })
                .collect();
            Matched { share, glob: glob.clone(), found }
        })
        .collect()
}

/// How making a worktree fit to work in ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Prepared {
    Ready,
    /// It cannot be worked in: why, for the attempt's failure, and the
    /// setup command that failed, if one did.
    Failed {
        why: String,
        command: Option<String>,
    },
    Cancelled,
}

impl<S: Store + 'static> Base<S> {
    /// Makes the fresh worktree `tree` fit to work in: copies and links
    /// what `[worktree]` asks for from the main checkout, then runs the
    /// setup commands there with `env`, as the gates run, with setup's
    /// records; or, with `reuse_setup`, copies in what they made before
    /// with the same key, and keeps what they make when nothing was kept.
    pub(crate) async fn prepare(
        &self,
        tree: &TaskTree,
        env: &crate::ports::Env,
        log: &mut LogWriter,
        cancel: &CancellationToken,
    ) -> Result<Prepared, EngineError> {
        let worktree = tree.path();
        let config = &self.settings.config;
        let put = match tokio::task::block_in_place(|| share(self.repo.top_level(), worktree, &config.worktree, log)) {
            Ok(put) => put,
            Err(why) => return Ok(Prepared::Failed { why, command: None }),
        };
        let setup = &config.worktree.setup;
        if setup.is_empty() {
            return Ok(Prepared::Ready);
        }
        let key = match config.worktree.reuse_setup {
            true => self.reused(worktree, log),
            false => None,
        };
        let key = match key {
            Some(Reuse::Done) => return Ok(Prepared::Ready),
            Some(Reuse::Keep(key)) => Some(key),
            None => None,
        };
        let commands = Commands {
            step: Step::Setup,
            commands: setup,
            dir: worktree,
            env,
            timeout: config.gates.timeout,
            grace: config.run.grace,
            sandbox: self.settings.sandbox.as_ref(),
        };
        Ok(match crate::round::commands(commands, log, cancel).await? {
            CommandsEnd::Passed => {
                if let Some(key) = key {
                    self.keep_setup(tree, &key, &put, log);
                }
                Prepared::Ready
            }
            CommandsEnd::Failed { command, tail } => {
                Prepared::Failed { why: format!("setup `{command}` failed:\n{tail}"), command: Some(command) }
            }
            CommandsEnd::Cancelled => Prepared::Cancelled,
        })
    }

    /// With `reuse_setup`: copies what the setup made before with this
    /// worktree's key into it, if it was kept ([`Reuse::Done`]); else the
    /// key to keep what it makes now under. `None` when the key cannot be
    /// known; then setup runs as without reuse.
    fn reused(&self, worktree: &Path, log: &mut LogWriter) -> Option<Reuse> {
        let config = &self.settings.config.worktree;
        let cache = self.layout.setup_cache();
        tokio::task::block_in_place(|| {
            let key = match reuse::key_of(worktree, config) {
                Ok(key) => key,
                Err(e) => {
                    log_note(log, format!("[worktree] reuse_setup: cannot read the key files: {e}; setup runs"));
                    return None;
                }
            };
            if !reuse::has(&cache, &key) {
                return Some(Reuse::Keep(key));
            }
            match reuse::restore(&cache, &key, worktree) {
                Ok(files) => {
                    let commands = config.setup.clone();
                    log_record(log, Record::SetupReused { key, files, commands });
                    Some(Reuse::Done)
                }
                Err(e) => {
                    log_note(log, format!("[worktree] reuse_setup: could not copy {key} in: {e}; setup runs"));
                    None
                }
            }
        })
    }

    /// Keeps what setup made in `tree` under `key`, less what `put` (the
    /// main checkout's) is. A failure here is noted, never the attempt's.
    fn keep_setup(&self, tree: &TaskTree, key: &str, put: &[PathBuf], log: &mut LogWriter) {
        let cache = self.layout.setup_cache();
        let kept = tokio::task::block_in_place(|| {
            let produced = self.repo.ignored_paths(tree).map_err(|e| crate::error::error_chain(&e))?;
            reuse::keep(&cache, key, tree.path(), &produced, put).map_err(|e| e.to_string())
        });
        match kept {
            Ok(Kept::Files(files)) => log_record(log, Record::SetupKept { key: key.to_owned(), files }),
            Ok(Kept::Already) => {}
            Ok(Kept::Nothing) => log_note(
                log,
                "[worktree] reuse_setup: setup made nothing git ignores; nothing is kept, and it runs every time",
            ),
            Err(e) => log_note(log, format!("[worktree] reuse_setup: could not keep what setup made: {e}")),
        }
    }
}

/// How a kept setup was used.
enum Reuse {
    /// It was copied in: setup need not run.
    Done,
    /// There is none for this key yet: what setup makes is kept under it.
    Keep(String),
}

/// Copies and links what `config`'s globs match in the main checkout at
/// `root` into `worktree`: the paths it put there, or why it could not.
fn share(root: &Path, worktree: &Path, config: &WorktreeConfig, log: &mut LogWriter) -> Result<Vec<PathBuf>, String> {
    let planned = plan(&matches(root, config), |path| std::fs::symlink_metadata(worktree.join(path)).is_ok());
    for note in planned.notes {
        log_note(log, note);
    }
    let mut put = Vec::new();
    for (share, path) in &planned.puts {
        let (from, to) = (root.join(path), worktree.join(path));
        let (done, how) = match share {
            Share::Copy => (copy(&from, &to), "copy"),
            Share::Link => (link(&from, &to), "link to"),
        };
        done.map_err(|e| format!("setup could not {how} `{}` in the worktree: {e}", path.display()))?;
        put.push(format!("{} `{}`", share.key(), path.display()));
    }
    if !put.is_empty() {
        log_note(log, format!("[worktree] from the main checkout: {}", put.join(", ")));
    }
    Ok(planned.puts.into_iter().map(|(_, path)| path).collect())
}

/// Copies `from` to `to`: a file, a directory with all it holds (a symlink
/// in it stays a symlink, never followed), or what a symlink inside the
/// repository leads to.
fn copy(from: &Path, to: &Path) -> std::io::Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if std::fs::metadata(from)?.is_dir() {
        std::fs::create_dir_all(to)?;
        reuse::copy_into(from, to, &[], &mut Vec::new()).map(drop)
    } else {
        std::fs::copy(from, to).map(drop)
    }
}

/// Makes `to` a symlink to `from` (absolute: the main checkout's path).
fn link(from: &Path, to: &Path) -> std::io::Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::os::unix::fs::symlink(from, to)
}

/// Setup commands that failed in a row this run, to halt the claiming of
/// new work when the project's setup, not a task, is what fails.
#[derive(Debug, Default)]
pub(crate) struct Failures {
    /// The command that failed last, and how many times in a row.
    last: std::sync::Mutex<Option<(String, u32)>>,
}

impl Failures {
    /// Counts how an attempt's setup ended: `failed` names the command
    /// that failed, `None` when all passed. Returns why the run must stop
    /// claiming new work, once the same command failed
    /// [`FAILURES_TO_HALT`] times in a row.
    pub(crate) fn count(&self, failed: Option<&str>) -> Option<String> {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(command) = failed else {
            *last = None;
            return None;
        };
        let times = match last.as_ref() {
            Some((same, times)) if same == command => times + 1,
            _ => 1,
        };
        *last = Some((command.to_owned(), times));
        (times >= FAILURES_TO_HALT).then(|| {
            format!(
                "the worktree setup command `{command}` failed for {times} attempts in a row; no new work is \
                 started. Fix it or [worktree] setup in colony.toml (the attempts' logs have its output), \
                 then `colony run` carries on"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(paths: &[&str]) -> Vec<Found> {
        paths.iter().map(|p| Found { path: p.into(), leads_out: false }).collect()
    }

    fn matched(share: Share, glob: &str, paths: &[&str]) -> Matched {
        Matched { share, glob: glob.into(), found: found(paths) }
    }

    fn puts(plan: &Plan) -> Vec<(Share, &str)> {
        plan.puts.iter().map(|(s, p)| (*s, p.to_str().unwrap())).collect()
    }

    #[test]
    fn each_match_is_put_once_and_what_git_tracks_is_kept() {
        let globs = [
            matched(Share::Copy, ".env*", &[".env", ".env.local", "README.md"]),
            matched(Share::Copy, "config", &["config"]),
            matched(Share::Copy, "config/*.yml", &["config/a.yml"]),
            matched(Share::Link, ".env", &[".env"]),
            matched(Share::Link, "node_modules/.cache", &["node_modules/.cache"]),
        ];
        let plan = plan(&globs, |p| p == Path::new("README.md"));
        assert_eq!(
            puts(&plan),
            [
                (Share::Copy, ".env"),
                (Share::Copy, ".env.local"),
                (Share::Copy, "config"),
                (Share::Link, "node_modules/.cache")
            ],
            "config/a.yml comes with config, and .env was copied before it could be linked"
        );
        assert_eq!(plan.notes, ["[worktree] copy: `README.md` is in the worktree already (git tracks it); kept"]);
    }

    #[test]
    fn a_glob_matching_nothing_and_a_symlink_out_are_notes() {
        let mut out = matched(Share::Link, "shared", &["shared"]);
        out.found[0].leads_out = true;
        let plan = plan(&[matched(Share::Copy, "*.key", &[]), out], |_| false);
        assert!(plan.puts.is_empty());
        assert_eq!(
            plan.notes,
            [
                "[worktree] copy `*.key` matches nothing in the main checkout",
                "[worktree] link: `shared` is a symlink out of the repository; left out"
            ]
        );
    }

    #[test]
    fn globs_match_inside_the_repository_only() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in [".env", "config/a.local.yml", "config/b.yml", "deep/x/y/k.key", ".git/config", ".colony/c.key"] {
            std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.join(file), "x").unwrap();
        }
        std::fs::write(outside.path().join("s.key"), "secret").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("s.key"), root.join("top.key")).unwrap();
        let expanded = |glob: &str| -> Vec<String> {
            expand(root, &glob_parts(glob).unwrap()).iter().map(|p| p.display().to_string()).collect()
        };
        assert_eq!(expanded(".env"), [".env"]);
        assert_eq!(expanded("config/*.local.yml"), ["config/a.local.yml"]);
        assert_eq!(expanded("**/*.key"), ["deep/x/y/k.key", "top.key"], "not in .colony, nor through `out`");
        assert_eq!(expanded("*"), [".env", "config", "deep", "out", "top.key"], "never .git or .colony");
        assert_eq!(expanded("out/s.key"), Vec::<String>::new(), "never through a symlinked directory");
        assert_eq!(expanded("missing/*"), Vec::<String>::new());

        let config = WorktreeConfig { copy: vec!["*.key".into(), ".env".into()], ..WorktreeConfig::default() };
        let all = matches(root, &config);
        assert_eq!(all[0].found, [Found { path: "top.key".into(), leads_out: true }]);
        assert_eq!(all[1].found, [Found { path: ".env".into(), leads_out: false }]);
    }

    #[test]
    fn a_copied_directory_keeps_its_symlinks_and_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("main/config"), dir.path().join("tree/config"));
        std::fs::create_dir_all(from.join("nested")).unwrap();
        std::fs::write(from.join("nested/app.yml"), "port: 1\n").unwrap();
        std::fs::write(from.join("run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(from.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("nested/app.yml", from.join("current.yml")).unwrap();
        copy(&from, &to).unwrap();
        assert_eq!(std::fs::read_to_string(to.join("nested/app.yml")).unwrap(), "port: 1\n");
        assert_eq!(std::fs::read_link(to.join("current.yml")).unwrap(), Path::new("nested/app.yml"));
        assert_eq!(std::fs::metadata(to.join("run.sh")).unwrap().permissions().mode() & 0o777, 0o755);
    }

    #[test]
    fn the_same_command_failing_twice_in_a_row_halts() {
        let f = Failures::default();
        assert_eq!(f.count(Some("npm ci")), None);
        assert_eq!(f.count(None), None, "a setup that passed");
        assert_eq!(f.count(Some("npm ci")), None, "the passing setup between broke the row");
        assert_eq!(f.count(Some("make")), None, "another command starts its own row");
        assert_eq!(f.count(Some("npm ci")), None);
        let why = f.count(Some("npm ci")).expect("twice in a row");
        assert!(why.starts_with("the worktree setup command `npm ci` failed for 2 attempts in a row"), "{why}");
    }
}
