//! [`Tail`]: the event log from a sequence number on, as it is written.
//!
//! Sequence numbers are handed out in commit order (see `docs/
//! architecture.md`), so asking for the events after the last one seen
//! never misses or repeats one. What is left is when to ask: on PostgreSQL
//! every write notifies listeners on commit, so a listening tail asks as
//! soon as there is something; on SQLite, or while no listener can be
//! made, it asks every `poll`.

use std::time::Duration;

use colony_core::Event;

use crate::postgres::Listener;
use crate::store::Store;
use crate::tx::Result;

/// Reads the event log after a sequence number, a bounded batch at a time.
pub struct Tail<'a, S> {
    store: &'a S,
    since: i64,
    batch: usize,
    poll: Duration,
    listener: Option<Listener>,
    /// The last read filled its batch: more may be there already.
    more: bool,
}

impl<'a, S: Store> Tail<'a, S> {
    /// A tail of the events after `since`, read at most `batch` at a time,
    /// that [waits](Tail::wait) `poll` between reads.
    pub fn new(store: &'a S, since: i64, batch: usize, poll: Duration) -> Self {
        Tail { store, since, batch: batch.max(1), poll, listener: None, more: false }
    }

    /// This tail, woken by the store's notifications where it has them
    /// (PostgreSQL); polling when they cannot be had.
    pub async fn listening(mut self) -> Self {
        self.listener = self.store.event_listener().await.ok().flatten();
        self
    }

    /// The sequence number of the last event read.
    pub fn since(&self) -> i64 {
        self.since
    }

    /// The next events, at most a batch, without waiting: empty when
    /// there are none yet. Cancel-safe: events are counted read only when
    /// this returns them.
    pub async fn read(&mut self) -> Result<Vec<Event>> {
        let read = self.store.events(self.since, self.batch).await;
        self.more = read.as_ref().is_ok_and(|batch| batch.len() == self.batch);
        let batch = read?;
        if let Some(last) = batch.last() {
            self.since = last.seq;
        }
        Ok(batch)
    }

    /// Waits until there may be events to [read](Tail::read): at once
    /// after a full batch, else until a notification comes or, without a
    /// listener, for `poll` (after a failed read too). A listener that
    /// loses its connection polls until it has one again.
    pub async fn wait(&mut self) {
        if self.more {
            return;
        }
        let heard = match &mut self.listener {
            Some(listener) => listener.next().await.is_ok(),
            None => false,
        };
        if !heard {
            tokio::time::sleep(self.poll).await;
        }
    }

    /// The next events: waits for at least one, and returns at most a
    /// batch.
    pub async fn next(&mut self) -> Result<Vec<Event>> {
        loop {
            let batch = self.read().await?;
            if !batch.is_empty() {
                return Ok(batch);
            }
            self.wait().await;
        }
    }
}
