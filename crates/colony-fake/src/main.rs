//! `colony-fake`: the fake agent as this crate's own executable, for its
//! tests; see the library for what it does.

use std::process::ExitCode;

fn main() -> ExitCode {
    colony_fake::run()
}
