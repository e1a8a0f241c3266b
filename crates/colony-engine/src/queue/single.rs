//! A single merge, under the merge lock: the integration tip brought into
//! the task branch (a conflict goes back to the attempt as a resolver
//! round), the gates on the result, and the integration branch moved to a
//! merge commit of exactly the checked tree (`integration.rs`). Without
//! gates nothing has to see the merged tree on disk: it is merged in
//! memory, and the worktree is used only for a resolver round.

use colony_agents::LogWriter;
use colony_core::RoundCause;
use colony_git::{BringIn, MergeOutcome};
use colony_store::Store;

use super::conflict::with_conflict_markers;
use super::integration::Advance;
use super::{Merge, Side};
use crate::ending::Ending;
use crate::error::EngineError;
use colony_core::record::Record;

use crate::base::baseline::GateEnd;
use crate::round::{log_note, log_record};

impl<S: Store + 'static, A: Side> Merge<'_, S, A> {
    /// Whether the integration tip was taken on trust (see
    /// `Merge::tip`); it is forgotten then, so that the
    /// next look reads the branch. A tip taken on trust is confirmed
    /// before it ends the attempt: the branch may have moved back since.
    fn doubt_trusted_tip(&self) -> bool {
        let integration = self.integration;
        let trusted = self.queue.integration.is_local() && self.queue.known_tip(integration).is_some();
        if trusted {
            self.queue.forget_tip(integration);
        }
        trusted
    }

    /// The gates again on the merge being made; `Some` ends the attempt:
    /// a failure says it happened `when`.
    async fn gate_merge(&self, when: &str, log: &mut LogWriter) -> Result<Option<Ending>, EngineError> {
        Ok(match self.gates(log).await? {
            GateEnd::Passed => None,
            GateEnd::Cancelled => Some(self.side.interrupted()),
            GateEnd::OnBase(fails) => Some(Ending::OnBase(fails.to_string())),
            GateEnd::Failed { command, tail } => {
                Some(Ending::Failed(format!("gate `{command}` failed {when}:\n{tail}")))
            }
        })
    }

    /// The merge, under the lock. `Merged` here means in the integration
    /// branch, the store not told yet.
    pub(super) async fn merge_locked(&self, log: &mut LogWriter) -> Result<Ending, EngineError> {
        let (inner, integration) = (self.base, self.integration);
        let worktree = self.side.tree().path();
        let mut resolver_rounds = 0;
        loop {
            let tip = self.tip().await?;
            // An earlier attempt of this task may have merged and died (or
            // lost its lease) before telling the store; on a shared remote,
            // on another host.
            if let Some(commit) = self.queue.already_merged(self.base, integration, &tip, &self.car.spec)? {
                if self.doubt_trusted_tip() {
                    continue;
                }
                log_note(log, format!("{integration} has this task's merge already, at {commit}"));
                return Ok(Ending::Merged);
            }
            let head = self.task_tip()?;
            if self.base.git(|r| r.is_ancestor(&head, &tip))? {
                if self.doubt_trusted_tip() {
                    continue;
                }
                log_note(log, "already in the integration branch");
                return Ok(Ending::Merged);
            }
            // Without gates nothing has to see the merged tree on disk: merge
            // in memory, and use the worktree only for a resolver round.
            let in_memory = match inner.settings.config.gates.commands.is_empty() {
                true => match self.base.git(|r| r.merge_tree(&tip, &head))? {
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
                    let bring = if self.base.git(|r| r.is_ancestor(&tip, &head))? {
                        BringIn::UpToDate
                    } else {
                        self.base.git(|r| r.bring_in(self.side.tree(), &tip, inner.author.as_ref()))?
                    };
                    let brought_in = !matches!(bring, BringIn::UpToDate);
                    match bring {
                        BringIn::UpToDate => {}
                        BringIn::Merged { .. } => {
                            log_record(log, Record::BroughtIn { integration: integration.to_owned() });
                            if let Some(ending) =
                                self.gate_merge(&format!("on the merge with {integration}"), log).await?
                            {
                                return Ok(ending);
                            }
                        }
                        BringIn::Conflict(conflict) => {
                            if resolver_rounds == inner.settings.config.merge.max_resolver_rounds {
                                self.base.git(|r| r.abort_merge(self.side.tree()))?;
                                return Ok(Ending::Failed(format!(
                                    "merge conflict with {integration} in {}",
                                    conflict.paths.join(", ")
                                )));
                            }
                            resolver_rounds += 1;
                            log_record(log, Record::Conflict { paths: conflict.paths.clone(), round: resolver_rounds });
                            let cause = RoundCause::Conflict { paths: conflict.paths.clone() };
                            if let Err(e) = self
                                .fenced(inner.store.feedback_round(
                                    &self.car.task,
                                    self.car.attempt,
                                    resolver_rounds,
                                    cause,
                                ))
                                .await?
                            {
                                self.base.git(|r| r.abort_merge(self.side.tree()))?;
                                return Ok(e);
                            }
                            let vars = crate::prompts::Resolver {
                                integration: integration.to_owned(),
                                conflicted: conflict.paths.clone(),
                                integration_commits: conflict.integration_subjects.clone(),
                                task_commits: conflict.task_subjects.clone(),
                            };
                            let feedback = self.base.settings.prompts.render(crate::prompts::Role::Resolver, &vars)?;
                            if let Some(end) = self.side.resolve(&feedback, log).await? {
                                self.base.git(|r| r.abort_merge(self.side.tree()))?;
                                return Ok(end);
                            }
                            // git would commit the markers as they are.
                            let unresolved = with_conflict_markers(worktree, &conflict.paths);
                            if !unresolved.is_empty() {
                                self.base.git(|r| r.abort_merge(self.side.tree()))?;
                                if resolver_rounds == inner.settings.config.merge.max_resolver_rounds {
                                    return Ok(Ending::Failed(format!(
                                        "merge conflict with {integration} in {}: conflict markers left in {}",
                                        conflict.paths.join(", "),
                                        unresolved.join(", ")
                                    )));
                                }
                                log_record(log, Record::MarkersLeft { paths: unresolved });
                                continue;
                            }
                            self.base
                                .git(|r| r.commit_all(self.side.tree(), &self.car.spec.title, inner.author.as_ref()))?;
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
                    let MergeOutcome::Clean { tree } = self.base.git(|r| r.merge_tree(&tip, &work))? else {
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
            let message = super::merged::merge_message(&self.car.spec);
            let candidate = self.base.git(|r| r.commit_tree(&tree, &[&tip, &work], &message, inner.author.as_ref()))?;
            if self.car.cancel.is_cancelled() {
                return Ok(self.side.interrupted());
            }
            match self.advance(&candidate, &tip, log).await? {
                Advance::Moved => {
                    crate::failpoint::hit("after-merge");
                    let commit = candidate.to_string();
                    log_record(log, Record::Merged { integration: integration.to_owned(), commit, train: None });
                    return Ok(Ending::Merged);
                }
                Advance::Stale => log_note(log, format!("{integration} moved meanwhile; merging again")),
                Advance::Ended(ending) => return Ok(ending),
            }
        }
    }
}
