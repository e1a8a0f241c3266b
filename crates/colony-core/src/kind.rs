//! The kinds of agent colony runs, listed once: `command` (any program),
//! `fake` (colony's own stand-in) and the agent CLIs it has an adapter
//! for. `colony.toml`'s `kind =`, the adapters in `colony-agents` and the
//! fake CLIs in `colony-fake` all take their lists from here.

/// `kind = "command"`: any program, the prompt on stdin.
pub const COMMAND: &str = "command";

/// colony's deterministic fake agent, configured or not.
pub const FAKE: &str = "fake";

/// One agent CLI colony has an adapter for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

    /// The kind called `name`: a [`name`](CliKind::name), or the
    /// [`binary`](CliKind::binary) it goes by on `PATH` (`cursor-agent`).
    pub fn from_name(name: &str) -> Option<CliKind> {
        CliKind::ALL.into_iter().find(|k| k.name() == name || k.binary() == name)
    }

    /// The program looked up on `PATH` unless one is configured.
    pub fn binary(self) -> &'static str {
        match self {
            CliKind::Cursor => "cursor-agent",
            other => other.name(),
        }
    }
}

/// Every kind `colony.toml` takes: `command`, `fake`, then the CLIs.
pub fn names() -> impl Iterator<Item = &'static str> {
    [COMMAND, FAKE].into_iter().chain(CliKind::ALL.into_iter().map(CliKind::name))
}

/// The agents colony has without a table: the fake agent and every CLI,
/// by the name that runs them.
pub fn built_in() -> impl Iterator<Item = &'static str> {
    [FAKE].into_iter().chain(CliKind::ALL.into_iter().map(CliKind::name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_cursor_answers_to_its_program_name() {
        for kind in CliKind::ALL {
            assert_eq!(CliKind::from_name(kind.name()), Some(kind));
            assert_eq!(CliKind::from_name(kind.binary()), Some(kind));
        }
        assert_eq!(CliKind::from_name("cursor-agent"), Some(CliKind::Cursor));
        assert_eq!(CliKind::from_name(COMMAND), None);
        assert_eq!(CliKind::from_name(FAKE), None);
        assert_eq!(CliKind::Cursor.binary(), "cursor-agent");
        assert_eq!(CliKind::Claude.binary(), "claude");
    }

    #[test]
    fn every_kind_is_named_once() {
        let all: Vec<_> = names().collect();
        let unique: std::collections::BTreeSet<_> = all.iter().collect();
        assert_eq!(all.len(), unique.len());
        assert_eq!(all.len(), 2 + CliKind::ALL.len());
        assert!(built_in().all(|n| all.contains(&n) && n != COMMAND));
    }
}
