//! How the integration branch moves: the one strategy an engine has,
//! chosen from the settings when it is made.
//!
//! [`Integration::Local`]: one machine. The branch is a ref of this
//! repository, moved by compare-and-swap; the tip this process's last
//! merge left is taken on trust (no git process), and a swap that finds
//! the branch moved makes the next look read it.
//!
//! [`Integration::Remote`]: one run across several machines. The branch
//! lives on a shared git remote, and every host keeps its local branch a
//! copy of the remote's: an attempt starts from the fetched tip, and the
//! merge, under the store's merge lock, fetches it again, merges and gates
//! as on one machine, then moves the remote branch with a lease-checked
//! push. A push refused because the branch moved means another host merged
//! first: fetch and merge again. Task branches are pushed there too, for
//! other hosts and people to see.
//!
//! Exactly once, either way:
//! - Right before the branch moves, one fenced store write checks that the
//!   attempt still holds its lease and its holder the merge lock (whose
//!   TTL a paused host may have outlived), and records the commit being
//!   merged.
//! - Before merging, under the lock, an attempt looks in the tip for the
//!   task's merge commit (`merged.rs`): a process that moved the branch and
//!   died before telling the store has merged the task already.
//! - The move itself is compare-and-swap: a process that passed the fence
//!   and then stalled past its lease cannot overwrite a merge made
//!   meanwhile.

use colony_agents::LogWriter;
use colony_git::{CasOutcome, Oid, PushOutcome, branch_ref};
use colony_store::{Store, StoreError};

use super::{MERGE_LOCK, Merge, Queue, Side};
use crate::base::{Base, PlanRun};
use crate::ending::Ending;
use crate::error::{EngineError, error_chain};
use crate::round::log_note;
use crate::settings::Settings;

/// Where the integration branch lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Integration {
    Local,
    /// On this git remote, shared by every host of the run.
    Remote(String),
}

/// How moving the integration branch ended.
pub(crate) enum Advance {
    Moved,
    /// It moved meanwhile: merge again onto the new tip.
    Stale,
    /// The attempt ends here (its lease is lost).
    Ended(Ending),
}

impl Integration {
    pub(crate) fn of(settings: &Settings) -> Self {
        match &settings.remote {
            Some(remote) => Integration::Remote(remote.clone()),
            None => Integration::Local,
        }
    }

    pub(crate) fn is_local(&self) -> bool {
        *self == Integration::Local
    }

    /// Pushes a task branch to the shared remote, for other hosts and
    /// people to see; a failure is noted, not fatal (the merge's own push
    /// says whether the remote can be reached).
    pub(crate) fn publish<S: Store + 'static>(&self, base: &Base<S>, branch: &str, log: &mut LogWriter) {
        if let Integration::Remote(remote) = self
            && let Err(e) = base.git(|r| r.push_branch(remote, branch))
        {
            log_note(log, format!("could not push {branch} to {remote}: {}", error_chain(&e)));
        }
    }

    /// Deletes a task branch on the shared remote, as it is deleted here.
    pub(crate) fn unpublish<S: Store + 'static>(&self, base: &Base<S>, branch: &str) -> Result<(), EngineError> {
        match self {
            Integration::Remote(remote) => base.git(|r| r.delete_remote_branch(remote, branch)),
            Integration::Local => Ok(()),
        }
    }

    /// The tip of a task branch an earlier attempt left: here, or, when
    /// another host did that attempt, on the shared remote.
    pub(crate) fn branch_tip<S: Store + 'static>(
        &self,
        base: &Base<S>,
        branch: &str,
    ) -> Result<Option<Oid>, EngineError> {
        let local = base.git(|r| r.rev_parse(&branch_ref(branch)))?;
        match (local, self) {
            (None, Integration::Remote(remote)) => base.git_beside_worktrees(|r| r.fetch_branch(remote, branch)),
            (local, _) => Ok(local),
        }
    }
}

impl Queue {
    /// The integration branch's tip, creating the branch from the plan's
    /// base (or HEAD) the first time; on a shared remote the first host to
    /// need it creates it there.
    pub(crate) async fn ensure_integration<S: Store + 'static>(
        &self,
        base: &Base<S>,
        plan: &PlanRun,
    ) -> Result<Oid, EngineError> {
        let _gate = self.branch_gate.lock().await;
        let name = &plan.integration_branch;
        let start = plan.base.as_deref().unwrap_or("HEAD");
        if let Integration::Remote(remote) = &self.integration {
            if let Some(tip) = base.git_beside_worktrees(|r| r.fetch_branch(remote, name))? {
                return Ok(tip);
            }
            let start =
                base.git(|r| r.rev_parse(start))?.ok_or_else(|| EngineError::NoBase { branch: name.clone() })?;
            // Refused if another host created it meanwhile: then take theirs.
            base.git(|r| r.push_lease(remote, name, &start, None))?;
            return base
                .git_beside_worktrees(|r| r.fetch_branch(remote, name))?
                .ok_or_else(|| EngineError::NoBase { branch: name.clone() });
        }
        if let Some(tip) = base.git(|r| r.rev_parse(&branch_ref(name)))? {
            return Ok(tip);
        }
        if base.git(|r| r.rev_parse(start))?.is_none() {
            return Err(EngineError::NoBase { branch: name.clone() });
        }
        match tokio::task::block_in_place(|| base.repo.create_branch(name, start)) {
            Ok(tip) => Ok(tip),
            // Another colony process made it first.
            Err(e) => base.git(|r| r.rev_parse(&branch_ref(name)))?.ok_or(EngineError::Git(e)),
        }
    }

    /// Fetches the remote integration branch into the local one.
    async fn fetch_integration<S: Store + 'static>(
        &self,
        base: &Base<S>,
        remote: &str,
        name: &str,
    ) -> Result<Option<Oid>, EngineError> {
        let _gate = self.branch_gate.lock().await;
        base.git_beside_worktrees(|r| r.fetch_branch(remote, name))
    }

    /// At the end of a run on a shared remote: every plan's local
    /// integration branch is brought up to the remote's, so `colony land`
    /// here has the run's whole work. A remote out of reach is said, not
    /// fatal: the next run or a `git fetch` catches up.
    pub(crate) async fn fetch_integration_branches<S: Store + 'static>(
        &self,
        base: &Base<S>,
    ) -> Result<(), EngineError> {
        let Integration::Remote(remote) = &self.integration else {
            return Ok(());
        };
        for name in base.integration_branches().await? {
            if let Err(e) = self.fetch_integration(base, remote, &name).await {
                base.settings.notices.say(&format!("could not fetch {name} from {remote}: {}", error_chain(&e)));
            }
        }
        Ok(())
    }

    /// The tip of `integration` as a merge would see it: the remote's,
    /// fetched, on a shared remote; else the local branch's, or the tip
    /// this process's last merge left, taken on trust.
    pub(crate) async fn tip<S: Store + 'static>(&self, base: &Base<S>, integration: &str) -> Result<Oid, EngineError> {
        let tip = match &self.integration {
            Integration::Remote(remote) => self.fetch_integration(base, remote, integration).await?,
            Integration::Local => match self.known_tip(integration) {
                Some(tip) => Some(tip),
                None => base.git(|r| r.rev_parse(&branch_ref(integration)))?,
            },
        };
        tip.ok_or_else(|| EngineError::NoBase { branch: integration.to_owned() })
    }

    pub(crate) fn integration(&self) -> &Integration {
        &self.integration
    }
}

impl<S: Store + 'static, A: Side> Merge<'_, S, A> {
    /// The integration tip to merge onto (see [`Queue::tip`]).
    pub(super) async fn tip(&self) -> Result<Oid, EngineError> {
        self.queue.tip(self.base, self.integration).await
    }

    /// Moves the integration branch from `tip` to `candidate`: by
    /// compare-and-swap here, or on a shared remote by a lease-checked
    /// push. Either way the last fenced write comes first: it checks, in
    /// one transaction, that the attempt still holds its lease and its
    /// holder the merge lock, and records the commit being merged.
    pub(super) async fn advance(
        &self,
        candidate: &Oid,
        tip: &Oid,
        log: &mut LogWriter,
    ) -> Result<Advance, EngineError> {
        let (base, queue, integration) = (self.base, self.queue, self.integration);
        let holder = self.holder();
        let lease = base.settings.config.run.lease;
        let fence =
            base.store.fence_merge(&self.car.task, self.car.attempt, lease, (MERGE_LOCK, &holder), candidate.as_str());
        match fence.await {
            Ok(()) => {}
            // Its task may be another attempt's now, which may be merging
            // it too: this one moves nothing. That one, under the same
            // lock, finds this attempt's merge commit in the branch if it
            // did move it.
            Err(StoreError::LeaseLost { .. }) => {
                self.side.lose_lease();
                return Ok(Advance::Ended(Ending::LeaseLost));
            }
            // This process outlived the lock's ttl (a long pause): take it
            // again before anything else, then merge onto what is there.
            Err(StoreError::LockLost { .. }) => {
                log_note(log, "the merge lock lapsed; waiting for it again");
                if !crate::lock::wait_for(&base.store, MERGE_LOCK, &holder, lease, &self.car.cancel).await? {
                    return Ok(Advance::Ended(self.side.interrupted()));
                }
                queue.forget_tip(integration);
                return Ok(Advance::Stale);
            }
            Err(e) => return Err(e.into()),
        }
        let merged = [(&self.car.spec, candidate)];
        match &queue.integration {
            Integration::Local => {
                let integration_ref = branch_ref(integration);
                Ok(match base.git(|r| r.update_ref_cas(&integration_ref, candidate, tip))? {
                    CasOutcome::Moved => {
                        queue.remember_tip(integration, candidate);
                        queue.merged.moved(integration, tip, candidate, &merged);
                        Advance::Moved
                    }
                    CasOutcome::Stale { .. } => {
                        queue.forget_tip(integration);
                        Advance::Stale
                    }
                })
            }
            Integration::Remote(remote) => {
                crate::failpoint::hit("before-push");
                Ok(match base.git(|r| r.push_lease(remote, integration, candidate, Some(tip)))? {
                    PushOutcome::Pushed => {
                        queue.merged.moved(integration, tip, candidate, &merged);
                        Advance::Moved
                    }
                    PushOutcome::Stale { .. } => Advance::Stale,
                })
            }
        }
    }
}
