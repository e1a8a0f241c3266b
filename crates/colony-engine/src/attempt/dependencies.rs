//! What the tasks an attempt's task depends on did, for its agent's
//! prompt and its `view_plan` tool: each one's title, the files its merge
//! brought in and what its agent said when it was done, so that the agent
//! builds on that work instead of finding it out again.

use colony_agents::LogWriter;
use colony_agents::cut::cut_middle;
use colony_git::Oid;
use colony_store::Store;

use colony_core::TaskSpec;

use super::Attempt;
use crate::base::Base;
use crate::error::EngineError;
use crate::prompts::Dependency;
use crate::round::log_note;

/// The most of an agent's final message that is kept, and told to the
/// tasks that depend on its task.
pub(crate) const MAX_ANSWER: usize = 2000;

/// `answer` as kept: trimmed, and bounded by [`MAX_ANSWER`]; `None` when
/// the agent said nothing.
pub(crate) fn kept_answer(answer: &str) -> Option<String> {
    let answer = answer.trim();
    (!answer.is_empty()).then(|| cut_middle(answer, MAX_ANSWER).into_owned())
}

impl<S: Store + 'static> Attempt<'_, S> {
    /// Each dependency of the task as its prompt tells it, in the plan's
    /// order. The files of one git cannot list are left out, with a note
    /// in the log: the prompt still goes out.
    pub(crate) async fn dependencies(&self, log: &mut LogWriter) -> Result<Vec<Dependency>, EngineError> {
        self.inner.base.dependencies(self.spec(), &mut |note| log_note(log, note)).await
    }
}

impl<S: Store + 'static> Base<S> {
    /// Each of `spec`'s dependencies as an agent is told it, in the plan's
    /// order: its title, the files its merge brought in, and what its agent
    /// said when it was done. The files of one git cannot list are left
    /// out, and `note` is told why.
    pub(crate) async fn dependencies(
        &self,
        spec: &TaskSpec,
        note: &mut (dyn FnMut(String) + Send),
    ) -> Result<Vec<Dependency>, EngineError> {
        let mut out = Vec::new();
        for id in &spec.deps {
            let Some(detail) = self.store.task(id.as_str()).await? else { continue };
            let merged = self.store.merge_commits(id).await?.pop();
            let answer = merged.as_ref().and_then(|(attempt, _)| {
                let record = detail.attempts.iter().find(|a| a.attempt == *attempt)?;
                record.answer.clone()
            });
            let mut files = match merged.as_ref().and_then(|(_, commit)| Oid::parse(commit)) {
                Some(commit) => match self.git(|r| r.changed_paths(&commit)) {
                    Ok(files) => files,
                    Err(e) => {
                        note(format!("the files dependency {id} changed are not told: {e}"));
                        Vec::new()
                    }
                },
                None => Vec::new(),
            };
            let more_files = files.len().saturating_sub(Dependency::MAX_FILES);
            files.truncate(Dependency::MAX_FILES);
            out.push(Dependency { id: id.to_string(), title: detail.spec.title, files, more_files, answer });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_kept_trimmed_and_bounded() {
        assert_eq!(kept_answer("  \n "), None, "an agent that said nothing");
        assert_eq!(kept_answer("\nAdded the users table.\n").as_deref(), Some("Added the users table."));
        let long = format!("{}{}", "a".repeat(MAX_ANSWER), "z".repeat(MAX_ANSWER));
        let kept = kept_answer(&long).unwrap();
        assert!(kept.len() < MAX_ANSWER + 40, "{} bytes kept", kept.len());
        assert!(kept.starts_with('a') && kept.ends_with('z') && kept.contains("bytes cut"), "its head and tail");
    }
}
