//! Merge trains: the merges that wait at once are gated together.
//!
//! A merge is gated on its candidate under the merge lock, so one at a time
//! a run merges at most one task per gate run; with gates a fifth of a
//! task's length, eight workers spend their time waiting on the queue.
//! Instead, the attempts of this process that reach the merge step while
//! another holds the lock board the [`Platform`]. The next one to get the
//! lock leads: it takes every rider, chains their merges onto the
//! integration tip in memory (`merge-tree` and `commit-tree`, one merge
//! commit per task, each the first parent of the next), checks the last
//! one out in its own worktree (detached; its build output makes the gates
//! quick), gates it once, and moves the branch to it with one
//! compare-and-swap. The tree that lands is the tree that was gated; the
//! merge commits inside a train are not gated one by one.
//!
//! A rider whose merge conflicts with the train, and every rider when the
//! train's gates fail, merges alone afterwards, as it would have without
//! trains: a conflict goes to its agent, and a gate failure lands on the
//! task that causes it. Those never board again.
//!
//! Exactly once: each rider's merge commit names its task (`merged.rs`),
//! as a single merge's does, so a crash between the move and the store's
//! `complete` is found by the task's next attempt in the branch itself.
//! Each rider tells the store itself once its answer comes.
//!
//! Trains run on one machine only; on a shared remote every merge is
//! fenced and pushed on its own (`remote.rs`).

use std::sync::atomic::{AtomicU64, Ordering};

use colony_agents::LogWriter;
use colony_core::{TaskId, TaskSpec};
use colony_git::{CasOutcome, MergeOutcome, Oid, branch_ref};
use colony_store::{Store, StoreError};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::attempt::{Attempt, Ending};
use crate::error::EngineError;
use crate::round::{GateEnd, log_note};

/// This process's attempts waiting for their merge turn.
#[derive(Default)]
pub(crate) struct Platform {
    riders: std::sync::Mutex<Vec<Rider>>,
    next_id: AtomicU64,
}

/// One attempt's merge, as a train carries it.
pub(crate) struct Car {
    pub task: TaskId,
    pub attempt: u32,
    pub spec: TaskSpec,
    pub branch: String,
    /// The attempt's own: a stopped one is not taken along.
    pub cancel: CancellationToken,
}

struct Rider {
    id: u64,
    car: Car,
    answer: oneshot::Sender<Ride>,
}

/// What a rider is told when a train has dealt with it.
#[derive(Debug)]
pub(crate) enum Ride {
    /// Its work is in the integration branch at `candidate`, merged in a
    /// train of `cars` led by `leader`; the store is not told yet.
    Merged { leader: TaskId, candidate: Oid, cars: usize },
    /// Merge alone, for this reason.
    Alone(String),
    /// Not taken this time (the train was too short, or the branch moved
    /// meanwhile): wait for the next turn, and board again.
    Again,
}

/// A place on the platform.
pub(crate) struct Ticket {
    id: u64,
    answer: oneshot::Receiver<Ride>,
}

impl Ticket {
    /// The answer, once a train has taken this rider; a leader that gave
    /// none (it failed) leaves the rider to merge alone.
    pub(crate) async fn answer(&mut self) -> Ride {
        (&mut self.answer).await.unwrap_or_else(|_| Ride::Alone("the train it was on stopped".into()))
    }
}

impl Platform {
    pub(crate) fn board(&self, car: Car) -> Ticket {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer, rx) = oneshot::channel();
        self.lock().push(Rider { id, car, answer });
        Ticket { id, answer: rx }
    }

    /// Takes the ticket's rider off the platform; `false` when a train took
    /// it already (its answer comes, or has come).
    pub(crate) fn leave(&self, ticket: &Ticket) -> bool {
        let mut riders = self.lock();
        let before = riders.len();
        riders.retain(|r| r.id != ticket.id);
        riders.len() < before
    }

    fn take_all(&self) -> Vec<Rider> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Rider>> {
        self.riders.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How leading a train ended for the leader.
pub(crate) enum Led {
    /// The leader's own work is in the integration branch.
    Merged,
    /// The leader merges alone now (it is not in the branch).
    Alone,
    Ends(Ending),
}

impl<S: Store + 'static> Attempt<'_, S> {
    /// This attempt's merge, as a train carries it.
    pub(crate) fn car(&self) -> Car {
        Car {
            task: self.claim.task.clone(),
            attempt: self.claim.attempt,
            spec: self.spec().clone(),
            branch: self.branch(),
            cancel: self.cancel.clone(),
        }
    }

    /// Leads a train of this attempt and whoever waits on the platform,
    /// under the merge lock. With nobody waiting, this is a single merge.
    pub(crate) async fn lead_train(&self, integration: &str, log: &mut LogWriter) -> Result<Led, EngineError> {
        let riders = self.inner.platform.take_all();
        if riders.is_empty() {
            return Ok(Led::Alone);
        }
        let inner = self.inner;
        let tip = self
            .integration_tip(integration)
            .await?
            .ok_or_else(|| EngineError::NoBase { branch: integration.to_owned() })?;
        // The leader's car first, then the riders as they came.
        let mut cars: Vec<(Car, Option<oneshot::Sender<Ride>>)> = vec![(self.car(), None)];
        cars.extend(riders.into_iter().map(|r| (r.car, Some(r.answer))));
        let mut head = tip.clone();
        let mut aboard = Vec::new();
        let mut answers: Vec<(usize, Ride)> = Vec::new();
        for (i, (car, _)) in cars.iter().enumerate() {
            if car.cancel.is_cancelled() {
                answers.push((i, Ride::Again));
                continue;
            }
            let Some(work) = self.inner.git(|r| r.rev_parse(&branch_ref(&car.branch)))? else {
                answers.push((i, Ride::Alone(format!("its branch {} is gone", car.branch))));
                continue;
            };
            if self.inner.git(|r| r.is_ancestor(&work, &head))? {
                answers.push((i, Ride::Alone(format!("{integration} has it already"))));
                continue;
            }
            match self.inner.git(|r| r.merge_tree(&head, &work))? {
                MergeOutcome::Clean { tree } => {
                    let message = crate::merged::merge_message(&car.spec);
                    head =
                        self.inner.git(|r| r.commit_tree(&tree, &[&head, &work], &message, inner.author.as_ref()))?;
                    aboard.push((i, head.clone()));
                }
                MergeOutcome::Conflict { paths, .. } => answers.push((
                    i,
                    Ride::Alone(format!("it conflicts with {integration} or the train in {}", paths.join(", "))),
                )),
            }
        }
        let answer_all = |cars: &mut Vec<(Car, Option<oneshot::Sender<Ride>>)>, answers: Vec<(usize, Ride)>| {
            for (i, ride) in answers {
                if let Some(answer) = cars[i].1.take() {
                    let _ = answer.send(ride);
                }
            }
        };
        if aboard.len() < 2 {
            answers.extend(aboard.iter().map(|(i, _)| (*i, Ride::Again)));
            answer_all(&mut cars, answers);
            return Ok(Led::Alone);
        }
        let names: Vec<String> = aboard.iter().map(|(i, _)| cars[*i].0.task.to_string()).collect();
        log_note(
            log,
            format!("colony: a merge train of {}: {}; the gates run once on {head}", aboard.len(), names.join(", ")),
        );
        self.inner.git(|r| r.worktree_detach(self.tree(), &head))?;
        let gated = self.run_gates(log).await;
        self.inner.git(|r| r.worktree_attach(self.tree(), &self.branch()))?;
        match gated? {
            GateEnd::Passed => {}
            GateEnd::Cancelled => {
                answers.extend(aboard.iter().map(|(i, _)| (*i, Ride::Again)));
                answer_all(&mut cars, answers);
                return Ok(Led::Ends(self.interrupted()));
            }
            GateEnd::Failed { command, .. } => {
                log_note(log, format!("colony: gate `{command}` failed on the train; each merges alone"));
                let why = format!("gate `{command}` failed on the train it was on");
                answers.extend(aboard.iter().map(|(i, _)| (*i, Ride::Alone(why.clone()))));
                answer_all(&mut cars, answers);
                return Ok(Led::Alone);
            }
        }
        // Under the merge lock, an attempt whose lease was taken rides no
        // further (see `Attempt::advance`).
        for (i, _) in &aboard {
            let car = &cars[*i].0;
            match inner.store.heartbeat(&car.task, car.attempt, inner.settings.config.run.lease).await {
                Ok(_) => {}
                Err(StoreError::LeaseLost { .. }) => {
                    log_note(log, format!("colony: {} lost its lease; the train is off", car.task));
                    let lost = *i;
                    answers.extend(aboard.iter().map(|(i, _)| match *i == lost {
                        true => (*i, Ride::Alone("its lease ran out".into())),
                        false => (*i, Ride::Again),
                    }));
                    answer_all(&mut cars, answers);
                    return Ok(Led::Alone);
                }
                Err(e) => return Err(e.into()),
            }
        }
        crate::failpoint::hit("before-train-merge");
        if self.cancel.is_cancelled() {
            answers.extend(aboard.iter().map(|(i, _)| (*i, Ride::Again)));
            answer_all(&mut cars, answers);
            return Ok(Led::Ends(self.interrupted()));
        }
        let integration_ref = branch_ref(integration);
        match self.inner.git(|r| r.update_ref_cas(&integration_ref, &head, &tip))? {
            CasOutcome::Moved => {
                crate::failpoint::hit("after-train-merge");
                inner.remember_tip(integration, &head);
                let merged: Vec<_> = aboard.iter().map(|(i, commit)| (&cars[*i].0.spec, commit)).collect();
                inner.merged.moved(integration, &tip, &head, &merged);
                let leader = &self.claim.task;
                answers.extend(aboard.iter().map(|(i, _)| {
                    (*i, Ride::Merged { leader: leader.clone(), candidate: head.clone(), cars: aboard.len() })
                }));
                answer_all(&mut cars, answers);
                log_note(log, format!("colony: merged the train into {integration} at {head}"));
                Ok(if aboard.first().is_some_and(|(i, _)| *i == 0) { Led::Merged } else { Led::Alone })
            }
            CasOutcome::Stale { .. } => {
                inner.forget_tip(integration);
                log_note(log, format!("colony: {integration} moved meanwhile; the train is off"));
                answers.extend(aboard.iter().map(|(i, _)| (*i, Ride::Again)));
                answer_all(&mut cars, answers);
                Ok(Led::Alone)
            }
        }
    }
}
