//! `colony completions SHELL`: a completion script generated from the same
//! clap definition that parses the command line, so it never drifts.

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

pub fn run(args: &CompletionsArgs, out: &mut impl Write) -> Result<()> {
    clap_complete::generate(args.shell, &mut Cli::command(), "colony", out);
    Ok(())
}
