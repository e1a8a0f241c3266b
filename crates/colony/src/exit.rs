//! Exit codes and error printing, in one place.
//!
//! The codes are part of colony's interface (scripts branch on them):
//!
//! - 0: it worked;
//! - 1: something went wrong that is not the input's fault (the database is
//!   unreachable, a file cannot be written);
//! - 2: bad input: a refused plan, an unknown id, a transition the task's
//!   state does not allow, not inside a repository (clap's own usage errors
//!   exit 2 too);
//! - 3: `colony run` ended with work not done: tasks failed, blocked or
//!   cancelled, or the run was stopped before the end; `colony plan` ended
//!   without a plan it accepts. Its summary has already said which, so
//!   nothing more is printed.

use std::fmt;
use std::io;

use colony_core::plan::PlanErrors;
use colony_store::StoreError;

/// An error that is the user's input's fault: exit code 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// A run that ended with work not done: exit code 3. Its summary is the
/// message, printed before this is returned.
#[derive(Debug)]
pub struct Unfinished;

impl fmt::Display for Unfinished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the run ended with work not done")
    }
}

impl std::error::Error for Unfinished {}

/// Shorthand for returning a [`BadInput`].
pub fn bad_input(msg: impl Into<String>) -> anyhow::Error {
    BadInput(msg.into()).into()
}

/// The exit code for an error: 3 for an [`Unfinished`] run, 2 when any
/// cause in its chain is the input's fault, 0 when stdout was closed by its
/// reader (`colony events | head` is not a failure), else 1.
pub fn code(err: &anyhow::Error) -> u8 {
    if is_broken_pipe(err) {
        return 0;
    }
    if err.is::<Unfinished>() {
        return 3;
    }
    // `downcast_ref` on the anyhow error sees its contexts too (a
    // `BadInput` attached with `.context`), the chain sees plain sources.
    let input_fault = err.downcast_ref::<BadInput>().is_some()
        || err.downcast_ref::<PlanErrors>().is_some()
        || err.downcast_ref::<StoreError>().is_some_and(is_input_fault)
        || err.chain().any(|cause| {
            cause.is::<BadInput>()
                || cause.is::<PlanErrors>()
                || cause.downcast_ref::<StoreError>().is_some_and(is_input_fault)
        });
    if input_fault { 2 } else { 1 }
}

/// Store errors that are about what was asked, not about the store.
fn is_input_fault(err: &StoreError) -> bool {
    matches!(
        err,
        StoreError::NoSuchTask(_)
            | StoreError::NoSuchPlan(_)
            | StoreError::NotAllowed(_)
            | StoreError::StartedTasksChanged { .. }
            | StoreError::IdTaken { .. }
            | StoreError::BadUrl { .. }
    )
}

/// Whether the error is only that the reader of stdout went away.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        // serde_json wraps the io::Error of a writer in its own error type.
        let kind = match cause.downcast_ref::<io::Error>() {
            Some(e) => Some(e.kind()),
            None => cause.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind),
        };
        kind == Some(io::ErrorKind::BrokenPipe)
    })
}

/// `error: <message>`, then each cause on its own indented lines. Causes
/// may span several lines (a refused plan lists one problem a line). An
/// [`Unfinished`] run renders as nothing: its summary said it all.
pub fn render(err: &anyhow::Error) -> String {
    if err.is::<Unfinished>() {
        return String::new();
    }
    let mut out = format!("error: {err}\n");
    for cause in err.chain().skip(1) {
        for line in cause.to_string().lines() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_faults_anywhere_in_the_chain_exit_2() {
        let err = bad_input("no such thing").context("while looking");
        assert_eq!(code(&err), 2);
        let err = anyhow::Error::new(StoreError::NotAllowed("no".into())).context("retrying");
        assert_eq!(code(&err), 2);
        let err = anyhow::anyhow!("a.yaml:1: bad").context(BadInput("refused".into()));
        assert_eq!(code(&err), 2);
        assert_eq!(code(&anyhow::anyhow!("disk full")), 1);
        let pipe = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(code(&pipe), 0);
        let unfinished = anyhow::Error::new(Unfinished);
        assert_eq!((code(&unfinished), render(&unfinished).as_str()), (3, ""));
    }

    #[test]
    fn causes_are_indented_line_by_line() {
        let err = anyhow::anyhow!("a.yaml:1: one\na.yaml:2: two").context("plan a.yaml refused");
        assert_eq!(render(&err), "error: plan a.yaml refused\n  a.yaml:1: one\n  a.yaml:2: two\n");
    }
}
