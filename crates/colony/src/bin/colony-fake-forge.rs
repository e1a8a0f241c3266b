//! `colony-fake-forge`: fake forge CLIs for end-to-end tests of `colony
//! land --pr`. Linked as `gh` or `glab`, it plays that CLI; the program
//! lives in the colony-fake crate.

use std::process::ExitCode;

fn main() -> ExitCode {
    colony_fake::forge::run_forge()
}
