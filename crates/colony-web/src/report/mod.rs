//! A plan's run report: what it did and where its time went. [`model`]
//! computes it from the stored tasks, [`render`] writes it as Markdown,
//! HTML or JSON, and [`input`] reads what both need from the store and
//! the attempts' logs.
//! `colony report` and the dashboard's `/api/plans/{plan}/report` share
//! all three (`docs/report.md`).

pub mod model;
pub mod render;

use std::collections::BTreeMap;

use colony_agents::{Entry, LogReader};
use colony_core::Millis;
use colony_core::layout::Layout;
use colony_core::record::Record;
use colony_store::{Store, StoreError, TaskDetail, TaskFilter};

use model::Input;

/// Every task of `plan`, in full, and when each attempt's setup ended: the
/// report's input.
pub async fn input(store: &impl Store, layout: &Layout, plan: &str) -> Result<Input, StoreError> {
    let filter = TaskFilter { plan: Some(plan.to_owned()), ..TaskFilter::default() };
    let mut details = Vec::new();
    for task in store.tasks(&filter).await? {
        if let Some(detail) = store.task(task.task.id.as_str()).await? {
            details.push(detail);
        }
    }
    let setup_ends = setup_ends(layout, &details);
    Ok(Input { details, setup_ends })
}

/// When each attempt's setup ended, for the attempts whose log records
/// one: its last setup record before anything else.
fn setup_ends(layout: &Layout, details: &[TaskDetail]) -> BTreeMap<(String, u32), Millis> {
    let mut ends = BTreeMap::new();
    for d in details {
        for a in &d.attempts {
            let Ok(mut reader) = LogReader::open(layout.log(&d.record.task.id, a.attempt)) else { continue };
            let (mut end, mut in_command) = (None, false);
            while let Some(Ok(record)) = reader.next_now() {
                match record.entry {
                    Entry::Colony(Record::Began { .. }) => {}
                    Entry::Colony(Record::Setup { .. }) => in_command = true,
                    Entry::Colony(
                        Record::SetupEnded { .. } | Record::SetupKept { .. } | Record::SetupReused { .. },
                    ) => {
                        (end, in_command) = (Some(record.t), false);
                    }
                    // A setup command's output.
                    Entry::Raw { .. } | Entry::Omitted { .. } if in_command => {}
                    _ => break,
                }
            }
            if let Some(end) = end {
                ends.insert((d.record.task.id.to_string(), a.attempt), end);
            }
        }
    }
    ends
}
