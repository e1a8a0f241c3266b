//! How a sink's deliveries are going, and what to do after each: the pure
//! step under the delivery loop in `mod.rs`.
//!
//! A notice that fails is tried again with a growing wait, in order: the
//! notices after it wait for it. After [`MAX_TRIES`] it is given up on and
//! the sink counts as down: each later notice gets one try, until one
//! goes through. A dead endpoint thus costs a warning, never a run's pace
//! (deliveries run beside the run), and never a growing backlog. A notice
//! the receiver refuses outright (an HTTP 4xx) is skipped at once.

use std::time::Duration;

use colony_core::Millis;

/// How many tries a notice gets while its sink is up.
pub(crate) const MAX_TRIES: u32 = 6;
/// The wait after a first failed try; it doubles after each.
const FIRST_WAIT: Duration = Duration::from_secs(1);

/// How one delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Delivered,
    /// It may go through on another try: no answer, a refused connection,
    /// a server error, a command that failed.
    Failed(String),
    /// It will not: the receiver said the notice itself is wrong.
    Refused(String),
}

/// What the loop does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// On to the next notice; this one is delivered or given up on.
    Done,
    /// The same notice again after the wait.
    Again(Duration),
}

/// A sink's deliveries so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Health {
    /// Failed tries of the notice at hand.
    tries: u32,
    /// A notice was given up on, and none has gone through since.
    pub down: bool,
    /// Why deliveries fail, and since when, while they do.
    pub failing: Option<(String, Millis)>,
}

impl Health {
    /// Takes in how a delivery to `sink` went at `now`: what to do next,
    /// and what to tell the person running colony, if anything.
    pub fn step(&mut self, sink: &str, outcome: Outcome, now: Millis) -> (Next, Option<String>) {
        match outcome {
            Outcome::Delivered => {
                self.tries = 0;
                let was = self.failing.take().is_some() || self.down;
                self.down = false;
                (Next::Done, was.then(|| format!("notices to the {sink} go through again")))
            }
            Outcome::Refused(why) => {
                self.tries = 0;
                let say = format!("the {sink} refused a notice ({why}); it is skipped");
                self.fail(why, now);
                (Next::Done, Some(say))
            }
            Outcome::Failed(why) => {
                let first = self.failing.is_none();
                self.fail(why.clone(), now);
                if self.down {
                    return (Next::Done, None);
                }
                self.tries += 1;
                if self.tries >= MAX_TRIES {
                    self.tries = 0;
                    self.down = true;
                    let say = format!(
                        "notices to the {sink} still fail after {MAX_TRIES} tries ({why}): this one is skipped, \
                         and each next one gets one try until one goes through"
                    );
                    return (Next::Done, Some(say));
                }
                let say = first.then(|| format!("a notice to the {sink} failed ({why}); colony tries again"));
                (Next::Again(FIRST_WAIT * 2u32.pow(self.tries - 1)), say)
            }
        }
    }

    fn fail(&mut self, why: String, now: Millis) {
        let since = self.failing.as_ref().map_or(now, |(_, since)| *since);
        self.failing = Some((why, since));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed() -> Outcome {
        Outcome::Failed("connection refused".into())
    }

    #[test]
    fn a_failing_notice_is_tried_again_with_growing_waits_then_given_up() {
        let mut health = Health::default();
        let (next, say) = health.step("webhook", failed(), 10);
        assert_eq!(next, Next::Again(Duration::from_secs(1)));
        assert_eq!(say.as_deref(), Some("a notice to the webhook failed (connection refused); colony tries again"));
        let waits: Vec<Next> =
            (0..MAX_TRIES - 2).map(|i| health.step("webhook", failed(), 20 + i64::from(i)).0).collect();
        assert_eq!(waits, [2, 4, 8, 16].map(|s| Next::Again(Duration::from_secs(s))));
        let (next, say) = health.step("webhook", failed(), 99);
        assert_eq!(next, Next::Done);
        assert!(say.unwrap().contains("still fail after 6 tries"));
        assert!(health.down);
        assert_eq!(health.failing, Some(("connection refused".into(), 10)));
        // Down: one try each, and nothing more said.
        assert_eq!(health.step("webhook", failed(), 100), (Next::Done, None));
        let (next, say) = health.step("webhook", Outcome::Delivered, 101);
        assert_eq!((next, say.as_deref()), (Next::Done, Some("notices to the webhook go through again")));
        assert_eq!(health, Health::default());
    }

    #[test]
    fn a_refused_notice_is_skipped_at_once() {
        let mut health = Health::default();
        let (next, say) = health.step("webhook", Outcome::Refused("HTTP 400".into()), 5);
        assert_eq!(next, Next::Done);
        assert_eq!(say.as_deref(), Some("the webhook refused a notice (HTTP 400); it is skipped"));
        assert!(!health.down);
        assert_eq!(health.step("webhook", Outcome::Delivered, 6).0, Next::Done);
        assert_eq!(health.failing, None);
    }

    #[test]
    fn delivered_says_nothing_when_all_is_well() {
        assert_eq!(Health::default().step("command", Outcome::Delivered, 1), (Next::Done, None));
    }
}
