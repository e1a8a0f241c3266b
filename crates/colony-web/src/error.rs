//! The web crate's one error type, and the one place HTTP statuses are
//! chosen for it.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use colony_store::{SteerError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Something about the request is wrong: a bad filter, page or body.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// A mutation without colony's token.
    #[error(
        "this needs colony's token: send `Authorization: Bearer <token>` (the token is in .colony/token), or open the URL `colony serve` printed"
    )]
    Unauthorized,
    /// A mutation sent from another site's page.
    #[error("refused: the request comes from {origin}, not from this dashboard")]
    CrossOrigin { origin: String },
    /// A request to a name that is not this server's: another site's page
    /// that pointed its name here (DNS rebinding).
    #[error(
        "refused: this dashboard does not answer to the name `{host}`; open it as http://{bound}/ (localhost and loopback addresses work too)"
    )]
    UnknownHost { host: String, bound: SocketAddr },
    /// A request body over the limit.
    #[error("the request body is over {limit} bytes")]
    TooLarge { limit: usize },
    #[error(
        "{addr} is already in use (is another colony serving?); pick another address with --addr, or --addr 127.0.0.1:0 for any free port"
    )]
    AddrInUse { addr: SocketAddr },
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read or create the token file {path}")]
    Token {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the token file {path} is empty; delete it and colony makes a new one")]
    EmptyToken { path: PathBuf },
    /// The token file is a device, a FIFO, or too large to be colony's.
    #[error("the token file {path} is {problem}; delete it and colony makes a new one")]
    BadTokenFile { path: PathBuf, problem: colony_core::input::ReadError },
    #[error("the server stopped on an error")]
    Serve(#[source] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A person's request the store refused, or could not carry out.
    #[error(transparent)]
    Steer(#[from] SteerError),
    #[error(transparent)]
    Git(#[from] colony_git::GitError),
    /// A blocking job (reading logs, running git) panicked or was cancelled.
    #[error("a background job failed")]
    Join(#[from] tokio::task::JoinError),
}

impl WebError {
    /// The HTTP status of each error: the one place they are chosen.
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::BadRequest(_) | WebError::Steer(SteerError::Bad(_)) => StatusCode::BAD_REQUEST,
            WebError::NotFound(_)
            | WebError::Store(StoreError::NoSuchTask(_) | StoreError::NoSuchPlan(_))
            | WebError::Steer(SteerError::NoSuchTask(_)) => StatusCode::NOT_FOUND,
            WebError::Unauthorized => StatusCode::UNAUTHORIZED,
            WebError::CrossOrigin { .. } => StatusCode::FORBIDDEN,
            WebError::UnknownHost { .. } => StatusCode::MISDIRECTED_REQUEST,
            WebError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::Store(StoreError::NotAllowed(_) | StoreError::LeaseLost { .. })
            | WebError::Steer(SteerError::NotAllowed(_) | SteerError::NoRun) => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for WebError {
    /// `{"error": "..."}` with the status above; a server-side error names
    /// its causes too, since the dashboard is the only place they show.
    fn into_response(self) -> Response {
        let mut message = self.to_string();
        let mut source = std::error::Error::source(&self);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        (self.status(), Json(serde_json::json!({ "error": message }))).into_response()
    }
}
