//! Every route, in one table. `docs/api.md` documents each of them; a test
//! below reads this file and the document and fails if they disagree.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use colony_store::Store;

use crate::api::{control, overview, report, stream, tasks};
use crate::app::Shared;
use crate::error::WebError;
use crate::{guard, page};

/// The largest request body read: a rejection's feedback and an answer
/// are the only bodies longer than a few bytes. An answer of
/// [`MAX_ANSWER_BYTES`](colony_store::MAX_ANSWER_BYTES) fits even with
/// every byte escaped in its JSON (at most six bytes each).
pub(crate) const MAX_BODY: usize = 1024 * 1024;

// The sentence above, checked by the compiler.
const _: () = assert!(6 * colony_store::MAX_ANSWER_BYTES + 64 <= MAX_BODY);

pub(crate) fn router<S: Store + 'static>(app: Shared<S>) -> Router {
    let hosts = app.hosts;
    Router::new()
        .route("/", get(page::index::<S>))
        .route("/assets/{*path}", get(page::asset))
        .route("/api/status", get(overview::status::<S>))
        .route("/api/workers", get(overview::workers::<S>))
        .route("/api/graph", get(overview::graph::<S>))
        .route("/api/tasks", get(tasks::list::<S>))
        .route("/api/tasks/{id}", get(tasks::detail::<S>))
        .route("/api/tasks/{id}/log", get(tasks::log::<S>))
        .route("/api/plans/{plan}/report", get(report::report::<S>))
        .route("/api/events", get(stream::events::<S>))
        .route("/api/session", get(control::session::<S>))
        .route("/api/tasks/{id}/retry", post(control::retry::<S>))
        .route("/api/tasks/{id}/cancel", post(control::cancel::<S>))
        .route("/api/tasks/{id}/kill", post(control::kill::<S>))
        .route("/api/tasks/{id}/approve", post(control::approve::<S>))
        .route("/api/tasks/{id}/reject", post(control::reject::<S>))
        .route("/api/tasks/{id}/answer", post(control::answer::<S>))
        .route("/api/run/stop", post(control::stop::<S>))
        .fallback(|uri: axum::http::Uri| async move { WebError::NotFound(format!("no route {}", uri.path())) })
        .method_not_allowed_fallback(|| async { WebError::BadRequest("this route does not take that method".into()) })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(hosts, guard::guard))
        .layer(middleware::map_response(page::security_headers))
        .with_state(app)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// `METHOD /path` for each `.route(…)` line above.
    fn routes_in_code() -> BTreeSet<String> {
        let source = include_str!("routes.rs");
        let table = source.split("#[cfg(test)]").next().unwrap();
        table
            .lines()
            .filter_map(|line| {
                let rest = line.trim().strip_prefix(".route(\"")?;
                let (path, rest) = rest.split_once('"')?;
                let method = rest.trim_start_matches([',', ' ']).split('(').next()?;
                Some(format!("{} {path}", method.to_uppercase()))
            })
            .collect()
    }

    /// `METHOD /path` for each `### METHOD /path` heading of the reference.
    fn routes_in_docs() -> BTreeSet<String> {
        let doc = include_str!("../../../docs/api.md");
        doc.lines()
            .filter_map(|l| l.strip_prefix("### "))
            .filter(|h| h.starts_with("GET ") || h.starts_with("POST "))
            .map(|h| h.replace('`', ""))
            .collect()
    }

    #[test]
    fn every_route_is_documented_and_every_documented_route_exists() {
        let code = routes_in_code();
        let docs = routes_in_docs();
        assert!(code.len() >= 16, "the route table was not read: {code:?}");
        let undocumented: Vec<_> = code.difference(&docs).collect();
        let stale: Vec<_> = docs.difference(&code).collect();
        assert!(
            undocumented.is_empty() && stale.is_empty(),
            "not in docs/api.md: {undocumented:?}; documented but not routed: {stale:?}"
        );
    }
}
