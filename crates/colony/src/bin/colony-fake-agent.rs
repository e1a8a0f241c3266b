//! `colony-fake-agent`: colony's deterministic fake agent, built beside
//! `colony` so that the `fake` agent and `colony demo` find it there. The
//! program itself lives in the colony-fake crate.

use std::process::ExitCode;

fn main() -> ExitCode {
    colony_fake::run()
}
