//! How each CLI is given colony's MCP server for one attempt
//! ([`TalkServer`]), headless, writing nothing in the worktree:
//!
//! | CLI | how | tool calls allowed by |
//! |---|---|---|
//! | Claude Code | `--mcp-config FILE` | `--allowedTools mcp__colony` |
//! | Codex | `-c mcp_servers.colony.*` | `default_tools_approval_mode = "approve"` |
//! | Gemini CLI | `GEMINI_CLI_SYSTEM_SETTINGS_PATH` to a copy of the system settings with the server added | `trust: true` on the server |
//! | OpenCode | `OPENCODE_CONFIG_CONTENT`, merged into any given | `permission: {"colony_*": "allow"}` |
//! | Amp | `--mcp-config JSON` | `--dangerously-allow-all`, colony's default |
//!
//! Cursor reads MCP servers only from a file in the project
//! (`.cursor/mcp.json`), which an agent could commit or change, and Aider
//! has no MCP client: neither is given the server.
//!
//! The server's entry always carries its environment itself: Codex passes
//! a server little of its own, and Gemini strips what looks like a secret.

use std::ffi::OsString;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::kind::CliKind;
use crate::harness::TalkServer;

/// Where Gemini CLI reads system settings when the variable is not set.
const GEMINI_SYSTEM_SETTINGS: &str = "/etc/gemini-cli/settings.json";
const GEMINI_SETTINGS_VAR: &str = "GEMINI_CLI_SYSTEM_SETTINGS_PATH";
const OPENCODE_CONFIG_VAR: &str = "OPENCODE_CONFIG_CONTENT";

/// What giving a CLI the server adds to its invocation.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Talking {
    /// Placed by the CLI's argv builder where no positional follows them.
    pub args: Vec<OsString>,
    pub env: Vec<(String, String)>,
    pub files: Vec<(PathBuf, Vec<u8>)>,
}

/// What `kind` is given to start `server`, or `None` for a CLI that cannot
/// be given it. `env` reads the agent's environment; `read` a file (Gemini's
/// system settings, which must be kept).
pub(super) fn talking(
    kind: CliKind,
    server: &TalkServer,
    env: impl Fn(&str) -> Option<String>,
    read: impl Fn(&std::path::Path) -> std::io::Result<Option<String>>,
) -> Option<Talking> {
    let name = TalkServer::NAME;
    let entry = with_env(json!({ "command": server.command, "args": server.args }), &server.env);
    match kind {
        CliKind::Claude => {
            let mut claude = entry;
            claude["type"] = json!("stdio");
            let file = server.dir.join("claude-mcp.json");
            let config = json!({ "mcpServers": { name: claude } });
            Some(Talking {
                args: vec![
                    "--mcp-config".into(),
                    file.clone().into(),
                    "--allowedTools".into(),
                    format!("mcp__{name}").into(),
                ],
                env: vec![],
                files: vec![(file, pretty(&config))],
            })
        }
        CliKind::Codex => {
            let table: Vec<String> =
                server.env.iter().map(|(k, v)| format!("{}={}", toml_key(k), Value::from(v.as_str()))).collect();
            let set = |key: &str, value: String| ["-c".into(), format!("mcp_servers.{name}.{key}={value}").into()];
            let mut args: Vec<OsString> = Vec::new();
            args.extend(set("command", Value::from(server.command.to_string_lossy()).to_string()));
            args.extend(set("args", json!(server.args).to_string()));
            args.extend(set("env", format!("{{{}}}", table.join(", "))));
            args.extend(set("default_tools_approval_mode", "\"approve\"".into()));
            Some(Talking { args, ..Talking::default() })
        }
        CliKind::Gemini => {
            let system = env(GEMINI_SETTINGS_VAR).map_or_else(|| PathBuf::from(GEMINI_SYSTEM_SETTINGS), PathBuf::from);
            // The system settings are the administrator's: kept whole, or
            // the server is not given at all.
            let mut settings = match read(&system) {
                Ok(None) => json!({}),
                Ok(Some(text)) => serde_json::from_str::<Value>(&text).ok().filter(Value::is_object)?,
                Err(_) => return None,
            };
            let mut gemini = entry;
            gemini["trust"] = json!(true);
            object_at(&mut settings, "mcpServers")?.insert(name.into(), gemini);
            let file = server.dir.join("gemini-settings.json");
            Some(Talking {
                env: vec![(GEMINI_SETTINGS_VAR.into(), file.to_string_lossy().into_owned())],
                files: vec![(file, pretty(&settings))],
                ..Talking::default()
            })
        }
        CliKind::Opencode => {
            let mut config = match env(OPENCODE_CONFIG_VAR) {
                None => json!({}),
                Some(text) => serde_json::from_str::<Value>(&text).ok().filter(Value::is_object)?,
            };
            let local = json!({ "type": "local", "command": server.argv(), "environment": entry["env"] });
            object_at(&mut config, "mcp")?.insert(name.into(), local);
            object_at(&mut config, "permission")?.insert(format!("{name}_*"), json!("allow"));
            Some(Talking { env: vec![(OPENCODE_CONFIG_VAR.into(), config.to_string())], ..Talking::default() })
        }
        CliKind::Amp => Some(Talking {
            args: vec!["--mcp-config".into(), json!({ name: entry }).to_string().into()],
            ..Talking::default()
        }),
        CliKind::Cursor | CliKind::Aider => None,
    }
}

/// `entry` with `env` as its `env` object, in the order given.
fn with_env(mut entry: Value, env: &[(String, String)]) -> Value {
    let map: serde_json::Map<String, Value> = env.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
    entry["env"] = Value::Object(map);
    entry
}

/// The object under `key` in `settings`, made when missing; `None` when
/// something else is there.
fn object_at<'a>(settings: &'a mut Value, key: &str) -> Option<&'a mut serde_json::Map<String, Value>> {
    let object = settings.as_object_mut()?;
    object.entry(key).or_insert_with(|| json!({})).as_object_mut()
}

/// A TOML key: bare when it can be, else quoted.
fn toml_key(key: &str) -> String {
    match !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        true => key.to_owned(),
        false => Value::from(key).to_string(),
    }
}

fn pretty(value: &Value) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(value).expect("JSON values always serialize");
    text.push(b'\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> TalkServer {
        TalkServer {
            command: "/opt/colony/bin/colony".into(),
            args: vec!["mcp".into(), "attempt".into()],
            env: vec![("COLONY_TALK_KEY".into(), "k3y".into()), ("COLONY_TALK_SOCKET".into(), "/tmp/t.sock".into())],
            dir: "/repo/.colony/runs/a/1/talk".into(),
        }
    }

    fn none(_: &str) -> Option<String> {
        None
    }

    fn absent(_: &std::path::Path) -> std::io::Result<Option<String>> {
        Ok(None)
    }

    fn args(t: &Talking) -> Vec<String> {
        t.args.iter().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    fn file(t: &Talking) -> Value {
        assert_eq!(t.files.len(), 1, "{t:?}");
        serde_json::from_slice(&t.files[0].1).unwrap()
    }

    fn expected_entry() -> Value {
        json!({
            "command": "/opt/colony/bin/colony",
            "args": ["mcp", "attempt"],
            "env": { "COLONY_TALK_KEY": "k3y", "COLONY_TALK_SOCKET": "/tmp/t.sock" },
        })
    }

    #[test]
    fn claude_reads_a_config_file_outside_the_worktree_and_allows_the_server() {
        let t = talking(CliKind::Claude, &server(), none, absent).unwrap();
        let path = "/repo/.colony/runs/a/1/talk/claude-mcp.json";
        assert_eq!(args(&t), ["--mcp-config", path, "--allowedTools", "mcp__colony"]);
        assert_eq!(t.files[0].0, PathBuf::from(path));
        let mut entry = expected_entry();
        entry["type"] = json!("stdio");
        assert_eq!(file(&t), json!({ "mcpServers": { "colony": entry } }));
        assert!(t.env.is_empty());
    }

    #[test]
    fn codex_is_told_with_toml_overrides_and_approves_the_servers_tools() {
        let t = talking(CliKind::Codex, &server(), none, absent).unwrap();
        assert_eq!(
            args(&t),
            [
                "-c",
                "mcp_servers.colony.command=\"/opt/colony/bin/colony\"",
                "-c",
                "mcp_servers.colony.args=[\"mcp\",\"attempt\"]",
                "-c",
                "mcp_servers.colony.env={COLONY_TALK_KEY=\"k3y\", COLONY_TALK_SOCKET=\"/tmp/t.sock\"}",
                "-c",
                "mcp_servers.colony.default_tools_approval_mode=\"approve\"",
            ]
        );
        for arg in args(&t).iter().filter(|a| *a != "-c") {
            let (_, value) = arg.split_once('=').unwrap();
            let doc = format!("v = {value}\n");
            assert!(doc.parse::<toml::Table>().is_ok(), "{value} is not a TOML value");
        }
    }

    #[test]
    fn gemini_gets_the_system_settings_with_the_server_added_or_nothing() {
        let admin = |_: &std::path::Path| Ok(Some(r#"{"security": {"auth": {"enforcedType": "oauth"}}}"#.to_owned()));
        let t = talking(CliKind::Gemini, &server(), none, admin).unwrap();
        let path = PathBuf::from("/repo/.colony/runs/a/1/talk/gemini-settings.json");
        assert_eq!(t.env, [(GEMINI_SETTINGS_VAR.to_owned(), path.display().to_string())]);
        let mut entry = expected_entry();
        entry["trust"] = json!(true);
        assert_eq!(
            file(&t),
            json!({ "security": { "auth": { "enforcedType": "oauth" } }, "mcpServers": { "colony": entry } })
        );

        let seen = std::sync::Mutex::new(None);
        let env = |k: &str| (k == GEMINI_SETTINGS_VAR).then(|| "/etc/site/gemini.json".to_owned());
        let read = |p: &std::path::Path| {
            *seen.lock().unwrap() = Some(p.to_owned());
            Ok(None)
        };
        assert!(talking(CliKind::Gemini, &server(), env, read).is_some());
        assert_eq!(*seen.lock().unwrap(), Some(PathBuf::from("/etc/site/gemini.json")), "the variable's file is kept");

        let unreadable = |_: &std::path::Path| Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(talking(CliKind::Gemini, &server(), none, unreadable), None);
        let broken = |_: &std::path::Path| Ok(Some("{".to_owned()));
        assert_eq!(talking(CliKind::Gemini, &server(), none, broken), None);
    }

    #[test]
    fn opencode_gets_its_config_content_with_the_server_and_its_permission_merged_in() {
        let given = |k: &str| {
            (k == OPENCODE_CONFIG_VAR).then(|| r#"{"model": "anthropic/x", "permission": {"bash": "ask"}}"#.to_owned())
        };
        let t = talking(CliKind::Opencode, &server(), given, absent).unwrap();
        assert_eq!(t.env.len(), 1);
        assert_eq!(t.env[0].0, OPENCODE_CONFIG_VAR);
        let config: Value = serde_json::from_str(&t.env[0].1).unwrap();
        assert_eq!(
            config,
            json!({
                "model": "anthropic/x",
                "permission": { "bash": "ask", "colony_*": "allow" },
                "mcp": { "colony": {
                    "type": "local",
                    "command": ["/opt/colony/bin/colony", "mcp", "attempt"],
                    "environment": { "COLONY_TALK_KEY": "k3y", "COLONY_TALK_SOCKET": "/tmp/t.sock" },
                } },
            })
        );
        let odd = |k: &str| (k == OPENCODE_CONFIG_VAR).then(|| r#"{"mcp": 3}"#.to_owned());
        assert_eq!(talking(CliKind::Opencode, &server(), odd, absent), None, "a config it cannot add to is left alone");
    }

    #[test]
    fn amp_takes_the_server_inline_and_cursor_and_aider_take_none() {
        let t = talking(CliKind::Amp, &server(), none, absent).unwrap();
        assert_eq!(t.args[0], "--mcp-config");
        let map: Value = serde_json::from_str(&t.args[1].to_string_lossy()).unwrap();
        assert_eq!(map, json!({ "colony": expected_entry() }));
        assert_eq!(talking(CliKind::Cursor, &server(), none, absent), None);
        assert_eq!(talking(CliKind::Aider, &server(), none, absent), None);
    }
}
