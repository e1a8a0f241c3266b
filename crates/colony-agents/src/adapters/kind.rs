//! The facts about each agent CLI that need no run: whether it resumes,
//! its tested version, how to install it and log in. Which CLIs there are,
//! and their names, is `colony_core::kind`.

use std::path::PathBuf;

use super::version::CliVersion;

pub use colony_core::kind::CliKind;

/// What colony's adapter knows of each CLI beyond its name (which, with
/// the list of CLIs, is [`colony_core::kind`]'s).
pub trait CliFacts {
    fn resumes(self) -> bool;
    fn reports_cost(self) -> bool;
    fn tested_version(self) -> Option<CliVersion>;
    fn version_args(self) -> &'static [&'static str];
    fn install_hint(self) -> &'static str;
    fn login_hint(self) -> &'static str;
    fn state(self) -> &'static [&'static str];
}

impl CliFacts for CliKind {
    /// Whether the adapter resumes a session from an earlier round. Aider
    /// has no session to resume: it starts afresh with the feedback prompt.
    fn resumes(self) -> bool {
        self != CliKind::Aider
    }

    /// Whether the CLI reports the dollars it spent; the others' tokens are
    /// priced by colony.
    fn reports_cost(self) -> bool {
        matches!(self, CliKind::Claude | CliKind::Opencode)
    }

    /// The version the adapter is tested against: the newest whose real
    /// output it was checked on. None for aider, whose prose output was
    /// not checked against a real run.
    fn tested_version(self) -> Option<CliVersion> {
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
    fn version_args(self) -> &'static [&'static str] {
        &["--version"]
    }

    /// How to install the CLI, for a "not found" message.
    fn install_hint(self) -> &'static str {
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
    fn login_hint(self) -> &'static str {
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

    /// Where the CLI keeps its own state, relative to the home directory:
    /// what the sandbox lets it write besides its worktree.
    fn state(self) -> &'static [&'static str] {
        match self {
            CliKind::Claude => super::claude::STATE,
            CliKind::Codex => super::codex::STATE,
            CliKind::Gemini => super::gemini::STATE,
            CliKind::Opencode => super::opencode::STATE,
            CliKind::Cursor => super::cursor::STATE,
            CliKind::Amp => super::amp::STATE,
            CliKind::Aider => super::aider::STATE,
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
    fn every_json_cli_has_a_tested_version() {
        for kind in CliKind::ALL {
            assert_eq!(kind.tested_version().is_some(), kind != CliKind::Aider, "{kind:?}");
        }
        assert_eq!(CliKind::Claude.tested_version().unwrap().to_string(), "2.1.284");
    }

    #[test]
    fn every_cli_keeps_its_state_under_the_home_directory() {
        for kind in CliKind::ALL {
            assert!(!kind.state().is_empty(), "{kind:?}");
            assert!(kind.state().iter().all(|p| !p.starts_with('/') && !p.contains("..")), "{kind:?}");
        }
        assert_eq!(CliKind::Claude.state(), [".claude", ".claude.json", ".local/share/claude"]);
    }

    #[test]
    fn only_aider_cannot_resume() {
        let resuming: Vec<_> = CliKind::ALL.into_iter().filter(|k| !k.resumes()).collect();
        assert_eq!(resuming, [CliKind::Aider]);
    }
}
