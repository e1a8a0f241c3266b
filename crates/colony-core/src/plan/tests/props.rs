//! Properties over random plans: parse accepts exactly the sound dependency
//! graphs, every accepted plan has a topological order, and every valid plan
//! survives export.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use proptest::prelude::*;
use serde_json::json;

use super::super::Format::{self, Json, Toml, Yaml};
use super::super::{to_json, to_yaml};
use super::{accepted, parse_as};
use crate::dag::Dag;
use crate::id::{PlanName, TaskId};
use crate::spec::{Approval, Defaults, Plan, Review, ReviewNone, TaskSpec};

/// Task ids are drawn from a small alphabet so duplicates and cycles are
/// common; deps may also name `zz`, which is never a task.
const IDS: &[&str] = &["a", "b", "c", "d", "e"];
const DEP_IDS: &[&str] = &["a", "b", "c", "d", "e", "zz"];

/// (id, deps) per task.
type Graph = Vec<(&'static str, Vec<&'static str>)>;

fn graph() -> impl Strategy<Value = Graph> {
    let task = (prop::sample::select(IDS), prop::collection::vec(prop::sample::select(DEP_IDS), 0..4));
    prop::collection::vec(task, 1..7)
}

fn format() -> impl Strategy<Value = Format> {
    prop::sample::select(vec![Yaml, Toml, Json])
}

/// The graph as a plan file in `format`.
fn render(graph: &Graph, format: Format) -> String {
    let tasks: Vec<_> = graph.iter().map(|(id, deps)| json!({"id": id, "prompt": "p", "deps": deps})).collect();
    let plan = json!({ "tasks": tasks });
    match format {
        Yaml => serde_saphyr::to_string(&plan).unwrap(),
        Toml => toml::to_string(&plan).unwrap(),
        Json => serde_json::to_string_pretty(&plan).unwrap(),
    }
}

/// Computed independently of the parser and of `Dag`: unique ids, known
/// deps, no self-dep, and every task can be peeled off once its deps are.
fn sound(graph: &Graph) -> (bool, bool) {
    let ids: HashSet<&str> = graph.iter().map(|(id, _)| *id).collect();
    let shape_ok =
        ids.len() == graph.len() && graph.iter().all(|(id, deps)| deps.iter().all(|d| ids.contains(d) && d != id));
    if !shape_ok {
        return (false, false);
    }
    let mut done: HashSet<&str> = HashSet::new();
    while done.len() < graph.len() {
        let ready: Vec<&str> = graph
            .iter()
            .filter(|(id, deps)| !done.contains(id) && deps.iter().all(|d| done.contains(d)))
            .map(|(id, _)| *id)
            .collect();
        if ready.is_empty() {
            return (false, true);
        }
        done.extend(ready);
    }
    (true, false)
}

proptest! {
    #[test]
    fn parse_accepts_exactly_sound_graphs(graph in graph(), format in format()) {
        let text = render(&graph, format);
        let (ok, only_a_cycle) = sound(&graph);
        match parse_as(format, &text) {
            Ok(plan) => {
                prop_assert!(ok, "accepted an unsound graph: {graph:?}");
                let order = Dag::new(&plan.tasks).topo_order().expect("an accepted plan has an order");
                let position: HashMap<&str, usize> =
                    order.iter().enumerate().map(|(pos, &i)| (plan.tasks[i].id.as_str(), pos)).collect();
                for t in &plan.tasks {
                    for d in &t.deps {
                        prop_assert!(position[d.as_str()] < position[t.id.as_str()], "{d} after {}", t.id);
                    }
                }
            }
            Err(e) => {
                prop_assert!(!ok, "refused a sound graph {graph:?}:\n{e}");
                if only_a_cycle {
                    prop_assert!(e.iter().any(|e| e.message.contains("dependency cycle")), "{e}");
                }
            }
        }
    }

    #[test]
    fn valid_plans_round_trip_through_export(plan in valid_plan()) {
        prop_assert_eq!(&accepted(Yaml, &to_yaml(&plan)), &plan, "yaml:\n{}", to_yaml(&plan));
        prop_assert_eq!(&accepted(Json, &to_json(&plan)), &plan);
    }
}

/// Any text: every char, line breaks and control characters included.
fn text() -> impl Strategy<Value = String> {
    "(?s).{0,40}"
}

fn maybe_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(text())
}

fn nonblank() -> impl Strategy<Value = String> {
    text().prop_filter("not blank", |s| !s.trim().is_empty())
}

fn strings() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 0..3)
}

fn review() -> impl Strategy<Value = Option<Review>> {
    prop_oneof![
        Just(None),
        Just(Some(Review::Skip(ReviewNone::None))),
        text().prop_map(|agent| Some(Review::Agent { agent })),
    ]
}

fn approval() -> impl Strategy<Value = Option<Approval>> {
    prop::option::of(prop::sample::select(vec![Approval::Required, Approval::Auto]))
}

/// At least a second, since shorter timeouts are refused.
fn timeout() -> impl Strategy<Value = Option<Duration>> {
    prop::option::of((1_000u64..1_000_000_000).prop_map(Duration::from_millis))
}

fn defaults() -> impl Strategy<Value = Defaults> {
    (maybe_text(), maybe_text(), maybe_text(), review(), timeout(), prop::option::of(1u32..), approval()).prop_map(
        |(role, agent, model, review, timeout, max_attempts, approval)| Defaults {
            role,
            agent,
            model,
            review,
            timeout,
            max_attempts,
            approval,
        },
    )
}

/// A task with every field random; its id and deps are set by `valid_plan`.
fn task() -> impl Strategy<Value = TaskSpec> {
    let text = (nonblank(), nonblank(), strings(), strings(), strings());
    let numbers = (
        any::<i32>(),
        prop::option::of((0.0f64..1e12).prop_filter("finite", |h| h.is_finite())),
        prop::option::of(1u32..),
    );
    let settings = (maybe_text(), maybe_text(), review(), timeout(), approval());
    let labels = (maybe_text(), maybe_text(), maybe_text());
    (text, numbers, settings, labels).prop_map(
        |(
            (title, prompt, acceptance, files, design_docs),
            (priority, estimated_hours, max_attempts),
            (agent, model, review, timeout, approval),
            (phase, kind, role),
        )| TaskSpec {
            role,
            acceptance,
            files,
            priority,
            estimated_hours,
            agent,
            model,
            review,
            timeout,
            max_attempts,
            approval,
            phase,
            kind,
            design_docs,
            ..TaskSpec::new(TaskId::new("placeholder").unwrap(), title, prompt)
        },
    )
}

/// A valid plan: unique ids, each task depending only on earlier ones.
fn valid_plan() -> impl Strategy<Value = Plan> {
    let ids = prop::collection::hash_set(
        // Git refuses `..` anywhere in a branch, and a part starting with `.`.
        "[A-Za-z0-9._-]{1,12}".prop_filter("a name git takes", |s| !s.starts_with('.') && !s.contains("..")),
        1..6,
    );
    let name = "[A-Za-z0-9_-]{1,20}";
    (name, maybe_text(), defaults(), ids)
        .prop_flat_map(|(name, base, defaults, ids)| {
            let ids: Vec<String> = ids.into_iter().collect();
            let n = ids.len();
            let tasks = prop::collection::vec((task(), prop::collection::vec(any::<prop::sample::Index>(), 0..3)), n);
            (Just(name), Just(base), Just(defaults), Just(ids), tasks)
        })
        .prop_map(|(name, base, defaults, ids, tasks)| {
            let tasks = tasks
                .into_iter()
                .enumerate()
                .map(|(i, (mut t, deps))| {
                    t.id = TaskId::new(ids[i].as_str()).unwrap();
                    if i > 0 {
                        let mut chosen: Vec<usize> = deps.iter().map(|d| d.index(i)).collect();
                        chosen.sort_unstable();
                        chosen.dedup();
                        t.deps = chosen.into_iter().map(|j| TaskId::new(ids[j].as_str()).unwrap()).collect();
                    }
                    t
                })
                .collect();
            Plan { name: PlanName::new(name).unwrap(), base, defaults, tasks }
        })
}
