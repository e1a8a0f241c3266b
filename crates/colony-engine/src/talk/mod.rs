//! Task agents talking back: each attempt's agent gets colony's MCP server
//! (`colony mcp attempt`, given to its CLI by its adapter), through which
//! it reports how far it is, proposes follow-up tasks, and asks a person a
//! question (the attempt then ends waiting for the answer).
//!
//! The server the CLI starts is a pipe: it connects to this process's
//! socket, sends the attempt's key, and passes the MCP session through.
//! The session is served here, by the process that runs the attempt:
//! a confined agent's children cannot write the store, and only this
//! process knows which keys are live. A key is made when the attempt
//! begins and forgotten when it ends ([`Voice`]); a call with a key that
//! is not live, or for an attempt that lost its lease, is refused.
//!
//! [`tools`] decides what each call asks for (pure); [`server`] serves
//! the session.

mod server;
mod tools;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use colony_agents::TalkServer;
use colony_core::TaskId;

pub(crate) use server::serve;

/// The variables `colony mcp attempt` reads: the socket and the key.
pub const SOCKET_VAR: &str = "COLONY_TALK_SOCKET";
pub const KEY_VAR: &str = "COLONY_TALK_KEY";

/// The command that starts `colony mcp attempt`: what a CLI is told to
/// run. `None` in the settings: agents are given no server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalkCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// The attempt a key speaks for, and what its agent reported that its
/// log has not shown yet.
#[derive(Debug, Clone)]
pub(crate) struct Speaker {
    pub task: TaskId,
    pub attempt: u32,
    pub said: Said,
}

/// What the agent said in its round that the attempt has not taken yet:
/// progress reports for the log, which only the round writing it can add
/// to, and the question it asked a person.
#[derive(Debug, Clone, Default)]
pub(crate) struct Said(Arc<Mutex<Heard>>);

#[derive(Debug, Default)]
struct Heard {
    progress: Vec<String>,
    question: Option<String>,
    /// The round under way may end on a question: a builder's, not a
    /// resolver's in the middle of a merge.
    may_ask: bool,
}

/// Why a question was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotAsked {
    /// Nobody can be asked in this round.
    Closed,
    /// The round asked already.
    Asked,
}

impl Said {
    fn heard(&self) -> std::sync::MutexGuard<'_, Heard> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn push(&self, message: String) {
        self.heard().progress.push(message);
    }

    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.heard().progress)
    }

    /// A round begins: whether it may end on a question. A question left
    /// from an earlier round is dropped.
    pub(crate) fn open(&self, may_ask: bool) {
        let mut heard = self.heard();
        heard.may_ask = may_ask;
        heard.question = None;
    }

    /// Keeps the round's question, its first only.
    pub(crate) fn ask(&self, question: String) -> Result<(), NotAsked> {
        let mut heard = self.heard();
        match (heard.may_ask, &heard.question) {
            (false, _) => Err(NotAsked::Closed),
            (true, Some(_)) => Err(NotAsked::Asked),
            (true, None) => {
                heard.question = Some(question);
                Ok(())
            }
        }
    }

    /// The question the round asked, taken once; no more are taken.
    pub(crate) fn take_question(&self) -> Option<String> {
        let mut heard = self.heard();
        heard.may_ask = false;
        heard.question.take()
    }
}

/// The run's live keys and the socket their sessions come in on.
#[derive(Default)]
pub(crate) struct Talk {
    /// Set once the socket listens.
    socket: OnceLock<PathBuf>,
    speakers: Mutex<HashMap<String, Speaker>>,
}

impl Talk {
    /// The socket listens at `path`.
    pub(crate) fn listening(&self, path: PathBuf) {
        let _ = self.socket.set(path);
    }

    /// A key for the attempt, live until the [`Voice`] is dropped; `None`
    /// when the run gives agents no server.
    pub(crate) fn enter(&self, task: &TaskId, attempt: u32) -> Option<Voice<'_>> {
        let socket = self.socket.get()?.clone();
        let key = new_key()?;
        let speaker = Speaker { task: task.clone(), attempt, said: Said::default() };
        self.speakers.lock().unwrap_or_else(PoisonError::into_inner).insert(key.clone(), speaker.clone());
        Some(Voice { talk: self, key, socket, said: speaker.said })
    }

    /// The attempt `key` speaks for, while it is live.
    pub(crate) fn speaker(&self, key: &str) -> Option<Speaker> {
        self.speakers.lock().unwrap_or_else(PoisonError::into_inner).get(key).cloned()
    }
}

/// An attempt's live key.
pub(crate) struct Voice<'a> {
    talk: &'a Talk,
    key: String,
    socket: PathBuf,
    pub said: Said,
}

impl Voice<'_> {
    /// The server its agent's CLI is to start, its configuration files in
    /// `dir`.
    pub(crate) fn server(&self, command: &TalkCommand, dir: PathBuf) -> TalkServer {
        TalkServer {
            command: command.program.clone(),
            args: command.args.clone(),
            env: vec![
                (SOCKET_VAR.to_owned(), self.socket.display().to_string()),
                (KEY_VAR.to_owned(), self.key.clone()),
            ],
            dir,
        }
    }
}

impl Drop for Voice<'_> {
    fn drop(&mut self) {
        self.talk.speakers.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.key);
    }
}

/// A socket of this process's own, in the temporary directory (a path in
/// the repository could pass the 108 bytes a socket's path may have), that
/// only this user may connect to.
pub(crate) fn bind() -> std::io::Result<(PathBuf, tokio::net::UnixListener)> {
    use std::os::unix::fs::PermissionsExt;
    let name = format!("colony-talk-{}-{}.sock", std::process::id(), new_key().unwrap_or_default());
    let path = std::env::temp_dir().join(&name[..name.len().min(60)]);
    let listener = tokio::net::UnixListener::bind(&path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok((path, listener))
}

/// 128 random bits as hex; `None` when the system has no randomness to
/// give (then the attempt runs without a server).
fn new_key() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_speaks_for_its_attempt_while_it_lives() {
        let talk = Talk::default();
        let task = TaskId::new("a").unwrap();
        assert!(talk.enter(&task, 1).is_none(), "no socket, no key");
        talk.listening("/tmp/x.sock".into());
        let voice = talk.enter(&task, 2).unwrap();
        let other = talk.enter(&task, 3).unwrap();
        assert_ne!(voice.key, other.key);
        assert_eq!(voice.key.len(), 32);
        let speaker = talk.speaker(&voice.key).unwrap();
        assert_eq!((speaker.task.as_str(), speaker.attempt), ("a", 2));
        speaker.said.push("half way".into());
        assert_eq!(voice.said.take(), ["half way"]);
        assert!(voice.said.take().is_empty());
        assert_eq!(speaker.said.ask("q?".into()), Err(NotAsked::Closed), "no round is open");
        voice.said.open(true);
        assert_eq!(speaker.said.ask("Which table?".into()), Ok(()));
        assert_eq!(speaker.said.ask("And the index?".into()), Err(NotAsked::Asked));
        assert_eq!(voice.said.take_question().as_deref(), Some("Which table?"));
        assert_eq!(speaker.said.ask("late?".into()), Err(NotAsked::Closed), "the round has ended");
        voice.said.open(false);
        assert_eq!(speaker.said.ask("mid-merge?".into()), Err(NotAsked::Closed));
        assert_eq!(voice.said.take_question(), None);
        let command = TalkCommand { program: "/bin/colony".into(), args: vec!["mcp".into(), "attempt".into()] };
        let server = voice.server(&command, "/d".into());
        assert_eq!(server.env, [(SOCKET_VAR.into(), "/tmp/x.sock".into()), (KEY_VAR.into(), voice.key.clone())]);
        let key = voice.key.clone();
        drop(voice);
        assert!(talk.speaker(&key).is_none(), "forgotten when the attempt ends");
        assert!(talk.speaker(&other.key).is_some());
        assert!(talk.speaker("").is_none());
    }
}
