//! colony's store logic, written once over [`Tx`].
//!
//! Each function runs inside one transaction: it loads the rows it changes
//! (locked), asks [`Task::apply`] for each new state, writes the projection,
//! then appends the events last. Dependents are settled in the same
//! transaction, so "a dep failed but its dependent is still ready" is never
//! visible to anyone.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use colony_core::config::Followups;
use colony_core::dag::Dag;
use colony_core::event::Proposal;
use colony_core::plan::{Judged, Proposed};
use colony_core::ports::Ports;
use colony_core::state::InvalidTransition;
use colony_core::{EventKind, Millis, Phase, Plan, PlanName, Task, TaskId, TaskSpec, TaskState, TaskStatus, settle};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::tx::{NewTask, Result, Tx};
use crate::types::{AddOptions, AddReport, AgentWait, Claim, Rescued};

/// Events collected during a transaction, appended at its end.
#[derive(Default)]
pub(crate) struct Log(Vec<(Option<TaskId>, EventKind)>);

impl Log {
    fn task(&mut self, id: &TaskId, kind: EventKind) {
        self.0.push((Some(id.clone()), kind));
    }

    fn global(&mut self, kind: EventKind) {
        self.0.push((None, kind));
    }

    pub(crate) async fn flush<T: Tx>(self, tx: &mut T, now: Millis) -> Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        tx.append(&self.0, now).await
    }
}

/// Whether an event leaves its task claimable now: idle workers of every
/// process sharing the store are woken for it (PostgreSQL's NOTIFY).
pub(crate) fn wakes_claimers(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Ready
            | EventKind::Released { .. }
            | EventKind::LeaseExpired { retry_at: Some(_), .. }
            | EventKind::Killed { retry_at: Some(_), .. }
    )
}

pub(crate) fn millis(d: Duration) -> Millis {
    d.as_millis().min(i64::MAX as u128) as Millis
}

async fn must_load<T: Tx>(tx: &mut T, id: &str) -> Result<Task> {
    tx.load(id, true).await?.ok_or_else(|| StoreError::NoSuchTask(id.to_owned()))
}

/// Applies `event` to `task`, saves it and logs the event.
async fn transition<T: Tx>(tx: &mut T, task: &Task, event: EventKind, now: Millis, log: &mut Log) -> Result<Task> {
    let next = task.apply(&event).map_err(StoreError::from_transition)?;
    tx.save(&next, now).await?;
    log.task(&task.id, event);
    Ok(next)
}

/// Brings a waiting task in line with its dependencies. Returns whether it
/// became blocked or unblocked: the only changes its own dependents see,
/// since they wait for it to be done either way.
async fn settle_one<T: Tx>(tx: &mut T, id: &str, now: Millis, log: &mut Log) -> Result<bool> {
    let task = must_load(tx, id).await?;
    settle_locked(tx, task, now, log).await
}

/// [`settle_one`] for a task already loaded under its row lock. The lock
/// is taken before its deps are read: see the PostgreSQL module doc.
async fn settle_locked<T: Tx>(tx: &mut T, mut task: Task, now: Millis, log: &mut Log) -> Result<bool> {
    if !task.status().is_waiting() {
        return Ok(false);
    }
    let deps = tx.dep_tasks(task.id.as_str()).await?;
    let dep_refs: Vec<&Task> = deps.iter().collect();
    let mut blocking_changed = false;
    // Blocked -> pending -> ready takes two steps.
    while let Some(event) = settle(&task, &dep_refs) {
        blocking_changed |= matches!(event, EventKind::Blocked { .. } | EventKind::Unblocked);
        task = transition(tx, &task, event, now, log).await?;
    }
    Ok(blocking_changed)
}

async fn must_load_unlocked<T: Tx>(tx: &mut T, id: &str) -> Result<Task> {
    tx.load(id, false).await?.ok_or_else(|| StoreError::NoSuchTask(id.to_owned()))
}

/// Settles everything downstream of `from`, as far as a block (or its
/// lifting) reaches.
async fn cascade<T: Tx>(tx: &mut T, from: &TaskId, now: Millis, log: &mut Log) -> Result<()> {
    let mut queue = VecDeque::from([from.clone()]);
    while let Some(id) = queue.pop_front() {
        for dependent in tx.dependents_locked(id.as_str()).await? {
            let dependent_id = dependent.id.clone();
            if settle_locked(tx, dependent, now, log).await? {
                queue.push_back(dependent_id);
            }
        }
    }
    Ok(())
}

/// The part of a plan stored beside its tasks.
#[derive(Serialize, Deserialize, PartialEq)]
pub(crate) struct PlanHead {
    pub name: colony_core::PlanName,
    #[serde(default)]
    pub base: Option<String>,
    #[serde(default)]
    pub defaults: colony_core::Defaults,
}

pub(crate) async fn add_plan<T: Tx>(
    tx: &mut T,
    plan: &Plan,
    source: &str,
    opts: AddOptions,
    now: Millis,
) -> Result<AddReport> {
    let mut log = Log::default();
    let head = PlanHead { name: plan.name.clone(), base: plan.base.clone(), defaults: plan.defaults.clone() };
    let head_json = serde_json::to_string(&head).expect("a plan head always serializes");
    let old_head = tx.plan_head(plan.name.as_str()).await?;
    let mut report = AddReport { plan: plan.name.to_string(), new_plan: old_head.is_none(), ..Default::default() };
    match &old_head {
        None => {
            log.global(EventKind::PlanAdded { plan: plan.name.clone(), tasks: plan.tasks.len(), source: source.into() })
        }
        Some(old) if *old != head_json => {
            report.plan_updated = true;
            log.global(EventKind::PlanUpdated { plan: plan.name.clone(), source: source.into() });
        }
        Some(_) => {}
    }
    tx.put_plan(&plan.name, source, &head_json, now).await?;

    let weights = Dag::new(&plan.tasks).critical_path().expect("a validated plan has no cycle");
    let mut existing: HashMap<&str, Task> = HashMap::new();
    for spec in &plan.tasks {
        if let Some(task) = tx.load(spec.id.as_str(), true).await? {
            if task.plan != plan.name {
                return Err(StoreError::IdTaken { task: spec.id.clone(), other: task.plan });
            }
            existing.insert(spec.id.as_str(), task);
        }
    }
    let started: Vec<(TaskId, TaskStatus)> = plan
        .tasks
        .iter()
        .filter_map(|spec| {
            let task = existing.get(spec.id.as_str())?;
            let changed = task.spec_digest != spec.digest() || task.max_attempts != plan.max_attempts(spec);
            (changed && !task.status().is_waiting()).then(|| (spec.id.clone(), task.status()))
        })
        .collect();
    if !started.is_empty() && !opts.force {
        return Err(StoreError::StartedTasksChanged { plan: plan.name.clone(), tasks: started });
    }

    let new_count = plan.tasks.iter().filter(|s| !existing.contains_key(s.id.as_str())).count();
    let mut ord = tx.next_ords(new_count as i64).await?;
    let mut touched = Vec::new();
    for (spec, weight) in plan.tasks.iter().zip(weights) {
        let max_attempts = plan.max_attempts(spec);
        match existing.get(spec.id.as_str()) {
            None => {
                let added =
                    EventKind::TaskAdded { plan: plan.name.clone(), spec: spec.clone(), max_attempts, proposal: None };
                let task = Task::added(spec.id.clone(), &added).map_err(StoreError::from_transition)?;
                tx.insert_task(NewTask { task: &task, spec, ord, path_weight: weight }, now).await?;
                ord += 1;
                log.task(&spec.id, added);
                report.added.push(spec.id.clone());
                touched.push(spec);
            }
            Some(task) if task.spec_digest != spec.digest() || task.max_attempts != max_attempts => {
                let forced = !task.status().is_waiting();
                let event = EventKind::TaskUpdated { spec: spec.clone(), max_attempts, forced };
                if let Some(lease) = task.state.lease() {
                    let why = format!("plan updated with --force while {} held it", lease.worker);
                    tx.end_attempt(&task.id, task.attempt, "abandoned", Some(&why), now).await?;
                }
                transition(tx, task, event, now, &mut log).await?;
                // A forced task starts over: no decision on old work stands.
                tx.take_decision(&task.id).await?;
                tx.set_spec(&spec.id, spec).await?;
                tx.set_path_weight(&spec.id, weight).await?;
                report.updated.push(spec.id.clone());
                touched.push(spec);
            }
            Some(_) => {
                tx.set_path_weight(&spec.id, weight).await?;
                report.unchanged += 1;
            }
        }
    }
    for spec in &touched {
        tx.replace_deps(&spec.id, &spec.deps).await?;
    }
    // Settle in plan order after every dep row exists; then let changes flow
    // downstream (a forced task's dependents wait for it again).
    let order = Dag::new(&plan.tasks).topo_order().expect("a validated plan has no cycle");
    for i in order {
        let spec = &plan.tasks[i];
        if touched.iter().any(|t| t.id == spec.id) {
            settle_one(tx, spec.id.as_str(), now, &mut log).await?;
        }
        // Unchanged tasks depend only on tasks that existed before, so only
        // an updated task can have dependents outside `touched`.
        if report.updated.contains(&spec.id) {
            cascade(tx, &spec.id, now, &mut log).await?;
        }
    }
    let in_file: std::collections::HashSet<&str> = plan.tasks.iter().map(|t| t.id.as_str()).collect();
    report.not_in_file =
        tx.plan_task_ids(plan.name.as_str()).await?.into_iter().filter(|id| !in_file.contains(id.as_str())).collect();
    log.flush(tx, now).await?;
    Ok(report)
}

/// How far down the ready queue a claim looks for a task whose files do
/// not overlap a running task's.
const CLAIM_LOOKAHEAD: i64 = 64;

/// Which ready tasks a claim may take: given the task's plan and spec.
pub type Accept<'a> = &'a (dyn Fn(&PlanName, &TaskSpec) -> bool + Sync);

/// Every ready task: the [`Accept`] of a plain claim.
pub(crate) fn any_task(_: &PlanName, _: &TaskSpec) -> bool {
    true
}

/// The first ready task that `accept` takes and whose declared files
/// overlap no leased task's, and its spec, locked.
async fn pick_claimable<T: Tx>(tx: &mut T, now: Millis, accept: Accept<'_>) -> Result<Option<(Task, TaskSpec)>> {
    let Some(first) = tx.pick_ready(now).await? else {
        return Ok(None);
    };
    let first_id = first.0.id.clone();
    let mut candidate = Some(first);
    let mut leased: Option<Vec<Vec<String>>> = None;
    let mut further: Option<std::vec::IntoIter<TaskId>> = None;
    loop {
        if let Some((task, spec)) = candidate.take()
            && accept(&task.plan, &spec)
        {
            if spec.files.is_empty() {
                return Ok(Some((task, spec)));
            }
            if leased.is_none() {
                // Claims of tasks with files queue here, so what is leased
                // cannot change between this look and the claim's commit.
                tx.lock_file_claims().await?;
                leased = Some(tx.leased_specs().await?.into_iter().map(|s| s.files).collect());
            }
            let clashes = leased.iter().flatten().any(|files| colony_core::files::overlap(&spec.files, files));
            if !clashes {
                return Ok(Some((task, spec)));
            }
        }
        if further.is_none() {
            further = Some(tx.ready_ids(now, CLAIM_LOOKAHEAD).await?.into_iter());
        }
        let Some(id) = further.as_mut().and_then(Iterator::next) else {
            return Ok(None);
        };
        if id != first_id {
            candidate = tx.lock_ready(&id, now).await?;
        }
    }
}

pub(crate) async fn claim<T: Tx>(
    tx: &mut T,
    worker: &str,
    lease: Duration,
    accept: Accept<'_>,
    now: Millis,
) -> Result<Option<Claim>> {
    let Some((task, spec)) = pick_claimable(tx, now, accept).await? else {
        return Ok(None);
    };
    let id = task.id.clone();
    let lease_until = now + millis(lease);
    let attempt = task.attempt + 1;
    let mut log = Log::default();
    let claimed = EventKind::Claimed { attempt, worker: worker.to_owned(), lease_until };
    let task = transition(tx, &task, claimed, now, &mut log).await?;
    tx.start_attempt(&id, attempt, worker, now).await?;
    // Read, not taken: an attempt given back before it carried the
    // decision out (stopped, its lease lost, its agent locked out) leaves
    // it to the next.
    let decision = tx.decision(&id).await?;
    log.flush(tx, now).await?;
    Ok(Some(Claim { task: id, plan: task.plan, attempt, tries: task.tries, lease_until, spec, decision }))
}

pub(crate) async fn heartbeat<T: Tx>(
    tx: &mut T,
    id: &TaskId,
    attempt: u32,
    lease: Duration,
    now: Millis,
) -> Result<Millis> {
    let until = now + millis(lease);
    if tx.extend_lease(id, attempt, until).await? == 1 {
        return Ok(until);
    }
    let task = must_load_unlocked(tx, id.as_str()).await?;
    Err(StoreError::LeaseLost { task: id.clone(), attempt, current: task.attempt, status: task.status() })
}

/// Whether a port can be bound on this machine now: asked of each port of
/// a block before it is handed out (another program, or a colony on
/// another store, may be holding it).
pub type Bindable<'a> = &'a (dyn Fn(u16) -> bool + Sync);

/// The lowest block of `count` ports in `range` free of every live block
/// and bindable, under the ports' queue.
async fn free_block<T: Tx>(
    tx: &mut T,
    range: Ports,
    count: u16,
    bindable: Bindable<'_>,
    now: Millis,
) -> Result<Option<Ports>> {
    tx.lock_ports().await?;
    let live = tx.live_ports(now).await?;
    Ok(colony_core::ports::lowest_free(range, count, &live, bindable))
}

/// Gives the live attempt a block of `count` ports of `range`, recorded on
/// it; `None` when no block is free. Fenced: a lost lease takes none.
pub(crate) async fn take_ports<T: Tx>(
    tx: &mut T,
    id: &TaskId,
    attempt: u32,
    (range, count): (Ports, u16),
    bindable: Bindable<'_>,
    now: Millis,
) -> Result<Option<Ports>> {
    let task = must_load(tx, id.as_str()).await?;
    if task.attempt != attempt || task.state.lease().is_none_or(|l| l.until < now) {
        return Err(StoreError::LeaseLost { task: id.clone(), attempt, current: task.attempt, status: task.status() });
    }
    let block = free_block(tx, range, count, bindable, now).await?;
    if let Some(block) = block {
        tx.set_attempt_ports(id, attempt, block).await?;
    }
    Ok(block)
}

/// Gives `holder`, which is not an attempt, a block of `count` ports of
/// `range` until `until`, in place of any it held; `None` when no block
/// is free.
pub(crate) async fn hold_ports<T: Tx>(
    tx: &mut T,
    holder: &str,
    (range, count): (Ports, u16),
    until: Millis,
    bindable: Bindable<'_>,
    now: Millis,
) -> Result<Option<Ports>> {
    tx.delete_port_hold(holder).await?;
    let block = free_block(tx, range, count, bindable, now).await?;
    if let Some(block) = block {
        tx.put_port_hold(holder, block, until).await?;
    }
    Ok(block)
}

/// The last fenced write before an attempt publishes its merge: `holder`
/// must still hold lock `lock` and the attempt its lease (extended here);
/// `commit` is recorded as what the attempt merges.
pub(crate) async fn fence_merge<T: Tx>(
    tx: &mut T,
    id: &TaskId,
    attempt: u32,
    lease: Duration,
    lock: (&str, &str),
    commit: &str,
    now: Millis,
) -> Result<()> {
    let (name, holder) = lock;
    if !tx.holds_lock(name, holder, now).await? {
        return Err(StoreError::LockLost { name: name.to_owned(), holder: holder.to_owned() });
    }
    heartbeat(tx, id, attempt, lease, now).await?;
    tx.set_merge_commit(id, attempt, commit).await
}

/// Whether `task` is where `attempt`'s write would have put it: a write
/// tried again after its answer was lost finds its own change.
fn made_already(task: &Task, attempt: u32, status: TaskStatus) -> bool {
    task.attempt == attempt && task.status() == status
}

/// Moves the attempt to `phase`. `retried`: an earlier try may have
/// committed unseen, so the task found in that phase already counts as
/// moved by it.
pub(crate) async fn set_phase<T: Tx>(
    tx: &mut T,
    id: &TaskId,
    attempt: u32,
    phase: Phase,
    retried: bool,
    now: Millis,
) -> Result<()> {
    let task = must_load(tx, id.as_str()).await?;
    let status = match phase {
        Phase::Checking => TaskStatus::Checking,
        Phase::Merging => TaskStatus::Merging,
    };
    if retried && made_already(&task, attempt, status) {
        return Ok(());
    }
    let mut log = Log::default();
    transition(tx, &task, EventKind::PhaseChanged { attempt, phase }, now, &mut log).await?;
    log.flush(tx, now).await
}

/// Records that the attempt's agent runs another round, and why.
pub(crate) async fn feedback_round<T: Tx>(
    tx: &mut T,
    id: &TaskId,
    attempt: u32,
    round: u32,
    cause: colony_core::RoundCause,
    now: Millis,
) -> Result<()> {
    let task = must_load(tx, id.as_str()).await?;
    let mut log = Log::default();
    transition(tx, &task, EventKind::FeedbackRound { attempt, round, cause }, now, &mut log).await?;
    log.flush(tx, now).await
}

/// Records an event of the leased attempt that changes no state.
pub(crate) async fn record_fenced<T: Tx>(tx: &mut T, id: &TaskId, event: EventKind, now: Millis) -> Result<()> {
    let task = must_load(tx, id.as_str()).await?;
    let mut log = Log::default();
    transition(tx, &task, event, now, &mut log).await?;
    log.flush(tx, now).await
}

/// Ends a leased attempt whose checks passed: it waits for a person.
/// `retried` as for [`set_phase`].
pub(crate) async fn request_approval<T: Tx>(
    tx: &mut T,
    id: &TaskId,
    attempt: u32,
    retried: bool,
    now: Millis,
) -> Result<()> {
    let task = must_load(tx, id.as_str()).await?;
    if retried && made_already(&task, attempt, TaskStatus::AwaitingApproval) {
        return Ok(());
    }
    let mut log = Log::default();
    transition(tx, &task, EventKind::ApprovalRequested { attempt }, now, &mut log).await?;
    tx.end_attempt(id, attempt, "awaiting_approval", None, now).await?;
    // New work waits for a new decision.
    tx.take_decision(id).await?;
    log.flush(tx, now).await
}

/// Ends a leased attempt whose agent asked a person `question`: the task
/// waits for the answer until `until`. `retried` as for [`set_phase`].
pub(crate) async fn request_input<T: Tx>(
    tx: &mut T,
    id: &TaskId,
    attempt: u32,
    question: &str,
    until: Millis,
    retried: bool,
    now: Millis,
) -> Result<()> {
    let task = must_load(tx, id.as_str()).await?;
    if retried && made_already(&task, attempt, TaskStatus::AwaitingInput) {
        return Ok(());
    }
    let mut log = Log::default();
    let event = EventKind::InputRequested { attempt, question: question.to_owned(), until };
    transition(tx, &task, event, now, &mut log).await?;
    tx.end_attempt(id, attempt, "awaiting_input", None, now).await?;
    tx.take_decision(id).await?;
    log.flush(tx, now).await
}

/// A person's answer to the question a task's agent asked: the task is
/// ready again, and its next attempt takes the answer to the agent.
pub(crate) async fn answer<T: Tx>(tx: &mut T, id: &TaskId, text: &str, now: Millis) -> Result<()> {
    let task = must_load(tx, id.as_str()).await?;
    let TaskState::AwaitingInput { question, .. } = &task.state else {
        return Err(StoreError::NotAllowed(format!(
            "task {id} is {}, not awaiting input; only a task whose agent asked a question (`colony status` \
             lists them) can be answered",
            task.status()
        )));
    };
    let attempt = task.attempt;
    let decision =
        crate::types::Decision { attempt, feedback: Some(text.to_owned()), question: Some(question.clone()) };
    let mut log = Log::default();
    transition(tx, &task, EventKind::Answered { attempt, answer: text.to_owned() }, now, &mut log).await?;
    tx.put_decision(id, &decision).await?;
    log.flush(tx, now).await
}

/// A person's decision on a task awaiting approval: `None` approves it,
/// `Some(feedback)` sends it back to its agent.
pub(crate) async fn decide<T: Tx>(tx: &mut T, id: &TaskId, feedback: Option<&str>, now: Millis) -> Result<()> {
    let task = must_load(tx, id.as_str()).await?;
    if task.status() == TaskStatus::Proposed {
        return decide_proposal(tx, task, feedback, now).await;
    }
    if task.status() != TaskStatus::AwaitingApproval {
        return Err(StoreError::NotAllowed(format!(
            "task {id} is {}, not awaiting approval; only a task whose checks passed and that waits for a person, \
             or a proposed follow-up, can be {}",
            task.status(),
            if feedback.is_some() { "rejected" } else { "approved" }
        )));
    }
    let attempt = task.attempt;
    let event = match feedback {
        None => EventKind::Approved { attempt },
        Some(text) => EventKind::Rejected { attempt, feedback: text.to_owned() },
    };
    let mut log = Log::default();
    transition(tx, &task, event, now, &mut log).await?;
    let decision = crate::types::Decision { attempt, feedback: feedback.map(str::to_owned), question: None };
    tx.put_decision(id, &decision).await?;
    log.flush(tx, now).await
}

/// A person's decision on a proposed follow-up: approved, it joins the
/// plan's work; dropped (with why), so are the proposals that depend on it.
async fn decide_proposal<T: Tx>(tx: &mut T, task: Task, feedback: Option<&str>, now: Millis) -> Result<()> {
    let mut log = Log::default();
    let Some(why) = feedback else {
        transition(tx, &task, EventKind::Approved { attempt: 0 }, now, &mut log).await?;
        settle_one(tx, task.id.as_str(), now, &mut log).await?;
        return log.flush(tx, now).await;
    };
    let mut queue = VecDeque::from([(task.id, why.to_owned())]);
    while let Some((id, why)) = queue.pop_front() {
        let task = must_load(tx, id.as_str()).await?;
        if task.status() != TaskStatus::Proposed {
            continue;
        }
        transition(tx, &task, EventKind::Rejected { attempt: 0, feedback: why }, now, &mut log).await?;
        for dependent in tx.dependents_locked(id.as_str()).await? {
            if dependent.status() == TaskStatus::Proposed {
                queue.push_back((dependent.id, format!("it depends on {id}, which was dropped")));
            }
        }
        cascade(tx, &id, now, &mut log).await?;
    }
    log.flush(tx, now).await
}

/// Keeps a reviewer's answer on a round of an attempt: `review` is its
/// `review_recorded` event.
pub(crate) async fn record_review<T: Tx>(tx: &mut T, id: &TaskId, review: EventKind, now: Millis) -> Result<()> {
    let task = must_load(tx, id.as_str()).await?;
    let mut log = Log::default();
    transition(tx, &task, review, now, &mut log).await?;
    log.flush(tx, now).await
}

/// Records that the user's checkout changed while the attempt's agent ran.
pub(crate) async fn record_checkout_change<T: Tx>(
    tx: &mut T,
    id: &TaskId,
    attempt: u32,
    changes: &[String],
    now: Millis,
) -> Result<()> {
    let task = must_load(tx, id.as_str()).await?;
    let mut log = Log::default();
    let event = EventKind::CheckoutChanged { attempt, changes: changes.to_vec() };
    transition(tx, &task, event, now, &mut log).await?;
    log.flush(tx, now).await
}

/// Records that a round of the attempt found `wait.agent` unable to take
/// work, with its event. A wait for a person is not shortened by a rate
/// limit, and of two rate limits the later end is kept.
pub(crate) async fn agent_waiting<T: Tx>(
    tx: &mut T,
    id: &TaskId,
    attempt: u32,
    wait: &AgentWait,
    now: Millis,
) -> Result<()> {
    let task = must_load(tx, id.as_str()).await?;
    let kept = match tx.agent_wait(&wait.agent).await? {
        Some(old) if old.ends_at.is_none() && wait.ends_at.is_some() => old,
        Some(old) if old.ends_at > wait.ends_at && wait.ends_at.is_some() => {
            AgentWait { ends_at: old.ends_at, ..wait.clone() }
        }
        _ => wait.clone(),
    };
    tx.put_agent_wait(&kept).await?;
    let mut log = Log::default();
    let wait_ms = kept.ends_at.map(|end| end.saturating_sub(now).max(0) as u64);
    let event = EventKind::AgentWaiting { attempt, agent: kept.agent.clone(), reason: kept.reason.clone(), wait_ms };
    transition(tx, &task, event, now, &mut log).await?;
    log.flush(tx, now).await
}

/// Adds a round's spend to its attempt, with its event.
pub(crate) async fn record_usage<T: Tx>(
    tx: &mut T,
    id: &TaskId,
    attempt: u32,
    usage: colony_core::Usage,
    now: Millis,
) -> Result<()> {
    let task = must_load(tx, id.as_str()).await?;
    let mut log = Log::default();
    transition(tx, &task, EventKind::UsageRecorded { attempt, usage }, now, &mut log).await?;
    tx.add_usage(id, attempt, &usage).await?;
    log.flush(tx, now).await
}

pub(crate) async fn complete<T: Tx>(tx: &mut T, id: &TaskId, attempt: u32, now: Millis) -> Result<()> {
    let task = must_load(tx, id.as_str()).await?;
    let mut log = Log::default();
    transition(tx, &task, EventKind::Completed { attempt }, now, &mut log).await?;
    tx.end_attempt(id, attempt, "done", None, now).await?;
    // Approved work merges in a later attempt than the one that made it.
    let made_by = tx.take_decision(id).await?.map_or(attempt, |decision| decision.attempt);
    cascade(tx, id, now, &mut log).await?;
    if let Some(json) = tx.followups(id, made_by).await? {
        let proposed: Proposed = crate::row::json(format!("the follow-ups of task {id}"), &json)?;
        let (judged, depth) = judge_followups(tx, &task, &proposed).await?;
        if let Some(plan) = &judged.plan {
            let proposal = Proposal {
                by: id.clone(),
                attempt: made_by,
                depth: depth + 1,
                held: proposed.mode == Followups::Approve,
            };
            add_followups(tx, plan, &judged.added, &proposal, now, &mut log).await?;
        }
        if !judged.dropped.is_empty() {
            log.task(id, EventKind::FollowupsDropped { attempt: made_by, dropped: judged.dropped });
        }
    }
    log.flush(tx, now).await
}

/// Keeps the follow-ups an attempt's agent proposed, to be added when its
/// work merges, and says what would become of them now.
pub(crate) async fn record_followups<T: Tx>(
    tx: &mut T,
    id: &TaskId,
    attempt: u32,
    proposed: &Proposed,
) -> Result<Judged> {
    let task = must_load(tx, id.as_str()).await?;
    if task.attempt != attempt || task.state.lease().is_none() {
        return Err(StoreError::from_transition(InvalidTransition::LeaseLost {
            task: id.clone(),
            attempt,
            current: task.attempt,
            status: task.status(),
        }));
    }
    let before: Option<Proposed> = match tx.followups(id, attempt).await? {
        Some(json) => Some(crate::row::json(format!("the follow-ups of task {id}"), &json)?),
        None => None,
    };
    let proposed = proposed.clone().after(before.as_ref());
    tx.set_followups(id, attempt, &serde_json::to_string(&proposed).expect("follow-ups always serialize")).await?;
    Ok(judge_followups(tx, &task, &proposed).await?.0)
}

/// `proposed` judged against the proposer's plan as stored; and how deep
/// a follow-up the proposer is itself.
async fn judge_followups<T: Tx>(tx: &mut T, proposer: &Task, proposed: &Proposed) -> Result<(Judged, u32)> {
    let depth = match tx.added_event(&proposer.id).await? {
        Some(EventKind::TaskAdded { proposal: Some(p), .. }) => p.depth,
        _ => 0,
    };
    let plan = stored_plan(tx, proposer.plan.as_str()).await?;
    Ok((colony_core::plan::judge(&plan, proposed, depth), depth))
}

/// The plan as stored, in the shape `add_plan` takes.
pub(crate) async fn stored_plan<T: Tx>(tx: &mut T, name: &str) -> Result<Plan> {
    let head = tx.plan_head(name).await?.ok_or_else(|| StoreError::NoSuchPlan(name.to_owned()))?;
    let head: PlanHead = crate::row::json(format!("plan {name}"), &head)?;
    let tasks = tx.plan_specs(name).await?;
    Ok(Plan { name: head.name, base: head.base, defaults: head.defaults, tasks })
}

/// Adds the tasks `added` of `plan` (the stored plan with them) as
/// follow-ups, each proposed as `proposal` says.
async fn add_followups<T: Tx>(
    tx: &mut T,
    plan: &Plan,
    added: &[TaskId],
    proposal: &Proposal,
    now: Millis,
    log: &mut Log,
) -> Result<()> {
    let weights = Dag::new(&plan.tasks).critical_path().expect("a judged plan has no cycle");
    let mut ord = tx.next_ords(added.len() as i64).await?;
    for (spec, weight) in plan.tasks.iter().zip(weights) {
        if !added.contains(&spec.id) {
            tx.set_path_weight(&spec.id, weight).await?;
            continue;
        }
        let event = EventKind::TaskAdded {
            plan: plan.name.clone(),
            spec: spec.clone(),
            max_attempts: plan.max_attempts(spec),
            proposal: Some(proposal.clone()),
        };
        let task = Task::added(spec.id.clone(), &event).map_err(StoreError::from_transition)?;
        tx.insert_task(NewTask { task: &task, spec, ord, path_weight: weight }, now).await?;
        ord += 1;
        log.task(&spec.id, event);
        tx.replace_deps(&spec.id, &spec.deps).await?;
    }
    for i in Dag::new(&plan.tasks).topo_order().expect("a judged plan has no cycle") {
        if added.contains(&plan.tasks[i].id) {
            settle_one(tx, plan.tasks[i].id.as_str(), now, log).await?;
        }
    }
    Ok(())
}

/// Fails the attempt: the task is ready again after `backoff` if it has
/// attempts left, else failed, and its dependents blocked. Returns the
/// task's status afterwards.
pub(crate) async fn fail<T: Tx>(
    tx: &mut T,
    id: &TaskId,
    attempt: u32,
    reason: &str,
    backoff: Duration,
    now: Millis,
) -> Result<TaskStatus> {
    let task = must_load(tx, id.as_str()).await?;
    let retry_at = task.has_attempts_left().then(|| now + millis(backoff));
    let mut log = Log::default();
    let event = EventKind::AttemptFailed { attempt, reason: reason.to_owned(), retry_at };
    let task = transition(tx, &task, event, now, &mut log).await?;
    tx.end_attempt(id, attempt, "failed", Some(reason), now).await?;
    // The decided work failed its checks, or is gone: it is not tried again.
    tx.take_decision(id).await?;
    cascade(tx, id, now, &mut log).await?;
    log.flush(tx, now).await?;
    Ok(task.status())
}

/// Returns every task whose lease ran out to `ready` (now), or to `failed`
/// when its attempts are used up.
pub(crate) async fn rescue<T: Tx>(tx: &mut T, now: Millis) -> Result<Vec<Rescued>> {
    let mut log = Log::default();
    let mut rescued = Vec::new();
    for id in tx.expired(now).await? {
        let task = must_load(tx, id.as_str()).await?;
        // Re-check under the lock: a heartbeat may have landed meanwhile.
        let Some(lease) = task.state.lease().filter(|l| l.until < now).cloned() else {
            continue;
        };
        let retry_at = task.has_attempts_left().then_some(now);
        let event = EventKind::LeaseExpired { attempt: task.attempt, worker: lease.worker.clone(), retry_at };
        let after = transition(tx, &task, event, now, &mut log).await?;
        let why = format!("lease of {} expired", lease.worker);
        tx.end_attempt(&id, task.attempt, "expired", Some(&why), now).await?;
        cascade(tx, &id, now, &mut log).await?;
        rescued.push(Rescued { task: id, attempt: task.attempt, worker: lease.worker, now: after.status() });
    }
    for id in tx.unanswered(now).await? {
        let task = must_load(tx, id.as_str()).await?;
        let TaskState::AwaitingInput { until, .. } = &task.state else { continue };
        if *until >= now {
            continue;
        }
        // Its attempt ended when it asked; the task's reason says the rest.
        transition(tx, &task, EventKind::Unanswered { attempt: task.attempt }, now, &mut log).await?;
        tx.take_decision(&id).await?;
        cascade(tx, &id, now, &mut log).await?;
    }
    log.flush(tx, now).await?;
    Ok(rescued)
}

/// Gives a task back unfinished: ready again, the attempt not counted.
pub(crate) async fn release<T: Tx>(tx: &mut T, id: &TaskId, attempt: u32, reason: &str, now: Millis) -> Result<()> {
    let task = must_load(tx, id.as_str()).await?;
    let mut log = Log::default();
    transition(tx, &task, EventKind::Released { attempt, reason: reason.to_owned() }, now, &mut log).await?;
    tx.end_attempt(id, attempt, "released", Some(reason), now).await?;
    log.flush(tx, now).await
}

/// Takes a task back from a worker known to be dead, without waiting for
/// its lease to run out.
pub(crate) async fn expire<T: Tx>(tx: &mut T, id: &TaskId, attempt: u32, now: Millis) -> Result<Rescued> {
    let task = must_load(tx, id.as_str()).await?;
    let Some(lease) = task.state.lease().filter(|_| task.attempt == attempt).cloned() else {
        return Err(StoreError::LeaseLost { task: id.clone(), attempt, current: task.attempt, status: task.status() });
    };
    let retry_at = task.has_attempts_left().then_some(now);
    let mut log = Log::default();
    let event = EventKind::LeaseExpired { attempt, worker: lease.worker.clone(), retry_at };
    let after = transition(tx, &task, event, now, &mut log).await?;
    let why = format!("{} is gone", lease.worker);
    tx.end_attempt(id, attempt, "expired", Some(&why), now).await?;
    cascade(tx, id, now, &mut log).await?;
    log.flush(tx, now).await?;
    Ok(Rescued { task: id.clone(), attempt, worker: lease.worker, now: after.status() })
}

/// A person kills the running attempts of `ids`, all or none.
pub(crate) async fn kill<T: Tx>(tx: &mut T, ids: &[TaskId], now: Millis) -> Result<Vec<Rescued>> {
    let mut log = Log::default();
    let mut killed = Vec::new();
    for id in ids {
        let task = must_load(tx, id.as_str()).await?;
        let Some(lease) = task.state.lease().cloned() else {
            return Err(StoreError::NotAllowed(format!(
                "task {id} is {}; only a running attempt can be killed",
                task.status()
            )));
        };
        let retry_at = task.has_attempts_left().then_some(now);
        let event = EventKind::Killed { attempt: task.attempt, worker: lease.worker.clone(), retry_at };
        let after = transition(tx, &task, event, now, &mut log).await?;
        tx.end_attempt(id, task.attempt, "killed", Some(colony_core::event::KILLED), now).await?;
        cascade(tx, id, now, &mut log).await?;
        killed.push(Rescued { task: id.clone(), attempt: task.attempt, worker: lease.worker, now: after.status() });
    }
    log.flush(tx, now).await?;
    Ok(killed)
}

pub(crate) async fn retry<T: Tx>(tx: &mut T, ids: &[TaskId], now: Millis) -> Result<()> {
    let mut log = Log::default();
    for id in ids {
        let task = must_load(tx, id.as_str()).await?;
        match &task.state {
            TaskState::Failed { .. } | TaskState::Cancelled => {}
            TaskState::Blocked { by } => {
                return Err(StoreError::NotAllowed(format!(
                    "task {id} is blocked by {by}; retry {by} and {id} will follow"
                )));
            }
            other => {
                return Err(StoreError::NotAllowed(format!(
                    "task {id} is {}; only failed or cancelled tasks can be retried",
                    other.status()
                )));
            }
        }
        transition(tx, &task, EventKind::Retried, now, &mut log).await?;
        settle_one(tx, id.as_str(), now, &mut log).await?;
        cascade(tx, id, now, &mut log).await?;
    }
    log.flush(tx, now).await
}

pub(crate) async fn replace_task<T: Tx>(
    tx: &mut T,
    plan: &Plan,
    source: &str,
    replaced: &TaskId,
    now: Millis,
) -> Result<AddReport> {
    let task = must_load(tx, replaced.as_str()).await?;
    if !matches!(task.state, TaskState::Failed { .. } | TaskState::Blocked { .. }) || task.plan != plan.name {
        return Err(StoreError::NotAllowed(format!(
            "task {replaced} is {}; only a failed or blocked task of plan {} can be replaced",
            task.status(),
            plan.name
        )));
    }
    if plan.tasks.iter().any(|t| &t.id == replaced || t.deps.contains(replaced)) {
        return Err(StoreError::NotAllowed(format!("the plan replacing task {replaced} still holds it")));
    }
    let report = add_plan(tx, plan, source, AddOptions::default(), now).await?;
    let mut log = Log::default();
    transition(tx, &task, EventKind::Replaced { by: report.added.clone() }, now, &mut log).await?;
    tx.take_decision(replaced).await?;
    log.flush(tx, now).await?;
    Ok(report)
}

pub(crate) async fn cancel<T: Tx>(tx: &mut T, ids: &[TaskId], now: Millis) -> Result<()> {
    let mut log = Log::default();
    for id in ids {
        let task = must_load(tx, id.as_str()).await?;
        if matches!(task.state, TaskState::Done | TaskState::Cancelled) {
            return Err(StoreError::NotAllowed(format!("task {id} is {}; there is nothing to cancel", task.status())));
        }
        transition(tx, &task, EventKind::Cancelled, now, &mut log).await?;
        // An approved task cancelled before a worker took it up.
        tx.take_decision(id).await?;
        if let Some(lease) = task.state.lease() {
            let why = format!("cancelled while {} held it", lease.worker);
            tx.end_attempt(id, task.attempt, "cancelled", Some(&why), now).await?;
        }
        cascade(tx, id, now, &mut log).await?;
    }
    log.flush(tx, now).await
}
