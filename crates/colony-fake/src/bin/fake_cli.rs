//! `colony-fake-cli-test`: the fake agent CLIs as this crate's own
//! executable, for its tests; see [`colony_fake::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    colony_fake::cli::run_cli()
}
