//! Every prompt colony sends an agent, from a template per role.
//!
//! The templates ship in the binary (this directory's `<role>.md`); a
//! project overrides any of them with `.colony/prompts/<role>.md`. They are
//! MiniJinja templates (Jinja's syntax) with `trim_blocks` and
//! `lstrip_blocks` on, so that a tag on a line of its own leaves no blank
//! line, a template's last newline kept (the fixer includes the builder's
//! text, newline and all), and strict undefined variables: a name the role does not give is
//! an error, never an empty string. [`Prompts::load`] checks each override
//! before any work starts (its syntax, the names it uses, a trial render)
//! and names the file and line of the first problem.
//!
//! What each role is given is [`Role::variables`]; `docs/prompts.md` says
//! what each holds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// Whose prompt a template makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// The task's agent, on its first round.
    Builder,
    /// The task's agent again, on feedback: failed gates, a review's
    /// findings, a person's answer, or a conflict to resolve.
    Fixer,
    /// A reviewer reading the work.
    Reviewer,
    /// What the task's agent is told of a conflict at the merge; sent as
    /// the fixer's feedback.
    Resolver,
    /// The agent that makes a plan from a goal (`colony plan`).
    Planner,
    /// The agent that replaces a failed task with new ones (`colony replan`).
    Replanner,
}

impl Role {
    pub const ALL: [Role; 6] =
        [Role::Builder, Role::Fixer, Role::Reviewer, Role::Resolver, Role::Planner, Role::Replanner];

    pub fn name(self) -> &'static str {
        match self {
            Role::Builder => "builder",
            Role::Fixer => "fixer",
            Role::Reviewer => "reviewer",
            Role::Resolver => "resolver",
            Role::Planner => "planner",
            Role::Replanner => "replanner",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    /// What the role's prompt is for, in a line.
    pub fn about(self) -> &'static str {
        match self {
            Role::Builder => "the task's agent, on its first round",
            Role::Fixer => "the task's agent on feedback: failed gates, review findings, a person's answer, a conflict",
            Role::Reviewer => "a reviewer reading the work",
            Role::Resolver => "a conflict at the merge, told to the task's agent (as the fixer's feedback)",
            Role::Planner => "the agent that makes a plan from a goal (`colony plan`)",
            Role::Replanner => "the agent that replaces a failed task with new ones (`colony replan`)",
        }
    }

    /// The names a template of this role may use.
    pub fn variables(self) -> &'static [&'static str] {
        match self {
            Role::Builder => &["task", "dependencies", "followups"],
            Role::Fixer => &["task", "dependencies", "followups", "feedback", "resumed"],
            Role::Reviewer => &["task", "diff", "integration", "findings"],
            Role::Resolver => &["integration", "conflicted", "integration_commits", "task_commits"],
            Role::Planner => &["goal", "repository", "format", "roles", "previous", "refusal"],
            Role::Replanner => {
                &["task", "why", "attempts", "others", "repository", "format", "roles", "previous", "refusal"]
            }
        }
    }

    /// The template colony ships.
    pub fn shipped(self) -> &'static str {
        match self {
            Role::Builder => include_str!("builder.md"),
            Role::Fixer => include_str!("fixer.md"),
            Role::Reviewer => include_str!("reviewer.md"),
            Role::Resolver => include_str!("resolver.md"),
            Role::Planner => include_str!("planner.md"),
            Role::Replanner => include_str!("replanner.md"),
        }
    }

    /// Values of every variable, to try a template on before work starts.
    fn sample(self) -> minijinja::Value {
        let task = TaskVars {
            id: "t".into(),
            title: "A task".into(),
            prompt: "Do it.".into(),
            acceptance: vec!["it is done".into()],
            files: vec!["src/**".into()],
            plan: "p".into(),
        };
        let dependencies = vec![Dependency {
            id: "d".into(),
            title: "A dependency".into(),
            files: vec!["src/d.rs".into()],
            more_files: 0,
            answer: Some("Done.".into()),
        }];
        match self {
            Role::Builder => minijinja::Value::from(Serde(Builder { task, dependencies, followups: Some("approve") })),
            Role::Fixer => minijinja::Value::from(Serde(Fixer {
                task,
                dependencies,
                followups: Some("approve"),
                feedback: "A gate failed.".into(),
                resumed: false,
            })),
            Role::Reviewer => minijinja::Value::from(Serde(Reviewer {
                task,
                diff: "diff --git a/x b/x".into(),
                integration: "colony/p".into(),
                findings: Some("- a finding".into()),
            })),
            Role::Resolver => minijinja::Value::from(Serde(Resolver {
                integration: "colony/p".into(),
                conflicted: vec!["x".into()],
                integration_commits: vec!["Merge task a".into()],
                task_commits: vec!["work".into()],
            })),
            Role::Planner => minijinja::Value::from(Serde(Planner {
                goal: "Add a /health endpoint.".into(),
                repository: "Files: src/main.rs".into(),
                format: "A plan is YAML.".into(),
                roles: vec![RoleVars { name: "tester".into(), description: Some("Writes tests".into()) }],
                previous: Some("name: p".into()),
                refusal: Some("p.yaml:1: no tasks".into()),
            })),
            Role::Replanner => minijinja::Value::from(Serde(Replanner {
                task,
                why: "failed: a gate failed".into(),
                attempts: vec![AttemptVars {
                    attempt: 1,
                    outcome: "failed".into(),
                    reason: Some("gate `cargo test` failed".into()),
                    answer: Some("Done.".into()),
                }],
                others: vec![PlanTaskVars {
                    id: "u".into(),
                    title: "A dependent".into(),
                    status: "blocked".into(),
                    deps: vec!["t".into()],
                }],
                repository: "Files: src/main.rs".into(),
                format: "A plan is YAML.".into(),
                roles: vec![RoleVars { name: "tester".into(), description: None }],
                previous: Some("tasks: []".into()),
                refusal: Some("the replacement has no tasks".into()),
            })),
        }
    }
}

/// A task as templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskVars {
    pub id: String,
    pub title: String,
    /// Its prompt, trailing whitespace trimmed.
    pub prompt: String,
    pub acceptance: Vec<String>,
    pub files: Vec<String>,
    pub plan: String,
}

impl TaskVars {
    pub fn of(spec: &colony_core::TaskSpec, plan: &str) -> TaskVars {
        TaskVars {
            id: spec.id.to_string(),
            title: spec.title.clone(),
            prompt: spec.prompt.trim_end().to_owned(),
            acceptance: spec.acceptance.clone(),
            files: spec.files.clone(),
            plan: plan.to_owned(),
        }
    }
}

/// A task this one depends on, merged before it started: what its work
/// was, so that the agent builds on it instead of finding it out again.
#[derive(Debug, Clone, Serialize)]
pub struct Dependency {
    pub id: String,
    pub title: String,
    /// The files its merge brought in, at most [`Dependency::MAX_FILES`].
    pub files: Vec<String>,
    /// How many more it changed than `files` names.
    pub more_files: usize,
    /// Its agent's final message (bounded), when it said one.
    pub answer: Option<String>,
}

impl Dependency {
    /// The most files named per dependency.
    pub const MAX_FILES: usize = 40;
}

/// The builder's variables.
#[derive(Debug, Serialize)]
pub struct Builder {
    pub task: TaskVars,
    /// The task's dependencies, in the plan's order.
    pub dependencies: Vec<Dependency>,
    /// What becomes of follow-ups the agent proposes: `auto` or `approve`
    /// (`[plan] followups`); none when they are off.
    pub followups: Option<&'static str>,
}

impl Builder {
    /// `[plan] followups` as the builder's template is told it.
    pub fn followups(mode: colony_core::config::Followups) -> Option<&'static str> {
        use colony_core::config::Followups;
        match mode {
            Followups::Auto => Some("auto"),
            Followups::Approve => Some("approve"),
            Followups::Off => None,
        }
    }
}

/// The fixer's variables.
#[derive(Debug, Serialize)]
pub struct Fixer {
    pub task: TaskVars,
    pub dependencies: Vec<Dependency>,
    /// As the builder's: a fresh session's fixer prompt includes it.
    pub followups: Option<&'static str>,
    /// What the agent is told, trailing whitespace trimmed.
    pub feedback: String,
    /// The agent's session goes on: it has the task already.
    pub resumed: bool,
}

/// The reviewer's variables.
#[derive(Debug, Serialize)]
pub struct Reviewer {
    pub task: TaskVars,
    /// The change (or as much of it as fits), trailing whitespace trimmed.
    pub diff: String,
    pub integration: String,
    /// The previous review round's findings, if there was one.
    pub findings: Option<String>,
}

/// The resolver's variables.
#[derive(Debug, Serialize)]
pub struct Resolver {
    pub integration: String,
    pub conflicted: Vec<String>,
    /// Subjects of the commits on the integration branch the task's branch
    /// lacks, and of the task's own.
    pub integration_commits: Vec<String>,
    pub task_commits: Vec<String>,
}

/// The planner's variables.
#[derive(Debug, Serialize)]
pub struct Planner {
    /// What the plan is to achieve, trailing whitespace trimmed.
    pub goal: String,
    /// What colony says of the repository: files, languages, README,
    /// recent history, bounded.
    pub repository: String,
    /// The plan format: every field, and an example.
    pub format: String,
    /// The task roles colony.toml defines, which a task may take.
    pub roles: Vec<RoleVars>,
    /// The planner's previous answer, when it was refused.
    pub previous: Option<String>,
    /// Why it was refused.
    pub refusal: Option<String>,
}

/// The replanner's variables.
#[derive(Debug, Serialize)]
pub struct Replanner {
    /// The task to replace.
    pub task: TaskVars,
    /// Why it stopped, in a line.
    pub why: String,
    /// Its attempts, oldest first.
    pub attempts: Vec<AttemptVars>,
    /// The plan's other tasks, in plan order.
    pub others: Vec<PlanTaskVars>,
    pub repository: String,
    pub format: String,
    pub roles: Vec<RoleVars>,
    pub previous: Option<String>,
    pub refusal: Option<String>,
}

/// A task role (`[roles.NAME]`) as a planner is told it.
#[derive(Debug, Clone, Serialize)]
pub struct RoleVars {
    pub name: String,
    /// What it is for, when colony.toml says.
    pub description: Option<String>,
}

impl RoleVars {
    /// Each role `roles` defines, by name.
    pub fn of(roles: &BTreeMap<String, colony_core::config::RoleConfig>) -> Vec<RoleVars> {
        roles.iter().map(|(name, r)| RoleVars { name: name.clone(), description: r.description.clone() }).collect()
    }
}

/// An attempt of a task, as the replanner is told it.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptVars {
    pub attempt: u32,
    /// How it ended: `failed`, `expired`, `killed`, …
    pub outcome: String,
    /// Why, bounded.
    pub reason: Option<String>,
    /// What its agent said last, bounded.
    pub answer: Option<String>,
}

/// Another task of the plan: what the replacement may depend on, and what
/// depends on the task replaced.
#[derive(Debug, Clone, Serialize)]
pub struct PlanTaskVars {
    pub id: String,
    pub title: String,
    pub status: String,
    pub deps: Vec<String>,
}

/// A template that cannot be used, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct PromptError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

/// Where a role's template came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Shipped,
    Project(PathBuf),
}

/// The templates of a run, checked.
#[derive(Debug)]
pub struct Prompts {
    env: Environment<'static>,
    origins: BTreeMap<Role, Origin>,
    /// Each task role's own builder template (`[roles.NAME] template`):
    /// the templates with the builder's replaced by it, so that a fixer
    /// that includes the builder's includes the role's; and its file.
    roles: BTreeMap<String, (Environment<'static>, PathBuf)>,
}

impl Default for Prompts {
    fn default() -> Self {
        Prompts::with(&BTreeMap::new()).expect("the shipped templates are valid")
    }
}

impl Prompts {
    /// The shipped templates, each overridden by `<role>.md` in `dir` when
    /// there is one. A file there that names no role, a syntax error, a
    /// name the role does not give, or a template that fails on sample
    /// values is refused with its file and line.
    pub fn load(dir: &Path) -> Result<Prompts, PromptError> {
        Prompts::with(&Prompts::overrides(dir)?)
    }

    /// [`Prompts::load`], with the builder's template of each task role of
    /// `roles` (its name, and its file) checked as the builder's is.
    pub fn load_with_roles(dir: &Path, roles: &BTreeMap<String, PathBuf>) -> Result<Prompts, PromptError> {
        let mut prompts = Prompts::load(dir)?;
        for (name, path) in roles {
            let refuse = |message: String| PromptError { path: path.clone(), line: None, message };
            let text = std::fs::read_to_string(path)
                .map_err(|e| refuse(format!("the template of role `{name}` cannot be read: {e}")))?;
            let mut env = prompts.env.clone();
            env.add_template_owned(Role::Builder.name(), text.clone()).map_err(|e| refused(path, &e))?;
            let with_role = Prompts { env, origins: prompts.origins.clone(), roles: BTreeMap::new() };
            for role in [Role::Builder, Role::Fixer] {
                with_role.check(role, Some(&(path.clone(), text.clone())))?;
            }
            prompts.roles.insert(name.clone(), (with_role.env, path.clone()));
        }
        Ok(prompts)
    }

    /// The project's templates in `dir`, by the role each is for.
    fn overrides(dir: &Path) -> Result<BTreeMap<Role, (PathBuf, String)>, PromptError> {
        let mut overrides = BTreeMap::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(overrides),
            Err(e) => return Err(PromptError { path: dir.to_owned(), line: None, message: e.to_string() }),
        };
        let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        for path in names {
            let refuse = |message: String| PromptError { path: path.clone(), line: None, message };
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            let role = match (Role::from_name(stem), path.extension().and_then(|e| e.to_str())) {
                (Some(role), Some("md")) => role,
                _ => {
                    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
                    return Err(refuse(format!(
                        "not a prompt template: templates are named after their role ({}), with `.md`",
                        roles.iter().map(|r| format!("{r}.md")).collect::<Vec<_>>().join(", ")
                    )));
                }
            };
            let text = std::fs::read_to_string(&path).map_err(|e| refuse(e.to_string()))?;
            overrides.insert(role, (path.clone(), text));
        }
        Ok(overrides)
    }

    fn with(overrides: &BTreeMap<Role, (PathBuf, String)>) -> Result<Prompts, PromptError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build();
        env.set_syntax(syntax.expect("the default delimiters are valid"));
        let mut origins = BTreeMap::new();
        for role in Role::ALL {
            let (origin, text) = match overrides.get(&role) {
                Some((path, text)) => (Origin::Project(path.clone()), text.clone()),
                None => (Origin::Shipped, role.shipped().to_owned()),
            };
            let path = match &origin {
                Origin::Project(path) => path.clone(),
                Origin::Shipped => PathBuf::from(format!("(shipped) {}.md", role.name())),
            };
            env.add_template_owned(role.name(), text.clone()).map_err(|e| refused(&path, &e))?;
            origins.insert(role, origin);
        }
        let prompts = Prompts { env, origins, roles: BTreeMap::new() };
        for role in Role::ALL {
            prompts.check(role, overrides.get(&role))?;
        }
        Ok(prompts)
    }

    /// Refuses a template that uses a name its role does not give, or
    /// fails on sample values.
    fn check(&self, role: Role, written: Option<&(PathBuf, String)>) -> Result<(), PromptError> {
        let (path, text) = match written {
            Some((path, text)) => (path.clone(), text.as_str()),
            None => (PathBuf::from(format!("(shipped) {}.md", role.name())), role.shipped()),
        };
        let template = self.env.get_template(role.name()).map_err(|e| refused(&path, &e))?;
        let given: BTreeSet<&str> = role.variables().iter().copied().collect();
        let mut unknown: Vec<String> =
            template.undeclared_variables(false).into_iter().filter(|v| !given.contains(v.as_str())).collect();
        unknown.sort();
        if let Some(name) = unknown.first() {
            return Err(PromptError {
                path,
                line: line_of(text, name),
                message: format!(
                    "unknown variable `{name}`: the {} template is given {}",
                    role.name(),
                    role.variables().iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
                ),
            });
        }
        template.render(role.sample()).map(|_| ()).map_err(|e| refused(&path, &e))
    }

    /// Where `role`'s template came from.
    pub fn origin(&self, role: Role) -> &Origin {
        &self.origins[&role]
    }

    /// The prompt `role`'s template makes of `vars`, ending in one newline.
    pub fn render(&self, role: Role, vars: &impl Serialize) -> Result<String, PromptError> {
        self.render_for(None, role, vars)
    }

    /// As [`Prompts::render`], for a task of `task_role`: the builder's
    /// template (and the fixer's, which includes it) is the role's own
    /// where it has one.
    pub fn render_for(
        &self,
        task_role: Option<&str>,
        role: Role,
        vars: &impl Serialize,
    ) -> Result<String, PromptError> {
        let shipped_or_project = || match self.origin(role) {
            Origin::Project(path) => path.clone(),
            Origin::Shipped => PathBuf::from(format!("(shipped) {}.md", role.name())),
        };
        let (env, path) = match task_role.and_then(|name| self.roles.get(name)) {
            Some((env, path)) if matches!(role, Role::Builder | Role::Fixer) => (env, path.clone()),
            _ => (&self.env, shipped_or_project()),
        };
        let template = env.get_template(role.name()).map_err(|e| refused(&path, &e))?;
        let text = template.render(minijinja::Value::from(Serde(vars))).map_err(|e| refused(&path, &e))?;
        Ok(format!("{}\n", text.trim_end()))
    }
}

/// `e` as a refusal of the template at `path`.
fn refused(path: &Path, e: &minijinja::Error) -> PromptError {
    let message = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    PromptError { path: path.to_owned(), line: e.line(), message }
}

/// The first line of `text` that names `variable` inside a tag.
fn line_of(text: &str, variable: &str) -> Option<usize> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    text.lines()
        .position(|line| {
            line.match_indices(variable).any(|(at, _)| {
                let before = line[..at].chars().next_back();
                let after = line[at + variable.len()..].chars().next();
                !before.is_some_and(is_word)
                    && !after.is_some_and(is_word)
                    && (line.contains("{{") || line.contains("{%"))
            })
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(acceptance: &[&str]) -> TaskVars {
        TaskVars {
            id: "a".into(),
            title: "Add users".into(),
            prompt: "Create the users table.".into(),
            acceptance: acceptance.iter().map(|s| s.to_string()).collect(),
            files: vec![],
            plan: "p".into(),
        }
    }

    fn fixer(resumed: bool) -> Fixer {
        Fixer {
            task: task(&["tests pass"]),
            dependencies: vec![],
            followups: None,
            feedback: "gate failed".into(),
            resumed,
        }
    }

    fn builder(acceptance: &[&str]) -> Builder {
        Builder { task: task(acceptance), dependencies: vec![], followups: None }
    }

    #[test]
    fn the_builder_and_fixer_carry_the_task_its_criteria_and_the_feedback() {
        let prompts = Prompts::default();
        let bare = prompts.render(Role::Builder, &builder(&[])).unwrap();
        assert_eq!(bare, "Create the users table.\n", "a task's prompt alone is sent as written");
        let built = prompts.render(Role::Builder, &builder(&["tests pass", "docs"])).unwrap();
        assert_eq!(built, "Create the users table.\n\nAcceptance criteria:\n- tests pass\n- docs\n");
        assert_eq!(
            prompts.render(Role::Fixer, &fixer(false)).unwrap(),
            "Create the users table.\n\nAcceptance criteria:\n- tests pass\n\nFeedback on your previous round:\ngate failed\n"
        );
        assert_eq!(
            prompts.render(Role::Fixer, &fixer(true)).unwrap(),
            "gate failed\n",
            "a resumed session has the task"
        );
    }

    #[test]
    fn the_builder_is_told_how_to_propose_follow_ups_unless_they_are_off() {
        let prompts = Prompts::default();
        let told = |followups| prompts.render(Role::Builder, &Builder { followups, ..builder(&[]) }).unwrap();
        let approve = told(Some("approve"));
        assert!(approve.contains("`.colony/followups.yaml`") && approve.contains("this task is\n`a`"), "{approve}");
        assert!(approve.contains("a person decides"), "{approve}");
        assert!(!told(Some("auto")).contains("a person decides"));
        assert_eq!(told(None), "Create the users table.\n", "follow-ups off: nothing said");
    }

    #[test]
    fn the_builder_is_told_what_each_dependency_changed_and_said() {
        let schema = Dependency {
            id: "schema".into(),
            title: "The users schema".into(),
            files: vec!["db/users.sql".into(), "src/db.rs".into()],
            more_files: 3,
            answer: Some("Added the users table.\nRun `make db` to apply it.".into()),
        };
        let quiet = Dependency { id: "ci".into(), title: "CI".into(), files: vec![], more_files: 0, answer: None };
        let vars = Builder { dependencies: vec![schema, quiet], ..builder(&["tests pass"]) };
        let prompt = Prompts::default().render(Role::Builder, &vars).unwrap();
        assert_eq!(
            prompt,
            "Create the users table.\n\nAcceptance criteria:\n- tests pass\n\n\
             This task builds on work already merged into your branch:\n\n\
             - schema: The users schema\n  Files it changed: db/users.sql, src/db.rs\n  (and 3 more)\n\
             \x20 What its agent said when it was done:\n  Added the users table.\n  Run `make db` to apply it.\n\n\
             - ci: CI\n"
        );
        let fixed = Fixer { dependencies: vars.dependencies.clone(), ..fixer(false) };
        let fixed = Prompts::default().render(Role::Fixer, &fixed).unwrap();
        assert!(fixed.contains("- schema: The users schema\n") && fixed.ends_with("round:\ngate failed\n"), "{fixed}");
    }

    #[test]
    fn the_reviewer_gets_the_task_findings_diff_and_the_answer_format() {
        let vars = Reviewer {
            task: task(&["the migration applies"]),
            diff: "diff --git a/x b/x".into(),
            integration: "colony/auth".into(),
            findings: Some("- add a test".into()),
        };
        let p = Prompts::default().render(Role::Reviewer, &vars).unwrap();
        for part in [
            "# Task: Add users\n\nCreate the users table.\n",
            "\n# Acceptance criteria\n\n- the migration applies\n",
            "# The previous review's findings\n\nCheck that they were addressed.\n\n- add a test\n",
            "# The change, against colony/auth\n\n```diff\ndiff --git a/x b/x\n```",
            "\"verdict\": \"approved\" or \"needs_changes\"",
            "VERDICT: APPROVED",
        ] {
            assert!(p.contains(part), "{part:?} missing from:\n{p}");
        }
        let first = Reviewer { findings: None, ..vars };
        assert!(!Prompts::default().render(Role::Reviewer, &first).unwrap().contains("previous review"));
    }

    #[test]
    fn the_resolver_names_the_files_and_both_sides_commits() {
        let vars = Resolver {
            integration: "colony/p".into(),
            conflicted: vec!["a.txt".into(), "b.txt".into()],
            integration_commits: vec!["Merge task x".into()],
            task_commits: vec!["mine".into(), "more".into()],
        };
        assert_eq!(
            Prompts::default().render(Role::Resolver, &vars).unwrap(),
            "Merging colony/p into your branch stopped with conflicts in: a.txt, b.txt.\nResolve them in the \
             working tree (remove every conflict marker), keeping both sides' intent.\n\nCommits on colony/p: \
             Merge task x\nYour commits: mine; more\n"
        );
    }

    fn load(files: &[(&str, &str)]) -> (tempfile::TempDir, Result<Prompts, PromptError>) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let loaded = Prompts::load(dir.path());
        (dir, loaded)
    }

    #[test]
    fn a_projects_template_replaces_the_shipped_one_and_the_fixer_includes_it() {
        let (dir, loaded) = load(&[("builder.md", "[{{ task.id }} in {{ task.plan }}] {{ task.title }}\n")]);
        let prompts = loaded.unwrap();
        assert_eq!(prompts.origin(Role::Builder), &Origin::Project(dir.path().join("builder.md")));
        assert_eq!(prompts.origin(Role::Fixer), &Origin::Shipped);
        assert_eq!(prompts.render(Role::Builder, &builder(&[])).unwrap(), "[a in p] Add users\n");
        let fixed = prompts.render(Role::Fixer, &fixer(false)).unwrap();
        assert_eq!(fixed, "[a in p] Add users\n\nFeedback on your previous round:\ngate failed\n");
        let (_dir, missing) = (tempfile::tempdir().unwrap(), Prompts::load(Path::new("/nonexistent/prompts")));
        assert_eq!(missing.unwrap().origin(Role::Builder), &Origin::Shipped, "no directory: the shipped ones");
    }

    #[test]
    fn a_task_roles_template_is_its_builders_and_its_fixers_first_part() {
        let dir = tempfile::tempdir().unwrap();
        let tester = dir.path().join("tester.md");
        std::fs::write(&tester, "Test {{ task.title }} only.\n").unwrap();
        let roles = BTreeMap::from([("tester".to_owned(), tester.clone())]);
        let prompts = Prompts::load_with_roles(&dir.path().join("prompts"), &roles).unwrap();
        assert_eq!(prompts.render_for(Some("tester"), Role::Builder, &builder(&[])).unwrap(), "Test Add users only.\n");
        let fixed = prompts.render_for(Some("tester"), Role::Fixer, &fixer(false)).unwrap();
        assert_eq!(fixed, "Test Add users only.\n\nFeedback on your previous round:\ngate failed\n");
        let plain = prompts.render_for(Some("docs"), Role::Builder, &builder(&[])).unwrap();
        assert_eq!(plain, "Create the users table.\n", "a role without a template of its own");
        assert_eq!(prompts.render(Role::Builder, &builder(&[])).unwrap(), "Create the users table.\n");

        std::fs::write(&tester, "{{ task.prompt }}\n{{ goal }}\n").unwrap();
        let e = Prompts::load_with_roles(&dir.path().join("prompts"), &roles).unwrap_err();
        assert_eq!((e.path.clone(), e.line), (tester.clone(), Some(2)), "{e}");
        assert!(e.message.starts_with("unknown variable `goal`"), "{e}");
        let gone = BTreeMap::from([("docs".to_owned(), dir.path().join("docs.md"))]);
        let e = Prompts::load_with_roles(&dir.path().join("prompts"), &gone).unwrap_err();
        assert!(e.message.starts_with("the template of role `docs` cannot be read"), "{e}");
    }

    #[test]
    fn a_broken_template_is_refused_with_its_file_and_line() {
        let (dir, syntax) = load(&[("fixer.md", "{{ feedback }}\n{% if resumed %}\nno end\n")]);
        let e = syntax.unwrap_err();
        assert_eq!((e.path.clone(), e.line), (dir.path().join("fixer.md"), Some(3)), "{e}");
        assert!(e.to_string().contains("syntax error"), "{e}");

        let (dir, unknown) = load(&[("builder.md", "{{ task.prompt }}\n\n{{ repo_summary }}\n")]);
        let e = unknown.unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}:3: unknown variable `repo_summary`: the builder template is given `task`, `dependencies`, `followups`",
                dir.path().join("builder.md").display()
            )
        );

        let (_dir, attribute) = load(&[("reviewer.md", "{{ task.prompt }}\n{{ task.titel }}\n")]);
        let e = attribute.unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("undefined"), "{e}");

        let (_dir, stray) = load(&[("summary.md", "x")]);
        let e = stray.unwrap_err();
        assert!(e.message.starts_with("not a prompt template: templates are named after their role"), "{e}");
    }

    #[test]
    fn every_shipped_template_uses_only_what_its_role_gives() {
        for role in Role::ALL {
            let loaded = load(&[(&format!("{}.md", role.name()), role.shipped())]).1;
            assert!(loaded.is_ok(), "{}: {:?}", role.name(), loaded.err());
        }
    }
}
