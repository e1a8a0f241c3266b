//! An agent CLI's `--version`, asked once a run, for the attempts whose
//! CLI does not say its version in its own output.

use std::time::Duration;

use colony_store::Store;

use crate::shared::Inner;

/// How long a `--version` may take: some CLIs start a runtime first.
const TIMEOUT: Duration = Duration::from_secs(15);

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
            Some(argv) => colony_agents::ask_version(argv, &self.layout.colony_dir(), TIMEOUT).await,
            None => None,
        };
        versions.insert(agent.to_owned(), asked.clone());
        asked
    }
}
