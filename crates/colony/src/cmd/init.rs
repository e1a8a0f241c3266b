//! `colony init`: set up a repository for colony.
//!
//! Each step checks before it acts, so running init again is harmless and
//! says that nothing changed. `colony.toml` is the project's to edit and
//! commit; `.colony/` is this clone's private state, so it goes in
//! `.git/info/exclude` rather than the project's `.gitignore`.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use colony_core::input::{ReadError, read_limited};
use colony_store::{Store, StoreUrl};

use crate::ctx::{Ctx, STATE_DIR};
use crate::exit::bad_input;
use crate::repo;

/// The commented `colony.toml` a new repository gets.
const CONFIG_TEMPLATE: &str = include_str!("colony.toml");

const CONFIG_FILE: &str = "colony.toml";

/// The line that keeps colony's state out of git.
const EXCLUDE_LINE: &str = "/.colony/";

/// An exclude file larger than this is refused unread: it is rewritten
/// whole, so it is held in memory.
const MAX_EXCLUDE_BYTES: u64 = 16 * 1024 * 1024;

pub async fn run(ctx: &Ctx, out: &mut impl Write) -> Result<()> {
    if let StoreUrl::Sqlite(path) = &ctx.url {
        ctx.refuse_lost_store(path, true)?;
    }
    // Read first: one that is refused must leave everything as it was.
    let exclude = repo::exclude_file(&ctx.root)?;
    let excluded = read_exclude(&exclude)?;
    let mut done = Vec::new();
    let mut changed = false;
    let mut step = |did_change: bool, line: String| {
        changed |= did_change;
        done.push(line);
    };

    let state = ctx.root.join(STATE_DIR);
    if state.is_dir() {
        step(false, format!("{STATE_DIR}/ exists"));
    } else {
        fs::create_dir_all(&state).with_context(|| format!("could not create {}", state.display()))?;
        step(true, format!("created {STATE_DIR}/"));
    }

    let config = ctx.root.join(CONFIG_FILE);
    if config.exists() {
        step(false, format!("{CONFIG_FILE} kept as it is"));
    } else {
        fs::write(&config, CONFIG_TEMPLATE).with_context(|| format!("could not write {}", config.display()))?;
        step(true, format!("wrote {CONFIG_FILE}; edit it to choose agents and checks, then commit it"));
    }

    let existed = match &ctx.url {
        StoreUrl::Sqlite(path) => path.exists(),
        // A server database is there or not; opening brings its schema up.
        StoreUrl::Postgres(_) => true,
    };
    let store = ctx.create_store().await?;
    let has_plans = !store.plans().await?.is_empty();
    store.close().await;
    if existed {
        step(false, format!("the store {} is up to date", ctx.store_label()));
    } else {
        step(true, format!("created the store {}", ctx.store_label()));
    }

    let shown = ctx.rel(&exclude);
    if add_exclude(&exclude, excluded)? {
        step(true, format!("added {EXCLUDE_LINE} to {shown}, so git ignores colony's state"));
    } else {
        step(false, format!("{shown} already lists {STATE_DIR}/"));
    }

    let root = ctx.root.display();
    if changed {
        writeln!(out, "set up colony in {root}:")?;
    } else {
        writeln!(out, "colony is already set up in {root}; nothing changed:")?;
    }
    for line in done {
        writeln!(out, "  {line}")?;
    }
    writeln!(out)?;
    if has_plans {
        writeln!(out, "next: see where the plans stand with `colony status`")?;
    } else {
        writeln!(out, "next: import a plan with `colony add PLAN` (`colony add --help` says how)")?;
    }
    Ok(())
}

/// The exclude file's text; empty when there is none.
fn read_exclude(path: &Path) -> Result<String> {
    match read_limited(path, MAX_EXCLUDE_BYTES) {
        Ok(bytes) => String::from_utf8(bytes).with_context(|| format!("could not read {}", path.display())),
        Err(e) if e.is_missing() => Ok(String::new()),
        Err(ReadError::Io(e)) => Err(e).with_context(|| format!("could not read {}", path.display())),
        Err(refused) => Err(bad_input(format!("{} is {refused}", path.display()))),
    }
}

/// Appends the exclude line to the file holding `current` unless it
/// already ignores `.colony/`. Returns whether it wrote.
fn add_exclude(path: &Path, current: String) -> Result<bool> {
    let listed = current.lines().map(str::trim).any(|l| matches!(l, ".colony" | ".colony/" | "/.colony" | "/.colony/"));
    if listed {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    }
    let mut text = current;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# colony's local state (colony init)\n");
    text.push_str(EXCLUDE_LINE);
    text.push('\n');
    fs::write(path, text).with_context(|| format!("could not write {}", path.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_is_added_once_and_respects_an_existing_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("info/exclude");
        let add = |path: &Path| add_exclude(path, read_exclude(path).unwrap()).unwrap();
        assert!(add(&path));
        assert!(!add(&path));
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches(EXCLUDE_LINE).count(), 1);

        fs::write(&path, "*.log\n.colony/").unwrap();
        assert!(!add(&path));
    }

    #[test]
    fn the_config_template_reads_as_the_defaults() {
        let config = colony_core::config::parse("colony.toml", CONFIG_TEMPLATE).unwrap();
        assert_eq!(config, colony_core::config::Config::default());
    }
}
