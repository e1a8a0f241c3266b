//! The merge queue: an attempt whose checks passed hands its work here,
//! and the queue lands it in the integration branch, one merge at a time
//! across every worker of the store.
//!
//! A merge's turn is this process's gate, then the store's merge lock
//! ([`MERGE_LOCK`]); with gates on one machine, merges that wait at once
//! ride one train instead (`train.rs`). Under the lock, a single merge
//! (`single.rs`) brings the integration tip in (a conflict goes back to
//! the attempt as a resolver round), gates the result, and moves the
//! integration branch. How the branch moves is the one [`Integration`]
//! chosen when the engine is made (`integration.rs`): a compare-and-swap
//! of the local ref, or a lease-checked push to a shared remote. Either
//! way the last fenced store write comes first, and every merge commit
//! names its task (`merged.rs`), so a task merges exactly once.
//!
//! The queue knows the attempt only through [`Side`]: what it merges, its
//! worktree, and how to run a resolver round.

mod conflict;
mod integration;
mod line;
mod merged;
mod single;
mod train;

use std::collections::HashMap;

use colony_agents::LogWriter;
use colony_core::{Phase, TaskId, TaskSpec};
use colony_git::{Oid, TaskTree};
use colony_store::{Store, StoreError};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::base::Base;
use crate::base::baseline::{GateEnd, GateIn};
use crate::ending::Ending;
use crate::error::EngineError;
use crate::ports::Env;
use crate::round::{log_note, log_record};
use crate::settings::Settings;

pub(crate) use integration::Integration;
pub(crate) use line::{Place, Verdict};
use merged::MergedIndex;
use train::{Led, Platform, Ride, Ticket};

/// The store lock that makes merges one at a time, across processes.
pub(crate) const MERGE_LOCK: &str = "merge";

/// Who holds the merge lock for an attempt. Derived, so that recovery can
/// free the lock of an attempt whose process died holding it.
pub(crate) fn merge_holder(worker: &str, task: &TaskId, attempt: u32) -> String {
    format!("{worker}/{task}-a{attempt}")
}

/// One attempt's work, as the queue merges it.
#[derive(Clone)]
pub(crate) struct Car {
    pub task: TaskId,
    pub attempt: u32,
    pub spec: TaskSpec,
    pub branch: String,
    /// The attempt's own: a stopped one is not taken along.
    pub cancel: CancellationToken,
}

/// What the queue needs of the attempt whose work it merges.
pub(crate) trait Side: Sync {
    fn car(&self) -> Car;
    /// The worker that runs it, for the merge lock's holder.
    fn worker(&self) -> &str;
    fn tree(&self) -> &TaskTree;
    /// The environment of its setup commands, agents and gates.
    fn env(&self) -> &Env;
    /// Its task role's gates, run after the project's.
    fn role_gates(&self) -> &[String];
    /// Why it stopped, once its token is cancelled.
    fn interrupted(&self) -> Ending;
    /// Its lease is gone: it stops, and writes nothing more.
    fn lose_lease(&self);
    /// What it does next runs no agent for a while: its worker may take
    /// the next task.
    fn move_on(&self);
    /// Its place in the line, when its gates ran on its merge before its
    /// turn (`line.rs`).
    fn take_place(&self) -> Option<Place>;
    /// A resolver round on `feedback` (the conflict); `Some` ends the
    /// attempt.
    fn resolve(
        &self,
        feedback: &str,
        log: &mut LogWriter,
    ) -> impl Future<Output = Result<Option<Ending>, EngineError>> + Send;
}

/// The merge queue of one engine.
pub(crate) struct Queue {
    integration: Integration,
    /// Waiting merges ride trains: only gates make a merge dear, and on a
    /// shared remote every merge is fenced and pushed on its own.
    trains: bool,
    /// Merges are gated before their turn, in the line (`line.rs`).
    speculate: bool,
    line: std::sync::Arc<line::Line>,
    /// Creating an integration branch is check-then-create; on a shared
    /// remote, fetches into it are queued here too (git cannot update one
    /// ref from two fetches at once).
    branch_gate: Mutex<()>,
    /// This process's merges queue here before the store's merge lock: a
    /// waiter wakes the moment the one before it lets go, instead of at its
    /// next poll of the store.
    merge_gate: Mutex<()>,
    /// Attempts waiting for their turn at `merge_gate`, for a merge train.
    platform: Platform,
    /// The integration tips this process's merges left, by branch.
    tips: std::sync::Mutex<HashMap<String, Oid>>,
    /// Which tasks the integration branches hold merged.
    merged: MergedIndex,
}

/// How the wait for a merge turn ended.
enum Turn<'a> {
    /// This process's merge gate: merge, or lead a train.
    Mine(tokio::sync::MutexGuard<'a, ()>),
    /// A train dealt with this merge.
    Answered(Ride),
    Stopped,
}

impl Queue {
    pub(crate) fn new(settings: &Settings) -> Self {
        let integration = Integration::of(settings);
        let (merge, gated) = (&settings.config.merge, !settings.config.gates.commands.is_empty());
        Queue {
            trains: merge.train && gated && integration.is_local(),
            speculate: merge.speculate && gated && integration.is_local(),
            line: Default::default(),
            integration,
            branch_gate: Mutex::new(()),
            merge_gate: Mutex::new(()),
            platform: Platform::default(),
            tips: std::sync::Mutex::new(HashMap::new()),
            merged: MergedIndex::default(),
        }
    }

    /// The merge commit of `spec`'s task, as specified now, on `tip`'s
    /// line of `integration` (see `merged.rs`).
    pub(crate) fn already_merged<S: Store + 'static>(
        &self,
        base: &Base<S>,
        integration: &str,
        tip: &Oid,
        spec: &TaskSpec,
    ) -> Result<Option<Oid>, EngineError> {
        base.git(|r| self.merged.find(r, integration, tip, spec))
    }

    /// Merges the work of `side` into `integration`: `Merged` once it is
    /// in the branch (the attempt tells the store), else how the attempt
    /// ends.
    pub(crate) async fn merge<S: Store + 'static, A: Side>(
        &self,
        base: &Base<S>,
        side: &A,
        integration: &str,
        log: &mut LogWriter,
    ) -> Result<Ending, EngineError> {
        Merge { base, queue: self, side, car: side.car(), integration }.run(log).await
    }

    /// The tip this process's last merge into `branch` left, if any.
    fn known_tip(&self, branch: &str) -> Option<Oid> {
        self.tips.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(branch).cloned()
    }

    fn remember_tip(&self, branch: &str, tip: &Oid) {
        self.tips.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(branch.to_owned(), tip.clone());
    }

    /// Someone else moved `branch`: read it next time.
    fn forget_tip(&self, branch: &str) {
        self.tips.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(branch);
    }
}

/// One merge under way: the queue, the attempt's side, and what it merges.
struct Merge<'a, S, A> {
    base: &'a Base<S>,
    queue: &'a Queue,
    side: &'a A,
    car: Car,
    integration: &'a str,
}

impl<S: Store + 'static, A: Side> Merge<'_, S, A> {
    fn holder(&self) -> String {
        merge_holder(self.side.worker(), &self.car.task, self.car.attempt)
    }

    async fn run(&self, log: &mut LogWriter) -> Result<Ending, EngineError> {
        let queue = self.queue;
        let place = self.side.take_place();
        // It boards before it says it is merging: whoever sees it merging
        // (the next train's leader, a test) finds it on the platform.
        // A task with gates of its own merges alone: a train's gates are the
        // project's and its leader's.
        let rides = queue.trains && place.is_none() && self.side.role_gates().is_empty();
        let ticket = rides.then(|| queue.platform.board(self.car.clone()));
        let merging = self.base.store.set_phase(&self.car.task, self.car.attempt, Phase::Merging);
        if let Err(e) = self.fenced(merging).await? {
            // A train that took it already finds its lease gone, and
            // leaves it out.
            if let Some(t) = &ticket {
                queue.platform.leave(t);
            }
            return Ok(e);
        }
        queue.integration.publish(self.base, &self.car.branch, log);
        if let Some(place) = place {
            return self.land_in_line(place, log).await;
        }
        // With gates a merge can take a while, none of it an agent's: the
        // worker moves on to its next task. Only where merges ride trains:
        // one at a time, the merges that piled up would wait in arrival
        // order, the critical path's behind the rest (the bench measured
        // 1.86x the bound against 1.50x with the worker kept).
        if queue.trains {
            self.side.move_on();
        }
        self.in_turn(ticket, log).await
    }

    /// The merge in its turn: this process's gate and the store's lock,
    /// or a train.
    async fn in_turn(&self, mut ticket: Option<Ticket>, log: &mut LogWriter) -> Result<Ending, EngineError> {
        let (queue, integration) = (self.queue, self.integration);
        let (in_process, leads) = loop {
            match self.turn(&mut ticket).await {
                Turn::Mine(gate) => break (gate, ticket.is_some()),
                Turn::Answered(Ride::Merged { leader, commit, cars }) => {
                    log_record(log, train::merged_record(integration, &leader, &commit, cars));
                    return Ok(Ending::Merged);
                }
                Turn::Answered(Ride::Alone(why)) => {
                    log_note(log, format!("merging alone: {why}"));
                    ticket = None;
                }
                Turn::Answered(Ride::Again) => ticket = Some(queue.platform.board(self.car.clone())),
                Turn::Stopped => return Ok(self.side.interrupted()),
            }
        };
        let holder = self.holder();
        let lease = self.base.settings.config.run.lease;
        let lock =
            crate::lock::StoreLock::acquire(&self.base.store, MERGE_LOCK, &holder, lease, &self.car.cancel).await?;
        let Some(lock) = lock else {
            return Ok(self.side.interrupted());
        };
        let ending = match leads {
            true => match self.lead_train(log).await {
                Ok(Led::Merged) => Ok(Ending::Merged),
                Ok(Led::Alone) => self.merge_locked(log).await,
                Ok(Led::Ends(ending)) => Ok(ending),
                Err(e) => Err(e),
            },
            false => self.merge_locked(log).await,
        };
        lock.release().await;
        drop(in_process);
        // `Merged` means the work is in the integration branch; the
        // attempt tells the store now that both gates are open, so that the
        // next merge does not wait for it. A crash in between is found by
        // the next attempt's look at the integration branch.
        ending
    }

    /// Waits for this process's merge turn, or, on the platform with a
    /// `ticket`, for a train to carry this merge.
    async fn turn(&self, ticket: &mut Option<Ticket>) -> Turn<'_> {
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
                gate = self.queue.merge_gate.lock() => Woke::Gate(gate),
                ride = answer => Woke::Answer(ride),
                () = self.car.cancel.cancelled() => Woke::Cancelled,
            }
        };
        let platform = &self.queue.platform;
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

    /// A store write fenced by the attempt; a lost lease ends it.
    async fn fenced<T>(
        &self,
        write: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<Result<T, Ending>, EngineError> {
        crate::ending::fenced(write, || self.side.lose_lease()).await
    }

    /// The project's gates, in the attempt's worktree.
    async fn gates(&self, log: &mut LogWriter) -> Result<GateEnd, EngineError> {
        self.base.gates(self.gate_in(), self.integration, log, &self.car.cancel).await
    }

    fn gate_in(&self) -> GateIn<'_> {
        GateIn { tree: self.side.tree(), env: self.side.env(), role_gates: self.side.role_gates() }
    }

    /// The project's gates on `candidate`, checked out in the attempt's
    /// worktree for them (see [`gate_candidate`]).
    async fn gate_candidate(&self, candidate: &Oid, log: &mut LogWriter) -> Result<GateEnd, EngineError> {
        let (branch, cancel) = (&self.car.branch, &self.car.cancel);
        gate_candidate(self.base, self.gate_in(), branch, self.integration, candidate, log, cancel).await
    }

    /// The task branch's tip.
    fn task_tip(&self) -> Result<Oid, EngineError> {
        self.base.branch_tip(&self.car.branch)
    }
}

/// The project's gates on `candidate`, a commit the task branch does not
/// hold: the worktree is detached at it for them, its build output making
/// them quick, and put back on `branch` after.
pub(crate) async fn gate_candidate<S: Store + 'static>(
    base: &Base<S>,
    work: GateIn<'_>,
    branch: &str,
    integration: &str,
    candidate: &Oid,
    log: &mut LogWriter,
    cancel: &CancellationToken,
) -> Result<GateEnd, EngineError> {
    base.git(|r| r.worktree_detach(work.tree, candidate))?;
    let gated = base.gates(work, integration, log, cancel).await;
    base.git(|r| r.worktree_attach(work.tree, branch))?;
    gated
}
