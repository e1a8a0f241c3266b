//! The event stream: one tail of the store's event log reads new events
//! and fans them out to every client.
//!
//! A client starts from a sequence number (its `Last-Event-ID`). It
//! subscribes to the broadcast first and then reads what it missed from the
//! store, so no event falls between the two: the store hands out sequence
//! numbers in commit order, and an event committed after the catch-up read
//! reaches the broadcast after the subscription. Events the catch-up
//! already sent are skipped by their number. A client too slow for the
//! broadcast's buffer catches up from the store again, from its own last
//! number, instead of losing events or holding the others back.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::Event as SseEvent;
use colony_core::Event;
use colony_store::{Store, Tail};
use futures_util::Stream;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// Events the broadcast holds for slow clients before they must catch up
/// from the store.
const BUFFER: usize = 4096;

/// Events read from the store at a time.
const BATCH: usize = 1000;

/// One event, serialized once for every client.
#[derive(Debug)]
pub(crate) struct Item {
    pub seq: i64,
    pub json: String,
}

impl Item {
    fn new(event: &Event) -> Arc<Item> {
        let json = serde_json::to_string(event).expect("an event always serializes");
        Arc::new(Item { seq: event.seq, json })
    }

    fn sse(&self) -> SseEvent {
        SseEvent::default().id(self.seq.to_string()).data(&self.json)
    }
}

pub(crate) struct Hub<S> {
    store: Arc<S>,
    sender: broadcast::Sender<Arc<Item>>,
    poll: Duration,
    stop: CancellationToken,
}

impl<S: Store + 'static> Hub<S> {
    /// Starts the poller, reading events after `from` as the store's
    /// [`Tail`] finds them (polling every `poll` where the store cannot
    /// say) until `stop`.
    pub fn start(store: Arc<S>, from: i64, poll: Duration, stop: CancellationToken) -> Arc<Hub<S>> {
        let (sender, _) = broadcast::channel(BUFFER);
        let hub = Arc::new(Hub { store, sender, poll, stop });
        tokio::spawn(hub.clone().poll_loop(from));
        hub
    }

    async fn poll_loop(self: Arc<Self>, from: i64) {
        let mut tail = Tail::new(&*self.store, from, BATCH, self.poll).listening().await;
        loop {
            // A failed read is tried again at the next wakeup.
            for event in tail.read().await.iter().flatten() {
                // No receiver is fine: nobody is watching.
                let _ = self.sender.send(Item::new(event));
            }
            tokio::select! {
                () = tail.wait() => {}
                () = self.stop.cancelled() => return,
            }
        }
    }

    /// The events after `since`, then every new one, as server-sent events.
    pub fn stream(self: &Arc<Self>, since: i64) -> impl Stream<Item = Result<SseEvent, Infallible>> + use<S> {
        let (out, rx) = mpsc::channel(256);
        tokio::spawn(self.clone().feed(since, out));
        futures_util::stream::unfold(rx, |mut rx| async move {
            let item: Arc<Item> = rx.recv().await?;
            Some((Ok(item.sse()), rx))
        })
    }

    /// Sends one client its events until it goes away or the server stops.
    async fn feed(self: Arc<Self>, mut last: i64, out: mpsc::Sender<Arc<Item>>) {
        'catch_up: loop {
            let mut live = self.sender.subscribe();
            let mut missed = Tail::new(&*self.store, last, BATCH, self.poll);
            loop {
                let batch = tokio::select! {
                    batch = missed.read() => batch,
                    () = out.closed() => return,
                    () = self.stop.cancelled() => return,
                };
                let Ok(batch) = batch else {
                    missed.wait().await;
                    continue;
                };
                for event in &batch {
                    last = event.seq;
                    if out.send(Item::new(event)).await.is_err() {
                        return;
                    }
                }
                if batch.len() < BATCH {
                    break;
                }
            }
            loop {
                let received = tokio::select! {
                    received = live.recv() => received,
                    () = out.closed() => return,
                    () = self.stop.cancelled() => return,
                };
                match received {
                    Ok(item) if item.seq <= last => {}
                    Ok(item) => {
                        last = item.seq;
                        if out.send(item).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue 'catch_up,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    }
}
