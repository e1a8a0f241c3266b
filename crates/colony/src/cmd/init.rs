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
use colony_store::{Store, StoreUrl};

use crate::ctx::{Ctx, STATE_DIR};
use crate::repo;

/// The commented `colony.toml` a new repository gets.
const CONFIG_TEMPLATE: &str = include_str!("colony.toml");

const CONFIG_FILE: &str = "colony.toml";

/// The line that keeps colony's state out of git.
const EXCLUDE_LINE: &str = "/.colony/";

pub async fn run(ctx: &Ctx, out: &mut impl Write) -> Result<()> {
    if let StoreUrl::Sqlite(path) = &ctx.url {
        ctx.refuse_lost_store(path, true)?;
    }
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

    let exclude = repo::exclude_file(&ctx.root)?;
    let shown = ctx.rel(&exclude);
    if add_exclude(&exclude)? {
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

/// Appends the exclude line unless the file already ignores `.colony/`.
/// Returns whether it wrote.
fn add_exclude(path: &Path) -> Result<bool> {
    let current = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
    };
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
        assert!(add_exclude(&path).unwrap());
        assert!(!add_exclude(&path).unwrap());
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches(EXCLUDE_LINE).count(), 1);

        fs::write(&path, "*.log\n.colony/").unwrap();
        assert!(!add_exclude(&path).unwrap());
    }

    #[test]
    fn the_config_template_reads_as_the_defaults() {
        let config = colony_core::config::parse("colony.toml", CONFIG_TEMPLATE).unwrap();
        assert_eq!(config, colony_core::config::Config::default());
    }
}
