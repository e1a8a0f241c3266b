//! Task agents talking back over colony's MCP server: each fake CLI finds
//! the server where its real CLI would be told of it, starts it, and calls
//! its tools; what they said reaches the store, the log and the plan.

use serde_json::Value;

use crate::agents::Fakes;
use crate::background::Background;

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

/// A task whose agent asks a person, after some work and a progress
/// report, then asks again in the same turn (refused); resumed, it asks
/// nothing more. Its prompts are kept in its work.
const ASKING: &str = r#"name: p
tasks:
  - id: a
    title: Add a
    prompt: Write a.txt
    fake:
      write: {a.txt: "a\n"}
      prompts_to: prompts.txt
      mcp:
        - {tool: report_progress, arguments: {message: "a.txt is in"}}
        - {tool: ask_human, arguments: {question: "Which table holds the users?\n(a) users\n(b) accounts"}}
        - {tool: ask_human, arguments: {question: "And the index?"}}
      mcp_on_feedback: []
  - id: b
    title: Add b
    prompt: Write b.txt
    deps: [a]
    fake:
      write: {b.txt: "b\n"}
      mcp:
        - {tool: view_plan}
        - {tool: view_plan, arguments: {task: a}}
"#;

#[test]
fn an_agent_asks_a_person_and_goes_on_with_the_answer_in_its_own_session() {
    for cli in ["claude", "codex", "gemini", "opencode", "amp"] {
        asks_and_goes_on(cli);
    }
}

fn asks_and_goes_on(cli: &str) {
    let fakes = Fakes::new(&format!("[run]\nagent = \"{cli}\"\nmax_attempts = 1\n"));
    let plan = fakes.repo.write_plan("p.yaml", ASKING);
    let mut run = Background::spawn(fakes.command(&["run", "-q", &plan]));
    run.wait_for_stderr("task a asks: Which table holds the users?");

    let status = fakes.repo.stdout(&["status"], 0);
    assert!(status.contains("question:  a asks (it fails at "), "{status}");
    assert!(status.contains("Which table holds the users?\n") && status.contains("(b) accounts\n"), "{status}");
    assert!(status.contains("answer: colony answer a \"...\""), "{status}");
    assert!(status.contains("next:      1 task is waiting for your answer"), "{status}");
    let json = fakes.repo.json(&["status"]);
    assert_eq!(json["questions"][0]["task"], "a", "{json}");
    assert_eq!(json["questions"][0]["question"], "Which table holds the users?\n(a) users\n(b) accounts");
    let a = fakes.repo.json(&["show", "a"]);
    assert_eq!(a["status"], "awaiting_input", "the run waits for the answer: {a}");
    let shown = fakes.repo.stdout(&["show", "a"], 0);
    assert!(shown.contains("awaiting your answer until ") && shown.contains("  (b) accounts"), "{shown}");
    assert!(shown.contains("answer with `colony answer a \"TEXT\"`"), "{shown}");
    let listed = fakes.repo.stdout(&["list"], 0);
    assert!(listed.contains("asks: Which table holds the users?"), "{listed}");

    // Bad answers change nothing.
    let events = fakes.repo.events().len();
    let wrong = fakes.repo.stderr(&["answer", "b", "users"], 2);
    assert!(wrong.contains("task b is pending, not awaiting input"), "{wrong}");
    let empty = fakes.repo.stderr(&["answer", "a", "  "], 2);
    assert!(empty.contains("the answer is empty"), "{empty}");
    assert_eq!(fakes.repo.events().len(), events);

    let answered = fakes.repo.stdout(&["answer", "a", "users, not accounts"], 0);
    assert!(answered.contains("attempt 1 answered: users, not accounts"), "{answered}");
    let (code, _, stderr) = run.finish();
    assert_eq!(code, Some(0), "{stderr}");

    let prompts = fakes.repo.git_out(&["show", "colony/p:prompts.txt"]);
    let (first, resumed) = prompts.split_once("You asked a person:").expect("the answer reached the agent");
    assert!(first.contains("Write a.txt"), "{prompts}");
    assert!(resumed.contains("Which table holds the users?") && resumed.contains("users, not accounts"), "{prompts}");
    let calls: Vec<Value> = fakes.calls().into_iter().filter(|c| c["cwd"].to_string().contains("/a-")).collect();
    let sessions: Vec<&Value> = calls.iter().map(|c| &c["resume"]).collect();
    assert!(
        sessions.len() == 2 && sessions[0].is_null() && sessions[1].is_string(),
        "{cli} resumed its session: {calls:?}"
    );

    let log = fakes.repo.stdout(&["logs", "a", "--attempt", "1"], 0);
    assert!(log.contains("ask_human answered: Your question is with a person. End your turn now"), "{log}");
    assert!(log.contains("ask_human answered with an error: you asked a question already"), "{log}");
    assert!(log.contains("the agent asks a person: Which table holds the users?"), "{log}");
    let log = fakes.repo.stdout(&["logs", "a"], 0);
    assert!(log.contains("a person answered attempt 1's question: users, not accounts"), "{log}");
    let a = fakes.repo.json(&["show", "a"]);
    assert_eq!((a["status"].as_str(), a["tries"].as_u64()), (Some("done"), Some(1)), "an answer costs no try: {a}");
    assert_eq!(fakes.repo.json(&["show", "b"])["status"], "done");
    let kinds: Vec<String> = fakes.repo.events().iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    let asked = kinds.iter().position(|k| k == "input_requested").expect("asked");
    assert_eq!(kinds[asked + 1], "answered", "{kinds:?}");

    // b's agent sees its plan, and what a did, read-only.
    let log = fakes.repo.stdout(&["logs", "b"], 0);
    let seen = log.lines().find_map(|l| l.split_once("view_plan answered: ")).map(|(_, json)| json);
    let view: Value = serde_json::from_str(seen.expect("view_plan answered")).unwrap();
    assert_eq!((view["plan"].as_str(), view["you"].as_str()), (Some("p"), Some("b")), "{view}");
    assert_eq!(view["tasks"][0]["id"], "a");
    assert_eq!(view["tasks"][0]["status"], "done", "{view}");
    assert_eq!(view["tasks"][1]["deps"][0], "a", "{view}");
    let a_did = &view["dependencies"][0];
    assert_eq!(a_did["id"], "a");
    assert!(a_did["files"].as_array().unwrap().contains(&Value::from("a.txt")), "{view}");
    assert!(a_did["answer"].is_string(), "what a's agent said when done: {view}");
    assert!(log.contains("view_plan answered with an error: bad arguments for view_plan"), "read-only, no args: {log}");
}

#[test]
fn a_question_nobody_answers_fails_its_task_with_the_question_as_reason() {
    let config = "[run]\nagent = \"claude\"\nmax_attempts = 3\nlease = \"4s\"\nanswer_timeout = \"1s\"\n";
    let fakes = Fakes::new(config);
    let plan = fakes.repo.write_plan("p.yaml", ASKING);
    let out = fakes.command(&["run", "-q", &plan]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{said}");
    let a = fakes.repo.json(&["show", "a"]);
    assert_eq!(a["status"], "failed", "{a}");
    let reason = a["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("nobody answered its agent's question in time: Which table holds the users?"), "{a}");
    assert_eq!(a["attempts"].as_array().map(Vec::len), Some(1), "not tried again: it would ask the same: {a}");
    assert_eq!(fakes.repo.json(&["show", "b"])["status"], "blocked");
}

#[test]
fn a_question_outlives_its_run_and_the_next_run_goes_on_with_the_answer() {
    let fakes = Fakes::new("[run]\nagent = \"claude\"\nmax_attempts = 1\n");
    let plan = fakes.repo.write_plan("p.yaml", ASKING);
    let mut run = Background::spawn(fakes.command(&["run", &plan]));
    run.wait_for_stderr("task a asks: Which table holds the users?");
    run.interrupt();
    let (code, stdout, stderr) = run.finish();
    assert_eq!(code, Some(3), "{stdout}\n{stderr}");
    assert!(stdout.contains("waiting for your answer (`colony status` has the whole question):"), "{stdout}");
    assert!(stdout.contains("a  Which table holds the users?"), "{stdout}");
    assert!(stdout.contains("next: `colony answer a \"TEXT\"`, then `colony run` goes on with it"), "{stdout}");

    fakes.repo.stdout(&["answer", "a", "users, not accounts"], 0);
    let out = fakes.command(&["run", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let prompts = fakes.repo.git_out(&["show", "colony/p:prompts.txt"]);
    assert!(prompts.contains("Their answer:\n\nusers, not accounts"), "{prompts}");
}
