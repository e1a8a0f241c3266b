//! The token that mutations need: random, kept in `.colony/token` (mode
//! 0600), compared in constant time.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use colony_core::input::{ReadError, read_limited};

use crate::error::WebError;

/// The token's file name inside `.colony/`.
pub const TOKEN_FILE: &str = "token";

/// The name of the cookie the page's URL sets.
pub const COOKIE: &str = "colony_token";

/// A token file larger than this is refused unread; colony's own is 65
/// bytes.
const MAX_TOKEN_BYTES: u64 = 1024;

#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// Reads `<colony_dir>/token`, creating it (32 random bytes, hex, mode
    /// 0600) if it is missing. Two processes starting at once agree: only
    /// one creates the file, the other reads it.
    pub fn load_or_create(colony_dir: &Path) -> Result<Token, WebError> {
        let path = colony_dir.join(TOKEN_FILE);
        let fail = |source| WebError::Token { path: path.clone(), source };
        match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
            Ok(mut file) => {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).map_err(|e| fail(std::io::Error::other(e.to_string())))?;
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                file.write_all(format!("{hex}\n").as_bytes()).map_err(fail)?;
                Ok(Token(hex))
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let bytes = match read_limited(&path, MAX_TOKEN_BYTES) {
                    Ok(bytes) => bytes,
                    Err(ReadError::Io(e)) => return Err(fail(e)),
                    Err(problem) => return Err(WebError::BadTokenFile { path, problem }),
                };
                match String::from_utf8_lossy(&bytes).trim() {
                    "" => Err(WebError::EmptyToken { path }),
                    t => Ok(Token(t.to_owned())),
                }
            }
            Err(e) => Err(fail(e)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `given` is the token, taking the same time wherever the two
    /// first differ.
    pub fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        let mut diff = a.len() ^ b.len();
        for (i, x) in a.iter().enumerate() {
            diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
        }
        diff == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let first = Token::load_or_create(dir.path()).unwrap();
        assert_eq!(first.as_str().len(), 64);
        let mode = std::fs::metadata(dir.path().join(TOKEN_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = Token::load_or_create(dir.path()).unwrap();
        assert_eq!(first.as_str(), again.as_str());
    }

    #[test]
    fn only_the_whole_token_matches() {
        let t = Token("abcd".into());
        assert!(t.matches("abcd"));
        for wrong in ["", "abc", "abcde", "abce", "ABCD"] {
            assert!(!t.matches(wrong), "{wrong}");
        }
    }

    #[test]
    fn a_token_file_that_is_no_small_regular_file_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join(TOKEN_FILE)).unwrap();
        let e = Token::load_or_create(dir.path()).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("is not a regular file but a character device; delete it and colony makes a new one"),
            "{e}"
        );
        std::fs::remove_file(dir.path().join(TOKEN_FILE)).unwrap();
        std::fs::write(dir.path().join(TOKEN_FILE), "x".repeat(2000)).unwrap();
        let e = Token::load_or_create(dir.path()).unwrap_err();
        assert!(
            e.to_string().ends_with("is larger than the limit of 1 KiB; delete it and colony makes a new one"),
            "{e}"
        );
    }

    #[test]
    fn an_empty_token_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TOKEN_FILE), "\n").unwrap();
        assert!(matches!(Token::load_or_create(dir.path()), Err(WebError::EmptyToken { .. })));
    }
}
