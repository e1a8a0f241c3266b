//! `colony`: the command line.
//!
//! Parses the arguments, runs one command on a single-threaded tokio
//! runtime (a CLI command does one thing at a time), and turns its outcome
//! into an exit code through [`exit::code`], the one place codes are chosen.

mod cli;
mod cmd;
mod ctx;
mod exit;
mod render;
mod repo;
mod signal;
mod table;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime starts");
    match runtime.block_on(cmd::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if !exit::is_broken_pipe(&err) {
                eprint!("{}", exit::render(&err));
            }
            ExitCode::from(exit::code(&err))
        }
    }
}
