//! The outline pass: a lenient first read that picks the dialect and finds
//! where each task starts.
//!
//! The strict read (into [`super::raw`]) knows where an error is but not
//! which task it is in, and validation knows the task but not the line. The
//! outline supplies both: where each task starts, its id when readable, and
//! where the plan-level values are, so an error's position can be mapped to
//! the task whose start is the last one at or before it.
//!
//! Positions are (line, column), not just lines, so a plan written on one
//! line (generated JSON) still places its errors. Each format reports them
//! its own way: serde-saphyr's `Spanned` gives a node's line and column,
//! `toml::Spanned` a byte range, and for JSON a borrowed `RawValue` is a
//! slice of the input whose offset is its position.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::parse::{Format, SourceError};
use super::raw::{Dialect, Mapping, Scalar};

/// A place in a plan file: 1-based line and column.
pub type Pos = (usize, usize);

/// Where things are in a plan file, and which dialect it is written in.
#[derive(Debug)]
pub struct Outline {
    pub dialect: Dialect,
    /// One entry per task, in file order.
    pub tasks: Vec<TaskPlace>,
    /// Where the values of the plan-level keys (`name`, `base`,
    /// `defaults`) start.
    pub keys: Vec<(&'static str, Pos)>,
}

/// Where one task starts, and its id if it could be read.
#[derive(Debug)]
pub struct TaskPlace {
    pub pos: Option<Pos>,
    pub id: Option<String>,
}

impl Outline {
    /// The line a plan-level key's value starts on.
    pub fn key_line(&self, key: &str) -> Option<usize> {
        self.keys.iter().find(|(k, _)| *k == key).map(|&(_, (line, _))| line)
    }

    /// The line a task starts on.
    pub fn task_line(&self, index: usize) -> Option<usize> {
        Some(self.tasks.get(index)?.pos?.0)
    }

    /// The index of the task that `pos` falls in: the last task starting at
    /// or before it, unless a plan-level value comes between (the tasks
    /// ended).
    pub fn task_at(&self, pos: Pos) -> Option<usize> {
        let (index, start) = self
            .tasks
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((i, t.pos?)))
            .take_while(|&(_, start)| start <= pos)
            .last()?;
        let after_tasks = self.keys.iter().any(|&(_, k)| k > start && k <= pos);
        (!after_tasks).then_some(index)
    }
}

/// The top level of a plan, as far as the outline cares. `K` and `T` carry
/// the position of a plan-level value and of a task in the format at hand.
#[derive(Deserialize)]
struct Skeleton<K, T> {
    name: Option<K>,
    base: Option<K>,
    defaults: Option<K>,
    tasks: Option<Vec<T>>,
}

/// Just the keys of a task that tell the dialects apart, and its id.
#[derive(Deserialize)]
struct TaskKeys<const YAML: bool> {
    id: Option<Scalar<YAML>>,
    prompt: Option<IgnoredAny>,
    description: Option<IgnoredAny>,
    name: Option<IgnoredAny>,
}

impl<const YAML: bool> TaskKeys<YAML> {
    /// amplifier-swarm tasks have a `description` (or `name`) and no `prompt`.
    fn looks_amplifier(&self) -> bool {
        self.prompt.is_none() && (self.description.is_some() || self.name.is_some())
    }
}

/// Byte offset to position, for formats that report byte offsets.
pub struct Lines(Vec<usize>);

impl Lines {
    pub fn new(text: &str) -> Self {
        Lines(text.match_indices('\n').map(|(i, _)| i).collect())
    }

    /// The line and column (in bytes, as serde_json counts) of `offset`.
    pub fn pos(&self, offset: usize) -> Pos {
        let line = self.0.partition_point(|&nl| nl < offset);
        let line_start = if line == 0 { 0 } else { self.0[line - 1] + 1 };
        (line + 1, offset - line_start + 1)
    }
}

/// Reads the outline of `text`. Fails only on what the strict read would
/// fail on too: bad syntax, or tasks that are not a list of mappings.
pub fn outline(text: &str, format: Format) -> Result<Outline, SourceError> {
    match format {
        Format::Yaml => yaml(text),
        Format::Toml => toml(text),
        Format::Json => json(text),
    }
}

type YamlSkeleton = Skeleton<serde_saphyr::Spanned<IgnoredAny>, serde_saphyr::Spanned<Mapping<TaskKeys<true>>>>;

fn yaml(text: &str) -> Result<Outline, SourceError> {
    let Mapping(doc): Mapping<YamlSkeleton> = serde_saphyr::from_str_with_options(text, super::parse::yaml_options())
        .map_err(|e| SourceError::from_yaml(&e))?;
    let tasks = doc.tasks.unwrap_or_default();
    let amplifier = tasks.first().is_some_and(|t| t.value.0.looks_amplifier());
    let keys = [("name", &doc.name), ("base", &doc.base), ("defaults", &doc.defaults)]
        .into_iter()
        .filter_map(|(k, v)| Some((k, yaml_pos(v.as_ref()?.referenced)?)))
        .collect();
    Ok(Outline {
        dialect: dialect(keys_present(&doc.name, &doc.base, &doc.defaults), amplifier),
        tasks: tasks
            .into_iter()
            .map(|t| TaskPlace { pos: yaml_pos(t.referenced), id: t.value.0.id.map(|s| s.0) })
            .collect(),
        keys,
    })
}

type TomlSkeleton = Skeleton<toml::Spanned<IgnoredAny>, toml::Spanned<Mapping<TaskKeys<false>>>>;

fn toml(text: &str) -> Result<Outline, SourceError> {
    let lines = Lines::new(text);
    let Mapping(doc): Mapping<TomlSkeleton> = toml::from_str(text).map_err(|e| SourceError::from_toml(&e, &lines))?;
    let tasks = doc.tasks.unwrap_or_default();
    let amplifier = tasks.first().is_some_and(|t| t.get_ref().0.looks_amplifier());
    let keys = [("name", &doc.name), ("base", &doc.base), ("defaults", &doc.defaults)]
        .into_iter()
        .filter_map(|(k, v)| Some((k, lines.pos(v.as_ref()?.span().start))))
        .collect();
    Ok(Outline {
        dialect: dialect(keys_present(&doc.name, &doc.base, &doc.defaults), amplifier),
        tasks: tasks
            .into_iter()
            .map(|t| TaskPlace { pos: Some(lines.pos(t.span().start)), id: t.into_inner().0.id.map(|s| s.0) })
            .collect(),
        keys,
    })
}

fn json(text: &str) -> Result<Outline, SourceError> {
    let lines = Lines::new(text);
    let Mapping(doc): Mapping<Skeleton<&RawValue, &RawValue>> =
        serde_json::from_str(text).map_err(|e| SourceError::from_json(&e))?;
    // A borrowed RawValue is a slice of `text`, so its address gives its offset.
    let pos = |raw: &RawValue| lines.pos(raw.get().as_ptr() as usize - text.as_ptr() as usize);
    // A task that does not read as TaskKeys is left unnamed here; the strict
    // read reports what is wrong with it, with its line.
    let keys_of = |raw: &RawValue| serde_json::from_str::<Mapping<TaskKeys<false>>>(raw.get()).ok().map(|m| m.0);
    let tasks = doc.tasks.unwrap_or_default();
    let amplifier = tasks.first().and_then(|t| keys_of(t)).is_some_and(|k| k.looks_amplifier());
    let keys = [("name", doc.name), ("base", doc.base), ("defaults", doc.defaults)]
        .into_iter()
        .filter_map(|(k, v)| Some((k, pos(v?))))
        .collect();
    Ok(Outline {
        dialect: dialect(keys_present(&doc.name, &doc.base, &doc.defaults), amplifier),
        tasks: tasks
            .iter()
            .map(|&t| TaskPlace { pos: Some(pos(t)), id: keys_of(t).and_then(|k| k.id).map(|s| s.0) })
            .collect(),
        keys,
    })
}

/// A serde-saphyr location as a position; `None` when it is unknown.
pub fn yaml_pos(l: serde_saphyr::Location) -> Option<Pos> {
    let line = usize::try_from(l.line()).ok().filter(|&l| l > 0)?;
    Some((line, usize::try_from(l.column()).unwrap_or(0)))
}

fn keys_present<K>(name: &Option<K>, base: &Option<K>, defaults: &Option<K>) -> bool {
    name.is_some() || base.is_some() || defaults.is_some()
}

/// amplifier-swarm plans have no plan-level settings, and their first task
/// says `description` or `name` where a native one says `prompt`.
fn dialect(has_settings: bool, first_task_amplifier: bool) -> Dialect {
    if !has_settings && first_task_amplifier { Dialect::Amplifier } else { Dialect::Native }
}
