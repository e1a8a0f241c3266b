//! `colony-fake-cli`: fake agent CLIs for end-to-end tests. Linked as
//! `claude`, `codex`, `gemini`, … it plays that CLI headless; the program
//! lives in the colony-fake crate.

use std::process::ExitCode;

fn main() -> ExitCode {
    colony_fake::cli::run_cli()
}
