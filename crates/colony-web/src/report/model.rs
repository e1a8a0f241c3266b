//! The report's numbers, computed from stored tasks with no IO.
//!
//! Every attempt's wall time (claim to end) is cut into [`Split`] buckets
//! by the events the store recorded for it, so the buckets of an attempt
//! sum exactly to its wall time and the run's totals to the sum of the
//! attempts' wall times. `docs/report.md` says what each bucket measures.

use std::collections::BTreeMap;

use colony_core::event::{Event, EventKind, Millis, Phase, RoundCause, Usage};
use colony_store::TaskDetail;
use serde::Serialize;

/// One attempt's wall time, cut by what it was doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Split {
    /// Claim to the end of the worktree's setup (`[worktree] setup`, run
    /// or reused), as its log records it.
    pub setup_ms: i64,
    /// The setup's end to the first check, and every round after feedback.
    pub agent_ms: i64,
    /// Checking segments that ended in a gate failure or had no review answer.
    pub gates_ms: i64,
    /// Checking segments in which a reviewer answered.
    pub review_ms: i64,
    /// From the merge phase to the attempt's end (the queue and the merge).
    pub merge_queue_ms: i64,
    /// Pauses announced by a rate-limited agent, cut out of the above.
    pub rate_limit_ms: i64,
}

impl Split {
    /// The sum of the buckets: the attempt's wall time.
    pub fn total(&self) -> i64 {
        self.setup_ms + self.agent_ms + self.gates_ms + self.review_ms + self.merge_queue_ms + self.rate_limit_ms
    }

    /// Both splits' buckets added.
    pub fn plus(self, o: Split) -> Split {
        Split {
            setup_ms: self.setup_ms + o.setup_ms,
            agent_ms: self.agent_ms + o.agent_ms,
            gates_ms: self.gates_ms + o.gates_ms,
            review_ms: self.review_ms + o.review_ms,
            merge_queue_ms: self.merge_queue_ms + o.merge_queue_ms,
            rate_limit_ms: self.rate_limit_ms + o.rate_limit_ms,
        }
    }
}

/// One attempt as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRow {
    pub task: String,
    pub attempt: u32,
    pub worker: String,
    pub start: Millis,
    pub end: Millis,
    pub wall_ms: i64,
    /// The stored outcome, `running` while it runs.
    pub outcome: String,
    pub reason: Option<String>,
    pub split: Split,
    pub fix_rounds: u32,
    pub review_rounds: u32,
    pub usage: Usage,
}

/// One task's totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRow {
    pub id: String,
    pub title: String,
    pub status: String,
    pub agent: String,
    pub model: String,
    pub deps: Vec<String>,
    pub attempts: usize,
    /// First claim to last attempt's end.
    pub span_ms: i64,
    /// Task added (or made to wait again) until ready: waiting for dependencies.
    pub dep_wait_ms: i64,
    pub usage: Usage,
}

/// One agent and model's totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AgentRow {
    pub agent: String,
    pub model: String,
    pub tasks: u32,
    pub first_try: u32,
    pub fix_rounds: u32,
    pub review_rounds: u32,
    pub usage: Usage,
}

/// A failed attempt and its class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub task: String,
    pub attempt: u32,
    pub outcome: String,
    pub class: &'static str,
    pub reason: String,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub plan: String,
    pub start: Millis,
    pub end: Millis,
    pub wall_ms: i64,
    pub totals: Split,
    pub attempts_wall_ms: i64,
    pub dep_wait_ms: i64,
    pub critical_path: Vec<String>,
    pub critical_path_ms: i64,
    pub attempts: Vec<AttemptRow>,
    pub tasks: Vec<TaskRow>,
    pub agents: Vec<AgentRow>,
    pub failures: Vec<Failure>,
}

/// The attempt an event belongs to, for the events the split reads.
fn attempt_of(kind: &EventKind) -> Option<u32> {
    match kind {
        EventKind::PhaseChanged { attempt, .. }
        | EventKind::FeedbackRound { attempt, .. }
        | EventKind::ReviewRecorded { attempt, .. }
        | EventKind::AgentWaiting { attempt, .. } => Some(*attempt),
        _ => None,
    }
}

/// What an attempt is doing between two events.
#[derive(Clone, Copy, PartialEq)]
enum Doing {
    Agent,
    Checking { reviewed: bool },
    Merging,
}

/// Cuts the span `[start, end)` of one attempt by when its setup ended,
/// if it had one, and its events (in order). Returns the split and the
/// fix and review rounds.
pub fn split_attempt(start: Millis, end: Millis, setup_end: Option<Millis>, events: &[&Event]) -> (Split, u32, u32) {
    let mut split = Split::default();
    let (mut fixes, mut reviews) = (0, 0);
    let mut doing = Doing::Agent;
    let mut since = start;
    if let Some(at) = setup_end {
        since = at.clamp(start, end);
        split.setup_ms = since - start;
    }
    let close = |split: &mut Split, doing: Doing, from: Millis, to: Millis, gate: Option<bool>| {
        let ms = (to.min(end) - from.max(start)).max(0);
        match doing {
            Doing::Agent => split.agent_ms += ms,
            Doing::Checking { reviewed } if gate.unwrap_or(reviewed) => split.review_ms += ms,
            Doing::Checking { .. } => split.gates_ms += ms,
            Doing::Merging => split.merge_queue_ms += ms,
        }
    };
    for event in events {
        let at = event.at.clamp(start, end);
        match &event.kind {
            EventKind::PhaseChanged { phase, .. } => {
                close(&mut split, doing, since, at, None);
                since = since.max(at);
                doing = match phase {
                    Phase::Checking => Doing::Checking { reviewed: false },
                    Phase::Merging => Doing::Merging,
                };
            }
            EventKind::ReviewRecorded { .. } => {
                if let Doing::Checking { .. } = doing {
                    doing = Doing::Checking { reviewed: true };
                }
            }
            EventKind::FeedbackRound { cause, .. } => {
                match cause {
                    RoundCause::Review { .. } => reviews += 1,
                    RoundCause::Gate { .. } | RoundCause::Conflict { .. } => fixes += 1,
                }
                let gate = matches!(cause, RoundCause::Gate { .. });
                close(&mut split, doing, since, at, gate.then_some(false));
                since = since.max(at);
                doing = Doing::Agent;
            }
            EventKind::AgentWaiting { wait_ms: Some(wait), .. } => {
                let from = at.max(since);
                let to = (at + i64::try_from(*wait).unwrap_or(i64::MAX)).min(end);
                if to > from {
                    close(&mut split, doing, since, from, None);
                    split.rate_limit_ms += to - from;
                    since = to;
                }
            }
            _ => {}
        }
    }
    close(&mut split, doing, since, end, None);
    (split, fixes, reviews)
}

/// The class of a failed attempt, from its stored outcome and reason.
pub fn classify(outcome: &str, reason: &str) -> &'static str {
    let r = reason.to_ascii_lowercase();
    match outcome {
        "expired" => "lease_expired",
        "killed" => "killed",
        "abandoned" => "abandoned",
        _ if r.contains("rate limit") || r.contains("rate-limit") => "rate_limited",
        _ if r.contains("timed out") || r.contains("timeout") => "timeout",
        _ if r.contains("conflict") => "conflict",
        _ if r.contains("gate") => "gate",
        _ if r.contains("review") => "review",
        _ if r.contains("budget") || r.contains("spend") => "budget",
        _ if r.contains("exit") || r.contains("agent") => "agent_error",
        _ => "other",
    }
}

/// The outcomes that count as a failure.
fn failed(outcome: &str) -> bool {
    matches!(outcome, "failed" | "expired" | "killed" | "abandoned")
}

/// What a report is made from: a plan's tasks as stored, and when each
/// attempt's setup ended, by task and attempt, as their logs say.
#[derive(Debug, Default)]
pub struct Input {
    pub details: Vec<TaskDetail>,
    pub setup_ends: BTreeMap<(String, u32), Millis>,
}

/// The report over one plan's tasks; `now` ends the attempts still running.
pub fn build(plan: &str, input: &Input, now: Millis) -> Report {
    let details = &input.details;
    let mut attempts = Vec::new();
    let mut tasks = Vec::new();
    let mut agents: BTreeMap<(String, String), AgentRow> = BTreeMap::new();
    let mut failures = Vec::new();
    for d in details {
        let id = d.record.task.id.to_string();
        let mut rows = Vec::new();
        for a in &d.attempts {
            let end = a.ended_at.unwrap_or(now).max(a.started_at);
            let events: Vec<&Event> = d.events.iter().filter(|e| attempt_of(&e.kind) == Some(a.attempt)).collect();
            let setup_end = input.setup_ends.get(&(id.clone(), a.attempt)).copied();
            let (split, fix_rounds, review_rounds) = split_attempt(a.started_at, end, setup_end, &events);
            let outcome = a.outcome.clone().unwrap_or_else(|| "running".to_string());
            if failed(&outcome) {
                let reason = a.reason.clone().unwrap_or_default();
                failures.push(Failure {
                    task: id.clone(),
                    attempt: a.attempt,
                    class: classify(&outcome, &reason),
                    outcome: outcome.clone(),
                    reason,
                });
            }
            rows.push(AttemptRow {
                task: id.clone(),
                attempt: a.attempt,
                worker: a.worker.clone(),
                start: a.started_at,
                end,
                wall_ms: end - a.started_at,
                outcome,
                reason: a.reason.clone(),
                split,
                fix_rounds,
                review_rounds,
                usage: a.usage,
            });
        }
        let usage = rows.iter().fold(Usage::default(), |u, r| u.plus(r.usage));
        let agent = d.spec.agent.clone().unwrap_or_else(|| "default".to_string());
        let model = d.spec.model.clone().unwrap_or_else(|| "default".to_string());
        let status = d.record.task.state.status().as_str().to_string();
        let entry = agents.entry((agent.clone(), model.clone())).or_insert_with(|| AgentRow {
            agent: agent.clone(),
            model: model.clone(),
            ..AgentRow::default()
        });
        if !rows.is_empty() {
            entry.tasks += 1;
        }
        if rows.first().is_some_and(|r| r.outcome == "done") {
            entry.first_try += 1;
        }
        entry.fix_rounds += rows.iter().map(|r| r.fix_rounds).sum::<u32>();
        entry.review_rounds += rows.iter().map(|r| r.review_rounds).sum::<u32>();
        entry.usage = entry.usage.plus(usage);
        let span_ms = match (rows.first(), rows.last()) {
            (Some(f), Some(l)) => l.end - f.start,
            _ => 0,
        };
        tasks.push(TaskRow {
            id: id.clone(),
            title: d.record.title.clone(),
            status,
            agent,
            model,
            deps: d.record.deps.iter().map(ToString::to_string).collect(),
            attempts: rows.len(),
            span_ms,
            dep_wait_ms: dep_wait(&d.events),
            usage,
        });
        attempts.extend(rows);
    }
    attempts.sort_by(|a, b| (a.start, &a.task, a.attempt).cmp(&(b.start, &b.task, b.attempt)));
    let start = attempts.iter().map(|a| a.start).min().unwrap_or(now);
    let end = attempts.iter().map(|a| a.end).max().unwrap_or(start);
    let totals = attempts.iter().fold(Split::default(), |s, a| s.plus(a.split));
    let (critical_path, critical_path_ms) = critical_path(&attempts, &tasks);
    Report {
        plan: plan.to_string(),
        start,
        end,
        wall_ms: end - start,
        totals,
        attempts_wall_ms: attempts.iter().map(|a| a.wall_ms).sum(),
        dep_wait_ms: tasks.iter().map(|t| t.dep_wait_ms).sum(),
        critical_path,
        critical_path_ms,
        attempts,
        tasks,
        agents: agents.into_values().collect(),
        failures,
    }
}

/// Time a task spent waiting for its dependencies: from being added (or
/// sent back to wait) until it was ready.
fn dep_wait(events: &[Event]) -> i64 {
    let mut total = 0;
    let mut since = None;
    for e in events {
        match e.kind {
            EventKind::TaskAdded { .. } | EventKind::Waiting => since = since.or(Some(e.at)),
            EventKind::Ready => {
                if let Some(from) = since.take() {
                    total += e.at - from;
                }
            }
            _ => {}
        }
    }
    total
}

/// The chain of dependencies that ends last: from the task whose last
/// attempt ended last, back through the dependency that ended last, each
/// time. Returns the chain (first task first) and the time its tasks'
/// attempts spanned, end to end.
fn critical_path(attempts: &[AttemptRow], tasks: &[TaskRow]) -> (Vec<String>, i64) {
    let ends: BTreeMap<&str, Millis> = attempts.iter().fold(BTreeMap::new(), |mut m, a| {
        let e = m.entry(a.task.as_str()).or_insert(a.end);
        *e = (*e).max(a.end);
        m
    });
    let by_id: BTreeMap<&str, &TaskRow> = tasks.iter().map(|t| (t.id.as_str(), t)).collect();
    let mut chain = Vec::new();
    let mut next = ends.iter().max_by_key(|(id, end)| (**end, std::cmp::Reverse(**id))).map(|(id, _)| *id);
    while let Some(id) = next {
        chain.push(id.to_string());
        next = by_id
            .get(id)
            .and_then(|t| t.deps.iter().filter_map(|d| ends.get_key_value(d.as_str())).max_by_key(|(_, e)| **e))
            .map(|(id, _)| *id);
    }
    chain.reverse();
    let explained = chain.iter().filter_map(|id| by_id.get(id.as_str())).map(|t| t.span_ms).sum();
    (chain, explained)
}

#[cfg(test)]
mod tests {
    use super::*;
    use colony_core::id::TaskId;

    fn ev(at: Millis, kind: EventKind) -> Event {
        Event { seq: at, at, task: Some(TaskId::new("t").unwrap()), kind }
    }

    #[test]
    fn the_split_adds_up_to_the_wall_time() {
        let events = [
            ev(10, EventKind::AgentWaiting { attempt: 1, agent: "a".into(), reason: "limit".into(), wait_ms: Some(5) }),
            ev(30, EventKind::PhaseChanged { attempt: 1, phase: Phase::Checking }),
            ev(40, EventKind::FeedbackRound { attempt: 1, round: 1, cause: RoundCause::Gate { command: "x".into() } }),
            ev(60, EventKind::PhaseChanged { attempt: 1, phase: Phase::Checking }),
            ev(70, EventKind::PhaseChanged { attempt: 1, phase: Phase::Merging }),
            ev(80, EventKind::FeedbackRound { attempt: 1, round: 2, cause: RoundCause::Conflict { paths: vec![] } }),
        ];
        let refs: Vec<&Event> = events.iter().collect();
        let (split, fixes, reviews) = split_attempt(0, 100, None, &refs);
        assert_eq!(split.total(), 100);
        assert_eq!(split.rate_limit_ms, 5);
        assert_eq!(split.gates_ms, 20);
        assert_eq!(split.merge_queue_ms, 10);
        assert_eq!(split.agent_ms, 65);
        assert_eq!((fixes, reviews), (2, 0));
    }

    #[test]
    fn the_setup_comes_first_and_is_cut_at_the_end() {
        let events = [ev(30, EventKind::PhaseChanged { attempt: 1, phase: Phase::Checking })];
        let refs: Vec<&Event> = events.iter().collect();
        let (split, _, _) = split_attempt(0, 100, Some(12), &refs);
        assert_eq!((split.setup_ms, split.agent_ms, split.gates_ms, split.total()), (12, 18, 70, 100));
        let (split, _, _) = split_attempt(0, 100, Some(150), &[]);
        assert_eq!((split.setup_ms, split.agent_ms), (100, 0), "an attempt that ended in its setup");
    }

    #[test]
    fn a_pause_past_the_end_is_cut_at_the_end() {
        let events =
            [ev(90, EventKind::AgentWaiting { attempt: 1, agent: "a".into(), reason: "r".into(), wait_ms: Some(50) })];
        let refs: Vec<&Event> = events.iter().collect();
        let (split, _, _) = split_attempt(0, 100, None, &refs);
        assert_eq!((split.agent_ms, split.rate_limit_ms, split.total()), (90, 10, 100));
    }

    #[test]
    fn an_event_inside_a_pause_counts_no_time_twice() {
        let events = [
            ev(10, EventKind::AgentWaiting { attempt: 1, agent: "a".into(), reason: "r".into(), wait_ms: Some(20) }),
            ev(20, EventKind::PhaseChanged { attempt: 1, phase: Phase::Checking }),
            ev(25, EventKind::AgentWaiting { attempt: 1, agent: "a".into(), reason: "r".into(), wait_ms: Some(10) }),
        ];
        let refs: Vec<&Event> = events.iter().collect();
        let (split, _, _) = split_attempt(0, 100, None, &refs);
        assert_eq!((split.agent_ms, split.rate_limit_ms, split.gates_ms), (10, 25, 65));
        assert_eq!(split.total(), 100);
    }

    #[test]
    fn failures_are_classified_from_outcome_and_reason() {
        assert_eq!(classify("expired", ""), "lease_expired");
        assert_eq!(classify("failed", "gate `cargo test` failed"), "gate");
        assert_eq!(classify("failed", "merge conflict in a.txt"), "conflict");
        assert_eq!(classify("failed", "something odd"), "other");
    }
}
