//! The git branches colony makes, and git's rules for their names.
//!
//! A plan becomes the integration branch (`colony/<plan>` unless
//! `colony.toml` says otherwise) and each attempt a task branch
//! `colony-task/<plan>/<task>-a<n>`. Ids are held to `[A-Za-z0-9._-]`, but
//! that alphabet still spells names git refuses (`a..b`, `.x`, `x.lock`,
//! a trailing `.`), and the pattern is free text. A name git refuses
//! would fail only when the first attempt has run, so the names are
//! checked here, when a plan is added and when the config is read, by the
//! rules of `git check-ref-format --branch` (git's `refs.c`), without
//! starting git.

use std::fmt;

use crate::id::{PlanName, TaskId};

/// The integration branch pattern unless `colony.toml` sets one.
pub const DEFAULT_INTEGRATION: &str = "colony/{plan}";

/// The placeholder in an integration branch pattern.
pub const PLAN_PLACEHOLDER: &str = "{plan}";

/// Where every task branch lives.
pub const TASK_BRANCHES: &str = "colony-task/";

/// The branch an attempt works on.
pub fn task_branch(plan: &PlanName, task: &TaskId, attempt: u32) -> String {
    format!("{TASK_BRANCHES}{plan}/{task}-a{attempt}")
}

/// Where the branches of `colony land --pr --per-task` live: one per
/// merged task, each holding that task's change alone on top of what it
/// depends on. Not under the integration branch's name: git cannot keep
/// `colony/p` and `colony/p/x` side by side.
pub const PR_BRANCHES: &str = "colony-pr/";

/// The branch a task's own pull request is opened from.
pub fn pr_branch(plan: &PlanName, task: &TaskId) -> String {
    format!("{PR_BRANCHES}{plan}/{task}")
}

/// The integration branch of a plan, from the configured pattern.
pub fn integration_branch(pattern: &str, plan: &PlanName) -> String {
    pattern.replace(PLAN_PLACEHOLDER, plan.as_str())
}

/// Which of git's rules a ref name breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefRule {
    Empty,
    /// A branch may not start with `-` (it would read as an option).
    LeadingDash,
    /// `HEAD` is git's own name for the checked-out commit.
    Head,
    /// The whole ref is `@`, git's shorthand for `HEAD`.
    LoneAt,
    /// A full ref needs at least two parts (`refs/x`).
    OneLevel,
    DoubleDot,
    AtBrace,
    /// A control character, a space, or one of `~^:?*[\`.
    BadChar(char),
    LeadingSlash,
    TrailingSlash,
    DoubleSlash,
    /// A part (between slashes) starts with `.`.
    DotPart(String),
    /// A part ends with `.lock`, git's suffix for a ref being written.
    LockPart(String),
    TrailingDot,
}

impl fmt::Display for RefRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefRule::Empty => f.write_str("it is empty"),
            RefRule::LeadingDash => f.write_str("it starts with `-`"),
            RefRule::Head => f.write_str("`HEAD` is git's name for the current commit"),
            RefRule::LoneAt => f.write_str("`@` alone is git's shorthand for `HEAD`"),
            RefRule::OneLevel => f.write_str("it has no `/`"),
            RefRule::DoubleDot => f.write_str("it contains `..`"),
            RefRule::AtBrace => f.write_str("it contains `@{`"),
            RefRule::BadChar(' ') => f.write_str("it contains a space"),
            RefRule::BadChar(c) if c.is_control() => write!(f, "it contains the control character U+{:04X}", *c as u32),
            RefRule::BadChar(c) => write!(f, "it contains `{c}`"),
            RefRule::LeadingSlash => f.write_str("it starts with `/`"),
            RefRule::TrailingSlash => f.write_str("it ends with `/`"),
            RefRule::DoubleSlash => f.write_str("it contains `//`"),
            RefRule::DotPart(part) => write!(f, "its part `{part}` starts with `.`"),
            RefRule::LockPart(part) => write!(f, "its part `{part}` ends with `.lock`"),
            RefRule::TrailingDot => f.write_str("it ends with `.`"),
        }
    }
}

/// A branch name git would refuse, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not a valid git branch name: {rule}")]
pub struct BadBranch {
    pub name: String,
    pub rule: RefRule,
}

/// Checks a branch name (without `refs/heads/`) as `git check-ref-format
/// --branch` does outside a repository: no leading `-`, not `HEAD`, and
/// `refs/heads/<name>` a valid ref.
pub fn check_branch(name: &str) -> Result<(), BadBranch> {
    let rule = if name.starts_with('-') {
        Some(RefRule::LeadingDash)
    } else if name == "HEAD" {
        Some(RefRule::Head)
    } else if name.is_empty() {
        Some(RefRule::Empty)
    } else if name.starts_with('/') {
        Some(RefRule::LeadingSlash)
    } else {
        check_ref(&format!("refs/heads/{name}")).err()
    };
    match rule {
        Some(rule) => Err(BadBranch { name: name.to_owned(), rule }),
        None => Ok(()),
    }
}

/// Checks a full ref name (`refs/heads/x`) by git's `check_refname_format`
/// with no flags: no one-level names, no patterns.
pub fn check_ref(refname: &str) -> Result<(), RefRule> {
    if refname.is_empty() {
        return Err(RefRule::Empty);
    }
    if refname == "@" {
        return Err(RefRule::LoneAt);
    }
    if refname.starts_with('/') {
        return Err(RefRule::LeadingSlash);
    }
    let parts: Vec<&str> = refname.split('/').collect();
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        check_part(part)?;
        if part.is_empty() {
            return Err(if i == last { RefRule::TrailingSlash } else { RefRule::DoubleSlash });
        }
        if part.starts_with('.') {
            return Err(RefRule::DotPart((*part).to_owned()));
        }
        if part.ends_with(".lock") {
            return Err(RefRule::LockPart((*part).to_owned()));
        }
    }
    if refname.ends_with('.') {
        return Err(RefRule::TrailingDot);
    }
    if parts.len() < 2 {
        return Err(RefRule::OneLevel);
    }
    Ok(())
}

/// The characters of one part, in order, as git scans them. Bytes above
/// ASCII are allowed, so non-ASCII letters are.
fn check_part(part: &str) -> Result<(), RefRule> {
    let mut last = '\0';
    for c in part.chars() {
        match c {
            '.' if last == '.' => return Err(RefRule::DoubleDot),
            '{' if last == '@' => return Err(RefRule::AtBrace),
            ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\' => return Err(RefRule::BadChar(c)),
            c if c.is_ascii_control() => return Err(RefRule::BadChar(c)),
            _ => {}
        }
        last = c;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str) -> RefRule {
        check_branch(name).expect_err(name).rule
    }

    #[test]
    fn names_colony_makes() {
        let p = PlanName::new("auth").unwrap();
        let t = TaskId::new("db-schema").unwrap();
        assert_eq!(task_branch(&p, &t, 2), "colony-task/auth/db-schema-a2");
        assert_eq!(pr_branch(&p, &t), "colony-pr/auth/db-schema");
        assert_eq!(integration_branch(DEFAULT_INTEGRATION, &p), "colony/auth");
        assert_eq!(integration_branch("work/{plan}-int", &p), "work/auth-int");
    }

    #[test]
    fn ordinary_names_pass() {
        for ok in ["colony/auth", "a", "x/-y", "a./b", "a.lock.b", "foo.LOCK", "é/ü", "a@b", "{", "@", "a/@", "a/HEAD"]
        {
            assert_eq!(check_branch(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn each_rule_is_named() {
        assert_eq!(rule(""), RefRule::Empty);
        assert_eq!(rule("-x"), RefRule::LeadingDash);
        assert_eq!(rule("HEAD"), RefRule::Head);
        assert_eq!(rule("a..b"), RefRule::DoubleDot);
        assert_eq!(rule("colony/a..b"), RefRule::DoubleDot);
        assert_eq!(rule("a@{b"), RefRule::AtBrace);
        assert_eq!(rule("a b"), RefRule::BadChar(' '));
        assert_eq!(rule("a\tb"), RefRule::BadChar('\t'));
        assert_eq!(rule("a\u{7f}"), RefRule::BadChar('\u{7f}'));
        for c in ['~', '^', ':', '?', '*', '[', '\\'] {
            assert_eq!(rule(&format!("a{c}b")), RefRule::BadChar(c), "{c}");
        }
        assert_eq!(rule("/a"), RefRule::LeadingSlash);
        assert_eq!(rule("a/"), RefRule::TrailingSlash);
        assert_eq!(rule("a//b"), RefRule::DoubleSlash);
        assert_eq!(rule(".x"), RefRule::DotPart(".x".into()));
        assert_eq!(rule("colony/.x"), RefRule::DotPart(".x".into()));
        assert_eq!(rule("x.lock"), RefRule::LockPart("x.lock".into()));
        assert_eq!(rule("x.lock/y"), RefRule::LockPart("x.lock".into()));
        assert_eq!(rule("a."), RefRule::TrailingDot);
        assert_eq!(rule("colony/a."), RefRule::TrailingDot);
    }

    #[test]
    fn full_refs_need_two_parts_and_are_never_a_lone_at() {
        assert_eq!(check_ref("@"), Err(RefRule::LoneAt));
        assert_eq!(check_ref("HEAD"), Err(RefRule::OneLevel));
        assert_eq!(check_ref("refs/heads/@"), Ok(()));
    }

    #[test]
    fn messages_say_what_is_wrong() {
        let e = check_branch("colony-task/p/.a-a1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`colony-task/p/.a-a1` is not a valid git branch name: its part `.a-a1` starts with `.`"
        );
        assert_eq!(RefRule::BadChar('\u{7}').to_string(), "it contains the control character U+0007");
        assert_eq!(RefRule::BadChar('~').to_string(), "it contains `~`");
    }
}
