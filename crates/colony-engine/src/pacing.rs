//! What the workers of a run share about their agents and their spend.
//!
//! An agent that hit a rate limit waits, for every worker using it, until
//! the reset it gave or for a backoff; one that needs a person (a refused
//! login, a spend cap) takes no more work in this run. Either way its tasks
//! stay ready and are passed over by claims, so tasks for other agents go
//! on, and the waits are kept in the store for the other processes and for
//! `colony status`. A spent budget halts the claiming of new work without
//! stopping the attempts already running.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use colony_core::{Millis, Usage};
use colony_store::AgentWait;
use tokio_util::sync::CancellationToken;

/// The longest wait a reset time is believed for: a weekly limit is real,
/// a reset further out is a misread date, and is backed off instead.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(8 * 24 * 60 * 60);

/// What keeps an agent from taking work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wait {
    /// A rate limit, until then.
    Until(SystemTime),
    /// Until a person acts; what they must do, in words for them.
    Person(String),
}

#[derive(Debug, Default)]
struct Pace {
    /// Limits in a row without a round that went through.
    strikes: u32,
    wait: Option<Wait>,
}

/// Whether a round of an agent may go ahead.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Go {
    Ahead,
    /// The run is stopping.
    Stopped,
    /// The agent waits for a person: why.
    Locked(String),
}

#[derive(Debug, Default)]
pub(crate) struct Pacing {
    agents: Mutex<HashMap<String, Pace>>,
    spent: Mutex<Usage>,
    halt: CancellationToken,
    halt_reason: Mutex<Option<String>>,
}

impl Pacing {
    /// Pauses `agent` for every worker: until `reset_at` when the agent gave
    /// one that is to come and believable ([`MAX_WAIT`]), else for
    /// `backoff(strikes)` with jitter, so that a stale reset the CLI keeps
    /// repeating is not called again at once. Returns when the pause ends.
    pub fn pause(&self, agent: &str, reset_at: Option<Millis>, backoff: impl FnOnce(u32) -> Duration) -> SystemTime {
        let now = SystemTime::now();
        let mut agents = lock(&self.agents);
        let pace = agents.entry(agent.to_owned()).or_default();
        pace.strikes += 1;
        let told = reset_at
            .and_then(|at| time_of(at).duration_since(now).ok())
            .filter(|wait| !wait.is_zero() && *wait <= MAX_WAIT);
        let until = now + told.unwrap_or_else(|| jitter(backoff(pace.strikes)));
        match &pace.wait {
            // Another worker may have learnt of a later reset.
            Some(Wait::Until(later)) if *later > until => *later,
            Some(Wait::Person(_)) => until,
            _ => {
                pace.wait = Some(Wait::Until(until));
                until
            }
        }
    }

    /// `agent` takes no more work until a person acts, for `why`.
    pub fn lock(&self, agent: &str, why: String) {
        lock(&self.agents).entry(agent.to_owned()).or_default().wait = Some(Wait::Person(why));
    }

    /// A round of `agent` went through: its rate limit is over, and the
    /// next one starts the backoff over. Whether it had one to end.
    pub fn went_through(&self, agent: &str) -> bool {
        let mut agents = lock(&self.agents);
        let Some(pace) = agents.get_mut(agent) else { return false };
        pace.strikes = 0;
        let limited = matches!(pace.wait, Some(Wait::Until(_)));
        if limited {
            pace.wait = None;
        }
        limited
    }

    /// Takes in the waits the store holds (other processes learnt of them):
    /// a later end, or a wait for a person, wins.
    pub fn absorb(&self, waits: &[AgentWait]) {
        let mut agents = lock(&self.agents);
        for w in waits {
            let pace = agents.entry(w.agent.clone()).or_default();
            match (w.ends_at.map(time_of), &pace.wait) {
                (_, Some(Wait::Person(_))) => {}
                (None, _) => pace.wait = Some(Wait::Person(w.reason.clone())),
                (Some(end), Some(Wait::Until(mine))) if *mine >= end => {}
                (Some(end), _) => pace.wait = Some(Wait::Until(end)),
            }
        }
    }

    /// The agents that cannot take work at `now`.
    pub fn blocked(&self, now: SystemTime) -> BTreeSet<String> {
        lock(&self.agents)
            .iter()
            .filter(|(_, pace)| match &pace.wait {
                Some(Wait::Until(until)) => *until > now,
                Some(Wait::Person(_)) => true,
                None => false,
            })
            .map(|(agent, _)| agent.clone())
            .collect()
    }

    /// The agents waiting for a person, and why.
    pub fn locked(&self) -> BTreeMap<String, String> {
        lock(&self.agents)
            .iter()
            .filter_map(|(agent, pace)| match &pace.wait {
                Some(Wait::Person(why)) => Some((agent.clone(), why.clone())),
                _ => None,
            })
            .collect()
    }

    /// Waits until `agent` may run a round, or `stop` comes first.
    pub async fn wait_for(&self, agent: &str, stop: impl Future<Output = ()>) -> Go {
        tokio::pin!(stop);
        loop {
            let wait = lock(&self.agents).get(agent).and_then(|p| p.wait.clone());
            let left = match wait {
                Some(Wait::Person(why)) => return Go::Locked(why),
                Some(Wait::Until(until)) => until.duration_since(SystemTime::now()).ok(),
                None => None,
            };
            let Some(left) = left else { return Go::Ahead };
            tokio::select! {
                () = tokio::time::sleep(left) => {}
                () = &mut stop => return Go::Stopped,
            }
        }
    }

    /// Adds a round's spend to this run's.
    pub fn spend(&self, usage: Usage) {
        let mut spent = lock(&self.spent);
        *spent = spent.plus(usage);
    }

    /// What this run's agents spent.
    pub fn spent(&self) -> Usage {
        *lock(&self.spent)
    }

    /// Stops the claiming of new work; the first reason is the one kept.
    pub fn halt(&self, reason: String) {
        lock(&self.halt_reason).get_or_insert(reason);
        self.halt.cancel();
    }

    pub fn is_halted(&self) -> bool {
        self.halt.is_cancelled()
    }

    pub async fn halted(&self) {
        self.halt.cancelled().await;
    }

    pub fn halt_reason(&self) -> Option<String> {
        lock(&self.halt_reason).clone()
    }
}

/// `wait`, longer by up to a quarter at random: workers of several
/// processes that backed off together do not all call again at once.
fn jitter(wait: Duration) -> Duration {
    wait.mul_f64(1.0 + fastrand::f64() / 4.0)
}

pub(crate) fn time_of(at: Millis) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(at.max(0) as u64)
}

pub(crate) fn millis_of(t: SystemTime) -> Millis {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as Millis)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn at(t: SystemTime) -> Millis {
        millis_of(t)
    }

    #[test]
    fn a_pause_lasts_until_the_reset_else_backs_off_per_strike_with_jitter() {
        let p = Pacing::default();
        let start = SystemTime::now();
        let backoff = |strikes: u32| secs(10 * u64::from(strikes));
        let first = p.pause("claude", None, backoff);
        assert!(first >= start + secs(10) && first <= start + secs(13), "10s and up to a quarter more");
        let second = p.pause("claude", None, backoff);
        assert!(second >= start + secs(20), "the second limit in a row waits longer");
        assert!(p.went_through("claude"), "there was a pause to end");
        assert!(p.blocked(SystemTime::now()).is_empty(), "a round that went through ends the pause");
        assert!(!p.went_through("claude") && !p.went_through("codex"), "nothing left to end");
        let in_an_hour = start + secs(3600);
        let reset = p.pause("claude", Some(at(in_an_hour)), backoff);
        assert!(reset >= in_an_hour - secs(1) && reset <= in_an_hour + secs(1));
        let shorter = p.pause("claude", None, backoff);
        assert_eq!(shorter, reset, "a later reset another worker learnt of is kept");
    }

    #[test]
    fn a_stale_or_absurd_reset_backs_off_instead() {
        let p = Pacing::default();
        let start = SystemTime::now();
        let backoff = |strikes: u32| secs(30 * u64::from(strikes));
        let stale = p.pause("codex", Some(at(start - secs(60))), backoff);
        assert!(stale >= start + secs(30), "a reset already past is no reason to call again at once");
        let far = p.pause("gemini", Some(at(start + secs(365 * 24 * 3600))), backoff);
        assert!(far <= SystemTime::now() + secs(40), "a reset a year out is a misread date");
        let weekly = p.pause("opencode", Some(at(start + secs(5 * 24 * 3600))), backoff);
        assert!(weekly >= start + secs(5 * 24 * 3600 - 1), "a weekly limit is believed");
    }

    #[test]
    fn jitter_spreads_the_same_backoff() {
        let waits: BTreeSet<Duration> = (0..20).map(|_| jitter(secs(100))).collect();
        assert!(waits.len() > 1, "{waits:?}");
        assert!(waits.iter().all(|w| *w >= secs(100) && *w <= secs(125)), "{waits:?}");
    }

    #[tokio::test]
    async fn waiting_ends_with_the_pause_the_stop_or_a_lock() {
        let p = Pacing::default();
        assert_eq!(p.wait_for("claude", std::future::pending()).await, Go::Ahead, "no pause, no wait");
        p.pause("claude", None, |_| Duration::from_millis(30));
        let started = std::time::Instant::now();
        assert_eq!(p.wait_for("claude", std::future::pending()).await, Go::Ahead);
        assert!(started.elapsed() >= Duration::from_millis(25));
        p.pause("claude", None, |_| secs(3600));
        assert_eq!(p.wait_for("codex", std::future::pending()).await, Go::Ahead, "other agents are not paused");
        assert_eq!(p.wait_for("claude", std::future::ready(())).await, Go::Stopped);
        p.lock("claude", "log in".into());
        assert_eq!(p.wait_for("claude", std::future::pending()).await, Go::Locked("log in".into()));
        assert_eq!(p.locked(), BTreeMap::from([("claude".to_owned(), "log in".to_owned())]));
    }

    #[test]
    fn waits_from_the_store_are_taken_in_and_a_person_wins() {
        let p = Pacing::default();
        let now = SystemTime::now();
        let wait = |agent: &str, ends: Option<SystemTime>| AgentWait {
            agent: agent.into(),
            reason: "limit".into(),
            since: at(now),
            ends_at: ends.map(at),
        };
        p.absorb(&[wait("claude", Some(now + secs(60))), wait("amp", None)]);
        assert_eq!(p.blocked(now), BTreeSet::from(["amp".to_owned(), "claude".to_owned()]));
        assert!(p.blocked(now + secs(61)).contains("amp") && !p.blocked(now + secs(61)).contains("claude"));
        p.absorb(&[wait("amp", Some(now + secs(1)))]);
        assert_eq!(p.locked().len(), 1, "a rate limit does not lift a wait for a person");
    }

    #[test]
    fn a_halt_keeps_its_first_reason() {
        let p = Pacing::default();
        p.halt("first".into());
        p.halt("later".into());
        assert!(p.is_halted());
        assert_eq!(p.halt_reason().as_deref(), Some("first"));
        p.spend(Usage { input: 10, output: 1, cached: 0, cost_usd: Some(0.5) });
        p.spend(Usage { input: 5, output: 1, cached: 0, cost_usd: None });
        assert_eq!(p.spent().input, 15);
    }
}
