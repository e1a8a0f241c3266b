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
use colony_core::TaskId;
use colony_core::record::{self, Record};
use colony_git::{CasOutcome, MergeOutcome, Oid, branch_ref};
use colony_store::{Store, StoreError};
use tokio::sync::oneshot;

use super::{Car, MERGE_LOCK, Merge, Side};
use crate::base::baseline::{FailsOnBase, GateEnd};
use crate::ending::Ending;
use crate::error::EngineError;
use crate::round::{log_note, log_record};

/// This process's attempts waiting for their merge turn.
#[derive(Default)]
pub(crate) struct Platform {
    riders: std::sync::Mutex<Vec<Rider>>,
    next_id: AtomicU64,
}

struct Rider {
    id: u64,
    car: Car,
    answer: oneshot::Sender<Ride>,
}

/// What a rider is told when a train has dealt with it.
#[derive(Debug)]
pub(crate) enum Ride {
    /// Its work is in the integration branch with its own merge `commit`,
    /// merged in a train of `cars` led by `leader`; the store is not told
    /// yet.
    Merged { leader: TaskId, commit: Oid, cars: usize },
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

impl<S: Store + 'static, A: Side> Merge<'_, S, A> {
    /// Leads a train of this attempt and whoever waits on the platform,
    /// under the merge lock. With nobody waiting, this is a single merge.
    pub(super) async fn lead_train(&self, log: &mut LogWriter) -> Result<Led, EngineError> {
        let riders = self.queue.platform.take_all();
        if riders.is_empty() {
            return Ok(Led::Alone);
        }
        let (inner, integration) = (self.base, self.integration);
        let tip = self.tip().await?;
        // The leader's car first, then the riders as they came.
        let mut cars: Vec<(Car, Option<oneshot::Sender<Ride>>)> = vec![(self.car.clone(), None)];
        cars.extend(riders.into_iter().map(|r| (r.car, Some(r.answer))));
        let mut head = tip.clone();
        let mut aboard = Vec::new();
        let mut answers: Vec<(usize, Ride)> = Vec::new();
        for (i, (car, _)) in cars.iter().enumerate() {
            if car.cancel.is_cancelled() {
                answers.push((i, Ride::Again));
                continue;
            }
            let Some(work) = self.base.git(|r| r.rev_parse(&branch_ref(&car.branch)))? else {
                answers.push((i, Ride::Alone(format!("its branch {} is gone", car.branch))));
                continue;
            };
            if self.base.git(|r| r.is_ancestor(&work, &head))? {
                answers.push((i, Ride::Alone(format!("{integration} has it already"))));
                continue;
            }
            match self.base.git(|r| r.merge_tree(&head, &work))? {
                MergeOutcome::Clean { tree } => {
                    let message = super::merged::merge_message(&car.spec);
                    head = self.base.git(|r| r.commit_tree(&tree, &[&head, &work], &message, inner.author.as_ref()))?;
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
        log_record(log, Record::Train { riders: names, candidate: head.to_string() });
        match self.gate_candidate(&head, log).await? {
            GateEnd::Passed => {}
            GateEnd::Cancelled => {
                answers.extend(aboard.iter().map(|(i, _)| (*i, Ride::Again)));
                answer_all(&mut cars, answers);
                return Ok(Led::Ends(self.side.interrupted()));
            }
            // One that fails on the integration branch too is found by
            // each rider merging alone.
            GateEnd::Failed { command, .. } | GateEnd::OnBase(FailsOnBase { command, .. }) => {
                log_note(log, format!("gate `{command}` failed on the train; each merges alone"));
                let why = format!("gate `{command}` failed on the train it was on");
                answers.extend(aboard.iter().map(|(i, _)| (*i, Ride::Alone(why.clone()))));
                answer_all(&mut cars, answers);
                return Ok(Led::Alone);
            }
        }
        // Under the merge lock, each rider's last fenced write, as a single
        // merge's (see `Attempt::advance`): one whose lease was taken rides
        // no further, and each one's own merge commit is recorded.
        let holder = self.holder();
        for (i, commit) in &aboard {
            let car = &cars[*i].0;
            let fenced = inner.store.fence_merge(
                &car.task,
                car.attempt,
                inner.settings.config.run.lease,
                (MERGE_LOCK, &holder),
                commit.as_str(),
            );
            let lost = match fenced.await {
                Ok(()) => continue,
                Err(StoreError::LeaseLost { .. }) => Some(*i),
                Err(StoreError::LockLost { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            log_note(
                log,
                match lost {
                    Some(_) => format!("{} lost its lease; the train is off", car.task),
                    None => "the merge lock lapsed; the train is off".to_owned(),
                },
            );
            answers.extend(aboard.iter().map(|(i, _)| match Some(*i) == lost {
                true => (*i, Ride::Alone("its lease ran out".into())),
                false => (*i, Ride::Again),
            }));
            answer_all(&mut cars, answers);
            return Ok(Led::Alone);
        }
        crate::failpoint::hit("before-train-merge");
        if self.car.cancel.is_cancelled() {
            answers.extend(aboard.iter().map(|(i, _)| (*i, Ride::Again)));
            answer_all(&mut cars, answers);
            return Ok(Led::Ends(self.side.interrupted()));
        }
        let integration_ref = branch_ref(integration);
        match self.base.git(|r| r.update_ref_cas(&integration_ref, &head, &tip))? {
            CasOutcome::Moved => {
                crate::failpoint::hit("after-train-merge");
                self.queue.remember_tip(integration, &head);
                let merged: Vec<_> = aboard.iter().map(|(i, commit)| (&cars[*i].0.spec, commit)).collect();
                self.queue.merged.moved(integration, &tip, &head, &merged);
                let (leader, count) = (&self.car.task, aboard.len());
                answers.extend(aboard.iter().map(|(i, commit)| {
                    (*i, Ride::Merged { leader: leader.clone(), commit: commit.clone(), cars: count })
                }));
                answer_all(&mut cars, answers);
                // The leader's own answer, when it rode: it is in the branch.
                match aboard.first() {
                    Some((0, commit)) => {
                        log_record(log, merged_record(integration, leader, commit, count));
                        Ok(Led::Merged)
                    }
                    _ => Ok(Led::Alone),
                }
            }
            CasOutcome::Stale { .. } => {
                self.queue.forget_tip(integration);
                log_note(log, format!("{integration} moved meanwhile; the train is off"));
                answers.extend(aboard.iter().map(|(i, _)| (*i, Ride::Again)));
                answer_all(&mut cars, answers);
                Ok(Led::Alone)
            }
        }
    }
}

/// The record of a task's merge that a train carried.
pub(super) fn merged_record(integration: &str, leader: &TaskId, commit: &Oid, cars: usize) -> Record {
    Record::Merged {
        integration: integration.to_owned(),
        commit: commit.to_string(),
        train: Some(record::Ride { leader: leader.to_string(), cars }),
    }
}
