//! Asking a CLI its version: `claude --version` and the like, run as any
//! child is (its own process group, a timeout, output read line by line),
//! for `colony doctor` and for each attempt's record.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::supervise::{self, ChildSpec, OutputLine, Pgid, RunObserver, StdinSource, Stream};

/// The most of a version kept: a CLI that prints a page is not believed.
const MAX_CHARS: usize = 200;

/// The first non-empty line on each stream.
#[derive(Default)]
struct FirstLines {
    stdout: Option<String>,
    stderr: Option<String>,
}

impl RunObserver for FirstLines {
    fn started(&mut self, _: Pgid) {}

    fn line(&mut self, line: OutputLine) {
        let text = line.text.trim();
        let first = match line.stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        if first.is_none() && !text.is_empty() {
            *first = Some(text.chars().take(MAX_CHARS).collect());
        }
    }
}

/// What `argv` (program and arguments) prints for its version: its first
/// line on stdout, else on stderr, when it exits 0 within `timeout`;
/// `None` otherwise. Run in `cwd`, with nothing on stdin.
pub async fn ask_version(argv: &[OsString], cwd: &Path, timeout: Duration) -> Option<String> {
    let (program, args) = argv.split_first()?;
    let spec = ChildSpec {
        program: program.clone(),
        args: args.to_vec(),
        cwd: cwd.to_owned(),
        env: Vec::new(),
        stdin: StdinSource::Null,
        wall_timeout: Some(timeout),
        silence_timeout: None,
        grace: Duration::from_secs(1),
        confine: None,
    };
    let mut first = FirstLines::default();
    let outcome = supervise::run(spec, &CancellationToken::new(), &mut first).await.ok()?;
    (outcome.exit.success() && outcome.stopped.is_none()).then_some(first.stdout.or(first.stderr)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<OsString> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    #[tokio::test]
    async fn the_first_line_of_stdout_else_stderr_of_a_program_that_succeeds() {
        let cwd = std::env::temp_dir();
        let ask = |script: &str| {
            let argv = sh(script);
            let cwd = cwd.clone();
            async move { ask_version(&argv, &cwd, Duration::from_secs(10)).await }
        };
        assert_eq!(ask("echo; echo ' 2.1.90 (Claude Code)'; echo more").await.as_deref(), Some("2.1.90 (Claude Code)"));
        assert_eq!(ask("echo 'codex-cli 0.101.0' >&2").await.as_deref(), Some("codex-cli 0.101.0"));
        assert_eq!(ask("echo 'unknown option'; exit 2").await, None);
        let long = ask("printf 'x%.0s' $(seq 500); echo").await.unwrap();
        assert_eq!(long.chars().count(), MAX_CHARS);
        let slow = ask_version(&sh("sleep 30"), &cwd, Duration::from_millis(200)).await;
        assert_eq!(slow, None);
    }
}
