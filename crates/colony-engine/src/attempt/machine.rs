//! The attempt as a plain state machine: build → gates → review → approval
//! → merge, with the fix and review rounds between them, and a builder's
//! question to a person ending it early, its work kept.
//!
//! The shell (`attempt/mod.rs`) carries out each [`Effect`] that [`step`]
//! returns (an agent round, the gates, a git step, a store write, the
//! merge queue) and feeds what came of it back in as a [`Happening`]. Round
//! limits, a lost lease, a stop, the person's decision and the hand-off
//! to the merge queue are decided here alone, and tested without a single
//! process. Every happening answers the effect before it; anything that
//! ends the attempt early (a lost lease, a stop, an agent that cannot log
//! in) comes as [`Happening::Ended`], whatever the effect was.

use colony_core::RoundCause;

use crate::ending::{Ending, one_line};

/// What the configuration allows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Rounds the builder gets to fix what the gates found, after its first.
    pub max_fix_rounds: u32,
    /// Review rounds; changes still asked for after the last one fail it.
    pub max_review_rounds: u32,
    /// Reviewers read the work once the gates pass.
    pub reviewed: bool,
    /// A person approves the work before it merges.
    pub approval: bool,
}

/// What a person decided on an earlier attempt's work, which this attempt
/// goes on from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decided {
    Approved,
    Rejected {
        feedback: String,
    },
    /// The earlier attempt's agent asked `question`; this is the answer.
    Answered {
        question: String,
        answer: String,
    },
}

/// How an agent round of the builder ended, the attempt going on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ran {
    Done,
    /// It asked a person this (`ask_human`) and ended its turn.
    Asked(String),
    Failed(String),
    /// It failed with the disk full: not its fault.
    DiskFull(String),
}

/// What the gates said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gated {
    Passed,
    Failed { command: String, tail: String },
}

/// What a review round decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reviewed {
    Approved,
    /// Who asked for changes, and their findings as the builder reads them.
    NeedsChanges {
        asked: Vec<String>,
        issues: String,
    },
}

/// What came of the last effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Happening {
    /// The worktree is ready; a person may have decided on earlier work.
    Began {
        decided: Option<Decided>,
    },
    /// The integration branch holds this task's merge already.
    AlreadyMerged,
    AgentRan(Ran),
    /// The worktree after the agent: `Err` says how it is unfit.
    TreeChecked(Result<(), String>),
    /// `work`: the task branch has commits of the task's own.
    Committed {
        work: bool,
    },
    /// A store write went through.
    Written,
    GatesRan(Gated),
    Reviewed(Reviewed),
    /// The work is in the integration branch; the store is not told yet.
    Landed,
    /// The attempt ends here, whatever was under way.
    Ended(Ending),
}

/// What the shell must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// The builder's round, on feedback when there is some.
    RunBuilder {
        feedback: Option<String>,
    },
    CheckTree,
    /// Commit what the agent left; say whether the branch holds work.
    Commit,
    /// The task's phase becomes `checking`.
    MarkChecking,
    RunGates,
    /// A round of fixes begins; the store records why.
    RecordRound {
        round: u32,
        cause: RoundCause,
    },
    Review {
        round: u32,
        findings: Option<String>,
    },
    /// The work waits for a person.
    AskApproval,
    /// The work waits for the answer to the builder's question.
    AskInput {
        question: String,
    },
    /// Hand the work to the merge queue.
    Merge,
    /// Tell the store the task is done.
    Complete,
    End(Ending),
}

/// Where the attempt is: each stage but `Begin` and `Ended` has one effect
/// under way, whose outcome is the next happening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stage {
    Begin,
    /// The builder's round `fix` (0: the first) is under way.
    Building {
        fix: u32,
    },
    /// The worktree is looked at after the builder's round, which `ran`.
    CheckingTree {
        fix: u32,
        ran: Ran,
    },
    Committing {
        fix: u32,
    },
    /// The builder asked `question`: its work is committed before the
    /// attempt ends waiting for the answer.
    Keeping {
        question: String,
    },
    AskingInput,
    MarkingChecking {
        fix: u32,
    },
    Gating {
        fix: u32,
    },
    /// Round `fix` is being recorded; `feedback` goes to the builder next.
    RecordingFix {
        fix: u32,
        feedback: String,
    },
    Reviewing,
    RecordingChanges {
        feedback: String,
    },
    AskingApproval,
    Merging,
    Completing,
    Ended,
}

#[cfg(test)]
impl Stage {
    /// Its name in the state diagram.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Stage::Begin => "Begin",
            Stage::Building { .. } => "Building",
            Stage::CheckingTree { .. } => "CheckingTree",
            Stage::Committing { .. } => "Committing",
            Stage::Keeping { .. } => "Keeping",
            Stage::AskingInput => "AskingInput",
            Stage::MarkingChecking { .. } => "MarkingChecking",
            Stage::Gating { .. } => "Gating",
            Stage::RecordingFix { .. } => "RecordingFix",
            Stage::Reviewing => "Reviewing",
            Stage::RecordingChanges { .. } => "RecordingChanges",
            Stage::AskingApproval => "AskingApproval",
            Stage::Merging => "Merging",
            Stage::Completing => "Completing",
            Stage::Ended => "Ended",
        }
    }
}

/// An attempt's stage and what it carries from round to round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Machine {
    limits: Limits,
    stage: Stage,
    /// Review rounds begun.
    reviews: u32,
    /// The task's phase is `checking` already.
    checking: bool,
    /// The last review round's findings, for the next round's reviewers.
    findings: Option<String>,
}

impl Machine {
    pub(crate) fn new(limits: Limits) -> Self {
        Machine { limits, stage: Stage::Begin, reviews: 0, checking: false, findings: None }
    }

    #[cfg(test)]
    fn stage(&self) -> &Stage {
        &self.stage
    }

    /// Takes in what came of the last effect; returns the next one.
    ///
    /// # Panics
    /// On a happening that does not answer the effect under way: the
    /// shell feeds each effect's own outcome, so that is a bug in it.
    pub(crate) fn step(&mut self, happening: Happening) -> Effect {
        let stage = self.stage.clone();
        self.try_step(happening.clone())
            .unwrap_or_else(|| panic!("{happening:?} does not answer the effect of {stage:?}"))
    }

    /// [`Machine::step`], or `None` (and no change) for a happening that
    /// does not answer the effect under way.
    fn try_step(&mut self, happening: Happening) -> Option<Effect> {
        let (stage, effect) = self.next(self.stage.clone(), happening)?;
        self.stage = stage;
        Some(effect)
    }

    fn next(&mut self, stage: Stage, happening: Happening) -> Option<(Stage, Effect)> {
        use Effect as E;
        use Happening as H;
        Some(match (stage, happening) {
            (Stage::Ended, _) => return None,
            (_, H::Ended(ending)) => end(ending),
            (Stage::Begin, H::AlreadyMerged) => (Stage::Completing, E::Complete),
            (Stage::Begin, H::Began { decided: None }) => build(0, None),
            (Stage::Begin, H::Began { decided: Some(Decided::Approved) }) => (Stage::Merging, E::Merge),
            (Stage::Begin, H::Began { decided: Some(Decided::Rejected { feedback }) }) => build(
                0,
                Some(format!("A person reviewed your work and asks for changes:\n\n{}\n", feedback.trim_end())),
            ),
            (Stage::Begin, H::Began { decided: Some(Decided::Answered { question, answer }) }) => build(
                0,
                Some(format!(
                    "You asked a person:\n\n{}\n\nTheir answer:\n\n{}\n\nGo on with your task from where you \
                     stopped; your work so far is in your worktree.\n",
                    question.trim_end(),
                    answer.trim_end()
                )),
            ),
            (Stage::Building { fix }, H::AgentRan(ran)) => (Stage::CheckingTree { fix, ran }, E::CheckTree),
            // Whatever it did before asking is kept for its next round, in
            // the next attempt.
            (Stage::CheckingTree { ran: Ran::Asked(question), .. }, H::TreeChecked(Ok(()))) => {
                (Stage::Keeping { question }, E::Commit)
            }
            (Stage::CheckingTree { fix, ran }, H::TreeChecked(tree)) => match round_end(ran, tree) {
                Some(ending) => end(ending),
                None => (Stage::Committing { fix }, E::Commit),
            },
            (Stage::Keeping { question }, H::Committed { .. }) => (Stage::AskingInput, E::AskInput { question }),
            (Stage::AskingInput, H::Written) => end(Ending::AwaitingInput),
            (Stage::Committing { .. }, H::Committed { work: false }) => end(Ending::Failed("no changes".into())),
            (Stage::Committing { fix }, H::Committed { work: true }) => match self.checking {
                true => (Stage::Gating { fix }, E::RunGates),
                false => (Stage::MarkingChecking { fix }, E::MarkChecking),
            },
            (Stage::MarkingChecking { fix }, H::Written) => {
                self.checking = true;
                (Stage::Gating { fix }, E::RunGates)
            }
            (Stage::Gating { .. }, H::GatesRan(Gated::Passed)) => self.checked(),
            (Stage::Gating { fix }, H::GatesRan(Gated::Failed { command, tail })) => {
                if fix == self.limits.max_fix_rounds {
                    return Some(end(Ending::Failed(format!("gate `{command}` failed:\n{tail}"))));
                }
                let feedback = format!(
                    "The gate `{command}` failed after your change. Fix the problem it reports.\n\n\
                     Its output ends with:\n{tail}\n"
                );
                let round = fix + 1;
                (
                    Stage::RecordingFix { fix: round, feedback },
                    E::RecordRound { round, cause: RoundCause::Gate { command } },
                )
            }
            (Stage::RecordingFix { fix, feedback }, H::Written) => build(fix, Some(feedback)),
            (Stage::Reviewing, H::Reviewed(Reviewed::Approved)) => self.reviewed(),
            (Stage::Reviewing, H::Reviewed(Reviewed::NeedsChanges { asked, issues })) => {
                let round = self.reviews;
                if round >= self.limits.max_review_rounds {
                    return Some(end(Ending::Failed(format!(
                        "the review still asks for changes after {round} round{}:\n{issues}",
                        if round == 1 { "" } else { "s" }
                    ))));
                }
                let feedback =
                    format!("A review of your work asks for changes. Address every issue, then finish.\n\n{issues}\n");
                self.findings = Some(issues);
                (
                    Stage::RecordingChanges { feedback },
                    E::RecordRound { round, cause: RoundCause::Review { reviewers: asked } },
                )
            }
            // Each review round's fixes have their own gate rounds.
            (Stage::RecordingChanges { feedback }, H::Written) => build(0, Some(feedback)),
            (Stage::AskingApproval, H::Written) => end(Ending::AwaitingApproval),
            (Stage::Merging, H::Landed) => (Stage::Completing, E::Complete),
            (Stage::Completing, H::Written) => end(Ending::Merged),
            _ => return None,
        })
    }

    /// The gates passed: review, a person's approval, or the merge.
    fn checked(&mut self) -> (Stage, Effect) {
        if !self.limits.reviewed {
            return self.reviewed();
        }
        self.reviews += 1;
        (Stage::Reviewing, Effect::Review { round: self.reviews, findings: self.findings.clone() })
    }

    /// The reviewers approved, or there are none.
    fn reviewed(&self) -> (Stage, Effect) {
        match self.limits.approval {
            true => (Stage::AskingApproval, Effect::AskApproval),
            false => (Stage::Merging, Effect::Merge),
        }
    }
}

/// How a builder's round that `ran` ends the attempt, if it does, given
/// the worktree it left: one it broke says more than how the round ended.
/// Shared with the resolver's rounds at a merge, which cannot ask (the
/// tool refuses while one runs): a question goes on like a round done.
pub(crate) fn round_end(ran: Ran, tree: Result<(), String>) -> Option<Ending> {
    match (ran, tree) {
        (_, Err(how)) => Some(Ending::Failed(how)),
        (Ran::Done | Ran::Asked(_), Ok(())) => None,
        (Ran::Failed(reason), Ok(())) => Some(Ending::Failed(reason)),
        (Ran::DiskFull(reason), Ok(())) => {
            Some(Ending::NoRoom(format!("the agent failed with the disk full ({})", one_line(&reason))))
        }
    }
}

fn build(fix: u32, feedback: Option<String>) -> (Stage, Effect) {
    (Stage::Building { fix }, Effect::RunBuilder { feedback })
}

fn end(ending: Ending) -> (Stage, Effect) {
    (Stage::Ended, Effect::End(ending))
}

#[cfg(test)]
mod tests {
    use super::Effect as E;
    use super::Happening as H;
    use super::*;

    const PLAIN: Limits = Limits { max_fix_rounds: 2, max_review_rounds: 2, reviewed: false, approval: false };

    fn gate_failed() -> H {
        H::GatesRan(Gated::Failed { command: "make".into(), tail: "boom".into() })
    }

    fn changes(issues: &str) -> H {
        H::Reviewed(Reviewed::NeedsChanges { asked: vec!["critic".into()], issues: issues.into() })
    }

    /// Feeds `happenings` in turn; returns every effect, the first one's too.
    fn run(limits: Limits, happenings: Vec<H>) -> (Machine, Vec<E>) {
        let mut m = Machine::new(limits);
        let effects = happenings.into_iter().map(|h| m.step(h)).collect();
        (m, effects)
    }

    /// One builder round that passes the gates: from its effect to the gates'.
    fn good_round() -> Vec<H> {
        vec![H::AgentRan(Ran::Done), H::TreeChecked(Ok(())), H::Committed { work: true }]
    }

    #[test]
    fn a_clean_attempt_builds_checks_merges_and_completes() {
        let mut hs = vec![H::Began { decided: None }];
        hs.extend(good_round());
        hs.extend([H::Written, H::GatesRan(Gated::Passed), H::Landed, H::Written]);
        let (m, effects) = run(PLAIN, hs);
        assert_eq!(
            effects,
            [
                E::RunBuilder { feedback: None },
                E::CheckTree,
                E::Commit,
                E::MarkChecking,
                E::RunGates,
                E::Merge,
                E::Complete,
                E::End(Ending::Merged)
            ]
        );
        assert_eq!(m.stage(), &Stage::Ended);
    }

    #[test]
    fn a_gate_failure_goes_back_to_the_builder_until_the_rounds_run_out() {
        let mut hs = vec![H::Began { decided: None }];
        hs.extend(good_round());
        hs.extend([H::Written, gate_failed(), H::Written]);
        hs.extend(good_round());
        hs.extend([gate_failed(), H::Written]);
        hs.extend(good_round());
        hs.push(gate_failed());
        let (_, effects) = run(PLAIN, hs);
        let rounds: Vec<&E> = effects.iter().filter(|e| matches!(e, E::RecordRound { .. })).collect();
        assert_eq!(
            rounds,
            [
                &E::RecordRound { round: 1, cause: RoundCause::Gate { command: "make".into() } },
                &E::RecordRound { round: 2, cause: RoundCause::Gate { command: "make".into() } }
            ]
        );
        let fed = effects.iter().find_map(|e| match e {
            E::RunBuilder { feedback: Some(f) } => Some(f.clone()),
            _ => None,
        });
        assert!(fed.is_some_and(|f| f.contains("The gate `make` failed") && f.ends_with("boom\n")));
        assert_eq!(effects.last(), Some(&E::End(Ending::Failed("gate `make` failed:\nboom".into()))));
        assert_eq!(effects.iter().filter(|e| **e == E::MarkChecking).count(), 1, "the phase is set once");
    }

    #[test]
    fn no_fix_rounds_means_the_first_gate_failure_ends_it() {
        let limits = Limits { max_fix_rounds: 0, ..PLAIN };
        let mut hs = vec![H::Began { decided: None }];
        hs.extend(good_round());
        hs.extend([H::Written, gate_failed()]);
        let (_, effects) = run(limits, hs);
        assert!(matches!(effects.last(), Some(E::End(Ending::Failed(r))) if r.starts_with("gate `make` failed")));
    }

    #[test]
    fn nothing_to_merge_fails_with_no_changes() {
        let hs = vec![
            H::Began { decided: None },
            H::AgentRan(Ran::Done),
            H::TreeChecked(Ok(())),
            H::Committed { work: false },
        ];
        let (_, effects) = run(PLAIN, hs);
        assert_eq!(effects.last(), Some(&E::End(Ending::Failed("no changes".into()))));
    }

    #[test]
    fn a_broken_worktree_outweighs_how_the_agent_ended() {
        for ran in [Ran::Done, Ran::Failed("it gave up".into())] {
            let hs = vec![H::Began { decided: None }, H::AgentRan(ran), H::TreeChecked(Err("broke it".into()))];
            let (_, effects) = run(PLAIN, hs);
            assert_eq!(effects.last(), Some(&E::End(Ending::Failed("broke it".into()))));
        }
    }

    #[test]
    fn a_failed_agent_round_ends_the_attempt_and_a_full_disk_is_not_its_fault() {
        let hs = vec![H::Began { decided: None }, H::AgentRan(Ran::Failed("exit 1".into())), H::TreeChecked(Ok(()))];
        assert_eq!(run(PLAIN, hs).1.last(), Some(&E::End(Ending::Failed("exit 1".into()))));
        let hs =
            vec![H::Began { decided: None }, H::AgentRan(Ran::DiskFull("ENOSPC\nmore".into())), H::TreeChecked(Ok(()))];
        assert_eq!(
            run(PLAIN, hs).1.last(),
            Some(&E::End(Ending::NoRoom("the agent failed with the disk full (ENOSPC)".into())))
        );
    }

    #[test]
    fn review_changes_go_back_with_the_findings_and_the_fix_rounds_start_again() {
        let limits = Limits { reviewed: true, ..PLAIN };
        let mut hs = vec![H::Began { decided: None }];
        hs.extend(good_round());
        hs.extend([H::Written, gate_failed(), H::Written]);
        hs.extend(good_round());
        hs.extend([H::GatesRan(Gated::Passed), changes("- name it better"), H::Written]);
        hs.extend(good_round());
        hs.extend([gate_failed()]);
        let (m, effects) = run(limits, hs);
        assert!(effects.contains(&E::Review { round: 1, findings: None }));
        assert!(
            effects
                .contains(&E::RecordRound { round: 1, cause: RoundCause::Review { reviewers: vec!["critic".into()] } })
        );
        assert!(effects.iter().any(|e| matches!(e, E::RunBuilder { feedback: Some(f) }
            if f.starts_with("A review of your work asks for changes") && f.contains("- name it better"))));
        // After the review's round, a gate failure is fix round 1 again.
        assert_eq!(
            effects.last(),
            Some(&E::RecordRound { round: 1, cause: RoundCause::Gate { command: "make".into() } })
        );
        assert_eq!(m.findings.as_deref(), Some("- name it better"));
    }

    #[test]
    fn the_next_review_round_sees_the_last_findings_and_the_last_round_fails_it() {
        let limits = Limits { reviewed: true, max_review_rounds: 2, ..PLAIN };
        let mut hs = vec![H::Began { decided: None }];
        hs.extend(good_round());
        hs.extend([H::Written, H::GatesRan(Gated::Passed), changes("first"), H::Written]);
        hs.extend(good_round());
        hs.extend([H::GatesRan(Gated::Passed), changes("second")]);
        let (_, effects) = run(limits, hs);
        assert!(effects.contains(&E::Review { round: 2, findings: Some("first".into()) }));
        assert_eq!(
            effects.last(),
            Some(&E::End(Ending::Failed("the review still asks for changes after 2 rounds:\nsecond".into())))
        );
    }

    #[test]
    fn approval_comes_after_review_and_a_decision_picks_up_from_there() {
        let limits = Limits { reviewed: true, approval: true, ..PLAIN };
        let mut hs = vec![H::Began { decided: None }];
        hs.extend(good_round());
        hs.extend([H::Written, H::GatesRan(Gated::Passed), H::Reviewed(Reviewed::Approved), H::Written]);
        let (_, effects) = run(limits, hs);
        assert_eq!(effects[effects.len() - 2..], [E::AskApproval, E::End(Ending::AwaitingApproval)]);

        let (_, effects) = run(limits, vec![H::Began { decided: Some(Decided::Approved) }, H::Landed, H::Written]);
        assert_eq!(effects, [E::Merge, E::Complete, E::End(Ending::Merged)], "approved work goes straight to merge");

        let rejected = Decided::Rejected { feedback: "Use the other API.\n".into() };
        let (m, effects) = run(limits, vec![H::Began { decided: Some(rejected) }]);
        assert_eq!(
            effects,
            [E::RunBuilder {
                feedback: Some("A person reviewed your work and asks for changes:\n\nUse the other API.\n".into())
            }]
        );
        assert_eq!(m.stage(), &Stage::Building { fix: 0 });
    }

    #[test]
    fn a_question_keeps_the_work_and_its_answer_resumes_the_builder() {
        let limits = Limits { reviewed: true, approval: true, ..PLAIN };
        let mut hs = vec![H::Began { decided: None }];
        hs.extend(good_round());
        hs.extend([H::Written, gate_failed(), H::Written]);
        hs.extend([
            H::AgentRan(Ran::Asked("Which table?".into())),
            H::TreeChecked(Ok(())),
            H::Committed { work: false },
        ]);
        hs.push(H::Written);
        let (_, effects) = run(limits, hs);
        assert_eq!(
            effects[effects.len() - 4..],
            [E::CheckTree, E::Commit, E::AskInput { question: "Which table?".into() }, E::End(Ending::AwaitingInput)],
            "asked in a fix round, before any change of its own: still kept, still asked"
        );
        let broke = vec![
            H::Began { decided: None },
            H::AgentRan(Ran::Asked("q".into())),
            H::TreeChecked(Err("it deleted .git".into())),
        ];
        assert_eq!(run(PLAIN, broke).1.last(), Some(&E::End(Ending::Failed("it deleted .git".into()))));

        let answered = Decided::Answered { question: "Which table?\n".into(), answer: "users\n".into() };
        let (m, effects) = run(limits, vec![H::Began { decided: Some(answered) }]);
        let [E::RunBuilder { feedback: Some(fed) }] = effects.as_slice() else { panic!("{effects:?}") };
        assert!(fed.starts_with("You asked a person:\n\nWhich table?\n\nTheir answer:\n\nusers\n\nGo on"), "{fed}");
        assert_eq!(m.stage(), &Stage::Building { fix: 0 });
        assert_eq!(round_end(Ran::Asked("q".into()), Ok(())), None, "a resolver's round goes on");
    }

    #[test]
    fn work_already_merged_only_completes() {
        let (_, effects) = run(PLAIN, vec![H::AlreadyMerged, H::Written]);
        assert_eq!(effects, [E::Complete, E::End(Ending::Merged)]);
    }

    #[test]
    fn a_lost_lease_or_a_stop_ends_it_from_any_stage() {
        let limits = Limits { reviewed: true, approval: true, ..PLAIN };
        let ways = [Ending::LeaseLost, Ending::Stopped, Ending::AgentLocked { why: "log in".into() }];
        for stage in explore().into_iter().map(|(from, _, _)| from) {
            if stage == Stage::Ended {
                continue;
            }
            for way in &ways {
                let mut m = Machine { stage: stage.clone(), ..Machine::new(limits) };
                assert_eq!(m.step(H::Ended(way.clone())), E::End(way.clone()), "{stage:?}");
                assert_eq!(m.stage(), &Stage::Ended);
            }
        }
    }

    #[test]
    #[should_panic(expected = "does not answer")]
    fn a_happening_that_answers_another_effect_is_a_bug() {
        Machine::new(PLAIN).step(H::Landed);
    }

    /// Every transition the machine makes, as (from, happening, to), found
    /// by walking it from its start with every kind of happening under
    /// limits that reach every stage.
    fn explore() -> Vec<(Stage, String, Stage)> {
        let samples: Vec<(&'static str, H)> = vec![
            ("began", H::Began { decided: None }),
            ("approved by a person", H::Began { decided: Some(Decided::Approved) }),
            ("sent back by a person", H::Began { decided: Some(Decided::Rejected { feedback: "f".into() }) }),
            (
                "answered by a person",
                H::Began { decided: Some(Decided::Answered { question: "q".into(), answer: "a".into() }) },
            ),
            ("already merged", H::AlreadyMerged),
            ("agent done", H::AgentRan(Ran::Done)),
            ("agent asked a person", H::AgentRan(Ran::Asked("q".into()))),
            ("agent failed", H::AgentRan(Ran::Failed("r".into()))),
            ("disk full", H::AgentRan(Ran::DiskFull("r".into()))),
            ("tree fit", H::TreeChecked(Ok(()))),
            ("tree broken", H::TreeChecked(Err("b".into()))),
            ("work", H::Committed { work: true }),
            ("no changes", H::Committed { work: false }),
            ("written", H::Written),
            ("gates passed", H::GatesRan(Gated::Passed)),
            ("gate failed", gate_failed()),
            ("review approved", H::Reviewed(Reviewed::Approved)),
            ("changes asked", changes("i")),
            ("landed", H::Landed),
            ("lease lost or stopped", H::Ended(Ending::Stopped)),
        ];
        let mut seen = std::collections::BTreeSet::new();
        let mut edges = Vec::new();
        for reviewed in [false, true] {
            for approval in [false, true] {
                let limits = Limits { max_fix_rounds: 1, max_review_rounds: 2, reviewed, approval };
                let mut todo = vec![Machine::new(limits)];
                let mut visited = Vec::new();
                while let Some(m) = todo.pop() {
                    if visited.contains(&m) {
                        continue;
                    }
                    visited.push(m.clone());
                    for (label, h) in &samples {
                        let mut next = m.clone();
                        let Some(effect) = next.try_step(h.clone()) else { continue };
                        let label = match effect {
                            Effect::End(ending) => format!("{label}, {}", ending_name(&ending)),
                            _ => (*label).to_owned(),
                        };
                        if seen.insert((m.stage.name(), label.clone(), next.stage.name())) {
                            edges.push((m.stage.clone(), label, next.stage.clone()));
                        }
                        if next.stage != Stage::Ended {
                            todo.push(next);
                        }
                    }
                }
            }
        }
        edges
    }

    fn ending_name(ending: &Ending) -> &'static str {
        match ending {
            Ending::Merged => "merged",
            Ending::Failed(_) => "fails",
            Ending::Stopped => "stopped",
            Ending::LeaseLost => "lease lost",
            Ending::AwaitingApproval => "waits for a person",
            Ending::AwaitingInput => "waits for an answer",
            Ending::AgentLocked { .. } => "agent locked",
            Ending::NoRoom(_) | Ending::OnBase(_) | Ending::NoPorts(_) => "task goes back",
        }
    }

    /// The state diagram in docs/architecture.md, as the machine makes it.
    fn diagram() -> String {
        let mut lines: Vec<String> = explore()
            .iter()
            .filter(|(_, label, _)| !label.starts_with("lease lost or stopped"))
            .map(|(from, label, to)| format!("    {} --> {}: {label}", from.name(), to.name()))
            .collect();
        lines.sort();
        lines.dedup();
        let mut text = String::from("```mermaid\nstateDiagram-v2\n    [*] --> Begin\n");
        for line in lines {
            text.push_str(&line);
            text.push('\n');
        }
        text.push_str("    Ended --> [*]\n```\n");
        text
    }

    #[test]
    fn the_architecture_doc_shows_the_machine_as_it_is() {
        let expected = diagram();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/architecture.md");
        let doc = std::fs::read_to_string(path).expect("docs/architecture.md");
        let start = "<!-- attempt-machine: generated by colony-engine's attempt::machine tests -->\n";
        let block = doc.split_once(start).and_then(|(_, rest)| rest.split_once("<!-- /attempt-machine -->"));
        if std::env::var_os("COLONY_WRITE_DIAGRAM").is_some() {
            let (before, _) = doc.split_once(start).expect("the doc has the marker");
            let (_, after) = block.expect("the doc has the end marker");
            std::fs::write(path, format!("{before}{start}{expected}<!-- /attempt-machine -->{after}")).unwrap();
            return;
        }
        let Some((found, _)) = block else { panic!("docs/architecture.md lacks the attempt-machine block") };
        assert_eq!(
            found, expected,
            "docs/architecture.md's attempt diagram is out of date; run with COLONY_WRITE_DIAGRAM=1 to rewrite it"
        );
    }
}
