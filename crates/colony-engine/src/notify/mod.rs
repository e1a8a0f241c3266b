//! Telling a person when something needs them (`[notify]`, `docs/
//! notifications.md`).
//!
//! Notices come from the event log, so every process's events are seen,
//! and each sink keeps its place in the log in the store: a restarted
//! colony goes on where the last left off. One process delivers at a
//! time: the one holding the named lock [`LOCK`]. Each sink has its own
//! task, so a dead webhook does not hold up the command, and none of them
//! holds up the run.
//!
//! A notice is recorded as delivered after it is: a crash between the
//! two sends it again on restart, with the same `seq` for the receiver to
//! tell. At a run's end the notices still to go get a few seconds
//! ([`Notifier::finish`]); a sink that is failing then gets none.

mod health;
mod notice;
mod sign;
mod sink;

use std::sync::Arc;
use std::time::{Duration, Instant};

use colony_core::config::{NoticeKind, NotifyConfig};
use colony_store::{NotifyCursor, Store, StoreError, Tail};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::pacing::millis_of;
use crate::settings::Notices;
use health::{Health, Next};
use notice::{Notice, Noticer};
use sink::Sink;

/// The named lock whose holder delivers notices.
pub const LOCK: &str = "notify";
/// How long the lock lasts unless renewed; it is renewed at a third of it.
const LOCK_TTL: Duration = Duration::from_secs(30);
/// How often the log is read where the store cannot say it grew.
const POLL: Duration = Duration::from_millis(500);
const BATCH: usize = 200;
/// How often the place past events that make no notice is recorded.
const RECORD_EVERY: Duration = Duration::from_secs(5);

/// The deliveries of this process, while it runs.
pub struct Notifier {
    finishing: CancellationToken,
    stop: CancellationToken,
    sinks: JoinSet<()>,
    keeper: JoinHandle<()>,
}

impl Notifier {
    /// Starts delivering what `config` asks for, as `holder` (this
    /// process's run id), or `None` when it asks for nothing. What cannot
    /// be set up (a webhook without its secret is still sent, unsigned) is
    /// said through `notices`.
    pub fn start<S: Store + 'static>(
        store: Arc<S>,
        config: &NotifyConfig,
        notices: Notices,
        holder: String,
    ) -> Option<Notifier> {
        if !config.is_on() {
            return None;
        }
        let mut sinks = Vec::new();
        if let Some(argv) = &config.command {
            sinks.push(Sink::Command(argv.clone()));
        }
        if let Some(url) = &config.webhook {
            let secret = std::env::var_os(&config.secret_env).filter(|s| !s.is_empty());
            if secret.is_none() {
                notices.say(&format!(
                    "webhook notices go unsigned: {} is not set (`[notify] secret_env` names the variable)",
                    config.secret_env
                ));
            }
            match Sink::webhook(url.clone(), secret.map(|s| s.into_encoded_bytes())) {
                Ok(sink) => sinks.push(sink),
                Err(e) => notices.say(&format!("no webhook notices this run: {e}")),
            }
        }
        if config.desktop {
            sinks.push(Sink::Desktop);
        }
        let (finishing, stop) = (CancellationToken::new(), CancellationToken::new());
        let (held_tx, held) = watch::channel(false);
        let keeper = tokio::spawn(keep_lock(store.clone(), holder.clone(), held_tx, stop.clone()));
        let mut deliveries = JoinSet::new();
        for sink in sinks {
            let delivery = Delivery {
                store: store.clone(),
                sink,
                on: config.on.clone(),
                holder: holder.clone(),
                notices: notices.clone(),
                finishing: finishing.clone(),
                stop: stop.clone(),
            };
            deliveries.spawn(delivery.run(held.clone()));
        }
        Some(Notifier { finishing, stop, sinks: deliveries, keeper })
    }

    /// Delivers what the log holds now, for at most `wait`, then stops. A
    /// sink whose deliveries fail is not waited for: what it has not
    /// delivered goes at the next run.
    pub async fn finish(self, wait: Duration) {
        self.finishing.cancel();
        let mut sinks = self.sinks;
        let _ = tokio::time::timeout(wait, async { while sinks.join_next().await.is_some() {} }).await;
        self.stop.cancel();
        while sinks.join_next().await.is_some() {}
        let _ = self.keeper.await;
    }
}

/// Takes and renews the lock, telling the sinks whether this process
/// holds it; lets go of it at the end.
async fn keep_lock<S: Store>(store: Arc<S>, holder: String, held: watch::Sender<bool>, stop: CancellationToken) {
    loop {
        let mut have = store.try_lock(LOCK, &holder, LOCK_TTL).await.unwrap_or(false);
        if !have && free_dead_holders(&*store).await {
            have = store.try_lock(LOCK, &holder, LOCK_TTL).await.unwrap_or(false);
        }
        held.send_replace(have);
        tokio::select! {
            () = tokio::time::sleep(LOCK_TTL / 3) => {}
            () = stop.cancelled() => break,
        }
    }
    let _ = store.unlock(LOCK, &holder).await;
}

/// Lets go of the lock for the runs of this host and boot whose process
/// is gone (a `kill -9`): a new run need not wait for the lock to expire.
/// Whether there were any.
async fn free_dead_holders<S: Store>(store: &S) -> bool {
    let (host, boot) = (colony_agents::hostname(), colony_agents::boot_id());
    let Ok(runs) = store.runs().await else { return false };
    let mut freed = false;
    for run in runs {
        let here = run.host == host && boot.is_some() && run.boot_id == boot;
        if here && !colony_agents::process_alive(run.pid) && store.unlock(LOCK, &run.id).await.is_ok() {
            freed = true;
        }
    }
    freed
}

/// One sink's deliveries.
struct Delivery<S> {
    store: Arc<S>,
    sink: Sink,
    on: Vec<NoticeKind>,
    holder: String,
    notices: Notices,
    finishing: CancellationToken,
    stop: CancellationToken,
}

/// Why a stretch of delivering ended.
enum Ended {
    /// Done: stopped, or finished what there was to deliver.
    Done,
    /// Another process has the lock now.
    LockLost,
}

impl<S: Store> Delivery<S> {
    async fn run(self, mut held: watch::Receiver<bool>) {
        let mut health = Health::default();
        loop {
            // Held and finishing both: what is there is still delivered.
            tokio::select! {
                biased;
                changed = held.wait_for(|have| *have) => if changed.is_err() { return },
                () = self.stop.cancelled() => return,
                () = self.finishing.cancelled() => return,
            }
            match self.deliver(&mut health).await {
                Ok(Ended::Done) => return,
                // The keeper may not have seen the loss yet: wait for its
                // next word rather than ask the store again at once.
                Ok(Ended::LockLost) => {
                    held.mark_unchanged();
                    tokio::select! {
                        changed = held.changed() => if changed.is_err() { return },
                        () = self.stop.cancelled() => return,
                        () = self.finishing.cancelled() => return,
                    }
                }
                Err(e) => {
                    self.notices.say(&format!("notices to the {} wait: the store failed: {e}", self.sink.name()));
                    tokio::select! {
                        () = tokio::time::sleep(POLL) => {}
                        () = self.stop.cancelled() => return,
                    }
                }
            }
        }
    }

    /// Delivers from the sink's place in the log on, while this process
    /// holds the lock.
    async fn deliver(&self, health: &mut Health) -> Result<Ended, StoreError> {
        let name = self.sink.name();
        let since = match self.store.notify_cursors().await?.into_iter().find(|c| c.sink == name) {
            Some(cursor) => cursor.seq,
            // A new sink starts at the end of the log: it is not told the past.
            None => {
                let seq = self.store.last_seq().await?;
                if !self.advance(seq, health).await? {
                    return Ok(Ended::LockLost);
                }
                seq
            }
        };
        let mut tail = Tail::new(&*self.store, since, BATCH, POLL).listening().await;
        // The place recorded, and when: after each notice, and past events
        // that make none now and then (a restart reads those again, and
        // they make none again).
        let mut recorded = (since, Instant::now());
        let mut noticer = Noticer::default();
        let mut end = None;
        loop {
            if end.is_none() && self.finishing.is_cancelled() {
                end = Some(self.store.last_seq().await?);
            }
            if end.is_some_and(|end| tail.since() >= end || health.failing.is_some()) {
                if recorded.0 < tail.since() && health.failing.is_none() {
                    self.advance(tail.since(), health).await?;
                }
                return Ok(Ended::Done);
            }
            let batch = tail.read().await?;
            if batch.is_empty() {
                tokio::select! {
                    () = tail.wait() => {}
                    () = self.finishing.cancelled(), if end.is_none() => {}
                    () = self.stop.cancelled() => return Ok(Ended::Done),
                }
                continue;
            }
            let before = batch[0].seq - 1;
            for mut notice in noticer.notices(&batch, &self.on) {
                self.describe(&mut notice).await?;
                if !self.send(&notice, health).await {
                    // Kept for the next run, with why it failed.
                    self.advance(before.max(recorded.0), health).await?;
                    return Ok(Ended::Done);
                }
                if !self.advance(notice.seq, health).await? {
                    return Ok(Ended::LockLost);
                }
                recorded = (notice.seq, Instant::now());
            }
            if recorded.0 < tail.since() && recorded.1.elapsed() >= RECORD_EVERY {
                if !self.advance(tail.since(), health).await? {
                    return Ok(Ended::LockLost);
                }
                recorded = (tail.since(), Instant::now());
            }
        }
    }

    /// Adds the title and plan of the task a notice is about.
    async fn describe(&self, notice: &mut Notice) -> Result<(), StoreError> {
        if let Some(id) = &notice.task
            && let Some(detail) = self.store.task(id.as_str()).await?
        {
            notice.title = Some(detail.record.title);
            notice.plan = Some(detail.record.task.plan.to_string());
        }
        Ok(())
    }

    /// Sends `notice` until it is delivered or given up on; `false` when
    /// colony stops first, or is finishing and the notice failed: the next
    /// run tries it again.
    async fn send(&self, notice: &Notice, health: &mut Health) -> bool {
        loop {
            let failing = health.failing.is_some();
            let outcome = tokio::select! {
                outcome = self.sink.deliver(notice) => outcome,
                // A failing sink is not waited for at the run's end.
                () = self.finishing.cancelled(), if failing => return false,
                () = self.stop.cancelled() => return false,
            };
            let (next, say) = health.step(self.sink.name(), outcome, now());
            if let Some(say) = say {
                self.notices.say(&say);
            }
            match next {
                Next::Done => return true,
                Next::Again(wait) => tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = self.finishing.cancelled() => return false,
                    () = self.stop.cancelled() => return false,
                },
            }
        }
    }

    /// Records the sink's place as `seq`; `false` when this process no
    /// longer holds the lock.
    async fn advance(&self, seq: i64, health: &Health) -> Result<bool, StoreError> {
        let (failing, failing_since) = health.failing.clone().unzip();
        let cursor = NotifyCursor { sink: self.sink.name().to_owned(), seq, failing, failing_since };
        match self.store.advance_notify(&cursor, (LOCK, &self.holder)).await {
            Ok(()) => Ok(true),
            Err(StoreError::LockLost { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn now() -> colony_core::Millis {
    millis_of(std::time::SystemTime::now())
}
