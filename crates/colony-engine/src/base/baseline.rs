//! The gates against the integration branch itself, and what a run keeps
//! of every gate run.
//!
//! A gate that already fails on the integration branch fails on every
//! task's work too, and each of those failures would go back to an agent
//! as its own, a round of agent work each. So before any agent starts,
//! colony gates each plan's integration tip (`check`); where a gate fails
//! there the run does not start, unless `--allow-failing-gates` says to go
//! on, and then a gate that fails on the work and on the integration tip
//! alike is not held against the work. The same look is taken before a
//! gate failure goes back to an agent, so that a tip that moved to a tree
//! not gated yet (a person's push, another process) is judged too: a
//! failure it shares stops the run rather than costing the task a try.
//!
//! Each command's verdict on each tree is kept for the run ([`Verdicts`]):
//! an identical tree is never gated twice. A candidate that lands is the
//! next tip, whose look then costs nothing; a train or a candidate built
//! again onto a tree seen before is not gated again.

use std::collections::HashMap;

use colony_agents::LogWriter;
use colony_core::record::Record;
use colony_git::{Oid, TaskTree, branch_ref};
use colony_store::Store;
use tokio_util::sync::CancellationToken;

use super::setup::Prepared;
use crate::base::Base;
use crate::error::EngineError;
use crate::ports::Env;
use crate::round::{Commands, CommandsEnd, Step, log_record};

/// Each gate command's verdict on each tree this run gated: `None` passed,
/// else the tail of its output.
#[derive(Default)]
pub(crate) struct Verdicts {
    known: std::sync::Mutex<HashMap<(Oid, String), Option<String>>>,
    /// One gate run per tree at a time: a second gating of a tree waits
    /// for the first's verdicts rather than running them again.
    trees: std::sync::Mutex<HashMap<Oid, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    /// Gate runs on an integration tip go one at a time, in one worktree.
    looking: tokio::sync::Mutex<()>,
}

impl Verdicts {
    fn get(&self, tree: &Oid, command: &str) -> Option<Option<String>> {
        self.lock().get(&(tree.clone(), command.to_owned())).cloned()
    }

    fn keep(&self, tree: &Oid, command: &str, failed: Option<String>) {
        self.lock().insert((tree.clone(), command.to_owned()), failed);
    }

    /// The turn to gate `tree`.
    fn tree(&self, tree: &Oid) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut trees = self.trees.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        trees.entry(tree.clone()).or_default().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Oid, String), Option<String>>> {
        self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Where gates run on an attempt's work: its worktree, with its
/// environment (`crate::ports::env`).
#[derive(Clone, Copy)]
pub(crate) struct GateIn<'a> {
    pub tree: &'a TaskTree,
    pub env: &'a Env,
    /// Its task role's gates, run after the project's.
    pub role_gates: &'a [String],
}

/// A gate's verdict.
#[derive(Debug)]
pub(crate) enum GateEnd {
    Passed,
    Failed {
        command: String,
        tail: String,
    },
    Cancelled,
    /// It failed, and fails on the integration branch too: not the work's.
    OnBase(FailsOnBase),
}

/// How a gate fares on an integration branch's tip.
enum OnTip {
    Passes,
    Fails { tip: Oid, tail: String },
    Stopped,
}

/// A gate that fails on an integration branch's tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailsOnBase {
    pub command: String,
    pub integration: String,
    pub tip: Oid,
    pub tail: String,
}

impl std::fmt::Display for FailsOnBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let FailsOnBase { command, integration, tip, tail } = self;
        let short = tip.short();
        write!(
            f,
            "gate `{command}` already fails on {integration} at {short}; fix it there, or run with --allow-failing-gates"
        )?;
        if !tail.trim().is_empty() {
            write!(f, "\nits output there ends with:")?;
            for line in tail.trim_end().lines() {
                write!(f, "\n  {line}")?;
            }
        }
        Ok(())
    }
}

impl<S: Store + 'static> Base<S> {
    /// The project's gates on the work committed in `work`'s tree, until
    /// one fails: a command whose verdict on this tree is known is not run
    /// again. A failure is checked against `integration`'s tip first: one
    /// the tip shares is the base's, not the work's ([`GateEnd::OnBase`],
    /// or passed over with `--allow-failing-gates`).
    pub(crate) async fn gates(
        &self,
        work: GateIn<'_>,
        integration: &str,
        log: &mut LogWriter,
        cancel: &CancellationToken,
    ) -> Result<GateEnd, EngineError> {
        let GateIn { tree, env, role_gates } = work;
        let at = self.git(|r| r.head_tree(tree))?;
        let turn = self.verdicts.tree(&at);
        let _turn = tokio::select! {
            turn = turn.lock() => turn,
            () = cancel.cancelled() => return Ok(GateEnd::Cancelled),
        };
        for command in self.settings.config.gates.commands.iter().chain(role_gates) {
            let failed = match self.verdicts.get(&at, command) {
                Some(failed) => {
                    let (command, tree, passed) = (command.clone(), at.short().to_owned(), failed.is_none());
                    log_record(log, Record::GateKnown { command, tree, passed });
                    failed
                }
                None => match self.run_gate(command, tree.path(), env, log, cancel).await? {
                    None => return Ok(GateEnd::Cancelled),
                    Some(failed) => {
                        self.verdicts.keep(&at, command, failed.clone());
                        failed
                    }
                },
            };
            let Some(tail) = failed else { continue };
            match self.on_tip(integration, command, Some(env), cancel).await? {
                OnTip::Passes => return Ok(GateEnd::Failed { command: command.clone(), tail }),
                OnTip::Stopped => return Ok(GateEnd::Cancelled),
                OnTip::Fails { tip, .. } if self.settings.allow_failing_gates => {
                    let (command, integration, tip) = (command.clone(), integration.to_owned(), tip.to_string());
                    log_record(log, Record::GateFailsOnBase { command, integration, tip });
                }
                OnTip::Fails { tip, tail } => {
                    let (command, integration) = (command.clone(), integration.to_owned());
                    return Ok(GateEnd::OnBase(FailsOnBase { command, integration, tip, tail }));
                }
            }
        }
        Ok(GateEnd::Passed)
    }

    /// Runs one gate command in `dir` with `env`: `Some(None)` passed,
    /// `Some(tail)` failed, `None` stopped.
    async fn run_gate(
        &self,
        command: &str,
        dir: &std::path::Path,
        env: &Env,
        log: &mut LogWriter,
        cancel: &CancellationToken,
    ) -> Result<Option<Option<String>>, EngineError> {
        let config = &self.settings.config;
        let command = [command.to_owned()];
        let one = Commands {
            step: Step::Gate,
            commands: &command,
            dir,
            env,
            timeout: config.gates.timeout,
            grace: config.run.grace,
            sandbox: self.settings.sandbox.as_ref(),
        };
        Ok(match crate::round::commands(one, log, cancel).await? {
            CommandsEnd::Passed => Some(None),
            CommandsEnd::Failed { tail, .. } => Some(Some(tail)),
            CommandsEnd::Cancelled => None,
        })
    }

    /// How `command` fares on `integration`'s tip: known, or run there in
    /// a worktree of this process's, one look at a time. `lent`: the
    /// environment of the attempt that asks, for a look that finds no
    /// block of ports free (see `crate::ports`).
    async fn on_tip(
        &self,
        integration: &str,
        command: &str,
        lent: Option<&Env>,
        cancel: &CancellationToken,
    ) -> Result<OnTip, EngineError> {
        let Some(tip) = self.git(|r| r.rev_parse(&branch_ref(integration)))? else {
            return Ok(OnTip::Passes);
        };
        let at = self.git(|r| r.tree_of(&tip))?;
        let _one = tokio::select! {
            one = self.verdicts.looking.lock() => one,
            () = cancel.cancelled() => return Ok(OnTip::Stopped),
        };
        if self.verdicts.get(&at, command).is_none() {
            let dir = self.layout.baseline(self.pid);
            self.drop_baseline_tree(&dir)?;
            let Some(look) = self.look_env(lent, cancel).await? else {
                return Ok(OnTip::Stopped);
            };
            let looked = self.look_at(&tip, &at, &dir, &look.env, cancel).await;
            self.end_look(look).await?;
            self.drop_baseline_tree(&dir)?;
            if !looked? {
                return Ok(OnTip::Stopped);
            }
        }
        Ok(match self.verdicts.get(&at, command).flatten() {
            None => OnTip::Passes,
            Some(tail) => OnTip::Fails { tip, tail },
        })
    }

    /// Gates `tip`, whose tree is `at`, in a worktree at `dir` made as a
    /// task's is, with `env`: every gate whose verdict on it is not known
    /// yet, so that its setup runs once. A setup that fails there is every
    /// such gate's failure. False when stopped.
    async fn look_at(
        &self,
        tip: &Oid,
        at: &Oid,
        dir: &std::path::Path,
        env: &Env,
        cancel: &CancellationToken,
    ) -> Result<bool, EngineError> {
        let mut log = LogWriter::open(self.layout.baseline_log(self.pid))?;
        let tree = self.worktree_git(|r| r.worktree_register_detached(dir, tip))?;
        self.git(|r| r.worktree_checkout(&tree))?;
        let unknown: Vec<&String> =
            self.settings.config.gates.commands.iter().filter(|c| self.verdicts.get(at, c).is_none()).collect();
        match self.prepare(&tree, env, &mut log, cancel).await? {
            Prepared::Ready => {}
            Prepared::Cancelled => return Ok(false),
            Prepared::Failed { why, .. } => {
                for command in unknown {
                    self.verdicts.keep(at, command, Some(why.clone()));
                }
                return Ok(true);
            }
        }
        for command in unknown {
            let Some(failed) = self.run_gate(command, dir, env, &mut log, cancel).await? else {
                return Ok(false);
            };
            self.verdicts.keep(at, command, failed);
        }
        Ok(true)
    }

    fn drop_baseline_tree(&self, dir: &std::path::Path) -> Result<(), EngineError> {
        self.git(|r| r.worktree_discard(dir))?;
        self.worktree_git(|r| r.worktree_forget(dir))
    }

    /// Before any agent starts: every gate on each of `integrations`' tips
    /// (branch names). The first that fails there, unless failing gates are
    /// allowed; with them, each is said once.
    pub(crate) async fn check(
        &self,
        integrations: &[String],
        cancel: &CancellationToken,
    ) -> Result<Option<FailsOnBase>, EngineError> {
        for integration in integrations {
            for command in &self.settings.config.gates.commands {
                match self.on_tip(integration, command, None, cancel).await? {
                    OnTip::Passes => {}
                    OnTip::Stopped => return Ok(None),
                    OnTip::Fails { tip, tail } => {
                        let fails =
                            FailsOnBase { command: command.clone(), integration: integration.clone(), tip, tail };
                        if !self.settings.allow_failing_gates {
                            return Ok(Some(fails));
                        }
                        self.settings.notices.say(&format!(
                            "gate `{command}` already fails on {integration} at {}; with --allow-failing-gates, \
                             its failures that the branch shares are not held against tasks",
                            fails.tip.short()
                        ));
                    }
                }
            }
        }
        Ok(None)
    }
}
