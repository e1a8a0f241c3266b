//! Choosing a backend from a store URL at run time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::clock::Clock;
use crate::error::StoreError;
use crate::postgres::redact;
use crate::store::SqlStore;
use crate::tx::Result;

/// Where the store lives, as given by `--store` or `COLONY_STORE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `sqlite:PATH` (relative paths are taken from the repository root).
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
}

impl StoreUrl {
    /// Parses a URL; relative SQLite paths are joined to `base`.
    pub fn parse(url: &str, base: &Path) -> Result<StoreUrl> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(url.to_owned()));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(StoreError::BadUrl { url: url.to_owned(), why: "it names no file".into() });
            }
            return Ok(StoreUrl::Sqlite(base.join(path)));
        }
        Err(StoreError::BadUrl { url: redact(url), why: "use sqlite:PATH or postgres://USER@HOST/DB".into() })
    }

    /// The URL for messages, without a password.
    pub fn display(&self) -> String {
        match self {
            StoreUrl::Sqlite(p) => format!("sqlite:{}", p.display()),
            StoreUrl::Postgres(u) => redact(u),
        }
    }
}

impl SqlStore {
    /// Opens the store the URL names.
    pub async fn open(url: &StoreUrl, clock: Arc<dyn Clock>) -> Result<SqlStore> {
        match url {
            StoreUrl::Sqlite(path) => SqlStore::open_sqlite(path, clock).await,
            StoreUrl::Postgres(url) => SqlStore::open_postgres(url, clock).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_schemes_and_refuses_others() {
        let base = Path::new("/repo");
        assert_eq!(
            StoreUrl::parse("sqlite:.colony/colony.db", base).unwrap(),
            StoreUrl::Sqlite(PathBuf::from("/repo/.colony/colony.db"))
        );
        assert_eq!(StoreUrl::parse("sqlite:///abs.db", base).unwrap(), StoreUrl::Sqlite(PathBuf::from("/abs.db")));
        assert!(matches!(StoreUrl::parse("postgresql://u@h/db", base), Ok(StoreUrl::Postgres(_))));
        let err = StoreUrl::parse("mysql://u:pw@h/db", base).unwrap_err().to_string();
        assert!(err.contains("mysql://u:***@h/db") && !err.contains("pw"), "{err}");
        assert!(StoreUrl::parse("sqlite:", base).is_err());
    }
}
