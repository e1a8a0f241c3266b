//! One attempt at a task, from worktree to merge: the shell of the
//! attempt's machine (`machine.rs`), which decides each step.
//!
//! 1. A fresh worktree on its own branch from the integration tip, given
//!    what `[worktree]` asks for (`crate::base::setup`).
//! 2. Agent rounds: the agent runs; colony commits what it left; the gates
//!    run; a failure goes back to the agent as feedback, up to
//!    `max_fix_rounds` times. Then review (`review.rs`) and, where asked, a
//!    person's approval.
//! 3. The merge queue (`crate::queue`) lands the work, and the attempt
//!    tells the store.
//!
//! After every agent round the worktree is inspected (`check_tree`): an
//! agent that broke it fails the attempt, one that moved HEAD off the task
//! branch has its HEAD taken only when it builds on the task's work.
//!
//! Every store write is fenced by the attempt; a lost lease stops the agent
//! and the attempt writes nothing more. The worktree is removed whatever
//! happens; the branch is kept when the attempt failed or waits for a
//! person.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use colony_agents::{AgentRun, ErrorClass, Harness, LogWriter, write_task_file};
use colony_core::input::read_limited;
use colony_core::record::Record;
use colony_core::resolve::RoleSettings;
use colony_core::{Phase, TaskSpec, Usage};
use colony_git::{BringIn, MergeOutcome, Oid, TaskTree, TreeState};
use colony_store::{Claim, Store, StoreError};
use tokio_util::sync::CancellationToken;

mod dependencies;
mod followups;
mod machine;
mod review;

pub(crate) use crate::ending::{Ending, one_line};
use machine::{Decided, Effect, Gated, Happening, Limits, Machine, Ran, Reviewed};

use crate::base::baseline::{GateEnd, GateIn};
use crate::base::setup::Prepared;
use crate::error::EngineError;
use crate::pacing::Go;
use crate::ports::Env;
use crate::queue::{Car, Place, Side, Verdict};
use crate::round::{AgentOutcome, AgentRound, Owner, RoundEnd, human, log_note, log_record};
use crate::shared::Inner;
use colony_core::branch::task_branch;
use review::ReviewEnd;
pub(crate) use review::Reviewers;

/// The most read back of an attempt's session record: a record larger
/// than that is not colony's.
const MAX_RECORD_BYTES: u64 = 64 * 1024;

/// The attempt as the merge queue sees it: its work, and its builder's
/// agent for resolver rounds.
struct Resolving<'a, 'b, S> {
    attempt: &'a Attempt<'b, S>,
    agent: &'a ChosenAgent,
}

impl<S: Store + 'static> Side for Resolving<'_, '_, S> {
    fn car(&self) -> Car {
        let a = self.attempt;
        Car {
            task: a.claim.task.clone(),
            attempt: a.claim.attempt,
            spec: a.spec().clone(),
            branch: a.branch(),
            cancel: a.cancel.clone(),
        }
    }

    fn worker(&self) -> &str {
        &self.attempt.worker
    }

    fn tree(&self) -> &TaskTree {
        self.attempt.tree()
    }

    fn env(&self) -> &Env {
        self.attempt.env()
    }

    fn interrupted(&self) -> Ending {
        self.attempt.interrupted()
    }

    fn lose_lease(&self) {
        self.attempt.lose_lease();
    }

    fn move_on(&self) {
        self.attempt.move_on();
    }

    fn role_gates(&self) -> &[String] {
        self.attempt.role_gates()
    }

    fn take_place(&self) -> Option<Place> {
        self.attempt.place.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }

    async fn resolve(&self, feedback: &str, log: &mut LogWriter) -> Result<Option<Ending>, EngineError> {
        self.attempt.resolver_round(self.agent, feedback, log).await
    }
}

/// What an attempt's effects are carried out with, decided before its
/// first.
struct Ways<'a> {
    agent: &'a ChosenAgent,
    reviewers: &'a Reviewers,
    /// The integration tip the attempt started from.
    start: &'a Oid,
    integration: &'a str,
    /// Its gates run on its merge before its turn (`queue/line.rs`): it
    /// goes straight from them to the merge.
    in_line: bool,
}

/// The agent an attempt runs with.
pub(crate) struct ChosenAgent {
    /// As configured: the key rate-limit pauses are shared by.
    pub name: String,
    pub harness: Arc<dyn Harness>,
    /// The model it runs, as far as colony knows, to price its tokens.
    pub model: Option<String>,
    /// The model the task or its plan asks for, which the harness passes on.
    pub task_model: Option<String>,
}

pub(crate) struct Attempt<'a, S> {
    pub inner: &'a Inner<S>,
    pub claim: Claim,
    pub worker: String,
    pub cancel: CancellationToken,
    pub lease_lost: Arc<AtomicBool>,
    /// This attempt created its task branch (it is deleted once merged).
    pub made_branch: AtomicBool,
    /// Its worktree, once registered.
    pub tree: std::sync::OnceLock<TaskTree>,
    /// The environment of its setup commands, agents and gates, once its
    /// ports are known (`crate::ports`).
    pub env: std::sync::OnceLock<Env>,
    /// The agent's session, once it has announced one: later rounds
    /// resume it where the harness can.
    pub session: std::sync::Mutex<Option<String>>,
    /// Tells the worker to move on to its next task (see
    /// `Inner::run_attempt`).
    pub moved_on: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    /// The worker slot the attempt holds while its agent may run.
    pub permit: std::sync::Mutex<Option<tokio::sync::OwnedSemaphorePermit>>,
    pub shutdown: colony_agents::Shutdown,
    /// The agent's version is in the store for this attempt.
    pub version_recorded: AtomicBool,
    /// Its place in the merge queue's line, once its gates passed on its
    /// merge before its turn.
    pub place: std::sync::Mutex<Option<Place>>,
    /// The commit its worktree began from, which its branch must always
    /// build on.
    pub from: std::sync::OnceLock<Oid>,
    /// The task role it takes (`[roles.NAME]`), once its plan is read.
    pub role: std::sync::OnceLock<Option<RoleSettings>>,
    /// Its key to colony's MCP server, when its agent may talk back.
    pub voice: Option<crate::talk::Voice<'a>>,
}

/// Whose round an agent runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The task's agent: its session is resumed for the next round.
    Builder,
    Reviewer,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Builder => "builder",
            Role::Reviewer => "reviewer",
        }
    }
}

/// How a round of an agent ended, as the attempt sees it.
pub(crate) enum Spoken {
    /// It ran to its end: done, or failed for a reason of its own.
    Finished(AgentOutcome),
    /// The attempt ends here: stopped, lease lost, or the agent locked out.
    Ends(Ending),
}

impl<S: Store + 'static> Attempt<'_, S> {
    pub(crate) fn layout(&self) -> &colony_core::layout::Layout {
        &self.inner.layout
    }

    pub(crate) fn spec(&self) -> &TaskSpec {
        &self.claim.spec
    }

    pub(crate) fn worktree(&self) -> PathBuf {
        self.layout().worktree(&self.claim.task, self.claim.attempt)
    }

    pub(crate) fn branch(&self) -> String {
        task_branch(&self.claim.plan, &self.claim.task, self.claim.attempt)
    }

    /// The worktree, registered before any agent, gate or merge step
    /// runs in it.
    pub(crate) fn tree(&self) -> &TaskTree {
        self.tree.get().expect("the worktree is registered before anything runs in it")
    }

    /// The environment of its setup commands, agents and gates, set before
    /// any of them runs.
    pub(crate) fn env(&self) -> &Env {
        self.env.get().expect("the attempt's environment is set before anything runs in its worktree")
    }

    fn gate_in(&self) -> GateIn<'_> {
        GateIn { tree: self.tree(), env: self.env(), role_gates: self.role_gates() }
    }

    fn role(&self) -> Option<&RoleSettings> {
        self.role.get().and_then(Option::as_ref)
    }

    /// Its task role's gates, run after the project's.
    fn role_gates(&self) -> &[String] {
        self.role().map_or(&[], |role| role.gates.as_slice())
    }

    /// Takes the attempt's block of ports, if `[worktree] ports` asks for
    /// one, and sets its environment; `Some` ends the attempt (no block is
    /// free, or its lease is lost).
    async fn take_ports(&self, log: &mut LogWriter) -> Result<Option<Ending>, EngineError> {
        let config = &self.inner.settings.config.worktree;
        let block = match crate::ports::wanted(config) {
            None => None,
            Some(want) => {
                let (task, attempt) = (&self.claim.task, self.claim.attempt);
                let taken = self.inner.store.take_ports(task, attempt, want, &crate::ports::bindable);
                match self.fenced(taken).await? {
                    Err(ending) => return Ok(Some(ending)),
                    Ok(None) => return Ok(Some(Ending::NoPorts(crate::ports::none_free(want)))),
                    Ok(Some(block)) => {
                        log_note(log, crate::ports::note(block));
                        Some(block)
                    }
                }
            }
        };
        self.env.get_or_init(|| crate::ports::env(config, block));
        Ok(None)
    }

    /// Why the attempt was stopped, once its token is cancelled.
    pub(crate) fn interrupted(&self) -> Ending {
        if self.lease_lost.load(Ordering::SeqCst) { Ending::LeaseLost } else { Ending::Stopped }
    }

    /// Runs the attempt and tidies its worktree, whatever the outcome.
    pub(crate) async fn run(&self, log: &mut LogWriter) -> Result<Ending, EngineError> {
        let outcome = self.work(log).await;
        let worktree = self.worktree();
        if worktree.exists() {
            // The files go beside other workers' worktree commands, only
            // the registration one at a time.
            self.inner.git(|r| r.worktree_discard(&worktree))?;
            self.inner.worktree_git(|r| r.worktree_forget(&worktree))?;
        }
        // The branch is kept while it holds work someone may want: a failed
        // attempt's for people to look at, a waiting one's for the person's
        // decision. A merged one's is in the integration branch; one
        // stopped or taken over holds work nobody goes on from.
        let keep = matches!(outcome, Ok(Ending::Failed(_) | Ending::AwaitingApproval | Ending::AwaitingInput))
            || outcome.as_ref().is_err_and(|e| !crate::room::out_of_room(e));
        if !keep && self.made_branch.load(Ordering::SeqCst) {
            self.inner.git(|r| r.delete_branch(&self.branch()))?;
            self.inner.queue.integration().unpublish(&self.inner.base, &self.branch())?;
        }
        if self.claim.attempt > 1 && matches!(outcome, Ok(Ending::Merged)) {
            self.inner.sweep_task_branches(&self.claim).await?;
        }
        if let Some(d) = &self.claim.decision
            && matches!(
                outcome,
                Ok(Ending::Merged | Ending::Failed(_) | Ending::AwaitingApproval | Ending::AwaitingInput)
            )
        {
            // The decision is carried out, and the store has forgotten it;
            // the work it was about lives on in this attempt's branch. An
            // attempt given back before then leaves both to the next.
            let old = task_branch(&self.claim.plan, &self.claim.task, d.attempt);
            if self.inner.git(|r| r.branch_exists(&old))? {
                self.inner.git(|r| r.delete_branch(&old))?;
            }
            if let Err(e) = self.inner.queue.integration().unpublish(&self.inner.base, &old) {
                log_note(log, format!("could not delete {old} on the remote: {}", crate::error::error_chain(&e)));
            }
        }
        outcome
    }

    async fn work(&self, log: &mut LogWriter) -> Result<Ending, EngineError> {
        let inner = self.inner;
        let plan = inner.plan_info(&self.claim.plan).await?;
        let integration = plan.integration_branch.clone();
        self.role.get_or_init(|| inner.task_settings(self.spec(), &plan).role);
        let start = inner.queue.ensure_integration(&inner.base, &plan).await?;
        let agent = inner.agent_for(self.spec(), &plan)?;
        let reviewers = inner.reviewers_for(self.spec(), &plan)?;
        let limits = Limits {
            max_fix_rounds: inner.settings.config.gates.max_fix_rounds,
            max_review_rounds: inner.settings.config.review.max_rounds,
            reviewed: !reviewers.agents.is_empty(),
            approval: inner.approval_required(self.spec(), &plan),
        };
        // Gates of its own would not run on the candidates of those behind.
        let in_line = inner.queue.speculating() && !limits.reviewed && !limits.approval && self.role_gates().is_empty();
        let ways = Ways { agent: &agent, reviewers: &reviewers, start: &start, integration: &integration, in_line };
        if let Some(commit) = inner.queue.already_merged(&inner.base, &integration, &start, self.spec())? {
            log_note(log, format!("{integration} has this task's merge already, at {commit}"));
            return self.drive(Machine::new(limits), Happening::AlreadyMerged, &ways, log).await;
        }
        // Work a person decided on goes on from where it stopped.
        let from = match &self.claim.decision {
            Some(d) => {
                let branch = task_branch(&self.claim.plan, &self.claim.task, d.attempt);
                match inner.queue.integration().branch_tip(&inner.base, &branch)? {
                    Some(tip) => tip,
                    None => {
                        return Ok(Ending::Failed(format!(
                            "the work of attempt {} that was decided on is gone: there is no branch {branch}",
                            d.attempt
                        )));
                    }
                }
            }
            None => start.clone(),
        };
        let worktree = self.worktree();
        let tree = match self.inner.worktree_git(|r| r.worktree_register(&worktree, &self.branch(), &from)) {
            Ok(tree) => tree,
            Err(e) => {
                // Only this attempt uses its branch name; one already there
                // was left by a run that died before its cleanup, or by an
                // earlier store. Anything else is a real failure.
                if !self.inner.git(|r| r.branch_exists(&self.branch()))? {
                    return Err(e);
                }
                self.inner.git(|r| r.delete_branch(&self.branch()))?;
                self.inner.worktree_git(|r| r.worktree_register(&worktree, &self.branch(), &from))?
            }
        };
        let tree = self.tree.get_or_init(|| tree);
        self.from.get_or_init(|| from.clone());
        self.made_branch.store(true, Ordering::SeqCst);
        self.inner.git(|r| r.worktree_checkout(tree))?;
        log_record(
            log,
            Record::Began {
                attempt: self.claim.attempt,
                worktree: worktree.display().to_string(),
                integration: integration.clone(),
                from: start.to_string(),
            },
        );
        if let Some(ending) = self.take_ports(log).await? {
            return Ok(ending);
        }
        match inner.base.prepare(tree, self.env(), log, &self.cancel).await? {
            Prepared::Ready => self.count_setup(None),
            Prepared::Failed { why, command } => {
                if let Some(command) = command {
                    self.count_setup(Some(&command));
                }
                return Ok(Ending::Failed(why));
            }
            Prepared::Cancelled => return Ok(self.interrupted()),
        }
        let task_file = self.layout().task_file(&self.claim.task, self.claim.attempt);
        write_task_file(&task_file, self.spec())?;
        let decided = match &self.claim.decision {
            None => None,
            Some(d) => {
                *self.session.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = self.saved_session(d.attempt);
                Some(match (&d.feedback, &d.question) {
                    (None, _) => {
                        log_note(log, format!("a person approved attempt {}; merging it", d.attempt));
                        Decided::Approved
                    }
                    (Some(answer), Some(question)) => {
                        log_note(
                            log,
                            format!("a person answered attempt {}'s question: {}", d.attempt, one_line(answer)),
                        );
                        Decided::Answered { question: question.clone(), answer: answer.clone() }
                    }
                    (Some(text), None) => {
                        log_note(log, format!("a person sent attempt {} back: {}", d.attempt, one_line(text)));
                        Decided::Rejected { feedback: text.clone() }
                    }
                })
            }
        };
        self.drive(Machine::new(limits), Happening::Began { decided }, &ways, log).await
    }

    /// Counts how this attempt's setup commands ended (`failed` names the
    /// one that failed): the same one failing again halts new work.
    fn count_setup(&self, failed: Option<&str>) {
        if let Some(why) = self.inner.setup_failures.count(failed) {
            self.inner.pacing.halt(why);
        }
    }

    /// Runs the attempt's machine from `first` to its end, carrying out
    /// each effect it asks for.
    async fn drive(
        &self,
        mut machine: Machine,
        first: Happening,
        ways: &Ways<'_>,
        log: &mut LogWriter,
    ) -> Result<Ending, EngineError> {
        let mut effect = machine.step(first);
        loop {
            let happening = match effect {
                Effect::End(ending) => return Ok(ending),
                effect => self.carry_out(effect, ways, log).await?,
            };
            effect = machine.step(happening);
        }
    }

    /// Carries out one effect of the attempt's machine; what came of it
    /// is the machine's next happening.
    async fn carry_out(&self, effect: Effect, on: &Ways<'_>, log: &mut LogWriter) -> Result<Happening, EngineError> {
        let (task, attempt) = (&self.claim.task, self.claim.attempt);
        let store = &self.inner.store;
        Ok(match effect {
            Effect::RunBuilder { feedback } => self.agent_round(on.agent, feedback.as_deref(), true, log).await?,
            Effect::CheckTree => Happening::TreeChecked(self.check_tree(log)?),
            Effect::Commit => Happening::Committed { work: self.commit_work(on.start)? },
            Effect::MarkChecking => self.written(store.set_phase(task, attempt, Phase::Checking)).await?,
            Effect::RunGates => match self.gate_as_merged(on, log).await? {
                GateEnd::Passed => Happening::GatesRan(Gated::Passed),
                GateEnd::Failed { command, tail } => Happening::GatesRan(Gated::Failed { command, tail }),
                GateEnd::Cancelled => Happening::Ended(self.interrupted()),
                GateEnd::OnBase(fails) => Happening::Ended(Ending::OnBase(fails.to_string())),
            },
            Effect::RecordRound { round, cause } => {
                self.written(store.feedback_round(task, attempt, round, cause)).await?
            }
            Effect::Review { round, findings } => {
                match self.review(on.reviewers, round, findings.as_deref(), on.start, on.integration, log).await? {
                    ReviewEnd::Approved => Happening::Reviewed(Reviewed::Approved),
                    ReviewEnd::NeedsChanges { asked, issues } => {
                        Happening::Reviewed(Reviewed::NeedsChanges { asked, issues })
                    }
                    ReviewEnd::Ends(ending) => Happening::Ended(ending),
                }
            }
            Effect::AskApproval => {
                self.save_session()?;
                // Whichever host carries out the decision finds the work there.
                self.inner.queue.integration().publish(&self.inner.base, &self.branch(), log);
                let asked = self.written(store.request_approval(task, attempt)).await?;
                if asked == Happening::Written {
                    log_note(
                        log,
                        "the checks passed; the work waits for a person: `colony approve` or `colony reject`",
                    );
                }
                asked
            }
            Effect::AskInput { question } => {
                self.save_session()?;
                self.inner.queue.integration().publish(&self.inner.base, &self.branch(), log);
                let wait = self.inner.settings.config.run.answer_timeout;
                let asked = self.written(store.request_input(task, attempt, &question, wait)).await?;
                if asked == Happening::Written {
                    log_note(
                        log,
                        format!(
                            "the agent asks a person: {}\nits work is kept; `colony answer {task} \"TEXT\"` resumes it \
                             (unanswered for {}, the task fails)",
                            question,
                            colony_core::time::human(wait)
                        ),
                    );
                    self.inner.settings.notices.say(&format!(
                        "task {task} asks: {}; answer with `colony answer {task} \"TEXT\"`",
                        one_line(&question)
                    ));
                }
                asked
            }
            Effect::Merge => {
                let side = Resolving { attempt: self, agent: on.agent };
                match self.inner.queue.merge(&self.inner.base, &side, on.integration, log).await? {
                    Ending::Merged => Happening::Landed,
                    other => Happening::Ended(other),
                }
            }
            Effect::Complete => self.written(store.complete(task, attempt)).await?,
            Effect::End(_) => unreachable!("the attempt's loop ends on its end"),
        })
    }

    /// A store write fenced by the attempt, as a happening: written, or
    /// the attempt ends (its lease is lost).
    async fn written<T>(&self, write: impl Future<Output = Result<T, StoreError>>) -> Result<Happening, EngineError> {
        Ok(match self.fenced(write).await? {
            Ok(_) => Happening::Written,
            Err(ending) => Happening::Ended(ending),
        })
    }

    /// Commits what the agent left; whether the task branch holds work of
    /// its own. Nothing left to commit may still be work: the agent can
    /// commit by itself (or did in an earlier round). What counts is the
    /// task branch, the work that merges.
    fn commit_work(&self, start: &Oid) -> Result<bool, EngineError> {
        if self.commit()?.is_some() {
            return Ok(true);
        }
        let tip = self.task_tip()?;
        self.inner.git(|r| r.has_commits_since(&tip, start))
    }

    /// The gates on the work as it would merge. In the line (see
    /// `queue/line.rs`), they run on its candidate, its work merged onto
    /// what lands before it, and a failure counts once everything ahead has
    /// landed. Else, where the integration tip moved since the task branch
    /// took it and merges into the branch without conflict, it is brought
    /// in first: the merge queue then finds the branch holding the tip and
    /// gates nothing again unless the tip moves once more. Either way a
    /// failure only the combination causes goes back to this task's agent,
    /// with the tip in its branch. A conflict is left for the merge queue,
    /// whose resolver rounds deal with it.
    async fn gate_as_merged(&self, on: &Ways<'_>, log: &mut LogWriter) -> Result<GateEnd, EngineError> {
        if on.in_line
            && let Some(end) = self.gate_in_line(on.integration, log).await?
        {
            return Ok(end);
        }
        self.bring_in_tip(on.integration, log).await?;
        self.inner.gates(self.gate_in(), on.integration, log, &self.cancel).await
    }

    /// The gates on this attempt's candidate in the line; `None` when its
    /// work conflicts with what is ahead of it (it is gated as before).
    async fn gate_in_line(&self, integration: &str, log: &mut LogWriter) -> Result<Option<GateEnd>, EngineError> {
        let (inner, spec, task) = (self.inner, self.spec(), &self.claim.task);
        let head = self.task_tip()?;
        let Some(mut place) = inner.queue.join(&inner.base, integration, spec, task, &head).await? else {
            return Ok(None);
        };
        loop {
            log_record(log, place.record());
            let branch = self.branch();
            let end = crate::queue::gate_candidate(
                &inner.base,
                self.gate_in(),
                &branch,
                integration,
                &place.candidate,
                log,
                &self.cancel,
            )
            .await?;
            match end {
                GateEnd::Passed => {
                    *self.place.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(place);
                    return Ok(Some(end));
                }
                GateEnd::Cancelled | GateEnd::OnBase(_) => return Ok(Some(end)),
                GateEnd::Failed { .. } => {}
            }
            match inner.queue.verdict(&inner.base, &mut place, spec, &head, &self.cancel).await? {
                Verdict::Stands => {
                    drop(place);
                    self.bring_in_tip(integration, log).await?;
                    return Ok(Some(end));
                }
                Verdict::Rebuilt => {}
                Verdict::Conflict => return Ok(None),
                Verdict::Stopped => return Ok(Some(GateEnd::Cancelled)),
            }
        }
    }

    /// Brings the integration tip into the task branch where it moved
    /// since the branch took it and merges without conflict.
    async fn bring_in_tip(&self, integration: &str, log: &mut LogWriter) -> Result<(), EngineError> {
        let inner = self.inner;
        let tip = inner.queue.tip(&inner.base, integration).await?;
        let head = self.task_tip()?;
        if inner.git(|r| r.is_ancestor(&tip, &head))? {
            return Ok(());
        }
        if let MergeOutcome::Conflict { .. } = inner.git(|r| r.merge_tree(&tip, &head))? {
            return Ok(());
        }
        match inner.git(|r| r.bring_in(self.tree(), &tip, inner.author.as_ref()))? {
            BringIn::Merged { .. } => log_record(log, Record::BroughtIn { integration: integration.to_owned() }),
            BringIn::UpToDate => {}
            BringIn::Conflict(_) => inner.git(|r| r.abort_merge(self.tree()))?,
        }
        Ok(())
    }

    /// The task branch's tip.
    pub(crate) fn task_tip(&self) -> Result<Oid, EngineError> {
        self.inner.branch_tip(&self.branch())
    }

    /// Whether the agent left its worktree fit to go on from: `Some` ends
    /// the attempt. An agent that moved HEAD to another branch (or
    /// detached it) on top of the task's work has its HEAD taken as the
    /// task's work; one that moved it anywhere else, rewrote the branch
    /// below where the attempt began, or broke the worktree, fails the
    /// attempt with what it did.
    fn check_tree(&self, log: &mut LogWriter) -> Result<Result<(), String>, EngineError> {
        let on_branch = self.check_head(log)?;
        if on_branch.is_err() {
            return Ok(on_branch);
        }
        let from = self.from.get().expect("the worktree began before any agent ran in it");
        let tip = self.task_tip()?;
        if !self.inner.git(|r| r.is_ancestor(from, &tip))? {
            return Ok(Err(format!(
                "the agent rewrote its task branch below where the attempt began: {} no longer builds on {}, \
                 so its history is not what was checked out; colony merges only work on top of it",
                self.branch(),
                from.short()
            )));
        }
        Ok(Ok(()))
    }

    /// The worktree's HEAD, on the task branch: taken from where the agent
    /// moved it when that builds on the task's work.
    fn check_head(&self, log: &mut LogWriter) -> Result<Result<(), String>, EngineError> {
        let branch = self.branch();
        match self.inner.git(|r| r.inspect(self.tree(), &branch))? {
            TreeState::OnBranch => Ok(Ok(())),
            TreeState::Broken(how) => Ok(Err(format!("the agent broke its worktree: {how}"))),
            TreeState::OffBranch { branch: went, head } => {
                let went = went.map_or_else(|| "a detached HEAD".to_owned(), |b| format!("branch `{b}`"));
                let tip = self.task_tip()?;
                let builds_on = match &head {
                    Some(head) => self.inner.git(|r| r.is_ancestor(&tip, head))?,
                    None => false,
                };
                let Some(head) = head.filter(|_| builds_on) else {
                    return Ok(Err(format!(
                        "the agent moved its worktree off its task branch to {went}, which does not build on \
                         the task's work; colony merges only the task branch"
                    )));
                };
                self.inner.git(|r| r.take_head(self.tree(), &branch, &head, &tip))?;
                log_note(log, format!("the agent moved to {went}; its work there ({head}) is the task's"));
                Ok(Ok(()))
            }
        }
    }

    /// Runs the builder once, on `feedback` when there is some: how its
    /// round ran, or the attempt's end. `may_ask`: the round may end on a
    /// question to a person, which then outweighs how it ended (an agent
    /// told to end its turn may stop with an error).
    async fn agent_round(
        &self,
        agent: &ChosenAgent,
        feedback: Option<&str>,
        may_ask: bool,
        log: &mut LogWriter,
    ) -> Result<Happening, EngineError> {
        let feedback_file = self.layout().feedback_file(&self.claim.task, self.claim.attempt);
        let feedback_path = match feedback {
            Some(text) => {
                std::fs::write(&feedback_file, text)
                    .map_err(|source| EngineError::Io { path: feedback_file.clone(), source })?;
                Some(feedback_file)
            }
            None => None,
        };
        let dependencies = self.dependencies(log).await?;
        let fresh = self.builder_prompt(&dependencies, feedback, false)?;
        let resumed = self.builder_prompt(&dependencies, feedback, true)?;
        let make_run = || {
            let session = self.session.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
            let session = session.filter(|_| agent.harness.resumes());
            let prompt = if session.is_some() { resumed.clone() } else { fresh.clone() };
            let mut run = self.agent_run(agent, prompt);
            run.feedback_file = feedback_path.clone();
            run.session = session;
            run.talk = self.talk_server();
            run
        };
        let said = self.voice.as_ref().map(|voice| &voice.said);
        if let Some(said) = said {
            said.open(may_ask);
        }
        let spoken = self.run_agent(agent, Role::Builder, make_run, log).await?;
        let question = said.and_then(crate::talk::Said::take_question);
        Ok(match spoken {
            Spoken::Ends(ending) => Happening::Ended(ending),
            Spoken::Finished(AgentOutcome { end: RoundEnd::Failed { reason, .. }, .. })
                if crate::room::says_full(&reason) || !crate::room::has_room(&self.worktree()) =>
            {
                Happening::AgentRan(Ran::DiskFull(reason))
            }
            Spoken::Finished(_) if let Some(question) = question => {
                self.take_followups(log).await?;
                Happening::AgentRan(Ran::Asked(question))
            }
            Spoken::Finished(AgentOutcome { end: RoundEnd::Failed { reason, .. }, .. }) => {
                Happening::AgentRan(Ran::Failed(reason))
            }
            Spoken::Finished(outcome) => {
                if let Some(answer) = dependencies::kept_answer(&outcome.answer) {
                    self.inner.store.record_answer(&self.claim.task, self.claim.attempt, &answer).await?;
                }
                self.take_followups(log).await?;
                Happening::AgentRan(Ran::Done)
            }
        })
    }

    /// What the task's agent is told: the task and what its `dependencies`
    /// did (the builder's template), or `feedback` on it (the fixer's), in
    /// a session that goes on (`resumed`: it has the task already) or a
    /// new one.
    fn builder_prompt(
        &self,
        dependencies: &[crate::prompts::Dependency],
        feedback: Option<&str>,
        resumed: bool,
    ) -> Result<String, EngineError> {
        use crate::prompts::{Builder, Fixer, Role, TaskVars};
        let prompts = &self.inner.settings.prompts;
        let task = TaskVars::of(self.spec(), self.claim.plan.as_str());
        let dependencies = dependencies.to_vec();
        let followups = Builder::followups(self.inner.settings.config.plan.followups);
        let task_role = self.role().map(|role| role.name.as_str());
        Ok(match feedback {
            None => prompts.render_for(task_role, Role::Builder, &Builder { task, dependencies, followups })?,
            Some(feedback) => {
                let feedback = feedback.trim_end().to_owned();
                prompts.render_for(
                    task_role,
                    Role::Fixer,
                    &Fixer { task, dependencies, followups, feedback, resumed },
                )?
            }
        })
    }

    /// A resolver's round at a merge: the builder's agent on the conflict,
    /// then a look at the worktree. `Some` when the attempt ends here.
    pub(crate) async fn resolver_round(
        &self,
        agent: &ChosenAgent,
        feedback: &str,
        log: &mut LogWriter,
    ) -> Result<Option<Ending>, EngineError> {
        Ok(match self.agent_round(agent, Some(feedback), false, log).await? {
            Happening::AgentRan(ran) => machine::round_end(ran, self.check_tree(log)?),
            Happening::Ended(ending) => Some(ending),
            other => unreachable!("an agent round ends as {other:?}"),
        })
    }

    /// colony's MCP server for the task's agent, when the run gives one.
    fn talk_server(&self) -> Option<colony_agents::TalkServer> {
        let command = self.inner.settings.talk.as_ref()?;
        let dir = self.layout().attempt_dir(&self.claim.task, self.claim.attempt).join("talk");
        Some(self.voice.as_ref()?.server(command, dir))
    }

    /// What a round of `agent` is given, before its prompt's extras.
    pub(crate) fn agent_run(&self, agent: &ChosenAgent, prompt: String) -> AgentRun {
        let mut task = self.spec().clone();
        task.model = agent.task_model.clone();
        AgentRun {
            task,
            attempt: self.claim.attempt,
            worktree: self.worktree(),
            task_file: self.layout().task_file(&self.claim.task, self.claim.attempt),
            feedback_file: None,
            prompt,
            session: None,
            output_schema: None,
            talk: None,
        }
    }

    /// Runs `agent` once on what `make_run` gives, waiting out rate limits
    /// (which do not use up the attempt: every worker of that agent waits,
    /// and this one gives its slot back meanwhile, so tasks for other
    /// agents go on), and keeps what it spent, the version it reported and,
    /// for the builder, the session it announced (a reviewer runs on its
    /// own, never in the builder's).
    pub(crate) async fn run_agent(
        &self,
        agent: &ChosenAgent,
        role: Role,
        make_run: impl Fn() -> AgentRun,
        log: &mut LogWriter,
    ) -> Result<Spoken, EngineError> {
        let inner = self.inner;
        let settings = &inner.settings;
        let plan = inner.plan_info(&self.claim.plan).await?;
        let resolved = inner.task_settings(self.spec(), &plan);
        let mut waits = 0;
        loop {
            if let Some(ending) = self.wait_for_agent(agent).await {
                return Ok(Spoken::Ends(ending));
            }
            let round = AgentRound {
                owner: Some(Owner { store: &*inner.store, task: &self.claim.task, attempt: self.claim.attempt }),
                harness: &*agent.harness,
                run: make_run(),
                wall_timeout: resolved.timeout,
                silence_timeout: Some(resolved.silence_timeout),
                grace: settings.config.run.grace,
                linger: settings.linger,
                env: self.env(),
                sandbox: settings.sandbox.as_ref(),
                said: self.voice.as_ref().filter(|_| role == Role::Builder).map(|v| v.said.clone()),
            };
            log_record(log, Record::Prompt { to: role.name().to_owned(), text: round.run.prompt.clone() });
            let suspect = crate::watch::Suspect { task: self.claim.task.clone(), attempt: self.claim.attempt };
            let watched = inner.watch.started(suspect.clone());
            let outcome = round.go(log, &self.cancel).await;
            inner.watch.ended(watched);
            inner.watch.look_at_checkout(&inner.base).await;
            let mut outcome = outcome?;
            if let Some(why) = inner.watch.take_blame(&suspect) {
                self.record_usage(agent, outcome.usage).await?;
                return Ok(Spoken::Ends(Ending::Failed(why)));
            }
            outcome.usage = self.record_usage(agent, outcome.usage).await?;
            if role == Role::Builder {
                self.record_version(agent, outcome.version.take()).await?;
                if let Some(id) = &outcome.session {
                    inner.store.record_session(&self.claim.task, self.claim.attempt, id).await?;
                    *self.session.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(id.clone());
                }
            }
            return Ok(match &outcome.end {
                RoundEnd::Done => {
                    if inner.pacing.went_through(&agent.name) {
                        inner.store.agent_through(&agent.name).await?;
                    }
                    Spoken::Finished(outcome)
                }
                RoundEnd::Failed { reason, class: ErrorClass::RateLimit | ErrorClass::Overloaded, reset_at }
                    if waits < settings.max_rate_limit_waits =>
                {
                    waits += 1;
                    let until = inner.pacing.pause(&agent.name, *reset_at, |strikes| settings.rate_limit_wait(strikes));
                    let wait = until.duration_since(std::time::SystemTime::now()).unwrap_or_default();
                    let said = one_line(reason);
                    log_note(
                        log,
                        format!(
                            "the `{}` agent is rate limited or overloaded ({said}); its tasks wait {} and \
                             this attempt gives its worker to tasks for other agents meanwhile — this does not use \
                             up the attempt",
                            agent.name,
                            human(wait)
                        ),
                    );
                    inner.agent_waits(&self.claim.task, self.claim.attempt, &agent.name, &said, Some(until)).await?;
                    continue;
                }
                RoundEnd::Failed { reason, class: class @ (ErrorClass::Auth | ErrorClass::SpendLimit), .. } => {
                    let why = needs_person(&agent.name, *class, &one_line(reason));
                    inner.pacing.lock(&agent.name, why.clone());
                    inner.agent_waits(&self.claim.task, self.claim.attempt, &agent.name, &why, None).await?;
                    Spoken::Ends(Ending::AgentLocked { why })
                }
                RoundEnd::Failed { .. } => Spoken::Finished(outcome),
                RoundEnd::Cancelled => Spoken::Ends(self.interrupted()),
            });
        }
    }

    /// Waits until `agent` may run a round: at once, unless it is rate
    /// limited, when the attempt gives its worker slot back, waits, and
    /// takes a slot again. A stop during the wait ends the attempt at once
    /// (no agent runs); so does an agent that now waits for a person.
    async fn wait_for_agent(&self, agent: &ChosenAgent) -> Option<Ending> {
        let stop = async {
            tokio::select! {
                () = self.shutdown.draining() => {}
                () = self.cancel.cancelled() => {}
            }
        };
        if self.inner.pacing.blocked(std::time::SystemTime::now()).contains(&agent.name) {
            self.move_on();
        }
        match self.inner.pacing.wait_for(&agent.name, stop).await {
            Go::Ahead => {}
            Go::Stopped => return Some(self.interrupted_or_stopped()),
            Go::Locked(why) => return Some(Ending::AgentLocked { why }),
        }
        if self.holds_slot() {
            return None;
        }
        let slots = self.inner.slots.clone();
        tokio::select! {
            permit = slots.acquire_owned() => {
                *self.permit.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some(permit.expect("the worker slots are never closed"));
                None
            }
            () = self.shutdown.draining() => Some(self.interrupted_or_stopped()),
            () = self.cancel.cancelled() => Some(self.interrupted_or_stopped()),
        }
    }

    fn holds_slot(&self) -> bool {
        self.permit.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_some()
    }

    /// Ended by a stop while no agent ran: the task goes back.
    fn interrupted_or_stopped(&self) -> Ending {
        if self.cancel.is_cancelled() { self.interrupted() } else { Ending::Stopped }
    }

    /// Gives the attempt's worker slot back and tells its worker to move on
    /// to its next task: what the attempt does next runs no agent for a
    /// while (a merge, a rate-limit wait).
    pub(crate) fn move_on(&self) {
        self.permit.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(worker) = self.moved_on.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            let _ = worker.send(());
        }
    }

    /// Keeps the version the builder's CLI reported for this attempt, once:
    /// from its own output, else from its `--version`, asked once a run.
    async fn record_version(&self, agent: &ChosenAgent, said: Option<String>) -> Result<(), EngineError> {
        if self.version_recorded.load(Ordering::SeqCst) {
            return Ok(());
        }
        let version = match said {
            Some(v) => Some(v),
            None => self.inner.agent_version(&agent.name).await,
        };
        let Some(version) = version else { return Ok(()) };
        self.version_recorded.store(true, Ordering::SeqCst);
        match self.inner.store.record_agent_version(&self.claim.task, self.claim.attempt, &version).await {
            Ok(()) | Err(StoreError::NotAllowed(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Where the agent's session is kept while its work waits for a person.
    fn session_file(&self, attempt: u32) -> PathBuf {
        self.layout().attempt_dir(&self.claim.task, attempt).join("session")
    }

    fn save_session(&self) -> Result<(), EngineError> {
        let session = self.session.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let Some(session) = session else { return Ok(()) };
        let path = self.session_file(self.claim.attempt);
        std::fs::write(&path, session).map_err(|source| EngineError::Io { path, source })
    }

    /// The session an earlier attempt saved; none on another host, or
    /// when its agent announced none.
    fn saved_session(&self, attempt: u32) -> Option<String> {
        let bytes = read_limited(&self.session_file(attempt), MAX_RECORD_BYTES).ok()?;
        Some(String::from_utf8_lossy(&bytes).trim().to_owned()).filter(|s| !s.is_empty())
    }

    /// Keeps what a round spent, priced from the configured table when the
    /// agent reported no cost, and counts it against the run's budget.
    /// Returns it priced.
    async fn record_usage(&self, agent: &ChosenAgent, mut usage: Usage) -> Result<Usage, EngineError> {
        if usage.is_empty() {
            return Ok(usage);
        }
        let settings = &self.inner.settings;
        if usage.cost_usd.is_none()
            && let Some(price) = agent.model.as_ref().and_then(|m| settings.config.prices.get(m))
        {
            usage.cost_usd = Some(price.cost(usage.input, usage.output, usage.cached));
        }
        self.inner.pacing.spend(usage);
        match self.inner.store.record_usage(&self.claim.task, self.claim.attempt, usage).await {
            Ok(()) | Err(StoreError::NotAllowed(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.inner.check_budget().await?;
        Ok(usage)
    }

    pub(crate) fn commit(&self) -> Result<Option<Oid>, EngineError> {
        self.inner.git(|r| r.commit_all(self.tree(), &self.spec().title, self.inner.author.as_ref()))
    }

    /// Its lease is gone: it stops, and writes nothing more.
    fn lose_lease(&self) {
        self.lease_lost.store(true, Ordering::SeqCst);
        self.cancel.cancel();
    }

    /// A store write fenced by the attempt; a lost lease ends the attempt.
    pub(crate) async fn fenced<T>(
        &self,
        write: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<Result<T, Ending>, EngineError> {
        crate::ending::fenced(write, || self.lose_lease()).await
    }
}

/// What a person must do for an agent that cannot work until they act.
fn needs_person(agent: &str, class: ErrorClass, said: &str) -> String {
    match class {
        ErrorClass::SpendLimit => format!(
            "the `{agent}` agent reached a spend cap or ran out of credit ({said}); raise the cap or add credit \
             with its provider, then `colony run` carries on"
        ),
        _ => format!(
            "the `{agent}` agent is not logged in or its key was refused ({said}); log it in \
             (`colony doctor` says how), then `colony run` carries on"
        ),
    }
}
