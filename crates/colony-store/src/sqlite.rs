//! The embedded store: one SQLite file in WAL mode.
//!
//! Every write transaction starts with `BEGIN IMMEDIATE`, taking the write
//! lock up front: a deferred transaction that reads and then writes can fail
//! to upgrade its lock under contention, and a retry then repeats its reads.
//!
//! Before that, a writer takes two locks of colony's own: a mutex shared by
//! the writers of this process, then an exclusive `flock` on `<db>.lock`
//! shared with other processes. SQLite's busy handler waits by sleeping in
//! steps of up to 100 ms, so eight processes contending through it stall for
//! hundreds of milliseconds while the database sits idle; a waiter on
//! `flock` wakes as soon as the holder lets go. The busy timeout stays as
//! the fallback for writers that are not colony (a `sqlite3` shell).

use std::fs::File;
use std::io;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

use crate::clock::Clock;
use crate::error::StoreError;
use crate::store::{Backend, Channel, Db, SqlStore};
use crate::tx::Result;

crate::sql::sql_tx!(
    SqliteTx,
    sqlx::Sqlite,
    load_locked: concat!("SELECT ", crate::sql::task_columns!(), " FROM tasks WHERE id = $1"),
    dependents_locked: concat!(
        "SELECT ",
        crate::sql::task_columns!(),
        " FROM tasks WHERE id IN (SELECT task FROM task_deps WHERE dep = $1) ORDER BY id"
    ),
    pick_ready: concat!(
        "SELECT ",
        crate::sql::task_columns!(),
        ", spec FROM tasks WHERE status = 'ready' AND (not_before IS NULL OR not_before <= $1) \
         ORDER BY path_weight DESC, priority DESC, ord LIMIT 1"
    ),
    lock_ready: concat!(
        "SELECT ",
        crate::sql::task_columns!(),
        ", spec FROM tasks WHERE id = $1 AND status = 'ready' AND (not_before IS NULL OR not_before <= $2)"
    ),
    // Write transactions are serialized already: nothing more to take.
    lock_file_claims: "SELECT 1",
    lock_ports: "SELECT 1",
    // No LISTEN/NOTIFY: idle workers and tails poll.
    notify_ready: None,
    notify_events: None
);

/// How long a writer waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Sqlite {
    pool: SqlitePool,
    /// Writers of this process queue here, holding the lock file's handle.
    write_gate: Arc<Mutex<Arc<File>>>,
}

/// Held by a write transaction until it ends: this process's write gate and
/// the cross-process lock on `<db>.lock`.
pub struct WriteLock {
    _file: FileLock,
    _gate: OwnedMutexGuard<Arc<File>>,
}

/// An exclusive `flock`, released on drop (and by the kernel if the process
/// dies holding it).
struct FileLock(Arc<File>);

impl Drop for FileLock {
    fn drop(&mut self) {
        // Unlocking a held flock on an open file cannot fail in a way that
        // leaves it held; closing the file would release it too.
        let _ = self.0.unlock();
    }
}

impl FileLock {
    /// Waits for the lock on a blocking thread. The lock comes back through
    /// a channel so that if this future is dropped while the thread waits,
    /// the lock the thread then takes is dropped, not leaked.
    async fn acquire(file: Arc<File>) -> io::Result<FileLock> {
        let (send, recv) = oneshot::channel();
        tokio::task::spawn_blocking(move || {
            let _ = send.send(file.lock().map(|()| FileLock(file)));
        });
        recv.await.unwrap_or_else(|_| Err(io::Error::other("the lock waiter thread ended")))
    }
}

impl SqlStore {
    /// Opens (creating if missing) the database at `path` and brings its
    /// schema up to date.
    pub async fn open_sqlite(path: &Path, clock: Arc<dyn Clock>) -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(StoreError::Db)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::Db(sqlx::Error::Io(e)))?;
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        crate::migrate::run(&pool, crate::migrate::Dialect::Sqlite).await?;
        let write_gate = Arc::new(Mutex::new(Arc::new(lock_file)));
        Ok(SqlStore::new(Db::Sqlite(Sqlite { pool, write_gate }), clock))
    }
}

impl Backend for Sqlite {
    type Tx = SqliteTx;

    async fn begin_write(&self) -> Result<SqliteTx> {
        let gate = self.write_gate.clone().lock_owned().await;
        let file = FileLock::acquire(gate.clone()).await.map_err(|e| StoreError::Db(sqlx::Error::Io(e)))?;
        SqliteTx::begin(&self.pool, Some("BEGIN IMMEDIATE"), Some(WriteLock { _file: file, _gate: gate })).await
    }

    async fn begin_read(&self) -> Result<SqliteTx> {
        SqliteTx::begin(&self.pool, None, None).await
    }

    async fn listen(&self, _channel: Channel) -> Result<Option<crate::Listener>> {
        Ok(None)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
