//! Adapters for the agent CLIs colony drives headless: Claude Code, Codex,
//! Gemini CLI, OpenCode, Cursor, Amp and Aider.
//!
//! Each CLI has a module with a pure argv builder and a pure parser of one
//! output line; [`CliHarness`] puts them behind the [`Harness`] trait.
//! What every module follows (AGENT_CLIS.md): the prompt on stdin or in a
//! file, never in argv; banners skipped, unknown events ignored, no line
//! length cap; success read from the CLI's final event
//! ([`Entry::Finished`]); errors sorted by [`classify`].
//!
//! [`Harness`]: crate::Harness
//! [`Entry::Finished`]: crate::Entry::Finished

mod aider;
mod amp;
pub mod classify;
mod claude;
mod codex;
mod cursor;
mod event;
mod gemini;
mod harness;
mod judge;
mod kind;
mod opencode;
mod talk;
mod version;

pub use classify::{classify, classify_in, status_class};
pub use harness::CliHarness;
pub use kind::{CliFacts, CliKind, CliOptions};
pub use version::CliVersion;
