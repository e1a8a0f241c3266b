//! Judging an attempt from its entries: success comes from the CLI's final
//! event, not its exit code (AGENT_CLIS.md), with the exceptions each CLI
//! needs spelled out as [`Rules`].
//!
//! Errors read on stderr ([`Entry::StderrError`]) never fail a run; once it
//! has failed for another reason (no final event, a failed one, an exit
//! code) they explain it like the errors of the CLI's events: Gemini CLI
//! and cursor-agent print API failures and refused logins only there.

use colony_core::Millis;

use super::classify::rank;
use crate::harness::{AgentVerdict, Entry, ErrorClass, stderr_tail};
use crate::supervise::Exit;

/// How one CLI's end is read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rules {
    /// The CLI has a final event; without one (aider) the exit code decides.
    pub final_event: bool,
    /// An error event fails the run even when the final event says success
    /// (Gemini ends a turn limit with a successful `result`).
    pub errors_fail: bool,
    /// A non-zero exit code fails the run whatever the final event says.
    pub exit_fails: bool,
    /// What an exit code means, for a CLI that gives codes meanings.
    pub exit_meaning: fn(i32) -> Option<(ErrorClass, &'static str)>,
}

impl Rules {
    /// A CLI whose final event alone decides.
    pub(super) const FINAL_EVENT: Rules =
        Rules { final_event: true, errors_fail: false, exit_fails: false, exit_meaning: |_| None };
}

/// The verdict on an attempt that ended with `exit` after saying `entries`.
pub(super) fn verdict(rules: Rules, exit: Exit, entries: &[Entry]) -> AgentVerdict {
    let worst = worst_error(entries, false);
    let worst_heard = worst_error(entries, true);
    let meaning = match exit {
        Exit::Code(code) if code != 0 => (rules.exit_meaning)(code),
        _ => None,
    };
    let failed = |reason: String| {
        let (class, reset_at) = match (meaning, &worst_heard) {
            (Some((class, _)), _) => (class, None),
            (None, Some(w)) => (w.class, w.reset_at),
            (None, None) => (ErrorClass::Other, None),
        };
        AgentVerdict::Failed { reason, class, reset_at }
    };
    let with_tail = |reason: String| {
        let tail = stderr_tail(entries);
        if tail.is_empty() { reason } else { format!("{reason}; stderr ends:\n{tail}") }
    };
    let exit_text = match meaning {
        Some((_, what)) => format!("{exit} ({what})"),
        None => exit.to_string(),
    };
    if !rules.final_event {
        return match (exit.success(), &worst_heard) {
            (true, _) => AgentVerdict::Done,
            (false, Some(w)) => failed(with_tail(format!("{exit_text}: {}", w.message))),
            (false, None) => failed(with_tail(exit_text)),
        };
    }
    let finished = entries.iter().rev().find_map(|e| match e {
        Entry::Finished { is_error, message } => Some((*is_error, message.as_deref())),
        _ => None,
    });
    match finished {
        None => match &worst_heard {
            Some(w) if w.on_stderr => {
                failed(format!("the agent ended without its final event ({exit_text}) after an error: {}", w.message))
            }
            _ => failed(with_tail(format!("the agent's output ended without its final event ({exit_text})"))),
        },
        Some((true, message)) => {
            let said = message.or(worst_heard.as_ref().map(|w| w.message)).unwrap_or("no message");
            failed(format!("the agent reported a failure: {said}"))
        }
        Some((false, _)) => {
            if let Some(w) = worst.as_ref().filter(|_| rules.errors_fail) {
                failed(format!("the agent reported an error: {}", w.message))
            } else if rules.exit_fails && matches!(exit, Exit::Code(c) if c != 0) {
                failed(with_tail(format!("the agent finished but exited with {exit_text}")))
            } else {
                AgentVerdict::Done
            }
        }
    }
}

/// The error that best explains a failure.
struct Worst<'a> {
    class: ErrorClass,
    message: &'a str,
    reset_at: Option<Millis>,
    /// Read on stderr rather than in an event.
    on_stderr: bool,
}

/// The most relevant error entry, of the events' errors and, when
/// `stderr`, of those read on stderr too: the highest [`rank`]ed class, and
/// within it one that says when it lifts, the latest such.
fn worst_error(entries: &[Entry], stderr: bool) -> Option<Worst<'_>> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Error { class, message, reset_at } => {
                Some(Worst { class: *class, message, reset_at: *reset_at, on_stderr: false })
            }
            Entry::StderrError { class, message, reset_at } if stderr => {
                Some(Worst { class: *class, message, reset_at: *reset_at, on_stderr: true })
            }
            _ => None,
        })
        .max_by_key(|w| (rank(w.class), w.reset_at.is_some(), w.reset_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervise::Stream;

    fn error(class: ErrorClass, message: &str, reset_at: Option<Millis>) -> Entry {
        Entry::Error { class, message: message.into(), reset_at }
    }

    fn finished(is_error: bool, message: Option<&str>) -> Entry {
        Entry::Finished { is_error, message: message.map(str::to_owned) }
    }

    fn failed(v: AgentVerdict) -> (String, ErrorClass, Option<Millis>) {
        match v {
            AgentVerdict::Failed { reason, class, reset_at } => (reason, class, reset_at),
            AgentVerdict::Done => panic!("expected a failure"),
        }
    }

    #[test]
    fn a_successful_final_event_is_done_whatever_the_exit() {
        let entries = [finished(false, Some("done"))];
        for exit in [Exit::Code(0), Exit::Code(1), Exit::Signal(15)] {
            assert_eq!(verdict(Rules::FINAL_EVENT, exit, &entries), AgentVerdict::Done);
        }
    }

    #[test]
    fn a_failed_final_event_fails_with_exit_zero_and_the_worst_class() {
        let entries = [
            error(ErrorClass::Other, "retrying", None),
            error(ErrorClass::RateLimit, "limit", Some(5)),
            error(ErrorClass::RateLimit, "limit, no time", None),
            error(ErrorClass::Overloaded, "busy", Some(9)),
            finished(true, Some("API Error: 429")),
        ];
        let (reason, class, reset_at) = failed(verdict(Rules::FINAL_EVENT, Exit::Code(0), &entries));
        assert_eq!(reason, "the agent reported a failure: API Error: 429");
        assert_eq!((class, reset_at), (ErrorClass::RateLimit, Some(5)));
    }

    #[test]
    fn a_refused_login_outranks_a_rate_limit() {
        let entries = [
            error(ErrorClass::RateLimit, "limit", Some(5)),
            error(ErrorClass::Auth, "key", None),
            finished(true, None),
        ];
        let (reason, class, reset_at) = failed(verdict(Rules::FINAL_EVENT, Exit::Code(1), &entries));
        assert_eq!(reason, "the agent reported a failure: key");
        assert_eq!((class, reset_at), (ErrorClass::Auth, None));
    }

    #[test]
    fn no_final_event_is_a_crash_quoting_stderr() {
        let entries =
            [Entry::Text { text: "working".into() }, Entry::Raw { stream: Stream::Stderr, text: "panic: boom".into() }];
        let (reason, class, _) = failed(verdict(Rules::FINAL_EVENT, Exit::Signal(6), &entries));
        assert_eq!(
            reason,
            "the agent's output ended without its final event (killed by signal 6); \
             stderr ends:\npanic: boom"
        );
        assert_eq!(class, ErrorClass::Other);
    }

    #[test]
    fn errors_and_exit_codes_fail_where_the_rules_say() {
        let strict = Rules {
            errors_fail: true,
            exit_fails: true,
            exit_meaning: |code| (code == 41).then_some((ErrorClass::Auth, "not signed in")),
            ..Rules::FINAL_EVENT
        };
        let entries = [error(ErrorClass::Other, "Maximum session turns exceeded", None), finished(false, None)];
        let (reason, ..) = failed(verdict(strict, Exit::Code(0), &entries));
        assert_eq!(reason, "the agent reported an error: Maximum session turns exceeded");
        assert_eq!(verdict(Rules::FINAL_EVENT, Exit::Code(0), &entries), AgentVerdict::Done);
        let (reason, class, _) = failed(verdict(strict, Exit::Code(41), &[finished(false, None)]));
        assert_eq!(reason, "the agent finished but exited with exit code 41 (not signed in)");
        assert_eq!(class, ErrorClass::Auth);
    }

    fn heard(class: ErrorClass, message: &str, reset_at: Option<Millis>) -> Entry {
        Entry::StderrError { class, message: message.into(), reset_at }
    }

    #[test]
    fn stderr_errors_explain_a_failure_but_fail_nothing() {
        let quota = heard(ErrorClass::RateLimit, "quota will reset after 1h", Some(7));
        let strict = Rules { errors_fail: true, exit_fails: true, ..Rules::FINAL_EVENT };
        let success = [quota.clone(), finished(false, None)];
        assert_eq!(verdict(strict, Exit::Code(0), &success), AgentVerdict::Done);
        let (reason, class, reset_at) = failed(verdict(strict, Exit::Code(1), std::slice::from_ref(&quota)));
        assert_eq!(
            reason,
            "the agent ended without its final event (exit code 1) after an error: quota will reset after 1h"
        );
        assert_eq!((class, reset_at), (ErrorClass::RateLimit, Some(7)));
        let (reason, class, _) = failed(verdict(Rules::FINAL_EVENT, Exit::Code(1), &[quota, finished(true, None)]));
        assert_eq!(
            (reason.as_str(), class),
            ("the agent reported a failure: quota will reset after 1h", ErrorClass::RateLimit)
        );
        let plain = Rules { final_event: false, ..Rules::FINAL_EVENT };
        let login = heard(ErrorClass::Auth, "Authentication required", None);
        assert_eq!(verdict(plain, Exit::Code(0), std::slice::from_ref(&login)), AgentVerdict::Done);
        let (_, class, _) = failed(verdict(plain, Exit::Code(1), &[login]));
        assert_eq!(class, ErrorClass::Auth);
    }

    #[test]
    fn without_a_final_event_the_exit_code_decides() {
        let plain = Rules { final_event: false, ..Rules::FINAL_EVENT };
        assert_eq!(verdict(plain, Exit::Code(0), &[]), AgentVerdict::Done);
        let (reason, class, _) = failed(verdict(plain, Exit::Code(2), &[]));
        assert_eq!((reason.as_str(), class), ("exit code 2", ErrorClass::Other));
    }
}
