//! The overview: counts, progress, ETA, spend, questions waiting for a
//! person and branches; the workers; the dependency graph.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::State;
use colony_core::{Millis, TaskStatus};
use colony_store::{Store, TaskFilter};
use serde::Serialize;

use crate::app::{Shared, now};
use crate::error::WebError;
use crate::logs::{Spend, last_record, one_line};

#[derive(Serialize)]
pub(crate) struct Status {
    pub total: usize,
    /// Every state, with zero for the empty ones.
    pub counts: BTreeMap<&'static str, usize>,
    pub done: usize,
    /// Tasks a run can still move on without a person.
    pub unfinished: usize,
    /// Nothing is left for a run to do: every task is done, failed,
    /// blocked, cancelled or waiting for a person.
    pub over: bool,
    pub busy_workers: usize,
    /// Remaining work at the mean time a merged attempt took, spread over
    /// the workers busy now; `None` until an attempt has been merged.
    pub eta_ms: Option<Millis>,
    pub spend: Spend,
    /// Agents that cannot take work now, and the tasks waiting for each.
    pub waiting: Vec<colony_store::AgentWaiting>,
    /// The questions agents asked that wait for a person's answer.
    pub questions: Vec<colony_store::Question>,
    pub plans: Vec<PlanView>,
    pub run: RunView,
    pub last_seq: i64,
    pub server_started_at: Millis,
}

#[derive(Serialize)]
pub(crate) struct PlanView {
    pub name: String,
    pub tasks: usize,
    pub integration_branch: String,
}

#[derive(Serialize)]
pub(crate) struct RunView {
    /// A run is going on in the process serving this page.
    pub in_process: bool,
    /// `running`, `draining` (stopping gracefully) or `stopping` (now).
    pub state: Option<&'static str>,
}

/// `GET /api/status`.
pub(crate) async fn status<S: Store + 'static>(State(app): State<Shared<S>>) -> Result<Json<Status>, WebError> {
    let last_seq = app.store.last_seq().await?;
    let counts = app.store.counts().await?;
    let stats = app.store.attempt_stats().await?;
    let plans = app.store.plans().await?;
    let busy: usize = TaskStatus::ALL.iter().filter(|s| s.is_leased()).map(|s| counts.get(*s)).sum();
    let unfinished: usize = TaskStatus::UNFINISHED.iter().map(|s| counts.get(*s)).sum();
    let eta_ms = match (stats.done, unfinished) {
        (0, _) | (_, 0) => None,
        (done, left) => Some(stats.done_ms / done as i64 * left as i64 / busy.max(1) as i64),
    };
    let spend = Spend::from(app.store.spend().await?);
    let waiting = colony_store::agents_waiting(&*app.store, &app.default_agents).await?;
    let questions = colony_store::questions(&*app.store, &counts).await?;
    let run = RunView {
        in_process: app.run.is_some(),
        state: app.run.as_ref().map(|r| match (r.is_stopping_now(), r.is_draining()) {
            (true, _) => "stopping",
            (false, true) => "draining",
            (false, false) => "running",
        }),
    };
    Ok(Json(Status {
        total: counts.total,
        counts: TaskStatus::ALL.iter().map(|s| (s.as_str(), counts.get(*s))).collect(),
        done: counts.get(TaskStatus::Done),
        unfinished,
        over: unfinished == 0,
        busy_workers: busy,
        eta_ms,
        spend,
        waiting,
        questions,
        plans: plans
            .iter()
            .map(|p| PlanView { name: p.name.to_string(), tasks: p.tasks, integration_branch: app.branch(&p.name) })
            .collect(),
        run,
        last_seq,
        server_started_at: app.started_at,
    }))
}

#[derive(Serialize)]
pub(crate) struct Worker {
    pub worker: String,
    pub task: String,
    pub title: String,
    /// `running`, `checking` or `merging`.
    pub phase: TaskStatus,
    pub attempt: u32,
    pub started_at: Option<Millis>,
    pub elapsed_ms: Option<Millis>,
    pub lease_until: Millis,
    /// What its agent last reported over colony's MCP server.
    pub progress: Option<String>,
    /// The last thing the attempt's log says, one line.
    pub last_line: Option<String>,
    pub last_line_at: Option<Millis>,
}

/// `GET /api/workers`: every attempt being worked on, and its last line.
pub(crate) async fn workers<S: Store + 'static>(State(app): State<Shared<S>>) -> Result<Json<Vec<Worker>>, WebError> {
    let running = app.store.running().await?;
    let layout = app.layout.clone();
    let workers = tokio::task::spawn_blocking(move || {
        let now = now();
        running
            .into_iter()
            .map(|r| {
                let last = last_record(&layout.log(&r.task, r.attempt));
                Worker {
                    worker: r.worker,
                    task: r.task.to_string(),
                    title: r.title,
                    phase: r.status,
                    attempt: r.attempt,
                    started_at: r.started_at,
                    elapsed_ms: r.started_at.map(|s| (now - s).max(0)),
                    lease_until: r.lease_until,
                    progress: r.progress,
                    last_line: last.as_ref().map(|l| one_line(&l.entry)),
                    last_line_at: last.map(|l| l.t),
                }
            })
            .collect()
    })
    .await?;
    Ok(Json(workers))
}

#[derive(Serialize)]
pub(crate) struct Node {
    pub id: String,
    pub title: String,
    pub status: TaskStatus,
    pub deps: Vec<String>,
    /// The longest chain of dependencies below the task: 0 for a task
    /// that depends on nothing.
    pub depth: usize,
}

/// `GET /api/graph`: every task with its dependencies and depth, in plan
/// order, for the DAG view.
pub(crate) async fn graph<S: Store + 'static>(State(app): State<Shared<S>>) -> Result<Json<Vec<Node>>, WebError> {
    let records = app.store.tasks(&TaskFilter::default()).await?;
    let deps: Vec<Vec<String>> = records.iter().map(|r| r.deps.iter().map(|d| d.to_string()).collect()).collect();
    let ids: Vec<&str> = records.iter().map(|r| r.task.id.as_str()).collect();
    let depths = depths(&ids, &deps);
    Ok(Json(
        records
            .iter()
            .zip(deps)
            .zip(depths)
            .map(|((r, deps), depth)| Node {
                id: r.task.id.to_string(),
                title: r.title.clone(),
                status: r.task.status(),
                deps,
                depth,
            })
            .collect(),
    ))
}

/// Each task's depth, by Kahn's algorithm (plans have no cycles; a dep
/// outside the list counts as depth 0).
fn depths(ids: &[&str], deps: &[Vec<String>]) -> Vec<usize> {
    let index: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut waiting: Vec<usize> = vec![0; ids.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); ids.len()];
    for (i, ds) in deps.iter().enumerate() {
        for d in ds {
            if let Some(&j) = index.get(d.as_str()) {
                waiting[i] += 1;
                dependents[j].push(i);
            }
        }
    }
    let mut depth = vec![0; ids.len()];
    let mut ready: Vec<usize> = (0..ids.len()).filter(|&i| waiting[i] == 0).collect();
    while let Some(j) = ready.pop() {
        for &i in &dependents[j] {
            depth[i] = depth[i].max(depth[j] + 1);
            waiting[i] -= 1;
            if waiting[i] == 0 {
                ready.push(i);
            }
        }
    }
    depth
}

#[cfg(test)]
mod tests {
    #[test]
    fn depth_is_the_longest_chain_below() {
        let ids = ["a", "b", "c", "d"];
        let deps = [vec![], vec!["a".to_owned()], vec!["a".to_owned(), "b".to_owned()], vec!["gone".to_owned()]];
        assert_eq!(super::depths(&ids, &deps), [0, 1, 2, 0]);
    }
}
