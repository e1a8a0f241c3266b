//! `GET /api/events`: the event log as server-sent events.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{KeepAlive, Sse};
use colony_store::Store;
use serde::Deserialize;

use crate::app::Shared;
use crate::error::WebError;

#[derive(Deserialize)]
pub(crate) struct EventsQuery {
    since: Option<String>,
}

/// Each event's `id` is its sequence number. A reconnecting browser sends
/// the last one it saw as `Last-Event-ID` and gets what follows it;
/// `?since=N` asks for the same explicitly. With neither, the stream starts
/// with the next new event.
pub(crate) async fn events<S: Store + 'static>(
    State(app): State<Shared<S>>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<impl IntoResponse, WebError> {
    let Query(query) = query.map_err(|e| WebError::BadRequest(e.body_text()))?;
    let resume =
        headers.get("last-event-id").map(|v| ("Last-Event-ID", String::from_utf8_lossy(v.as_bytes()).into_owned()));
    let since = match resume.or(query.since.map(|s| ("since", s))) {
        Some((name, text)) => text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| WebError::BadRequest(format!("{name} `{text}` is not an event sequence number")))?,
        None => app.store.last_seq().await?,
    };
    Ok(Sse::new(app.hub.stream(since)).keep_alive(KeepAlive::default()))
}
