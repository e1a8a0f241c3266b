//! Plan files: reading YAML, TOML or JSON into a validated [`Plan`], and
//! writing a plan back out for `colony export`.
//!
//! Two dialects are read, each in all three formats: colony's own (see
//! DESIGN.md, "Plan file") and amplifier-swarm's `tasks.yaml`, told apart by
//! their keys. A file goes through four steps, each owned by one file here:
//!
//! 1. `parse`: reading only a regular file of at most 16 MiB
//!    ([`crate::input`]), and the UTF-8 check;
//! 2. `locate`: a lenient outline read that picks the dialect and finds the
//!    line each task starts on;
//! 3. `raw`: a strict read into the dialect's exact shape, refusing unknown
//!    fields with a "did you mean" suggestion;
//! 4. `validate`: ids, dependencies, cycles and values, reporting every
//!    problem found, each with its file, line and task.
//!
//! Syntax and unknown-field errors stop at the first one; validation errors
//! are all reported. [`PlanErrors`] displays one problem per line.
//!
//! Ids are strings. A YAML plain scalar is read as the text written, so
//! `id: 2.6` is the id `2.6`; in TOML and JSON an id is a string or an
//! integer (`1` is the id `1`).

mod error;
mod followups;
mod guide;
mod locate;
mod parse;
mod raw;
mod replace;
mod validate;

#[cfg(test)]
mod tests;

pub use error::closest;
pub use error::{PlanError, PlanErrors};
pub(crate) use error::{write_lines, write_located};
pub use followups::{FOLLOWUPS_FILE, Judged, MAX_FOLLOWUPS_BYTES, Proposed, judge};
pub use guide::{PLAN_FIELDS, TASK_FIELDS, format_guide};
pub use parse::{Format, MAX_PLAN_BYTES, load, parse, to_json, to_yaml};
pub use replace::{Replacement, replace};

#[cfg(doc)]
use crate::spec::Plan;
