//! Task agents talking back over colony's MCP server: each fake CLI finds
//! the server where its real CLI would be told of it, starts it, and calls
//! its tools; what they said reaches the store, the log and the plan.

use serde_json::Value;

use crate::agents::Fakes;

/// A task whose agent reports progress, proposes a follow-up, and makes
/// two calls the server refuses.
const PLAN: &str = r#"name: p
tasks:
  - id: a
    title: Add a
    prompt: Write a.txt
    fake:
      write: {a.txt: "a\n"}
      mcp:
        - {tool: report_progress, arguments: {message: "half way:\n the table is in"}}
        - {tool: report_progress, arguments: {message: "  "}}
        - {tool: propose_followup, arguments: {task: {id: docs, prompt: "Document a.", deps: [a]}}}
        - {tool: propose_followup, arguments: {task: {id: more, prompt: "More.", agent: opus}}}
"#;

#[test]
fn every_cli_that_takes_mcp_servers_headless_reports_progress_and_proposes_followups() {
    for cli in ["claude", "codex", "gemini", "opencode", "amp"] {
        let fakes = Fakes::new(&format!("[run]\nagent = \"{cli}\"\nmax_attempts = 1\n[plan]\nfollowups = \"auto\"\n"));
        let plan = fakes.repo.write_plan("p.yaml", PLAN);
        let out = fakes.command(&["run", "-q", &plan]).output().unwrap();
        let said = format!("{cli}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{said}");

        let events = fakes.repo.events();
        let progress: Vec<&Value> = events.iter().filter(|e| e["type"] == "progress_reported").collect();
        assert_eq!(progress.len(), 1, "{cli}: one report kept, the empty one refused: {events:?}");
        assert_eq!(progress[0]["task"], "a");
        assert_eq!(progress[0]["message"], "half way: the table is in", "{cli}: kept on one line");

        let log = fakes.repo.stdout(&["logs", "a"], 0);
        assert!(log.contains("the agent reports: half way: the table is in"), "{cli}: {log}");
        assert!(log.contains("report_progress answered with an error: the message is empty"), "{cli}: {log}");
        assert!(log.contains("propose_followup answered: follow-up `docs` is proposed"), "{cli}: {log}");
        assert!(
            log.contains("propose_followup answered with an error: bad arguments for propose_followup")
                && log.contains("unknown field `agent`"),
            "{cli}: a follow-up may not pick its agent: {log}"
        );

        let docs = fakes.repo.json(&["show", "docs"]);
        assert_eq!(docs["status"], "done", "{cli}: the follow-up joined the plan and ran: {docs}");
        let files = fakes.repo.git_out(&["ls-tree", "-r", "--name-only", "colony/p"]);
        assert!(files.contains("a.txt") && files.contains("colony-fake/docs.txt"), "{cli}: {files}");
        let tasks = fakes.repo.json(&["list"]).to_string();
        assert!(!tasks.contains("\"more\""), "{cli}: the refused follow-up is not proposed: {tasks}");
    }
}

#[test]
fn a_cli_given_no_server_says_so_and_a_stale_key_is_refused() {
    // Cursor reads MCP servers only from a file in the project: it is given
    // none, and a task that needs one fails saying so.
    let fakes = Fakes::new("[run]\nagent = \"cursor\"\nmax_attempts = 1\n");
    let plan = fakes.repo.write_plan("p.yaml", PLAN);
    let out = fakes.command(&["run", "-q", &plan]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let a = fakes.repo.json(&["show", "a"]);
    let reason = a["attempts"][0]["reason"].as_str().unwrap_or_default().to_owned() + &a.to_string();
    assert!(reason.contains("none was given"), "{a}");

    // `colony mcp attempt` outside an attempt, or with a key no run knows.
    let lost = fakes.repo.stderr(&["mcp", "attempt"], 1);
    assert!(lost.contains("COLONY_TALK_SOCKET") && lost.contains("colony mcp"), "{lost}");
    let out = fakes
        .repo
        .command(&["mcp", "attempt"])
        .env("COLONY_TALK_SOCKET", fakes.repo.base().join("no.sock"))
        .env("COLONY_TALK_KEY", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("could not reach the colony running this attempt"), "{said}");
}
