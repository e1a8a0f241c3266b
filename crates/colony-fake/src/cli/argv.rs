//! Each fake CLI's argv, checked the way the real CLI checks the flags
//! colony uses: unknown flags refused, the real error messages and exit
//! codes for the mistakes an adapter could make (Claude's `stream-json`
//! without `--verbose`, Codex's removed `--full-auto`, Codex without `-`,
//! Gemini or cursor-agent in an untrusted folder, aider without its message
//! file).

use std::path::PathBuf;

use super::Cli;

/// How the CLI is to be run, once its argv is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    /// The session to resume.
    pub resume: Option<String>,
    /// Where the prompt comes from.
    pub prompt: Prompt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Prompt {
    /// Read stdin to its end.
    Stdin,
    /// Read this file (aider's `--message-file`).
    File(PathBuf),
}

/// An argv the CLI refuses: what it prints on stderr and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub message: String,
    pub code: u8,
}

fn refuse(code: u8, message: impl Into<String>) -> Refusal {
    Refusal { message: message.into(), code }
}

/// Options as given: `--flag`, `--flag value`, `--flag=value`.
#[derive(Debug, Default)]
struct Parsed {
    options: Vec<(String, Option<String>)>,
    positionals: Vec<String>,
}

impl Parsed {
    fn has(&self, names: &[&str]) -> bool {
        self.options.iter().any(|(n, _)| names.contains(&n.as_str()))
    }

    fn value(&self, names: &[&str]) -> Option<&str> {
        self.options.iter().rev().find(|(n, _)| names.contains(&n.as_str())).and_then(|(_, v)| v.as_deref())
    }
}

/// Splits `args` into options and positionals; `switches` take no value,
/// `valued` take one. Anything else starting with `-` (but `-` itself) is
/// unknown, reported with `unknown`.
fn parse(
    args: &[String],
    switches: &[&str],
    valued: &[&str],
    unknown: impl Fn(&str) -> Refusal,
) -> Result<Parsed, Refusal> {
    let mut parsed = Parsed::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "-" || !arg.starts_with('-') {
            parsed.positionals.push(arg.clone());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        if switches.contains(&name) && inline.is_none() {
            parsed.options.push((name.to_owned(), None));
        } else if valued.contains(&name) {
            let value = match inline {
                Some(value) => value,
                None => {
                    args.next().cloned().ok_or_else(|| refuse(1, format!("error: option '{name}' argument missing")))?
                }
            };
            parsed.options.push((name.to_owned(), Some(value)));
        } else {
            return Err(unknown(name));
        }
    }
    Ok(parsed)
}

/// The call `cli` is asked to make, or why it refuses. `env` looks up an
/// environment variable.
pub(crate) fn check(cli: Cli, args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Call, Refusal> {
    match cli {
        Cli::Claude => claude(args),
        Cli::Codex => codex(args),
        Cli::Gemini => gemini(args, env),
        Cli::Opencode => opencode(args),
        Cli::Cursor => cursor(args),
        Cli::Amp => amp(args),
        Cli::Aider => aider(args),
    }
}

fn stdin_call(resume: Option<&str>) -> Call {
    Call { resume: resume.map(str::to_owned), prompt: Prompt::Stdin }
}

fn claude(args: &[String]) -> Result<Call, Refusal> {
    let p = parse(
        args,
        &["-p", "--print", "--verbose", "--dangerously-skip-permissions"],
        &[
            "--output-format",
            "--permission-mode",
            "--model",
            "--resume",
            "-r",
            "--session-id",
            "--max-turns",
            "--max-budget-usd",
            "--append-system-prompt",
            "--mcp-config",
            "--allowedTools",
            "--allowed-tools",
            "--json-schema",
        ],
        |name| refuse(1, format!("error: unknown option '{name}'")),
    )?;
    if !p.has(&["-p", "--print"]) {
        return Err(refuse(1, "fake claude: only the headless `-p` mode is faked"));
    }
    if p.value(&["--output-format"]) != Some("stream-json") {
        return Err(refuse(1, "fake claude: colony reads `--output-format stream-json`"));
    }
    if !p.has(&["--verbose"]) {
        return Err(refuse(1, "Error: When using --print, --output-format=stream-json requires --verbose"));
    }
    if let Some(mode) = p.value(&["--permission-mode"]) {
        let modes = ["acceptEdits", "bypassPermissions", "default", "dontAsk", "plan"];
        if !modes.contains(&mode) {
            return Err(refuse(
                1,
                format!(
                    "error: option '--permission-mode <mode>' argument '{mode}' is invalid. \
                     Allowed choices are {}.",
                    modes.join(", ")
                ),
            ));
        }
    }
    if let Some(prompt) = p.positionals.first() {
        return Err(refuse(1, format!("fake claude: the prompt belongs on stdin, not in argv: {prompt:.40}")));
    }
    Ok(stdin_call(p.value(&["--resume", "-r"])))
}

fn codex(args: &[String]) -> Result<Call, Refusal> {
    let Some(("exec", rest)) = args.split_first().map(|(a, r)| (a.as_str(), r)) else {
        return Err(refuse(2, "fake codex: only `codex exec` is faked"));
    };
    let p = parse(
        rest,
        &["--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"],
        &["-m", "--model", "-s", "--sandbox", "-c", "--config", "-C", "--cd", "--output-schema"],
        |name| {
            refuse(
                2,
                format!(
                    "error: unexpected argument '{name}' found\n\nUsage: codex exec [OPTIONS] \
                     [PROMPT] [COMMAND]\n\nFor more information, try '--help'."
                ),
            )
        },
    )?;
    if !p.has(&["--json"]) {
        return Err(refuse(2, "fake codex: colony reads `--json`"));
    }
    if let Some(sandbox) = p.value(&["-s", "--sandbox"]) {
        let modes = ["read-only", "workspace-write", "danger-full-access"];
        if !modes.contains(&sandbox) {
            return Err(refuse(2, format!("error: invalid value '{sandbox}' for '--sandbox <SANDBOX_MODE>'")));
        }
    }
    let positionals: Vec<&str> = p.positionals.iter().map(String::as_str).collect();
    let resume = match positionals.as_slice() {
        ["-"] => None,
        ["resume", id, "-"] => Some(*id),
        _ => {
            return Err(refuse(
                2,
                format!("fake codex: expected `-` (prompt on stdin) or `resume ID -`, got {positionals:?}"),
            ));
        }
    };
    Ok(stdin_call(resume))
}

fn gemini(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Call, Refusal> {
    let p = parse(
        args,
        &["--skip-trust", "-y", "--yolo", "-s", "--sandbox", "-d", "--debug"],
        &[
            "-o",
            "--output-format",
            "--approval-mode",
            "-m",
            "--model",
            "-r",
            "--resume",
            "--session-id",
            "-p",
            "--prompt",
        ],
        |name| refuse(42, format!("Unknown argument: {}", name.trim_start_matches('-'))),
    )?;
    if p.value(&["-o", "--output-format"]) != Some("stream-json") {
        return Err(refuse(42, "fake gemini: colony reads `--output-format stream-json`"));
    }
    if let Some(mode) = p.value(&["--approval-mode"])
        && !["default", "auto_edit", "yolo", "plan"].contains(&mode)
    {
        return Err(refuse(42, format!("Invalid values:\n  Argument: approval-mode, Given: \"{mode}\"")));
    }
    let trusted = p.has(&["--skip-trust"]) || env("GEMINI_CLI_TRUST_WORKSPACE").is_some_and(|v| v == "true");
    if !trusted {
        return Err(refuse(55, "The current folder is not trusted. Trust it, or pass --skip-trust."));
    }
    if !p.positionals.is_empty() || p.has(&["-p", "--prompt"]) {
        return Err(refuse(42, "fake gemini: the prompt belongs on stdin"));
    }
    Ok(stdin_call(p.value(&["-r", "--resume"])))
}

fn opencode(args: &[String]) -> Result<Call, Refusal> {
    let Some(("run", rest)) = args.split_first().map(|(a, r)| (a.as_str(), r)) else {
        return Err(refuse(1, "fake opencode: only `opencode run` is faked"));
    };
    let p = parse(
        rest,
        &["--auto", "-c", "--continue", "--share", "--fork"],
        &["--format", "-m", "--model", "-s", "--session", "--variant", "--agent", "--title"],
        |name| refuse(1, format!("Unknown argument: {}", name.trim_start_matches('-'))),
    )?;
    if p.value(&["--format"]) != Some("json") {
        return Err(refuse(1, "fake opencode: colony reads `--format json`"));
    }
    if !p.positionals.is_empty() {
        return Err(refuse(1, "fake opencode: the prompt belongs on stdin"));
    }
    Ok(stdin_call(p.value(&["-s", "--session"])))
}

fn cursor(args: &[String]) -> Result<Call, Refusal> {
    let p = parse(
        args,
        &["-p", "--print", "-f", "--force", "--yolo", "--trust", "--approve-mcps"],
        &["--output-format", "--model", "-m", "--resume", "--api-key"],
        |name| refuse(1, format!("error: unknown option '{name}'")),
    )?;
    if !p.has(&["-p", "--print"]) {
        return Err(refuse(1, "fake cursor-agent: only the headless `-p` mode is faked"));
    }
    if p.value(&["--output-format"]) != Some("stream-json") {
        return Err(refuse(1, "fake cursor-agent: colony reads `--output-format stream-json`"));
    }
    if !p.has(&["--trust"]) {
        return Err(refuse(
            1,
            "Workspace Trust Required: this folder has not been trusted. Pass --trust to trust it in headless mode.",
        ));
    }
    if !p.positionals.is_empty() {
        return Err(refuse(1, "fake cursor-agent: the prompt belongs on stdin"));
    }
    Ok(stdin_call(p.value(&["--resume"])))
}

fn amp(args: &[String]) -> Result<Call, Refusal> {
    let (resume, rest) = match args {
        [threads, cont, id, rest @ ..] if threads == "threads" && cont == "continue" => (Some(id.as_str()), rest),
        _ => (None, args),
    };
    let p = parse(
        rest,
        &["-x", "--execute", "--stream-json", "--dangerously-allow-all"],
        &["--mode", "-m", "--mcp-config"],
        |name| refuse(1, format!("error: unknown option '{name}'")),
    )?;
    if !p.has(&["-x", "--execute"]) {
        return Err(refuse(1, "fake amp: only execute mode (`-x`) is faked"));
    }
    if !p.has(&["--stream-json"]) {
        return Err(refuse(1, "fake amp: colony reads `--stream-json`"));
    }
    if !p.positionals.is_empty() {
        return Err(refuse(1, "fake amp: the prompt belongs on stdin"));
    }
    Ok(stdin_call(resume))
}

fn aider(args: &[String]) -> Result<Call, Refusal> {
    let usage = "usage: aider [-h] [--model MODEL] [--message-file MESSAGE_FILE] ...";
    let p = parse(
        args,
        &["--yes-always", "--no-stream", "--no-pretty", "--no-auto-commits", "--no-check-update", "--no-gitignore"],
        &[
            "--message-file",
            "-f",
            "--model",
            "--reasoning-effort",
            "--chat-history-file",
            "--input-history-file",
            "--edit-format",
        ],
        |name| refuse(2, format!("{usage}\naider: error: unrecognized arguments: {name}")),
    )?;
    let Some(file) = p.value(&["--message-file", "-f"]) else {
        return Err(refuse(2, "fake aider: colony passes the prompt in `--message-file`"));
    };
    let file = PathBuf::from(file);
    if !file.is_file() {
        return Err(refuse(1, format!("Error reading message file: {}", file.display())));
    }
    Ok(Call { resume: None, prompt: Prompt::File(file) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn refused(cli: Cli, list: &[&str]) -> Refusal {
        check(cli, &args(list), no_env).unwrap_err()
    }

    #[test]
    fn claude_wants_verbose_with_stream_json() {
        let r = refused(Cli::Claude, &["-p", "--output-format", "stream-json"]);
        assert_eq!(r.code, 1);
        assert!(r.message.contains("requires --verbose"));
        let ok =
            check(Cli::Claude, &args(&["-p", "--output-format=stream-json", "--verbose", "--resume", "s1"]), no_env);
        assert_eq!(ok.unwrap().resume.as_deref(), Some("s1"));
    }

    #[test]
    fn unknown_flags_and_prompts_in_argv_are_refused() {
        assert!(refused(Cli::Claude, &["-p", "--bogus"]).message.contains("'--bogus'"));
        assert_eq!(refused(Cli::Codex, &["exec", "--json", "--full-auto", "-"]).code, 2);
        assert!(
            refused(Cli::Claude, &["-p", "--output-format", "stream-json", "--verbose", "hi"])
                .message
                .contains("stdin")
        );
    }

    #[test]
    fn codex_needs_a_dash_and_resumes_before_it() {
        assert!(refused(Cli::Codex, &["exec", "--json"]).message.contains("`-`"));
        let call = check(Cli::Codex, &args(&["exec", "--json", "resume", "t1", "-"]), no_env);
        assert_eq!(call.unwrap().resume.as_deref(), Some("t1"));
    }

    #[test]
    fn gemini_refuses_an_untrusted_folder() {
        let argv = ["--output-format", "stream-json"];
        assert_eq!(refused(Cli::Gemini, &argv).code, 55);
        let trusted = |k: &str| (k == "GEMINI_CLI_TRUST_WORKSPACE").then(|| "true".to_owned());
        assert!(check(Cli::Gemini, &args(&argv), trusted).is_ok());
    }

    #[test]
    fn aider_needs_an_existing_message_file() {
        assert_eq!(refused(Cli::Aider, &["--yes-always"]).code, 2);
        assert_eq!(refused(Cli::Aider, &["--message-file", "/nonexistent/p.md"]).code, 1);
    }

    #[test]
    fn cursor_refuses_an_untrusted_folder() {
        let r = refused(Cli::Cursor, &["-p", "--output-format", "stream-json", "--force"]);
        assert!(r.message.contains("--trust"), "{r:?}");
        let call =
            check(Cli::Cursor, &args(&["-p", "--output-format", "stream-json", "--trust", "--resume", "c1"]), no_env);
        assert_eq!(call.unwrap().resume.as_deref(), Some("c1"));
    }

    #[test]
    fn amp_continues_a_thread() {
        let call = check(Cli::Amp, &args(&["threads", "continue", "T-1", "-x", "--stream-json"]), no_env);
        assert_eq!(call.unwrap().resume.as_deref(), Some("T-1"));
    }
}
