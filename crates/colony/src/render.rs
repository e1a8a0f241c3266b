//! Small pieces of human output shared by several commands: times, counts,
//! a task's state in words, JSON.

use std::io::Write;

use anyhow::Result;
use colony_core::{Millis, TaskState, TaskStatus, Usage};
use colony_store::TaskRecord;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

/// Now, in milliseconds since the epoch, as event times are.
pub fn now_millis() -> Millis {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    since.as_millis() as Millis
}

/// Local wall-clock time `HH:MM:SS`, the resolution a person follows a run
/// at.
pub fn clock(at: Millis) -> String {
    match Timestamp::from_millisecond(at) {
        Ok(ts) => ts.to_zoned(TimeZone::system()).strftime("%H:%M:%S").to_string(),
        Err(_) => "--:--:--".to_owned(),
    }
}

/// Local date and time, for things that may lie on another day.
pub fn date_time(at: Millis) -> String {
    match Timestamp::from_millisecond(at) {
        Ok(ts) => ts.to_zoned(TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => "unknown time".to_owned(),
    }
}

/// `1 task`, `3 tasks`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// What a list says beside a task's status: why it is failed or blocked,
/// who holds it, when it may run again.
pub fn state_note(state: &TaskState) -> String {
    match state {
        TaskState::Failed { reason } => reason.clone(),
        TaskState::Blocked { by } => format!("blocked by {by}"),
        TaskState::Running { lease } | TaskState::Checking { lease } | TaskState::Merging { lease } => {
            format!("by {}", lease.worker)
        }
        TaskState::Ready { not_before: Some(at) } => format!("retries after {}", clock(*at)),
        TaskState::AwaitingApproval => "needs a person's approval".to_owned(),
        TaskState::AwaitingInput { question, .. } => {
            format!("asks: {}", question.lines().next().unwrap_or_default())
        }
        TaskState::Proposed => "a follow-up: approve to add it".to_owned(),
        TaskState::Pending
        | TaskState::Dropped
        | TaskState::Ready { not_before: None }
        | TaskState::Done
        | TaskState::Cancelled
        | TaskState::Replaced => String::new(),
    }
}

/// `1/3`: attempts used since the task last entered the queue, of those
/// allowed.
pub fn tries(record: &TaskRecord) -> String {
    format!("{}/{}", record.task.tries, record.task.max_attempts)
}

/// `2 ready, 4 pending`, in the state machine's order, zeros left out.
pub fn status_counts(counts: impl Fn(TaskStatus) -> usize) -> String {
    let parts: Vec<String> = TaskStatus::ALL
        .into_iter()
        .filter(|&s| counts(s) > 0)
        .map(|s| format!("{} {}", counts(s), s.as_str().replace('_', " ")))
        .collect();
    parts.join(", ")
}

/// `12.3k tokens in (+8.1k cached), 950 out, $0.42`: an agent's spend. A
/// cost nobody reported or priced shows as such, never as `$0`.
pub fn usage(u: &Usage) -> String {
    let cached = if u.cached > 0 { format!(" (+{} cached)", tokens(u.cached)) } else { String::new() };
    let cost = match u.cost_usd {
        Some(c) => dollars(c),
        None => "cost unknown (no price for its model; see [prices] in colony.toml)".to_owned(),
    };
    format!("{} tokens in{cached}, {} out, {cost}", tokens(u.input), tokens(u.output))
}

pub use colony_core::time::dollars;

/// `claude: rate limited until 14:05 (local time), 3 tasks waiting (why)`,
/// or, for a wait on a person, what they must do.
pub fn agent_waiting(w: &colony_store::AgentWaiting) -> String {
    let tasks = count(w.tasks, "task");
    let reason = &w.reason;
    match w.ends_at {
        Some(end) => format!("{}: rate limited until {}, {tasks} waiting ({reason})", w.agent, local_clock(end)),
        None => format!("{}: {tasks} waiting for you: {reason}", w.agent),
    }
}

/// `14:05`, or `Dec 4 14:05` on another day, in the machine's time zone.
pub fn local_clock(at: colony_core::Millis) -> String {
    let zone = jiff::tz::TimeZone::system();
    let Ok(then) = jiff::Timestamp::from_millisecond(at) else { return at.to_string() };
    let then = then.to_zoned(zone.clone());
    let today = jiff::Timestamp::now().to_zoned(zone).date();
    if then.date() == today { then.strftime("%H:%M").to_string() } else { then.strftime("%b %-d %H:%M").to_string() }
}

/// `950`, `12.3k`, `4.1M`.
fn tokens(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// Pretty JSON and a newline: what `--json` prints for one value.
pub fn json(out: &mut impl Write, value: &impl Serialize) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_reads_at_its_scale_and_never_calls_unknown_free() {
        let u = Usage { input: 12_345, output: 950, cached: 8_100, cost_usd: Some(0.4171) };
        assert_eq!(usage(&u), "12.3k tokens in (+8.1k cached), 950 out, $0.42");
        let unpriced = Usage { input: 4_100_000, output: 0, cached: 0, cost_usd: None };
        assert!(usage(&unpriced).starts_with("4.1M tokens in, 0 out, cost unknown"));
        assert_eq!(dollars(0.00123), "$0.0012");
        assert_eq!((dollars(0.0), dollars(12.5)), ("$0.00".to_owned(), "$12.50".to_owned()));
    }

    #[test]
    fn counts_skip_zeros_and_keep_state_order() {
        let by = |s| match s {
            TaskStatus::Pending => 4,
            TaskStatus::AwaitingApproval => 1,
            TaskStatus::Ready => 2,
            _ => 0,
        };
        assert_eq!(status_counts(by), "4 pending, 2 ready, 1 awaiting approval");
        assert_eq!(count(1, "task"), "1 task");
        assert_eq!(count(0, "task"), "0 tasks");
    }
}
