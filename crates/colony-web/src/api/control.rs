//! The controls: every change needs the token (see [`crate::auth`]) and
//! answers with what it did, or why it did nothing. Each is a
//! [`Request`] carried out by [`steer`], as the CLI's commands are, so
//! both doors check, refuse and record alike.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use colony_core::TaskId;
use colony_store::{Request, RunControl, Store, steer};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::load_task;
use crate::app::Shared;
use crate::auth::{authorize, has_token};
use crate::error::WebError;

type Answer = Result<(StatusCode, Json<Value>), WebError>;

/// `GET /api/session`: whether this browser holds the token, so the page
/// can say how to get it before a control is pressed.
pub(crate) async fn session<S: Store + 'static>(State(app): State<Shared<S>>, headers: HeaderMap) -> Json<Value> {
    Json(json!({ "authorized": has_token(&headers, &app.token) }))
}

/// `POST /api/tasks/{id}/retry`: a failed or cancelled task goes back to
/// the queue.
pub(crate) async fn retry<S: Store + 'static>(
    State(app): State<Shared<S>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    authorize(&headers, &app.token, &app.hosts)?;
    let task = task_id(&id)?;
    on_task(&app, &id, Request::Retry(vec![task])).await
}

/// `POST /api/tasks/{id}/cancel`: its dependents become blocked.
pub(crate) async fn cancel<S: Store + 'static>(
    State(app): State<Shared<S>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    authorize(&headers, &app.token, &app.hosts)?;
    let task = task_id(&id)?;
    on_task(&app, &id, Request::Cancel(vec![task])).await
}

/// `POST /api/tasks/{id}/kill`: ends the running attempt. Its lease is
/// taken back at once (the task is ready again while it has attempts
/// left); the worker finds the lease gone at its next heartbeat and stops
/// the agent's process group. This works the same whichever process, or
/// machine, runs the attempt.
pub(crate) async fn kill<S: Store + 'static>(
    State(app): State<Shared<S>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    authorize(&headers, &app.token, &app.hosts)?;
    let task = task_id(&id)?;
    let steered = steer(&*app.store, None, &Request::Kill(vec![task])).await?;
    let answer = match steered.killed.first() {
        Some(k) => json!({ "task": k.task, "attempt": k.attempt, "worker": k.worker, "status": k.now }),
        None => json!({}),
    };
    Ok((StatusCode::OK, Json(answer)))
}

/// `POST /api/tasks/{id}/approve`.
pub(crate) async fn approve<S: Store + 'static>(
    State(app): State<Shared<S>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    authorize(&headers, &app.token, &app.hosts)?;
    let task = task_id(&id)?;
    on_task(&app, &id, Request::Approve(task)).await
}

#[derive(Deserialize)]
struct RejectBody {
    feedback: String,
}

/// `POST /api/tasks/{id}/reject` with `{"feedback": "…"}`.
pub(crate) async fn reject<S: Store + 'static>(
    State(app): State<Shared<S>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let shape = "reject needs a JSON body {\"feedback\": \"…\"}";
    with_text(&app, &headers, &id, body, shape, |task, b: RejectBody| Request::Reject { task, feedback: b.feedback })
        .await
}

#[derive(Deserialize)]
struct AnswerBody {
    answer: String,
}

/// `POST /api/tasks/{id}/answer` with `{"answer": "…"}`: the question of
/// a task awaiting input is answered, and its agent goes on with it.
pub(crate) async fn answer<S: Store + 'static>(
    State(app): State<Shared<S>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let shape = "answer needs a JSON body {\"answer\": \"…\"}";
    with_text(&app, &headers, &id, body, shape, |task, b: AnswerBody| Request::Answer { task, text: b.answer }).await
}

/// A request on one task that a JSON body of the `shape` described gives
/// its text.
async fn with_text<S: Store + 'static, B: serde::de::DeserializeOwned>(
    app: &Shared<S>,
    headers: &HeaderMap,
    id: &str,
    body: Result<Bytes, BytesRejection>,
    shape: &str,
    request: impl FnOnce(TaskId, B) -> Request,
) -> Answer {
    // Without the token, nothing of the request is looked at.
    authorize(headers, &app.token, &app.hosts)?;
    let body: B = serde_json::from_slice(&read(body)?).map_err(|e| WebError::BadRequest(format!("{shape}: {e}")))?;
    let task = task_id(id)?;
    on_task(app, id, request(task, body)).await
}

#[derive(Deserialize, Default)]
struct StopBody {
    #[serde(default)]
    now: bool,
}

/// `POST /api/run/stop`, `{"now": true}` for an emergency stop: as Ctrl-C
/// once or twice in the terminal of `colony run --serve`.
pub(crate) async fn stop<S: Store + 'static>(
    State(app): State<Shared<S>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    authorize(&headers, &app.token, &app.hosts)?;
    let body = read(body)?;
    let body: StopBody = match body.is_empty() {
        true => StopBody::default(),
        false => serde_json::from_slice(&body)
            .map_err(|e| WebError::BadRequest(format!("stop takes an empty body or {{\"now\": true}}: {e}")))?,
    };
    let run = app.run.as_ref().map(Run);
    let run = run.as_ref().map(|run| run as &dyn RunControl);
    steer(&*app.store, run, &Request::Stop { now: body.now }).await?;
    let what = if body.now { "now" } else { "graceful" };
    Ok((StatusCode::ACCEPTED, Json(json!({ "stopping": what }))))
}

/// The request's body, or why it could not be read: over
/// [`MAX_BODY`](crate::routes::MAX_BODY) is 413, in the API's own shape.
fn read(body: Result<Bytes, BytesRejection>) -> Result<Bytes, WebError> {
    body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => WebError::TooLarge { limit: crate::routes::MAX_BODY },
        _ => WebError::BadRequest(rejection.body_text()),
    })
}

/// The task a path names, or 404 for a name no task could have.
fn task_id(raw: &str) -> Result<TaskId, WebError> {
    TaskId::new(raw).map_err(|_| WebError::NotFound(format!("no task `{raw}`")))
}

/// Carries out a request on the task `id` and answers with the task as it
/// is then.
async fn on_task<S: Store + 'static>(app: &Shared<S>, id: &str, request: Request) -> Answer {
    steer(&*app.store, None, &request).await?;
    let record = load_task(app, id).await?.record;
    Ok((StatusCode::OK, Json(json!({ "task": record }))))
}

/// A person's stop (`Request::Stop`) acts on the run's shutdown, as
/// Ctrl-C does.
struct Run<'a>(&'a colony_agents::Shutdown);

impl RunControl for Run<'_> {
    fn drain(&self) {
        self.0.drain();
    }

    fn stop_now(&self) {
        self.0.now();
    }
}
