//! `colony completions SHELL`: a completion script generated from the same
//! clap definition that parses the command line, so it never drifts.

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Generator;

use crate::cli::{Cli, CompletionsArgs};

/// Writes the script to `out`. `try_generate`, not `generate`, which
/// panics when the write fails (`colony completions bash | head -1`): the
/// error goes the way of every command's, and a closed pipe ends quietly.
pub fn run(args: &CompletionsArgs, out: &mut impl Write) -> Result<()> {
    let mut command = Cli::command();
    command.set_bin_name("colony");
    command.build();
    args.shell.try_generate(&command, out)?;
    Ok(())
}
