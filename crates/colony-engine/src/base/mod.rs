//! What every part of a run reaches for: the store, the repository and
//! git, the layout of `.colony`, the settings, and what each plan's
//! attempts share. The merge queue, the attempts and the workers build on
//! it; it builds on none of them.

pub(crate) mod baseline;
mod reuse;
pub(crate) mod setup;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use colony_core::branch::integration_branch;
use colony_core::layout::Layout;
use colony_core::{Defaults, PlanName};
use colony_git::{Identity, Repo};
use colony_store::Store;
use tokio::sync::Mutex;

use crate::error::EngineError;
use crate::settings::Settings;

/// Times a failed `git worktree` command is tried again.
const WORKTREE_RETRIES: u64 = 3;

/// What a plan's attempts share.
#[derive(Debug, Clone)]
pub(crate) struct PlanRun {
    pub integration_branch: String,
    pub base: Option<String>,
    /// What its tasks' settings are resolved with (see
    /// `Inner::task_settings`).
    pub defaults: Defaults,
}

pub(crate) struct Base<S> {
    /// Every call waits out connection errors and a full disk (see
    /// `patient.rs`).
    pub store: Arc<S>,
    pub repo: Repo,
    pub layout: Layout,
    pub settings: Settings,
    /// The author of colony's commits (`[run] author`); `None`: the user's.
    pub(crate) author: Option<Identity>,
    pub(crate) host: String,
    pub(crate) pid: u32,
    plans: Mutex<HashMap<PlanName, Arc<PlanRun>>>,
    /// See [`Base::worktree_git`].
    worktree_gate: std::sync::Mutex<()>,
    /// Notices said once a run.
    said: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Each gate's verdict on each tree gated (`baseline.rs`).
    pub(crate) verdicts: baseline::Verdicts,
}

impl<S: Store + 'static> Base<S> {
    pub(crate) fn new(store: Arc<S>, repo: Repo, settings: Settings) -> Self {
        Base {
            store,
            layout: Layout::new(repo.top_level()),
            repo,
            author: settings.config.run.author.as_ref().map(|(name, email)| Identity::new(name, email)),
            settings,
            host: colony_agents::hostname(),
            pid: std::process::id(),
            plans: Mutex::new(HashMap::new()),
            worktree_gate: std::sync::Mutex::new(()),
            said: std::sync::Mutex::new(Default::default()),
            verdicts: Default::default(),
        }
    }

    /// Runs git, which blocks: the runtime moves its other tasks off this
    /// thread meanwhile (see `Engine::run`).
    pub(crate) fn git<T>(&self, f: impl FnOnce(&Repo) -> Result<T, colony_git::GitError>) -> Result<T, EngineError> {
        Ok(tokio::task::block_in_place(|| f(&self.repo))?)
    }

    /// Runs a `git worktree` command that registers or forgets worktrees.
    /// They are not safe to run at once: one can read the half-written
    /// registration of another ("failed to read
    /// .git/worktrees/…/commondir") and fail. This process's are queued;
    /// one that still fails (another colony on the same repository) is
    /// tried again. Checkouts and deleting files need no turn.
    pub(crate) fn worktree_git<T>(
        &self,
        f: impl Fn(&Repo) -> Result<T, colony_git::GitError>,
    ) -> Result<T, EngineError> {
        self.retried(true, f)
    }

    /// Runs a git command that reads every worktree's registration, as a
    /// fetch does to check what it received against all worktrees' HEADs,
    /// and so fails now and then beside a `git worktree add`. It is tried
    /// again rather than queued: a fetch over the network is slow, and
    /// the next worktree must not wait for it.
    pub(crate) fn git_beside_worktrees<T>(
        &self,
        f: impl Fn(&Repo) -> Result<T, colony_git::GitError>,
    ) -> Result<T, EngineError> {
        self.retried(false, f)
    }

    fn retried<T>(&self, queued: bool, f: impl Fn(&Repo) -> Result<T, colony_git::GitError>) -> Result<T, EngineError> {
        tokio::task::block_in_place(|| {
            let mut tries = 0;
            loop {
                let result = match queued {
                    true => {
                        let _queue = self.worktree_gate.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        f(&self.repo)
                    }
                    false => f(&self.repo),
                };
                match result {
                    Err(_) if tries < WORKTREE_RETRIES => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(20 * tries));
                    }
                    other => return Ok(other?),
                }
            }
        })
    }

    pub(crate) async fn plan_info(&self, plan: &PlanName) -> Result<Arc<PlanRun>, EngineError> {
        let mut plans = self.plans.lock().await;
        if let Some(p) = plans.get(plan) {
            return Ok(p.clone());
        }
        let stored = self.store.export_plan(plan.as_str()).await?;
        let run = Arc::new(PlanRun {
            integration_branch: integration_branch(&self.settings.config.run.integration_branch, plan),
            base: stored.base,
            defaults: stored.defaults,
        });
        plans.insert(plan.clone(), run.clone());
        Ok(run)
    }

    /// The tip of `branch`, which must exist (a task branch while its
    /// attempt runs).
    pub(crate) fn branch_tip(&self, branch: &str) -> Result<colony_git::Oid, EngineError> {
        self.git(|r| r.rev_parse(&colony_git::branch_ref(branch)))?
            .ok_or_else(|| colony_git::GitError::UnknownRevision { rev: branch.to_owned() }.into())
    }

    /// Says `note` once a run.
    pub(crate) fn say_once(&self, note: String) {
        if self.said.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(note.clone()) {
            self.settings.notices.say(&note);
        }
    }

    /// The integration branch of every plan in the store.
    pub(crate) async fn integration_branches(&self) -> Result<Vec<String>, EngineError> {
        let pattern = &self.settings.config.run.integration_branch;
        Ok(self.store.plans().await?.iter().map(|p| integration_branch(pattern, &p.name)).collect())
    }
}
