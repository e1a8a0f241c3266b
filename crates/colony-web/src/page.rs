//! The page: files embedded in the binary, the token cookie, and the
//! headers that keep a hostile task title from ever running as script.

use axum::extract::{Path, Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY, SET_COOKIE,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use colony_store::Store;
use serde::Deserialize;

use crate::app::Shared;
use crate::error::WebError;
use crate::token::COOKIE;

/// The page's files: `index.html`, the app, its styles and the vendored
/// Preact + htm. The build embeds them; nothing is fetched at run time.
#[derive(rust_embed::Embed)]
#[folder = "assets/"]
#[exclude = "*.sh"]
struct Assets;

/// Scripts, styles and connections only from this server; no inline
/// script, no frames, no plugins.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[derive(Deserialize)]
pub(crate) struct IndexQuery {
    token: Option<String>,
}

/// `/`: the page. `/?token=…` (the URL colony prints) sets the token
/// cookie and sends the browser back to `/`, so the token leaves the
/// address bar and history.
pub(crate) async fn index<S: Store + 'static>(
    State(app): State<Shared<S>>,
    query: Result<Query<IndexQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Ok(Query(IndexQuery { token: Some(token) })) = query {
        if !app.token.matches(&token) {
            return WebError::Unauthorized.into_response();
        }
        let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
        return (StatusCode::SEE_OTHER, [(LOCATION, "/".to_owned()), (SET_COOKIE, cookie)]).into_response();
    }
    file("index.html")
}

/// `/assets/{*path}`.
pub(crate) async fn asset(Path(path): Path<String>) -> Response {
    file(&path)
}

fn file(path: &str) -> Response {
    let Some(found) = Assets::get(path) else {
        return WebError::NotFound(format!("no file `{path}`")).into_response();
    };
    let kind = match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "text/plain; charset=utf-8",
    };
    ([(CONTENT_TYPE, kind), (CACHE_CONTROL, "no-cache")], found.data).into_response()
}

/// Added to every response.
pub(crate) async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    // A route may set a policy of its own (the HTML report's: an inline
    // style and nothing else); every other answer gets the page's.
    headers.entry(CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
