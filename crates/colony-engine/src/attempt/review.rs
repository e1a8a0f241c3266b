//! The review step: once an attempt's gates pass, each reviewer reads the
//! task, its acceptance criteria, the diff against the integration tip and
//! the last round's findings, and answers with a verdict
//! ([`colony_core::review`]). The policy makes one decision of their
//! verdicts; changes asked for go back to the builder.
//!
//! A reviewer runs in the attempt's worktree, so that it can read the code
//! around the diff; whatever it changes there is undone. An answer that
//! does not read is asked for again, and is never taken as approval.

use colony_core::record::Record;
use colony_core::review::{ANSWER_SCHEMA, Issue, Policy, ReviewAnswer, Verdict, read_answer};
use colony_core::{ReviewOutcome, Usage};
use colony_git::{Oid, TreeState, branch_ref};
use colony_store::Store;

use super::{Attempt, ChosenAgent, Ending, Role, Spoken, one_line};
use crate::error::EngineError;
use crate::round::{RoundEnd, log_note, log_record};

/// Times a reviewer is asked in one round before its silence fails the
/// attempt.
const REVIEW_TRIES: u32 = 3;

/// Bytes of diff a reviewer is shown whole; a larger diff is summarized.
pub(crate) const DIFF_BUDGET: usize = 60_000;

/// The reviewers of one task and how their verdicts combine.
pub(crate) struct Reviewers {
    pub agents: Vec<ChosenAgent>,
    pub policy: Policy,
}

/// How a review round ended.
pub(crate) enum ReviewEnd {
    Approved,
    /// Changes asked for: who asked, and their findings as the builder
    /// will read them.
    NeedsChanges {
        asked: Vec<String>,
        issues: String,
    },
    Ends(Ending),
}

impl<S: Store + 'static> Attempt<'_, S> {
    /// One review round: every reviewer answers (asked again when its
    /// answer does not read), each answer is kept, the policy decides.
    pub(crate) async fn review(
        &self,
        reviewers: &Reviewers,
        round: u32,
        findings: Option<&str>,
        start: &Oid,
        integration: &str,
        log: &mut colony_agents::LogWriter,
    ) -> Result<ReviewEnd, EngineError> {
        let head = self.task_tip()?;
        let tip = self.inner.git(|r| r.rev_parse(&branch_ref(integration)))?.unwrap_or_else(|| start.clone());
        let base = self.inner.git(|r| r.merge_base(&tip, &head))?.unwrap_or_else(|| start.clone());
        let diff = self.inner.git(|r| r.diff(&base, &head))?;
        let vars = crate::prompts::Reviewer {
            task: crate::prompts::TaskVars::of(self.spec(), self.claim.plan.as_str()),
            diff: diff_for_review(&diff, DIFF_BUDGET, &self.spec().files).trim_end().to_owned(),
            integration: integration.to_owned(),
            findings: findings.map(|f| f.trim_end().to_owned()),
        };
        let prompt = self.inner.settings.prompts.render(crate::prompts::Role::Reviewer, &vars)?;
        let mut answers: Vec<(String, ReviewAnswer)> = Vec::new();
        for reviewer in &reviewers.agents {
            let mut tries = 0;
            let answer = loop {
                tries += 1;
                log_record(log, Record::Review { round, reviewer: reviewer.name.clone() });
                let make_run = || {
                    let mut run = self.agent_run(reviewer, prompt.clone());
                    run.output_schema = Some(ANSWER_SCHEMA.to_owned());
                    run
                };
                let spoken = self.run_agent(reviewer, Role::Reviewer, make_run, log).await?;
                let branch = self.branch();
                let moved = match self.inner.git(|r| r.inspect(self.tree(), &branch))? {
                    TreeState::OnBranch => false,
                    TreeState::OffBranch { .. } => {
                        self.inner.git(|r| r.worktree_attach(self.tree(), &branch))?;
                        true
                    }
                    TreeState::Broken(how) => {
                        return Ok(ReviewEnd::Ends(Ending::Failed(format!(
                            "the reviewer `{}` broke the worktree: {how}",
                            reviewer.name
                        ))));
                    }
                };
                if self.inner.git(|r| r.restore(self.tree(), &head))? || moved {
                    log_note(log, format!("the reviewer `{}` changed the worktree; undone", reviewer.name));
                }
                let outcome = match spoken {
                    Spoken::Ends(ending) => return Ok(ReviewEnd::Ends(ending)),
                    Spoken::Finished(outcome) => outcome,
                };
                let spent = outcome.usage;
                let read = match outcome.end {
                    RoundEnd::Failed { reason, .. } => Err(format!("the reviewer failed: {}", one_line(&reason))),
                    _ => read_answer(&outcome.answer),
                };
                match read {
                    Ok(answer) => {
                        let answered = ReviewOutcome::Answered { answer: answer.clone() };
                        self.keep_review(round, &reviewer.name, answered, spent).await?;
                        break answer;
                    }
                    Err(reason) => {
                        log_note(log, format!("`{}` gave no verdict ({reason})", reviewer.name));
                        let none = ReviewOutcome::NoVerdict { reason: reason.clone() };
                        self.keep_review(round, &reviewer.name, none, spent).await?;
                        if tries == REVIEW_TRIES {
                            return Ok(ReviewEnd::Ends(Ending::Failed(format!(
                                "the reviewer `{}` gave no verdict in {REVIEW_TRIES} tries: {reason}",
                                reviewer.name
                            ))));
                        }
                    }
                }
            };
            answers.push((reviewer.name.clone(), answer));
        }
        let verdicts: Vec<Verdict> = answers.iter().map(|(_, a)| a.verdict).collect();
        if reviewers.policy.approves(&verdicts) {
            log_record(log, Record::Reviewed { round, approved: true, asked: Vec::new() });
            return Ok(ReviewEnd::Approved);
        }
        let asked: Vec<&(String, ReviewAnswer)> =
            answers.iter().filter(|(_, a)| a.verdict == Verdict::NeedsChanges).collect();
        let names: Vec<String> = asked.iter().map(|(n, _)| n.clone()).collect();
        log_record(log, Record::Reviewed { round, approved: false, asked: names.clone() });
        Ok(ReviewEnd::NeedsChanges { asked: names, issues: findings_text(&asked) })
    }

    async fn keep_review(
        &self,
        round: u32,
        reviewer: &str,
        outcome: ReviewOutcome,
        spent: Usage,
    ) -> Result<(), EngineError> {
        let task = &self.claim.task;
        match self.inner.store.record_review(task, self.claim.attempt, round, reviewer, outcome, spent).await {
            Ok(()) | Err(colony_store::StoreError::NotAllowed(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The findings of the reviewers who asked for changes, as the builder
/// (and the next round's reviewers) read them.
fn findings_text(asked: &[&(String, ReviewAnswer)]) -> String {
    let mut text = String::new();
    for (name, answer) in asked {
        text.push_str(&format!("Review by {name}:\n"));
        if let Some(summary) = answer.summary.as_deref().filter(|s| !s.trim().is_empty()) {
            text.push_str(&format!("{}\n", summary.trim()));
        }
        for issue in &answer.issues {
            text.push_str(&format!("- {}\n", issue_line(issue)));
        }
    }
    text
}

/// `src/a.rs:12 [high] the message`.
fn issue_line(issue: &Issue) -> String {
    let place = match (&issue.file, issue.line) {
        (Some(f), Some(l)) => format!("{f}:{l} "),
        (Some(f), None) => format!("{f} "),
        _ => String::new(),
    };
    let severity = issue.severity.as_deref().map(|s| format!("[{s}] ")).unwrap_or_default();
    format!("{place}{severity}{}", issue.message.trim())
}

/// The diff a reviewer reads: whole when it fits in `budget` bytes. A
/// larger one lists every file with its size, then as many whole hunks as
/// fit — the files the task declares first, then the smaller changes —
/// and ends by naming what was left out. Nothing is cut mid-line.
pub(crate) fn diff_for_review(diff: &str, budget: usize, declared: &[String]) -> String {
    if diff.len() <= budget {
        return diff.to_owned();
    }
    let mut files = split_files(diff);
    let mut out = format!(
        "(The diff is {} bytes, more than the {budget} shown here: every file is listed, then the hunks that \
         fit; what was left out is named at the end. Read the files in the worktree for the rest.)\n\nFiles:\n",
        diff.len()
    );
    for f in &files {
        out.push_str(&format!("  {} (+{} -{})\n", f.path, f.added, f.removed));
    }
    out.push('\n');
    let relevant = |f: &FileDiff| {
        declared.iter().any(|g| colony_core::files::overlap(std::slice::from_ref(g), std::slice::from_ref(&f.path)))
    };
    files.sort_by_key(|f| (!relevant(f), f.size()));
    let mut left_out = Vec::new();
    for f in &files {
        if out.len() + f.header.len() > budget {
            left_out.push(format!("{} (all of it)", f.path));
            continue;
        }
        out.push_str(f.header);
        for hunk in &f.hunks {
            if out.len() + hunk.len() > budget {
                let at = hunk.lines().next().unwrap_or("");
                left_out.push(format!("{}: {at} ({} lines)", f.path, hunk.lines().count()));
                continue;
            }
            out.push_str(hunk);
        }
    }
    if !left_out.is_empty() {
        out.push_str("\n(Left out:\n");
        for item in left_out {
            out.push_str(&format!("  {item}\n"));
        }
        out.push_str(")\n");
    }
    out
}

/// One file's part of a diff: its header lines, then its hunks, each
/// ending with a newline.
struct FileDiff<'a> {
    path: String,
    header: &'a str,
    hunks: Vec<&'a str>,
    added: usize,
    removed: usize,
}

impl FileDiff<'_> {
    fn size(&self) -> usize {
        self.header.len() + self.hunks.iter().map(|h| h.len()).sum::<usize>()
    }
}

fn split_files(diff: &str) -> Vec<FileDiff<'_>> {
    let mut starts: Vec<usize> = Vec::new();
    let mut offset = 0;
    for line in diff.split_inclusive('\n') {
        if line.starts_with("diff --git ") {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts.push(diff.len());
    starts
        .windows(2)
        .map(|w| {
            let part = &diff[w[0]..w[1]];
            let mut hunk_starts = Vec::new();
            let mut at = 0;
            for line in part.split_inclusive('\n') {
                if line.starts_with("@@") {
                    hunk_starts.push(at);
                }
                at += line.len();
            }
            let header_end = hunk_starts.first().copied().unwrap_or(part.len());
            hunk_starts.push(part.len());
            let hunks: Vec<&str> = hunk_starts.windows(2).map(|h| &part[h[0]..h[1]]).collect();
            let count =
                |prefix: char| hunks.iter().flat_map(|h| h.lines().skip(1)).filter(|l| l.starts_with(prefix)).count();
            let path = part
                .lines()
                .next()
                .and_then(|l| l.rsplit_once(" b/"))
                .map(|(_, p)| p.to_owned())
                .unwrap_or_else(|| "?".to_owned());
            FileDiff { path, header: &part[..header_end], added: count('+'), removed: count('-'), hunks }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, hunks: &[&str]) -> String {
        let mut text = format!("diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n");
        for h in hunks {
            text.push_str(h);
        }
        text
    }

    #[test]
    fn a_small_diff_is_shown_whole() {
        let diff = file("a.txt", &["@@ -1 +1 @@\n-a\n+b\n"]);
        assert_eq!(diff_for_review(&diff, 1000, &[]), diff);
    }

    #[test]
    fn a_large_diff_lists_every_file_keeps_whole_hunks_and_names_what_is_left_out() {
        let big = format!("@@ -1,200 +1,200 @@\n{}", "+generated line of output\n".repeat(200));
        let small = "@@ -3 +3 @@\n-old\n+new\n";
        let diff = [
            file("gen/data.json", &[&big]),
            file("src/lib.rs", &[small, "@@ -40 +40 @@\n-x\n+y\n"]),
            file("docs/notes.md", &[small]),
        ]
        .concat();
        let shown = diff_for_review(&diff, 1200, &["src/**".to_owned()]);
        assert!(shown.len() <= 1200 + 200, "near the budget: {}", shown.len());
        for path in ["gen/data.json (+200 -0)", "src/lib.rs (+2 -2)", "docs/notes.md (+1 -1)"] {
            assert!(shown.contains(path), "every file is listed: {shown}");
        }
        let src = shown.find("+++ b/src/lib.rs").expect("the declared file is shown");
        let docs = shown.find("+++ b/docs/notes.md").expect("a small file fits too");
        assert!(src < docs, "declared files come first");
        assert!(shown.contains("-x\n+y\n"), "whole hunks");
        assert!(shown.contains("Left out:\n  gen/data.json: @@ -1,200 +1,200 @@ (201 lines)"), "{shown}");
        assert!(shown.lines().all(|l| !l.starts_with("+generated") || diff.contains(l)), "never cut mid-line");
    }

    #[test]
    fn findings_read_as_a_list_under_each_reviewer() {
        let answer = ReviewAnswer {
            verdict: Verdict::NeedsChanges,
            issues: vec![
                Issue {
                    file: Some("src/a.rs".into()),
                    line: Some(12),
                    severity: Some("high".into()),
                    message: "panics on empty input".into(),
                },
                Issue { file: None, line: None, severity: None, message: "add a test".into() },
            ],
            summary: Some("Close, but not yet.".into()),
        };
        let named = ("codex".to_owned(), answer);
        assert_eq!(
            findings_text(&[&named]),
            "Review by codex:\nClose, but not yet.\n- src/a.rs:12 [high] panics on empty input\n- add a test\n"
        );
    }
}
