//! The ports an attempt's processes listen on (`[worktree] ports`): a
//! block taken through the store, so that no other live attempt of any
//! colony process on the store has it, each port checked free on this
//! machine as it is taken; and the one environment that hands the block
//! to the attempt's setup commands, agents and gates.
//!
//! An attempt's block is its own while it is live and free again once it
//! ends or loses its lease, by the store's rule, so nothing lets it go. A
//! look at an integration tip (`base/baseline.rs`) holds a block of its
//! own in the store until it ends; when none is free it borrows the block
//! of the attempt that asked for the look, which waits meanwhile.

use std::collections::BTreeMap;
use std::time::Duration;

use colony_core::config::{Config, WorktreeConfig};
use colony_core::ports::Ports;
use colony_store::Store;
use tokio_util::sync::CancellationToken;

use crate::base::Base;
use crate::error::EngineError;

/// The environment of setup commands, agents and gates.
pub(crate) type Env = BTreeMap<String, String>;

/// How long a worker that found no block free waits before it claims
/// again, unless an attempt of its process ends first; and how long a
/// look at an integration tip waits before it asks again.
pub(crate) const NO_BLOCK_WAIT: Duration = Duration::from_secs(2);

/// Whether `port` can be bound on 127.0.0.1 now: no other program (nor a
/// colony on another store) listens there.
pub(crate) fn bindable(port: u16) -> bool {
    std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// What `[worktree] ports` asks for: the range and the block's size;
/// `None` when it is off.
pub(crate) fn wanted(config: &WorktreeConfig) -> Option<(Ports, u16)> {
    (config.ports > 0).then_some((config.port_range, config.ports))
}

/// The environment of an attempt's (or a look's) setup commands, agents
/// and gates: `[worktree] env` and, with a block, `COLONY_PORT` and
/// `COLONY_PORTS`.
pub(crate) fn env(config: &WorktreeConfig, block: Option<Ports>) -> Env {
    let mut env = config.env.clone();
    env.extend(block.iter().flat_map(Ports::env));
    env
}

/// Why an attempt could not start: no block is free.
pub(crate) fn none_free((range, count): (Ports, u16)) -> String {
    format!(
        "no block of {count} ports is free in [worktree] port_range {range}: running attempts hold them, or \
         other programs listen on them"
    )
}

/// What the log says of a block.
pub(crate) fn note(block: Ports) -> String {
    format!("ports {block}: COLONY_PORT={}, COLONY_PORTS={block}", block.first)
}

/// The longest a look at an integration tip can take: its setup commands
/// and gates, each to its timeout. Its block expires after that even if
/// this process dies holding it.
fn look_ttl(config: &Config) -> Duration {
    let steps = config.worktree.setup.len() + config.gates.commands.len() + 1;
    (config.gates.timeout + config.run.grace).saturating_mul(steps.try_into().unwrap_or(u32::MAX))
}

/// The environment of a look at an integration tip, and whether it holds
/// a block in the store that it must let go.
pub(crate) struct LookEnv {
    pub env: Env,
    held: bool,
}

impl<S: Store + 'static> Base<S> {
    /// Who holds the block of this process's look at an integration tip.
    fn look_holder(&self) -> String {
        format!("{}:{}:baseline", self.host, self.pid)
    }

    /// The environment a look at an integration tip runs with: a block of
    /// its own, held in the store; else `lent`'s (the environment of the
    /// attempt that asked for the look); else, with no attempt to borrow
    /// from, a block waited for. `None`: stopped while waiting.
    pub(crate) async fn look_env(
        &self,
        lent: Option<&Env>,
        cancel: &CancellationToken,
    ) -> Result<Option<LookEnv>, EngineError> {
        let config = &self.settings.config;
        let Some(want) = wanted(&config.worktree) else {
            return Ok(Some(LookEnv { env: env(&config.worktree, None), held: false }));
        };
        loop {
            let holder = self.look_holder();
            if let Some(block) = self.store.hold_ports(&holder, want, look_ttl(config), &bindable).await? {
                return Ok(Some(LookEnv { env: env(&config.worktree, Some(block)), held: true }));
            }
            if let Some(lent) = lent {
                return Ok(Some(LookEnv { env: lent.clone(), held: false }));
            }
            self.say_once(format!("{}; the look at the integration branch waits for one", none_free(want)));
            tokio::select! {
                () = tokio::time::sleep(NO_BLOCK_WAIT) => {}
                () = cancel.cancelled() => return Ok(None),
            }
        }
    }

    /// Lets go of the look's block, if it held one.
    pub(crate) async fn end_look(&self, look: LookEnv) -> Result<(), EngineError> {
        if look.held {
            self.store.free_ports(&self.look_holder()).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_something_listens_on_is_not_bindable() {
        let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(!bindable(port));
        drop(listener);
        assert!(bindable(port));
    }

    #[test]
    fn the_env_is_the_projects_and_the_block() {
        let mut config = WorktreeConfig::default();
        config.env.insert("NODE_ENV".into(), "test".into());
        assert_eq!(wanted(&config), None, "off unless asked for");
        assert_eq!(env(&config, None), config.env);
        config.ports = 3;
        assert_eq!(wanted(&config), Some((Ports { first: 20000, last: 29999 }, 3)));
        let with = env(&config, Some(Ports { first: 20003, last: 20005 }));
        let pairs: Vec<(&str, &str)> = with.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("COLONY_PORT", "20003"), ("COLONY_PORTS", "20003-20005"), ("NODE_ENV", "test")]);
    }
}
