//! Identifiers that reach file names, branch names and command lines.
//!
//! A task id becomes part of a worktree path and a branch name, so it is held
//! to `[A-Za-z0-9._-]{1,64}`: no `/`, no spaces, nothing a shell or git would
//! read specially. Plan names follow the same rule because they become the
//! integration branch `colony/<plan>`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// The longest id accepted.
pub const MAX_ID_LEN: usize = 64;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("id is empty")]
    Empty,
    #[error("id `{id}` is longer than {MAX_ID_LEN} characters")]
    TooLong { id: String },
    #[error("id `{id}` has `{ch}`; ids use only letters, digits, `.`, `_` and `-`")]
    BadChar { id: String, ch: char },
    #[error("id `{id}` is only dots; it would name a directory")]
    Dots { id: String },
}

/// Checks a string against `[A-Za-z0-9._-]{1,64}` (and refuses `.` and `..`).
pub fn check_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if let Some(ch) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(IdError::BadChar { id: s.to_owned(), ch });
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong { id: s.to_owned() });
    }
    if s.chars().all(|c| c == '.') {
        return Err(IdError::Dots { id: s.to_owned() });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `s`.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check_id(&s)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A task's id, unique within a store.
    TaskId
);
id_type!(
    /// A plan's name; the integration branch is `colony/<name>`.
    PlanName
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for ok in ["a", "db-schema", "2.6.1.a", "A_b-c.9", &"x".repeat(64)] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_paths_spaces_and_empties() {
        assert_eq!(check_id(""), Err(IdError::Empty));
        assert!(matches!(check_id("../x"), Err(IdError::BadChar { ch: '/', .. })));
        assert!(matches!(check_id("has space"), Err(IdError::BadChar { ch: ' ', .. })));
        assert!(matches!(check_id(".."), Err(IdError::Dots { .. })));
        assert!(matches!(check_id(&"x".repeat(65)), Err(IdError::TooLong { .. })));
        assert!(matches!(check_id("é"), Err(IdError::BadChar { ch: 'é', .. })));
    }
}
