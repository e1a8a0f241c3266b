//! Reading `colony.toml`: defaults, every key, and each kind of refusal.

use super::*;

fn accepted(text: &str) -> Config {
    parse(FILE_NAME, text).unwrap_or_else(|e| panic!("config refused:\n{e}\n---\n{text}"))
}

fn refused(text: &str) -> String {
    match parse(FILE_NAME, text) {
        Ok(config) => panic!("config accepted: {config:?}\n---\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn command(argv: &[&str]) -> AgentConfig {
    let command = argv.iter().map(|s| s.to_string()).collect();
    AgentConfig { kind: AgentKind::Command { command }, env: BTreeMap::new() }
}

#[test]
fn no_file_and_an_empty_file_mean_the_documented_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let config = load(dir.path()).unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(accepted(""), config);
    assert_eq!(accepted("# nothing set\n\n[run]\n[gates]\n"), config);

    let run = &config.run;
    assert_eq!((run.workers, run.agent.as_deref()), (4, None));
    assert_eq!(run.integration_branch, "colony/{plan}");
    assert_eq!(run.max_attempts, 3);
    assert_eq!((run.backoff_base, run.backoff_cap), (secs(5), secs(300)));
    assert_eq!((run.lease, run.timeout, run.silence_timeout), (secs(30), secs(1800), secs(600)));
    assert_eq!(run.answer_timeout, secs(12 * 3600));
    assert_eq!((run.grace, run.shutdown_grace, &run.author), (secs(10), secs(60), &None));
    assert_eq!(run.remote, super::Remote::Origin, "origin, if there is one, unless written");
    assert!(config.agents.is_empty());
    assert_eq!(config.gates.commands, Vec::<String>::new());
    assert_eq!((config.gates.max_fix_rounds, config.gates.timeout), (3, secs(1800)));
    assert_eq!((config.merge.max_resolver_rounds, config.merge.train, config.merge.speculate), (2, true, true));
    assert_eq!((config.review.agents.len(), config.review.max_rounds, config.review.approval), (0, 3, false));
    assert_eq!(config.worktree, WorktreeConfig::default(), "a worktree is a bare checkout unless told");
    assert_eq!((config.worktree.ports, config.worktree.port_range.to_string().as_str()), (0, "20000-29999"));
}

const EVERY_KEY: &str = r#"
[run]
workers = 8
agent = "local"
integration_branch = "work/{plan}-int"
max_attempts = 5
backoff_base = "2s"
backoff_cap = "1h 30m"
lease = 45
timeout = "20m"
silence_timeout = "5m"
answer_timeout = "2h"
grace = "3s"
shutdown_grace = "2m"
author = "  Colony Bot <bot@example.com> "
remote = "shared"

[agents.local]
kind = "command"
command = ["./scripts/agent.sh", "--fast", ""]
env = { MODEL = "small", _DEBUG_1 = "" }

[agents.pretend]
kind = "fake"

[agents.fake]

[gates]
commands = ["cargo test --quiet", "cargo clippy -- -D warnings"]
max_fix_rounds = 0
timeout = 600

[merge]
max_resolver_rounds = 0
train = false
speculate = false

[review]
agent = "codex"
max_rounds = 1

[worktree]
copy = [".env", "config/*.local.yml", "./secrets/**/*.key"]
link = ["node_modules/.cache"]
setup = ["npm ci", "npm run build"]
env = { NODE_ENV = "test", API_URL = "http://localhost" }
ports = 3
port_range = "40000-40099"
reuse_setup = true
reuse_key = ["package-lock.json", "packages/*/package.json"]
[sandbox]
mode = "required"
writable = ["/srv/shared", "~/.m2"]
network = "deny"
"#;

#[test]
fn every_key_is_read() {
    let config = accepted(EVERY_KEY);
    let run = &config.run;
    assert_eq!((run.workers, run.agent.as_deref()), (8, Some("local")));
    assert_eq!((run.integration_branch.as_str(), run.max_attempts), ("work/{plan}-int", 5));
    assert_eq!((run.backoff_base, run.backoff_cap), (secs(2), secs(5400)));
    assert_eq!((run.lease, run.timeout, run.silence_timeout), (secs(45), secs(1200), secs(300)));
    assert_eq!(run.answer_timeout, secs(2 * 3600));
    assert_eq!((run.grace, run.shutdown_grace), (secs(3), secs(120)));
    assert_eq!(run.author, Some(("Colony Bot".into(), "bot@example.com".into())));
    assert_eq!(run.remote, super::Remote::Named("shared".into()));
    assert_eq!(accepted("[run]\nremote = false\n").run.remote, super::Remote::Off);

    let mut local = command(&["./scripts/agent.sh", "--fast", ""]);
    local.env = [("MODEL", "small"), ("_DEBUG_1", "")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
    let fake = AgentConfig { kind: AgentKind::Fake, env: BTreeMap::new() };
    let names: Vec<&str> = config.agents.keys().map(String::as_str).collect();
    assert_eq!(names, ["fake", "local", "pretend"]);
    assert_eq!(config.agents["local"], local);
    assert_eq!(config.agents["pretend"], fake);
    assert_eq!(config.agents["fake"], fake, "a table named `fake` is the fake adapter");

    assert_eq!(config.gates.commands, ["cargo test --quiet", "cargo clippy -- -D warnings"]);
    assert_eq!((config.gates.max_fix_rounds, config.gates.timeout), (0, secs(600)));
    assert_eq!((config.merge.max_resolver_rounds, config.merge.train, config.merge.speculate), (0, false, false));
    assert_eq!((config.review.agents.as_slice(), config.review.max_rounds), (&["codex".to_owned()][..], 1));

    let worktree = &config.worktree;
    assert_eq!(worktree.copy, [".env", "config/*.local.yml", "./secrets/**/*.key"]);
    assert_eq!(
        (worktree.link.as_slice(), worktree.setup.as_slice()),
        (&["node_modules/.cache".to_owned()][..], &["npm ci".to_owned(), "npm run build".to_owned()][..])
    );
    let env: Vec<(&str, &str)> = worktree.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(env, [("API_URL", "http://localhost"), ("NODE_ENV", "test")]);
    assert_eq!((worktree.ports, worktree.port_range.to_string().as_str()), (3, "40000-40099"));
    assert!(worktree.reuse_setup);
    assert_eq!(worktree.reuse_key_globs(), ["package-lock.json", "packages/*/package.json"]);
    assert_eq!((config.sandbox.mode, config.sandbox.network), (SandboxMode::Required, Network::Deny));
    assert_eq!(config.sandbox.writable, ["/srv/shared", "~/.m2"]);
}

#[test]
fn setup_is_not_reused_unless_asked_and_is_keyed_by_the_usual_lockfiles() {
    let config = accepted("[worktree]\nsetup = [\"npm ci\"]\n");
    assert!(!config.worktree.reuse_setup);
    let globs = config.worktree.reuse_key_globs();
    assert!(globs.contains(&"package-lock.json".to_owned()) && globs.contains(&"requirements*.txt".to_owned()));
    let config = accepted("[worktree]\nreuse_setup = false\n");
    assert!(!config.worktree.reuse_setup, "off needs no setup");
}

#[test]
fn a_worktree_glob_is_split_into_its_parts_inside_the_repository() {
    let shown = |glob: &str| -> Result<Vec<String>, String> {
        let parts = glob_parts(glob)?;
        Ok(parts
            .iter()
            .map(|p| match p {
                GlobPart::Name(name) => name.clone(),
                GlobPart::AnyDirs => "**".into(),
                GlobPart::Wild(m) => format!("~{}", m.glob()),
            })
            .collect())
    };
    assert_eq!(shown("./config//*.local.yml"), Ok(vec!["config".into(), "~*.local.yml".into()]));
    assert_eq!(shown("a/**/b"), Ok(vec!["a".into(), "**".into(), "b".into()]));
    assert_eq!(shown("sub/.git"), Ok(vec!["sub".into(), ".git".into()]), "only the top-level .git is git's");
    let Some(GlobPart::Wild(star)) = glob_parts("*.yml").unwrap().pop() else { panic!("a wildcard") };
    assert!(star.is_match("a.yml") && star.is_match(".hidden.yml") && !star.is_match("a.yaml"));
    assert_eq!(shown("/etc/passwd").unwrap_err(), "must be relative to the repository root, not absolute");
    assert_eq!(shown("a/../../b").unwrap_err(), "must stay inside the repository (no `..`)");
    assert_eq!(shown(".git/config").unwrap_err(), "must not reach into `.git`");
    assert_eq!(shown("./.colony").unwrap_err(), "must not reach into `.colony`");
    assert_eq!(shown("a/**").unwrap_err(), "must end in a name or a wildcard, not `**`");
    assert_eq!(shown("").unwrap_err(), "names no path");
    assert!(shown("a[b").unwrap_err().starts_with("not a glob"));
}

#[test]
fn the_sandbox_confines_to_the_worktree_unless_turned_off() {
    let defaults = accepted("[sandbox]\n").sandbox;
    assert_eq!((defaults.mode, defaults.network, defaults.writable.len()), (SandboxMode::Worktree, Network::Allow, 0));
    assert_eq!(accepted("[sandbox]\nmode = \"off\"\n").sandbox.mode, SandboxMode::Off);
}

#[test]
fn the_default_agent_is_the_named_one_else_the_only_one() {
    let one = accepted("[agents.local]\nkind = \"command\"\ncommand = [\"a\"]\n");
    assert_eq!(one.run.agent.as_deref(), Some("local"));
    let two = accepted("[agents.a]\nkind = \"fake\"\n[agents.b]\nkind = \"fake\"\n");
    assert_eq!(two.run.agent, None, "two agents and no [run] agent: no default");
    let named = accepted("[run]\nagent = \"b\"\n[agents.a]\nkind = \"fake\"\n[agents.b]\nkind = \"fake\"\n");
    assert_eq!(named.run.agent.as_deref(), Some("b"));
    let fake = accepted("[run]\nagent = \"fake\"\n");
    assert_eq!(fake.run.agent.as_deref(), Some("fake"), "the built-in fake needs no table");
}

#[test]
fn built_in_names_resolve_to_their_agents_unless_configured() {
    let config = Config::default();
    assert_eq!(config.agent("fake").map(|a| a.kind), Some(AgentKind::Fake));
    for kind in CliKind::ALL {
        assert_eq!(config.agent(kind.name()).map(|a| a.kind), Some(AgentKind::Cli(CliAgent::new(kind))));
    }
    let cursor = config.agent("cursor-agent").map(|a| a.kind);
    assert_eq!(cursor, Some(AgentKind::Cli(CliAgent::new(CliKind::Cursor))));
    assert_eq!(config.agent("robot"), None);

    let mine = accepted("[agents.fake]\nkind = \"command\"\ncommand = [\"./my-fake\"]\n");
    assert_eq!(mine.agent("fake"), Some(command(&["./my-fake"])));
}

#[test]
fn an_agent_cli_table_takes_its_settings() {
    let config = accepted(
        "[agents.claude]\nmodel = \"opus\"\n\n[agents.fast]\nkind = \"codex\"\nmodel = \"gpt-5-codex\"\neffort = \"high\"\npermission = \"workspace-write\"\nargs = [\"-c\", \"x=1\"]\nbinary = \"/opt/codex/bin/codex\"\nenv = { CODEX_HOME = \"/tmp/c\" }\n",
    );
    let claude = CliAgent { model: Some("opus".into()), ..CliAgent::new(CliKind::Claude) };
    assert_eq!(config.agents["claude"].kind, AgentKind::Cli(claude));
    let fast = CliAgent {
        cli: CliKind::Codex,
        model: Some("gpt-5-codex".into()),
        effort: Some("high".into()),
        permission: Some("workspace-write".into()),
        args: vec!["-c".into(), "x=1".into()],
        binary: Some("/opt/codex/bin/codex".into()),
    };
    assert_eq!(config.agents["fast"].kind, AgentKind::Cli(fast));
    assert_eq!(config.agents["fast"].env["CODEX_HOME"], "/tmp/c");
}

#[test]
fn several_reviewers_a_policy_and_approval_are_read() {
    let config = accepted(
        "[review]\nagents = [\"codex\", \"gemini\", \"claude\"]\npolicy = \"majority\"\napproval = \"required\"\n",
    );
    assert_eq!(config.review.agents, ["codex", "gemini", "claude"]);
    assert_eq!(config.review.policy, crate::review::Policy::Majority);
    assert!(config.review.approval);
}

#[test]
fn prices_and_the_budget_are_read_in_dollars() {
    let config = accepted(
        "[run]\nmax_cost_usd = 25\nmax_plan_cost_usd = 5.5\n[prices.\"gpt-5-codex\"]\ninput = 1.25\noutput = 10\ncached_input = 0.125\n",
    );
    assert_eq!(config.run.max_cost_usd, Some(25.0));
    assert_eq!(config.run.max_plan_cost_usd, Some(5.5));

    let price = config.prices["gpt-5-codex"];
    assert_eq!(price, Price { input: 1.25, output: 10.0, cached_input: Some(0.125) });
    // 600k uncached and 400k cached input, 100k output.
    let cost = price.cost(600_000, 100_000, 400_000);
    assert!((cost - (0.75 + 0.05 + 1.0)).abs() < 1e-9, "{cost}");
    let no_cache = Price { input: 2.0, output: 8.0, cached_input: None };
    assert!((no_cache.cost(250_000, 0, 250_000) - 1.0).abs() < 1e-9, "cached input at the input price");
}

#[test]
fn an_unknown_key_is_refused_with_its_line_and_a_suggestion() {
    let text = "[run]\nworkers = 2\n\n[gates]\ncommands = []\nmax_fix_round = 3\n";
    let e = parse(FILE_NAME, text).unwrap_err().0;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].line, Some(6));
    assert_eq!(e[0].key.as_deref(), Some("[gates] max_fix_round"));
    assert_eq!(e[0].message, "unknown key; did you mean `max_fix_rounds`?");
    assert_eq!(e[0].to_string(), "colony.toml:6: [gates] max_fix_round: unknown key; did you mean `max_fix_rounds`?");
}

#[test]
fn a_bad_duration_names_the_key() {
    assert_eq!(
        refused("[run]\nlease = \"soon\"\n"),
        "colony.toml:2: [run] lease: `soon` is not a duration like `30m` or `1h 30m` (expected number at 0)"
    );
    assert_eq!(refused("[gates]\ntimeout = 0\n"), "colony.toml:2: [gates] timeout: must be more than zero, found 0");
    assert_eq!(
        refused("[run]\ngrace = 1.5\n"),
        "colony.toml:2: [run] grace: expected a duration like `30m` or `1h 30m`, or a number of seconds, found a decimal number"
    );
}

#[test]
fn a_switch_is_true_or_false() {
    assert_eq!(
        refused("[merge]\ntrain = \"yes\"\n"),
        "colony.toml:2: [merge] train: expected true or false, found a string"
    );
}

#[test]
fn a_command_agent_needs_a_command() {
    assert_eq!(
        refused("[agents.local]\nkind = \"command\"\n"),
        "colony.toml:1: [agents.local]: a `command` agent needs `command`, the program and its arguments, like command = [\"./scripts/agent.sh\"]"
    );
    assert_eq!(
        refused("[agents.local]\nkind = \"command\"\ncommand = \"./agent.sh --fast\"\n"),
        "colony.toml:3: [agents.local] command: expected a list of strings, the program and its arguments (never a shell line), found a string"
    );
}

#[test]
fn unknown_kinds_are_refused_with_a_suggestion() {
    assert_eq!(
        refused("[agents.mine]\nkind = \"cladue\"\n"),
        "colony.toml:2: [agents.mine] kind: unknown agent kind `cladue`; did you mean `claude`?"
    );
    assert_eq!(
        refused("[agents.mine]\nkind = \"comand\"\ncommand = [\"x\"]\n"),
        "colony.toml:2: [agents.mine] kind: unknown agent kind `comand`; did you mean `command`?"
    );
    assert_eq!(
        refused("[agents.local]\ncommand = [\"x\"]\n"),
        "colony.toml:1: [agents.local]: unknown agent kind `local`; set kind = \"command\" (any program), \"fake\", or one of claude, codex, gemini, opencode, cursor, amp, aider"
    );
}

#[test]
fn every_problem_is_reported_in_line_order() {
    let text = "[review]\nmax_rounds = -1\n[run]\nworkers = 0\nwokers = 2\n[agents.a]\nkind = \"x\"\n";
    let lines: Vec<Option<usize>> = parse(FILE_NAME, text).unwrap_err().0.iter().map(|e| e.line).collect();
    assert_eq!(lines, [Some(2), Some(4), Some(5), Some(7)]);
}

#[test]
fn load_reads_the_file_at_the_root_and_names_it_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(FILE_NAME), "[run]\nworkers = 2\n").unwrap();
    assert_eq!(load(dir.path()).unwrap().run.workers, 2);

    std::fs::write(dir.path().join(FILE_NAME), "[run]\nworkers = \"2\"\n").unwrap();
    let shown = dir.path().join(FILE_NAME).display().to_string();
    assert_eq!(
        load(dir.path()).unwrap_err().to_string(),
        format!("{shown}:2: [run] workers: expected a whole number, found a string")
    );
}

/// (what the case shows, config text)
const CASES: &[(&str, &str)] = &[
    ("toml syntax error", "[run]\nworkers = \n"),
    ("duplicate key", "[run]\nworkers = 1\nworkers = 2\n"),
    ("unknown section, close", "[rnu]\nworkers = 2\n"),
    ("unknown section, far", "[database]\nurl = \"x\"\n"),
    ("key above its section", "workers = 2\n[run]\n"),
    ("unknown top-level key", "colour = \"red\"\n"),
    ("section that is not a table", "run = 4\n"),
    ("unknown key, close", "[run]\nintegration_brach = \"x/{plan}\"\n"),
    ("unknown key, far", "[merge]\nstrategy = \"rebase\"\n"),
    ("unknown agent key", "[agents.local]\nkind = \"command\"\ncommand = [\"a\"]\nmodle = \"sonnet\"\n"),
    (
        "wrong types",
        "[run]\nworkers = \"four\"\nagent = 3\nauthor = []\n[gates]\nmax_fix_rounds = \"3\"\ncommands = \"cargo test\"\n",
    ),
    (
        "out of range counts",
        "[run]\nworkers = 0\nmax_attempts = 0\n[merge]\nmax_resolver_rounds = -1\n[review]\nmax_rounds = 99999999999\n",
    ),
    ("workers past the limit", "[run]\nworkers = 100000000000\n"),
    ("durations past a year", "[run]\ntimeout = 9223372036854775807\nlease = \"400d\"\n"),
    ("bad durations", "[run]\nlease = \"soon\"\ntimeout = -5\nbackoff_base = \"0s\"\ngrace = true\n"),
    ("bad author", "[run]\nauthor = \"Colony Bot\"\n"),
    ("bad integration branch", "[run]\nintegration_branch = \"colony/{plna}\"\n"),
    ("empty integration branch", "[run]\nintegration_branch = \" \"\n"),
    ("integration branch with `..`", "[run]\nintegration_branch = \"a..b/{plan}\"\n"),
    ("integration branch HEAD", "[run]\nintegration_branch = \"HEAD\"\n"),
    ("integration branch ending in .lock", "# the branch\n[run]\nintegration_branch = \"work/{plan}.lock\"\n"),
    ("unconfigured default agent", "[run]\nagent = \"locl\"\n[agents.local]\nkind = \"fake\"\n"),
    ("unconfigured default agent, nothing close", "[run]\nagent = \"robot\"\n"),
    ("misspelt built-in default agent", "[run]\nagent = \"claud\"\n"),
    ("bad agent names", "[run]\nagent = \"a b\"\n[agents.\"x/y\"]\nkind = \"fake\"\n"),
    ("agent that is not a table", "[agents]\nkind = \"command\"\n"),
    ("command agent without a command", "[agents.local]\nkind = \"command\"\n"),
    ("command as a shell line", "[agents.local]\nkind = \"command\"\ncommand = \"./agent.sh --fast\"\n"),
    ("empty command", "[agents.local]\nkind = \"command\"\ncommand = []\n"),
    ("command of numbers", "[agents.local]\nkind = \"command\"\ncommand = [\"run\", 1]\n"),
    ("fake with a command", "[agents.f]\nkind = \"fake\"\ncommand = [\"x\"]\n"),
    ("cli setting on a command agent", "[agents.local]\nkind = \"command\"\ncommand = [\"a\"]\nmodel = \"x\"\n"),
    ("command on an agent cli", "[agents.claude]\ncommand = [\"claude\", \"-p\"]\n"),
    ("cli args not a list", "[agents.codex]\nargs = \"--search\"\n"),
    (
        "bad prices",
        "[prices.\"gpt-5\"]\ninput = \"cheap\"\n[prices.opus]\ninput = -1\noutput = 75\nper_call = 1\n[prices.x]\n",
    ),
    ("bad budget", "[run]\nmax_cost_usd = \"ten\"\n"),
    ("bad plan budget", "[run]\nmax_plan_cost_usd = -1\n"),
    (
        "bad review settings",
        "[review]\nagent = \"codex\"\nagents = [\"gemini\"]\npolicy = \"most\"\napproval = \"yes\"\n",
    ),
    ("unknown reviewer", "[review]\nagents = [\"codex\", \"robot\"]\n"),
    ("bad remotes", "[run]\nremote = true\n"),
    ("remote that is no name", "[run]\nremote = \"--upload-pack=x\"\n"),
    ("kind typo", "[agents.mine]\nkind = \"fkae\"\n"),
    ("table name that is no kind", "[agents.local]\ncommand = [\"x\"]\n"),
    ("bad env", "[agents.f]\nkind = \"fake\"\nenv = { \"1X\" = \"a\", OK = 2 }\n"),
    ("env that is not a table", "[agents.f]\nkind = \"fake\"\nenv = [\"A=1\"]\n"),
    ("empty gate command", "[gates]\ncommands = [\"cargo test\", \"  \"]\n"),
    ("unknown worktree key", "[worktree]\ncopy = []\nsetpu = [\"npm ci\"]\n"),
    ("worktree key above its section", "setup = [\"npm ci\"]\n[worktree]\n"),
    ("bad worktree globs", "[worktree]\ncopy = [\"/etc/hosts\", \"../x\", \".git/config\"]\nlink = \"node_modules\"\n"),
    ("empty setup command", "[worktree]\nsetup = [\"npm ci\", \"\"]\n"),
    ("bad worktree ports", "[worktree]\nports = -1\nport_range = \"900-1000\"\n"),
    ("too many worktree ports", "[worktree]\nports = 1001\n"),
    ("worktree ports past their range", "[worktree]\nports = 5\nport_range = \"30000-30003\"\n"),
    ("backwards port range", "[worktree]\nport_range = \"30000-20000\"\n"),
    ("reuse without setup", "[worktree]\nreuse_setup = true\n"),
    (
        "bad reuse settings",
        "[worktree]\nsetup = [\"npm ci\"]\nreuse_setup = \"yes\"\nreuse_key = [\"../package-lock.json\"]\n",
    ),
    ("bad worktree env", "[worktree]\nenv = { COLONY_PORT = \"1\", \"A-B\" = \"x\", OK = 1 }\n"),
    ("bad sandbox settings", "[sandbox]\nmode = \"strict\"\nnetwork = false\nwritable = [\"cache\"]\n"),
    ("unknown sandbox key", "[sandbox]\nwriteable = [\"/srv\"]\n"),
    ("sandbox key above its section", "network = \"deny\"\n"),
];

#[test]
fn refusals_read_well() {
    let mut out = String::new();
    for (what, text) in CASES {
        out.push_str(&format!("## {what}\n{}\n\n", refused(text)));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn the_planner_is_an_agent_there_is_and_gets_a_few_rounds() {
    let defaults = Config::default().plan;
    assert_eq!((defaults.agent, defaults.max_rounds), (None, 3));
    let config = accepted("[plan]\nagent = \"codex\"\nmax_rounds = 5\n");
    assert_eq!((config.plan.agent.as_deref(), config.plan.max_rounds), (Some("codex"), 5));

    let e = refused("[plan]\nagent = \"cladue\"\n");
    assert!(e.starts_with("colony.toml:2: [plan] agent: ") && e.contains("did you mean `claude`?"), "{e}");
    let e = refused("[plan]\nmax_rounds = 0\n");
    assert!(e.starts_with("colony.toml:2: [plan] max_rounds: "), "{e}");
    let e = refused("[plan]\nrounds = 2\n");
    assert!(e.contains("unknown key") && e.contains("max_rounds"), "{e}");
}

#[test]
fn follow_ups_wait_for_a_person_unless_told_otherwise_and_are_bounded() {
    let defaults = Config::default().plan;
    assert_eq!((defaults.followups, defaults.max_followups, defaults.followup_depth), (Followups::Approve, 5, 2));
    let config = accepted("[plan]\nfollowups = \"auto\"\nmax_followups = 2\nfollowup_depth = 1\n");
    assert_eq!((config.plan.followups, config.plan.max_followups, config.plan.followup_depth), (Followups::Auto, 2, 1));
    assert_eq!(accepted("[plan]\nfollowups = \"off\"\n").plan.followups, Followups::Off);
    let e = refused("[plan]\nfollowups = \"maybe\"\n");
    assert!(e.starts_with("colony.toml:2: [plan] followups: ") && e.contains("\"auto\", \"approve\", \"off\""), "{e}");
    let e = refused("[plan]\nfollowup_depth = 0\n");
    assert!(e.starts_with("colony.toml:2: [plan] followup_depth: "), "{e}");
}

#[test]
fn roles_name_their_template_agent_gates_and_review() {
    let config = accepted(
        "[agents.codex]\n[roles.tester]\ndescription = \"Writes tests\"\ntemplate = \".colony/roles/tester.md\"\n\
         agent = \"codex\"\nmodel = \"gpt-5\"\ngates = [\"make test-all\"]\nreview = \"none\"\napproval = \"required\"\n\
         [roles.docs]\nreview = [\"codex\"]\n",
    );
    let tester = &config.roles["tester"];
    assert_eq!(tester.description.as_deref(), Some("Writes tests"));
    assert_eq!(tester.template.as_deref(), Some(".colony/roles/tester.md"));
    assert_eq!((tester.agent.as_deref(), tester.model.as_deref()), (Some("codex"), Some("gpt-5")));
    assert_eq!(tester.gates, ["make test-all"]);
    assert_eq!((tester.reviewers.as_deref(), tester.approval), (Some(&[][..]), Some(true)));
    assert_eq!(config.roles["docs"].reviewers.as_deref(), Some(&["codex".to_owned()][..]));
    assert_eq!(config.roles["docs"].approval, None);

    let e = refused("[roles.tester]\nagent = \"cladue\"\n");
    assert!(e.starts_with("colony.toml:2: [roles.tester] agent: ") && e.contains("did you mean `claude`?"), "{e}");
    let e = refused("[roles.tester]\nreview = [\"nobody\"]\n");
    assert!(e.contains("[roles.tester] review: ") && e.contains("`nobody`"), "{e}");
    let e = refused("[roles.tester]\ngate = [\"x\"]\n");
    assert!(e.contains("[roles.tester] gate: unknown key") && e.contains("`gates`"), "{e}");
    let e = refused("[roles.\"Bad Name\"]\n");
    assert!(e.contains("bad role name"), "{e}");
}

#[test]
fn land_names_the_forge_or_the_remote_url_does() {
    use super::Forge;
    assert_eq!(accepted("[land]\nforge = \"gitlab\"\n").land.forge, Some(Forge::GitLab));
    assert_eq!(accepted("").land.forge, None);
    let err = refused("[land]\nforge = \"bitbucket\"\n");
    assert!(err.contains("[land] forge") && err.contains("expected one of \"github\", \"gitlab\""), "{err}");
    let err = refused("[land]\nforj = \"github\"\n");
    assert!(err.contains("forj"), "{err}");
    for (url, forge) in [
        ("https://github.com/o/r.git", Some(Forge::GitHub)),
        ("git@github.com:o/r.git", Some(Forge::GitHub)),
        ("ssh://git@github.example.com/o/r", Some(Forge::GitHub)),
        ("https://gitlab.com/g/sub/r.git", Some(Forge::GitLab)),
        ("git@gitlab.internal:g/r.git", Some(Forge::GitLab)),
        ("https://example.com/github/r.git", None),
        ("/srv/git/r.git", None),
    ] {
        assert_eq!(Forge::of_url(url), forge, "{url}");
    }
}

#[test]
fn notify_takes_a_command_a_webhook_the_desktop_and_the_notices_wanted() {
    let off = accepted("");
    assert!(!off.notify.is_on());
    assert_eq!(off.notify.on, NoticeKind::ALL);
    assert_eq!(off.notify.secret_env, "COLONY_WEBHOOK_SECRET");

    let notify = accepted(
        "[notify]\ncommand = [\"notify-me\", \"--quiet\"]\nwebhook = \"https://hooks.example.com/colony\"\n\
         secret_env = \"HOOK_SECRET\"\ndesktop = true\non = [\"failed\", \"awaiting_input\", \"failed\"]\n",
    )
    .notify;
    assert!(notify.is_on());
    assert_eq!(notify.command, Some(vec!["notify-me".to_owned(), "--quiet".to_owned()]));
    assert_eq!(notify.webhook.as_deref(), Some("https://hooks.example.com/colony"));
    assert_eq!((notify.secret_env.as_str(), notify.desktop), ("HOOK_SECRET", true));
    assert_eq!(notify.on, [NoticeKind::AwaitingInput, NoticeKind::Failed], "sorted, once each");
    assert!(!accepted("[notify]\ndesktop = true\non = []\n").notify.is_on(), "nothing wanted");

    for (text, says) in [
        ("[notify]\ncommand = []\n", "[notify] command: expected the program and its arguments"),
        ("[notify]\ncommand = \"notify-me --quiet\"\n", "[notify] command: expected a list of strings"),
        ("[notify]\nwebhook = \"ftp://example.com\"\n", "expected an http:// or https:// URL with a host"),
        ("[notify]\nwebhook = \"https://\"\n", "found `https://`"),
        ("[notify]\non = [\"faild\"]\n", "unknown notice `faild`; did you mean `failed`?"),
        ("[notify]\nsecret_env = \"1BAD\"\n", "[notify] secret_env"),
        ("[notify]\nwebhok = \"https://example.com\"\n", "did you mean `webhook`?"),
    ] {
        let err = refused(text);
        assert!(err.contains(says), "{text}: {err}");
    }
}
