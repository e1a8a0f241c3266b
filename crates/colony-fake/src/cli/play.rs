//! Playing a recorded transcript instead of a scenario (`fake: {play:
//! [FILE, …]}`): the n-th call for a task plays the n-th file (the last one
//! again once they run out), so a test can have a CLI refused by a rate
//! limit and then succeed when colony tries again.
//!
//! A transcript is written as colony-agents' test transcripts are: each
//! line goes to stdout, except `#stderr TEXT` (a line on stderr), `#exit N`
//! (the exit code, 0 by default), `#signal N` (die by SIGABRT, whatever
//! N: the fake cannot send itself other signals portably) and `#sleep MS`
//! (go quiet that long, as a CLI does while a tool runs).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread::sleep;
use std::time::Duration;

/// How a played transcript ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Exit(u8),
    Abort,
}

/// One line of a transcript file, or how it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line<'a> {
    Out(&'a str),
    Err(&'a str),
    Pause(Duration),
    End(End),
}

fn read_line(line: &str) -> Result<Line<'_>, String> {
    if let Some(code) = line.strip_prefix("#exit ") {
        return code.trim().parse().map(|c| Line::End(End::Exit(c))).map_err(|e| format!("bad `{line}`: {e}"));
    }
    if let Some(ms) = line.strip_prefix("#sleep ") {
        return ms
            .trim()
            .parse()
            .map(|ms| Line::Pause(Duration::from_millis(ms)))
            .map_err(|e| format!("bad `{line}`: {e}"));
    }
    if line.starts_with("#signal ") {
        return Ok(Line::End(End::Abort));
    }
    Ok(match line.strip_prefix("#stderr ") {
        Some(err) => Line::Err(err),
        None => Line::Out(line),
    })
}

/// The file the `call`-th call (1 for the first) plays.
pub(crate) fn pick(files: &[PathBuf], call: usize) -> Option<&Path> {
    files.get(call.saturating_sub(1).min(files.len().saturating_sub(1))).map(PathBuf::as_path)
}

/// Counts this call for `task` in `counter` (a file holding the count) and
/// returns its number, 1 for the first.
pub(crate) fn count_call(counter: &Path) -> Result<usize, String> {
    let done: usize = fs::read_to_string(counter).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0);
    fs::write(counter, (done + 1).to_string()).map_err(|e| format!("counting calls in {}: {e}", counter.display()))?;
    Ok(done + 1)
}

/// Prints `file`'s lines to stdout and stderr and says how to end.
pub(crate) fn play(file: &Path) -> Result<End, String> {
    let text = fs::read_to_string(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    let mut end = End::Exit(0);
    let (mut out, mut err) = (io::stdout().lock(), io::stderr().lock());
    for line in text.lines() {
        let written = match read_line(line)? {
            Line::Out(text) => writeln!(out, "{text}").and_then(|()| out.flush()),
            Line::Err(text) => writeln!(err, "{text}"),
            Line::Pause(quiet) => {
                sleep(quiet);
                Ok(())
            }
            Line::End(how) => {
                end = how;
                Ok(())
            }
        };
        written.map_err(|e| format!("writing: {e}"))?;
    }
    Ok(end)
}

/// Ends the process as the transcript said.
pub(crate) fn finish(end: End) -> ExitCode {
    match end {
        End::Exit(code) => ExitCode::from(code),
        End::Abort => {
            let _ = io::stdout().flush();
            std::process::abort()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_go_to_their_stream_and_the_markers_end_the_run() {
        assert_eq!(read_line(r#"{"type":"init"}"#), Ok(Line::Out(r#"{"type":"init"}"#)));
        assert_eq!(read_line("#stderr boom"), Ok(Line::Err("boom")));
        assert_eq!(read_line("#exit 41"), Ok(Line::End(End::Exit(41))));
        assert_eq!(read_line("#signal 9"), Ok(Line::End(End::Abort)));
        assert_eq!(read_line("#sleep 250"), Ok(Line::Pause(Duration::from_millis(250))));
        assert!(read_line("#exit many").is_err());
    }

    #[test]
    fn each_call_plays_the_next_file_then_the_last_again() {
        let files = [PathBuf::from("limit.jsonl"), PathBuf::from("ok.jsonl")];
        let picked: Vec<_> = (1..=3).map(|n| pick(&files, n).unwrap().to_owned()).collect();
        assert_eq!(picked, [files[0].clone(), files[1].clone(), files[1].clone()]);
        assert_eq!(pick(&[], 1), None);
    }
}
