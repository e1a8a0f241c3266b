//! A reviewer's verdict: what it must answer, how its answer is read, and
//! how several reviewers' verdicts make one decision.
//!
//! A reviewer answers with one JSON object (DESIGN.md, "Project config"):
//! `{"verdict":"approved"|"needs_changes","issues":[{"file","line",
//! "severity","message"}],"summary":"…"}`, `issues` and `summary` optional.
//! A `VERDICT: APPROVED` or `VERDICT: NEEDS_CHANGES` line is accepted
//! instead. Anything else is no verdict at all: never read as approval.

use serde::{Deserialize, Serialize};

/// What a reviewer decided about one round of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approved,
    NeedsChanges,
}

/// One finding of a reviewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    pub message: String,
}

/// A reviewer's whole answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewAnswer {
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<Issue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// How the verdicts of several reviewers make one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Every reviewer approves.
    #[default]
    All,
    /// More than half of them approve.
    Majority,
}

impl Policy {
    pub fn approves(self, verdicts: &[Verdict]) -> bool {
        let approved = verdicts.iter().filter(|v| **v == Verdict::Approved).count();
        match self {
            Policy::All => !verdicts.is_empty() && approved == verdicts.len(),
            Policy::Majority => approved * 2 > verdicts.len(),
        }
    }
}

/// The JSON Schema of [`ReviewAnswer`], for CLIs that can be held to one.
pub const ANSWER_SCHEMA: &str = r#"{"type":"object","additionalProperties":false,"required":["verdict","issues","summary"],"properties":{"verdict":{"type":"string","enum":["approved","needs_changes"]},"issues":{"type":"array","items":{"type":"object","additionalProperties":false,"required":["file","line","severity","message"],"properties":{"file":{"type":["string","null"]},"line":{"type":["integer","null"]},"severity":{"type":["string","null"]},"message":{"type":"string"}}}},"summary":{"type":"string"}}}"#;

/// Reads a reviewer's answer from what it said: the whole text as the JSON
/// object, else a JSON object within it (a fenced block, or prose around
/// it), else a `VERDICT:` line. The error says what was wrong, for the
/// retry and the log.
pub fn read_answer(text: &str) -> Result<ReviewAnswer, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the reviewer said nothing".into());
    }
    let mut json_problem = None;
    for candidate in json_candidates(text) {
        match serde_json::from_str::<ReviewAnswer>(candidate) {
            Ok(answer) => return Ok(answer),
            Err(e) if candidate.contains("\"verdict\"") => json_problem = Some(e.to_string()),
            Err(_) => {}
        }
    }
    if let Some(verdict) = verdict_line(text) {
        let summary = text.lines().filter(|l| verdict_of(l).is_none()).collect::<Vec<_>>().join("\n");
        let summary = summary.trim();
        return Ok(ReviewAnswer {
            verdict,
            issues: Vec::new(),
            summary: (!summary.is_empty()).then(|| summary.to_owned()),
        });
    }
    Err(match json_problem {
        Some(e) => format!("the reviewer's verdict does not read: {e}"),
        None => "the reviewer gave no verdict: no JSON object with `verdict` and no `VERDICT:` line".into(),
    })
}

/// The text itself, then each fenced block, then the span from the first
/// `{` to the last `}`: where a JSON answer may sit.
fn json_candidates(text: &str) -> Vec<&str> {
    let mut out = vec![text];
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let body_start = after.find('\n').map_or(after.len(), |i| i + 1);
        let Some(end) = after[body_start..].find("```") else { break };
        out.push(after[body_start..body_start + end].trim());
        rest = &after[body_start + end + 3..];
    }
    if let (Some(open), Some(close)) = (text.find('{'), text.rfind('}'))
        && open < close
    {
        out.push(&text[open..=close]);
    }
    out
}

/// The verdict of the last `VERDICT:` line, which is the one a reviewer
/// that changed its mind meant.
fn verdict_line(text: &str) -> Option<Verdict> {
    text.lines().rev().find_map(verdict_of)
}

fn verdict_of(line: &str) -> Option<Verdict> {
    let line = line.trim().trim_matches(|c| c == '*' || c == '`').trim();
    let rest = line.strip_prefix("VERDICT:")?.trim();
    let word = rest.trim_matches(|c: char| !c.is_ascii_alphabetic() && c != '_');
    match word.to_ascii_uppercase().as_str() {
        "APPROVED" => Some(Verdict::Approved),
        "NEEDS_CHANGES" => Some(Verdict::NeedsChanges),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_answer_reads_whole_or_inside_prose_or_a_fence() {
        let plain = r#"{"verdict":"needs_changes","issues":[{"file":"src/a.rs","line":3,"severity":"high","message":"unchecked unwrap"}],"summary":"one bug"}"#;
        let answer = read_answer(plain).unwrap();
        assert_eq!(answer.verdict, Verdict::NeedsChanges);
        assert_eq!(answer.issues[0].line, Some(3));
        assert_eq!(answer.summary.as_deref(), Some("one bug"));

        let fenced = format!("Here is my review.\n```json\n{plain}\n```\nThanks.");
        assert_eq!(read_answer(&fenced).unwrap(), answer);
        let prose = "I looked. {\"verdict\": \"approved\"} That is all.";
        assert_eq!(read_answer(prose).unwrap().verdict, Verdict::Approved);
        let nulls = r#"{"verdict":"approved","issues":[{"file":null,"line":null,"severity":null,"message":"nit"}],"summary":"ok"}"#;
        assert_eq!(read_answer(nulls).unwrap().issues[0].file, None, "the schema's nulls read");
    }

    #[test]
    fn a_verdict_line_is_the_fallback_and_the_last_one_counts() {
        let text = "The tests cover it.\nVERDICT: NEEDS_CHANGES\nOn second thought it is fine.\n**VERDICT: APPROVED**";
        let answer = read_answer(text).unwrap();
        assert_eq!(answer.verdict, Verdict::Approved);
        assert_eq!(answer.summary.as_deref(), Some("The tests cover it.\nOn second thought it is fine."));
        assert_eq!(read_answer("VERDICT: needs_changes").unwrap().verdict, Verdict::NeedsChanges);
    }

    #[test]
    fn anything_else_is_no_verdict_never_approval() {
        for text in ["", "Looks good to me!", "APPROVED", "VERDICT: MAYBE", "{\"approved\": true}"] {
            assert!(read_answer(text).is_err(), "{text:?} must not read as a verdict");
        }
        let bad = read_answer(r#"{"verdict":"lgtm"}"#).unwrap_err();
        assert!(bad.contains("does not read") && bad.contains("lgtm"), "{bad}");
    }

    #[test]
    fn policies_count_approvals() {
        use Verdict::{Approved as A, NeedsChanges as N};
        assert!(Policy::All.approves(&[A, A]));
        assert!(!Policy::All.approves(&[A, N]));
        assert!(!Policy::All.approves(&[]), "no reviewer is no approval");
        assert!(Policy::Majority.approves(&[A, A, N]));
        assert!(!Policy::Majority.approves(&[A, N]), "a tie is not a majority");
        assert!(!Policy::Majority.approves(&[]));
    }

    #[test]
    fn the_schema_is_json_that_describes_the_answer() {
        let schema: serde_json::Value = serde_json::from_str(ANSWER_SCHEMA).unwrap();
        let verdicts = &schema["properties"]["verdict"]["enum"];
        assert_eq!(verdicts, &serde_json::json!(["approved", "needs_changes"]));
    }
}
