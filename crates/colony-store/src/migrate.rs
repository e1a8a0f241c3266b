//! The schema, embedded in the binary and applied on open.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

use crate::error::StoreError;

/// Which database a migrator is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

fn migration(version: i64, description: &'static str, sql: &'static str) -> Migration {
    let sql = AssertSqlSafe(sql).into_sql_str();
    Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, sql, false)
}

/// The schema itself uses only what both databases understand; tuning that
/// only one of them has comes after it, for that one alone.
pub(crate) fn migrator(dialect: Dialect) -> Migrator {
    let mut migrations = vec![
        migration(1, "init", include_str!("../migrations/0001_init.sql")),
        migration(2, "processes and locks", include_str!("../migrations/0002_processes_and_locks.sql")),
    ];
    if dialect == Dialect::Postgres {
        migrations.push(migration(3, "queue tuning", include_str!("../migrations/postgres/0003_queue_tuning.sql")));
    }
    migrations.push(migration(4, "usage", include_str!("../migrations/0004_usage.sql")));
    migrations.push(migration(5, "decisions", include_str!("../migrations/0005_decisions.sql")));
    migrations.push(migration(6, "merge commits", include_str!("../migrations/0006_merge_commits.sql")));
    migrations.push(migration(7, "agents", include_str!("../migrations/0007_agents.sql")));
    migrations.push(migration(8, "sessions", include_str!("../migrations/0008_sessions.sql")));
    migrations.push(migration(9, "ports", include_str!("../migrations/0009_ports.sql")));
    migrations.push(migration(10, "answers", include_str!("../migrations/0010_answers.sql")));
    migrations.push(migration(11, "followups", include_str!("../migrations/0011_followups.sql")));
    migrations.push(migration(12, "runs", include_str!("../migrations/0012_runs.sql")));
    migrations.push(migration(13, "questions", include_str!("../migrations/0013_questions.sql")));
    migrations.push(migration(14, "notify", include_str!("../migrations/0014_notify.sql")));
    migrations.push(migration(15, "review comments", include_str!("../migrations/0015_review_comments.sql")));
    Migrator::with_migrations(migrations)
}

/// Applies the migrations. Several processes opening a new SQLite file at
/// once can race to create the schema (SQLite has no migration lock); the
/// loser's next try finds it applied.
pub(crate) async fn run<DB>(pool: &sqlx::Pool<DB>, dialect: Dialect) -> Result<(), StoreError>
where
    DB: sqlx::Database,
    DB::Connection: sqlx::migrate::Migrate,
{
    let migrator = migrator(dialect);
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
