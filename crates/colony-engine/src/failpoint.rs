//! Crash points for the crash-safety tests.
//!
//! A crash between two steps that must go together (moving the
//! integration branch, then telling the store) cannot be timed from
//! outside. With `COLONY_FAILPOINT=<name>` in its environment, colony
//! aborts at that point as a `kill -9` would; the tests then start a new
//! run and check that nothing is lost or merged twice. Without the
//! variable this is one environment lookup.

/// Aborts the process here if `COLONY_FAILPOINT` names this point.
pub(crate) fn hit(name: &str) {
    if std::env::var_os("COLONY_FAILPOINT").is_some_and(|v| v == name) {
        eprintln!("colony: failpoint {name}: aborting");
        std::process::abort();
    }
}
