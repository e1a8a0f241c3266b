//! What every command that touches the store needs: the repository root,
//! the store's URL, and a way to open the store that refuses to create one
//! by accident.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use colony_store::{AnyStore, StoreUrl, SystemClock};

use crate::cli::Global;
use crate::exit::bad_input;
use crate::repo;

/// The directory of colony's local state, at the repository root.
pub const STATE_DIR: &str = ".colony";

pub struct Ctx {
    pub root: PathBuf,
    pub url: StoreUrl,
}

impl Ctx {
    /// Finds the repository and parses the store URL; opens nothing.
    pub fn new(global: &Global) -> Result<Ctx> {
        let root = repo::root(global.repo.as_deref())?;
        let url = StoreUrl::parse(&global.store, &root).context("--store / COLONY_STORE")?;
        Ok(Ctx { root, url })
    }

    /// The store URL for messages: a SQLite path inside the repository is
    /// shown relative to it, a PostgreSQL URL without its password.
    pub fn store_label(&self) -> String {
        match &self.url {
            StoreUrl::Sqlite(path) => match path.strip_prefix(&self.root) {
                Ok(rel) => format!("sqlite:{}", rel.display()),
                Err(_) => self.url.display(),
            },
            StoreUrl::Postgres(_) => self.url.display(),
        }
    }

    /// `path` relative to the repository root when it is inside it, else
    /// absolute: how a plan's source is recorded, the same from whichever
    /// directory it was added.
    pub fn rel(&self, path: &Path) -> String {
        let abs = path.canonicalize().or_else(|_| std::path::absolute(path)).unwrap_or_else(|_| path.to_path_buf());
        match abs.strip_prefix(&self.root) {
            Ok(rel) => rel.display().to_string(),
            Err(_) => abs.display().to_string(),
        }
    }

    /// Opens the store, creating it and its schema if missing. Only `init`
    /// calls this directly.
    pub async fn create_store(&self) -> Result<AnyStore> {
        if let StoreUrl::Sqlite(path) = &self.url
            && let Some(dir) = path.parent()
        {
            std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
        }
        AnyStore::open(&self.url, Arc::new(SystemClock))
            .await
            .with_context(|| format!("could not open the store {}", self.store_label()))
    }

    /// Opens the store that `colony init` set up. A SQLite file that does not
    /// exist yet is an error rather than created: a typo in `--store` or a
    /// command run in the wrong repository should not leave an empty
    /// database behind.
    pub async fn open_store(&self) -> Result<AnyStore> {
        if !self.root.join(STATE_DIR).is_dir() {
            return Err(bad_input(format!("colony is not set up in {}; run `colony init` first", self.root.display())));
        }
        if let StoreUrl::Sqlite(path) = &self.url
            && !path.exists()
        {
            return Err(bad_input(format!(
                "there is no store at {}; create it with `colony init` (and the same --store)",
                self.store_label()
            )));
        }
        self.create_store().await
    }
}
