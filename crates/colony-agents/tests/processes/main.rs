//! Tests that start real child processes: supervision, stopping groups, and
//! the `command` harness end to end. One test binary, so they share the
//! scaffolding in `support` and link once.

mod command;
#[path = "../common/daemon.rs"]
mod daemon;
mod groups;
mod sandbox;
mod supervise;
mod support;
