//! The schema, embedded in the binary and applied on open.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

use crate::error::StoreError;

/// Both databases run the same migrations: the schema uses only what both
/// understand.
pub(crate) fn migrator() -> Migrator {
    let sql = AssertSqlSafe(include_str!("../migrations/0001_init.sql")).into_sql_str();
    let init = Migration::new(1, Cow::Borrowed("init"), MigrationType::Simple, sql, false);
    Migrator::with_migrations(vec![init])
}

/// Applies the migrations. Several processes opening a new SQLite file at
/// once can race to create the schema (SQLite has no migration lock); the
/// loser's next try finds it applied.
pub(crate) async fn run<DB>(pool: &sqlx::Pool<DB>) -> Result<(), StoreError>
where
    DB: sqlx::Database,
    DB::Connection: sqlx::migrate::Migrate,
{
    let migrator = migrator();
    let mut tries = 0;
    loop {
        match migrator.run(pool).await {
            Ok(()) => return Ok(()),
            Err(_) if tries < 5 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50 * tries)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
