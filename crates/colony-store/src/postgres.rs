//! The shared store: PostgreSQL, for workers on several machines.
//!
//! Transactions run at READ COMMITTED. Rows a transaction changes are locked
//! with `FOR UPDATE` before they are read, and a dependent is locked before
//! its dependencies are read, so two workers finishing the two deps of one
//! task cannot each miss the other's commit. Claims skip rows other claims
//! hold (`FOR UPDATE SKIP LOCKED`), so claimers never queue behind each other.
//!
//! A write that leaves a task claimable sends `NOTIFY colony_ready` in its
//! transaction, and every write `NOTIFY colony_events`, so PostgreSQL
//! delivers them on commit; a [`Listener`] on the first wakes the idle
//! workers of its process, on whatever machine, and one on the second
//! wakes a [`crate::Tail`] of the event log.

use std::sync::Arc;

use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions};

use crate::clock::Clock;
use crate::error::StoreError;
use crate::store::{Backend, Channel, Db, SqlStore};
use crate::tx::Result;

crate::sql::sql_tx!(
    PgTx,
    sqlx::Postgres,
    load_locked: concat!("SELECT ", crate::sql::task_columns!(), " FROM tasks WHERE id = $1 FOR UPDATE"),
    dependents_locked: concat!(
        "SELECT ",
        crate::sql::task_columns!(),
        " FROM tasks WHERE id IN (SELECT task FROM task_deps WHERE dep = $1) ORDER BY id FOR UPDATE"
    ),
    pick_ready: concat!(
        "SELECT ",
        crate::sql::task_columns!(),
        ", spec FROM tasks WHERE status = 'ready' AND (not_before IS NULL OR not_before <= $1) \
         ORDER BY path_weight DESC, priority DESC, ord LIMIT 1 FOR UPDATE SKIP LOCKED"
    ),
    lock_ready: concat!(
        "SELECT ",
        crate::sql::task_columns!(),
        ", spec FROM tasks WHERE id = $1 AND status = 'ready' AND (not_before IS NULL OR not_before <= $2) FOR UPDATE SKIP LOCKED"
    ),
    lock_file_claims: "SELECT value FROM counters WHERE name = 'claim_files' FOR UPDATE",
    lock_ports: "SELECT value FROM counters WHERE name = 'ports' FOR UPDATE",
    notify_ready: Some("NOTIFY colony_ready"),
    notify_events: Some("NOTIFY colony_events")
);

/// How long a query waits for a free connection before giving up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The channels the `notify_ready` and `notify_events` statements above
/// send on.
fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Ready => "colony_ready",
        Channel::Events => "colony_events",
    }
}

pub struct Postgres {
    pool: PgPool,
    /// For the listener's own connection; boxed, as it is large.
    options: Box<PgConnectOptions>,
}

impl SqlStore {
    /// Connects to `url` (`postgres://…`) and brings the schema up to date.
    pub async fn open_postgres(url: &str, clock: Arc<dyn Clock>) -> Result<Self> {
        let options: PgConnectOptions =
            url.parse().map_err(|e: sqlx::Error| StoreError::BadUrl { url: redact(url), why: e.to_string() })?;
        // One direct connection first: a pool reports an unreachable server
        // only as "timed out", hiding the refused connection or bad password.
        PgConnection::connect_with(&options).await?.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        crate::migrate::run(&pool, crate::migrate::Dialect::Postgres).await?;
        Ok(SqlStore::new(Db::Postgres(Postgres { pool, options: Box::new(options) }), clock))
    }
}

/// The URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Backend for Postgres {
    type Tx = PgTx;

    async fn begin_write(&self) -> Result<PgTx> {
        PgTx::begin(&self.pool, None, None).await
    }

    /// One snapshot for every query of a read, so a task's detail never
    /// mixes its state before a commit with its attempts after it.
    async fn begin_read(&self) -> Result<PgTx> {
        PgTx::begin(&self.pool, Some("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"), None).await
    }

    /// On a connection of its own, outside the store's pool, which it would
    /// otherwise hold a slot of for good.
    async fn listen(&self, channel: Channel) -> Result<Option<Listener>> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with((*self.options).clone())
            .await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        // The pool is the listener's alone and never closed while it lives.
        listener.ignore_pool_close_event(true);
        listener.listen(channel_name(channel)).await?;
        Ok(Some(Listener { listener }))
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// Notifications from every process sharing a PostgreSQL store: that
/// tasks became claimable ([`crate::Store::ready_listener`]), or that
/// events were written ([`crate::Store::event_listener`]).
pub struct Listener {
    listener: PgListener,
}

impl Listener {
    /// Returns when there may be news: a notification came, or the
    /// connection was lost and made again, so notifications may have been
    /// missed. Notifications already received with it are taken too: one
    /// return stands for them all. An error means no connection could be
    /// made; calling again tries again.
    pub async fn next(&mut self) -> Result<()> {
        self.listener.try_recv().await?;
        while self.listener.next_buffered().is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(super::redact("postgres://u:secret@h:5/db"), "postgres://u:***@h:5/db");
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("postgres:///db?host=/tmp"), "postgres:///db?host=/tmp");
    }
}
