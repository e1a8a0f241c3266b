//! `colony mcp install CLIENT`: add colony's server to a client's MCP
//! configuration.
//!
//! Each client keeps its servers in its own file and shape (`docs/mcp.md`
//! has the table). The merge is a pure function of the file's text: the
//! rest of the file is kept as it was (other keys in their order and, for
//! JSON, their values as written; TOML keeps its comments too), only the
//! `colony` entry is added or replaced, and a file that already has the
//! same entry is left untouched. A file that does not parse is an error
//! naming it, and nothing is written.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use indexmap::IndexMap;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::cli::{Global, McpClient, McpInstallArgs};
use crate::ctx::Ctx;
use crate::exit::bad_input;

/// The server's name in every client's configuration.
const NAME: &str = "colony";

/// How a client's file holds its servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `{"mcpServers": {NAME: {"command": …, "args": […]}}}` (Claude Code
    /// adds `"type": "stdio"`).
    McpServers { typed: bool },
    /// OpenCode: `{"mcp": {NAME: {"type": "local", "command": [...]}}}`.
    OpenCode,
    /// Codex: `[mcp_servers.NAME]` with `command` and `args`, in TOML.
    CodexToml,
}

impl Shape {
    fn of(client: McpClient) -> Shape {
        match client {
            McpClient::Claude => Shape::McpServers { typed: true },
            McpClient::Gemini | McpClient::Cursor => Shape::McpServers { typed: false },
            McpClient::Opencode => Shape::OpenCode,
            McpClient::Codex => Shape::CodexToml,
        }
    }
}

/// Where `client` keeps its servers: the user's own file, or the
/// repository's with `project`.
fn config_path(client: McpClient, project: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf> {
    let home =
        || env("HOME").map(PathBuf::from).ok_or_else(|| bad_input("HOME is not set; give --project, or set HOME"));
    Ok(match (client, project) {
        (McpClient::Claude, Some(root)) => root.join(".mcp.json"),
        (McpClient::Claude, None) => home()?.join(".claude.json"),
        (McpClient::Codex, Some(root)) => root.join(".codex/config.toml"),
        (McpClient::Codex, None) => match env("CODEX_HOME") {
            Some(dir) => PathBuf::from(dir).join("config.toml"),
            None => home()?.join(".codex/config.toml"),
        },
        (McpClient::Gemini, Some(root)) => root.join(".gemini/settings.json"),
        (McpClient::Gemini, None) => home()?.join(".gemini/settings.json"),
        (McpClient::Cursor, Some(root)) => root.join(".cursor/mcp.json"),
        (McpClient::Cursor, None) => home()?.join(".cursor/mcp.json"),
        (McpClient::Opencode, Some(root)) => root.join("opencode.json"),
        (McpClient::Opencode, None) => match env("XDG_CONFIG_HOME") {
            Some(dir) => PathBuf::from(dir).join("opencode/opencode.json"),
            None => home()?.join(".config/opencode/opencode.json"),
        },
    })
}

/// What a merge came to.
#[derive(Debug, PartialEq, Eq)]
enum Merged {
    /// The file already has this very entry.
    Unchanged,
    /// The new text of the file; `replaced` when it had another `colony`.
    Changed { text: String, replaced: bool },
}

/// The entry for `command mcp`, as `shape` writes it, its keys in the
/// order the clients' documentation shows them.
fn entry(shape: Shape, command: &str) -> Entry {
    let pairs = match shape {
        Shape::McpServers { typed: true } => {
            vec![("type", json!("stdio")), ("command", json!(command)), ("args", json!(["mcp"]))]
        }
        Shape::McpServers { typed: false } | Shape::CodexToml => {
            vec![("command", json!(command)), ("args", json!(["mcp"]))]
        }
        Shape::OpenCode => {
            vec![("type", json!("local")), ("command", json!([command, "mcp"])), ("enabled", json!(true))]
        }
    };
    pairs.into_iter().collect()
}

type Entry = IndexMap<&'static str, Value>;

/// `text` (the file, if there is one) with the entry added.
fn merge(shape: Shape, text: Option<&str>, command: &str) -> Result<Merged, String> {
    let entry = entry(shape, command);
    match shape {
        Shape::McpServers { .. } => merge_json(text, "mcpServers", entry),
        Shape::OpenCode => merge_json(text, "mcp", entry),
        Shape::CodexToml => merge_toml(text, &entry),
    }
}

type Object = IndexMap<String, Box<RawValue>>;

fn merge_json(text: Option<&str>, section: &str, entry: Entry) -> Result<Merged, String> {
    let text = text.filter(|t| !t.trim().is_empty()).unwrap_or("{}");
    let mut top: Object = serde_json::from_str(text).map_err(|e| format!("it is not a JSON object: {e}"))?;
    let mut servers: Object = match top.get(section) {
        Some(raw) => serde_json::from_str(raw.get()).map_err(|e| format!("its `{section}` is not an object: {e}"))?,
        None => Object::new(),
    };
    let old = servers.get(NAME).and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok());
    if old.is_some() && old == serde_json::to_value(&entry).ok() {
        return Ok(Merged::Unchanged);
    }
    let replaced = servers.contains_key(NAME);
    servers.insert(NAME.to_owned(), raw(&entry)?);
    top.insert(section.to_owned(), raw(&servers)?);
    Ok(Merged::Changed { text: format!("{}\n", raw(&top)?.get()), replaced })
}

/// `value` as pretty JSON, to sit among the file's values as written.
fn raw(value: &impl serde::Serialize) -> Result<Box<RawValue>, String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    RawValue::from_string(text).map_err(|e| e.to_string())
}

fn merge_toml(text: Option<&str>, entry: &Entry) -> Result<Merged, String> {
    let mut doc: toml_edit::DocumentMut = text.unwrap_or("").parse().map_err(|e| format!("it is not TOML: {e}"))?;
    let command = entry["command"].as_str().unwrap_or_default();
    let servers = doc
        .entry("mcp_servers")
        .or_insert_with(|| {
            let mut table = toml_edit::Table::new();
            table.set_implicit(true);
            toml_edit::Item::Table(table)
        })
        .as_table_mut()
        .ok_or("its `mcp_servers` is not a table")?;
    let old = servers.get(NAME).and_then(toml_edit::Item::as_table);
    let same = old.is_some_and(|t| {
        t.len() == 2
            && t.get("command").and_then(toml_edit::Item::as_str) == Some(command)
            && t.get("args")
                .and_then(toml_edit::Item::as_array)
                .is_some_and(|a| a.len() == 1 && a.get(0).and_then(toml_edit::Value::as_str) == Some("mcp"))
    });
    if same {
        return Ok(Merged::Unchanged);
    }
    let replaced = servers.contains_key(NAME);
    let mut table = toml_edit::Table::new();
    table.insert("command", toml_edit::value(command));
    table.insert("args", toml_edit::value(toml_edit::Array::from_iter(["mcp"])));
    servers.insert(NAME, toml_edit::Item::Table(table));
    Ok(Merged::Changed { text: doc.to_string(), replaced })
}

/// The command a client should start: `colony` when that is this
/// executable on PATH (and always in a repository's file, which must not
/// name one machine's path), else this executable's path.
fn command(project: bool) -> Result<String> {
    let exe = std::env::current_exe().context("could not find colony's own executable")?;
    let on_path = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).map(|dir| dir.join(NAME)).find(|candidate| candidate.is_file()));
    let same = on_path.and_then(|p| p.canonicalize().ok()) == exe.canonicalize().ok();
    Ok(match project || same {
        true => NAME.to_owned(),
        false => exe.display().to_string(),
    })
}

pub fn run(global: &Global, args: McpInstallArgs, out: &mut impl Write) -> Result<()> {
    let root = match args.project {
        true => Some(Ctx::new(global)?.root),
        false => None,
    };
    let path = config_path(args.client, root.as_deref(), &|name| std::env::var(name).ok())?;
    let shape = Shape::of(args.client);
    let command = command(args.project)?;
    let shown = path.display();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("could not read {shown}")),
    };
    let merged = merge(shape, text.as_deref(), &command)
        .map_err(|why| bad_input(format!("{shown}: {why}; nothing was changed")))?;
    let snippet = entry_text(shape, &command);
    if args.print {
        writeln!(out, "{shown} would get:\n{snippet}")?;
        return Ok(());
    }
    let replaced = match merged {
        Merged::Unchanged => {
            writeln!(out, "{shown} already has colony's MCP server; nothing changed")?;
            return Ok(());
        }
        Merged::Changed { text, replaced } => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
            }
            std::fs::write(&path, text).with_context(|| format!("could not write {shown}"))?;
            replaced
        }
    };
    let verb = if replaced { "replaced colony's MCP server in" } else { "added colony's MCP server to" };
    writeln!(out, "{verb} {shown}:\n{snippet}")?;
    if args.project {
        writeln!(out, "(it starts `colony` from PATH, wherever the repository is checked out)")?;
    }
    Ok(())
}

/// The entry as it reads in the client's file.
fn entry_text(shape: Shape, command: &str) -> String {
    match shape {
        Shape::CodexToml => match merge_toml(None, &entry(shape, command)) {
            Ok(Merged::Changed { text, .. }) => text,
            _ => unreachable!("a new file always changes"),
        },
        Shape::McpServers { .. } => serde_json::to_string_pretty(&IndexMap::from([(
            "mcpServers",
            IndexMap::from([(NAME, entry(shape, command))]),
        )]))
        .expect("JSON"),
        Shape::OpenCode => {
            serde_json::to_string_pretty(&IndexMap::from([("mcp", IndexMap::from([(NAME, entry(shape, command))]))]))
                .expect("JSON")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(merged: Result<Merged, String>) -> String {
        match merged {
            Ok(Merged::Changed { text, .. }) => text,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    #[test]
    fn a_json_file_keeps_its_other_keys_in_their_order() {
        let text = r#"{"zeta": 1, "mcpServers": {"other": {"command": "x"}}, "alpha": [1,  2]}"#;
        let new = changed(merge(Shape::McpServers { typed: true }, Some(text), "colony"));
        let zeta = new.find("zeta").unwrap();
        let alpha = new.find("alpha").unwrap();
        assert!(zeta < alpha, "{new}");
        let value: Value = serde_json::from_str(&new).unwrap();
        assert_eq!(value["mcpServers"]["other"]["command"], "x");
        assert_eq!(value["mcpServers"]["colony"], json!({"type": "stdio", "command": "colony", "args": ["mcp"]}));
        assert_eq!(merge(Shape::McpServers { typed: true }, Some(&new), "colony"), Ok(Merged::Unchanged));
    }

    #[test]
    fn another_colony_entry_is_replaced() {
        let text = r#"{"mcp": {"colony": {"type": "local", "command": ["/old/colony", "mcp"]}}}"#;
        let Ok(Merged::Changed { text, replaced }) = merge(Shape::OpenCode, Some(text), "colony") else {
            panic!("a change")
        };
        assert!(replaced);
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["mcp"]["colony"]["command"], json!(["colony", "mcp"]));
    }

    #[test]
    fn codex_toml_keeps_its_comments_and_tables() {
        let text = "# mine\nmodel = \"o4\"\n\n[mcp_servers.docs]\ncommand = \"docs-mcp\"\n";
        let new = changed(merge(Shape::CodexToml, Some(text), "/opt/colony"));
        assert!(new.starts_with("# mine\nmodel = \"o4\"\n"), "{new}");
        assert!(new.contains("[mcp_servers.docs]\ncommand = \"docs-mcp\""), "{new}");
        assert!(new.contains("[mcp_servers.colony]\ncommand = \"/opt/colony\"\nargs = [\"mcp\"]"), "{new}");
        assert_eq!(merge(Shape::CodexToml, Some(&new), "/opt/colony"), Ok(Merged::Unchanged));
        assert_eq!(
            changed(merge(Shape::CodexToml, None, "colony")),
            "[mcp_servers.colony]\ncommand = \"colony\"\nargs = [\"mcp\"]\n"
        );
    }

    #[test]
    fn a_file_that_does_not_parse_is_refused() {
        assert!(
            merge(Shape::McpServers { typed: false }, Some("{nope"), "c").unwrap_err().contains("not a JSON object")
        );
        assert!(merge(Shape::McpServers { typed: false }, Some("[1]"), "c").unwrap_err().contains("not a JSON object"));
        assert!(merge(Shape::OpenCode, Some(r#"{"mcp": 3}"#), "c").unwrap_err().contains("`mcp` is not an object"));
        assert!(merge(Shape::CodexToml, Some("mcp_servers = 1"), "c").unwrap_err().contains("not a table"));
        assert!(merge(Shape::CodexToml, Some("= ="), "c").unwrap_err().contains("not TOML"));
    }

    #[test]
    fn each_client_has_its_own_files() {
        let env = |name: &str| match name {
            "HOME" => Some("/home/u".to_owned()),
            _ => None,
        };
        let root = Path::new("/repo");
        let user = |c| config_path(c, None, &env).unwrap();
        let project = |c| config_path(c, Some(root), &env).unwrap();
        assert_eq!(user(McpClient::Claude), Path::new("/home/u/.claude.json"));
        assert_eq!(project(McpClient::Claude), Path::new("/repo/.mcp.json"));
        assert_eq!(user(McpClient::Codex), Path::new("/home/u/.codex/config.toml"));
        assert_eq!(project(McpClient::Codex), Path::new("/repo/.codex/config.toml"));
        assert_eq!(user(McpClient::Gemini), Path::new("/home/u/.gemini/settings.json"));
        assert_eq!(project(McpClient::Cursor), Path::new("/repo/.cursor/mcp.json"));
        assert_eq!(user(McpClient::Opencode), Path::new("/home/u/.config/opencode/opencode.json"));
        assert_eq!(project(McpClient::Opencode), Path::new("/repo/opencode.json"));
        let codex_home = |name: &str| (name == "CODEX_HOME").then(|| "/c".to_owned());
        assert_eq!(config_path(McpClient::Codex, None, &codex_home).unwrap(), Path::new("/c/config.toml"));
    }
}
