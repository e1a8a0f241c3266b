//! Reading a plan file: the format, the size and encoding checks, the
//! outline and strict reads, and turning each parser's error into one
//! [`PlanError`] line. Also the way back out: [`to_yaml`] and [`to_json`].

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_saphyr::MessageFormatter;

use super::error::{PlanError, PlanErrors, closest};
use super::locate::{self, Lines, Outline, Pos};
use super::raw::{AmplifierPlan, Dialect, DraftPlan, FIELD_ALIASES, Mapping, NativePlan};
use super::validate;
use crate::input::{ReadError, read_limited};
use crate::spec::Plan;

/// Plan files larger than this are refused before parsing.
pub const MAX_PLAN_BYTES: usize = 16 * 1024 * 1024;

/// Alias replays allowed in one YAML plan. Anchors are for sharing a list or
/// a mapping between tasks; this is generous for that, and it stops an alias
/// bomb ("billion laughs") long before it costs anything.
const MAX_ALIAS_REPLAY_EVENTS: usize = 100_000;

/// The syntax a plan file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Toml,
    Json,
}

impl Format {
    /// The format a file's extension names: `.yaml`/`.yml`, `.toml`, `.json`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Reads and validates the plan at `path`. The format comes from the
/// extension; a plan without a `name` is named after the file's stem.
/// `integration` is the integration branch pattern (`colony/{plan}`): the
/// branches the plan will make must be names git takes.
pub fn load(path: &Path, integration: &str) -> Result<Plan, PlanErrors> {
    let file = path.display().to_string();
    let fail = |message: String| PlanErrors::one(PlanError { file: file.clone(), line: None, task: None, message });
    let format = Format::from_path(path).ok_or_else(|| {
        fail(match path.extension() {
            Some(ext) => format!("unknown plan format `.{}`; use .yaml, .yml, .toml or .json", ext.to_string_lossy()),
            None => "no file extension to tell the format by; use .yaml, .yml, .toml or .json".into(),
        })
    })?;
    let bytes = read_limited(path, MAX_PLAN_BYTES as u64).map_err(|e| {
        fail(match e {
            ReadError::Io(e) => format!("cannot read the plan file: {e}"),
            refused => format!("plan file is {refused}"),
        })
    })?;
    let stem = path.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default();
    parse(&file, &bytes, format, &stem, integration)
}

/// Parses and validates a plan. `file` is the name errors show;
/// `default_name` names a plan that does not name itself; `integration`
/// is the integration branch pattern.
pub fn parse(
    file: &str,
    bytes: &[u8],
    format: Format,
    default_name: &str,
    integration: &str,
) -> Result<Plan, PlanErrors> {
    let fail = |line: Option<usize>, message: String| {
        PlanErrors::one(PlanError { file: file.to_owned(), line, task: None, message })
    };
    if bytes.len() > MAX_PLAN_BYTES {
        let refused = ReadError::TooBig { limit: MAX_PLAN_BYTES as u64 };
        return Err(fail(None, format!("plan file is {refused}")));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        fail(Some(line), "not valid UTF-8".into())
    })?;
    // Editors on Windows may start a file with a byte order mark; TOML and
    // JSON parsers refuse it, and it carries nothing.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(fail(None, "plan file is empty".into()));
    }
    let outline = locate::outline(text, format).map_err(|e| PlanErrors::one(e.locate(file, None)))?;
    let draft = strict(text, format, outline.dialect).map_err(|e| PlanErrors::one(e.locate(file, Some(&outline))))?;
    validate::plan(file, draft, &outline, default_name, integration)
}

/// The plan in the native YAML shape; `parse` reads it back equal.
pub fn to_yaml(plan: &Plan) -> String {
    serde_saphyr::to_string(plan).expect("a plan always serializes to YAML")
}

/// The plan in the native JSON shape; `parse` reads it back equal.
pub fn to_json(plan: &Plan) -> String {
    let mut json = serde_json::to_string_pretty(plan).expect("a plan always serializes to JSON");
    json.push('\n');
    json
}

/// The YAML reader's settings: no source snippets in errors (we print one
/// line), and a tight alias budget.
pub(super) fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    options.alias_limits.max_total_replayed_events = MAX_ALIAS_REPLAY_EVENTS;
    // `.nan` in an ignored field must not fail the outline read; a typed
    // `estimated_hours: .nan` is refused by validation, with its task.
    options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::PassThrough;
    options
}

/// The strict read into the dialect's exact shape.
fn strict(text: &str, format: Format, dialect: Dialect) -> Result<DraftPlan, SourceError> {
    match (format, dialect) {
        (Format::Yaml, Dialect::Native) => read::<Mapping<NativePlan<true>>>(text, format).map(Into::into),
        (Format::Yaml, Dialect::Amplifier) => read::<Mapping<AmplifierPlan<true>>>(text, format).map(Into::into),
        (_, Dialect::Native) => read::<Mapping<NativePlan<false>>>(text, format).map(Into::into),
        (_, Dialect::Amplifier) => read::<Mapping<AmplifierPlan<false>>>(text, format).map(Into::into),
    }
}

fn read<T: DeserializeOwned>(text: &str, format: Format) -> Result<T, SourceError> {
    match format {
        Format::Yaml => {
            serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|e| SourceError::from_yaml(&e))
        }
        Format::Toml => toml::from_str(text).map_err(|e| SourceError::from_toml(&e, &Lines::new(text))),
        Format::Json => serde_json::from_str(text).map_err(|e| SourceError::from_json(&e)),
    }
}

/// A parser's error reduced to what we print: a one-line message, where it
/// is, and for an unknown field, the field and the names that were allowed.
#[derive(Debug)]
pub struct SourceError {
    message: String,
    pos: Option<Pos>,
    unknown: Option<(String, Vec<String>)>,
}

impl SourceError {
    pub(super) fn from_yaml(error: &serde_saphyr::Error) -> Self {
        use serde_saphyr::Error as E;
        let pos = error.location().and_then(locate::yaml_pos);
        // The location is the outermost one (where an alias is used); the
        // message is the innermost error's.
        let mut inner = error;
        while let E::WithSnippet { error, .. } | E::AliasError { error, .. } = inner {
            inner = error;
        }
        let unknown = match inner {
            E::SerdeUnknownField { field, expected, .. } => {
                Some((field.clone(), expected.iter().map(|s| s.to_string()).collect()))
            }
            _ => None,
        };
        let message = match inner {
            E::AliasReplayLimitExceeded { max_total_replayed_events, .. } => format!(
                "YAML aliases expand past {max_total_replayed_events} events, the limit that guards against alias bombs"
            ),
            _ => serde_saphyr::UserMessageFormatter.format_message(inner).into_owned(),
        };
        SourceError { message, pos, unknown }
    }

    pub(super) fn from_toml(error: &toml::de::Error, lines: &Lines) -> Self {
        let message = error.message().to_owned();
        SourceError { unknown: unknown_field(&message), pos: error.span().map(|s| lines.pos(s.start)), message }
    }

    pub(super) fn from_json(error: &serde_json::Error) -> Self {
        let text = error.to_string();
        let suffix = format!(" at line {} column {}", error.line(), error.column());
        let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
        SourceError {
            unknown: unknown_field(&message),
            pos: (error.line() > 0).then_some((error.line(), error.column())),
            message,
        }
    }

    /// The error as a [`PlanError`], placed in the task it falls in.
    pub(super) fn locate(self, file: &str, outline: Option<&Outline>) -> PlanError {
        // An unknown key beside `tasks` is plan-level even when it comes
        // after the last task.
        let plan_level = self.unknown.as_ref().is_some_and(|(_, names)| names.iter().any(|n| n == "tasks"));
        let task =
            outline.filter(|_| !plan_level).zip(self.pos).and_then(|(o, pos)| o.tasks.get(o.task_at(pos)?)?.id.clone());
        let message = match &self.unknown {
            Some((field, names)) => unknown_field_message(field, names),
            None => plain_words(&self.message),
        };
        PlanError { file: file.to_owned(), line: self.pos.map(|(line, _)| line), task, message }
    }
}

/// Reads serde's `unknown field `x`, expected one of `a`, `b`` message (the
/// form TOML and JSON errors carry) back into the field and the names.
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    if let Some(field) = rest.strip_suffix("`, there are no fields") {
        return Some((field.to_owned(), Vec::new()));
    }
    // rsplit: the names after "expected" cannot contain the separator, the
    // field (user text) can.
    let (field, names) = rest.rsplit_once("`, expected ")?;
    let names = names.split('`').skip(1).step_by(2).map(str::to_owned).collect();
    Some((field.to_owned(), names))
}

/// `unknown field `dep`; did you mean `deps`?`, or the allowed names when
/// nothing is close. The other dialect's name for a field counts as a
/// spelling of it.
fn unknown_field_message(field: &str, names: &[String]) -> String {
    let allowed = |n: &str| names.iter().any(|x| x == n);
    let spellings = names.iter().map(|n| (n.as_str(), n.as_str())).chain(
        FIELD_ALIASES
            .iter()
            .flat_map(|&(a, b)| [(a, b), (b, a)])
            .filter(|&(other, ours)| allowed(ours) && !allowed(other)),
    );
    let spellings: Vec<(&str, &str)> = spellings.collect();
    match closest(field, spellings.iter().map(|&(s, _)| s)) {
        Some(near) => {
            let ours = spellings.iter().find(|&&(s, _)| s == near).map_or(near, |&(_, o)| o);
            format!("unknown field `{field}`; did you mean `{ours}`?")
        }
        None if names.is_empty() => format!("unknown field `{field}`"),
        None => {
            let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("unknown field `{field}`; expected one of {}", list.join(", "))
        }
    }
}

/// Parser messages name Rust types (`expected u32`) or parser events
/// (`expected sequence start`); say what they mean, and keep to one line.
fn plain_words(message: &str) -> String {
    const WORDS: &[(&str, &str)] = &[
        ("expected f64", "expected a number"),
        ("expected u32", "expected a whole number, 0 or more"),
        ("invalid u32", "expected a whole number, 0 or more"),
        ("expected a sequence", "expected a list"),
        ("invalid floating point", "expected a number"),
        ("expected string scalar", "expected a string"),
        ("expected sequence start", "expected a list"),
        ("expected mapping start", "expected a mapping"),
    ];
    let mut text = message.split_whitespace().collect::<Vec<_>>().join(" ");
    for (rust, plain) in WORDS {
        text = text.replace(rust, plain);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_serde_unknown_field_messages() {
        assert_eq!(
            unknown_field("unknown field `dep`, expected one of `id`, `deps`"),
            Some(("dep".into(), vec!["id".into(), "deps".into()]))
        );
        assert_eq!(
            unknown_field("unknown field `a`, expected `b` or `c`"),
            Some(("a".into(), vec!["b".into(), "c".into()]))
        );
        assert_eq!(unknown_field("unknown field `x`, there are no fields"), Some(("x".into(), vec![])));
        assert_eq!(unknown_field("invalid type: map"), None);
    }

    #[test]
    fn suggests_the_other_dialects_name_as_ours() {
        let native = ["id", "title", "prompt", "deps"].map(String::from);
        assert_eq!(
            unknown_field_message("dependencies", &native),
            "unknown field `dependencies`; did you mean `deps`?"
        );
        assert_eq!(unknown_field_message("dependency", &native), "unknown field `dependency`; did you mean `deps`?");
        assert_eq!(
            unknown_field_message("description", &native),
            "unknown field `description`; did you mean `prompt`?"
        );
        let amplifier = ["id", "name", "description", "dependencies"].map(String::from);
        assert_eq!(unknown_field_message("deps", &amplifier), "unknown field `deps`; did you mean `dependencies`?");
        assert_eq!(
            unknown_field_message("zzz", &amplifier),
            "unknown field `zzz`; expected one of `id`, `name`, `description`, `dependencies`"
        );
    }

    #[test]
    fn formats_come_from_extensions() {
        assert_eq!(Format::from_path(Path::new("a/plan.yml")), Some(Format::Yaml));
        assert_eq!(Format::from_path(Path::new("plan.YAML")), Some(Format::Yaml));
        assert_eq!(Format::from_path(Path::new("plan.toml")), Some(Format::Toml));
        assert_eq!(Format::from_path(Path::new("plan.json")), Some(Format::Json));
        assert_eq!(Format::from_path(Path::new("plan.txt")), None);
        assert_eq!(Format::from_path(Path::new("plan")), None);
    }
}
