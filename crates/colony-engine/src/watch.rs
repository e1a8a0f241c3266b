//! The user's checkout, watched while a run lasts.
//!
//! colony never writes to the user's checkout or moves their branches, but
//! an agent can: a worktree is a directory of the user's, and nothing but
//! a sandbox stops `echo >> ../../../README`. So the run takes a
//! [`Snapshot`] of the checkout when it starts (where HEAD points, the
//! user's refs, every path `git status` lists with its size and time) and
//! looks again each time an agent's round ends. A change is recorded on
//! every attempt whose agent ran since the last look (`checkout_changed`)
//! and said once: it may be the person at the keyboard, or one of them.
//!
//! Where the sandbox holds the agents, none of them can have written there
//! (`colony-agents`' `sandbox.rs`): the change is the person's, and only
//! said. Without it, each of those attempts is blamed: it fails after its
//! round ([`Watch::take_blame`]), and nothing of it merges. colony cannot
//! tell which of the agents that ran together did it, so all of them fail.
//!
//! Colony's own refs (task branches, integration branches, and their
//! copies on a remote) and `.colony/` are not the user's and are not
//! watched; neither are ignored files.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use colony_core::TaskId;
use colony_git::Repo;
use colony_store::Store;

use crate::base::Base;
use crate::error::{EngineError, error_chain};

/// How many changes a report names before it says how many more.
const MAX_NAMED: usize = 10;

/// What colony watches of the user's checkout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The main checkout's `HEAD` file: the branch it is on, or a commit.
    pub head: String,
    /// The user's refs, by full name, and the object each names.
    pub refs: BTreeMap<String, String>,
    /// Every path `git status` lists: its code, and its size and
    /// modification time (`None` when it is gone), so that a file already
    /// changed and written again counts.
    pub paths: BTreeMap<String, (String, Option<(u64, i128)>)>,
}

/// An attempt whose agent ran.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Suspect {
    pub task: TaskId,
    pub attempt: u32,
}

/// What a look found: the changes, and the attempts whose agents ran since
/// the look before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub changes: Vec<String>,
    pub suspects: Vec<Suspect>,
}

/// The rounds running and run since the last look, and what that look saw.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    /// A change fails the attempts whose agents ran: no sandbox kept them
    /// out of the checkout.
    blames: bool,
    state: Mutex<State>,
    /// Held from taking a snapshot until it is compared, so that looks
    /// compare in the order they saw.
    pub(crate) looking: Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    seen: Option<Snapshot>,
    running: BTreeMap<u64, Suspect>,
    ran: BTreeSet<Suspect>,
    next: u64,
    /// Why each attempt blamed for a change fails, until it takes it.
    blamed: BTreeMap<Suspect, String>,
}

impl Watch {
    /// A watch that blames agents for changes (`blames`), or only says
    /// them.
    pub(crate) fn new(blames: bool) -> Self {
        Watch { blames, ..Watch::default() }
    }

    /// An agent round of `suspect` starts; returns its token for
    /// [`Watch::ended`].
    pub(crate) fn started(&self, suspect: Suspect) -> u64 {
        let mut state = lock(&self.state);
        state.next += 1;
        let token = state.next;
        state.ran.insert(suspect.clone());
        state.running.insert(token, suspect);
        token
    }

    pub(crate) fn ended(&self, token: u64) {
        lock(&self.state).running.remove(&token);
    }

    /// Compares `now` with what the last look saw. The first look only
    /// sees.
    pub(crate) fn look(&self, now: Snapshot) -> Option<Finding> {
        let mut state = lock(&self.state);
        let before = state.seen.replace(now.clone())?;
        let mut suspects: BTreeSet<Suspect> = std::mem::take(&mut state.ran);
        suspects.extend(state.running.values().cloned());
        state.ran = state.running.values().cloned().collect();
        let changes = changes(&before, &now);
        if changes.is_empty() {
            return None;
        }
        let suspects: Vec<Suspect> = suspects.into_iter().collect();
        let harms = named(changes.iter().filter(|c| c.harms));
        if self.blames && !harms.is_empty() {
            for suspect in &suspects {
                let why = blame(suspect, &suspects, &harms);
                state.blamed.entry(suspect.clone()).or_insert(why);
            }
        }
        Some(Finding { changes: named(changes.iter()), suspects })
    }

    /// Why `suspect` fails, if a look since its round began blamed it for
    /// a change to the user's checkout. Asked after each of its rounds,
    /// once that round's look is done: a look that saw the change before
    /// it blamed it then.
    pub(crate) fn take_blame(&self, suspect: &Suspect) -> Option<String> {
        lock(&self.state).blamed.remove(suspect)
    }
}

/// Why `suspect`, one of `all` whose agents ran when `changes` were made,
/// fails.
fn blame(suspect: &Suspect, all: &[Suspect], changes: &[String]) -> String {
    let others: Vec<String> =
        all.iter().filter(|s| *s != suspect).map(|s| format!("{} attempt {}", s.task, s.attempt)).collect();
    let beside = match others.is_empty() {
        true => String::new(),
        false => format!(" (beside the agents of {}; colony cannot tell which did it)", others.join(", ")),
    };
    format!(
        "your checkout changed while this attempt's agent ran{beside}: {}. Without the sandbox nothing keeps an \
         agent out of it, so nothing of this attempt merges; if the change was yours, `colony retry {}`",
        changes.join("; "),
        suspect.task
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Watch {
    /// Looks at the user's checkout: the first look of a run only sees;
    /// a later one that finds a change records it on the attempts whose
    /// agents ran since the look before, and says it. A look that fails
    /// is said and fails nothing else.
    pub(crate) async fn look_at_checkout<S: Store + 'static>(&self, base: &Base<S>) {
        if let Err(e) = self.try_look_at_checkout(base).await {
            base.settings.notices.say(&format!("could not look at your checkout: {}", error_chain(&e)));
        }
    }

    async fn try_look_at_checkout<S: Store + 'static>(&self, base: &Base<S>) -> Result<(), EngineError> {
        let integration = base.integration_branches().await?;
        let found = tokio::task::block_in_place(|| {
            let _turn = lock(&self.looking);
            snapshot(&base.repo, &integration).map(|now| self.look(now))
        })?;
        let Some(found) = found else { return Ok(()) };
        let who: Vec<String> = found.suspects.iter().map(|s| format!("{} attempt {}", s.task, s.attempt)).collect();
        let while_ = match who.is_empty() {
            true => "while no agent ran".to_owned(),
            false => format!("while the agents of {} ran", who.join(", ")),
        };
        base.settings.notices.say(&format!(
            "your checkout changed {while_}: {}; if that was not you, an agent wrote outside its worktree",
            found.changes.join("; ")
        ));
        for suspect in &found.suspects {
            base.store.record_checkout_change(&suspect.task, suspect.attempt, &found.changes).await?;
        }
        Ok(())
    }
}

/// The user's checkout as it is now; `integration` names colony's
/// integration branches, which are not the user's.
fn snapshot(repo: &Repo, integration: &[String]) -> Result<Snapshot, colony_git::GitError> {
    let head_file = repo.git_common_dir().join("HEAD");
    let head =
        std::fs::read_to_string(&head_file).map_err(|source| colony_git::GitError::Io { path: head_file, source })?;
    let refs = repo
        .refs()?
        .into_iter()
        .filter(|(name, _)| !is_colonys(name, integration))
        .map(|(name, oid)| (name, oid.to_string()))
        .collect();
    let paths = repo
        .status_entries(&[".colony"])?
        .into_iter()
        .map(|entry| {
            let stamp = std::fs::symlink_metadata(repo.top_level().join(&entry.path)).ok().map(|meta| {
                let at = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                (meta.len(), at.map_or(0, |d| d.as_nanos() as i128))
            });
            (entry.path, (entry.code, stamp))
        })
        .collect();
    Ok(Snapshot { head, refs, paths })
}

/// One thing that changed in the user's checkout, for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub what: String,
    /// It undoes or alters something of the user's: everything but a new
    /// ref (an agent may make a branch of its own work; it takes nothing
    /// from the user).
    pub harms: bool,
}

/// What changed from `before` to `after`.
pub(crate) fn changes(before: &Snapshot, after: &Snapshot) -> Vec<Change> {
    let mut changes = Vec::new();
    let harm = |what: String| Change { what, harms: true };
    if before.head != after.head {
        changes.push(harm(format!("HEAD is now {} (was {})", after.head.trim(), before.head.trim())));
    }
    let names: BTreeSet<&String> = before.refs.keys().chain(after.refs.keys()).collect();
    for name in names {
        let (what, harms) = match (before.refs.get(name), after.refs.get(name)) {
            (None, Some(_)) => ("created", false),
            (Some(_), None) => ("deleted", true),
            (Some(a), Some(b)) if a != b => ("moved", true),
            _ => continue,
        };
        changes.push(Change { what: format!("{} {what}", ref_words(name)), harms });
    }
    let paths: BTreeSet<&String> = before.paths.keys().chain(after.paths.keys()).collect();
    for path in paths {
        let (was, now) = (before.paths.get(path), after.paths.get(path));
        let change = match (was, now) {
            (None, Some((code, _))) => code_words(code).to_owned(),
            (Some(_), None) => "back as committed".to_owned(),
            (Some((a, _)), Some((b, _))) if a != b => format!("{}, was {}", code_words(b), code_words(a)),
            (Some((_, a)), Some((_, b))) if a != b => "written again".to_owned(),
            _ => continue,
        };
        changes.push(harm(format!("{path} {change}")));
    }
    changes
}

/// `changes` as people read them: the first [`MAX_NAMED`], then how many
/// more.
fn named<'a>(changes: impl Iterator<Item = &'a Change>) -> Vec<String> {
    let mut named: Vec<String> = changes.map(|c| c.what.clone()).collect();
    if named.len() > MAX_NAMED {
        let more = named.len() - MAX_NAMED;
        named.truncate(MAX_NAMED);
        named.push(format!("and {more} more"));
    }
    named
}

/// `refs/heads/main` → `branch main`.
fn ref_words(name: &str) -> String {
    if let Some(branch) = name.strip_prefix("refs/heads/") {
        return format!("branch {branch}");
    }
    if let Some(tag) = name.strip_prefix("refs/tags/") {
        return format!("tag {tag}");
    }
    format!("ref {name}")
}

/// A `git status` code for people.
fn code_words(code: &str) -> &str {
    match code {
        "??" => "new (untracked)",
        " M" | " T" => "modified",
        " D" => "deleted",
        "M " | "MM" | "A " | "AM" | "R " | "RM" | "C " | "D " | "AD" | "MD" | "T " => "staged",
        _ if code.contains('U') => "in conflict",
        other => other,
    }
}

/// Whether `name` is one of colony's refs rather than the user's: a task
/// branch or an integration branch (`integration`), here or in a
/// remote-tracking copy.
pub(crate) fn is_colonys(name: &str, integration: &[String]) -> bool {
    let branch = match name.strip_prefix("refs/heads/") {
        Some(branch) => branch,
        None => match name.strip_prefix("refs/remotes/").and_then(|rest| rest.split_once('/')) {
            Some((_, branch)) => branch,
            None => return false,
        },
    };
    branch.starts_with(colony_core::branch::TASK_BRANCHES) || integration.iter().any(|i| i == branch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(head: &str, refs: &[(&str, &str)], paths: &[(&str, &str, u64)]) -> Snapshot {
        Snapshot {
            head: head.into(),
            refs: refs.iter().map(|(n, o)| (n.to_string(), o.to_string())).collect(),
            paths: paths.iter().map(|(p, c, len)| (p.to_string(), (c.to_string(), Some((*len, 0))))).collect(),
        }
    }

    fn suspect(task: &str, attempt: u32) -> Suspect {
        Suspect { task: TaskId::new(task).unwrap(), attempt }
    }

    #[test]
    fn changes_name_head_refs_and_paths() {
        let before = snapshot("ref: refs/heads/main\n", &[("refs/heads/main", "a")], &[("README", " M", 3)]);
        let after = snapshot(
            "ref: refs/heads/other\n",
            &[("refs/heads/main", "b"), ("refs/tags/v1", "c")],
            &[("README", " M", 9), ("new.txt", "??", 1), ("f.txt", "A ", 1)],
        );
        let found = changes(&before, &after);
        let harmless: Vec<&str> = found.iter().filter(|c| !c.harms).map(|c| c.what.as_str()).collect();
        assert_eq!(harmless, ["tag v1 created"], "a new ref takes nothing from the user");
        assert_eq!(
            named(found.iter()),
            [
                "HEAD is now ref: refs/heads/other (was ref: refs/heads/main)",
                "branch main moved",
                "tag v1 created",
                "README written again",
                "f.txt staged",
                "new.txt new (untracked)",
            ]
        );
        assert_eq!(changes(&after, &before).last().unwrap().what, "new.txt back as committed");
        assert!(changes(&after, &after).is_empty());
    }

    #[test]
    fn many_changes_are_counted_past_the_first_ten() {
        let before = Snapshot::default();
        let paths: Vec<(String, &str, u64)> = (0..15).map(|i| (format!("f{i:02}"), "??", 1)).collect();
        let paths: Vec<(&str, &str, u64)> = paths.iter().map(|(p, c, l)| (p.as_str(), *c, *l)).collect();
        let found = named(changes(&before, &snapshot("", &[], &paths)).iter());
        assert_eq!(found.len(), 11);
        assert_eq!(found[10], "and 5 more");
    }

    #[test]
    fn a_look_names_every_attempt_whose_agent_ran_since_the_last() {
        let watch = Watch::default();
        let quiet = snapshot("h", &[], &[]);
        assert_eq!(watch.look(quiet.clone()), None, "the first look only sees");
        let a = watch.started(suspect("a", 1));
        let b = watch.started(suspect("b", 2));
        watch.ended(a);
        let changed = snapshot("h", &[], &[("x", "??", 1)]);
        let found = watch.look(changed.clone()).unwrap();
        assert_eq!(found.suspects, [suspect("a", 1), suspect("b", 2)]);
        assert_eq!(found.changes, ["x new (untracked)"]);
        assert_eq!(watch.look(changed.clone()), None, "nothing new");
        watch.ended(b);
        let found = watch.look(quiet).unwrap();
        assert_eq!(found.suspects, [suspect("b", 2)], "b still ran after the last look; a did not");
        assert_eq!(watch.look(snapshot("h2", &[], &[])).unwrap().suspects, Vec::<Suspect>::new());
        assert_eq!(watch.take_blame(&suspect("a", 1)), None, "a watch that does not blame only says");
    }

    #[test]
    fn without_a_sandbox_every_attempt_whose_agent_ran_is_blamed_once() {
        let watch = Watch::new(true);
        watch.look(snapshot("h", &[], &[]));
        let a = watch.started(suspect("a", 1));
        watch.ended(a);
        let found = watch.look(snapshot("h", &[("refs/heads/main", "x")], &[])).unwrap();
        assert_eq!(found.suspects, [suspect("a", 1)]);
        assert_eq!(watch.take_blame(&suspect("a", 1)), None, "a new branch harms nothing");
        let a = watch.started(suspect("a", 1));
        let b = watch.started(suspect("b", 2));
        watch.ended(a);
        let found = watch.look(snapshot("h", &[("refs/heads/main", "y")], &[])).unwrap();
        assert_eq!(found.suspects, [suspect("a", 1), suspect("b", 2)]);
        let why = watch.take_blame(&suspect("a", 1)).expect("a ran when main moved");
        assert_eq!(
            why,
            "your checkout changed while this attempt's agent ran (beside the agents of b attempt 2; colony \
             cannot tell which did it): branch main moved. Without the sandbox nothing keeps an agent out of \
             it, so nothing of this attempt merges; if the change was yours, `colony retry a`"
        );
        assert_eq!(watch.take_blame(&suspect("a", 1)), None, "taken once");
        watch.ended(b);
        assert_eq!(watch.look(snapshot("h", &[("refs/heads/main", "y")], &[])), None);
        assert!(watch.take_blame(&suspect("b", 2)).is_some(), "b's blame waits for its round's end");
        let c = watch.started(suspect("c", 1));
        watch.ended(c);
        assert_eq!(watch.look(snapshot("h", &[("refs/heads/main", "y")], &[])), None);
        assert_eq!(watch.take_blame(&suspect("c", 1)), None, "c ran after the change was seen");
    }

    #[test]
    fn colonys_refs_are_told_from_the_users() {
        let integration = vec!["colony/p".to_owned()];
        assert!(is_colonys("refs/heads/colony-task/p/t-a1", &integration));
        assert!(is_colonys("refs/heads/colony/p", &integration));
        assert!(is_colonys("refs/remotes/origin/colony/p", &integration));
        assert!(is_colonys("refs/remotes/origin/colony-task/p/t-a1", &integration));
        assert!(!is_colonys("refs/heads/colony/q", &integration));
        assert!(!is_colonys("refs/heads/main", &integration));
        assert!(!is_colonys("refs/tags/colony/p", &integration));
    }
}
