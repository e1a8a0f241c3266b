//! The JSON API's handlers, by what they show or change.

pub(crate) mod control;
pub(crate) mod overview;
pub(crate) mod report;
pub(crate) mod stream;
pub(crate) mod tasks;

use colony_core::TaskId;
use colony_store::{Store, TaskDetail};

use crate::app::Shared;
use crate::error::WebError;

/// The task a path names, or 404.
pub(crate) async fn load_task<S: Store + 'static>(app: &Shared<S>, raw: &str) -> Result<TaskDetail, WebError> {
    let missing = || WebError::NotFound(format!("no task `{raw}`"));
    let id = TaskId::new(raw).map_err(|_| missing())?;
    app.store.task(id.as_str()).await?.ok_or_else(missing)
}

/// The latest attempt a task has had.
pub(crate) fn latest_attempt(detail: &TaskDetail) -> Option<u32> {
    detail.attempts.iter().map(|a| a.attempt).max()
}
