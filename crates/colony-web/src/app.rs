//! What every handler shares.

use std::path::PathBuf;
use std::sync::Arc;

use colony_agents::Shutdown;
use colony_core::branch::integration_branch;
use colony_core::layout::Layout;
use colony_core::resolve::DefaultAgents;
use colony_core::{Millis, PlanName};
use colony_store::Store;

use crate::guard::Hosts;
use crate::hub::Hub;
use crate::token::Token;

pub(crate) struct App<S> {
    pub store: Arc<S>,
    pub hub: Arc<Hub<S>>,
    pub layout: Layout,
    pub token: Token,
    /// The names the server answers to, for the `Origin` check.
    pub hosts: Hosts,
    /// `colony/{plan}` unless colony.toml says otherwise.
    pub branch_pattern: String,
    /// The agent of tasks that name none, to count the tasks waiting for
    /// an agent.
    pub default_agents: DefaultAgents,
    /// The run in this process, when there is one (`colony run --serve`).
    pub run: Option<Shutdown>,
    pub started_at: Millis,
}

impl<S: Store + 'static> App<S> {
    pub fn branch(&self, plan: &PlanName) -> String {
        integration_branch(&self.branch_pattern, plan)
    }

    pub fn repo(&self) -> PathBuf {
        self.layout.repo().to_path_buf()
    }
}

/// The state handlers get.
pub(crate) type Shared<S> = Arc<App<S>>;

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now() -> Millis {
    colony_agents::millis(std::time::SystemTime::now())
}
