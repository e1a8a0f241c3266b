//! Scaffolding for the tests that start real processes: small `sh` scripts
//! in a temporary directory, an observer that records what it hears, and
//! bounded waits on process groups.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use colony_agents::{ChildSpec, OutputLine, Pgid, RunObserver, Stream};
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

/// A spec running `body` as a script with `/bin/sh` in `dir`. The script
/// file is test scaffolding; colony itself never hands a shell anything.
pub fn script(dir: &Path, body: &str) -> ChildSpec {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = dir.join(format!("script-{}.sh", NEXT.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, body).unwrap();
    let mut spec = ChildSpec::new("/bin/sh", dir);
    spec.args = vec![path.into()];
    spec.grace = Duration::from_millis(500);
    spec
}

/// Records the pgid and every line; cancels `cancel_on` when a stdout line
/// equals its text (so a test can act on an event instead of sleeping).
#[derive(Default)]
pub struct Collect {
    pub pgid: Option<Pgid>,
    pub lines: Vec<OutputLine>,
    pub line_before_start: bool,
    pub cancel_on: Option<(String, CancellationToken)>,
}

impl Collect {
    pub fn cancelling_on(text: &str, token: &CancellationToken) -> Self {
        Self { cancel_on: Some((text.to_owned(), token.clone())), ..Self::default() }
    }

    pub fn texts(&self, stream: Stream) -> Vec<&str> {
        self.lines.iter().filter(|l| l.stream == stream).map(|l| l.text.as_str()).collect()
    }
}

impl RunObserver for Collect {
    fn started(&mut self, pgid: Pgid) {
        self.pgid = Some(pgid);
    }

    fn line(&mut self, line: OutputLine) {
        self.line_before_start |= self.pgid.is_none();
        if let Some((text, token)) = &self.cancel_on
            && line.stream == Stream::Stdout
            && line.text == *text
        {
            token.cancel();
        }
        self.lines.push(line);
    }
}

/// `kill(-pgid, 0)` as the kernel answers it: false only with ESRCH, when
/// not even a zombie of the group is left.
pub fn kernel_knows_group(pgid: Pgid) -> bool {
    // SAFETY: signal 0 only checks; pgid > 1 by construction.
    let rc = unsafe { libc::kill(-pgid.get(), 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Polls `cond` every 20 ms until it holds or `within` passes.
pub async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        sleep(Duration::from_millis(20)).await;
    }
}

/// How long the kernel may keep a killed group's zombies: orphans are
/// reaped by init, and some container inits only reap every few seconds.
pub const REAP_BOUND: Duration = Duration::from_secs(20);
