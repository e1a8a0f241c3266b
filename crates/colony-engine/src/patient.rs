//! A run's store waits out connection errors and a full disk.
//!
//! The store does the waiting (`colony_store::Patience`): each call runs
//! again, with a growing wait, until it goes through or the run must stop
//! at once. This says what it tells the run in the run's notices.

use colony_store::{Outage, Patience};
use tokio_util::sync::CancellationToken;

use crate::round::human;
use crate::settings::Notices;

/// The patience of a run's store: outages go to `notices`, and a call
/// still failing when `stop` is cancelled gives up with its error.
pub(crate) fn patience(notices: Notices, stop: CancellationToken) -> Patience {
    Patience::new(move |outage| notices.say(&notice(outage)), stop)
}

/// The notice for an outage of the store.
fn notice(outage: Outage<'_>) -> String {
    match outage {
        Outage::Waiting { error, retry_in } => {
            let why = crate::error::error_chain(error);
            match error.is_disk_full() {
                true => format!(
                    "the disk holding the store is full ({why}); new work waits until there is room, trying again in {}",
                    human(retry_in)
                ),
                false => format!("the store is unreachable ({why}); retrying in {}", human(retry_in)),
            }
        }
        Outage::Over { disk_full: true } => "the store can be written again; new work goes on".to_owned(),
        Outage::Over { disk_full: false } => "the store is reachable again".to_owned(),
    }
}
