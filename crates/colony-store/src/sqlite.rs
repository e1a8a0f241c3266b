//! The embedded store: one SQLite file in WAL mode.
//!
//! Every write transaction starts with `BEGIN IMMEDIATE`, taking the write
//! lock up front: a deferred transaction that reads and then writes can fail
//! to upgrade its lock under contention, and a retry then repeats its reads.
//! Inside one process, writers also queue on a mutex first, so SQLite's
//! sleeping busy handler only arbitrates between processes.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::Mutex;

use crate::clock::Clock;
use crate::error::StoreError;
use crate::store::{Backend, SqlStore};
use crate::tx::Result;

crate::sql::sql_tx!(
    SqliteTx,
    sqlx::Sqlite,
    load_locked: concat!("SELECT ", crate::sql::task_columns!(), " FROM tasks WHERE id = $1"),
    pick_ready: "SELECT id FROM tasks WHERE status = 'ready' AND (not_before IS NULL OR not_before <= $1) \
                 ORDER BY path_weight DESC, priority DESC, ord LIMIT 1"
);

/// How long a writer waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Sqlite {
    pool: SqlitePool,
    write_gate: Arc<Mutex<()>>,
}

/// The store on a SQLite file.
pub type SqliteStore = SqlStore<Sqlite>;

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and brings its
    /// schema up to date.
    pub async fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(StoreError::Db)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        crate::migrate::run(&pool).await?;
        Ok(SqlStore { backend: Sqlite { pool, write_gate: Arc::new(Mutex::new(())) }, clock })
    }

    pub async fn close(&self) {
        self.backend.pool.close().await;
    }
}

impl Backend for Sqlite {
    type Tx = SqliteTx;

    async fn begin_write(&self) -> Result<SqliteTx> {
        let gate = self.write_gate.clone().lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(SqliteTx::new(tx, Some(gate)))
    }

    async fn begin_read(&self) -> Result<SqliteTx> {
        Ok(SqliteTx::new(self.pool.begin().await?, None))
    }
}
