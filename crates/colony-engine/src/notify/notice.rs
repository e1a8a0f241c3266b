//! What is said, and to whom it matters: the event log's entries that
//! need a person, turned into notices. Pure: the shell (`mod.rs`) reads
//! the log and the tasks' titles, and delivers what this returns.

use std::collections::BTreeMap;

use colony_core::config::NoticeKind;
use colony_core::event::first_line;
use colony_core::{Event, EventKind, Millis, TaskId};
use serde::Serialize;

/// One notice, as every sink is given it (the webhook's body, the
/// command's standard input): `docs/notifications.md` shows its shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Notice {
    /// What it is about.
    pub event: &'static str,
    /// The event it says, by its place in the log: unique in the store, so
    /// a receiver can tell a notice it was sent twice (a crash between a
    /// delivery and its record).
    pub seq: i64,
    pub at: Millis,
    /// What it says, in one line.
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The question, the reason, or the run's summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What a person can do about it, as a command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// More tasks the same notice is about (blocked by one failure).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskId>,
    /// The reports a finished run wrote, by path.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<String>,
    #[serde(skip)]
    pub kind: NoticeKind,
}

/// Turns the log into notices, remembering what it has said of each
/// agent's wait so that every round that finds an agent rate limited does
/// not say so again.
#[derive(Debug, Default)]
pub(crate) struct Noticer {
    /// Each waiting agent said, and until when its wait lasts (`None`:
    /// until a person acts).
    said_waits: BTreeMap<String, Option<Millis>>,
}

impl Noticer {
    /// The notices a batch of events makes, of the kinds in `on`, in the
    /// log's order. A failure's blocked dependents, written together, are
    /// one notice. The shell adds the tasks' titles and plans.
    pub fn notices(&mut self, batch: &[Event], on: &[NoticeKind]) -> Vec<Notice> {
        let mut out: Vec<Notice> = Vec::new();
        for event in batch {
            let Some(notice) = self.notice(event) else { continue };
            if !on.contains(&notice.kind) {
                continue;
            }
            if let Some(last) = out.last_mut()
                && last.kind == NoticeKind::Blocked
                && notice.kind == NoticeKind::Blocked
                && last.detail == notice.detail
            {
                last.seq = notice.seq;
                last.tasks.extend(notice.task);
                last.text = blocked_text(last.detail.as_deref().unwrap_or_default(), 1 + last.tasks.len());
                continue;
            }
            out.push(notice);
        }
        out
    }

    /// The notice one event makes, if it makes one.
    fn notice(&mut self, event: &Event) -> Option<Notice> {
        let task = event.task.clone();
        let id = task.as_ref().map_or("", TaskId::as_str).to_owned();
        let (kind, text, detail, action) = match &event.kind {
            EventKind::ApprovalRequested { .. } => (
                NoticeKind::AwaitingApproval,
                format!("task {id} passed its checks and waits for your approval"),
                None,
                Some(format!("colony approve {id}")),
            ),
            EventKind::InputRequested { question, .. } => (
                NoticeKind::AwaitingInput,
                format!("task {id}'s agent asks: {}", first_line(question)),
                Some(question.clone()),
                Some(format!("colony answer {id} \"…\"")),
            ),
            EventKind::AttemptFailed { retry_at: None, reason, .. } => failed(&id, reason),
            EventKind::LeaseExpired { retry_at: None, worker, .. } => {
                failed(&id, &format!("its worker {worker} stopped heartbeating, and it has no attempts left"))
            }
            EventKind::Killed { retry_at: None, .. } => {
                failed(&id, &format!("{}, and it has no attempts left", colony_core::event::KILLED))
            }
            EventKind::Unanswered { .. } => failed(&id, "nobody answered its agent's question in time"),
            EventKind::Blocked { by } => (
                NoticeKind::Blocked,
                blocked_text(by.as_str(), 1),
                Some(by.as_str().to_owned()),
                Some(format!("colony retry {by}")),
            ),
            EventKind::AgentWaiting { agent, reason, wait_ms, .. } => {
                let until = wait_ms.map(|ms| event.at.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)));
                if let Some(said) = self.said_waits.get(agent)
                    && said.is_none_or(|end| event.at < end)
                {
                    return None;
                }
                self.said_waits.insert(agent.clone(), until);
                let text = match wait_ms {
                    Some(ms) => format!("agent {agent} is rate limited for {}s; its tasks wait", ms.div_ceil(1000)),
                    None => format!("agent {agent} waits for a person: {}", first_line(reason)),
                };
                (NoticeKind::AgentWaiting, text, Some(reason.clone()), None)
            }
            EventKind::WorkHalted { reason } => (
                NoticeKind::Halted,
                format!("colony stopped taking new work: {}", first_line(reason)),
                Some(reason.clone()),
                None,
            ),
            EventKind::RunFinished { summary, reports } => {
                let text = format!("colony run ended: {summary}");
                let action = reports.first().map(|r| format!("open {r}"));
                let mut notice = Notice::new(event, NoticeKind::RunFinished, text, Some(summary.clone()), action);
                notice.reports = reports.clone();
                return Some(notice);
            }
            _ => return None,
        };
        Some(Notice { task, ..Notice::new(event, kind, text, detail, action) })
    }
}

impl Notice {
    fn new(event: &Event, kind: NoticeKind, text: String, detail: Option<String>, action: Option<String>) -> Self {
        Notice {
            event: kind.name(),
            seq: event.seq,
            at: event.at,
            text,
            task: None,
            title: None,
            plan: None,
            detail,
            action,
            tasks: Vec::new(),
            reports: Vec::new(),
            kind,
        }
    }

    /// The notice as JSON, one line.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a notice serializes")
    }
}

fn failed(id: &str, reason: &str) -> (NoticeKind, String, Option<String>, Option<String>) {
    (
        NoticeKind::Failed,
        format!("task {id} failed: {}", first_line(reason)),
        Some(reason.to_owned()),
        Some(format!("colony retry {id}")),
    )
}

fn blocked_text(by: &str, count: usize) -> String {
    match count {
        1 => format!("a task is blocked: {by}, which it depends on, failed"),
        n => format!("{n} tasks are blocked: {by}, which they depend on, failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, task: Option<&str>, kind: EventKind) -> Event {
        Event { seq, at: seq * 1000, task: task.map(|t| TaskId::new(t).unwrap()), kind }
    }

    #[test]
    fn only_what_needs_a_person_makes_a_notice() {
        let batch = [
            event(1, Some("a"), EventKind::Ready),
            event(2, Some("a"), EventKind::ApprovalRequested { attempt: 1 }),
            event(3, Some("b"), EventKind::AttemptFailed { attempt: 1, reason: "gate".into(), retry_at: Some(9) }),
            event(
                4,
                Some("b"),
                EventKind::AttemptFailed { attempt: 2, reason: "tests fail\nmore".into(), retry_at: None },
            ),
            event(5, Some("c"), EventKind::InputRequested { attempt: 1, question: "which db?".into(), until: 99 }),
        ];
        let notices = Noticer::default().notices(&batch, &NoticeKind::ALL);
        let said: Vec<(&str, i64, &str)> = notices.iter().map(|n| (n.event, n.seq, n.text.as_str())).collect();
        assert_eq!(
            said,
            [
                ("awaiting_approval", 2, "task a passed its checks and waits for your approval"),
                ("failed", 4, "task b failed: tests fail"),
                ("awaiting_input", 5, "task c's agent asks: which db?"),
            ]
        );
        assert_eq!(notices[0].action.as_deref(), Some("colony approve a"));
        assert_eq!(notices[1].detail.as_deref(), Some("tests fail\nmore"));
    }

    #[test]
    fn on_picks_the_kinds() {
        let batch = [
            event(1, Some("a"), EventKind::ApprovalRequested { attempt: 1 }),
            event(2, None, EventKind::RunFinished { summary: "1 done".into(), reports: vec!["r.html".into()] }),
        ];
        let notices = Noticer::default().notices(&batch, &[NoticeKind::RunFinished]);
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].event, "run_finished");
        assert_eq!(notices[0].reports, ["r.html"]);
        assert_eq!(notices[0].task, None);
    }

    #[test]
    fn one_failures_blocked_dependents_are_one_notice() {
        let by = TaskId::new("base").unwrap();
        let batch = [
            event(7, Some("x"), EventKind::Blocked { by: by.clone() }),
            event(8, Some("y"), EventKind::Blocked { by: by.clone() }),
            event(9, Some("z"), EventKind::Blocked { by }),
        ];
        let notices = Noticer::default().notices(&batch, &NoticeKind::ALL);
        assert_eq!(notices.len(), 1);
        let n = &notices[0];
        assert_eq!((n.seq, n.task.as_ref().map(TaskId::as_str)), (9, Some("x")));
        assert_eq!(n.tasks.iter().map(TaskId::as_str).collect::<Vec<_>>(), ["y", "z"]);
        assert_eq!(n.text, "3 tasks are blocked: base, which they depend on, failed");
    }

    #[test]
    fn an_agents_wait_is_said_once_while_it_lasts() {
        let wait = |seq, ms| {
            event(
                seq,
                Some("a"),
                EventKind::AgentWaiting { attempt: 1, agent: "claude".into(), reason: "429".into(), wait_ms: ms },
            )
        };
        let mut noticer = Noticer::default();
        // Said at 1 s for 5 s: again at 3 s is the same wait; at 7 s a new one.
        let said = noticer.notices(&[wait(1, Some(5000)), wait(3, Some(5000)), wait(7, None)], &NoticeKind::ALL);
        assert_eq!(said.iter().map(|n| n.seq).collect::<Vec<_>>(), [1, 7]);
        assert_eq!(said[0].text, "agent claude is rate limited for 5s; its tasks wait");
        // A wait for a person lasts until colony is run again.
        assert!(noticer.notices(&[wait(100, None)], &NoticeKind::ALL).is_empty());
    }

    #[test]
    fn the_json_has_the_documented_fields() {
        let batch = [event(2, Some("a"), EventKind::ApprovalRequested { attempt: 1 })];
        let notice = &Noticer::default().notices(&batch, &NoticeKind::ALL)[0];
        let json: serde_json::Value = serde_json::from_str(&notice.json()).unwrap();
        assert_eq!(json["event"], "awaiting_approval");
        assert_eq!(json["seq"], 2);
        assert_eq!(json["at"], 2000);
        assert_eq!(json["task"], "a");
        assert_eq!(json["action"], "colony approve a");
        assert!(json.get("kind").is_none() && json.get("reports").is_none() && json.get("title").is_none());
    }
}
