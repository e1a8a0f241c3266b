//! How an attempt ends, as the worker that ran it sees it: what the
//! attempt's machine, the merge queue and the review say, and what the
//! worker then tells the store.

/// How an attempt ended, as the worker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    Merged,
    Failed(String),
    /// The run is stopping: give the task back.
    Stopped,
    /// Another worker owns the task now; write nothing.
    LeaseLost,
    /// The checks passed and the work waits for a person's decision; the
    /// store knows already.
    AwaitingApproval,
    /// The agent asked a person a question; its work is kept and the
    /// task waits for the answer. The store knows already.
    AwaitingInput,
    /// The agent is not logged in, its key was refused or it reached a
    /// spend cap: no attempt can succeed until the user acts, so the task
    /// goes back unharmed, and the agent takes no more work in this run.
    AgentLocked {
        /// The agent, what the person must do, and what the agent said.
        why: String,
    },
    /// The disk holding the worktree is full: not the agent's failure,
    /// and no attempt can work until there is room (`room.rs`).
    NoRoom(String),
    /// A gate failed on the work and fails on the integration branch too
    /// (`baseline.rs`): not the agent's failure, and every task would meet
    /// it, so the task goes back and the run takes no new work.
    OnBase(String),
    /// No block of ports (`[worktree] ports`) is free: the attempt never
    /// started work, so the task goes back without counting a try.
    NoPorts(String),
}

/// The first line of a reason, for a one-line note.
pub(crate) fn one_line(text: &str) -> String {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned()
}

/// Awaits a store write fenced by an attempt: a lost lease is no error but
/// the attempt's end, after `lose_lease` has stopped it.
pub(crate) async fn fenced<T>(
    write: impl Future<Output = Result<T, colony_store::StoreError>>,
    lose_lease: impl FnOnce(),
) -> Result<Result<T, Ending>, crate::error::EngineError> {
    match write.await {
        Ok(v) => Ok(Ok(v)),
        Err(colony_store::StoreError::LeaseLost { .. }) => {
            lose_lease();
            Ok(Err(Ending::LeaseLost))
        }
        Err(e) => Err(e.into()),
    }
}
