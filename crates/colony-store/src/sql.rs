//! [`Tx`] for both databases from one body of SQL.
//!
//! The schema and nearly every statement are the same on SQLite and
//! PostgreSQL; a macro instantiates the implementation for each concrete
//! transaction type, so no generic `sqlx::Database` bounds are needed and
//! the two cannot drift apart. The statements that differ (row locks and
//! `SKIP LOCKED`, which SQLite has no need of since its write transactions
//! are serialized) are the macro's arguments.

/// The projection columns [`crate::row::TaskCols`] reads.
macro_rules! task_columns {
    () => {
        "id, plan, digest, status, attempt, tries, max_attempts, lease_owner, lease_until, not_before, reason, blocked_by"
    };
}

/// The projection columns and what lists show beside them.
macro_rules! record_columns {
    () => {
        concat!($crate::sql::task_columns!(), ", title, priority, path_weight, updated_at")
    };
}

/// A `LIKE` pattern (escape character `\`) finding `text` anywhere, lowercased:
/// the columns it is matched against are lowercased too.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Events per `INSERT`: five values each stays far below SQLite's 32,766
/// and PostgreSQL's 65,535 bound values a statement.
pub(crate) const EVENTS_PER_INSERT: usize = 1000;

macro_rules! sql_tx {
    (
        $tx:ident,
        $db:ty,
        load_locked: $load_locked:expr,
        dependents_locked: $dependents_locked:expr,
        pick_ready: $pick_ready:expr,
        lock_ready: $lock_ready:expr,
        lock_file_claims: $lock_file_claims:expr,
        lock_ports: $lock_ports:expr,
        notify_ready: $notify_ready:expr,
        notify_events: $notify_events:expr
    ) => {
        /// An open transaction on a connection of the pool, and for SQLite
        /// writes colony's write lock, held until the transaction ends.
        ///
        /// The transaction is driven through sqlx's `TransactionManager`
        /// rather than a `sqlx::Transaction`, so that the connection is
        /// still at hand when a commit or rollback fails: SQLite ends the
        /// transaction itself on a full disk, and a connection whose
        /// bookkeeping still counts it open would refuse every later
        /// `BEGIN` ("non-zero transaction depth").
        ///
        /// A transaction dropped while its begin, commit or rollback was
        /// under way (its future cancelled: an aborted heartbeat, a stop) is
        /// in doubt: the database may have ended it while the connection
        /// still counts it open. Its connection is closed, never given
        /// back to the pool, where the next `BEGIN` would become a
        /// `SAVEPOINT` outside any transaction.
        pub struct $tx {
            conn: sqlx::pool::PoolConnection<$db>,
            /// A begin, commit or rollback is under way: a drop now (its
            /// future cancelled) leaves the transaction in doubt.
            ending: bool,
            _lock: Option<$crate::sqlite::WriteLock>,
        }

        impl $tx {
            /// Begins a transaction with `statement` (`BEGIN` when `None`).
            async fn begin(
                pool: &sqlx::Pool<$db>,
                statement: Option<&'static str>,
                lock: Option<$crate::sqlite::WriteLock>,
            ) -> $crate::tx::Result<Self> {
                use sqlx::SqlSafeStr;
                use sqlx_core::transaction::TransactionManager;
                // In doubt until the begin is through: a begin cancelled
                // once the database has started the transaction leaves the
                // connection counting it open, which must not go back to
                // the pool, where the next `BEGIN` would be refused.
                let mut tx = $tx { conn: pool.acquire().await?, ending: true, _lock: lock };
                let statement = statement.map(SqlSafeStr::into_sql_str);
                <$db as sqlx::Database>::TransactionManager::begin(&mut tx.conn, statement).await?;
                tx.ending = false;
                Ok(tx)
            }

            /// Commits or rolls back; on a failure, [`settle`s](Self::settle).
            async fn end(mut self, commit: bool) -> $crate::tx::Result<()> {
                use sqlx_core::transaction::TransactionManager;
                type Manager = <$db as sqlx::Database>::TransactionManager;
                self.ending = true;
                let ended =
                    if commit { Manager::commit(&mut self.conn).await } else { Manager::rollback(&mut self.conn).await };
                if ended.is_err() {
                    self.settle().await;
                }
                Ok(ended?)
            }

            /// After a commit or rollback that failed: ends whatever is left
            /// of the transaction, or, when that fails too, closes the
            /// connection rather than give it back to the pool in doubt.
            async fn settle(&mut self) {
                use sqlx_core::transaction::TransactionManager;
                type Manager = <$db as sqlx::Database>::TransactionManager;
                if Manager::get_transaction_depth(&self.conn) > 0 && Manager::rollback(&mut self.conn).await.is_err() {
                    self.conn.close_on_drop();
                }
            }
        }

        impl Drop for $tx {
            fn drop(&mut self) {
                use sqlx_core::transaction::TransactionManager;
                type Manager = <$db as sqlx::Database>::TransactionManager;
                if Manager::get_transaction_depth(&self.conn) == 0 {
                    return;
                }
                if self.ending {
                    self.conn.close_on_drop();
                } else {
                    Manager::start_rollback(&mut self.conn);
                }
            }
        }

        fn wait_row(row: &<$db as sqlx::Database>::Row) -> $crate::tx::Result<$crate::types::AgentWait> {
            use sqlx::Row;
            Ok($crate::types::AgentWait {
                agent: row.try_get("agent")?,
                reason: row.try_get("reason")?,
                since: row.try_get("since")?,
                ends_at: row.try_get("ends_at")?,
            })
        }

        fn task_cols(row: &<$db as sqlx::Database>::Row) -> std::result::Result<$crate::row::TaskCols, sqlx::Error> {
            use sqlx::Row;
            Ok($crate::row::TaskCols {
                id: row.try_get("id")?,
                plan: row.try_get("plan")?,
                digest: row.try_get("digest")?,
                status: row.try_get("status")?,
                attempt: row.try_get("attempt")?,
                tries: row.try_get("tries")?,
                max_attempts: row.try_get("max_attempts")?,
                lease_owner: row.try_get("lease_owner")?,
                lease_until: row.try_get("lease_until")?,
                not_before: row.try_get("not_before")?,
                reason: row.try_get("reason")?,
                blocked_by: row.try_get("blocked_by")?,
            })
        }

        fn record_from(
            row: &<$db as sqlx::Database>::Row,
            deps: Vec<colony_core::TaskId>,
        ) -> $crate::tx::Result<$crate::types::TaskRecord> {
            use sqlx::Row;
            Ok($crate::types::TaskRecord {
                task: task_cols(row)?.into_task()?,
                title: row.try_get("title")?,
                priority: row.try_get::<i64, _>("priority")? as i32,
                path_weight: row.try_get("path_weight")?,
                deps,
                updated_at: row.try_get("updated_at")?,
            })
        }

        /// The `input_tokens`, `output_tokens`, `cached_tokens` and `cost_usd` of a row.
        fn usage_cols(row: &<$db as sqlx::Database>::Row) -> $crate::tx::Result<colony_core::Usage> {
            use sqlx::Row;
            Ok(colony_core::Usage {
                input: row.try_get::<i64, _>("input_tokens")? as u64,
                output: row.try_get::<i64, _>("output_tokens")? as u64,
                cached: row.try_get::<i64, _>("cached_tokens")? as u64,
                cost_usd: row.try_get("cost_usd")?,
            })
        }

        fn event_row(row: &<$db as sqlx::Database>::Row) -> $crate::tx::Result<colony_core::Event> {
            use sqlx::Row;
            $crate::row::event_from(row.try_get("seq")?, row.try_get("at")?, row.try_get("task")?, row.try_get("data")?)
        }

        /// A block of ports as stored.
        fn ports_of(first: i64, last: i64) -> $crate::tx::Result<colony_core::ports::Ports> {
            match (u16::try_from(first), u16::try_from(last)) {
                (Ok(first), Ok(last)) if first <= last => Ok(colony_core::ports::Ports { first, last }),
                _ => Err($crate::error::StoreError::Corrupt {
                    what: format!("ports {first}-{last}"),
                    source: serde::de::Error::custom("not a range of TCP ports"),
                }),
            }
        }

        fn ids(rows: Vec<String>) -> $crate::tx::Result<Vec<colony_core::TaskId>> {
            rows.into_iter()
                .map(|s| {
                    colony_core::TaskId::new(&s).map_err(|_| $crate::error::StoreError::Corrupt {
                        what: format!("task id `{s}`"),
                        source: serde::de::Error::custom("invalid id"),
                    })
                })
                .collect()
        }

        impl $crate::tx::Tx for $tx {
            async fn load(&mut self, id: &str, lock: bool) -> $crate::tx::Result<Option<colony_core::Task>> {
                let sql = if lock {
                    $load_locked
                } else {
                    concat!("SELECT ", $crate::sql::task_columns!(), " FROM tasks WHERE id = $1")
                };
                let row = sqlx::query(sql).bind(id).fetch_optional(&mut *self.conn).await?;
                match row {
                    Some(row) => Ok(Some(task_cols(&row)?.into_task()?)),
                    None => Ok(None),
                }
            }

            async fn save(&mut self, task: &colony_core::Task, now: colony_core::Millis) -> $crate::tx::Result<()> {
                let c = $crate::row::state_cols(&task.state);
                sqlx::query(
                    "UPDATE tasks SET digest = $2, status = $3, attempt = $4, tries = $5, max_attempts = $6, \
                     lease_owner = $7, lease_until = $8, not_before = $9, reason = $10, blocked_by = $11, updated_at = $12 \
                     WHERE id = $1",
                )
                .bind(task.id.as_str())
                .bind(&task.spec_digest)
                .bind(c.status)
                .bind(task.attempt as i64)
                .bind(task.tries as i64)
                .bind(task.max_attempts as i64)
                .bind(c.lease_owner)
                .bind(c.lease_until)
                .bind(c.not_before)
                .bind(c.reason)
                .bind(c.blocked_by)
                .bind(now)
                .execute(&mut *self.conn)
                .await?;
                Ok(())
            }

            async fn insert_task(&mut self, new: $crate::tx::NewTask<'_>, now: colony_core::Millis) -> $crate::tx::Result<()> {
                let t = new.task;
                let c = $crate::row::state_cols(&t.state);
                let spec = serde_json::to_string(new.spec).expect("a TaskSpec always serializes");
                sqlx::query(
                    "INSERT INTO tasks (id, plan, ord, title, spec, digest, status, attempt, tries, max_attempts, \
                     priority, path_weight, lease_owner, lease_until, not_before, reason, blocked_by, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
                )
                .bind(t.id.as_str())
                .bind(t.plan.as_str())
                .bind(new.ord)
                .bind(&new.spec.title)
                .bind(spec)
                .bind(&t.spec_digest)
                .bind(c.status)
                .bind(t.attempt as i64)
                .bind(t.tries as i64)
                .bind(t.max_attempts as i64)
                .bind(new.spec.priority as i64)
                .bind(new.path_weight)
                .bind(c.lease_owner)
                .bind(c.lease_until)
                .bind(c.not_before)
                .bind(c.reason)
                .bind(c.blocked_by)
                .bind(now)
                .execute(&mut *self.conn)
                .await?;
                Ok(())
            }

            async fn set_spec(&mut self, id: &colony_core::TaskId, spec: &colony_core::TaskSpec) -> $crate::tx::Result<()> {
                let json = serde_json::to_string(spec).expect("a TaskSpec always serializes");
                sqlx::query("UPDATE tasks SET spec = $2, title = $3, priority = $4 WHERE id = $1")
                    .bind(id.as_str())
                    .bind(json)
                    .bind(&spec.title)
                    .bind(spec.priority as i64)
                    .execute(&mut *self.conn)
                    .await?;
                Ok(())
            }

            async fn set_path_weight(&mut self, id: &colony_core::TaskId, weight: f64) -> $crate::tx::Result<()> {
                sqlx::query("UPDATE tasks SET path_weight = $2 WHERE id = $1 AND path_weight <> $2")
                    .bind(id.as_str())
                    .bind(weight)
                    .execute(&mut *self.conn)
                    .await?;
                Ok(())
            }

            async fn spec(&mut self, id: &str) -> $crate::tx::Result<colony_core::TaskSpec> {
                let text: String = sqlx::query_scalar("SELECT spec FROM tasks WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *self.conn)
                    .await?;
                $crate::row::json(format!("spec of task {id}"), &text)
            }

            async fn replace_deps(&mut self, id: &colony_core::TaskId, deps: &[colony_core::TaskId]) -> $crate::tx::Result<()> {
                sqlx::query("DELETE FROM task_deps WHERE task = $1").bind(id.as_str()).execute(&mut *self.conn).await?;
                for dep in deps {
                    sqlx::query("INSERT INTO task_deps (task, dep) VALUES ($1, $2)")
                        .bind(id.as_str())
                        .bind(dep.as_str())
                        .execute(&mut *self.conn)
                        .await?;
                }
                Ok(())
            }

            async fn deps(&mut self, id: &str) -> $crate::tx::Result<Vec<colony_core::TaskId>> {
                let rows: Vec<String> = sqlx::query_scalar("SELECT dep FROM task_deps WHERE task = $1 ORDER BY dep")
                    .bind(id)
                    .fetch_all(&mut *self.conn)
                    .await?;
                ids(rows)
            }

            async fn dep_tasks(&mut self, id: &str) -> $crate::tx::Result<Vec<colony_core::Task>> {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    $crate::sql::task_columns!(),
                    " FROM tasks WHERE id IN (SELECT dep FROM task_deps WHERE task = $1) ORDER BY id"
                ))
                .bind(id)
                .fetch_all(&mut *self.conn)
                .await?;
                rows.iter().map(|row| task_cols(row)?.into_task()).collect()
            }

            async fn dependents_locked(&mut self, id: &str) -> $crate::tx::Result<Vec<colony_core::Task>> {
                let rows = sqlx::query($dependents_locked).bind(id).fetch_all(&mut *self.conn).await?;
                rows.iter().map(|row| task_cols(row)?.into_task()).collect()
            }

            async fn dependents(&mut self, id: &str) -> $crate::tx::Result<Vec<colony_core::TaskId>> {
                let rows: Vec<String> = sqlx::query_scalar("SELECT task FROM task_deps WHERE dep = $1 ORDER BY task")
                    .bind(id)
                    .fetch_all(&mut *self.conn)
                    .await?;
                ids(rows)
            }

            async fn pick_ready(
                &mut self,
                now: colony_core::Millis,
            ) -> $crate::tx::Result<Option<(colony_core::Task, colony_core::TaskSpec)>> {
                use sqlx::Row;
                let Some(row) = sqlx::query($pick_ready).bind(now).fetch_optional(&mut *self.conn).await? else {
                    return Ok(None);
                };
                let task = task_cols(&row)?.into_task()?;
                let spec: String = row.try_get("spec")?;
                let spec = $crate::row::json(format!("spec of task {}", task.id), &spec)?;
                Ok(Some((task, spec)))
            }

            async fn ready_ids(&mut self, now: colony_core::Millis, limit: i64) -> $crate::tx::Result<Vec<colony_core::TaskId>> {
                let rows: Vec<String> = sqlx::query_scalar(
                    "SELECT id FROM tasks WHERE status = 'ready' AND (not_before IS NULL OR not_before <= $1) \
                     ORDER BY path_weight DESC, priority DESC, ord LIMIT $2",
                )
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *self.conn)
                .await?;
                ids(rows)
            }

            async fn lock_ready(
                &mut self,
                id: &colony_core::TaskId,
                now: colony_core::Millis,
            ) -> $crate::tx::Result<Option<(colony_core::Task, colony_core::TaskSpec)>> {
                use sqlx::Row;
                let Some(row) = sqlx::query($lock_ready).bind(id.as_str()).bind(now).fetch_optional(&mut *self.conn).await? else {
                    return Ok(None);
                };
                let task = task_cols(&row)?.into_task()?;
                let spec: String = row.try_get("spec")?;
                let spec = $crate::row::json(format!("spec of task {}", task.id), &spec)?;
                Ok(Some((task, spec)))
            }

            async fn lock_file_claims(&mut self) -> $crate::tx::Result<()> {
                sqlx::query($lock_file_claims).execute(&mut *self.conn).await?;
                Ok(())
            }

            async fn lock_ports(&mut self) -> $crate::tx::Result<()> {
                sqlx::query($lock_ports).execute(&mut *self.conn).await?;
                Ok(())
            }

            async fn live_ports(&mut self, now: colony_core::Millis) -> $crate::tx::Result<Vec<colony_core::ports::Ports>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT a.port_first, a.port_last FROM attempts a JOIN tasks t ON t.id = a.task \
                     WHERE a.port_first IS NOT NULL AND a.ended_at IS NULL AND t.attempt = a.attempt \
                     AND t.lease_until IS NOT NULL AND t.lease_until >= $1 \
                     UNION ALL SELECT port_first, port_last FROM port_holds WHERE until >= $1",
                )
                .bind(now)
                .fetch_all(&mut *self.conn)
                .await?;
                rows.iter().map(|r| ports_of(r.try_get("port_first")?, r.try_get("port_last")?)).collect()
            }

            async fn set_attempt_ports(
                &mut self,
                id: &colony_core::TaskId,
                attempt: u32,
                ports: colony_core::ports::Ports,
            ) -> $crate::tx::Result<()> {
                sqlx::query("UPDATE attempts SET port_first = $3, port_last = $4 WHERE task = $1 AND attempt = $2")
                    .bind(id.as_str())
                    .bind(attempt as i64)
                    .bind(i64::from(ports.first))
                    .bind(i64::from(ports.last))
                    .execute(&mut *self.conn)
                    .await?;
                Ok(())
            }

            async fn put_port_hold(
                &mut self,
                holder: &str,
                ports: colony_core::ports::Ports,
                until: colony_core::Millis,
            ) -> $crate::tx::Result<()> {
                sqlx::query("INSERT INTO port_holds (holder, port_first, port_last, until) VALUES ($1, $2, $3, $4)")
                    .bind(holder)
                    .bind(i64::from(ports.first))
                    .bind(i64::from(ports.last))
                    .bind(until)
                    .execute(&mut *self.conn)
                    .await?;
                Ok(())
            }

            async fn delete_port_hold(&mut self, holder: &str) -> $crate::tx::Result<()> {
                sqlx::query("DELETE FROM port_holds WHERE holder = $1").bind(holder).execute(&mut *self.conn).await?;
                Ok(())
            }

            async fn leased_specs(&mut self) -> $crate::tx::Result<Vec<colony_core::TaskSpec>> {
                let rows: Vec<String> = sqlx::query_scalar("SELECT spec FROM tasks WHERE lease_until IS NOT NULL")
                    .fetch_all(&mut *self.conn)
                    .await?;
                rows.iter().map(|s| $crate::row::json("a leased task's spec", s)).collect()
            }

            async fn record_process(
                &mut self,
                id: &colony_core::TaskId,
                attempt: u32,
                pgid: i64,
                boot_id: &str,
            ) -> $crate::tx::Result<u64> {
                let done = sqlx::query(
                    "UPDATE attempts SET pgid = $3, boot_id = $4 WHERE task = $1 AND attempt = $2 AND ended_at IS NULL",
                )
                .bind(id.as_str())
                .bind(attempt as i64)
                .bind(pgid)
                .bind(boot_id)
                .execute(&mut *self.conn)
                .await?;
                Ok(done.rows_affected())
            }

            async fn live_attempts(&mut self) -> $crate::tx::Result<Vec<$crate::types::LiveAttempt>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT t.id, t.attempt, t.lease_owner, t.lease_until, a.pgid, a.boot_id FROM tasks t \
                     LEFT JOIN attempts a ON a.task = t.id AND a.attempt = t.attempt \
                     WHERE t.lease_until IS NOT NULL ORDER BY t.id",
                )
                .fetch_all(&mut *self.conn)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::types::LiveAttempt {
                            task: ids(vec![r.try_get("id")?])?.remove(0),
                            attempt: r.try_get::<i64, _>("attempt")? as u32,
                            worker: r.try_get("lease_owner")?,
                            lease_until: r.try_get("lease_until")?,
                            pgid: r.try_get("pgid")?,
                            boot_id: r.try_get("boot_id")?,
                        })
                    })
                    .collect()
            }

            async fn try_lock(
                &mut self,
                name: &str,
                holder: &str,
                until: colony_core::Millis,
                now: colony_core::Millis,
            ) -> $crate::tx::Result<bool> {
                let done = sqlx::query(
                    "INSERT INTO locks (name, holder, until) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
                     WHERE locks.until < $4 OR locks.holder = excluded.holder",
                )
                .bind(name)
                .bind(holder)
                .bind(until)
                .bind(now)
                .execute(&mut *self.conn)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn unlock(&mut self, name: &str, holder: &str) -> $crate::tx::Result<()> {
                sqlx::query("DELETE FROM locks WHERE name = $1 AND holder = $2")
                    .bind(name)
                    .bind(holder)
                    .execute(&mut *self.conn)
                    .await?;
                Ok(())
            }

            async fn holds_lock(&mut self, name: &str, holder: &str, now: colony_core::Millis) -> $crate::tx::Result<bool> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM locks WHERE name = $1 AND holder = $2 AND until >= $3")
                    .bind(name)
                    .bind(holder)
                    .bind(now)
                    .fetch_one(&mut *self.conn)
                    .await?;
                Ok(n == 1)
            }

            async fn set_merge_commit(&mut self, id: &colony_core::TaskId, attempt: u32, commit: &str) -> $crate::tx::Result<()> {
                sqlx::query("UPDATE attempts SET merge_commit = $3 WHERE task = $1 AND attempt = $2")
                    .bind(id.as_str())
                    .bind(attempt as i64)
                    .bind(commit)
                    .execute(&mut *self.conn)
                    .await?;
                Ok(())
            }

            async fn merge_commits(&mut self, id: &str) -> $crate::tx::Result<Vec<(u32, String)>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT attempt, merge_commit FROM attempts WHERE task = $1 AND merge_commit IS NOT NULL ORDER BY attempt",
                )
                .bind(id)
                .fetch_all(&mut *self.conn)
                .await?;
                rows.iter().map(|r| Ok((r.try_get::<i64, _>("attempt")? as u32, r.try_get("merge_commit")?))).collect()
            }

            async fn expired(&mut self, now: colony_core::Millis) -> $crate::tx::Result<Vec<colony_core::TaskId>> {
                let rows: Vec<String> =
                    sqlx::query_scalar("SELECT id FROM tasks WHERE lease_until IS NOT NULL AND lease_until < $1 ORDER BY lease_until")
                        .bind(now)
                        .fetch_all(&mut *self.conn)
                        .await?;
                ids(rows)
            }

            async fn unanswered(&mut self, now: colony_core::Millis) -> $crate::tx::Result<Vec<colony_core::TaskId>> {
                let rows: Vec<String> = sqlx::query_scalar(
                    "SELECT id FROM tasks WHERE status = 'awaiting_input' AND not_before < $1 ORDER BY not_before",
                )
                .bind(now)
                .fetch_all(&mut *self.conn)
                .await?;
                ids(rows)
            }

            async fn extend_lease(&mut self, id: &colony_core::TaskId, attempt: u32, until: colony_core::Millis) -> $crate::tx::Result<u64> {
                let done = sqlx::query(
                    "UPDATE tasks SET lease_until = $3 WHERE id = $1 AND attempt = $2 AND lease_until IS NOT NULL",
                )
                .bind(id.as_str())
                .bind(attempt as i64)
                .bind(until)
                .execute(&mut *self.conn)
                .await?;
                Ok(done.rows_affected())
            }

            async fn start_attempt(&mut self, id: &colony_core::TaskId, attempt: u32, worker: &str, now: colony_core::Millis) -> $crate::tx::Result<()> {
                sqlx::query("INSERT INTO attempts (task, attempt, worker, started_at) VALUES ($1, $2, $3, $4)")
                    .bind(id.as_str())
                    .bind(attempt as i64)
                    .bind(worker)
                    .bind(now)
                    .execute(&mut *self.conn)
                    .await?;
                Ok(())
            }

            async fn end_attempt(
                &mut self,
                id: &colony_core::TaskId,
                attempt: u32,
                outcome: &str,
                reason: Option<&str>,
                now: colony_core::Millis,
            ) -> $crate::tx::Result<()> {
                sqlx::query(
                    "UPDATE attempts SET ended_at = $3, outcome = $4, reason = $5 WHERE task = $1 AND attempt = $2 AND ended_at IS NULL",
                )
                .bind(id.as_str())
                .bind(attempt as i64)
                .bind(now)
                .bind(outcome)
                .bind(reason)
                .execute(&mut *self.conn)
                .await?;
                Ok(())
            }

            async fn next_ords(&mut self, n: i64) -> $crate::tx::Result<i64> {
                let end: i64 = sqlx::query_scalar("UPDATE counters SET value = value + $1 WHERE name = 'task_ord' RETURNING value")
                    .bind(n)
                    .fetch_one(&mut *self.conn)
                    .await?;
                Ok(end - n + 1)
            }

            async fn plan_head(&mut self, name: &str) -> $crate::tx::Result<Option<String>> {
                Ok(sqlx::query_scalar("SELECT body FROM plans WHERE name = $1").bind(name).fetch_optional(&mut *self.conn).await?)
            }

            async fn put_plan(&mut self, name: &colony_core::PlanName, source: &str, head: &str, now: colony_core::Millis) -> $crate::tx::Result<()> {
                sqlx::query(
                    "INSERT INTO plans (name, source, body, added_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
                     ON CONFLICT (name) DO UPDATE SET source = excluded.source, body = excluded.body, updated_at = excluded.updated_at",
                )
                .bind(name.as_str())
                .bind(source)
                .bind(head)
                .bind(now)
                .execute(&mut *self.conn)
                .await?;
                Ok(())
            }

            async fn plan_task_ids(&mut self, name: &str) -> $crate::tx::Result<Vec<colony_core::TaskId>> {
                let rows: Vec<String> = sqlx::query_scalar("SELECT id FROM tasks WHERE plan = $1 ORDER BY ord")
                    .bind(name)
                    .fetch_all(&mut *self.conn)
                    .await?;
                ids(rows)
            }

            async fn append(&mut self, events: &[(Option<colony_core::TaskId>, colony_core::EventKind)], now: colony_core::Millis) -> $crate::tx::Result<()> {
                let last: i64 = sqlx::query_scalar("UPDATE counters SET value = value + $1 WHERE name = 'event_seq' RETURNING value")
                    .bind(events.len() as i64)
                    .fetch_one(&mut *self.conn)
                    .await?;
                let first = last - events.len() as i64 + 1;
                // Many rows a statement (its text holds only placeholders),
                // within both databases' limits on bound values.
                for (chunk_no, chunk) in events.chunks($crate::sql::EVENTS_PER_INSERT).enumerate() {
                    let base = first + (chunk_no * $crate::sql::EVENTS_PER_INSERT) as i64;
                    let mut builder = sqlx::QueryBuilder::<$db>::new("INSERT INTO events (seq, at, task, kind, data) ");
                    builder.push_values(chunk.iter().enumerate(), |mut row, (i, (task, kind))| {
                        row.push_bind(base + i as i64)
                            .push_bind(now)
                            .push_bind(task.as_ref().map(|t| t.as_str().to_owned()))
                            .push_bind(kind.name())
                            .push_bind(serde_json::to_string(kind).expect("an event always serializes"));
                    });
                    builder.build().execute(&mut *self.conn).await?;
                }
                // Delivered on commit, to every process listening.
                let notify: Option<&str> = $notify_ready;
                if let Some(notify) = notify
                    && events.iter().any(|(_, kind)| $crate::ops::wakes_claimers(kind))
                {
                    sqlx::query(notify).execute(&mut *self.conn).await?;
                }
                let notify: Option<&str> = $notify_events;
                if let Some(notify) = notify {
                    sqlx::query(notify).execute(&mut *self.conn).await?;
                }
                Ok(())
            }

            async fn list(&mut self, filter: &$crate::types::TaskFilter) -> $crate::tx::Result<Vec<$crate::types::TaskRecord>> {
                use sqlx::Row;
                let mut deps: std::collections::HashMap<String, Vec<colony_core::TaskId>> = std::collections::HashMap::new();
                let dep_rows = sqlx::query("SELECT task, dep FROM task_deps ORDER BY task, dep").fetch_all(&mut *self.conn).await?;
                for row in dep_rows {
                    let task: String = row.try_get("task")?;
                    let dep: String = row.try_get("dep")?;
                    deps.entry(task).or_default().extend(ids(vec![dep])?);
                }
                let rows = sqlx::query(
                    concat!("SELECT ", $crate::sql::record_columns!(), " FROM tasks ORDER BY ord"),
                )
                .fetch_all(&mut *self.conn)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let status: String = row.try_get("status")?;
                    let plan: String = row.try_get("plan")?;
                    if !filter.statuses.is_empty() && !filter.statuses.iter().any(|s| s.as_str() == status) {
                        continue;
                    }
                    if filter.plan.as_deref().is_some_and(|p| p != plan) {
                        continue;
                    }
                    let id: String = row.try_get("id")?;
                    out.push(record_from(&row, deps.remove(&id).unwrap_or_default())?);
                }
                Ok(out)
            }

            async fn record(&mut self, id: &str) -> $crate::tx::Result<Option<$crate::types::TaskRecord>> {
                let row = sqlx::query(
                    concat!("SELECT ", $crate::sql::record_columns!(), " FROM tasks WHERE id = $1"),
                )
                .bind(id)
                .fetch_optional(&mut *self.conn)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let deps = $crate::tx::Tx::deps(self, id).await?;
                Ok(Some(record_from(&row, deps)?))
            }

            async fn attempts(&mut self, id: &str) -> $crate::tx::Result<Vec<$crate::types::AttemptRecord>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT attempt, worker, started_at, ended_at, outcome, reason, input_tokens, output_tokens, cached_tokens, cost_usd, \
                     agent_version, session, port_first, port_last, answer FROM attempts WHERE task = $1 ORDER BY attempt",
                )
                .bind(id)
                .fetch_all(&mut *self.conn)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok($crate::types::AttemptRecord {
                            attempt: row.try_get::<i64, _>("attempt")? as u32,
                            worker: row.try_get("worker")?,
                            started_at: row.try_get("started_at")?,
                            ended_at: row.try_get("ended_at")?,
                            outcome: row.try_get("outcome")?,
                            reason: row.try_get("reason")?,
                            usage: usage_cols(row)?,
                            agent_version: row.try_get("agent_version")?,
                            session: row.try_get("session")?,
                            answer: row.try_get("answer")?,
                            ports: match (row.try_get("port_first")?, row.try_get("port_last")?) {
                                (Some(first), Some(last)) => Some(ports_of(first, last)?),
                                _ => None,
                            },
                        })
                    })
                    .collect()
            }

            async fn task_events(&mut self, id: &str) -> $crate::tx::Result<Vec<colony_core::Event>> {
                let rows = sqlx::query("SELECT seq, at, task, data FROM events WHERE task = $1 ORDER BY seq")
                    .bind(id)
                    .fetch_all(&mut *self.conn)
                    .await?;
                rows.iter().map(event_row).collect()
            }

            async fn events(&mut self, since: i64, limit: i64) -> $crate::tx::Result<Vec<colony_core::Event>> {
                let rows = sqlx::query("SELECT seq, at, task, data FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
                    .bind(since)
                    .bind(limit)
                    .fetch_all(&mut *self.conn)
                    .await?;
                rows.iter().map(event_row).collect()
            }

            async fn put_decision(
                &mut self,
                id: &colony_core::TaskId,
                decision: &$crate::types::Decision,
            ) -> $crate::tx::Result<()> {
                sqlx::query("DELETE FROM decisions WHERE task = $1").bind(id.as_str()).execute(&mut *self.conn).await?;
                sqlx::query("INSERT INTO decisions (task, attempt, feedback, question) VALUES ($1, $2, $3, $4)")
                    .bind(id.as_str())
                    .bind(decision.attempt as i64)
                    .bind(decision.feedback.as_deref())
                    .bind(decision.question.as_deref())
                    .execute(&mut *self.conn)
                    .await?;
                Ok(())
            }

            async fn decision(
                &mut self,
                id: &colony_core::TaskId,
            ) -> $crate::tx::Result<Option<$crate::types::Decision>> {
                let row = sqlx::query("SELECT attempt, feedback, question FROM decisions WHERE task = $1")
                    .bind(id.as_str())
                    .fetch_optional(&mut *self.conn)
                    .await?;
                use sqlx::Row;
                row.map(|row| {
                    Ok($crate::types::Decision {
                        attempt: row.try_get::<i64, _>("attempt")? as u32,
                        feedback: row.try_get("feedback")?,
                        question: row.try_get("question")?,
                    })
                })
                .transpose()
            }

            async fn take_decision(
                &mut self,
                id: &colony_core::TaskId,
            ) -> $crate::tx::Result<Option<$crate::types::Decision>> {
                let decision = self.decision(id).await?;
                sqlx::query("DELETE FROM decisions WHERE task = $1").bind(id.as_str()).execute(&mut *self.conn).await?;
                Ok(decision)
            }

            async fn add_usage(
                &mut self,
                id: &colony_core::TaskId,
                attempt: u32,
                usage: &colony_core::Usage,
            ) -> $crate::tx::Result<()> {
                // `cost_usd + $6` is NULL when either is: keep whichever is known.
                sqlx::query(
                    "UPDATE attempts SET input_tokens = input_tokens + $3, output_tokens = output_tokens + $4, \
                     cached_tokens = cached_tokens + $5, cost_usd = COALESCE(cost_usd + $6, cost_usd, $6) \
                     WHERE task = $1 AND attempt = $2",
                )
                .bind(id.as_str())
                .bind(attempt as i64)
                .bind(usage.input as i64)
                .bind(usage.output as i64)
                .bind(usage.cached as i64)
                .bind(usage.cost_usd)
                .execute(&mut *self.conn)
                .await?;
                Ok(())
            }

            async fn total_usage(&mut self) -> $crate::tx::Result<colony_core::Usage> {
                // Sums come back as BIGINT or NUMERIC depending on the
                // database; cast so both hand back the same types.
                let row = sqlx::query(
                    "SELECT CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS input_tokens, \
                     CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS output_tokens, \
                     CAST(COALESCE(SUM(cached_tokens), 0) AS BIGINT) AS cached_tokens, \
                     CAST(SUM(cost_usd) AS DOUBLE PRECISION) AS cost_usd FROM attempts",
                )
                .fetch_one(&mut *self.conn)
                .await?;
                usage_cols(&row)
            }

            async fn plan_usage(&mut self, plan: &str) -> $crate::tx::Result<colony_core::Usage> {
                let row = sqlx::query(
                    "SELECT CAST(COALESCE(SUM(a.input_tokens), 0) AS BIGINT) AS input_tokens, \
                     CAST(COALESCE(SUM(a.output_tokens), 0) AS BIGINT) AS output_tokens, \
                     CAST(COALESCE(SUM(a.cached_tokens), 0) AS BIGINT) AS cached_tokens, \
                     CAST(SUM(a.cost_usd) AS DOUBLE PRECISION) AS cost_usd \
                     FROM attempts a JOIN tasks t ON t.id = a.task WHERE t.plan = $1",
                )
                .bind(plan)
                .fetch_one(&mut *self.conn)
                .await?;
                usage_cols(&row)
            }

            async fn set_agent_version(
                &mut self,
                id: &colony_core::TaskId,
                attempt: u32,
                version: &str,
            ) -> $crate::tx::Result<()> {
                sqlx::query("UPDATE attempts SET agent_version = $3 WHERE task = $1 AND attempt = $2")
                    .bind(id.as_str())
                    .bind(attempt as i64)
                    .bind(version)
                    .execute(&mut *self.conn)
                    .await?;
                Ok(())
            }

            async fn set_session(&mut self, id: &colony_core::TaskId, attempt: u32, session: &str) -> $crate::tx::Result<()> {
                sqlx::query("UPDATE attempts SET session = $3 WHERE task = $1 AND attempt = $2")
                    .bind(id.as_str())
                    .bind(attempt as i64)
                    .bind(session)
                    .execute(&mut *self.conn)
                    .await?;
                Ok(())
            }

            async fn set_answer(&mut self, id: &colony_core::TaskId, attempt: u32, answer: &str) -> $crate::tx::Result<()> {
                sqlx::query("UPDATE attempts SET answer = $3 WHERE task = $1 AND attempt = $2")
                    .bind(id.as_str())
                    .bind(attempt as i64)
                    .bind(answer)
                    .execute(&mut *self.conn)
                    .await?;
                Ok(())
            }

            async fn set_followups(&mut self, id: &colony_core::TaskId, attempt: u32, json: &str) -> $crate::tx::Result<()> {
                sqlx::query("UPDATE attempts SET followups = $3 WHERE task = $1 AND attempt = $2")
                    .bind(id.as_str())
                    .bind(attempt as i64)
                    .bind(json)
                    .execute(&mut *self.conn)
                    .await?;
                Ok(())
            }

            async fn followups(&mut self, id: &colony_core::TaskId, attempt: u32) -> $crate::tx::Result<Option<String>> {
                let json: Option<Option<String>> =
                    sqlx::query_scalar("SELECT followups FROM attempts WHERE task = $1 AND attempt = $2")
                        .bind(id.as_str())
                        .bind(attempt as i64)
                        .fetch_optional(&mut *self.conn)
                        .await?;
                Ok(json.flatten())
            }

            async fn added_event(&mut self, id: &colony_core::TaskId) -> $crate::tx::Result<Option<colony_core::EventKind>> {
                let data: Option<String> = sqlx::query_scalar(
                    "SELECT data FROM events WHERE task = $1 AND kind = 'task_added' ORDER BY seq LIMIT 1",
                )
                .bind(id.as_str())
                .fetch_optional(&mut *self.conn)
                .await?;
                data.map(|data| $crate::row::json(format!("the event that added task {id}"), &data)).transpose()
            }

            async fn agent_wait(&mut self, agent: &str) -> $crate::tx::Result<Option<$crate::types::AgentWait>> {
                let row = sqlx::query("SELECT agent, reason, since, ends_at FROM agent_waits WHERE agent = $1")
                    .bind(agent)
                    .fetch_optional(&mut *self.conn)
                    .await?;
                row.as_ref().map(wait_row).transpose()
            }

            async fn put_agent_wait(&mut self, wait: &$crate::types::AgentWait) -> $crate::tx::Result<()> {
                sqlx::query("DELETE FROM agent_waits WHERE agent = $1").bind(&wait.agent).execute(&mut *self.conn).await?;
                sqlx::query("INSERT INTO agent_waits (agent, reason, since, ends_at) VALUES ($1, $2, $3, $4)")
                    .bind(&wait.agent)
                    .bind(&wait.reason)
                    .bind(wait.since)
                    .bind(wait.ends_at)
                    .execute(&mut *self.conn)
                    .await?;
                Ok(())
            }

            async fn delete_agent_wait(&mut self, agent: &str, timed_only: bool) -> $crate::tx::Result<()> {
                let sql = if timed_only {
                    "DELETE FROM agent_waits WHERE agent = $1 AND ends_at IS NOT NULL"
                } else {
                    "DELETE FROM agent_waits WHERE agent = $1"
                };
                sqlx::query(sql).bind(agent).execute(&mut *self.conn).await?;
                Ok(())
            }

            async fn put_review_comments(
                &mut self,
                comments: &[$crate::types::ReviewComment],
            ) -> $crate::tx::Result<()> {
                for c in comments {
                    sqlx::query(
                        "INSERT INTO review_comments (plan, task, forge, pull, head, comment, replied) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (plan, task) DO NOTHING",
                    )
                    .bind(&c.plan)
                    .bind(&c.task)
                    .bind(&c.forge)
                    .bind(c.pull as i64)
                    .bind(&c.head)
                    .bind(&c.comment)
                    .bind(c.replied.as_deref())
                    .execute(&mut *self.conn)
                    .await?;
                }
                Ok(())
            }

            async fn review_comments(&mut self) -> $crate::tx::Result<Vec<$crate::types::ReviewComment>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT plan, task, forge, pull, head, comment, replied FROM review_comments ORDER BY plan, task",
                )
                .fetch_all(&mut *self.conn)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok($crate::types::ReviewComment {
                            plan: row.try_get("plan")?,
                            task: row.try_get("task")?,
                            forge: row.try_get("forge")?,
                            pull: row.try_get::<i64, _>("pull")? as u64,
                            head: row.try_get("head")?,
                            comment: row.try_get("comment")?,
                            replied: row.try_get("replied")?,
                        })
                    })
                    .collect()
            }

            async fn set_replied(&mut self, plan: &str, task: &str, commit: &str) -> $crate::tx::Result<()> {
                sqlx::query("UPDATE review_comments SET replied = $3 WHERE plan = $1 AND task = $2")
                    .bind(plan)
                    .bind(task)
                    .bind(commit)
                    .execute(&mut *self.conn)
                    .await?;
                Ok(())
            }

            async fn put_run(&mut self, run: &$crate::types::RunEntry) -> $crate::tx::Result<()> {
                sqlx::query(
                    "INSERT INTO runs (id, host, pid, boot_id, started_at, seen_at, detached, dashboard) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&run.id)
                .bind(&run.host)
                .bind(i64::from(run.pid))
                .bind(run.boot_id.as_deref())
                .bind(run.started_at)
                .bind(run.seen_at)
                .bind(i64::from(run.detached))
                .bind(run.dashboard.as_deref())
                .execute(&mut *self.conn)
                .await?;
                Ok(())
            }

            async fn touch_run(&mut self, id: &str, now: colony_core::Millis) -> $crate::tx::Result<()> {
                sqlx::query("UPDATE runs SET seen_at = $2 WHERE id = $1").bind(id).bind(now).execute(&mut *self.conn).await?;
                Ok(())
            }

            async fn delete_run(&mut self, id: &str) -> $crate::tx::Result<()> {
                sqlx::query("DELETE FROM runs WHERE id = $1").bind(id).execute(&mut *self.conn).await?;
                Ok(())
            }

            async fn runs(&mut self) -> $crate::tx::Result<Vec<$crate::types::RunEntry>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT id, host, pid, boot_id, started_at, seen_at, detached, dashboard FROM runs ORDER BY started_at, id",
                )
                .fetch_all(&mut *self.conn)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok($crate::types::RunEntry {
                            id: row.try_get("id")?,
                            host: row.try_get("host")?,
                            pid: row.try_get::<i64, _>("pid")? as u32,
                            boot_id: row.try_get("boot_id")?,
                            started_at: row.try_get("started_at")?,
                            seen_at: row.try_get("seen_at")?,
                            detached: row.try_get::<i64, _>("detached")? != 0,
                            dashboard: row.try_get("dashboard")?,
                        })
                    })
                    .collect()
            }

            async fn notify_cursors(&mut self) -> $crate::tx::Result<Vec<$crate::types::NotifyCursor>> {
                use sqlx::Row;
                let rows = sqlx::query("SELECT sink, seq, failing, failing_since FROM notify_cursors ORDER BY sink")
                    .fetch_all(&mut *self.conn)
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok($crate::types::NotifyCursor {
                            sink: row.try_get("sink")?,
                            seq: row.try_get("seq")?,
                            failing: row.try_get("failing")?,
                            failing_since: row.try_get("failing_since")?,
                        })
                    })
                    .collect()
            }

            async fn set_notify_cursor(
                &mut self,
                cursor: &$crate::types::NotifyCursor,
                now: colony_core::Millis,
            ) -> $crate::tx::Result<()> {
                sqlx::query(
                    "INSERT INTO notify_cursors (sink, seq, failing, failing_since, updated_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq, failing = excluded.failing, \
                     failing_since = excluded.failing_since, updated_at = excluded.updated_at",
                )
                .bind(&cursor.sink)
                .bind(cursor.seq)
                .bind(&cursor.failing)
                .bind(cursor.failing_since)
                .bind(now)
                .execute(&mut *self.conn)
                .await?;
                Ok(())
            }

            async fn agent_waits(&mut self, now: colony_core::Millis) -> $crate::tx::Result<Vec<$crate::types::AgentWait>> {
                let rows = sqlx::query(
                    "SELECT agent, reason, since, ends_at FROM agent_waits WHERE ends_at IS NULL OR ends_at > $1 ORDER BY agent",
                )
                .bind(now)
                .fetch_all(&mut *self.conn)
                .await?;
                rows.iter().map(wait_row).collect()
            }

            async fn status_counts(&mut self) -> $crate::tx::Result<Vec<(String, i64)>> {
                use sqlx::Row;
                let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status").fetch_all(&mut *self.conn).await?;
                rows.iter().map(|r| Ok((r.try_get("status")?, r.try_get("n")?))).collect()
            }

            async fn plans(&mut self) -> $crate::tx::Result<Vec<$crate::types::PlanInfo>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT p.name, p.source, p.added_at, (SELECT COUNT(*) FROM tasks t WHERE t.plan = p.name) AS n \
                     FROM plans p ORDER BY p.added_at, p.name",
                )
                .fetch_all(&mut *self.conn)
                .await?;
                rows.iter()
                    .map(|r| {
                        let name: String = r.try_get("name")?;
                        Ok($crate::types::PlanInfo {
                            name: colony_core::PlanName::new(&name).map_err(|_| $crate::error::StoreError::Corrupt {
                                what: format!("plan name `{name}`"),
                                source: serde::de::Error::custom("invalid name"),
                            })?,
                            source: r.try_get("source")?,
                            tasks: r.try_get::<i64, _>("n")? as usize,
                            added_at: r.try_get("added_at")?,
                        })
                    })
                    .collect()
            }

            async fn plan_specs(&mut self, name: &str) -> $crate::tx::Result<Vec<colony_core::TaskSpec>> {
                let rows: Vec<String> = sqlx::query_scalar("SELECT spec FROM tasks WHERE plan = $1 ORDER BY ord")
                    .bind(name)
                    .fetch_all(&mut *self.conn)
                    .await?;
                rows.iter().map(|s| $crate::row::json(format!("a task spec of plan {name}"), s)).collect()
            }

            async fn last_seq(&mut self) -> $crate::tx::Result<i64> {
                Ok(sqlx::query_scalar("SELECT value FROM counters WHERE name = 'event_seq'").fetch_one(&mut *self.conn).await?)
            }

            async fn page(&mut self, query: &$crate::types::TaskQuery) -> $crate::tx::Result<$crate::types::TaskPage> {
                use sqlx::Row;
                /// The `WHERE` clause both the count and the page use.
                fn push_filter(b: &mut sqlx::QueryBuilder<$db>, q: &$crate::types::TaskQuery, pattern: &Option<String>) {
                    b.push(" WHERE 1 = 1");
                    if !q.statuses.is_empty() {
                        b.push(" AND status IN (");
                        let mut list = b.separated(", ");
                        for status in &q.statuses {
                            list.push_bind(status.as_str());
                        }
                        list.push_unseparated(")");
                    }
                    if let Some(plan) = &q.plan {
                        b.push(" AND plan = ").push_bind(plan.as_str());
                    }
                    if let Some(p) = pattern {
                        b.push(" AND (LOWER(id) LIKE ").push_bind(p.as_str());
                        b.push(" ESCAPE '\\' OR LOWER(title) LIKE ").push_bind(p.as_str()).push(" ESCAPE '\\')");
                    }
                }
                let pattern = query.text.as_deref().filter(|t| !t.is_empty()).map($crate::sql::like_pattern);
                let mut count = sqlx::QueryBuilder::<$db>::new("SELECT COUNT(*) AS n FROM tasks");
                push_filter(&mut count, query, &pattern);
                let total: i64 = count.build().fetch_one(&mut *self.conn).await?.try_get("n")?;
                let mut page = sqlx::QueryBuilder::<$db>::new(concat!("SELECT ", $crate::sql::record_columns!(), " FROM tasks"));
                push_filter(&mut page, query, &pattern);
                page.push(" ORDER BY ord LIMIT ").push_bind(query.limit.min(i64::MAX as u64) as i64);
                page.push(" OFFSET ").push_bind(query.offset.min(i64::MAX as u64) as i64);
                let rows = page.build().fetch_all(&mut *self.conn).await?;
                let mut deps: std::collections::HashMap<String, Vec<colony_core::TaskId>> = std::collections::HashMap::new();
                if !rows.is_empty() {
                    let mut q = sqlx::QueryBuilder::<$db>::new("SELECT task, dep FROM task_deps WHERE task IN (");
                    let mut list = q.separated(", ");
                    for row in &rows {
                        list.push_bind(row.try_get::<String, _>("id")?);
                    }
                    list.push_unseparated(") ORDER BY task, dep");
                    for row in q.build().fetch_all(&mut *self.conn).await? {
                        let task: String = row.try_get("task")?;
                        deps.entry(task).or_default().extend(ids(vec![row.try_get("dep")?])?);
                    }
                }
                let mut tasks = Vec::with_capacity(rows.len());
                for row in &rows {
                    let id: String = row.try_get("id")?;
                    tasks.push(record_from(row, deps.remove(&id).unwrap_or_default())?);
                }
                Ok($crate::types::TaskPage { total: total as u64, tasks })
            }

            async fn running(&mut self) -> $crate::tx::Result<Vec<$crate::types::RunningAttempt>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT t.id, t.title, t.status, t.attempt, t.lease_owner, t.lease_until, a.started_at, \
                     (SELECT e.data FROM events e WHERE e.task = t.id AND e.kind = 'progress_reported' \
                      ORDER BY e.seq DESC LIMIT 1) AS said FROM tasks t \
                     LEFT JOIN attempts a ON a.task = t.id AND a.attempt = t.attempt \
                     WHERE t.lease_until IS NOT NULL ORDER BY a.started_at, t.id",
                )
                .fetch_all(&mut *self.conn)
                .await?;
                rows.iter()
                    .map(|r| {
                        let status: String = r.try_get("status")?;
                        let attempt = r.try_get::<i64, _>("attempt")?;
                        // The last report, if it is the current attempt's.
                        let said: Option<String> = r.try_get("said")?;
                        let said = said.and_then(|data| serde_json::from_str::<serde_json::Value>(&data).ok());
                        let progress = said
                            .filter(|d| d["attempt"].as_i64() == Some(attempt))
                            .and_then(|d| d["message"].as_str().map(str::to_owned));
                        Ok($crate::types::RunningAttempt {
                            task: ids(vec![r.try_get("id")?])?.remove(0),
                            title: r.try_get("title")?,
                            status: status.parse().map_err(|_| $crate::error::StoreError::Corrupt {
                                what: format!("status `{status}`"),
                                source: serde::de::Error::custom("unknown status"),
                            })?,
                            attempt: attempt as u32,
                            worker: r.try_get("lease_owner")?,
                            lease_until: r.try_get("lease_until")?,
                            started_at: r.try_get("started_at")?,
                            progress,
                        })
                    })
                    .collect()
            }

            async fn attempt_stats(&mut self) -> $crate::tx::Result<$crate::types::AttemptStats> {
                use sqlx::Row;
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(ended_at - started_at), 0) AS BIGINT) AS ms \
                     FROM attempts WHERE outcome = 'done'",
                )
                .fetch_one(&mut *self.conn)
                .await?;
                Ok($crate::types::AttemptStats { done: row.try_get::<i64, _>("n")? as u64, done_ms: row.try_get("ms")? })
            }

            async fn commit(self) -> $crate::tx::Result<()> {
                self.end(true).await
            }

            async fn rollback(self) -> $crate::tx::Result<()> {
                self.end(false).await
            }
        }
    };
}

pub(crate) use {record_columns, sql_tx, task_columns};
