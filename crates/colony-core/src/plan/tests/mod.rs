//! Tests of reading, refusing and writing plans, with helpers they share.

mod dialects;
mod errors;
mod props;
mod roundtrip;
mod snapshots;

use super::{Format, PlanErrors, parse};
use crate::branch::DEFAULT_INTEGRATION;
use crate::spec::Plan;

/// The file name errors show for a plan in `format`.
fn file_for(format: Format) -> &'static str {
    match format {
        Format::Yaml => "plan.yaml",
        Format::Toml => "plan.toml",
        Format::Json => "plan.json",
    }
}

/// Parses `text` as a file named `plan.<ext>`, default name `plan`.
fn parse_as(format: Format, text: &str) -> Result<Plan, PlanErrors> {
    parse(file_for(format), text.as_bytes(), format, "plan", DEFAULT_INTEGRATION)
}

/// Parses a plan that must be accepted.
fn accepted(format: Format, text: &str) -> Plan {
    parse_as(format, text).unwrap_or_else(|e| panic!("plan refused:\n{e}\n---\n{text}"))
}

/// The errors of a plan that must be refused, as displayed.
fn refused(format: Format, text: &str) -> String {
    match parse_as(format, text) {
        Ok(plan) => panic!("plan accepted: {plan:?}\n---\n{text}"),
        Err(e) => {
            assert!(!e.0.is_empty(), "refusal with no errors");
            e.to_string()
        }
    }
}
