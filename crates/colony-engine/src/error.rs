//! The engine's one error type.

use colony_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("store error")]
    Store(#[from] StoreError),
    #[error("prompt template {0}")]
    Prompt(#[from] crate::prompts::PromptError),
    #[error("git error")]
    Git(#[from] colony_git::GitError),
    #[error("agent error")]
    Agent(#[from] colony_agents::AgentError),
    #[error(
        "no agent to run task {task} with: name one with `--agent`, `agent:` in the plan, or `[run] agent` in colony.toml"
    )]
    NoAgent { task: String },
    #[error("task {task} asks for agent `{agent}`, which colony.toml does not define (known: {known})")]
    UnknownAgent { task: String, agent: String, known: String },
    #[error("the repository has no commit to start the integration branch `{branch}` from; commit something first")]
    NoBase { branch: String },
    #[error("the engine needs tokio's multi-thread runtime")]
    Runtime,
    #[error("could not write {path}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// An error and its sources, one line; a source whose text its error
/// already ends with (sqlx repeats its I/O errors) is said once.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let said = s.to_string();
        if !text.ends_with(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = s.source();
    }
    text
}
