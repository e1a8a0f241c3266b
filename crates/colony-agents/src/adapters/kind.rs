//! Which agent CLIs colony knows, and the facts about each that need no
//! run: names, program, how to install it and log in.

use std::path::PathBuf;

use super::version::CliVersion;

/// One agent CLI colony has an adapter for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CliKind {
    Claude,
    Codex,
    Gemini,
    Opencode,
    Cursor,
    Amp,
    Aider,
}

impl CliKind {
    pub const ALL: [CliKind; 7] = [
        CliKind::Claude,
        CliKind::Codex,
        CliKind::Gemini,
        CliKind::Opencode,
        CliKind::Cursor,
        CliKind::Amp,
        CliKind::Aider,
    ];

    /// The name in `colony.toml` (`[agents.NAME]` or `kind = NAME`).
    pub fn name(self) -> &'static str {
        match self {
            CliKind::Claude => "claude",
            CliKind::Codex => "codex",
            CliKind::Gemini => "gemini",
            CliKind::Opencode => "opencode",
            CliKind::Cursor => "cursor",
            CliKind::Amp => "amp",
            CliKind::Aider => "aider",
        }
    }

    /// The kind called `name`: a [`name`](CliKind::name), or `cursor-agent`,
    /// the name of Cursor's program.
    pub fn from_name(name: &str) -> Option<CliKind> {
        if name == "cursor-agent" {
            return Some(CliKind::Cursor);
        }
        CliKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The program looked up on `PATH` unless one is configured.
    pub fn binary(self) -> &'static str {
        match self {
            CliKind::Cursor => "cursor-agent",
            other => other.name(),
        }
    }

    /// Whether the adapter resumes a session from an earlier round. Aider
    /// has no session to resume: it starts afresh with the feedback prompt.
    pub fn resumes(self) -> bool {
        self != CliKind::Aider
    }

    /// Whether the CLI reports the dollars it spent; the others' tokens are
    /// priced by colony.
    pub fn reports_cost(self) -> bool {
        matches!(self, CliKind::Claude | CliKind::Opencode)
    }

    /// The version the adapter is tested against: the newest whose real
    /// output it was checked on. None for aider, whose prose output was
    /// not checked against a real run.
    pub fn tested_version(self) -> Option<CliVersion> {
        let version = match self {
            CliKind::Claude => "2.1.284",
            CliKind::Codex => "0.101.0",
            CliKind::Gemini => "0.31.0",
            CliKind::Opencode => "1.18.18",
            CliKind::Cursor => "2026.03.20",
            CliKind::Amp => "0.0.1775837683",
            CliKind::Aider => return None,
        };
        CliVersion::parse(version)
    }

    /// Arguments that print the CLI's version and exit.
    pub fn version_args(self) -> &'static [&'static str] {
        &["--version"]
    }

    /// How to install the CLI, for a "not found" message.
    pub fn install_hint(self) -> &'static str {
        match self {
            CliKind::Claude => "npm install -g @anthropic-ai/claude-code",
            CliKind::Codex => "npm install -g @openai/codex",
            CliKind::Gemini => "npm install -g @google/gemini-cli",
            CliKind::Opencode => "npm install -g opencode-ai",
            CliKind::Cursor => "curl https://cursor.com/install -fsS | bash",
            CliKind::Amp => "npm install -g @sourcegraph/amp",
            CliKind::Aider => "python -m pip install aider-install && aider-install",
        }
    }

    /// How to log in, for an auth failure.
    pub fn login_hint(self) -> &'static str {
        match self {
            CliKind::Claude => "run `claude` once and log in, or set ANTHROPIC_API_KEY",
            CliKind::Codex => "run `codex login`, or set OPENAI_API_KEY",
            CliKind::Gemini => "run `gemini` once and sign in, or set GEMINI_API_KEY",
            CliKind::Opencode => "run `opencode auth login`",
            CliKind::Cursor => "run `cursor-agent login`, or set CURSOR_API_KEY",
            CliKind::Amp => "run `amp login`, or set AMP_API_KEY",
            CliKind::Aider => "set your model provider's key, e.g. ANTHROPIC_API_KEY or OPENAI_API_KEY",
        }
    }
}

/// What `[agents.NAME]` configures for a CLI agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CliOptions {
    /// The program to run instead of [`CliKind::binary`] on `PATH`.
    pub binary: Option<PathBuf>,
    /// The model, unless the task names one.
    pub model: Option<String>,
    /// Reasoning effort, where the CLI takes one (codex, opencode, aider);
    /// the others ignore it.
    pub effort: Option<String>,
    /// `None`: the CLI's non-interactive full-permission mode, since nobody
    /// is there to approve. `Some(mode)`: the CLI's own mode value where it
    /// has one; for a CLI without modes, the full-permission flag is left
    /// out and the CLI's own configuration decides.
    pub permission: Option<String>,
    /// Arguments appended after colony's own, before the prompt marker.
    pub extra_args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_cursor_answers_to_its_program_name() {
        for kind in CliKind::ALL {
            assert_eq!(CliKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(CliKind::from_name("cursor-agent"), Some(CliKind::Cursor));
        assert_eq!(CliKind::from_name("command"), None);
        assert_eq!(CliKind::Cursor.binary(), "cursor-agent");
        assert_eq!(CliKind::Claude.binary(), "claude");
    }

    #[test]
    fn every_json_cli_has_a_tested_version() {
        for kind in CliKind::ALL {
            assert_eq!(kind.tested_version().is_some(), kind != CliKind::Aider, "{kind:?}");
        }
        assert_eq!(CliKind::Claude.tested_version().unwrap().to_string(), "2.1.284");
    }

    #[test]
    fn only_aider_cannot_resume() {
        let resuming: Vec<_> = CliKind::ALL.into_iter().filter(|k| !k.resumes()).collect();
        assert_eq!(resuming, [CliKind::Aider]);
    }
}
