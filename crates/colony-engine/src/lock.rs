//! A store lock held across processes, renewed while held.
//!
//! The lock keeps merges one at a time; it is not what keeps them correct.
//! The integration branch moves by compare-and-swap, so a holder whose lock
//! lapsed (a long gate, a paused machine) cannot overwrite another merge:
//! its swap fails and it merges again. On a shared remote the merge checks
//! it still holds the lock right before its push (`remote.rs`).

use std::sync::Arc;
use std::time::Duration;

use colony_store::Store;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::EngineError;

/// How often a waiter asks for the lock again. Waiters of one process
/// queue in memory first (see `Inner::merge_gate`), so at most one per
/// process polls the store.
const RETRY: Duration = Duration::from_millis(10);

pub(crate) struct StoreLock<S: Store + 'static> {
    store: Arc<S>,
    name: &'static str,
    holder: String,
    renewer: JoinHandle<()>,
}

impl<S: Store + 'static> StoreLock<S> {
    /// Waits for the lock; `None` if `cancel` fires first.
    pub(crate) async fn acquire(
        store: &Arc<S>,
        name: &'static str,
        holder: &str,
        ttl: Duration,
        cancel: &CancellationToken,
    ) -> Result<Option<Self>, EngineError> {
        if !wait_for(store, name, holder, ttl, cancel).await? {
            return Ok(None);
        }
        let renewer = {
            let (store, holder) = (store.clone(), holder.to_owned());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    // A failed renewal is harmless (see the module doc); the
                    // next one tries again.
                    let _ = store.try_lock(name, &holder, ttl).await;
                }
            })
        };
        Ok(Some(StoreLock { store: store.clone(), name, holder: holder.to_owned(), renewer }))
    }

    pub(crate) async fn release(self) {
        self.renewer.abort();
        // If this fails the lock lapses after its ttl.
        let _ = self.store.unlock(self.name, &self.holder).await;
    }
}

/// Waits until `holder` has the lock; `false` if `cancel` fires first.
pub(crate) async fn wait_for<S: Store>(
    store: &Arc<S>,
    name: &str,
    holder: &str,
    ttl: Duration,
    cancel: &CancellationToken,
) -> Result<bool, EngineError> {
    while !store.try_lock(name, holder, ttl).await? {
        tokio::select! {
            () = tokio::time::sleep(RETRY) => {}
            () = cancel.cancelled() => return Ok(false),
        }
    }
    Ok(true)
}
