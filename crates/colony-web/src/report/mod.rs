//! A plan's run report: what it did and where its time went. [`model`]
//! computes it from the stored tasks, [`render`] writes it as Markdown,
//! HTML or JSON, and [`details`] reads what both need from the store.
//! `colony report` and the dashboard's `/api/plans/{plan}/report` share
//! all three (`docs/report.md`).

pub mod model;
pub mod render;

use colony_store::{Store, StoreError, TaskDetail, TaskFilter};

/// Every task of `plan`, in full: the report's input.
pub async fn details(store: &impl Store, plan: &str) -> Result<Vec<TaskDetail>, StoreError> {
    let filter = TaskFilter { plan: Some(plan.to_owned()), ..TaskFilter::default() };
    let mut details = Vec::new();
    for task in store.tasks(&filter).await? {
        if let Some(detail) = store.task(task.task.id.as_str()).await? {
            details.push(detail);
        }
    }
    Ok(details)
}
