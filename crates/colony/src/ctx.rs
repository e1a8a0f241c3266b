//! What every command that touches the store needs: the repository root,
//! the store's URL, and a way to open the store that refuses to create one
//! by accident.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use colony_store::{SqlStore, StoreUrl, SystemClock};

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
    pub async fn create_store(&self) -> Result<SqlStore> {
        if let StoreUrl::Sqlite(path) = &self.url
            && let Some(dir) = path.parent()
        {
            std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
        }
        SqlStore::open(&self.url, Arc::new(SystemClock))
            .await
            .with_context(|| format!("could not open the store {}", self.store_label()))
    }

    /// Opens the store that `colony init` set up. A SQLite file that does not
    /// exist yet is an error rather than created: a typo in `--store` or a
    /// command run in the wrong repository should not leave an empty
    /// database behind.
    pub async fn open_store(&self) -> Result<SqlStore> {
        if !self.root.join(STATE_DIR).is_dir() {
            return Err(bad_input(format!("colony is not set up in {}; run `colony init` first", self.root.display())));
        }
        if let StoreUrl::Sqlite(path) = &self.url {
            match sqlite_file(path)? {
                SqliteFile::Missing => {
                    return Err(bad_input(format!(
                        "there is no store at {}; create it with `colony init` (and the same --store)",
                        self.store_label()
                    )));
                }
                SqliteFile::Empty | SqliteFile::NotSqlite => self.refuse_lost_store(path, false)?,
                SqliteFile::Sqlite => {}
            }
        }
        self.create_store().await
    }

    /// A SQLite store that is empty (0 bytes) or not a database at all
    /// must not be taken for a new one: colony would start afresh, as if
    /// nothing had run. `colony init` (`init`) may make a new store in its
    /// place where colony has never run; otherwise the error says what to
    /// do, which depends on whether colony has run here.
    pub fn refuse_lost_store(&self, path: &Path, init: bool) -> Result<()> {
        let what = match sqlite_file(path)? {
            SqliteFile::Empty => "is empty (0 bytes)",
            SqliteFile::NotSqlite => "is not a SQLite database",
            SqliteFile::Missing | SqliteFile::Sqlite => return Ok(()),
        };
        let signs = self.signs_of_runs()?;
        let label = self.store_label();
        if signs.is_empty() && init {
            return Ok(());
        }
        if signs.is_empty() {
            return Err(anyhow::anyhow!(
                "the store {label} {what}; set it up with `colony init`, which makes a new one in its place"
            ));
        }
        Err(anyhow::anyhow!(
            "the store {label} {what}, but colony has run in this repository ({}): its record of the \
             plans and tasks is lost (a full disk, a bad copy?). Nothing was changed. Put a copy of \
             the store back if you have one; to start afresh instead, move {} away and run `colony init` \
             (tasks whose merge is in their integration branch are not merged again)",
            signs.join("; "),
            path.display()
        ))
    }

    /// What shows that colony has run in this repository: its attempt
    /// files and its branches.
    fn signs_of_runs(&self) -> Result<Vec<String>> {
        let mut signs = Vec::new();
        let runs = self.root.join(STATE_DIR).join("runs");
        let tasks = std::fs::read_dir(&runs).map(|entries| entries.count()).unwrap_or(0);
        if tasks > 0 {
            signs.push(format!("{} holds the attempts of {tasks} task{}", self.rel(&runs), plural(tasks)));
        }
        let repo = colony_git::Repo::open(&self.root)?;
        for prefix in [colony_core::branch::TASK_BRANCHES, "colony/"] {
            let branches = repo.branches(prefix)?;
            if let Some(first) = branches.first() {
                let more = match branches.len() {
                    1 => String::new(),
                    n => format!(" and {} more", n - 1),
                };
                signs.push(format!("branch {first}{more}"));
            }
        }
        Ok(signs)
    }
}

/// What is at a SQLite store's path.
#[derive(Debug, PartialEq, Eq)]
enum SqliteFile {
    Missing,
    /// 0 bytes: SQLite would take it for a new, empty database.
    Empty,
    /// Something without SQLite's header.
    NotSqlite,
    Sqlite,
}

fn sqlite_file(path: &Path) -> Result<SqliteFile> {
    use std::io::Read;
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SqliteFile::Missing),
        Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
    };
    let mut header = Vec::with_capacity(16);
    file.by_ref().take(16).read_to_end(&mut header).with_context(|| format!("could not read {}", path.display()))?;
    Ok(match header.as_slice() {
        [] => SqliteFile::Empty,
        b"SQLite format 3\0" => SqliteFile::Sqlite,
        _ => SqliteFile::NotSqlite,
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
