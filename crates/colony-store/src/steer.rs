//! A person steering the work: one request type and one function that
//! carries it out, whichever door it came by (the CLI, the dashboard's
//! API), so that what is checked, what is refused and with which words,
//! and which events are written are the same for both.

use colony_core::{Event, TaskId};

use crate::error::StoreError;
use crate::store::Store;
use crate::types::Rescued;

/// What a person asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Failed or cancelled tasks go back to the queue.
    Retry(Vec<TaskId>),
    /// The tasks are cancelled; their dependents become blocked.
    Cancel(Vec<TaskId>),
    /// The running attempts end now; each task gets a new try while it
    /// has attempts left.
    Kill(Vec<TaskId>),
    /// The work of a task awaiting approval goes on to the merge.
    Approve(TaskId),
    /// The work of a task awaiting approval goes back to its agent.
    Reject { task: TaskId, feedback: String },
    /// The question of a task awaiting input is answered: its agent goes
    /// on with the answer.
    Answer { task: TaskId, text: String },
    /// The run in this process stops: drains, or with `now` stops every
    /// agent at once.
    Stop { now: bool },
}

impl Request {
    /// The verb, as commands and routes name it.
    pub fn verb(&self) -> &'static str {
        match self {
            Request::Retry(_) => "retry",
            Request::Cancel(_) => "cancel",
            Request::Kill(_) => "kill",
            Request::Approve(_) => "approve",
            Request::Reject { .. } => "reject",
            Request::Answer { .. } => "answer",
            Request::Stop { .. } => "stop",
        }
    }

    /// The tasks it names, each once.
    pub fn tasks(&self) -> Vec<TaskId> {
        let named: &[TaskId] = match self {
            Request::Retry(ids) | Request::Cancel(ids) | Request::Kill(ids) => ids,
            Request::Approve(task) | Request::Reject { task, .. } | Request::Answer { task, .. } => {
                std::slice::from_ref(task)
            }
            Request::Stop { .. } => &[],
        };
        let mut ids: Vec<TaskId> = Vec::with_capacity(named.len());
        for id in named {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        ids
    }
}

/// The longest answer a person may give an agent's question.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The run a [`Request::Stop`] acts on: the one in this process.
pub trait RunControl: Sync {
    /// No new claims; running attempts may finish.
    fn drain(&self);
    /// Every agent stopped at once; their tasks go back to the queue.
    fn stop_now(&self);
}

/// What a request did.
#[derive(Debug, Clone, PartialEq)]
pub struct Steered {
    /// The events written since the request began: its own, with the
    /// knock-on effects on dependents (and whatever another process wrote
    /// meanwhile, which is news about the same tasks' neighbours).
    pub events: Vec<Event>,
    /// The attempts a kill ended.
    pub killed: Vec<Rescued>,
}

/// Why a request changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum SteerError {
    /// The request itself is malformed: an empty feedback, no task named.
    #[error("{0}")]
    Bad(String),
    #[error("no task `{0}`")]
    NoSuchTask(String),
    /// The task's state does not allow it.
    #[error("{0}; nothing was changed")]
    NotAllowed(String),
    #[error(
        "no run in this process; stop the `colony run` itself (Ctrl-C in its terminal), or serve with `colony run --serve`"
    )]
    NoRun,
    #[error("could not {verb}")]
    Store {
        verb: &'static str,
        #[source]
        source: StoreError,
    },
}

/// Carries out `request` on `store` (a stop on `run`, the run in this
/// process if there is one): every named task's change in one
/// transaction, or none.
pub async fn steer<S: Store>(
    store: &S,
    run: Option<&dyn RunControl>,
    request: &Request,
) -> Result<Steered, SteerError> {
    let verb = request.verb();
    let ids = request.tasks();
    let nothing = Steered { events: Vec::new(), killed: Vec::new() };
    match request {
        Request::Stop { now } => {
            let run = run.ok_or(SteerError::NoRun)?;
            if *now {
                run.stop_now()
            } else {
                run.drain()
            }
            return Ok(nothing);
        }
        Request::Reject { feedback, .. } if feedback.trim().is_empty() => {
            return Err(SteerError::Bad("the feedback is empty; say what the agent should change".into()));
        }
        Request::Answer { text, .. } if text.trim().is_empty() => {
            return Err(SteerError::Bad("the answer is empty; say what the agent asked for".into()));
        }
        Request::Answer { text, .. } if text.len() > MAX_ANSWER_BYTES => {
            return Err(SteerError::Bad(format!(
                "the answer is {} bytes; at most {MAX_ANSWER_BYTES} are taken to an agent",
                text.len()
            )));
        }
        _ if ids.is_empty() => return Err(SteerError::Bad(format!("{verb} needs at least one task"))),
        _ => {}
    }
    let refused = |source: StoreError| match source {
        StoreError::NoSuchTask(id) => SteerError::NoSuchTask(id),
        StoreError::NotAllowed(why) => SteerError::NotAllowed(why),
        source => SteerError::Store { verb, source },
    };
    let before = store.last_seq().await.map_err(refused)?;
    let killed = match request {
        Request::Retry(_) => store.retry(&ids).await.map(|()| Vec::new()),
        Request::Cancel(_) => store.cancel(&ids).await.map(|()| Vec::new()),
        Request::Kill(_) => store.kill(&ids).await,
        Request::Approve(task) => store.decide(task, None).await.map(|()| Vec::new()),
        Request::Reject { task, feedback } => store.decide(task, Some(feedback)).await.map(|()| Vec::new()),
        Request::Answer { task, text } => store.answer(task, text).await.map(|()| Vec::new()),
        Request::Stop { .. } => Ok(Vec::new()),
    }
    .map_err(refused)?;
    let events = store.events(before, usize::MAX).await.map_err(refused)?;
    Ok(Steered { events, killed })
}
