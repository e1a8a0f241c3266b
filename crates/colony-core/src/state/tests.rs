use super::*;
use crate::spec::TaskSpec;

fn id(s: &str) -> TaskId {
    TaskId::new(s).unwrap()
}

fn new_task(name: &str, max_attempts: u32) -> Task {
    let added = EventKind::TaskAdded {
        plan: PlanName::new("p").unwrap(),
        spec: TaskSpec::new(id(name), "t", "p"),
        max_attempts,
        proposal: None,
    };
    Task::added(id(name), &added).unwrap()
}

fn proposed(name: &str, held: bool) -> Task {
    let proposal = crate::event::Proposal { by: id("a"), attempt: 1, depth: 1, held };
    let added = EventKind::TaskAdded {
        plan: PlanName::new("p").unwrap(),
        spec: TaskSpec::new(id(name), "t", "p"),
        max_attempts: 1,
        proposal: Some(proposal),
    };
    Task::added(id(name), &added).unwrap()
}

fn claim(t: &Task) -> Task {
    t.apply(&EventKind::Claimed { attempt: t.attempt + 1, worker: "w".into(), lease_until: 10 }).unwrap()
}

fn fail(t: &Task, retry_at: Option<Millis>) -> Task {
    t.apply(&EventKind::AttemptFailed { attempt: t.attempt, reason: "boom".into(), retry_at }).unwrap()
}

#[test]
fn the_happy_path_runs_through_every_phase() {
    let t = new_task("a", 3).apply(&EventKind::Ready).unwrap();
    let t = claim(&t);
    assert_eq!((t.status(), t.attempt, t.tries), (TaskStatus::Running, 1, 1));
    let t = t.apply(&EventKind::PhaseChanged { attempt: 1, phase: Phase::Checking }).unwrap();
    let t = t.apply(&EventKind::PhaseChanged { attempt: 1, phase: Phase::Merging }).unwrap();
    assert_eq!(t.state.lease().unwrap().worker, "w");
    let t = t.apply(&EventKind::Completed { attempt: 1 }).unwrap();
    assert_eq!(t.state, TaskState::Done);
}

#[test]
fn a_stale_attempt_cannot_write() {
    let t = claim(&new_task("a", 3).apply(&EventKind::Ready).unwrap());
    let t = fail(&t, Some(5));
    let t = claim(&t);
    assert_eq!(t.attempt, 2);
    let err = t.apply(&EventKind::Completed { attempt: 1 }).unwrap_err();
    assert!(matches!(err, InvalidTransition::LeaseLost { attempt: 1, current: 2, .. }), "{err}");
    let done = t.apply(&EventKind::Completed { attempt: 2 }).unwrap();
    assert!(matches!(done.apply(&EventKind::Completed { attempt: 2 }), Err(InvalidTransition::LeaseLost { .. })));
}

#[test]
fn claims_must_take_the_next_attempt_number() {
    let t = new_task("a", 3).apply(&EventKind::Ready).unwrap();
    let skip = EventKind::Claimed { attempt: 2, worker: "w".into(), lease_until: 1 };
    assert!(t.apply(&skip).is_err());
    let pending = new_task("b", 3);
    let first = EventKind::Claimed { attempt: 1, worker: "w".into(), lease_until: 1 };
    assert!(pending.apply(&first).is_err(), "a pending task is not claimable");
}

#[test]
fn failure_retries_until_attempts_run_out_and_retry_resets() {
    let mut t = new_task("a", 2).apply(&EventKind::Ready).unwrap();
    t = claim(&t);
    assert!(t.has_attempts_left());
    t = fail(&t, Some(100));
    assert_eq!(t.state, TaskState::Ready { not_before: Some(100) });
    t = claim(&t);
    assert!(!t.has_attempts_left());
    t = fail(&t, None);
    assert_eq!(t.state, TaskState::Failed { reason: "boom".into() });
    t = t.apply(&EventKind::Retried).unwrap();
    assert_eq!((t.status(), t.tries, t.attempt), (TaskStatus::Pending, 0, 2));
}

#[test]
fn lease_expiry_is_fenced_and_names_the_worker() {
    let t = claim(&new_task("a", 1).apply(&EventKind::Ready).unwrap());
    let expired = EventKind::LeaseExpired { attempt: 1, worker: "w".into(), retry_at: None };
    let t2 = t.apply(&expired).unwrap();
    assert_eq!(t2.state, TaskState::Failed { reason: "lease of w expired".into() });
    let stale = EventKind::LeaseExpired { attempt: 0, worker: "w".into(), retry_at: None };
    assert!(t.apply(&stale).is_err());
}

#[test]
fn a_kill_is_fenced_counts_a_try_and_says_a_person_did_it() {
    let t = claim(&new_task("a", 2).apply(&EventKind::Ready).unwrap());
    let requeued = t.apply(&EventKind::Killed { attempt: 1, worker: "w".into(), retry_at: Some(9) }).unwrap();
    assert_eq!((requeued.state.clone(), requeued.tries), (TaskState::Ready { not_before: Some(9) }, 1));
    let last = claim(&requeued);
    let failed = last.apply(&EventKind::Killed { attempt: 2, worker: "w".into(), retry_at: None }).unwrap();
    assert_eq!(failed.state, TaskState::Failed { reason: "killed by a person".into() });
    assert!(last.apply(&EventKind::Killed { attempt: 1, worker: "w".into(), retry_at: None }).is_err(), "fenced");
    assert!(failed.apply(&EventKind::Killed { attempt: 2, worker: "w".into(), retry_at: None }).is_err());
}

#[test]
fn only_waiting_tasks_take_unforced_updates() {
    let spec = TaskSpec::new(id("a"), "new title", "p");
    let update = EventKind::TaskUpdated { spec: spec.clone(), max_attempts: 3, forced: false };
    let t = new_task("a", 3);
    let updated = t.apply(&update).unwrap();
    assert_eq!(updated.spec_digest, spec.digest());
    assert_eq!(updated.state, TaskState::Pending);
    let running = claim(&t.apply(&EventKind::Ready).unwrap());
    assert!(running.apply(&update).is_err());
    let forced = EventKind::TaskUpdated { spec, max_attempts: 3, forced: true };
    let reset = running.apply(&forced).unwrap();
    assert_eq!((reset.status(), reset.attempt, reset.tries), (TaskStatus::Pending, 1, 0));
}

#[test]
fn cancel_takes_anything_but_done_and_cancelled() {
    let t = new_task("a", 3);
    let c = t.apply(&EventKind::Cancelled).unwrap();
    assert!(c.apply(&EventKind::Cancelled).is_err());
    let done = claim(&t.apply(&EventKind::Ready).unwrap()).apply(&EventKind::Completed { attempt: 1 }).unwrap();
    assert!(done.apply(&EventKind::Cancelled).is_err());
    assert!(done.apply(&EventKind::Retried).is_err());
}

#[test]
fn only_a_failed_or_blocked_task_is_replaced_and_that_is_final() {
    let by = EventKind::Replaced { by: vec![id("a1"), id("a2")] };
    let failed = fail(&claim(&new_task("a", 1).apply(&EventKind::Ready).unwrap()), None);
    let replaced = failed.apply(&by).unwrap();
    assert_eq!((replaced.state.clone(), replaced.status().is_finished()), (TaskState::Replaced, true));
    for after in [&EventKind::Cancelled, &EventKind::Retried, &by] {
        assert!(replaced.apply(after).is_err(), "{after:?}");
    }
    let blocked = new_task("b", 1).apply(&EventKind::Blocked { by: id("a") }).unwrap();
    assert_eq!(blocked.apply(&by).unwrap().state, TaskState::Replaced);
    let ready = new_task("c", 1).apply(&EventKind::Ready).unwrap();
    assert!(ready.apply(&by).is_err() && claim(&ready).apply(&by).is_err());
    assert_eq!(settle(&new_task("d", 1), &[&replaced]), Some(EventKind::Blocked { by: id("a") }));
}

#[test]
fn settle_follows_dependencies() {
    let a = new_task("a", 1);
    let mut b = new_task("b", 1);
    assert_eq!(settle(&b, &[&a]), None, "dep pending: stay pending");
    let done = claim(&a.apply(&EventKind::Ready).unwrap()).apply(&EventKind::Completed { attempt: 1 }).unwrap();
    assert_eq!(settle(&b, &[&done]), Some(EventKind::Ready));
    assert_eq!(settle(&b, &[]), Some(EventKind::Ready), "no deps: ready at once");

    let failed = fail(&claim(&a.apply(&EventKind::Ready).unwrap()), None);
    assert_eq!(settle(&b, &[&done, &failed]), Some(EventKind::Blocked { by: id("a") }));
    b = b.apply(&EventKind::Blocked { by: id("a") }).unwrap();
    assert_eq!(settle(&b, &[&failed]), None, "already blocked by the same cause");

    let c = new_task("c", 1).apply(&EventKind::Blocked { by: id("a") }).unwrap();
    assert_eq!(settle(&c, &[&b]), None, "blocked through b, root cause a");
    let retried = failed.apply(&EventKind::Retried).unwrap();
    assert_eq!(settle(&b, &[&retried]), Some(EventKind::Unblocked));

    let ready = new_task("d", 1).apply(&EventKind::Ready).unwrap();
    assert_eq!(settle(&ready, &[&retried]), Some(EventKind::Waiting));
    let running = claim(&ready);
    assert_eq!(settle(&running, &[&failed]), None, "started tasks are left alone");
}

#[test]
fn replay_folds_a_log_and_refuses_a_bad_one() {
    use crate::event::Event;
    let ev = |seq, task: &str, kind| Event { seq, at: 0, task: Some(id(task)), kind };
    let added = EventKind::TaskAdded {
        plan: PlanName::new("p").unwrap(),
        spec: TaskSpec::new(id("a"), "t", "p"),
        max_attempts: 2,
        proposal: None,
    };
    let log = vec![
        ev(1, "a", added),
        ev(2, "a", EventKind::Ready),
        ev(3, "a", EventKind::Claimed { attempt: 1, worker: "w".into(), lease_until: 9 }),
        ev(4, "a", EventKind::Completed { attempt: 1 }),
    ];
    let tasks = replay(&log).unwrap();
    assert_eq!(tasks[&id("a")].state, TaskState::Done);
    assert!(replay(&log[1..]).is_err(), "a log must start with task_added");
    assert!(replay([&log[0], &log[2]]).is_err(), "a pending task cannot be claimed");
}

#[test]
fn a_released_attempt_does_not_count() {
    let t = claim(&new_task("a", 1).apply(&EventKind::Ready).unwrap());
    assert!(!t.has_attempts_left());
    let released = t.apply(&EventKind::Released { attempt: 1, reason: "stopping".into() }).unwrap();
    assert_eq!((released.status(), released.tries, released.attempt), (TaskStatus::Ready, 0, 1));
    assert!(released.has_attempts_left());
    assert!(t.apply(&EventKind::Released { attempt: 0, reason: "late".into() }).is_err());
}

#[test]
fn a_feedback_round_is_fenced_and_changes_nothing() {
    use crate::event::{Event, RoundCause};
    let t = claim(&new_task("a", 1).apply(&EventKind::Ready).unwrap());
    let round = EventKind::FeedbackRound { attempt: 1, round: 1, cause: RoundCause::Gate { command: "make".into() } };
    assert_eq!(t.apply(&round).unwrap(), t);
    let stale =
        EventKind::FeedbackRound { attempt: 0, round: 1, cause: RoundCause::Conflict { paths: vec!["x".into()] } };
    assert!(t.apply(&stale).is_err());
    let event = Event { seq: 1, at: 0, task: Some(id("a")), kind: round.clone() };
    let json = serde_json::to_string(&event).unwrap();
    assert_eq!(
        json,
        r#"{"seq":1,"at":0,"task":"a","type":"feedback_round","attempt":1,"round":1,"cause":"gate","command":"make","text":"attempt 1 fix round 1: gate `make` failed"}"#
    );
    assert_eq!(serde_json::from_str::<Event>(&json).unwrap().kind, round);
}

#[test]
fn usage_changes_nothing_and_outlives_the_lease() {
    use crate::event::{Event, Usage};
    let usage = Usage { input: 100, output: 7, cached: 40, cost_usd: Some(0.5) };
    let running = claim(&new_task("a", 2).apply(&EventKind::Ready).unwrap());
    let spent = EventKind::UsageRecorded { attempt: 1, usage };
    assert_eq!(running.apply(&spent).unwrap(), running);
    let failed =
        running.apply(&EventKind::AttemptFailed { attempt: 1, reason: "x".into(), retry_at: Some(5) }).unwrap();
    assert_eq!(failed.apply(&spent).unwrap(), failed, "an ended attempt's spend is still kept");
    let future = EventKind::UsageRecorded { attempt: 2, usage };
    assert!(failed.apply(&future).is_err(), "no attempt 2 has started");
    let event = Event { seq: 3, at: 0, task: Some(id("a")), kind: spent.clone() };
    let json = serde_json::to_string(&event).unwrap();
    assert_eq!(
        json,
        r#"{"seq":3,"at":0,"task":"a","type":"usage_recorded","attempt":1,"input":100,"output":7,"cached":40,"cost_usd":0.5,"text":"attempt 1 used 100 tokens in (+40 cached), 7 out, $0.5000"}"#
    );
    assert_eq!(serde_json::from_str::<Event>(&json).unwrap().kind, spent);
}

#[test]
fn usage_adds_up_and_a_cost_is_known_when_either_is() {
    use crate::event::Usage;
    let a = Usage { input: 10, output: 2, cached: 1, cost_usd: None };
    let b = Usage { input: 5, output: 1, cached: 0, cost_usd: Some(0.25) };
    assert_eq!(a.plus(b), Usage { input: 15, output: 3, cached: 1, cost_usd: Some(0.25) });
    assert_eq!(a.plus(a).cost_usd, None);
    assert!(Usage::default().is_empty() && !a.is_empty());
}

#[test]
fn a_persons_decision_sends_the_waiting_attempt_on_without_costing_a_try() {
    let t = claim(&new_task("a", 1).apply(&EventKind::Ready).unwrap());
    let t = t.apply(&EventKind::PhaseChanged { attempt: 1, phase: Phase::Checking }).unwrap();
    let waiting = t.apply(&EventKind::ApprovalRequested { attempt: 1 }).unwrap();
    assert_eq!((waiting.status(), waiting.state.lease()), (TaskStatus::AwaitingApproval, None));
    assert!(waiting.apply(&EventKind::Approved { attempt: 2 }).is_err(), "only the waiting attempt is decided on");
    for decision in [EventKind::Approved { attempt: 1 }, EventKind::Rejected { attempt: 1, feedback: "no".into() }] {
        let ready = waiting.apply(&decision).unwrap();
        assert_eq!(ready.state, TaskState::Ready { not_before: None });
        let again = claim(&ready);
        assert_eq!((again.attempt, again.tries), (2, 1), "the decision's claim takes no extra try");
        assert!(again.apply(&decision).is_err(), "decided once");
    }
    let running = claim(&new_task("b", 1).apply(&EventKind::Ready).unwrap());
    assert!(running.apply(&EventKind::Approved { attempt: 1 }).is_err(), "nothing awaits approval");
}

#[test]
fn a_review_changes_nothing_and_reads_back() {
    use crate::event::{Event, ReviewOutcome};
    use crate::review::{ReviewAnswer, Verdict};
    let t = claim(&new_task("a", 2).apply(&EventKind::Ready).unwrap());
    let answer = ReviewAnswer { verdict: Verdict::NeedsChanges, issues: vec![], summary: Some("add a test".into()) };
    let review = EventKind::ReviewRecorded {
        attempt: 1,
        round: 1,
        reviewer: "codex".into(),
        outcome: ReviewOutcome::Answered { answer },
        spent: crate::event::Usage { input: 50, output: 9, cached: 0, cost_usd: None },
    };
    assert_eq!(t.apply(&review).unwrap(), t);
    let event = Event { seq: 4, at: 0, task: Some(id("a")), kind: review.clone() };
    let json = serde_json::to_string(&event).unwrap();
    assert_eq!(
        json,
        r#"{"seq":4,"at":0,"task":"a","type":"review_recorded","attempt":1,"round":1,"reviewer":"codex","outcome":"answered","verdict":"needs_changes","summary":"add a test","spent":{"input":50,"output":9,"cached":0},"text":"attempt 1 review 1: codex asks for changes"}"#
    );
    assert_eq!(serde_json::from_str::<Event>(&json).unwrap().kind, review);
    assert_eq!(review.summary(), "attempt 1 review 1: codex asks for changes");
}

#[test]
fn a_held_proposal_waits_for_a_person_who_adds_or_drops_it() {
    assert_eq!(proposed("f", false).status(), TaskStatus::Pending, "followups = auto: added as any task");
    let held = proposed("f", true);
    assert_eq!(held.status(), TaskStatus::Proposed);
    assert_eq!(settle(&held, &[]), None, "a proposal does not run until approved");
    assert!(held.apply(&EventKind::Ready).is_err());
    assert!(held.apply(&EventKind::Approved { attempt: 1 }).is_err(), "a proposal has no attempt");
    let approved = held.apply(&EventKind::Approved { attempt: 0 }).unwrap();
    assert_eq!((approved.status(), approved.tries), (TaskStatus::Pending, 0));
    assert_eq!(settle(&approved, &[]), Some(EventKind::Ready));

    let dropped = held.apply(&EventKind::Rejected { attempt: 0, feedback: "not now".into() }).unwrap();
    assert_eq!(dropped.status(), TaskStatus::Dropped);
    assert!(dropped.status().is_finished(), "a dropped proposal is no work left");
    for event in [EventKind::Cancelled, EventKind::Retried, EventKind::Approved { attempt: 0 }] {
        assert!(dropped.apply(&event).is_err(), "{event:?} on a dropped proposal");
    }
    let after = approved.apply(&EventKind::Ready).unwrap();
    assert_eq!(
        settle(&after, &[&dropped]),
        Some(EventKind::Blocked { by: id("f") }),
        "an approved proposal on a dropped one"
    );
}

#[test]
fn a_question_drops_the_lease_and_its_answer_gives_the_try_back() {
    let t = claim(&new_task("a", 2).apply(&EventKind::Ready).unwrap());
    let ask = EventKind::InputRequested { attempt: 1, question: "Which table?".into(), until: 500 };
    let asking = t.apply(&ask).unwrap();
    assert_eq!(asking.state, TaskState::AwaitingInput { question: "Which table?".into(), until: 500 });
    assert!(asking.state.lease().is_none());
    assert!(TaskStatus::MOVING.contains(&asking.status()), "the run waits for the answer");
    assert!(asking.apply(&ask).is_err(), "asked once");
    let stale = EventKind::Answered { attempt: 2, answer: "users".into() };
    assert!(asking.apply(&stale).is_err(), "only the waiting attempt's question is answered");
    let answered = asking.apply(&EventKind::Answered { attempt: 1, answer: "users".into() }).unwrap();
    assert_eq!((answered.state.clone(), answered.tries), (TaskState::Ready { not_before: None }, 0));
    assert!(answered.apply(&EventKind::Unanswered { attempt: 1 }).is_err(), "answered already");
    let resumed = claim(&answered);
    assert_eq!((resumed.attempt, resumed.tries), (2, 1));
}

#[test]
fn an_unanswered_question_fails_the_task_with_the_question_as_reason() {
    let t = claim(&new_task("a", 3).apply(&EventKind::Ready).unwrap());
    let t = t.apply(&EventKind::PhaseChanged { attempt: 1, phase: Phase::Checking }).unwrap();
    let asking = t.apply(&EventKind::InputRequested { attempt: 1, question: "Which table?".into(), until: 5 }).unwrap();
    let failed = asking.apply(&EventKind::Unanswered { attempt: 1 }).unwrap();
    assert_eq!(failed.state, TaskState::Failed { reason: crate::event::unanswered("Which table?") });
    assert!(failed.apply(&EventKind::Retried).is_ok());
    assert_eq!(asking.apply(&EventKind::Cancelled).unwrap().state, TaskState::Cancelled);
    let merging = t.apply(&EventKind::PhaseChanged { attempt: 1, phase: Phase::Merging }).unwrap();
    let late = EventKind::InputRequested { attempt: 1, question: "q".into(), until: 5 };
    assert!(merging.apply(&late).is_err(), "a merge asks nobody");
}
