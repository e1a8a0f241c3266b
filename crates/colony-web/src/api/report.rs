//! A plan's run report, as `colony report` makes it: JSON for the page's
//! Report view, or the self-contained HTML page.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderValue;
use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::response::{Html, IntoResponse, Response};
use colony_store::Store;
use serde::Deserialize;

use crate::app::{Shared, now};
use crate::error::WebError;
use crate::report::{input, model, render};

/// The HTML report's policy: its one inline `<style>` and nothing else; it
/// has no script, and loads nothing.
const REPORT_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[derive(Deserialize)]
pub(crate) struct ReportQuery {
    format: Option<String>,
}

/// `GET /api/plans/{plan}/report?format=json|html`.
pub(crate) async fn report<S: Store + 'static>(
    State(app): State<Shared<S>>,
    Path(plan): Path<String>,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, WebError> {
    let Query(query) = query.map_err(|e| WebError::BadRequest(e.body_text()))?;
    let html = match query.format.as_deref() {
        None | Some("json") => false,
        Some("html") => true,
        Some(other) => return Err(WebError::BadRequest(format!("unknown format `{other}`; one of: json, html"))),
    };
    let plans = app.store.plans().await?;
    if !plans.iter().any(|p| p.name.as_str() == plan) {
        let names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
        return Err(WebError::NotFound(format!("no plan `{plan}`; the store has: {}", names.join(", "))));
    }
    let report = model::build(&plan, &input(&*app.store, &app.layout, &plan).await?, now());
    if !html {
        return Ok(Json(report).into_response());
    }
    let mut response = Html(render::html(&report)).into_response();
    response.headers_mut().insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(REPORT_CSP));
    Ok(response)
}
