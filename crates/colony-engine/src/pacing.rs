//! What the workers of a run share about their agents and their spend:
//! an agent that hit a rate limit is paused for every worker using it, the
//! run's spend is summed against its budget, and a reason to stop claiming
//! work (budget spent, an agent not logged in) halts the run without
//! stopping the attempts already running.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use colony_core::{Millis, Usage};
use tokio_util::sync::CancellationToken;

/// The longest colony waits on one rate limit, whatever reset time the
/// agent gave: a misread date must not park a worker for a week.
const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Debug, Default)]
struct Pause {
    until: Option<SystemTime>,
    /// Limits in a row without a round that went through.
    strikes: u32,
}

#[derive(Debug, Default)]
pub(crate) struct Pacing {
    pauses: Mutex<HashMap<String, Pause>>,
    spent: Mutex<Usage>,
    halt: CancellationToken,
    halt_reason: Mutex<Option<String>>,
}

impl Pacing {
    /// Pauses `agent` for every worker: until `reset_at` when the agent
    /// said, else for `fallback`. Returns when the pause ends.
    pub fn pause(&self, agent: &str, reset_at: Option<Millis>, fallback: impl FnOnce(u32) -> Duration) -> SystemTime {
        let now = SystemTime::now();
        let mut pauses = lock(&self.pauses);
        let pause = pauses.entry(agent.to_owned()).or_default();
        pause.strikes += 1;
        let wait = match reset_at {
            Some(at) => time_of(at).duration_since(now).unwrap_or_default(),
            None => fallback(pause.strikes),
        };
        let until = now + wait.min(MAX_WAIT);
        // Another worker may have learnt of a later reset.
        let until = pause.until.map_or(until, |u| u.max(until));
        pause.until = Some(until);
        until
    }

    /// A round of `agent` went through: the next limit starts the backoff over.
    pub fn went_through(&self, agent: &str) {
        if let Some(pause) = lock(&self.pauses).get_mut(agent) {
            pause.strikes = 0;
        }
    }

    /// Waits until `agent` is not paused. False when `cancel` fired first.
    pub async fn wait_for(&self, agent: &str, cancel: &CancellationToken) -> bool {
        loop {
            let until = lock(&self.pauses).get(agent).and_then(|p| p.until);
            let Some(wait) = until.and_then(|u| u.duration_since(SystemTime::now()).ok()) else {
                return true;
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = cancel.cancelled() => return false,
            }
        }
    }

    /// Adds a round's spend; halts the run once `budget` is spent.
    pub fn spend(&self, usage: Usage, budget: Option<f64>) {
        let total = {
            let mut spent = lock(&self.spent);
            *spent = spent.plus(usage);
            *spent
        };
        if let (Some(budget), Some(cost)) = (budget, total.cost_usd)
            && cost >= budget
        {
            self.halt(format!(
                "the budget of ${budget:.2} is spent (${cost:.2} so far); no new work was started after that. \
                 Raise [run] max_cost_usd in colony.toml, then `colony run` carries on"
            ));
        }
    }

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

fn time_of(at: Millis) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(at.max(0) as u64)
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

    #[test]
    fn a_pause_lasts_until_the_reset_else_backs_off_per_strike() {
        let p = Pacing::default();
        let start = SystemTime::now();
        let backoff = |strikes: u32| secs(10 * u64::from(strikes));
        let first = p.pause("claude", None, backoff);
        assert!(first >= start + secs(10) && first < start + secs(12));
        let second = p.pause("claude", None, backoff);
        assert!(second >= start + secs(20), "the second limit in a row waits longer");
        p.went_through("claude");
        let in_an_hour = start + secs(3600);
        let millis = in_an_hour.duration_since(UNIX_EPOCH).unwrap().as_millis() as Millis;
        let reset = p.pause("claude", Some(millis), backoff);
        assert!(reset >= in_an_hour - secs(1) && reset <= in_an_hour + secs(1));
        let shorter = p.pause("claude", None, backoff);
        assert_eq!(shorter, reset, "a later reset another worker learnt of is kept");
        let far = p.pause("codex", Some(Millis::MAX / 2), backoff);
        assert!(far <= SystemTime::now() + MAX_WAIT);
    }

    #[tokio::test]
    async fn waiting_ends_with_the_pause_or_the_cancel() {
        let p = Pacing::default();
        let cancel = CancellationToken::new();
        assert!(p.wait_for("claude", &cancel).await, "no pause, no wait");
        p.pause("claude", None, |_| Duration::from_millis(30));
        let started = std::time::Instant::now();
        assert!(p.wait_for("claude", &cancel).await);
        assert!(started.elapsed() >= Duration::from_millis(25));
        p.pause("claude", None, |_| secs(3600));
        assert!(p.wait_for("codex", &cancel).await, "other agents are not paused");
        cancel.cancel();
        assert!(!p.wait_for("claude", &cancel).await);
    }

    #[test]
    fn spending_the_budget_halts_once_with_the_first_reason() {
        let p = Pacing::default();
        let round = Usage { input: 10, output: 1, cached: 0, cost_usd: Some(0.6) };
        p.spend(round, Some(1.0));
        assert!(!p.is_halted());
        p.spend(Usage { cost_usd: None, ..round }, Some(1.0));
        assert!(!p.is_halted(), "tokens without a price cost nothing known");
        p.spend(round, Some(1.0));
        assert!(p.is_halted());
        let reason = p.halt_reason().unwrap();
        assert!(reason.starts_with("the budget of $1.00 is spent ($1.20 so far)"), "{reason}");
        p.halt("later".into());
        assert_eq!(p.halt_reason().unwrap(), reason);
        assert_eq!(p.spent().input, 30);
    }
}
