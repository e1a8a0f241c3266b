//! Events: the record of everything that happened.
//!
//! The store appends one [`Event`] for every state change, with a sequence
//! number that only grows; the task table is a projection of these events,
//! written in the same transaction. `colony events`, the dashboard stream and
//! the replay check in the tests all read this one type.

use serde::{Deserialize, Serialize};

use crate::id::{PlanName, TaskId};
use crate::review::{ReviewAnswer, Verdict};
use crate::spec::TaskSpec;

/// How an attempt a person killed ended: its end reason, the failed
/// task's reason, and the words of its event.
pub const KILLED: &str = "killed by a person";

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// One entry of the event log. Serialized with `text`, its
/// [`EventKind::summary`]: the CLI, the API and the dashboard all show
/// an event in the words of that one function.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Event {
    /// Position in the log: strictly increasing in commit order.
    pub seq: i64,
    pub at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskId>,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shown<'a> {
            seq: i64,
            at: Millis,
            #[serde(skip_serializing_if = "Option::is_none")]
            task: Option<&'a TaskId>,
            #[serde(flatten)]
            kind: &'a EventKind,
            text: String,
        }
        Shown { seq: self.seq, at: self.at, task: self.task.as_ref(), kind: &self.kind, text: self.kind.summary() }
            .serialize(serializer)
    }
}

/// The phase a leased task is in after its agent has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Checking,
    Merging,
}

/// Why an attempt's agent runs another round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum RoundCause {
    /// A gate failed on the agent's work.
    Gate { command: String },
    /// Bringing the integration branch in stopped on conflicts.
    Conflict { paths: Vec<String> },
    /// The review asked for changes; `reviewers` are the ones who did.
    Review { reviewers: Vec<String> },
}

/// Tokens and money an agent spent in one round of an attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens not read from the provider's cache (cache writes
    /// included): what the adapters report, so that `input + cached` is
    /// all the input.
    pub input: u64,
    pub output: u64,
    /// Input tokens read from the provider's cache.
    pub cached: u64,
    /// US dollars, when the agent reported a cost or the model has a price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

impl Usage {
    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }

    /// The sum of two: a cost is known when either is.
    pub fn plus(self, other: Usage) -> Usage {
        let cost_usd = match (self.cost_usd, other.cost_usd) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
        Usage {
            input: self.input + other.input,
            output: self.output + other.output,
            cached: self.cached + other.cached,
            cost_usd,
        }
    }
}

/// What one reviewer made of one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReviewOutcome {
    Answered {
        #[serde(flatten)]
        answer: ReviewAnswer,
    },
    /// The reviewer failed or answered with no readable verdict.
    NoVerdict { reason: String },
}

/// What happened. Task-scoped kinds go with [`Event::task`] set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A plan was imported for the first time.
    PlanAdded { plan: PlanName, tasks: usize, source: String },
    /// A plan's own settings (base, defaults) changed on re-add.
    PlanUpdated { plan: PlanName, source: String },
    /// A task entered the store; it starts `pending`, or `proposed` when
    /// an agent proposed it and a person is to approve it.
    TaskAdded {
        plan: PlanName,
        spec: TaskSpec,
        max_attempts: u32,
        /// Set for a follow-up: the task whose agent proposed it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proposal: Option<Proposal>,
    },
    /// A re-added plan changed this task. `forced` when it had started and
    /// `--force` allowed the change; the task goes back to `pending`.
    TaskUpdated { spec: TaskSpec, max_attempts: u32, forced: bool },
    /// Every dependency is done: the task may be claimed.
    Ready,
    /// A dependency is no longer done (it was forced back): wait again.
    Waiting,
    /// A dependency failed or was cancelled; `by` names the root cause.
    Blocked { by: TaskId },
    /// The blocking dependency was retried: wait for it again.
    Unblocked,
    /// A worker took the task under a lease; `attempt` fences its writes.
    Claimed { attempt: u32, worker: String, lease_until: Millis },
    /// The leased attempt moved on to gates and review, or to the merge.
    PhaseChanged { attempt: u32, phase: Phase },
    /// Automatic checks passed; a person must approve before the merge.
    /// The lease ends: nobody works on the task until the person decides.
    ApprovalRequested { attempt: u32 },
    /// The attempt's agent asked a person `question` (`ask_human`) and
    /// ended its turn; its work is kept on the task branch. The lease ends:
    /// the task waits for `colony answer` until `until`.
    InputRequested { attempt: u32, question: String, until: Millis },
    /// A person answered the waiting attempt's question: the task is ready
    /// again, and its next attempt resumes the agent's session with the
    /// answer, from the asking attempt's work.
    Answered { attempt: u32, answer: String },
    /// Nobody answered the waiting attempt's question in time: the task
    /// fails, the question as reason (another attempt would only ask it
    /// again).
    Unanswered { attempt: u32 },
    /// A person approved the attempt's work: it goes to the merge queue.
    /// For a proposed task (`attempt` 0), it joins the plan's work.
    Approved { attempt: u32 },
    /// A person sent the attempt's work back to its agent with feedback.
    /// For a proposed task (`attempt` 0), it is dropped, `feedback` saying
    /// why.
    Rejected { attempt: u32, feedback: String },
    /// A reviewer's answer on one round of an attempt, or why it gave
    /// none. Changes no state.
    ReviewRecorded {
        attempt: u32,
        round: u32,
        reviewer: String,
        #[serde(flatten)]
        outcome: ReviewOutcome,
        /// What the reviewer spent on this answer (its usage is in the
        /// attempt's too).
        #[serde(default, skip_serializing_if = "Usage::is_empty")]
        spent: Usage,
    },
    /// The agent gets another round within the attempt, with feedback.
    /// Changes no state; it says why the attempt takes longer.
    FeedbackRound {
        attempt: u32,
        round: u32,
        #[serde(flatten)]
        cause: RoundCause,
    },
    /// An agent round of the attempt spent tokens (and money). Changes no
    /// state, and is kept even when the attempt has lost its lease: the
    /// money was spent all the same.
    UsageRecorded {
        attempt: u32,
        #[serde(flatten)]
        usage: Usage,
    },
    /// The user's checkout changed while the attempt's agent ran, perhaps
    /// beside other attempts' agents: an agent may have written outside
    /// its worktree. `changes` says what changed. Changes no state.
    CheckoutChanged { attempt: u32, changes: Vec<String> },
    /// A round of the attempt found its agent unable to take work: rate
    /// limited for `wait_ms` (its tasks wait, the attempt's try is not
    /// used, tasks for other agents go on), or, with `wait_ms` absent,
    /// until a person acts (a refused login, a spend cap). Changes no state.
    AgentWaiting {
        attempt: u32,
        agent: String,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_ms: Option<u64>,
    },
    /// The attempt's work is merged.
    Completed { attempt: u32 },
    /// The attempt failed. With `retry_at` the task is ready again from then;
    /// without it the attempts are used up and the task has failed.
    AttemptFailed { attempt: u32, reason: String, retry_at: Option<Millis> },
    /// The lease ran out without a heartbeat: the worker is presumed dead.
    LeaseExpired { attempt: u32, worker: String, retry_at: Option<Millis> },
    /// A person killed the running attempt (`colony kill`, the dashboard):
    /// its lease is taken back at once, so the worker, alive, finds it gone
    /// and stops the agent. Counted as a try: with `retry_at` the task is
    /// ready again, without it the attempts are used up.
    Killed { attempt: u32, worker: String, retry_at: Option<Millis> },
    /// The worker gave the task back unfinished (colony was asked to stop):
    /// ready again, and the attempt does not count against its tries.
    Released { attempt: u32, reason: String },
    /// A person cancelled the task.
    Cancelled,
    /// A person asked for a failed or cancelled task to run again.
    Retried,
    /// A failed or blocked task was replaced by new tasks (`colony
    /// replan`), which its dependents now depend on instead.
    Replaced { by: Vec<TaskId> },
    /// Follow-ups the merged attempt's agent proposed that were not added,
    /// each with why (`[plan] followups = "off"`, a limit, a refusal).
    /// Changes no state.
    FollowupsDropped { attempt: u32, dropped: Vec<String> },
    /// The running attempt's agent said how far it is (`report_progress`
    /// on its colony MCP server). Changes no state.
    ProgressReported { attempt: u32, message: String },
    /// A colony process stopped taking new work before the work ran out
    /// (the budget is spent, a setup or a baseline keeps failing), and
    /// why. Global; changes no state.
    WorkHalted { reason: String },
    /// A colony process finished its run: `summary` in one line, and
    /// the reports it wrote (`colony report`), by path. Global; changes
    /// no state.
    RunFinished {
        summary: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reports: Vec<String>,
    },
}

/// Where a follow-up task came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The task whose agent proposed it, and its attempt.
    pub by: TaskId,
    pub attempt: u32,
    /// How far down a chain of follow-ups it is: 1 when a plan's own task
    /// proposed it.
    pub depth: u32,
    /// It waits as `proposed` for a person (`[plan] followups = "approve"`).
    pub held: bool,
}

impl EventKind {
    /// The `type` tag, as stored and filtered on.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::PlanAdded { .. } => "plan_added",
            EventKind::PlanUpdated { .. } => "plan_updated",
            EventKind::TaskAdded { .. } => "task_added",
            EventKind::TaskUpdated { .. } => "task_updated",
            EventKind::Ready => "ready",
            EventKind::Waiting => "waiting",
            EventKind::Blocked { .. } => "blocked",
            EventKind::Unblocked => "unblocked",
            EventKind::Claimed { .. } => "claimed",
            EventKind::PhaseChanged { .. } => "phase_changed",
            EventKind::ApprovalRequested { .. } => "approval_requested",
            EventKind::InputRequested { .. } => "input_requested",
            EventKind::Answered { .. } => "answered",
            EventKind::Unanswered { .. } => "unanswered",
            EventKind::Approved { .. } => "approved",
            EventKind::Rejected { .. } => "rejected",
            EventKind::ReviewRecorded { .. } => "review_recorded",
            EventKind::FeedbackRound { .. } => "feedback_round",
            EventKind::UsageRecorded { .. } => "usage_recorded",
            EventKind::CheckoutChanged { .. } => "checkout_changed",
            EventKind::AgentWaiting { .. } => "agent_waiting",
            EventKind::Completed { .. } => "completed",
            EventKind::AttemptFailed { .. } => "attempt_failed",
            EventKind::LeaseExpired { .. } => "lease_expired",
            EventKind::Killed { .. } => "killed",
            EventKind::Released { .. } => "released",
            EventKind::Cancelled => "cancelled",
            EventKind::Retried => "retried",
            EventKind::Replaced { .. } => "replaced",
            EventKind::FollowupsDropped { .. } => "followups_dropped",
            EventKind::ProgressReported { .. } => "progress_reported",
            EventKind::WorkHalted { .. } => "work_halted",
            EventKind::RunFinished { .. } => "run_finished",
        }
    }

    /// A one-line human summary, for `colony events`.
    pub fn summary(&self) -> String {
        match self {
            EventKind::PlanAdded { plan, tasks, source } => {
                format!("plan {plan} added from {source} ({tasks} tasks)")
            }
            EventKind::PlanUpdated { plan, source } => format!("plan {plan} updated from {source}"),
            EventKind::TaskAdded { spec, proposal: None, .. } => format!("added: {}", spec.title),
            EventKind::TaskAdded { spec, proposal: Some(p), .. } => {
                let then = if p.held { "; it waits for `colony approve`" } else { "" };
                format!("proposed by {} (attempt {}): {}{then}", p.by, p.attempt, spec.title)
            }
            EventKind::Approved { attempt: 0 } => "approved: the proposed task joins the plan".into(),
            EventKind::Rejected { attempt: 0, feedback } => format!("dropped: {feedback}"),
            EventKind::TaskUpdated { forced: true, .. } => "updated (forced; runs again)".into(),
            EventKind::TaskUpdated { .. } => "updated".into(),
            EventKind::Ready => "ready".into(),
            EventKind::Waiting => "waiting on its dependencies again".into(),
            EventKind::Blocked { by } => format!("blocked by {by}"),
            EventKind::Unblocked => "unblocked".into(),
            EventKind::Claimed { attempt, worker, .. } => {
                format!("attempt {attempt} claimed by {worker}")
            }
            EventKind::PhaseChanged { attempt, phase } => {
                let p = match phase {
                    Phase::Checking => "checking",
                    Phase::Merging => "merging",
                };
                format!("attempt {attempt} {p}")
            }
            EventKind::ApprovalRequested { attempt } => {
                format!("attempt {attempt} awaits approval")
            }
            EventKind::InputRequested { attempt, question, .. } => {
                format!("attempt {attempt} asks a person: {}", first_line(question))
            }
            EventKind::Answered { attempt, answer } => {
                format!("attempt {attempt} answered: {}", first_line(answer))
            }
            EventKind::Unanswered { attempt } => format!("attempt {attempt}: its question was not answered in time"),
            EventKind::Approved { attempt } => format!("attempt {attempt} approved"),
            EventKind::Rejected { attempt, feedback } => {
                format!("attempt {attempt} sent back: {}", first_line(feedback))
            }
            EventKind::ReviewRecorded { attempt, round, reviewer, outcome, .. } => {
                let said = match outcome {
                    ReviewOutcome::Answered { answer } => {
                        let verdict = match answer.verdict {
                            Verdict::Approved => "approved",
                            Verdict::NeedsChanges => "asks for changes",
                        };
                        match answer.issues.len() {
                            0 => verdict.to_owned(),
                            1 => format!("{verdict} (1 issue)"),
                            n => format!("{verdict} ({n} issues)"),
                        }
                    }
                    ReviewOutcome::NoVerdict { reason } => format!("gave no verdict: {reason}"),
                };
                format!("attempt {attempt} review {round}: {reviewer} {said}")
            }
            EventKind::FeedbackRound { attempt, round, cause: RoundCause::Gate { command } } => {
                format!("attempt {attempt} fix round {round}: gate `{command}` failed")
            }
            EventKind::FeedbackRound { attempt, round, cause: RoundCause::Conflict { paths } } => {
                format!("attempt {attempt} resolver round {round}: conflict in {}", paths.join(", "))
            }
            EventKind::FeedbackRound { attempt, round, cause: RoundCause::Review { reviewers } } => {
                format!("attempt {attempt} review round {round}: {} asked for changes", reviewers.join(", "))
            }
            EventKind::UsageRecorded { attempt, usage } => {
                let cost = usage.cost_usd.map(|c| format!(", ${c:.4}")).unwrap_or_default();
                let cached = if usage.cached > 0 { format!(" (+{} cached)", usage.cached) } else { String::new() };
                format!("attempt {attempt} used {} tokens in{cached}, {} out{cost}", usage.input, usage.output)
            }
            EventKind::CheckoutChanged { attempt, changes } => format!(
                "attempt {attempt}: your checkout changed while its agent ran ({}); if that was not you, \
                 an agent wrote outside its worktree",
                changes.join("; ")
            ),
            EventKind::AgentWaiting { attempt, agent, reason, wait_ms: Some(ms) } => format!(
                "attempt {attempt}: the `{agent}` agent is rate limited ({reason}); its tasks wait {}, \
                 tasks for other agents go on",
                crate::time::human_millis(*ms)
            ),
            // The reason names the agent and says what to do.
            EventKind::AgentWaiting { attempt, reason, wait_ms: None, .. } => {
                format!("attempt {attempt}: {reason}; its tasks wait, tasks for other agents go on")
            }
            EventKind::Completed { attempt } => format!("attempt {attempt} done"),
            EventKind::AttemptFailed { attempt, reason, retry_at } => {
                let then = if retry_at.is_some() { "will retry" } else { "no attempts left" };
                format!("attempt {attempt} failed: {reason} ({then})")
            }
            EventKind::LeaseExpired { attempt, worker, retry_at } => {
                let then = if retry_at.is_some() { "requeued" } else { "no attempts left" };
                format!("attempt {attempt} lease of {worker} expired ({then})")
            }
            EventKind::Killed { attempt, worker, retry_at } => {
                let then = if retry_at.is_some() { "requeued" } else { "no attempts left" };
                format!("attempt {attempt} of {worker} {KILLED} ({then})")
            }
            EventKind::Released { attempt, reason } => {
                format!("attempt {attempt} released: {reason}")
            }
            EventKind::Cancelled => "cancelled".into(),
            EventKind::Retried => "retried".into(),
            EventKind::Replaced { by } => {
                format!("replaced by {}", by.iter().map(TaskId::as_str).collect::<Vec<_>>().join(", "))
            }
            EventKind::FollowupsDropped { attempt, dropped } => {
                format!("attempt {attempt}: follow-ups not added: {}", dropped.join("; "))
            }
            EventKind::ProgressReported { attempt, message } => format!("attempt {attempt}: {message}"),
            EventKind::WorkHalted { reason } => format!("new work halted: {}", first_line(reason)),
            EventKind::RunFinished { summary, reports } => match reports.as_slice() {
                [] => format!("run finished: {summary}"),
                _ => format!("run finished: {summary}; report: {}", reports.join(", ")),
            },
        }
    }
}

/// The first line of `text`: what a one-line summary shows of it.
pub fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Why a task whose agent's question went unanswered failed.
pub fn unanswered(question: &str) -> String {
    format!("nobody answered its agent's question in time: {question}")
}

/// The most of an agent's progress report that is kept, in characters.
pub const MAX_PROGRESS_CHARS: usize = 300;

/// An agent's progress report as it is kept: on one line, its control
/// characters (escape codes among them) dropped, cut to
/// [`MAX_PROGRESS_CHARS`] with `…`; `None` when nothing is left to show.
pub fn progress_message(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| w.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|w| !w.is_empty())
        .collect();
    let line = words.join(" ");
    match line.chars().count() {
        0 => None,
        n if n <= MAX_PROGRESS_CHARS => Some(line),
        _ => Some(line.chars().take(MAX_PROGRESS_CHARS - 1).chain(['…']).collect()),
    }
}

/// The most of an agent's question that is kept, in characters.
pub const MAX_QUESTION_CHARS: usize = 4000;

/// An agent's question as it is kept: its lines' control characters
/// (escape codes among them) dropped, blank lines at either end trimmed,
/// cut to [`MAX_QUESTION_CHARS`] with `…`; `None` when nothing is left.
pub fn question_text(text: &str) -> Option<String> {
    let lines: Vec<String> =
        text.lines().map(|line| line.chars().filter(|c| !c.is_control()).collect::<String>()).collect();
    let kept = lines.join("\n");
    let kept = kept.trim();
    match kept.chars().count() {
        0 => None,
        n if n <= MAX_QUESTION_CHARS => Some(kept.to_owned()),
        _ => Some(kept.chars().take(MAX_QUESTION_CHARS - 1).chain(['…']).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_question_keeps_its_lines_and_loses_its_escapes() {
        assert_eq!(
            question_text("\n Which table?\r\n\u{1b}[2J(a) users\t(b) accounts \n\n"),
            Some("Which table?\n[2J(a) users(b) accounts".into())
        );
        assert_eq!(question_text(" \n\u{7}\n"), None);
        let long = question_text(&"y".repeat(5000)).unwrap();
        assert_eq!(long.chars().count(), MAX_QUESTION_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn a_progress_report_is_one_clean_line_of_bounded_length() {
        assert_eq!(
            progress_message("  tests\n pass,\tnow the docs \u{1b}[31m "),
            Some("tests pass, now the docs [31m".into())
        );
        assert_eq!(progress_message(" \n\u{7} "), None);
        let long = progress_message(&"x".repeat(1000)).unwrap();
        assert_eq!(long.chars().count(), MAX_PROGRESS_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn an_event_carries_its_text_and_reads_back_without_it() {
        let task = TaskId::new("a").unwrap();
        let killed = EventKind::Killed { attempt: 2, worker: "h:1:0".into(), retry_at: Some(5) };
        for (task, kind) in [(Some(task), killed), (None, EventKind::Ready)] {
            let event = Event { seq: 7, at: 1, task, kind };
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["text"], event.kind.summary());
            assert_eq!(json["type"], event.kind.name());
            assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
        }
        let killed = EventKind::Killed { attempt: 2, worker: "h:1:0".into(), retry_at: Some(5) };
        assert_eq!(killed.summary(), "attempt 2 of h:1:0 killed by a person (requeued)");
    }
}
