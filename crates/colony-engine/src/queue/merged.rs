//! What the integration branch itself says is merged.
//!
//! Every merge commit colony makes names its task in two trailers,
//! `Colony-Task: <id>` and `Colony-Spec: <digest of the task's spec>`.
//! Before an attempt works, and again under the merge lock before it
//! merges, colony reads them off the branch's first-parent line: a task
//! whose work is in the branch already is completed, never merged again.
//! That covers a crash between moving the branch and telling the store,
//! another host's merge on a shared remote, and a store that was lost and
//! started afresh. A task changed since it merged (`colony add --force`)
//! has another digest, and is merged again, as its user asked.
//!
//! The walk stops at the first commit without the trailers: the
//! integration branch's base, where the user's history begins. What a walk
//! learnt is kept per branch with the tip it was read at, so the next look
//! reads only the commits that came since, and a merge of this process
//! adds its own without a look at all.

use std::collections::HashMap;

use colony_core::TaskSpec;
use colony_git::{GitError, Oid, Repo};

const TASK_TRAILER: &str = "Colony-Task";
const SPEC_TRAILER: &str = "Colony-Spec";

/// Commits read per `git log`.
const PAGE: usize = 64;

/// The message of the merge commit of `spec`'s task: its subject for
/// people (`git log --first-parent` reads one merge per task), its
/// trailers for [`MergedIndex`].
pub(crate) fn merge_message(spec: &TaskSpec) -> String {
    // A title is one line; anything after a line break could pose as a
    // trailer.
    let title = spec.title.lines().next().unwrap_or_default();
    format!(
        "Merge task {id}: {title}\n\n{TASK_TRAILER}: {id}\n{SPEC_TRAILER}: {digest}\n",
        id = spec.id,
        digest = spec.digest()
    )
}

/// The merges each integration branch holds, as far as this process has
/// read them.
#[derive(Default)]
pub(crate) struct MergedIndex {
    branches: std::sync::Mutex<HashMap<String, Known>>,
}

/// One branch's merges, read down from `tip`.
struct Known {
    tip: Oid,
    /// (task, spec digest) → the merge commit.
    merges: HashMap<(String, String), Oid>,
}

impl MergedIndex {
    /// The merge commit on `tip`'s first-parent line that merged `spec`'s
    /// task as it is specified now, if there is one.
    pub(crate) fn find(&self, repo: &Repo, branch: &str, tip: &Oid, spec: &TaskSpec) -> Result<Option<Oid>, GitError> {
        let mut branches = self.branches.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let known = match branches.remove(branch) {
            Some(known) if known.tip == *tip => known,
            other => read(repo, tip, other)?,
        };
        let found = known.merges.get(&(spec.id.to_string(), spec.digest())).cloned();
        branches.insert(branch.to_owned(), known);
        Ok(found)
    }

    /// This process moved `branch` from `from` to `to` with `merged`
    /// (each task's spec and its merge commit): what is known of the
    /// branch follows without reading it, if it was read at `from`.
    pub(crate) fn moved(&self, branch: &str, from: &Oid, to: &Oid, merged: &[(&TaskSpec, &Oid)]) {
        let mut branches = self.branches.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(known) = branches.get_mut(branch).filter(|k| k.tip == *from) {
            known.tip = to.clone();
            for (spec, commit) in merged {
                known.merges.insert((spec.id.to_string(), spec.digest()), (*commit).clone());
            }
        }
    }
}

/// Reads the merges on the first-parent line down from `tip`, until the
/// first commit that is not colony's or the tip of `known`, whose merges
/// are then kept.
fn read(repo: &Repo, tip: &Oid, known: Option<Known>) -> Result<Known, GitError> {
    let mut merges = HashMap::new();
    let mut skip = 0;
    loop {
        let page = repo.first_parent_log(tip, skip, PAGE)?;
        for commit in &page {
            if let Some(known) = known.as_ref().filter(|k| k.tip == commit.commit) {
                merges.extend(known.merges.iter().map(|(k, v)| (k.clone(), v.clone())));
                return Ok(Known { tip: tip.clone(), merges });
            }
            match (commit.trailer(TASK_TRAILER), commit.trailer(SPEC_TRAILER)) {
                (Some(task), Some(spec)) => {
                    merges.entry((task.to_owned(), spec.to_owned())).or_insert_with(|| commit.commit.clone());
                }
                _ => return Ok(Known { tip: tip.clone(), merges }),
            }
        }
        if page.len() < PAGE {
            return Ok(Known { tip: tip.clone(), merges });
        }
        skip += PAGE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use colony_core::TaskId;

    #[test]
    fn the_message_has_one_subject_line_and_the_trailers() {
        let mut spec = TaskSpec::new(TaskId::new("a").unwrap(), "A title\n\nColony-Task: b", "p");
        let message = merge_message(&spec);
        assert_eq!(message, format!("Merge task a: A title\n\nColony-Task: a\nColony-Spec: {}\n", spec.digest()));
        spec.prompt = "changed".into();
        assert_ne!(merge_message(&spec), message, "another spec, another digest");
    }
}
