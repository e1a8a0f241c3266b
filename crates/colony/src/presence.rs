//! The colony processes working on a store (`colony run`, `colony worker`),
//! as `colony status`, `colony stop` and `colony attach` see them: each
//! records itself when it starts, says it is alive every few seconds, and
//! takes itself out when it ends. One that died leaves its row behind: on
//! this host its pid tells, elsewhere its silence.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use colony_store::{RunEntry, SqlStore, Store};

use crate::render;

/// How often a process says it is alive.
const TOUCH_EVERY: Duration = Duration::from_secs(5);

/// A process on another host not seen for this long is taken for gone.
const STALE: Duration = Duration::from_secs(30);

/// This process, recorded on the store while it works.
pub struct Presence {
    pub entry: RunEntry,
    keeper: tokio::task::JoinHandle<()>,
}

impl Presence {
    /// Records this process, and keeps saying it is alive until [`end`].
    ///
    /// [`end`]: Presence::end
    pub async fn register(store: &Arc<SqlStore>, detached: bool, dashboard: Option<String>) -> Result<Presence> {
        let entry = RunEntry {
            id: String::new(),
            host: colony_agents::hostname(),
            pid: std::process::id(),
            boot_id: colony_agents::boot_id(),
            started_at: 0,
            seen_at: 0,
            detached,
            dashboard,
        };
        let entry = store.register_run(entry).await?;
        let (store, id) = (store.clone(), entry.id.clone());
        let keeper = tokio::spawn(async move {
            loop {
                tokio::time::sleep(TOUCH_EVERY).await;
                // A store away for a while is ridden out by the next touch.
                let _ = store.touch_run(&id).await;
            }
        });
        Ok(Presence { entry, keeper })
    }

    /// Takes this process out: it has finished its work.
    pub async fn end(self, store: &SqlStore) -> Result<()> {
        self.keeper.abort();
        store.end_run(&self.entry.id).await?;
        Ok(())
    }
}

/// Whether `entry`'s process is still working: on this host and boot, its
/// pid is alive; elsewhere, it was seen lately.
pub fn alive(entry: &RunEntry) -> bool {
    if entry.host == colony_agents::hostname() && entry.boot_id.is_some() && entry.boot_id == colony_agents::boot_id() {
        return colony_agents::process_alive(entry.pid);
    }
    render::now_millis() - entry.seen_at < STALE.as_millis() as i64
}

/// The processes working on the store now, oldest first.
pub async fn active(store: &SqlStore) -> Result<Vec<RunEntry>> {
    Ok(store.runs().await?.into_iter().filter(alive).collect())
}

/// `since 18:02 on vm, pid 4242 (detached; dashboard http://…)`.
pub fn describe(entry: &RunEntry) -> String {
    let mut extra = Vec::new();
    if entry.detached {
        extra.push("detached".to_owned());
    }
    if let Some(url) = &entry.dashboard {
        extra.push(format!("dashboard {url}"));
    }
    let extra = if extra.is_empty() { String::new() } else { format!(" ({})", extra.join("; ")) };
    format!("since {} on {}, pid {}{extra}", render::date_time(entry.started_at), entry.host, entry.pid)
}
