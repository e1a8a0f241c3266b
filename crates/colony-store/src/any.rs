//! Choosing a backend from a store URL at run time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use colony_core::{Event, Millis, Phase, Plan, ReviewOutcome, RoundCause, TaskId, TaskStatus, Usage};

use crate::clock::Clock;
use crate::error::StoreError;
use crate::ops::Accept;
use crate::postgres::{PgStore, ReadyListener, redact};
use crate::sqlite::SqliteStore;
use crate::store::Store;
use crate::tx::Result;
use crate::types::{
    AddOptions, AddReport, AgentWait, AttemptStats, Claim, Counts, LiveAttempt, PlanInfo, Rescued, RunningAttempt,
    TaskDetail, TaskFilter, TaskPage, TaskQuery, TaskRecord,
};

/// Where the store lives, as given by `--store` or `COLONY_STORE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `sqlite:PATH` (relative paths are taken from the repository root).
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
}

impl StoreUrl {
    /// Parses a URL; relative SQLite paths are joined to `base`.
    pub fn parse(url: &str, base: &Path) -> Result<StoreUrl> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(url.to_owned()));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(StoreError::BadUrl { url: url.to_owned(), why: "it names no file".into() });
            }
            return Ok(StoreUrl::Sqlite(base.join(path)));
        }
        Err(StoreError::BadUrl { url: redact(url), why: "use sqlite:PATH or postgres://USER@HOST/DB".into() })
    }

    /// The URL for messages, without a password.
    pub fn display(&self) -> String {
        match self {
            StoreUrl::Sqlite(p) => format!("sqlite:{}", p.display()),
            StoreUrl::Postgres(u) => redact(u),
        }
    }
}

/// A store on whichever backend the URL names.
pub enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl AnyStore {
    pub async fn open(url: &StoreUrl, clock: Arc<dyn Clock>) -> Result<AnyStore> {
        Ok(match url {
            StoreUrl::Sqlite(path) => AnyStore::Sqlite(SqliteStore::open(path, clock).await?),
            StoreUrl::Postgres(url) => AnyStore::Postgres(PgStore::open(url, clock).await?),
        })
    }

    pub async fn close(&self) {
        match self {
            AnyStore::Sqlite(s) => s.close().await,
            AnyStore::Postgres(s) => s.close().await,
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $call,
            AnyStore::Postgres($s) => $call,
        }
    };
}

impl Store for AnyStore {
    async fn add_plans(&self, plans: &[(&Plan, &str)], opts: AddOptions) -> Result<Vec<AddReport>> {
        delegate!(self, s => s.add_plans(plans, opts).await)
    }
    async fn claim_where(&self, worker: &str, lease: Duration, accept: Accept<'_>) -> Result<Option<Claim>> {
        delegate!(self, s => s.claim_where(worker, lease, accept).await)
    }
    async fn heartbeat(&self, task: &TaskId, attempt: u32, lease: Duration) -> Result<Millis> {
        delegate!(self, s => s.heartbeat(task, attempt, lease).await)
    }
    async fn set_phase(&self, task: &TaskId, attempt: u32, phase: Phase) -> Result<()> {
        delegate!(self, s => s.set_phase(task, attempt, phase).await)
    }
    async fn feedback_round(&self, task: &TaskId, attempt: u32, round: u32, cause: RoundCause) -> Result<()> {
        delegate!(self, s => s.feedback_round(task, attempt, round, cause).await)
    }

    async fn request_approval(&self, task: &TaskId, attempt: u32) -> Result<()> {
        delegate!(self, s => s.request_approval(task, attempt).await)
    }

    async fn decide(&self, task: &TaskId, feedback: Option<&str>) -> Result<()> {
        delegate!(self, s => s.decide(task, feedback).await)
    }

    async fn record_review(
        &self,
        task: &TaskId,
        attempt: u32,
        round: u32,
        reviewer: &str,
        outcome: ReviewOutcome,
        spent: Usage,
    ) -> Result<()> {
        delegate!(self, s => s.record_review(task, attempt, round, reviewer, outcome.clone(), spent).await)
    }

    async fn record_usage(&self, task: &TaskId, attempt: u32, usage: Usage) -> Result<()> {
        delegate!(self, s => s.record_usage(task, attempt, usage).await)
    }
    async fn record_checkout_change(&self, task: &TaskId, attempt: u32, changes: &[String]) -> Result<()> {
        delegate!(self, s => s.record_checkout_change(task, attempt, changes).await)
    }
    async fn agent_waiting(&self, task: &TaskId, attempt: u32, wait: &AgentWait) -> Result<()> {
        delegate!(self, s => s.agent_waiting(task, attempt, wait).await)
    }
    async fn agent_through(&self, agent: &str) -> Result<()> {
        delegate!(self, s => s.agent_through(agent).await)
    }
    async fn clear_person_waits(&self) -> Result<()> {
        delegate!(self, s => s.clear_person_waits().await)
    }
    async fn agent_waits(&self) -> Result<Vec<AgentWait>> {
        delegate!(self, s => s.agent_waits().await)
    }
    async fn record_agent_version(&self, task: &TaskId, attempt: u32, version: &str) -> Result<()> {
        delegate!(self, s => s.record_agent_version(task, attempt, version).await)
    }
    async fn complete(&self, task: &TaskId, attempt: u32) -> Result<()> {
        delegate!(self, s => s.complete(task, attempt).await)
    }
    async fn fail(&self, task: &TaskId, attempt: u32, reason: &str, backoff: Duration) -> Result<TaskStatus> {
        delegate!(self, s => s.fail(task, attempt, reason, backoff).await)
    }
    async fn rescue_expired(&self) -> Result<Vec<Rescued>> {
        delegate!(self, s => s.rescue_expired().await)
    }
    async fn release(&self, task: &TaskId, attempt: u32, reason: &str) -> Result<()> {
        delegate!(self, s => s.release(task, attempt, reason).await)
    }
    async fn expire(&self, task: &TaskId, attempt: u32) -> Result<Rescued> {
        delegate!(self, s => s.expire(task, attempt).await)
    }

    async fn kill(&self, ids: &[TaskId]) -> Result<Vec<Rescued>> {
        delegate!(self, s => s.kill(ids).await)
    }

    async fn record_session(&self, task: &TaskId, attempt: u32, session: &str) -> Result<()> {
        delegate!(self, s => s.record_session(task, attempt, session).await)
    }
    async fn record_process(&self, task: &TaskId, attempt: u32, pgid: i64, boot_id: &str) -> Result<()> {
        delegate!(self, s => s.record_process(task, attempt, pgid, boot_id).await)
    }
    async fn live_attempts(&self) -> Result<Vec<LiveAttempt>> {
        delegate!(self, s => s.live_attempts().await)
    }
    async fn try_lock(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        delegate!(self, s => s.try_lock(name, holder, ttl).await)
    }
    async fn unlock(&self, name: &str, holder: &str) -> Result<()> {
        delegate!(self, s => s.unlock(name, holder).await)
    }
    async fn fence_merge(
        &self,
        task: &TaskId,
        attempt: u32,
        lease: Duration,
        lock: (&str, &str),
        commit: &str,
    ) -> Result<()> {
        delegate!(self, s => s.fence_merge(task, attempt, lease, lock, commit).await)
    }
    async fn merge_commits(&self, task: &TaskId) -> Result<Vec<(u32, String)>> {
        delegate!(self, s => s.merge_commits(task).await)
    }
    async fn ready_listener(&self) -> Result<Option<ReadyListener>> {
        delegate!(self, s => s.ready_listener().await)
    }
    async fn retry(&self, ids: &[TaskId]) -> Result<()> {
        delegate!(self, s => s.retry(ids).await)
    }
    async fn cancel(&self, ids: &[TaskId]) -> Result<()> {
        delegate!(self, s => s.cancel(ids).await)
    }
    async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRecord>> {
        delegate!(self, s => s.tasks(filter).await)
    }
    async fn task_page(&self, query: &TaskQuery) -> Result<TaskPage> {
        delegate!(self, s => s.task_page(query).await)
    }
    async fn running(&self) -> Result<Vec<RunningAttempt>> {
        delegate!(self, s => s.running().await)
    }
    async fn attempt_stats(&self) -> Result<AttemptStats> {
        delegate!(self, s => s.attempt_stats().await)
    }
    async fn task(&self, id: &str) -> Result<Option<TaskDetail>> {
        delegate!(self, s => s.task(id).await)
    }
    async fn counts(&self) -> Result<Counts> {
        delegate!(self, s => s.counts().await)
    }
    async fn spend(&self) -> Result<Usage> {
        delegate!(self, s => s.spend().await)
    }
    async fn plan_spend(&self, plan: &str) -> Result<Usage> {
        delegate!(self, s => s.plan_spend(plan).await)
    }
    async fn events(&self, since: i64, limit: usize) -> Result<Vec<Event>> {
        delegate!(self, s => s.events(since, limit).await)
    }
    async fn last_seq(&self) -> Result<i64> {
        delegate!(self, s => s.last_seq().await)
    }
    async fn plans(&self) -> Result<Vec<PlanInfo>> {
        delegate!(self, s => s.plans().await)
    }
    async fn export_plan(&self, name: &str) -> Result<Plan> {
        delegate!(self, s => s.export_plan(name).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_schemes_and_refuses_others() {
        let base = Path::new("/repo");
        assert_eq!(
            StoreUrl::parse("sqlite:.colony/colony.db", base).unwrap(),
            StoreUrl::Sqlite(PathBuf::from("/repo/.colony/colony.db"))
        );
        assert_eq!(StoreUrl::parse("sqlite:///abs.db", base).unwrap(), StoreUrl::Sqlite(PathBuf::from("/abs.db")));
        assert!(matches!(StoreUrl::parse("postgresql://u@h/db", base), Ok(StoreUrl::Postgres(_))));
        let err = StoreUrl::parse("mysql://u:pw@h/db", base).unwrap_err().to_string();
        assert!(err.contains("mysql://u:***@h/db") && !err.contains("pw"), "{err}");
        assert!(StoreUrl::parse("sqlite:", base).is_err());
    }
}
