//! Reading a branch's first-parent line with each commit's trailers: how
//! the engine learns from the integration branch itself which tasks its
//! merge commits merged, whatever the store remembers.

use crate::error::Result;
use crate::repo::{Oid, Repo};
use crate::run::{argv, run_git, unexpected};

/// A commit of a first-parent line and its trailers (`Key: value` lines at
/// the end of its message), in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedCommit {
    pub commit: Oid,
    pub trailers: Vec<(String, String)>,
}

impl LoggedCommit {
    /// The value of the first trailer named `key`.
    pub fn trailer(&self, key: &str) -> Option<&str> {
        self.trailers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

impl Repo {
    /// The commits on the first-parent line from `tip`, newest first:
    /// `skip` of them left out, then at most `max`.
    pub fn first_parent_log(&self, tip: &Oid, skip: usize, max: usize) -> Result<Vec<LoggedCommit>> {
        let (skip, max) = (format!("--skip={skip}"), format!("--max-count={max}"));
        let args = argv!["log", "-z", "--first-parent", "--format=%H%n%(trailers:only,unfold)", skip, max, tip, "--"];
        let output = run_git(self.top_level(), &args)?;
        parse_log(&output.stdout).ok_or_else(|| unexpected(&args, &output.stdout))
    }
}

/// Parses `git log -z --format=%H%n%(trailers:only,unfold)`: one record a
/// commit, NUL between records, the id on the first line and a trailer on
/// each line after it. `None` when a record does not start with an id.
pub fn parse_log(output: &[u8]) -> Option<Vec<LoggedCommit>> {
    let text = String::from_utf8_lossy(output);
    text.split('\0')
        .filter(|record| !record.trim().is_empty())
        .map(|record| {
            let mut lines = record.trim_start_matches('\n').lines();
            let commit = Oid::parse(lines.next()?.trim())?;
            let trailers = lines
                .filter_map(|line| line.split_once(':'))
                .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
                .collect();
            Some(LoggedCommit { commit, trailers })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "97524d3042e65cbbefbbdba1232778e21536b69e";
    const B: &str = "f1f8ddb024383e914514ae2193b30b95ea0e5938";

    #[test]
    fn parses_commits_with_and_without_trailers() {
        let out = format!("{A}\nColony-Task: t1\nColony-Spec: abc\n\n\0\n{B}\n\0");
        let log = parse_log(out.as_bytes()).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].commit.as_str(), A);
        assert_eq!(log[0].trailer("Colony-Task"), Some("t1"));
        assert_eq!(log[0].trailer("Colony-Spec"), Some("abc"));
        assert_eq!(log[1].trailers, Vec::new());
        assert_eq!(parse_log(b"").unwrap(), Vec::new());
    }

    #[test]
    fn refuses_a_record_without_an_id() {
        assert_eq!(parse_log(b"not-an-id\nKey: v\n\0"), None);
    }
}
