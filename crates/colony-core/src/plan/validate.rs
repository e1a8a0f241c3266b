//! Judging a [`DraftPlan`] and building the [`Plan`] from it.
//!
//! Every problem is collected, not just the first, so one run shows the
//! whole list to fix. The dependency cycle check runs only once ids and
//! dependencies are all sound, since a cycle through a mistyped id means
//! nothing.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::error::{PlanError, PlanErrors, closest};
use super::locate::Outline;
use super::raw::{Dialect, Draft, DraftPlan, RawDefaults, RawDuration, RawPriority};
use crate::branch::{check_branch, integration_branch, task_branch};
use crate::dag::Dag;
use crate::id::{PlanName, TaskId};
use crate::spec::{Defaults, Plan, TaskSpec, opt_duration};

/// Titles made from a prompt are cut to this many characters.
const TITLE_CHARS: usize = 72;

pub(super) fn plan(
    file: &str,
    draft: DraftPlan,
    outline: &Outline,
    default_name: &str,
    integration: &str,
) -> Result<Plan, PlanErrors> {
    let mut v = Validator { file, outline, dialect: draft.dialect, errors: Vec::new() };
    let name = v.name(draft.name, default_name, integration);
    let defaults = v.defaults(draft.defaults);
    if draft.tasks.is_empty() {
        v.error(None, None, "plan has no tasks".into());
    }
    let tasks = v.tasks(draft.tasks, name.as_ref());
    match (name, defaults, tasks) {
        (Some(name), Some(defaults), Some(tasks)) if v.errors.is_empty() => {
            Ok(Plan { name, base: draft.base, defaults, tasks })
        }
        // Each part that came back empty has reported why.
        _ => Err(PlanErrors(v.errors)),
    }
}

struct Validator<'a> {
    file: &'a str,
    outline: &'a Outline,
    dialect: Dialect,
    errors: Vec<PlanError>,
}

impl Validator<'_> {
    fn error(&mut self, line: Option<usize>, task: Option<&str>, message: String) {
        self.errors.push(PlanError { file: self.file.to_owned(), line, task: task.map(str::to_owned), message });
    }

    fn task_line(&self, index: usize) -> Option<usize> {
        self.outline.task_line(index)
    }

    /// The plan's name, when it is an id and makes branches git takes:
    /// its integration branch, and its part of every task branch.
    fn name(&mut self, name: Option<String>, default_name: &str, integration: &str) -> Option<PlanName> {
        let line = self.outline.key_line("name");
        let (text, origin) = match name {
            Some(n) => (n, ""),
            None => (default_name.to_owned(), " (taken from the file name)"),
        };
        let name =
            PlanName::new(text).map_err(|e| self.error(line, None, format!("bad plan name{origin}: {e}"))).ok()?;
        let any_task = TaskId::new("t").expect("`t` is an id");
        let branches = [
            ("the integration branch", integration_branch(integration, &name)),
            ("its task branches, such as", task_branch(&name, &any_task, 1)),
        ];
        for (what, branch) in branches {
            if let Err(e) = check_branch(&branch) {
                self.error(line, None, format!("bad plan name{origin}: git refuses {what} `{branch}`: {}", e.rule));
                return None;
            }
        }
        Some(name)
    }

    /// A task's branch must be a name git takes. Checked for attempt 1:
    /// the attempt number adds only digits, which change nothing.
    fn branch(&mut self, line: Option<usize>, plan: &PlanName, id: &TaskId) {
        if let Err(e) = check_branch(&task_branch(plan, id, 1)) {
            self.error(line, Some(id.as_str()), format!("git refuses its branch `{}`: {}", e.name, e.rule));
        }
    }

    fn defaults(&mut self, d: RawDefaults) -> Option<Defaults> {
        let line = self.outline.key_line("defaults");
        let before = self.errors.len();
        let timeout =
            d.timeout.and_then(|t| duration(&t).map_err(|m| self.error(line, None, format!("defaults: {m}"))).ok());
        if let Err(m) = attempts(d.max_attempts) {
            self.error(line, None, format!("defaults: {m}"));
        }
        (self.errors.len() == before).then_some(Defaults {
            role: d.role,
            agent: d.agent,
            model: d.model,
            review: d.review.map(|r| r.0),
            timeout,
            max_attempts: d.max_attempts,
            approval: d.approval,
        })
    }

    /// Judges every task; `Some` only when all of them are sound. `plan`
    /// is the plan's name when it is sound, to check the task branches.
    fn tasks(&mut self, drafts: Vec<Draft>, plan: Option<&PlanName>) -> Option<Vec<TaskSpec>> {
        // Ids as written, valid or not, so a dependency on a task whose id
        // is bad reports only the bad id, not also an unknown dependency.
        let written: HashSet<String> = drafts.iter().filter_map(|t| t.id.clone()).collect();
        // Only the shape of the graph matters for a cycle, so it is checked
        // whenever ids and deps are sound, even if other fields are not.
        let skeleton: Vec<TaskSpec> = drafts.iter().filter_map(skeleton).collect();
        let count = drafts.len();
        let mut first_seen: HashMap<String, usize> = HashMap::new();
        let mut graph_sound = true;
        let mut specs = Vec::with_capacity(count);
        for (index, draft) in drafts.into_iter().enumerate() {
            let line = self.task_line(index);
            let id = self.task_id(index, &draft, &mut first_seen);
            if let (Some(id), Some(plan)) = (&id, plan) {
                self.branch(line, plan, id);
            }
            // Name the task as written even when its id is refused (taken,
            // say), so its other errors can still be found.
            let shown = draft.id.as_deref().filter(|s| !s.is_empty());
            let deps = self.deps(line, shown, &draft, &written);
            graph_sound &= id.is_some() && deps.is_some();
            let judged = self.fields(line, shown, &draft);
            if let (Some(id), Some(deps), Some(judged)) = (id, deps, judged) {
                specs.push(judged.into_spec(id, deps, draft));
            }
        }
        if graph_sound {
            self.cycle(&skeleton);
        }
        (specs.len() == count).then_some(specs)
    }

    /// The task's id, when present, well-formed and not taken.
    fn task_id(&mut self, index: usize, draft: &Draft, first_seen: &mut HashMap<String, usize>) -> Option<TaskId> {
        let line = self.task_line(index);
        let Some(text) = draft.id.as_deref() else {
            self.error(line, None, format!("task number {} has no `id`", index + 1));
            return None;
        };
        let id = TaskId::new(text).map_err(|e| self.error(line, None, e.to_string())).ok()?;
        if let Some(&first) = first_seen.get(text) {
            let at = self.task_line(first).map(|l| format!(" (first at line {l})")).unwrap_or_default();
            self.error(line, None, format!("duplicate id `{text}`{at}"));
            return None;
        }
        first_seen.insert(text.to_owned(), index);
        Some(id)
    }

    fn deps(
        &mut self,
        line: Option<usize>,
        task: Option<&str>,
        draft: &Draft,
        written: &HashSet<String>,
    ) -> Option<Vec<TaskId>> {
        let mut sound = true;
        for dep in &draft.deps {
            if draft.id.as_ref() == Some(dep) {
                self.error(line, task, "depends on itself".into());
                sound = false;
            } else if !written.contains(dep) {
                let hint = closest(dep, written.iter().map(String::as_str))
                    .map(|near| format!("; did you mean `{near}`?"))
                    .unwrap_or_default();
                self.error(line, task, format!("unknown dependency `{dep}`{hint}"));
                sound = false;
            }
        }
        // A dep naming a written id is valid exactly when that id is; a bad
        // one has been reported at its own task.
        let deps: Option<Vec<TaskId>> = draft.deps.iter().map(|d| TaskId::new(d.as_str()).ok()).collect();
        deps.filter(|_| sound)
    }

    /// Judges everything but the id and deps; `Some` when all of it is sound.
    fn fields(&mut self, line: Option<usize>, task: Option<&str>, d: &Draft) -> Option<Judged> {
        let before = self.errors.len();
        let field = self.dialect.prompt_field();
        let prompt = match &d.prompt {
            None => {
                self.error(line, task, format!("has no `{field}`"));
                String::new()
            }
            Some(p) if p.trim().is_empty() => {
                self.error(line, task, format!("`{field}` is empty"));
                String::new()
            }
            Some(p) => p.clone(),
        };
        let title = match &d.title {
            Some(t) if !t.trim().is_empty() => t.clone(),
            _ => title_from(&prompt),
        };
        let priority = d.priority.as_ref().map_or(Ok(0), priority).unwrap_or_else(|m| {
            self.error(line, task, m);
            0
        });
        if let Some(h) = d.estimated_hours
            && !(h.is_finite() && h >= 0.0)
        {
            let m = format!("`estimated_hours` is {h}; give a finite number of hours, 0 or more");
            self.error(line, task, m);
        }
        let timeout = d.timeout.as_ref().and_then(|t| duration(t).map_err(|m| self.error(line, task, m)).ok());
        if let Err(m) = attempts(d.max_attempts) {
            self.error(line, task, m);
        }
        (self.errors.len() == before).then_some(Judged { title, prompt, priority, timeout })
    }

    fn cycle(&mut self, tasks: &[TaskSpec]) {
        let Some(cycle) = Dag::new(tasks).find_cycle() else { return };
        let first = cycle[0];
        let line = tasks.iter().position(|t| t.id.as_str() == first).and_then(|i| self.task_line(i));
        let path = cycle.join(" -> ");
        self.error(line, Some(first), format!("is in a dependency cycle: {path}"));
    }
}

/// The fields of a task that validation computes rather than copies.
struct Judged {
    title: String,
    prompt: String,
    priority: i32,
    timeout: Option<Duration>,
}

impl Judged {
    fn into_spec(self, id: TaskId, deps: Vec<TaskId>, d: Draft) -> TaskSpec {
        TaskSpec {
            id,
            title: self.title,
            prompt: self.prompt,
            deps,
            acceptance: d.acceptance,
            files: d.files,
            priority: self.priority,
            estimated_hours: d.estimated_hours,
            role: d.role,
            agent: d.agent,
            model: d.model,
            review: d.review,
            timeout: self.timeout,
            max_attempts: d.max_attempts,
            approval: d.approval,
            phase: d.phase,
            kind: d.kind,
            design_docs: d.design_docs,
            fake: d.fake,
        }
    }
}

/// A task reduced to its id and deps, for the cycle check.
fn skeleton(d: &Draft) -> Option<TaskSpec> {
    let mut t = TaskSpec::new(TaskId::new(d.id.as_deref()?).ok()?, "", "");
    t.deps = d.deps.iter().map(|d| TaskId::new(d.as_str()).ok()).collect::<Option<_>>()?;
    Some(t)
}

/// The first non-empty line of the prompt, trimmed, at most 72 characters.
fn title_from(prompt: &str) -> String {
    let line = prompt.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    line.chars().take(TITLE_CHARS).collect::<String>().trim_end().to_owned()
}

fn priority(p: &RawPriority) -> Result<i32, String> {
    match p {
        RawPriority::Number(n) => i32::try_from(*n).map_err(|_| format!("`priority` {n} is out of range")),
        RawPriority::Word(w) => match w.to_ascii_lowercase().as_str() {
            "critical" => Ok(3),
            "high" => Ok(2),
            "medium" => Ok(1),
            "low" => Ok(0),
            other => other
                .parse()
                .map_err(|_| format!("`priority` `{w}` is not an integer or one of critical, high, medium, low")),
        },
    }
}

fn duration(raw: &RawDuration) -> Result<Duration, String> {
    let d = match raw {
        RawDuration::Seconds(n) => u64::try_from(*n)
            .map(Duration::from_secs)
            .map_err(|_| format!("`timeout` is {n} seconds; it must be more than zero"))
            .and_then(|d| opt_duration::at_most_max(d).map_err(|m| format!("`timeout` of {n} seconds {m}")))?,
        RawDuration::Text(t) => opt_duration::parse(t).map_err(|m| format!("bad `timeout`: {m}"))?,
    };
    if d.is_zero() {
        return Err("`timeout` is zero; it must be more than zero".into());
    }
    Ok(d)
}

fn attempts(max: Option<u32>) -> Result<(), String> {
    match max {
        Some(0) => Err("`max_attempts` is 0; a task needs at least 1 attempt".into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_come_from_the_first_line_cut_at_a_char_boundary() {
        assert_eq!(title_from("\n\n  Add the users table  \nmore"), "Add the users table");
        let long = "é".repeat(100);
        assert_eq!(title_from(&long).chars().count(), TITLE_CHARS);
    }

    #[test]
    fn priority_words_map_to_numbers() {
        let w = |s: &str| priority(&RawPriority::Word(s.into()));
        assert_eq!((w("critical"), w("High"), w("medium"), w("low")), (Ok(3), Ok(2), Ok(1), Ok(0)));
        assert_eq!(w("7"), Ok(7));
        assert!(w("urgent").is_err());
        assert!(priority(&RawPriority::Number(i64::MAX)).is_err());
    }

    #[test]
    fn durations_refuse_zero_negative_and_past_a_year() {
        assert_eq!(duration(&RawDuration::Seconds(90)), Ok(Duration::from_secs(90)));
        assert_eq!(duration(&RawDuration::Text("1h 30m".into())), Ok(Duration::from_secs(5400)));
        assert!(duration(&RawDuration::Seconds(0)).is_err());
        assert!(duration(&RawDuration::Seconds(-5)).is_err());
        assert!(duration(&RawDuration::Text("0".into())).is_err());
        assert!(duration(&RawDuration::Text("soon".into())).is_err());
        assert_eq!(duration(&RawDuration::Text("365d".into())), Ok(opt_duration::MAX));
        assert_eq!(
            duration(&RawDuration::Seconds(i64::MAX)),
            Err(format!("`timeout` of {} seconds is longer than a year, the longest colony takes", i64::MAX))
        );
        assert_eq!(
            duration(&RawDuration::Text("366d".into())),
            Err("bad `timeout`: duration `366d` is longer than a year, the longest colony takes".into())
        );
    }
}
