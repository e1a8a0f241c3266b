//! The shapes plan files are read into before validation, one per dialect.
//!
//! Each struct mirrors its dialect's fields exactly and refuses unknown ones,
//! so a typo fails loudly instead of being dropped. Values whose problems
//! should all be reported together (ids, prompts, durations, priorities,
//! counts) are kept loose here and judged in [`super::validate`]; only a value
//! of the wrong type stops the read.
//!
//! Both dialects convert to one [`Draft`], so validation is written once.
//!
//! The `const YAML: bool` parameter exists for [`Scalar`]: YAML hands over a
//! plain scalar's text as written, so `id: 2.6` or `id: 1.10` stays that
//! text, whereas TOML and JSON have typed values and we take a string or an
//! integer there.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::spec::{Approval, Review, ReviewNone};

/// Which of the two plan shapes a file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// colony's own shape (DESIGN.md, "Plan file").
    Native,
    /// amplifier-swarm's `tasks.yaml`.
    Amplifier,
}

impl Dialect {
    /// The dialect's name for the task prompt, for messages.
    pub fn prompt_field(self) -> &'static str {
        match self {
            Dialect::Native => "prompt",
            Dialect::Amplifier => "description",
        }
    }
}

/// Names the two dialects use for the same thing: a field from the other
/// dialect is suggested as its counterpart here (`dependencies` in a native
/// plan: did you mean `deps`?).
pub const FIELD_ALIASES: &[(&str, &str)] = &[
    ("deps", "dependencies"),
    ("title", "name"),
    ("prompt", "description"),
    ("acceptance", "acceptance_criteria"),
    ("kind", "type"),
];

/// A struct that may only be written as a mapping. serde's derived structs
/// also accept a list of values in field order, which in a plan would
/// silently read `["a", "do it"]` as an `id` and a `title`.
pub struct Mapping<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Mapping<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for MapVisitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(MapVisitor(PhantomData)).map(Mapping)
    }
}

/// A string-valued scalar such as an id. See the module docs for `YAML`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar<const YAML: bool>(pub String);

impl<'de, const YAML: bool> Deserialize<'de> for Scalar<YAML> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
                Ok(v.to_owned())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
                Ok(v.to_string())
            }
        }
        let text = if YAML { d.deserialize_str(ScalarVisitor) } else { d.deserialize_any(ScalarVisitor) };
        text.map(Scalar)
    }
}

/// A list of strings, or one string of lines (`"- users can log in\n- ..."`)
/// that become the entries, a leading `- ` taken off each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextList(pub Vec<String>);

impl<'de> Deserialize<'de> for TextList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of strings or one string of `- ` lines")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
                Ok(v.lines()
                    .map(|l| l.trim())
                    .map(|l| l.strip_prefix("- ").map_or(l, str::trim_start))
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(items)
            }
        }
        d.deserialize_any(ListVisitor).map(TextList)
    }
}

/// `priority`: an integer, or one of the words critical, high, medium, low.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawPriority {
    Number(i64),
    Word(String),
}

impl<'de> Deserialize<'de> for RawPriority {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PriorityVisitor;
        impl Visitor<'_> for PriorityVisitor {
            type Value = RawPriority;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer or one of critical, high, medium, low")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawPriority, E> {
                Ok(RawPriority::Number(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawPriority, E> {
                i64::try_from(v)
                    .map(RawPriority::Number)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPriority, E> {
                Ok(RawPriority::Word(v.to_owned()))
            }
        }
        d.deserialize_any(PriorityVisitor)
    }
}

/// `timeout`: a number of seconds or a text like `30m`; judged later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawDuration {
    Seconds(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = RawDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration like `30m` or `1h 30m`, or a number of seconds")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawDuration, E> {
                Ok(RawDuration::Seconds(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawDuration, E> {
                i64::try_from(v)
                    .map(RawDuration::Seconds)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration::Text(v.to_owned()))
            }
        }
        d.deserialize_any(DurationVisitor)
    }
}

/// `review`: the word `none`, or `{ agent: NAME }`.
///
/// Read by hand rather than through `Review`'s untagged derive, whose only
/// error is "did not match any variant".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReview(pub Review);

/// The mapping form of a review.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewAgent {
    agent: String,
}

impl<'de> Deserialize<'de> for RawReview {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ReviewVisitor;
        impl<'de> Visitor<'de> for ReviewVisitor {
            type Value = Review;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`none` or `{ agent: NAME }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Review, E> {
                if v == "none" {
                    Ok(Review::Skip(ReviewNone::None))
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Review, A::Error> {
                let r = ReviewAgent::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Review::Agent { agent: r.agent })
            }
        }
        d.deserialize_any(ReviewVisitor).map(RawReview)
    }
}

/// `defaults:` of a native plan.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub role: Option<String>,
    pub agent: Option<String>,
    pub model: Option<String>,
    pub review: Option<RawReview>,
    pub timeout: Option<RawDuration>,
    pub max_attempts: Option<u32>,
    pub approval: Option<Approval>,
}

/// A native plan as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativePlan<const YAML: bool> {
    name: Option<String>,
    base: Option<String>,
    defaults: Option<Mapping<RawDefaults>>,
    tasks: Option<Vec<Mapping<NativeTask<YAML>>>>,
}

/// A native task as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeTask<const YAML: bool> {
    id: Option<Scalar<YAML>>,
    title: Option<String>,
    prompt: Option<String>,
    deps: Option<Vec<Scalar<YAML>>>,
    acceptance: Option<TextList>,
    files: Option<Vec<String>>,
    priority: Option<RawPriority>,
    estimated_hours: Option<f64>,
    role: Option<String>,
    agent: Option<String>,
    model: Option<String>,
    review: Option<RawReview>,
    timeout: Option<RawDuration>,
    max_attempts: Option<u32>,
    approval: Option<Approval>,
    phase: Option<Scalar<YAML>>,
    kind: Option<String>,
    design_docs: Option<Vec<String>>,
    /// Any value; only the fake agent reads it.
    fake: Option<serde_json::Value>,
}

/// An amplifier-swarm `tasks.yaml` as written: `tasks`, and the
/// bookkeeping amplifier-swarm's own `export-tasks` adds, which is read and
/// ignored so that its exports import unchanged.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmplifierPlan<const YAML: bool> {
    tasks: Option<Vec<Mapping<AmplifierTask<YAML>>>>,
    #[serde(rename = "version")]
    _version: Option<IgnoredAny>,
    #[serde(rename = "exported_at")]
    _exported_at: Option<IgnoredAny>,
    #[serde(rename = "summary")]
    _summary: Option<IgnoredAny>,
}

/// An amplifier-swarm task as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AmplifierTask<const YAML: bool> {
    id: Option<Scalar<YAML>>,
    name: Option<String>,
    description: Option<String>,
    acceptance_criteria: Option<TextList>,
    dependencies: Option<Vec<Scalar<YAML>>>,
    priority: Option<RawPriority>,
    estimated_hours: Option<f64>,
    files: Option<Vec<String>>,
    design_docs: Option<Vec<String>>,
    phase: Option<Scalar<YAML>>,
    #[serde(rename = "type")]
    kind: Option<String>,
    /// amplifier-swarm's own progress record; colony keeps its own state.
    #[serde(rename = "status")]
    _status: Option<IgnoredAny>,
    #[serde(rename = "completed_at")]
    _completed_at: Option<IgnoredAny>,
    #[serde(rename = "retry_count")]
    _retry_count: Option<IgnoredAny>,
    #[serde(rename = "last_error")]
    _last_error: Option<IgnoredAny>,
}

/// A plan in either dialect, fields under their native names, not yet judged.
pub struct DraftPlan {
    pub dialect: Dialect,
    pub name: Option<String>,
    pub base: Option<String>,
    pub defaults: RawDefaults,
    pub tasks: Vec<Draft>,
}

/// One task in either dialect, under native names.
pub struct Draft {
    pub id: Option<String>,
    pub title: Option<String>,
    pub prompt: Option<String>,
    pub deps: Vec<String>,
    pub acceptance: Vec<String>,
    pub files: Vec<String>,
    pub priority: Option<RawPriority>,
    pub estimated_hours: Option<f64>,
    pub role: Option<String>,
    pub agent: Option<String>,
    pub model: Option<String>,
    pub review: Option<Review>,
    pub timeout: Option<RawDuration>,
    pub max_attempts: Option<u32>,
    pub approval: Option<Approval>,
    pub phase: Option<String>,
    pub kind: Option<String>,
    pub design_docs: Vec<String>,
    pub fake: Option<serde_json::Value>,
}

fn texts<const YAML: bool>(list: Option<Vec<Scalar<YAML>>>) -> Vec<String> {
    list.unwrap_or_default().into_iter().map(|s| s.0).collect()
}

impl<const YAML: bool> From<Mapping<NativePlan<YAML>>> for DraftPlan {
    fn from(Mapping(p): Mapping<NativePlan<YAML>>) -> Self {
        DraftPlan {
            dialect: Dialect::Native,
            name: p.name,
            base: p.base,
            defaults: p.defaults.map(|m| m.0).unwrap_or_default(),
            tasks: p.tasks.unwrap_or_default().into_iter().map(|m| m.0.into()).collect(),
        }
    }
}

impl<const YAML: bool> From<NativeTask<YAML>> for Draft {
    fn from(t: NativeTask<YAML>) -> Self {
        Draft {
            id: t.id.map(|s| s.0),
            title: t.title,
            prompt: t.prompt,
            deps: texts(t.deps),
            acceptance: t.acceptance.map(|l| l.0).unwrap_or_default(),
            files: t.files.unwrap_or_default(),
            priority: t.priority,
            estimated_hours: t.estimated_hours,
            role: t.role,
            agent: t.agent,
            model: t.model,
            review: t.review.map(|r| r.0),
            timeout: t.timeout,
            max_attempts: t.max_attempts,
            approval: t.approval,
            phase: t.phase.map(|s| s.0),
            kind: t.kind,
            design_docs: t.design_docs.unwrap_or_default(),
            fake: t.fake,
        }
    }
}

impl<const YAML: bool> From<Mapping<AmplifierPlan<YAML>>> for DraftPlan {
    fn from(Mapping(p): Mapping<AmplifierPlan<YAML>>) -> Self {
        DraftPlan {
            dialect: Dialect::Amplifier,
            name: None,
            base: None,
            defaults: RawDefaults::default(),
            tasks: p.tasks.unwrap_or_default().into_iter().map(|m| m.0.into()).collect(),
        }
    }
}

impl<const YAML: bool> From<AmplifierTask<YAML>> for Draft {
    fn from(t: AmplifierTask<YAML>) -> Self {
        Draft {
            id: t.id.map(|s| s.0),
            title: t.name,
            prompt: t.description,
            deps: texts(t.dependencies),
            acceptance: t.acceptance_criteria.map(|l| l.0).unwrap_or_default(),
            files: t.files.unwrap_or_default(),
            priority: t.priority,
            estimated_hours: t.estimated_hours,
            role: None,
            agent: None,
            model: None,
            review: None,
            timeout: None,
            max_attempts: None,
            approval: None,
            phase: t.phase.map(|s| s.0),
            kind: t.kind,
            design_docs: t.design_docs.unwrap_or_default(),
            fake: None,
        }
    }
}
