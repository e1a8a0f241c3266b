//! Speculative gating: a merge gated before its turn.
//!
//! With gates, a merge under the lock gates the integration tip plus the
//! task, so a task whose dependents wait pays a gate run twice: once after
//! its agent, once on its merge. Instead, an attempt that goes straight to
//! the merge (no review, no person) takes a place in this process's line
//! when its gates are due, and its gates run on its merge as it will land:
//! its candidate is a merge commit of its work onto the last candidate
//! ahead of it in the line, or onto the tip when it is first. Every place
//! gates its own candidate at once, in its own worktree, beside the
//! others. The line lands in order: a candidate moves the integration
//! branch once everything ahead of it has landed or left, and only if the
//! tip is then the commit it was built on. It then lands without a gate
//! run of its own, and its dependents start at once.
//!
//! Built on something that did not land (a place ahead failed, left, or
//! another process merged first), a candidate is built again on the tip
//! and gated again, before its verdict counts: a gate failure is the
//! task's own only on the tree that would land, so a failure ahead in the
//! line never costs the ones behind a fix round. A place whose work
//! conflicts with what is ahead leaves the line and merges as before,
//! with resolver rounds.
//!
//! Exactly once holds as for any merge: the branch moves under the merge
//! lock, after the fenced store write, by compare-and-swap, to a merge
//! commit that names its task (`merged.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use colony_agents::LogWriter;
use colony_core::record::Record;
use colony_core::{TaskId, TaskSpec};
use colony_git::{MergeOutcome, Oid};
use colony_store::Store;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::integration::Advance;
use super::{MERGE_LOCK, Merge, Queue, Side};
use crate::base::Base;
use crate::base::baseline::GateEnd;
use crate::ending::Ending;
use crate::error::EngineError;
use crate::round::{log_note, log_record};

/// This process's merges gated before their turn, in the order they land.
#[derive(Default)]
pub(crate) struct Line {
    places: std::sync::Mutex<Vec<Entry>>,
    /// Bumped whenever a place changes or leaves.
    changed: watch::Sender<u64>,
    next_id: AtomicU64,
}

struct Entry {
    id: u64,
    integration: String,
    task: TaskId,
    /// The commit the candidate was built on.
    base: Oid,
    candidate: Oid,
}

/// An attempt's place in the line; it leaves when dropped.
pub(crate) struct Place {
    id: u64,
    line: Arc<Line>,
    integration: String,
    /// What its gates ran (or run) on, and what lands.
    pub candidate: Oid,
    /// The commit `candidate` was built on.
    pub base: Oid,
    /// The tasks whose merges were ahead of it when it was built.
    pub ahead: Vec<TaskId>,
}

/// Whether a candidate's gate run counts, once every place ahead of it has
/// landed or left.
pub(crate) enum Verdict {
    /// It was built on the tip: its gates' verdict is the task's own.
    Stands,
    /// It was built on something that did not land: it is built again on
    /// the tip (the place's candidate now), to be gated again.
    Rebuilt,
    /// Its work conflicts with the tip: it leaves the line.
    Conflict,
    Stopped,
}

impl Line {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.places.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// The last candidate in the line for `integration`, with the tasks it
    /// holds.
    fn last(&self, integration: &str) -> Option<(Oid, Vec<TaskId>)> {
        let places = self.lock();
        let ahead: Vec<&Entry> = places.iter().filter(|e| e.integration == integration).collect();
        ahead.last().map(|e| (e.candidate.clone(), ahead.iter().map(|e| e.task.clone()).collect()))
    }

    /// Whether a place of `integration` is ahead of place `id`.
    fn any_ahead(&self, integration: &str, id: u64) -> bool {
        self.lock().iter().take_while(|e| e.id != id).any(|e| e.integration == integration)
    }

    fn update(&self, id: u64, base: &Oid, candidate: &Oid) {
        if let Some(e) = self.lock().iter_mut().find(|e| e.id == id) {
            e.base = base.clone();
            e.candidate = candidate.clone();
        }
        self.bump();
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.line.lock().retain(|e| e.id != self.id);
        self.line.bump();
    }
}

impl Queue {
    /// Whether attempts that go straight to the merge gate it before their
    /// turn: with gates, on one machine, unless `[merge] speculate = false`.
    pub(crate) fn speculating(&self) -> bool {
        self.speculate
    }

    /// A place at the end of the line for the work at `head`, its
    /// candidate built; `None` when the work conflicts with what is ahead
    /// (it merges as before).
    pub(crate) async fn join<S: Store + 'static>(
        &self,
        base: &Base<S>,
        integration: &str,
        spec: &TaskSpec,
        task: &TaskId,
        head: &Oid,
    ) -> Result<Option<Place>, EngineError> {
        loop {
            let (onto, ahead) = match self.line.last(integration) {
                Some(last) => last,
                None => (self.tip(base, integration).await?, Vec::new()),
            };
            let Some(candidate) = self.candidate(base, &onto, head, spec)? else {
                return Ok(None);
            };
            let mut places = self.line.lock();
            let last = places.iter().rev().find(|e| e.integration == integration).map(|e| &e.candidate);
            let unchanged = match last {
                None => ahead.is_empty(),
                Some(last) => !ahead.is_empty() && *last == onto,
            };
            // The line changed meanwhile: build on its end as it is now.
            if !unchanged {
                continue;
            }
            let id = self.line.next_id.fetch_add(1, Ordering::Relaxed);
            places.push(Entry {
                id,
                integration: integration.to_owned(),
                task: task.clone(),
                base: onto.clone(),
                candidate: candidate.clone(),
            });
            drop(places);
            return Ok(Some(Place {
                id,
                line: self.line.clone(),
                integration: integration.to_owned(),
                candidate,
                base: onto,
                ahead,
            }));
        }
    }

    /// Waits until every place ahead of `place` has landed or left, then
    /// says whether its candidate was built on the tip; if not, builds it
    /// again there.
    pub(crate) async fn verdict<S: Store + 'static>(
        &self,
        base: &Base<S>,
        place: &mut Place,
        spec: &TaskSpec,
        head: &Oid,
        cancel: &CancellationToken,
    ) -> Result<Verdict, EngineError> {
        let mut changed = self.line.changed.subscribe();
        loop {
            changed.borrow_and_update();
            if !self.line.any_ahead(&place.integration, place.id) {
                break;
            }
            tokio::select! {
                _ = changed.changed() => {}
                () = cancel.cancelled() => return Ok(Verdict::Stopped),
            }
        }
        let tip = self.tip(base, &place.integration).await?;
        if tip == place.base {
            return Ok(Verdict::Stands);
        }
        let Some(candidate) = self.candidate(base, &tip, head, spec)? else {
            return Ok(Verdict::Conflict);
        };
        self.line.update(place.id, &tip, &candidate);
        place.base = tip;
        place.candidate = candidate;
        place.ahead.clear();
        Ok(Verdict::Rebuilt)
    }

    /// The merge commit of `head` onto `onto`, as it would land; `None` on
    /// a conflict.
    fn candidate<S: Store + 'static>(
        &self,
        base: &Base<S>,
        onto: &Oid,
        head: &Oid,
        spec: &TaskSpec,
    ) -> Result<Option<Oid>, EngineError> {
        let MergeOutcome::Clean { tree } = base.git(|r| r.merge_tree(onto, head))? else {
            return Ok(None);
        };
        let message = super::merged::merge_message(spec);
        Ok(Some(base.git(|r| r.commit_tree(&tree, &[onto, head], &message, base.author.as_ref()))?))
    }
}

impl Place {
    /// What the attempt's log says of it.
    pub(crate) fn record(&self) -> Record {
        Record::Candidate {
            integration: self.integration.clone(),
            ahead: self.ahead.iter().map(ToString::to_string).collect(),
            candidate: self.candidate.to_string(),
        }
    }
}

impl<S: Store + 'static, A: Side> Merge<'_, S, A> {
    /// Lands a candidate whose gates passed: once everything ahead of it
    /// has landed or left, and built again and gated again first if it was
    /// built on something that did not land.
    pub(super) async fn land_in_line(&self, mut place: Place, log: &mut LogWriter) -> Result<Ending, EngineError> {
        let (queue, integration, cancel) = (self.queue, self.integration, &self.car.cancel);
        loop {
            let head = self.task_tip()?;
            match queue.verdict(self.base, &mut place, &self.car.spec, &head, cancel).await? {
                Verdict::Stands => {}
                Verdict::Stopped => return Ok(self.side.interrupted()),
                Verdict::Conflict => {
                    drop(place);
                    log_note(log, format!("its work conflicts with {integration} now; it merges in its turn"));
                    return self.in_turn(None, log).await;
                }
                Verdict::Rebuilt => {
                    log_record(log, place.record());
                    match self.gate_candidate(&place.candidate, log).await? {
                        GateEnd::Passed => continue,
                        GateEnd::Cancelled => return Ok(self.side.interrupted()),
                        GateEnd::OnBase(fails) => return Ok(Ending::OnBase(fails.to_string())),
                        GateEnd::Failed { command, tail } => {
                            return Ok(Ending::Failed(format!(
                                "gate `{command}` failed on the merge with {integration}:\n{tail}"
                            )));
                        }
                    }
                }
            }
            let in_process = tokio::select! {
                gate = queue.merge_gate.lock() => gate,
                () = cancel.cancelled() => return Ok(self.side.interrupted()),
            };
            let lease = self.base.settings.config.run.lease;
            let holder = self.holder();
            let lock = crate::lock::StoreLock::acquire(&self.base.store, MERGE_LOCK, &holder, lease, cancel);
            let Some(lock) = lock.await? else {
                return Ok(self.side.interrupted());
            };
            let landed = self.land(&place, log).await;
            lock.release().await;
            drop(in_process);
            if let Some(ending) = landed? {
                return Ok(ending);
            }
        }
    }

    /// Under the merge lock: moves the integration branch to the place's
    /// candidate if the tip is what it was built on; `None` when not (it
    /// is built again).
    async fn land(&self, place: &Place, log: &mut LogWriter) -> Result<Option<Ending>, EngineError> {
        let integration = self.integration;
        let tip = self.tip().await?;
        if tip != place.base {
            log_note(log, format!("{integration} moved meanwhile; merging again"));
            return Ok(None);
        }
        crate::failpoint::hit("before-merge");
        if self.car.cancel.is_cancelled() {
            return Ok(Some(self.side.interrupted()));
        }
        Ok(match self.advance(&place.candidate, &tip, log).await? {
            Advance::Moved => {
                crate::failpoint::hit("after-merge");
                let commit = place.candidate.to_string();
                log_record(log, Record::Merged { integration: integration.to_owned(), commit, train: None });
                Some(Ending::Merged)
            }
            Advance::Stale => {
                log_note(log, format!("{integration} moved meanwhile; merging again"));
                None
            }
            Advance::Ended(ending) => Some(ending),
        })
    }
}
