use std::time::Duration;

use super::*;
use crate::TaskId;
use crate::config;
use crate::spec::ReviewNone;

fn task() -> TaskSpec {
    TaskSpec::new(TaskId::new("t").unwrap(), "T", "do it")
}

fn config(text: &str) -> Config {
    config::parse("colony.toml", text).unwrap()
}

fn agent(settings: &TaskSettings) -> Option<(&str, Option<&str>)> {
    settings.agent.as_ref().map(|a| (a.name.as_str(), a.model.as_deref()))
}

#[test]
fn the_agent_is_the_tasks_then_the_plans_then_the_configs() {
    let config = config("[run]\nagent = \"claude\"\n");
    let mut task = task();
    let mut plan = Defaults::default();
    assert_eq!(agent(&resolve(&task, &plan, &config)), Some(("claude", None)));
    plan.agent = Some("codex".into());
    assert_eq!(agent(&resolve(&task, &plan, &config)), Some(("codex", None)));
    task.agent = Some("gemini".into());
    assert_eq!(agent(&resolve(&task, &plan, &config)), Some(("gemini", None)));
    assert_eq!(resolve(&self::task(), &Defaults::default(), &Config::default()).agent, None, "no default at all");
}

#[test]
fn the_model_is_the_tasks_then_the_plans_then_the_agent_tables() {
    let config = config("[run]\nagent = \"deep\"\n[agents.deep]\nkind = \"codex\"\nmodel = \"gpt-5-codex\"\n");
    let mut task = task();
    let mut plan = Defaults::default();
    let chosen = resolve(&task, &plan, &config).agent.unwrap();
    assert_eq!((chosen.task_model, chosen.model.as_deref()), (None, Some("gpt-5-codex")));
    plan.model = Some("o3".into());
    let chosen = resolve(&task, &plan, &config).agent.unwrap();
    assert_eq!((chosen.task_model.as_deref(), chosen.model.as_deref()), (Some("o3"), Some("o3")));
    task.model = Some("o4".into());
    assert_eq!(agent(&resolve(&task, &plan, &config)), Some(("deep", Some("o4"))));
}

#[test]
fn the_timeout_is_the_tasks_then_the_plans_then_the_configs_then_colonys() {
    let mut task = task();
    let mut plan = Defaults::default();
    let defaults = Config::default();
    assert_eq!(resolve(&task, &plan, &defaults).timeout, Duration::from_secs(30 * 60), "colony's default");
    assert_eq!(resolve(&task, &plan, &defaults).silence_timeout, Duration::from_secs(10 * 60));
    let config = config("[run]\ntimeout = \"20m\"\nsilence_timeout = \"2m\"\n");
    assert_eq!(resolve(&task, &plan, &config).timeout, Duration::from_secs(20 * 60));
    assert_eq!(resolve(&task, &plan, &config).silence_timeout, Duration::from_secs(2 * 60));
    plan.timeout = Some(Duration::from_secs(600));
    assert_eq!(resolve(&task, &plan, &config).timeout, Duration::from_secs(600));
    task.timeout = Some(Duration::from_secs(60));
    assert_eq!(resolve(&task, &plan, &config).timeout, Duration::from_secs(60));
}

#[test]
fn reviewers_are_the_tasks_then_the_plans_then_the_configs_and_none_is_nobody() {
    let config = config(
        "[agents.deep]\nkind = \"codex\"\nmodel = \"m\"\n[review]\nagents = [\"deep\", \"gemini\"]\npolicy = \"majority\"\nmax_rounds = 5\n",
    );
    let mut task = task();
    let mut plan = Defaults::default();
    let names = |s: TaskSettings| s.review.reviewers.into_iter().map(|r| (r.name, r.model)).collect::<Vec<_>>();
    let review = resolve(&task, &plan, &config).review;
    assert_eq!((review.policy, review.max_rounds), (Policy::Majority, 5));
    assert_eq!(names(resolve(&task, &plan, &config)), [("deep".into(), Some("m".into())), ("gemini".into(), None)]);
    plan.review = Some(Review::Agent { agent: "claude".into() });
    assert_eq!(names(resolve(&task, &plan, &config)), [("claude".into(), None)]);
    task.review = Some(Review::Skip(ReviewNone::None));
    assert_eq!(names(resolve(&task, &plan, &config)), []);
    task.review = Some(Review::Agent { agent: "deep".into() });
    task.model = Some("x".into());
    assert_eq!(names(resolve(&task, &plan, &config)), [("deep".into(), Some("x".into()))], "the task's model");
}

#[test]
fn approval_is_the_tasks_then_the_plans_then_the_configs() {
    let mut task = task();
    let mut plan = Defaults::default();
    assert!(!resolve(&task, &plan, &Config::default()).approval, "colony's default: no person");
    let config = config("[review]\napproval = \"required\"\n");
    assert!(resolve(&task, &plan, &config).approval);
    plan.approval = Some(Approval::Auto);
    assert!(!resolve(&task, &plan, &config).approval);
    task.approval = Some(Approval::Required);
    assert!(resolve(&task, &plan, &config).approval);
}

#[test]
fn the_configuration_names_its_tables_its_default_and_its_reviewers() {
    let config = config(
        "[run]\nagent = \"claude\"\n[agents.local]\nkind = \"command\"\ncommand = [\"x\"]\n[review]\nagent = \"fake\"\n",
    );
    assert_eq!(named_agents(&config), BTreeSet::from(["claude", "fake", "local"]));
    assert!(named_agents(&Config::default()).is_empty());
}

#[test]
fn a_role_comes_between_the_task_and_its_plan() {
    let config = config(
        "[run]\nagent = \"claude\"\n[review]\nagent = \"gemini\"\n\
         [roles.tester]\nagent = \"codex\"\nmodel = \"o3\"\nreview = \"none\"\napproval = \"required\"\n\
         template = \"roles/tester.md\"\ngates = [\"make test-all\"]\n[roles.plain]\n",
    );
    let mut task = task();
    let mut plan = Defaults { agent: Some("amp".into()), model: Some("m".into()), ..Defaults::default() };
    let without = resolve(&task, &plan, &config);
    assert_eq!((agent(&without), without.review.reviewers.len(), &without.role), (Some(("amp", Some("m"))), 1, &None));

    plan.role = Some("tester".into());
    let tester = resolve(&task, &plan, &config);
    assert_eq!(agent(&tester), Some(("codex", Some("o3"))), "the plan's role over the plan's agent");
    assert!(tester.review.reviewers.is_empty() && tester.approval);
    let role = tester.role.unwrap();
    assert_eq!((role.name.as_str(), role.template.as_deref()), ("tester", Some("roles/tester.md")));
    assert_eq!(role.gates, ["make test-all"]);

    task.agent = Some("opencode".into());
    task.review = Some(Review::Agent { agent: "claude".into() });
    task.approval = Some(Approval::Auto);
    let own = resolve(&task, &plan, &config);
    assert_eq!(agent(&own), Some(("opencode", Some("o3"))), "the task's own agent over its role's");
    assert_eq!((own.review.reviewers[0].name.as_str(), own.approval), ("claude", false));

    let plain = resolve(&self::task(), &Defaults { role: Some("plain".into()), ..Defaults::default() }, &config);
    assert_eq!((agent(&plain), plain.review.reviewers.len()), (Some(("claude", None)), 1), "a role that sets nothing");
    assert_eq!(plain.role.map(|r| r.gates), Some(vec![]));
    let unknown = resolve(&self::task(), &Defaults { role: Some("nope".into()), ..Defaults::default() }, &config);
    assert_eq!(unknown.role, None, "an undefined role is refused before a run, and is no role here");
    assert_eq!(DefaultAgents::of(&config).agent_name(&self::task(), &plan), Some("codex"));
}
