//! The fake CLIs as MCP clients: each finds colony's server where its real
//! CLI would read it (Claude's and Amp's `--mcp-config`, Codex's `-c
//! mcp_servers.colony.*`, Gemini's system settings file, OpenCode's
//! `OPENCODE_CONFIG_CONTENT`), starts it, and calls the tools the task's
//! `fake: {mcp: …}` lists, over newline-delimited JSON-RPC on its stdio.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::Cli;
use crate::script::McpCall;

/// The server's name in every CLI's configuration.
const NAME: &str = "colony";

/// How to start colony's server, as a CLI's configuration gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Server {
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// What one call answered: whether it is an error, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub tool: String,
    pub error: bool,
    pub text: String,
}

/// Colony's server as `cli` started with `args` would find it, if it was
/// given one.
pub(crate) fn server(
    cli: Cli,
    args: &[String],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Server>, String> {
    let after = |flag: &str| args.iter().position(|a| a == flag).and_then(|at| args.get(at + 1));
    let read = |path: &str| std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"));
    let json = |text: &str| serde_json::from_str::<Value>(text).map_err(|e| format!("not JSON: {e}"));
    let entry = match cli {
        Cli::Claude => match after("--mcp-config") {
            Some(path) => json(&read(path)?)?["mcpServers"][NAME].clone(),
            None => return Ok(None),
        },
        Cli::Amp => match after("--mcp-config") {
            Some(text) => json(text)?[NAME].clone(),
            None => return Ok(None),
        },
        Cli::Gemini => match env("GEMINI_CLI_SYSTEM_SETTINGS_PATH") {
            Some(path) => json(&read(&path)?)?["mcpServers"][NAME].clone(),
            None => return Ok(None),
        },
        Cli::Opencode => match env("OPENCODE_CONFIG_CONTENT") {
            Some(text) => {
                let local = json(&text)?["mcp"][NAME].clone();
                let Some(command) = local["command"].as_array() else { return Ok(None) };
                json!({"command": command[0], "args": command[1..], "env": local["environment"]})
            }
            None => return Ok(None),
        },
        Cli::Codex => codex(args)?,
        Cli::Cursor | Cli::Aider => return Ok(None),
    };
    if entry.is_null() {
        return Ok(None);
    }
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
    };
    let env = entry["env"].as_object().into_iter().flatten();
    Ok(Some(Server {
        command: entry["command"].as_str().ok_or("the server has no command")?.to_owned(),
        args: strings(&entry["args"]),
        env: env.filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect(),
    }))
}

/// Codex's `-c mcp_servers.colony.KEY=TOML` settings, as one entry.
fn codex(args: &[String]) -> Result<Value, String> {
    let prefix = format!("mcp_servers.{NAME}.");
    let mut doc = String::new();
    for pair in args.windows(2).filter(|w| w[0] == "-c") {
        if let Some(setting) = pair[1].strip_prefix(&prefix) {
            doc.push_str(setting);
            doc.push('\n');
        }
    }
    if doc.is_empty() {
        return Ok(Value::Null);
    }
    let table: toml::Table = doc.parse().map_err(|e| format!("codex -c mcp_servers.{NAME}.*: {e}"))?;
    serde_json::to_value(table).map_err(|e| e.to_string())
}

/// Starts `server`, makes `calls` in order, and returns their answers.
pub(crate) fn call(server: &Server, calls: &[McpCall]) -> Result<Vec<Answer>, String> {
    let mut child = Command::new(&server.command)
        .args(&server.args)
        .envs(server.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", server.command))?;
    let mut session = Session {
        input: child.stdin.take().expect("piped"),
        output: BufReader::new(child.stdout.take().expect("piped")),
    };
    let client = json!({"name": "colony-fake-cli", "version": super::FAKE_VERSION});
    session.ask(1, "initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client}))?;
    session.tell(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))?;
    let listed = session.ask(2, "tools/list", json!({}))?;
    let names: Vec<&str> =
        listed["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
    let mut answers = Vec::new();
    for (n, c) in calls.iter().enumerate() {
        if !names.contains(&c.tool.as_str()) {
            return Err(format!("the server has no tool {}; it lists {}", c.tool, names.join(", ")));
        }
        let result = session.ask(3 + n as u64, "tools/call", json!({"name": c.tool, "arguments": c.arguments}))?;
        let text = result["content"].as_array().into_iter().flatten().filter_map(|b| b["text"].as_str());
        answers.push(Answer {
            tool: c.tool.clone(),
            error: result["isError"] == json!(true),
            text: text.collect::<Vec<_>>().join("\n"),
        });
    }
    drop(session);
    let _ = child.wait();
    Ok(answers)
}

/// A session on a server's stdio.
struct Session {
    input: std::process::ChildStdin,
    output: BufReader<std::process::ChildStdout>,
}

impl Session {
    fn tell(&mut self, message: Value) -> Result<(), String> {
        writeln!(self.input, "{message}").map_err(|e| format!("writing to the server: {e}"))
    }

    /// The result of request `id`, skipping what else the server says.
    fn ask(&mut self, id: u64, method: &str, params: Value) -> Result<Value, String> {
        self.tell(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        loop {
            let mut line = String::new();
            if self.output.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err(format!("the server closed before answering {method}"));
            }
            let message: Value = serde_json::from_str(&line).map_err(|e| format!("the server said {line:?}: {e}"))?;
            if message["id"] == json!(id) {
                if let Some(error) = message.get("error") {
                    return Err(format!("{method} failed: {error}"));
                }
                return Ok(message["result"].clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    fn expected() -> Server {
        Server {
            command: "/bin/colony".into(),
            args: vec!["mcp".into(), "attempt".into()],
            env: vec![("COLONY_TALK_KEY".into(), "k".into())],
        }
    }

    #[test]
    fn codex_and_amp_and_opencode_are_read_from_argv_and_env() {
        let codex = args(&[
            "exec",
            "-c",
            "mcp_servers.colony.command=\"/bin/colony\"",
            "-c",
            "mcp_servers.colony.args=[\"mcp\",\"attempt\"]",
            "-c",
            "mcp_servers.colony.env={COLONY_TALK_KEY=\"k\"}",
            "-",
        ]);
        assert_eq!(server(Cli::Codex, &codex, |_| None), Ok(Some(expected())));
        let amp = args(&[
            "-x",
            "--mcp-config",
            r#"{"colony":{"command":"/bin/colony","args":["mcp","attempt"],"env":{"COLONY_TALK_KEY":"k"}}}"#,
        ]);
        assert_eq!(server(Cli::Amp, &amp, |_| None), Ok(Some(expected())));
        let content = r#"{"mcp":{"colony":{"type":"local","command":["/bin/colony","mcp","attempt"],"environment":{"COLONY_TALK_KEY":"k"}}}}"#;
        let env = |k: &str| (k == "OPENCODE_CONFIG_CONTENT").then(|| content.to_owned());
        assert_eq!(server(Cli::Opencode, &args(&["run"]), env), Ok(Some(expected())));
        assert_eq!(server(Cli::Claude, &args(&["-p"]), |_| None), Ok(None));
        assert_eq!(server(Cli::Cursor, &args(&["-p"]), |_| None), Ok(None));
    }
}
