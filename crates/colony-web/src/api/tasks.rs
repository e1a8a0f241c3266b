//! Tasks: the paged list, one task in full, and its agent log.

use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use colony_agents::LogRecord;
use colony_core::branch::task_branch;
use colony_core::{TaskId, TaskStatus};
use colony_git::{Oid, Repo, branch_ref};
use colony_store::LogFollower;
use colony_store::{Store, TaskDetail, TaskQuery, TaskRecord};
use serde::{Deserialize, Serialize};

use crate::api::{latest_attempt, load_task};
use crate::app::Shared;
use crate::error::WebError;
use crate::logs::{AttemptLog, GateRun, Keep, Spend};

/// Tasks a page holds unless `per_page` says.
const PER_PAGE: u64 = 50;
const MAX_PER_PAGE: u64 = 500;
/// The end of the log the task detail carries: 200 records, 256 KiB of text.
const DETAIL_TAIL: Keep = Keep { records: 200, bytes: 256 * 1024 };
/// Log records `/log` gives unless `tail` says, and at most.
const LOG_TAIL: usize = 1000;
const MAX_LOG_TAIL: usize = 10_000;
/// The most text `/log` gives, however many records `tail` asks for.
const LOG_BYTES: usize = 4 << 20;
/// A diff longer than this is cut.
const MAX_DIFF: usize = 512 * 1024;
/// How often a followed log asks whether its attempt has ended.
const ATTEMPT_POLL: Duration = Duration::from_millis(500);

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    q: Option<String>,
    plan: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

#[derive(Serialize)]
pub(crate) struct ListPage {
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
    pub pages: u64,
    pub tasks: Vec<TaskRecord>,
}

/// `GET /api/tasks?status=&q=&plan=&page=&per_page=`.
pub(crate) async fn list<S: Store + 'static>(
    State(app): State<Shared<S>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<ListPage>, WebError> {
    let Query(query) = query.map_err(|e| WebError::BadRequest(e.body_text()))?;
    let statuses = parse_statuses(query.status.as_deref())?;
    let page = query.page.unwrap_or(1);
    let per_page = query.per_page.unwrap_or(PER_PAGE);
    if page == 0 {
        return Err(WebError::BadRequest("`page` counts from 1".into()));
    }
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(WebError::BadRequest(format!("`per_page` must be from 1 to {MAX_PER_PAGE}")));
    }
    let found = app
        .store
        .task_page(&TaskQuery {
            statuses,
            plan: query.plan.filter(|p| !p.is_empty()),
            text: query.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty()),
            offset: (page - 1).saturating_mul(per_page),
            limit: per_page,
        })
        .await?;
    Ok(Json(ListPage { total: found.total, page, per_page, pages: found.total.div_ceil(per_page), tasks: found.tasks }))
}

/// `running,failed` into states; an unknown name is refused with the list
/// of known ones.
fn parse_statuses(raw: Option<&str>) -> Result<Vec<TaskStatus>, WebError> {
    raw.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(WebError::BadRequest))
        .collect()
}

#[derive(Serialize)]
pub(crate) struct TaskView {
    #[serde(flatten)]
    pub detail: TaskDetail,
    pub integration_branch: String,
    /// Every gate run of every attempt, oldest first.
    pub gates: Vec<GateRun>,
    /// Every reviewer's answer, round by round (also among the events).
    pub reviews: Vec<ReviewView>,
    /// What each attempt's agent spent, by attempt number.
    pub spend: Vec<AttemptSpend>,
    /// The end of the latest attempt's log.
    pub log: LogTail,
    pub diff: Option<Diff>,
}

#[derive(Serialize)]
pub(crate) struct ReviewView {
    pub attempt: u32,
    pub round: u32,
    pub reviewer: String,
    #[serde(flatten)]
    pub outcome: colony_core::ReviewOutcome,
    pub spent: crate::logs::Spend,
}

#[derive(Serialize)]
pub(crate) struct AttemptSpend {
    pub attempt: u32,
    #[serde(flatten)]
    pub spend: Spend,
}

/// A log record as the API gives it: as it was written, and for colony's
/// own records (`kind: colony`) their wording in `says`, the one the CLI
/// prints too.
#[derive(Serialize)]
pub(crate) struct LogLine {
    #[serde(flatten)]
    record: LogRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    says: Option<String>,
}

impl From<LogRecord> for LogLine {
    fn from(record: LogRecord) -> Self {
        let says = match &record.entry {
            colony_agents::Entry::Colony(step) => Some(step.to_string()),
            _ => None,
        };
        LogLine { record, says }
    }
}

#[derive(Serialize)]
pub(crate) struct LogTail {
    pub attempt: Option<u32>,
    pub records: Vec<LogLine>,
    /// Records before these that were left out.
    pub skipped: usize,
    pub bad_lines: usize,
}

#[derive(Serialize)]
pub(crate) struct Diff {
    pub attempt: u32,
    /// What the diff is against: the merge base with the integration
    /// branch, or the integration commit before the merge.
    pub from: String,
    pub to: String,
    /// `merged` (the change the merge brought) or `branch` (the attempt's
    /// branch against where it left the integration branch).
    pub source: &'static str,
    pub text: String,
    pub truncated: bool,
}

/// `GET /api/tasks/{id}`: the task, its attempts and events, gate output,
/// spend, the latest attempt's log tail and diff.
pub(crate) async fn detail<S: Store + 'static>(
    State(app): State<Shared<S>>,
    Path(id): Path<String>,
) -> Result<Json<TaskView>, WebError> {
    let detail = load_task(&app, &id).await?;
    let task = detail.record.task.id.clone();
    let plan = detail.record.task.plan.clone();
    let integration = app.branch(&plan);
    let attempts: Vec<u32> = detail.attempts.iter().map(|a| a.attempt).collect();
    let latest = latest_attempt(&detail);
    let (layout, repo, branch) = (app.layout.clone(), app.repo(), integration.clone());
    let spend = detail.attempts.iter().map(|a| AttemptSpend { attempt: a.attempt, spend: a.usage.into() }).collect();
    let reviews = detail
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            colony_core::EventKind::ReviewRecorded { attempt, round, reviewer, outcome, spent } => Some(ReviewView {
                attempt: *attempt,
                round: *round,
                reviewer: reviewer.clone(),
                outcome: outcome.clone(),
                spent: (*spent).into(),
            }),
            _ => None,
        })
        .collect();
    // The merge commit the store recorded for the latest attempt, once it
    // is done: merged alone or in a train, its first parent is the tip it
    // merged onto.
    let done = detail.attempts.iter().any(|a| Some(a.attempt) == latest && a.outcome.as_deref() == Some("done"));
    let merged_at = match done {
        true => app.store.merge_commits(&task).await?.into_iter().rfind(|(n, _)| Some(*n) == latest).map(|(_, c)| c),
        false => None,
    };
    let (gates, log, diff) = tokio::task::spawn_blocking(move || {
        let mut gates = Vec::new();
        let mut tail = LogTail { attempt: latest, records: Vec::new(), skipped: 0, bad_lines: 0 };
        for &n in &attempts {
            let keep = if Some(n) == latest { DETAIL_TAIL } else { Keep { records: 0, bytes: 0 } };
            let log = AttemptLog::read(&layout.log(&task, n), n, keep);
            gates.extend(log.gates);
            if Some(n) == latest {
                tail.skipped = log.records - log.tail.len();
                tail.bad_lines = log.bad_lines;
                tail.records = log.tail.into_iter().map(LogLine::from).collect();
            }
        }
        let diff = latest.and_then(|n| {
            let work = task_branch(&plan, &task, n);
            attempt_diff(&repo, &branch, &work, merged_at.as_deref(), n)
        });
        (gates, tail, diff)
    })
    .await?;
    Ok(Json(TaskView { detail, integration_branch: integration, gates, reviews, spend, log, diff }))
}

/// The change an attempt makes: what its merge brought into the
/// integration branch, or else its branch against the merge base. `None`
/// when there is neither (not started, or the branch is gone).
fn attempt_diff(
    repo: &std::path::Path,
    integration: &str,
    work: &str,
    merged_at: Option<&str>,
    attempt: u32,
) -> Option<Diff> {
    let repo = Repo::open(repo).ok()?;
    let (from, to, source) = match merged_at.and_then(Oid::parse) {
        Some(merge) => (repo.rev_parse(&format!("{merge}^1")).ok()??, merge, "merged"),
        None => {
            let to = repo.rev_parse(&branch_ref(work)).ok()??;
            let tip = repo.rev_parse(&branch_ref(integration)).ok()??;
            (repo.merge_base(&tip, &to).ok()??, to, "branch")
        }
    };
    let mut text = repo.diff(&from, &to).ok()?;
    let truncated = text.len() > MAX_DIFF;
    if truncated {
        let mut end = MAX_DIFF;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    Some(Diff { attempt, from: from.to_string(), to: to.to_string(), source, text, truncated })
}

#[derive(Deserialize)]
pub(crate) struct LogQuery {
    attempt: Option<u32>,
    tail: Option<usize>,
    follow: Option<String>,
}

/// `GET /api/tasks/{id}/log?attempt=&tail=`: the end of the attempt's
/// records as JSON (`tail` of them, at most [`MAX_LOG_TAIL`] and
/// [`LOG_BYTES`] of text); with `follow=1`, server-sent events, one record
/// each, until the attempt ends (then an `end` event).
pub(crate) async fn log<S: Store + 'static>(
    State(app): State<Shared<S>>,
    Path(id): Path<String>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, WebError> {
    let Query(query) = query.map_err(|e| WebError::BadRequest(e.body_text()))?;
    let detail = load_task(&app, &id).await?;
    let task = detail.record.task.id.clone();
    let attempt = match (query.attempt, latest_attempt(&detail)) {
        (Some(n), _) if detail.attempts.iter().any(|a| a.attempt == n) => n,
        (Some(n), _) => {
            return Err(WebError::NotFound(format!("task {task} has no attempt {n}")));
        }
        (None, Some(n)) => n,
        (None, None) => {
            let empty = LogTail { attempt: None, records: Vec::new(), skipped: 0, bad_lines: 0 };
            return Ok(Json(empty).into_response());
        }
    };
    let path = app.layout.log(&task, attempt);
    if matches!(query.follow.as_deref(), Some("1" | "true")) {
        let stream = follow(app.clone(), task, attempt, path);
        return Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response());
    }
    let keep = Keep { records: query.tail.unwrap_or(LOG_TAIL).clamp(1, MAX_LOG_TAIL), bytes: LOG_BYTES };
    let log = tokio::task::spawn_blocking(move || AttemptLog::read(&path, attempt, keep)).await?;
    Ok(Json(LogTail {
        attempt: Some(attempt),
        skipped: log.records - log.tail.len(),
        bad_lines: log.bad_lines,
        records: log.tail.into_iter().map(LogLine::from).collect(),
    })
    .into_response())
}

/// The log's records as they are written, then `end` once the attempt has
/// ended and its last line is sent, or nothing more if the client goes.
fn follow<S: Store + 'static>(
    app: Shared<S>,
    task: TaskId,
    attempt: u32,
    path: PathBuf,
) -> impl futures_util::Stream<Item = Result<SseEvent, Infallible>> {
    let (out, rx) = tokio::sync::mpsc::channel::<SseEvent>(256);
    tokio::spawn(async move {
        let mut log = LogFollower::new(&*app.store, &task, attempt, path, ATTEMPT_POLL);
        let opened = tokio::select! {
            opened = log.open() => opened,
            () = out.closed() => return,
        };
        if opened && !send_records(&mut log, &out).await {
            return;
        }
        let _ = out.send(SseEvent::default().event("end").data(format!("{{\"attempt\":{attempt}}}"))).await;
    });
    futures_util::stream::unfold(rx, |mut rx| async move { Some((Ok(rx.recv().await?), rx)) })
}

/// Sends each record of the log as it is written, until the attempt has
/// ended; `false` if the client went away first.
async fn send_records<S: Store>(log: &mut LogFollower<'_, S>, out: &tokio::sync::mpsc::Sender<SseEvent>) -> bool {
    let mut line = 0u64;
    loop {
        let next = tokio::select! {
            next = log.next() => next,
            () = out.closed() => return false,
        };
        let Some(record) = next else { return true };
        line += 1;
        // A torn line is skipped, as `colony logs` does.
        let Ok(record) = record else { continue };
        let json = serde_json::to_string(&LogLine::from(record)).expect("a log record always serializes");
        if out.send(SseEvent::default().id(line.to_string()).data(json)).await.is_err() {
            return false;
        }
    }
}
