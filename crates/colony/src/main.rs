//! `colony`: the command line.
//!
//! Parses the arguments, runs one command on a tokio runtime, and turns its
//! outcome into an exit code through [`exit::code`], the one place codes
//! are chosen. Most commands do one thing at a time and get a
//! single-threaded runtime; the ones that run agents get worker threads.

mod cli;
mod cmd;
mod ctx;
mod exit;
mod live;
mod presence;
mod progress;
mod render;
mod repo;
mod settings;
mod signal;
mod summary;
mod table;
mod terminal;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let mut builder = match cli.command.runs_agents() {
        true => tokio::runtime::Builder::new_multi_thread(),
        false => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = builder.enable_all().build().expect("a tokio runtime starts");
    match runtime.block_on(cmd::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if !exit::is_broken_pipe(&err) {
                terminal::eprint(&exit::render(&err));
            }
            ExitCode::from(exit::code(&err))
        }
    }
}
