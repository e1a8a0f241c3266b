//! Why a plan was refused: [`PlanError`] and the list of them, and the
//! "did you mean" suggestions both field and dependency errors use.

use std::fmt;

/// One problem with a plan file. Displays as
/// `plan.yaml:12: task `login-api`: unknown dependency `db``, leaving out
/// the line and the task when they are not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line, when the parser or the outline knows it.
    pub line: Option<usize>,
    /// The id of the task the problem is in, when there is one.
    pub task: Option<String>,
    /// What is wrong: lowercase, one line.
    pub message: String,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let task = self.task.as_ref().map(|task| format!("task `{task}`"));
        write_located(f, &self.file, self.line, task.as_deref(), &self.message)
    }
}

/// Writes a problem in a file as `file[:line]: [about: ]message`: how
/// every input error colony reports reads.
pub(crate) fn write_located(
    f: &mut fmt::Formatter<'_>,
    file: &str,
    line: Option<usize>,
    about: Option<&str>,
    message: &str,
) -> fmt::Result {
    f.write_str(file)?;
    if let Some(line) = line {
        write!(f, ":{line}")?;
    }
    f.write_str(": ")?;
    if let Some(about) = about {
        write!(f, "{about}: ")?;
    }
    f.write_str(message)
}

/// Writes each of `items` on a line of its own.
pub(crate) fn write_lines<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str("\n")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl std::error::Error for PlanError {}

/// Every problem found in a plan; never empty. Displays one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanErrors(pub Vec<PlanError>);

impl PlanErrors {
    pub(super) fn one(error: PlanError) -> Self {
        PlanErrors(vec![error])
    }

    pub fn iter(&self) -> std::slice::Iter<'_, PlanError> {
        self.0.iter()
    }
}

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_lines(f, &self.0)
    }
}

impl std::error::Error for PlanErrors {}

impl<'a> IntoIterator for &'a PlanErrors {
    type Item = &'a PlanError;
    type IntoIter = std::slice::Iter<'a, PlanError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The candidate closest to `typed`, if it is close enough to be what was
/// meant: at most a third of the longer word edited (Damerau–Levenshtein,
/// so a swapped pair of letters counts once). Ties go to the earlier one.
pub fn closest<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::normalized_damerau_levenshtein(typed, c);
        if score >= 2.0 / 3.0 - 1e-9 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_leaves_out_unknown_parts() {
        let mut e = PlanError {
            file: "plan.yaml".into(),
            line: Some(12),
            task: Some("login-api".into()),
            message: "unknown dependency `db`".into(),
        };
        assert_eq!(e.to_string(), "plan.yaml:12: task `login-api`: unknown dependency `db`");
        e.line = None;
        e.task = None;
        assert_eq!(e.to_string(), "plan.yaml: unknown dependency `db`");
    }

    #[test]
    fn errors_display_one_per_line() {
        let e = |m: &str| PlanError { file: "p.json".into(), line: None, task: None, message: m.into() };
        assert_eq!(PlanErrors(vec![e("a"), e("b")]).to_string(), "p.json: a\np.json: b");
    }

    #[test]
    fn closest_suggests_only_near_misses() {
        let fields = ["id", "title", "prompt", "deps"];
        assert_eq!(closest("dep", fields), Some("deps"));
        assert_eq!(closest("promt", fields), Some("prompt"));
        assert_eq!(closest("ttile", fields), Some("title"));
        assert_eq!(closest("ids", fields), Some("id"));
        assert_eq!(closest("ab", fields), None);
        assert_eq!(closest("depends_on", fields), None);
    }
}
