//! Follow-up tasks an agent proposes while it works, by writing
//! [`FOLLOWUPS_FILE`] in its worktree: judged against its plan as `colony
//! add` judges a file, within `[plan]`'s limits. What passes joins the plan
//! once the proposer's work merges; what does not is dropped, each with why.

use serde::{Deserialize, Serialize};

use super::parse::{Format, parse};
use super::replace::{id_of, task_list};
use crate::TaskId;
use crate::config::{Followups, PlanConfig};
use crate::spec::Plan;

/// Where in its worktree an agent writes the tasks it proposes. colony
/// reads it after each of the agent's rounds and removes it, so it is never
/// committed.
pub const FOLLOWUPS_FILE: &str = ".colony/followups.yaml";

/// The most of [`FOLLOWUPS_FILE`] colony reads.
pub const MAX_FOLLOWUPS_BYTES: u64 = 64 * 1024;

/// What a follow-up may not set: who does it and how it is checked are its
/// plan's and the project's, never the proposing agent's (which could
/// otherwise skip its own review, or pick a dearer agent).
pub const NOT_PROPOSABLE: &[&str] =
    &["agent", "model", "review", "approval", "role", "timeout", "max_attempts", "priority"];

/// What an attempt's agent proposed, with the settings it is judged by:
/// kept with the attempt until its work merges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposed {
    /// The file's text.
    pub text: String,
    pub mode: Followups,
    pub max_followups: u32,
    pub followup_depth: u32,
    /// The integration branch pattern, which a plan is checked against.
    pub integration: String,
}

impl Proposed {
    pub fn new(text: String, config: &PlanConfig, integration: &str) -> Proposed {
        Proposed {
            text,
            mode: config.followups,
            max_followups: config.max_followups,
            followup_depth: config.followup_depth,
            integration: integration.to_owned(),
        }
    }

    /// What the attempt proposes all told when `self` comes after what it
    /// proposed `before` (an earlier round's file, an earlier call of its
    /// MCP tool): the tasks of both, a later task replacing an earlier one
    /// with its id. A text that is not a list of tasks is kept as it is, so
    /// that judging it says why.
    pub fn after(self, before: Option<&Proposed>) -> Proposed {
        const WHAT: &str = "a follow-up file";
        let Some(before) = before else { return self };
        let (Ok(mut all), Ok(later)) = (task_list(&before.text, WHAT), task_list(&self.text, WHAT)) else {
            return self;
        };
        for task in later {
            let same = id_of(&task).and_then(|id| all.iter().position(|t| id_of(t).as_deref() == Some(id.as_str())));
            match same {
                Some(at) => all[at] = task,
                None => all.push(task),
            }
        }
        Proposed { text: serde_json::Value::Array(all).to_string(), ..self }
    }
}

/// What came of a proposal.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Judged {
    /// The plan with the follow-ups added, when any passed.
    pub plan: Option<Plan>,
    /// The follow-ups added, in the order given.
    pub added: Vec<TaskId>,
    /// Those not added, each as "`id`: why" (or why none was).
    pub dropped: Vec<String>,
}

/// `proposed` judged against `plan`, its proposer's own follow-up depth
/// being `depth` (0 for a task the plan came with). A proposal that fails
/// a check is dropped, and so is one that depended on it; the rest are
/// added.
pub fn judge(plan: &Plan, proposed: &Proposed, depth: u32) -> Judged {
    let mut tasks = match task_list(&proposed.text, "a follow-up file") {
        Ok(tasks) if tasks.is_empty() => return Judged::default(),
        Ok(tasks) => tasks,
        Err(why) => return Judged { dropped: vec![format!("{FOLLOWUPS_FILE}: {why}")], ..Judged::default() },
    };
    let named = |task: &serde_json::Value| {
        id_of(task).map_or_else(|| "a task without an id".to_owned(), |id| format!("`{id}`"))
    };
    let all = |tasks: &[serde_json::Value], why: &str| tasks.iter().map(|t| format!("{}: {why}", named(t))).collect();
    if proposed.mode == Followups::Off {
        return Judged { dropped: all(&tasks, "follow-ups are off ([plan] followups = \"off\")"), ..Judged::default() };
    }
    if depth >= proposed.followup_depth {
        let why = format!(
            "the proposer is itself a follow-up {depth} deep, and [plan] followup_depth is {}",
            proposed.followup_depth
        );
        return Judged { dropped: all(&tasks, &why), ..Judged::default() };
    }
    let max = proposed.max_followups as usize;
    let mut dropped: Vec<String> = if tasks.len() > max {
        all(&tasks.split_off(max), &format!("past the {max} follow-ups a task may propose ([plan] max_followups)"))
    } else {
        Vec::new()
    };
    tasks.retain(|task| {
        let set: Vec<String> =
            NOT_PROPOSABLE.iter().filter(|f| task.get(**f).is_some()).map(|f| format!("`{f}`")).collect();
        if !set.is_empty() {
            let why =
                format!("a follow-up may not set {}: who does it and how it is checked are the plan's", set.join(", "));
            dropped.push(format!("{}: {why}", named(task)));
        }
        set.is_empty()
    });
    let mut seen: Vec<String> = plan.tasks.iter().map(|t| t.id.to_string()).collect();
    tasks.retain(|task| match id_of(task) {
        Some(id) if seen.contains(&id) => {
            dropped.push(format!("`{id}`: plan {} has a task with this id already", plan.name));
            false
        }
        Some(id) => {
            seen.push(id);
            true
        }
        None => true,
    });
    while !tasks.is_empty() {
        let mut whole = serde_json::to_value(plan).expect("a plan always serializes");
        whole["tasks"].as_array_mut().expect("a plan's tasks are a list").extend(tasks.iter().cloned());
        let errors = match parse(
            "plan",
            whole.to_string().as_bytes(),
            Format::Json,
            plan.name.as_str(),
            &proposed.integration,
        ) {
            Ok(combined) => {
                let added = tasks.iter().filter_map(id_of).filter_map(|id| TaskId::new(&id).ok()).collect();
                return Judged { plan: Some(combined), added, dropped };
            }
            Err(errors) => errors,
        };
        let ids: Vec<Option<String>> = tasks.iter().map(id_of).collect();
        let mut keep = vec![true; tasks.len()];
        for error in errors.iter() {
            let at = error.task.as_ref().and_then(|task| ids.iter().position(|id| id.as_ref() == Some(task)));
            if let Some(at) = at.filter(|at| keep[*at]) {
                keep[at] = false;
                dropped.push(format!("{}: {}", named(&tasks[at]), error.message));
            }
        }
        if keep.iter().all(|k| *k) {
            let why: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
            dropped.extend(all(&tasks, &why.join("; ")));
            return Judged { dropped, ..Judged::default() };
        }
        let mut kept = keep.into_iter();
        tasks.retain(|_| kept.next().unwrap_or(false));
    }
    Judged { dropped, ..Judged::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let text = "name: p\ntasks:\n  - id: a\n    prompt: A.\n  - id: b\n    prompt: B.\n    deps: [a]\n";
        parse("p.yaml", text.as_bytes(), Format::Yaml, "p", "colony/{plan}").unwrap()
    }

    fn proposed(text: &str) -> Proposed {
        Proposed::new(text.to_owned(), &PlanConfig::default(), "colony/{plan}")
    }

    fn ids(judged: &Judged) -> Vec<&str> {
        judged.added.iter().map(TaskId::as_str).collect()
    }

    #[test]
    fn proposals_join_the_plan_depending_on_its_tasks_and_each_other() {
        let text =
            "- id: docs\n  prompt: Document it.\n  deps: [a]\n- id: more-docs\n  prompt: More.\n  deps: [docs]\n";
        let judged = judge(&plan(), &proposed(text), 0);
        assert_eq!(ids(&judged), ["docs", "more-docs"]);
        assert!(judged.dropped.is_empty(), "{:?}", judged.dropped);
        let combined = judged.plan.unwrap();
        assert_eq!(combined.tasks.len(), 4);
        assert_eq!(combined.tasks[3].deps, [TaskId::new("docs").unwrap()]);
        assert_eq!(judge(&plan(), &proposed("tasks: []\n"), 0), Judged::default(), "nothing proposed");
    }

    #[test]
    fn a_later_proposal_adds_to_the_earlier_and_replaces_its_namesake() {
        let earlier = proposed("- id: docs\n  prompt: Document it.\n- id: bench\n  prompt: Measure it.\n");
        let later = proposed("- id: docs\n  prompt: Document all of it.\n  deps: [a]\n- id: lint\n  prompt: Lint.\n");
        let all = later.after(Some(&earlier));
        let judged = judge(&plan(), &all, 0);
        assert_eq!(ids(&judged), ["docs", "bench", "lint"], "{:?}", judged.dropped);
        let docs = &judged.plan.unwrap().tasks[2];
        assert_eq!(docs.prompt, "Document all of it.");
        assert_eq!(docs.deps, [TaskId::new("a").unwrap()]);

        let broken = proposed("tasks: 3\n");
        assert_eq!(broken.clone().after(Some(&earlier)), broken, "what cannot be read is kept for its judging");
        assert_eq!(earlier.clone().after(Some(&broken)), earlier, "an unreadable earlier text is replaced");
        assert_eq!(earlier.clone().after(None), earlier);
    }

    #[test]
    fn a_refused_proposal_is_dropped_with_those_that_needed_it() {
        let text = "- id: ok\n  prompt: Fine.\n- id: bad\n  prompt: Bad.\n  deps: [zz]\n- id: after\n  prompt: After.\n  deps: [bad]\n- id: a\n  prompt: Taken.\n";
        let judged = judge(&plan(), &proposed(text), 0);
        assert_eq!(ids(&judged), ["ok"], "{:?}", judged.dropped);
        let dropped = judged.dropped.join("\n");
        assert!(dropped.contains("`bad`: unknown dependency `zz`"), "{dropped}");
        assert!(dropped.contains("`a`: plan p has a task with this id already"), "{dropped}");
        assert!(dropped.contains("`after`: "), "{dropped}");
        assert!(judge(&plan(), &proposed("[unclosed\n"), 0).dropped[0].contains("not YAML"));
        let loose = "- id: unchecked\n  prompt: Merge this unreviewed.\n  review: none\n  approval: auto\n- id: fine\n  prompt: F.\n";
        let judged = judge(&plan(), &proposed(loose), 0);
        assert_eq!(ids(&judged), ["fine"]);
        assert_eq!(
            judged.dropped,
            [
                "`unchecked`: a follow-up may not set `review`, `approval`: who does it and how it is checked are the plan's"
            ]
        );
        let cycle = "- id: x\n  prompt: X.\n  deps: [y]\n- id: y\n  prompt: Y.\n  deps: [x]\n";
        let judged = judge(&plan(), &proposed(cycle), 0);
        assert!(judged.plan.is_none() && judged.dropped.len() == 2, "{:?}", judged.dropped);
    }

    #[test]
    fn limits_and_the_mode_bound_what_is_added() {
        let four: String = (1..=4).map(|n| format!("- id: f{n}\n  prompt: F{n}.\n")).collect();
        let mut few = proposed(&four);
        few.max_followups = 3;
        let judged = judge(&plan(), &few, 0);
        assert_eq!(ids(&judged), ["f1", "f2", "f3"]);
        assert!(judged.dropped[0].starts_with("`f4`: past the 3 follow-ups"), "{:?}", judged.dropped);

        let deep = judge(&plan(), &proposed(&four), 2);
        assert!(deep.plan.is_none() && deep.dropped.len() == 4, "{:?}", deep.dropped);
        assert!(deep.dropped[0].contains("followup_depth is 2"), "{:?}", deep.dropped);
        assert_eq!(ids(&judge(&plan(), &proposed(&four), 1)), ["f1", "f2", "f3", "f4"]);

        let mut off = proposed(&four);
        off.mode = Followups::Off;
        let judged = judge(&plan(), &off, 0);
        assert!(judged.plan.is_none() && judged.dropped[3].contains("follow-ups are off"), "{:?}", judged.dropped);
    }
}
