//! The normalized plan: what every plan format parses to.
//!
//! These types are what the store keeps and what `colony export` writes; the
//! raw shapes that files are read into live in [`crate::plan`]. A `TaskSpec`
//! serializes to the native plan format, so an export reads back unchanged.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::id::{PlanName, TaskId};

/// Attempts a task gets when neither the task nor the plan says.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// A whole plan, validated: ids are unique, deps exist, there is no cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub name: PlanName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    #[serde(default, skip_serializing_if = "Defaults::is_empty")]
    pub defaults: Defaults,
    pub tasks: Vec<TaskSpec>,
}

/// Settings every task of a plan inherits unless it sets its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// The `[roles.NAME]` of colony.toml its tasks take, unless they name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_duration")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

impl Defaults {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One task as the plan states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub id: TaskId,
    pub title: String,
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<TaskId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acceptance: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Higher runs first among tasks of equal critical path.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_hours: Option<f64>,
    /// The `[roles.NAME]` of colony.toml it takes: its template, agent,
    /// model, gates and review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_duration")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// amplifier-swarm's `type`, kept so an import round-trips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub design_docs: Vec<String>,
    /// Instructions for colony's fake agent, used by tests and the demo;
    /// ignored by real agents. Any value: the fake agent judges it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fake: Option<serde_json::Value>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

impl TaskSpec {
    /// A task with only the required fields, for building plans in code.
    pub fn new(id: TaskId, title: impl Into<String>, prompt: impl Into<String>) -> Self {
        Self {
            id,
            title: title.into(),
            prompt: prompt.into(),
            deps: Vec::new(),
            acceptance: Vec::new(),
            files: Vec::new(),
            priority: 0,
            estimated_hours: None,
            role: None,
            agent: None,
            model: None,
            review: None,
            timeout: None,
            max_attempts: None,
            approval: None,
            phase: None,
            kind: None,
            design_docs: Vec::new(),
            fake: None,
        }
    }

    /// A digest of everything the task says. Re-adding a plan compares these
    /// to tell an unchanged task from an edited one.
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(self).expect("a TaskSpec always serializes");
        let hash = Sha256::digest(&json);
        hash.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// How much work the task is, for critical-path ordering.
    pub fn weight(&self) -> f64 {
        match self.estimated_hours {
            Some(h) if h.is_finite() && h > 0.0 => h,
            _ => 1.0,
        }
    }
}

impl Plan {
    /// The attempts a task gets: its own setting, else the plan's, else 3.
    pub fn max_attempts(&self, task: &TaskSpec) -> u32 {
        task.max_attempts.or(self.defaults.max_attempts).unwrap_or(DEFAULT_MAX_ATTEMPTS)
    }

    pub fn task(&self, id: &str) -> Option<&TaskSpec> {
        self.tasks.iter().find(|t| t.id.as_str() == id)
    }
}

/// Who reviews a task: `none`, or a reviewer agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Review {
    /// The word `none`: skip review.
    Skip(ReviewNone),
    Agent {
        agent: String,
    },
}

/// The literal `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewNone {
    None,
}

/// Whether a person must approve a task before it merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    Required,
    Auto,
}

/// Durations are written as `30m`, `1h 30m`, `45s`, or a number of seconds.
pub mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Secs(n)) => Ok(Some(Duration::from_secs(n))),
            Some(Raw::Text(t)) => parse(&t).map(Some).map_err(de::Error::custom),
        }
    }

    /// The longest duration colony takes: a year. A timer further off
    /// means nothing for a run, and one far enough off overflows the
    /// clock's arithmetic.
    pub const MAX: Duration = Duration::from_secs(365 * 24 * 60 * 60);

    /// Parses `30m`, `1h30m`, `90s` or `120`; at most [`MAX`].
    pub fn parse(text: &str) -> Result<Duration, String> {
        let t = text.trim();
        let d = match t.parse::<u64>() {
            Ok(n) => Duration::from_secs(n),
            Err(_) => humantime::parse_duration(t)
                .map_err(|e| format!("`{text}` is not a duration like `30m` or `1h 30m` ({e})"))?,
        };
        if d.is_zero() {
            return Err(format!("duration `{text}` is zero"));
        }
        at_most_max(d).map_err(|m| format!("duration `{text}` {m}"))
    }

    /// `d` if it is at most [`MAX`]; else what is wrong, to follow the
    /// duration as written.
    pub fn at_most_max(d: Duration) -> Result<Duration, String> {
        if d > MAX {
            return Err("is longer than a year, the longest colony takes".into());
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str) -> TaskSpec {
        TaskSpec::new(TaskId::new(id).unwrap(), "T", "do it")
    }

    #[test]
    fn digest_changes_with_any_field() {
        let a = task("a");
        let mut b = a.clone();
        assert_eq!(a.digest(), b.digest());
        b.files.push("src/**".into());
        assert_ne!(a.digest(), b.digest());
    }

    #[test]
    fn durations_read_both_forms_and_print_short() {
        assert_eq!(opt_duration::parse("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(opt_duration::parse("90"), Ok(Duration::from_secs(90)));
        assert!(opt_duration::parse("soon").is_err());
        assert!(opt_duration::parse("0s").is_err());
        assert!(opt_duration::parse("0").is_err());
        assert_eq!(opt_duration::parse("500ms"), Ok(Duration::from_millis(500)));
        let mut t = task("a");
        t.timeout = Some(Duration::from_secs(5400));
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["timeout"], "1h 30m");
    }

    #[test]
    fn max_attempts_falls_back_task_then_plan_then_default() {
        let mut plan = Plan {
            name: PlanName::new("p").unwrap(),
            base: None,
            defaults: Defaults::default(),
            tasks: vec![task("a")],
        };
        assert_eq!(plan.max_attempts(&plan.tasks[0]), DEFAULT_MAX_ATTEMPTS);
        plan.defaults.max_attempts = Some(5);
        assert_eq!(plan.max_attempts(&plan.tasks[0]), 5);
        plan.tasks[0].max_attempts = Some(1);
        assert_eq!(plan.max_attempts(&plan.tasks[0]), 1);
    }
}
