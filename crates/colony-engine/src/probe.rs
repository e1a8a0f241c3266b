//! An agent CLI's `--version`, asked once a run, for the attempts whose
//! CLI does not say its version in its own output.

use std::time::Duration;

use colony_agents::{ChildSpec, OutputLine, Pgid, RunObserver, StdinSource, Stream};
use colony_store::Store;
use tokio_util::sync::CancellationToken;

use crate::run::Inner;

/// How long a `--version` may take: some CLIs start a runtime first.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The most of a version kept: a CLI that prints a page is not believed.
const MAX_CHARS: usize = 200;

/// Keeps the first line the program printed on stdout.
#[derive(Default)]
struct FirstLine(Option<String>);

impl RunObserver for FirstLine {
    fn started(&mut self, _: Pgid) {}

    fn line(&mut self, line: OutputLine) {
        let text = line.text.trim();
        if self.0.is_none() && line.stream == Stream::Stdout && !text.is_empty() {
            self.0 = Some(text.chars().take(MAX_CHARS).collect());
        }
    }
}

impl<S: Store + 'static> Inner<S> {
    /// The version `agent` reports when asked, or `None` (a `command`
    /// agent, a CLI that failed or took too long). Asked in colony's own
    /// directory, never in the user's checkout, once a run.
    pub(crate) async fn agent_version(&self, agent: &str) -> Option<String> {
        let mut versions = self.versions.lock().await;
        if let Some(known) = versions.get(agent) {
            return known.clone();
        }
        let asked = match self.settings.agents.get(agent).and_then(|a| a.version_command.as_ref()) {
            Some(argv) => self.ask_version(argv).await,
            None => None,
        };
        versions.insert(agent.to_owned(), asked.clone());
        asked
    }

    async fn ask_version(&self, argv: &[std::ffi::OsString]) -> Option<String> {
        let (program, args) = argv.split_first()?;
        let spec = ChildSpec {
            program: program.clone(),
            args: args.to_vec(),
            cwd: self.layout.colony_dir(),
            env: Vec::new(),
            stdin: StdinSource::Null,
            wall_timeout: Some(TIMEOUT),
            silence_timeout: None,
            grace: Duration::from_secs(1),
        };
        let mut first = FirstLine::default();
        let outcome = colony_agents::run(spec, &CancellationToken::new(), &mut first).await.ok()?;
        (outcome.exit.success() && outcome.stopped.is_none()).then_some(first.0).flatten()
    }
}
