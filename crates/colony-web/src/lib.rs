//! colony's dashboard: a JSON API over the store, the event log as
//! server-sent events, and a small page embedded in the binary.
//!
//! Reads are open (the server binds loopback unless told otherwise) to
//! requests that name the server by one of its own names ([`guard`]: no
//! DNS rebinding), and never cached; every change needs the token in `.colony/token`, sent as a bearer token
//! or as the cookie the printed URL sets. The page is Preact + htm, vendored
//! under `assets/vendor/`: no build step, no Node at build or run time.
//! Everything it shows goes through Preact's text nodes, and the
//! Content-Security-Policy forbids inline script, so an agent that prints
//! `<script>` shows as text. See `docs/api.md` and `docs/dashboard.md`.

mod api;
mod app;
mod auth;
mod error;
mod guard;
mod hub;
mod logs;
mod page;
pub mod report;
mod routes;
mod server;
mod token;

pub use error::WebError;
pub use logs::{GateRun, Spend};
pub use server::{DEFAULT_ADDR, EVENT_POLL, ServeConfig, Server};
pub use token::{COOKIE, TOKEN_FILE, Token};
