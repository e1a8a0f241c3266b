//! A colony process running in the background, its stdout read line by
//! line as it comes: for tests that watch a run, a follow or a server
//! while it works. The tests wait for lines, never for a fixed time; a
//! process still running when its `Background` is dropped is killed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crate::repo::TestRepo;
use crate::run::squeeze;

/// Longest a test waits for a line or an exit before it fails rather than
/// hangs.
const PATIENCE: Duration = Duration::from_secs(60);

pub struct Background {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    errors: Receiver<String>,
    seen_errors: Vec<String>,
}

impl Background {
    /// `colony ARGS` in the repository, stdout and stderr piped.
    pub fn start(repo: &TestRepo, args: &[&str]) -> Background {
        Background::spawn(repo.command(args))
    }

    /// Starts `command`, stdout and stderr piped and read line by line.
    pub fn spawn(mut command: Command) -> Background {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let lines = read_lines(child.stdout.take().unwrap());
        let errors = read_lines(child.stderr.take().unwrap());
        Background { child, lines, seen: Vec::new(), errors, seen_errors: Vec::new() }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a line of stderr containing `text`.
    pub fn wait_for_stderr(&mut self, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.errors.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.seen_errors.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no line of stderr with {text:?}; saw:\n{}", self.seen_errors.join("\n"))
                }
            }
        }
    }

    /// Waits for the first line `pick` takes something from, and returns
    /// that; fails with what was seen when none comes in time.
    pub fn wait_for_line<T>(&mut self, what: &str, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    let picked = pick(&line);
                    self.seen.push(line);
                    if let Some(found) = picked {
                        return found;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    let stderr: Vec<String> = self.errors.try_iter().collect();
                    panic!("no line with {what}; saw:\n{}\nstderr:\n{}", self.seen.join("\n"), stderr.join("\n"))
                }
            }
        }
    }

    /// Waits for a line containing `text`, spaces squeezed.
    pub fn wait_for(&mut self, text: &str) {
        self.wait_for_line(&format!("{text:?}"), |line| squeeze(line).contains(text).then_some(()))
    }

    pub fn interrupt(&self) {
        self.signal(libc::SIGINT);
    }

    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with a pid this test started and has not reaped.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Waits for the exit; returns the code, all of stdout and stderr.
    /// Fails (killing it) when the process does not exit in time.
    pub fn finish(mut self) -> (Option<i32>, String, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("colony did not exit; saw:\n{}", self.seen.join("\n"));
            }
            // Polls a child's exit; there is no event to wait on here.
            std::thread::sleep(Duration::from_millis(50));
        };
        // The readers end at the end of their streams: every line is in by then.
        let rest: Vec<String> = self.lines.iter().collect();
        self.seen.extend(rest);
        let rest: Vec<String> = self.errors.iter().collect();
        self.seen_errors.extend(rest);
        let stderr = self.seen_errors.iter().map(|l| format!("{l}\n")).collect();
        (status.code(), self.seen.join("\n"), stderr)
    }
}

/// The lines of `stream` as they come, on a thread of their own.
fn read_lines(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    lines
}

impl Drop for Background {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
