//! One run across several machines: the integration branch lives on a
//! shared git remote (`Settings::remote`).
//!
//! Every host keeps its local integration branch a copy of the remote's:
//! an attempt starts from the fetched tip, and the merge step, under the
//! store's merge lock, fetches it again, merges and gates as on one
//! machine, then moves the remote branch with a lease-checked push. A push
//! refused because the branch moved means another host merged first: fetch
//! and merge again.
//!
//! Exactly once, across hosts:
//! - Right before the push, one fenced store write checks that the attempt
//!   still holds its lease and this holder the merge lock (whose TTL a
//!   paused host may have outlived), and records the commit being merged.
//! - Before merging, under the lock, an attempt looks in the fetched tip
//!   for the task's merge commit (`merged.rs`): a host that pushed and died
//!   before telling the store has merged the task already.
//! - The push itself is compare-and-swap: a host that passed the fence and
//!   then stalled past its lease cannot overwrite a merge made meanwhile.

use std::sync::atomic::Ordering;

use colony_agents::LogWriter;
use colony_git::{CasOutcome, Oid, PushOutcome, branch_ref};
use colony_store::{Store, StoreError};

use crate::attempt::{Attempt, Ending};
use crate::error::{EngineError, error_chain};
use crate::merge::{MERGE_LOCK, merge_holder};
use crate::round::log_note;
use crate::run::{Inner, PlanRun};

/// How moving the integration branch ended.
pub(crate) enum Advance {
    Moved,
    /// It moved meanwhile: merge again onto the new tip.
    Stale,
    /// The attempt ends here (its lease is lost).
    Ended(Ending),
}

impl<S: Store + 'static> Inner<S> {
    /// The remote integration branch's tip, fetched into the local branch;
    /// the first host to need it creates it on the remote from the plan's
    /// base (or its own HEAD). Called under `branch_gate`.
    pub(crate) fn ensure_remote_integration(&self, remote: &str, plan: &PlanRun) -> Result<Oid, EngineError> {
        let name = &plan.integration_branch;
        if let Some(tip) = self.git_beside_worktrees(|r| r.fetch_branch(remote, name))? {
            return Ok(tip);
        }
        let base = plan.base.as_deref().unwrap_or("HEAD");
        let start = self.git(|r| r.rev_parse(base))?.ok_or_else(|| EngineError::NoBase { branch: name.clone() })?;
        // Refused if another host created it meanwhile: then take theirs.
        self.git(|r| r.push_lease(remote, name, &start, None))?;
        self.git_beside_worktrees(|r| r.fetch_branch(remote, name))?
            .ok_or_else(|| EngineError::NoBase { branch: name.clone() })
    }

    /// Fetches the remote integration branch into the local one.
    pub(crate) async fn fetch_integration(&self, remote: &str, name: &str) -> Result<Option<Oid>, EngineError> {
        let _gate = self.branch_gate.lock().await;
        self.git_beside_worktrees(|r| r.fetch_branch(remote, name))
    }

    /// At the end of a run on a shared remote: every plan's local
    /// integration branch is brought up to the remote's, so `colony land`
    /// here has the run's whole work. A remote out of reach is said, not
    /// fatal: the next run or a `git fetch` catches up.
    pub(crate) async fn fetch_integration_branches(&self) -> Result<(), EngineError> {
        let Some(remote) = &self.settings.remote else {
            return Ok(());
        };
        for name in self.integration_branches().await? {
            if let Err(e) = self.fetch_integration(remote, &name).await {
                self.settings.notices.say(&format!("could not fetch {name} from {remote}: {}", error_chain(&e)));
            }
        }
        Ok(())
    }
}

impl<S: Store + 'static> Attempt<'_, S> {
    /// The tip to merge onto: the remote's, fetched, on a shared remote;
    /// else the local branch's.
    ///
    /// Locally, the tip this process's last merge left is taken on trust,
    /// with no git process: the compare-and-swap that follows finds out if
    /// anyone else moved the branch since, and [`Inner::forget_tip`] then
    /// makes the next look read it.
    pub(crate) async fn integration_tip(&self, integration: &str) -> Result<Option<Oid>, EngineError> {
        match &self.inner.settings.remote {
            Some(remote) => self.inner.fetch_integration(remote, integration).await,
            None => match self.inner.known_tip(integration) {
                Some(tip) => Ok(Some(tip)),
                None => self.inner.git(|r| r.rev_parse(&branch_ref(integration))),
            },
        }
    }

    /// Moves the integration branch from `tip` to `candidate`: by
    /// compare-and-swap here, or on a shared remote by the last fenced
    /// write and a lease-checked push.
    pub(crate) async fn advance(
        &self,
        integration: &str,
        candidate: &Oid,
        tip: &Oid,
        log: &mut LogWriter,
    ) -> Result<Advance, EngineError> {
        let Some(remote) = &self.inner.settings.remote else {
            // Under the merge lock, an attempt whose lease was taken moves
            // nothing: its task's next attempt may be merging it too. That
            // one, under the same lock, finds this attempt's merge commit
            // in the branch if it did move it.
            let lease = self.inner.settings.config.run.lease;
            if let Err(ending) =
                self.fenced(self.inner.store.heartbeat(&self.claim.task, self.claim.attempt, lease)).await?
            {
                return Ok(Advance::Ended(ending));
            }
            let integration_ref = branch_ref(integration);
            return Ok(match self.inner.git(|r| r.update_ref_cas(&integration_ref, candidate, tip))? {
                CasOutcome::Moved => {
                    self.inner.remember_tip(integration, candidate);
                    self.inner.merged.moved(integration, tip, candidate, &[(self.spec(), candidate)]);
                    Advance::Moved
                }
                CasOutcome::Stale { .. } => {
                    self.inner.forget_tip(integration);
                    Advance::Stale
                }
            });
        };
        let inner = self.inner;
        let holder = merge_holder(&self.worker, &self.claim.task, self.claim.attempt);
        let fence = inner.store.fence_merge(
            &self.claim.task,
            self.claim.attempt,
            inner.settings.config.run.lease,
            (MERGE_LOCK, &holder),
            candidate.as_str(),
        );
        match fence.await {
            Ok(()) => {}
            Err(StoreError::LeaseLost { .. }) => {
                self.lease_lost.store(true, Ordering::SeqCst);
                self.cancel.cancel();
                return Ok(Advance::Ended(Ending::LeaseLost));
            }
            // This host outlived the lock's ttl (a long pause): take it
            // again before anything else, then merge onto what is there.
            Err(StoreError::LockLost { .. }) => {
                log_note(log, "colony: the merge lock lapsed; waiting for it again");
                let ttl = inner.settings.config.run.lease;
                if !crate::lock::wait_for(&inner.store, MERGE_LOCK, &holder, ttl, &self.cancel).await? {
                    return Ok(Advance::Ended(self.interrupted()));
                }
                return Ok(Advance::Stale);
            }
            Err(e) => return Err(e.into()),
        }
        crate::failpoint::hit("before-push");
        Ok(match self.inner.git(|r| r.push_lease(remote, integration, candidate, Some(tip)))? {
            PushOutcome::Pushed => {
                self.inner.merged.moved(integration, tip, candidate, &[(self.spec(), candidate)]);
                Advance::Moved
            }
            PushOutcome::Stale { .. } => Advance::Stale,
        })
    }

    /// Pushes the attempt's branch to the shared remote, for other hosts
    /// and people to see; a failure is noted, not fatal (the merge's own
    /// push says whether the remote can be reached).
    pub(crate) fn publish_task_branch(&self, log: &mut LogWriter) {
        let Some(remote) = &self.inner.settings.remote else {
            return;
        };
        if let Err(e) = self.inner.git(|r| r.push_branch(remote, &self.branch())) {
            log_note(log, format!("colony: could not push {} to {remote}: {}", self.branch(), error_chain(&e)));
        }
    }

    /// Deletes the merged attempt's branch on the shared remote, as it is
    /// deleted here.
    pub(crate) fn unpublish_task_branch(&self) -> Result<(), EngineError> {
        match &self.inner.settings.remote {
            Some(remote) => self.inner.git(|r| r.delete_remote_branch(remote, &self.branch())),
            None => Ok(()),
        }
    }
}
