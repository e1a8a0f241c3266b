//! `colony init`, finding the repository, help and completions.

use crate::repo::TestRepo;
use crate::snap;

#[test]
fn init_sets_up_state_config_and_exclude_once() {
    let repo = TestRepo::new();
    let first = repo.stdout(&["init"], 0);
    snap!(&repo, "init_first", first);
    let again = repo.stdout(&["init"], 0);
    snap!(&repo, "init_again", again);

    assert!(repo.root().join(".colony").is_dir());
    assert!(repo.db().is_file());
    let config = std::fs::read_to_string(repo.root().join("colony.toml")).unwrap();
    let config: toml::Table = toml::from_str(&config).expect("colony.toml is valid TOML");
    assert!(config.contains_key("run") && config.contains_key("gates"));

    let exclude = std::fs::read_to_string(repo.root().join(".git/info/exclude")).unwrap();
    assert_eq!(exclude.lines().filter(|l| *l == "/.colony/").count(), 1, "{exclude}");
    let status = repo.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(String::from_utf8_lossy(&status.stdout), "?? colony.toml\n");
}

#[test]
fn init_keeps_an_existing_config() {
    let repo = TestRepo::new();
    std::fs::write(repo.root().join("colony.toml"), "[run]\nworkers = 9\n").unwrap();
    let out = repo.stdout(&["init"], 0);
    assert!(out.contains("colony.toml kept as it is"), "{out}");
    let config = std::fs::read_to_string(repo.root().join("colony.toml")).unwrap();
    assert_eq!(config, "[run]\nworkers = 9\n");
}

#[test]
fn init_from_a_subdirectory_sets_up_the_repository_root() {
    let repo = TestRepo::new();
    std::fs::create_dir_all(repo.root().join("src/deep")).unwrap();
    let out = repo.command(&["init"]).current_dir(repo.root().join("src/deep")).output().unwrap();
    assert!(out.status.success());
    assert!(repo.root().join(".colony/colony.db").is_file());
    assert!(!repo.root().join("src/deep/.colony").exists());
}

#[test]
fn outside_a_repository_is_bad_input() {
    let repo = TestRepo::new();
    let outside = repo.base().join("home");
    let out =
        repo.command(&["list"]).current_dir(&outside).env("GIT_CEILING_DIRECTORIES", repo.base()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: not inside a git repository; run colony in your project or pass --repo DIR\n"
    );

    let err = repo.stderr(&["list", "--repo", "/no/such/dir"], 2);
    assert_eq!(err, "error: --repo /no/such/dir: no such directory\n");
}

#[test]
fn repo_flag_works_from_anywhere() {
    let repo = TestRepo::initialized();
    let out =
        repo.command(&["status", "--repo", repo.root().to_str().unwrap()]).current_dir(repo.base()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "no plans yet; add one with `colony add PLAN`\n");
}

#[test]
fn commands_before_init_say_so_and_create_nothing() {
    let repo = TestRepo::new();
    for args in [&["list"][..], &["status"], &["events"], &["show", "a"], &["retry", "a"], &["export"]] {
        let err = repo.stderr(args, 2);
        assert!(err.contains("run `colony init` first"), "{args:?}: {err}");
    }
    assert!(!repo.root().join(".colony").exists());
}

#[test]
fn a_missing_sqlite_store_is_not_created_by_reads() {
    let repo = TestRepo::initialized();
    let err = repo.stderr(&["list", "--store", "sqlite:elsewhere.db"], 2);
    snap!(&repo, "missing_store", err);
    assert!(!repo.root().join("elsewhere.db").exists());
    let err = repo.stderr(&["list", "--store", "mysql://x"], 2);
    assert!(err.contains("store url `mysql://x` is not understood"), "{err}");
}

#[test]
fn help_introduces_colony() {
    let repo = TestRepo::new();
    let help = repo.stdout(&["--help"], 0);
    snap!(&repo, "help", help);
}

#[test]
fn every_help_fits_80_columns_and_lists_only_built_commands() {
    let repo = TestRepo::new();
    let commands = [
        "init",
        "add",
        "run",
        "worker",
        "serve",
        "list",
        "show",
        "status",
        "logs",
        "events",
        "retry",
        "cancel",
        "kill",
        "approve",
        "reject",
        "doctor",
        "land",
        "pr-fixes",
        "export",
        "report",
        "demo",
        "completions",
    ];
    let top = repo.stdout(&["--help"], 0);
    for name in commands {
        assert!(top.contains(&format!("  {name} ")), "{name} missing from --help");
    }
    for name in commands {
        let help = repo.stdout(&[name, "--help"], 0);
        for line in help.lines().chain(top.lines()) {
            assert!(line.chars().count() <= 80, "`colony {name} --help` line too wide: {line:?}");
        }
    }
}

#[test]
fn completions_name_the_commands() {
    let repo = TestRepo::new();
    let bash = repo.stdout(&["completions", "bash"], 0);
    for word in ["colony", "init", "add", "list", "show", "status", "events", "retry", "cancel", "export"] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    for shell in ["zsh", "fish"] {
        assert!(repo.stdout(&["completions", shell], 0).contains("colony"));
    }
    repo.colony(&["completions", "tcsh"]).code(2);
}

#[test]
fn the_plan_in_add_help_is_a_valid_plan() {
    let repo = TestRepo::initialized();
    let help = repo.stdout(&["add", "--help"], 0);
    let start = help.find("  name: auth").expect("an example plan in `add --help`");
    let end = start + help[start..].find("\n\n").unwrap();
    let plan: String = help[start..end].lines().map(|l| format!("{}\n", &l[2..])).collect();
    let path = repo.write_plan("from-help.yaml", &plan);
    assert!(repo.stdout(&["add", &path], 0).starts_with("plan auth: 2 added\n"));
}
