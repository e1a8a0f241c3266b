//! The follow-up tasks an attempt's agent proposes by writing
//! `.colony/followups.yaml` in its worktree: taken out after each of its
//! rounds (so they are never committed) and kept with the attempt, to join
//! the plan when its work merges (`colony_core::plan::judge` decides what
//! joins, in the store's write that completes the task).

use std::path::Path;

use colony_agents::LogWriter;
use colony_core::input::read_limited;
use colony_core::plan::{FOLLOWUPS_FILE, MAX_FOLLOWUPS_BYTES, Proposed};
use colony_store::Store;

use super::Attempt;
use crate::error::EngineError;
use crate::round::log_note;

impl<S: Store + 'static> Attempt<'_, S> {
    /// Takes the file of follow-ups out of the worktree, if the agent wrote
    /// one, keeps what it proposes with the attempt, and notes in the log
    /// what would become of it. A file that cannot be read is removed with
    /// a note; it never fails the attempt.
    ///
    /// Nothing is read or removed through a link: an agent that made
    /// `.colony` (or the file) a link to a place outside its worktree, the
    /// user's checkout say, must not have colony delete or read a file there.
    pub(crate) async fn take_followups(&self, log: &mut LogWriter) -> Result<(), EngineError> {
        let dir = self.worktree().join(FOLLOWUPS_FILE).parent().map(Path::to_path_buf).unwrap_or_default();
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                log_note(log, format!("{} is not a directory; no follow-up is read from it", dir.display()));
                return Ok(());
            }
            Err(_) => return Ok(()),
        }
        let path = self.worktree().join(FOLLOWUPS_FILE);
        let read = match std::fs::symlink_metadata(&path) {
            Err(_) => return Ok(()),
            Ok(meta) if meta.is_symlink() => Err(colony_core::input::ReadError::NotRegular { kind: "a symbolic link" }),
            Ok(_) => read_limited(&path, MAX_FOLLOWUPS_BYTES),
        };
        let removed = match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
        if let Err(e) = removed {
            log_note(log, format!("{FOLLOWUPS_FILE} could not be removed ({e}); it is committed with the work"));
        }
        let text = match read {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                log_note(log, format!("{FOLLOWUPS_FILE} was not read ({e}); it is removed and nothing is proposed"));
                return Ok(());
            }
        };
        let settings = &self.inner.settings.config;
        let proposed = Proposed::new(text, &settings.plan, &settings.run.integration_branch);
        let store = &self.inner.store;
        let Ok(judged) = self.fenced(store.record_followups(&self.claim.task, self.claim.attempt, &proposed)).await?
        else {
            return Ok(());
        };
        let then = match proposed.mode {
            colony_core::config::Followups::Approve => "they wait for a person's approval once this work merges",
            _ => "they join the plan once this work merges",
        };
        if !judged.added.is_empty() {
            let ids: Vec<&str> = judged.added.iter().map(|id| id.as_str()).collect();
            log_note(log, format!("the agent proposes follow-ups {}: {then}", ids.join(", ")));
        }
        if !judged.dropped.is_empty() {
            log_note(log, format!("follow-ups not taken: {}", judged.dropped.join("; ")));
        }
        Ok(())
    }
}
