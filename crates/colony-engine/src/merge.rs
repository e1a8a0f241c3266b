//! The merge step of an attempt: its turn at the merge (this process's
//! gate, then the store's merge lock, or a place on a train), then, under
//! the lock, the merge itself: the integration tip brought in (a conflict
//! goes to the agent as a resolver round), the gates on the result, and
//! the integration branch moved by compare-and-swap, or on a shared
//! remote by a lease-checked push (`remote.rs`). Trains are `train.rs`.

use colony_agents::LogWriter;
use colony_core::{Phase, RoundCause};
use colony_git::{BringIn, MergeOutcome};
use colony_store::Store;

use crate::attempt::{Attempt, ChosenAgent, Ending};
use crate::conflict::with_conflict_markers;
use crate::error::EngineError;
use crate::remote::Advance;
use crate::round::{GateEnd, log_note};
use crate::train::{Led, Ride, Ticket};

/// The store lock that makes merges one at a time, across processes.
pub(crate) const MERGE_LOCK: &str = "merge";

/// Who holds the merge lock for an attempt. Derived, so that recovery can
/// free the lock of an attempt whose process died holding it.
pub(crate) fn merge_holder(worker: &str, task: &colony_core::TaskId, attempt: u32) -> String {
    format!("{worker}/{task}-a{attempt}")
}

/// How the wait for a merge turn ended.
enum Turn<'a> {
    /// This process's merge gate: merge, or lead a train.
    Mine(tokio::sync::MutexGuard<'a, ()>),
    /// A train dealt with this merge.
    Answered(Ride),
    Stopped,
}

impl<S: Store + 'static> Attempt<'_, S> {
    /// Whether the integration tip was taken on trust (see
    /// [`Attempt::integration_tip`]); it is forgotten then, so that the
    /// next look reads the branch. A tip taken on trust is confirmed
    /// before it ends the attempt: the branch may have moved back since.
    fn doubt_trusted_tip(&self, integration: &str) -> bool {
        let trusted = self.inner.settings.remote.is_none() && self.inner.known_tip(integration).is_some();
        if trusted {
            self.inner.forget_tip(integration);
        }
        trusted
    }

    /// The merge step, one at a time across every worker of the store.
    pub(crate) async fn merge(
        &self,
        agent: &ChosenAgent,
        integration: &str,
        log: &mut LogWriter,
    ) -> Result<Ending, EngineError> {
        if let Err(e) =
            self.fenced(self.inner.store.set_phase(&self.claim.task, self.claim.attempt, Phase::Merging)).await?
        {
            return Ok(e);
        }
        self.publish_task_branch(log);
        // With gates a merge can take a while, none of it an agent's: the
        // worker moves on to its next task. Only where merges ride trains:
        // one at a time, the merges that piled up would wait in arrival
        // order, the critical path's behind the rest (the bench measured
        // 1.86x the bound against 1.50x with the worker kept).
        if self.inner.trains_run() {
            self.move_on();
        }
        let mut boards = self.inner.trains_run();
        let (in_process, leads) = loop {
            let mut ticket = boards.then(|| self.inner.platform.board(self.car()));
            match self.merge_turn(&mut ticket).await {
                Turn::Mine(gate) => break (gate, ticket.is_some()),
                Turn::Answered(Ride::Merged { leader, candidate, cars }) => {
                    log_note(
                        log,
                        format!(
                            "colony: merged into {integration} at {candidate} in a train of {cars} led by {leader}; \
                             the gates ran once on the train's result"
                        ),
                    );
                    return self.complete().await;
                }
                Turn::Answered(Ride::Alone(why)) => {
                    log_note(log, format!("colony: merging alone: {why}"));
                    boards = false;
                }
                Turn::Answered(Ride::Again) => {}
                Turn::Stopped => return Ok(self.interrupted()),
            }
        };
        let holder = merge_holder(&self.worker, &self.claim.task, self.claim.attempt);
        let lock = crate::lock::StoreLock::acquire(
            &self.inner.store,
            MERGE_LOCK,
            &holder,
            self.inner.settings.config.run.lease,
            &self.cancel,
        )
        .await?;
        let Some(lock) = lock else {
            return Ok(self.interrupted());
        };
        let ending = match leads {
            true => match self.lead_train(integration, log).await {
                Ok(Led::Merged) => Ok(Ending::Merged),
                Ok(Led::Alone) => self.merge_locked(agent, integration, log).await,
                Ok(Led::Ends(ending)) => Ok(ending),
                Err(e) => Err(e),
            },
            false => self.merge_locked(agent, integration, log).await,
        };
        lock.release().await;
        drop(in_process);
        // `Merged` from under the lock means the work is in the integration
        // branch; the store is told now that both gates are open, so that
        // the next merge does not wait for it. A crash in between is found
        // by the next attempt's look at the integration branch.
        match ending? {
            Ending::Merged => self.complete().await,
            other => Ok(other),
        }
    }

    /// The gates again on the merge being made; `Some` ends the attempt:
    /// a failure says it happened `when`.
    async fn gate_merge(&self, when: &str, log: &mut LogWriter) -> Result<Option<Ending>, EngineError> {
        Ok(match self.run_gates(log).await? {
            GateEnd::Passed => None,
            GateEnd::Cancelled => Some(self.interrupted()),
            GateEnd::Failed { command, tail } => {
                Some(Ending::Failed(format!("gate `{command}` failed {when}:\n{tail}")))
            }
        })
    }

    /// Waits for this process's merge turn, or, on the platform with a
    /// `ticket`, for a train to carry this merge.
    async fn merge_turn(&self, ticket: &mut Option<Ticket>) -> Turn<'_> {
        enum Woke<G> {
            Gate(G),
            Answer(Ride),
            Cancelled,
        }
        let woke = {
            let answer = async {
                match ticket.as_mut() {
                    Some(t) => t.answer().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                gate = self.inner.merge_gate.lock() => Woke::Gate(gate),
                ride = answer => Woke::Answer(ride),
                () = self.cancel.cancelled() => Woke::Cancelled,
            }
        };
        let platform = &self.inner.platform;
        match woke {
            Woke::Answer(ride) => Turn::Answered(ride),
            // A train answers its riders before its leader lets go of the
            // gate: a rider still on the platform now was not taken, and
            // leads.
            Woke::Gate(gate) => match ticket {
                Some(t) if !platform.leave(t) => {
                    drop(gate);
                    Turn::Answered(t.answer().await)
                }
                _ => Turn::Mine(gate),
            },
            Woke::Cancelled => match ticket {
                Some(t) if !platform.leave(t) => Turn::Answered(t.answer().await),
                _ => Turn::Stopped,
            },
        }
    }

    /// The merge, under the lock. `Merged` here means in the integration
    /// branch, the store not told yet.
    async fn merge_locked(
        &self,
        agent: &ChosenAgent,
        integration: &str,
        log: &mut LogWriter,
    ) -> Result<Ending, EngineError> {
        let inner = self.inner;
        let worktree = self.worktree();
        let mut resolver_rounds = 0;
        loop {
            let tip = self
                .integration_tip(integration)
                .await?
                .ok_or_else(|| EngineError::NoBase { branch: integration.to_owned() })?;
            // An earlier attempt of this task may have merged and died (or
            // lost its lease) before telling the store; on a shared remote,
            // on another host.
            if let Some(commit) = self.already_merged(integration, &tip)? {
                if self.doubt_trusted_tip(integration) {
                    continue;
                }
                log_note(log, format!("colony: {integration} has this task's merge already, at {commit}"));
                return Ok(Ending::Merged);
            }
            let head = self.task_tip()?;
            if self.inner.git(|r| r.is_ancestor(&head, &tip))? {
                if self.doubt_trusted_tip(integration) {
                    continue;
                }
                log_note(log, "colony: already in the integration branch");
                return Ok(Ending::Merged);
            }
            // Without gates nothing has to see the merged tree on disk: merge
            // in memory, and use the worktree only for a resolver round.
            let in_memory = match inner.settings.config.gates.commands.is_empty() {
                true => match self.inner.git(|r| r.merge_tree(&tip, &head))? {
                    MergeOutcome::Clean { tree } => Some(tree),
                    MergeOutcome::Conflict { .. } => None,
                },
                false => None,
            };
            let (work, tree) = match in_memory {
                Some(tree) => (head, tree),
                None => {
                    // `git merge` is the dearest step here; skip it when the task
                    // branch already holds the tip (the first task, or no merge since).
                    let bring = if self.inner.git(|r| r.is_ancestor(&tip, &head))? {
                        BringIn::UpToDate
                    } else {
                        self.inner.git(|r| r.bring_in(self.tree(), &tip, inner.author.as_ref()))?
                    };
                    let brought_in = !matches!(bring, BringIn::UpToDate);
                    match bring {
                        BringIn::UpToDate => {}
                        BringIn::Merged { .. } => {
                            log_note(
                                log,
                                format!("colony: brought {integration} in; gates again on the merged result"),
                            );
                            if let Some(ending) =
                                self.gate_merge(&format!("on the merge with {integration}"), log).await?
                            {
                                return Ok(ending);
                            }
                        }
                        BringIn::Conflict(conflict) => {
                            if resolver_rounds == inner.settings.config.merge.max_resolver_rounds {
                                self.inner.git(|r| r.abort_merge(self.tree()))?;
                                return Ok(Ending::Failed(format!(
                                    "merge conflict with {integration} in {}",
                                    conflict.paths.join(", ")
                                )));
                            }
                            resolver_rounds += 1;
                            log_note(
                                log,
                                format!(
                                    "colony: conflict in {}; resolver round {resolver_rounds}",
                                    conflict.paths.join(", ")
                                ),
                            );
                            let cause = RoundCause::Conflict { paths: conflict.paths.clone() };
                            if let Err(e) = self
                                .fenced(inner.store.feedback_round(
                                    &self.claim.task,
                                    self.claim.attempt,
                                    resolver_rounds,
                                    cause,
                                ))
                                .await?
                            {
                                self.inner.git(|r| r.abort_merge(self.tree()))?;
                                return Ok(e);
                            }
                            let feedback = resolver_prompt(integration, &conflict);
                            if let Some(end) = self.agent_round(agent, Some(&feedback), log).await? {
                                self.inner.git(|r| r.abort_merge(self.tree()))?;
                                return Ok(end);
                            }
                            // git would commit the markers as they are.
                            let unresolved = with_conflict_markers(&worktree, &conflict.paths);
                            if !unresolved.is_empty() {
                                self.inner.git(|r| r.abort_merge(self.tree()))?;
                                if resolver_rounds == inner.settings.config.merge.max_resolver_rounds {
                                    return Ok(Ending::Failed(format!(
                                        "merge conflict with {integration} in {}: conflict markers left in {}",
                                        conflict.paths.join(", "),
                                        unresolved.join(", ")
                                    )));
                                }
                                log_note(log, format!("colony: conflict markers left in {}", unresolved.join(", ")));
                                continue;
                            }
                            self.commit()?;
                            // Around again: gates run on the resolved merge, and
                            // the tip may have moved meanwhile.
                            if let Some(ending) = self.gate_merge("after resolving the conflict", log).await? {
                                return Ok(ending);
                            }
                            continue;
                        }
                    }
                    // The task branch now holds the integration tip and passed the
                    // gates. The branch moves to a merge commit of exactly that tree
                    // whose first parent is the old tip: `git log --first-parent`
                    // then reads one merge per task.
                    let work = if brought_in { self.task_tip()? } else { head };
                    let MergeOutcome::Clean { tree } = self.inner.git(|r| r.merge_tree(&tip, &work))? else {
                        unreachable!("the task branch contains the integration tip, so merging them is clean")
                    };
                    (work, tree)
                }
            };
            // The integration branch moves to a merge commit of the checked
            // tree whose first parent is the old tip: `git log
            // --first-parent` then reads one merge per task, and its
            // trailers say which (see `merged.rs`).
            crate::failpoint::hit("before-merge");
            let message = crate::merged::merge_message(self.spec());
            let candidate =
                self.inner.git(|r| r.commit_tree(&tree, &[&tip, &work], &message, inner.author.as_ref()))?;
            if self.cancel.is_cancelled() {
                return Ok(self.interrupted());
            }
            match self.advance(integration, &candidate, &tip, log).await? {
                Advance::Moved => {
                    crate::failpoint::hit("after-merge");
                    log_note(log, format!("colony: merged into {integration} at {candidate}"));
                    return Ok(Ending::Merged);
                }
                Advance::Stale => log_note(log, format!("colony: {integration} moved meanwhile; merging again")),
                Advance::Ended(ending) => return Ok(ending),
            }
        }
    }
}

fn resolver_prompt(integration: &str, c: &colony_git::MergeConflict) -> String {
    let mut text = format!(
        "Merging {integration} into your branch stopped with conflicts in: {}.\n\
         Resolve them in the working tree (remove every conflict marker), keeping both sides' intent.\n",
        c.paths.join(", ")
    );
    if !c.integration_subjects.is_empty() {
        text.push_str(&format!("\nCommits on {integration}: {}\n", c.integration_subjects.join("; ")));
    }
    if !c.task_subjects.is_empty() {
        text.push_str(&format!("Your commits: {}\n", c.task_subjects.join("; ")));
    }
    text
}
