//! Terminal escapes in task and agent text: every command shows them as
//! `\u001b`…, never sends them to the terminal, and `--json` keeps their
//! value.

use crate::repo::TestRepo;
use crate::run::FAKE_CONFIG;

/// A title that retitles the window and clears the screen, a prompt that
/// writes the clipboard (OSC 52), and an agent that prints a window title
/// and an 8-bit CSI on stdout and stderr, then fails with them in its
/// reason.
const PLAN: &str = r#"name: esc
tasks:
  - id: hostile
    title: "\e]0;pwned\aTitle\e[2J"
    prompt: "Do it.\e]52;c;ZXZpbA==\a"
    acceptance: ["\e[5mblinks"]
    max_attempts: 1
    fake: {print: ["\e]0;agent title\a", "\x9b2J cleared"], eprint: ["\e]0;stderr title\a"], exit: 3}
"#;

const TITLE: &str = "\u{1b}]0;pwned\u{7}Title\u{1b}[2J";

/// Whether `text` holds a control character a terminal would act on.
fn raw_escapes(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

/// Runs `colony ARGS`, asserts its exit code and that neither stream holds
/// an escape; returns stdout and stderr.
fn clean(repo: &TestRepo, args: &[&str], code: i32) -> (String, String) {
    let out = repo.colony(args).code(code).get_output().clone();
    let (stdout, stderr) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
    assert!(!raw_escapes(&stdout), "colony {args:?} printed an escape on stdout:\n{stdout:?}");
    assert!(!raw_escapes(&stderr), "colony {args:?} printed an escape on stderr:\n{stderr:?}");
    (stdout, stderr)
}

#[test]
fn task_and_agent_escapes_are_shown_never_sent() {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    repo.write_plan("esc.yaml", PLAN);
    let (run, _) = clean(&repo, &["run", "plans/esc.yaml"], 3);
    assert!(run.contains("stderr ends: \\u001b]0;stderr title\\u0007"), "{run}");

    let (show, _) = clean(&repo, &["show", "hostile"], 0);
    assert!(show.contains("hostile: \\u001b]0;pwned\\u0007Title\\u001b[2J\n"), "{show}");
    assert!(show.contains("Do it.\\u001b]52;c;ZXZpbA==\\u0007"), "{show}");
    assert!(show.contains("\\u001b[5mblinks"), "{show}");
    let (list, _) = clean(&repo, &["list"], 0);
    assert!(list.contains("\\u001b]0;"), "{list}");
    clean(&repo, &["status"], 0);
    let (events, _) = clean(&repo, &["events"], 0);
    assert!(events.contains("\\u001b]0;stderr title\\u0007"), "{events}");
    let (logs, _) = clean(&repo, &["logs", "hostile"], 0);
    assert!(logs.contains("\\u001b]0;agent title\\u0007"), "{logs}");
    assert!(logs.contains("\\u009b2J cleared"), "{logs}");
    assert!(logs.contains("\\u001b]0;stderr title\\u0007"), "{logs}");

    // JSON escapes them and keeps their value, C1 controls included.
    let (json, _) = clean(&repo, &["show", "hostile", "--json"], 0);
    let detail: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(detail["title"], TITLE);
    let (json, _) = clean(&repo, &["logs", "hostile", "--json"], 0);
    let texts: Vec<serde_json::Value> =
        json.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["text"].clone()).collect();
    assert!(texts.contains(&"\u{9b}2J cleared".into()), "{texts:?}");
    let (json, _) = clean(&repo, &["events", "--json"], 0);
    assert!(json.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));

    // An error that quotes what it was given.
    let (_, err) = clean(&repo, &["show", "\u{1b}]0;x\u{7}"], 2);
    assert!(err.contains("no task `\\u001b]0;x\\u0007`"), "{err}");
}
