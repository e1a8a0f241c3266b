//! `colony mcp` driven by the official Rust SDK's client over stdio, as an
//! agent session would drive it: initialize, list the tools, add a plan,
//! start a detached run and follow it through resource notifications,
//! approve the task that waits for a person, run again and land, all
//! without a terminal. Bad arguments come back as tool errors that change
//! nothing. The official Python SDK's client drives it too.

use std::collections::BTreeSet;
use std::path::Path;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientConfig, ProtocolVersion, ReadResourceRequestParams, ResourceContents,
    ResourceUpdatedNotificationParam, ServerNotification, SubscribeRequestParams, SubscriptionFilter,
};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::repo::TestRepo;

const CONFIG: &str = "[run]\nagent = \"fake\"\n";

/// `a`, then `b`, which a person must approve.
const PLAN: &str = "name: p\ntasks:\n  - id: a\n    prompt: Write a.txt\n    fake: {write: {a.txt: \"a\\n\"}}\n  \
                    - id: b\n    prompt: Write b.txt\n    deps: [a]\n    approval: required\n    \
                    fake: {write: {b.txt: \"b\\n\"}}\n";

/// A client that speaks the handshake protocol most agent clients speak,
/// and hands on every resource update it is sent.
struct Client {
    updates: mpsc::UnboundedSender<String>,
}

impl ClientHandler for Client {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::default().with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.updates.send(params.uri);
    }
}

type Session = RunningService<RoleClient, Client>;

/// The updates the server sent, and every one seen so far.
struct Updates {
    received: mpsc::UnboundedReceiver<String>,
    seen: BTreeSet<String>,
}

impl Updates {
    async fn next(&mut self) -> String {
        let uri = self.received.recv().await.expect("the server is up");
        self.seen.insert(uri.clone());
        uri
    }
}

async fn connect(repo: &TestRepo) -> (Session, Updates) {
    let transport = TokioChildProcess::new(tokio::process::Command::from(repo.command(&["mcp"]))).unwrap();
    let (updates, received) = mpsc::unbounded_channel();
    let session = Client { updates }.serve(transport).await.expect("the server initializes");
    (session, Updates { received, seen: BTreeSet::new() })
}

async fn call(session: &Session, tool: &'static str, arguments: Value) -> CallToolResult {
    call_on(session, tool, arguments).await
}

async fn call_on(session: &rmcp::Peer<RoleClient>, tool: &'static str, arguments: Value) -> CallToolResult {
    let Value::Object(arguments) = arguments else { panic!("arguments are an object") };
    session.call_tool(CallToolRequestParams::new(tool).with_arguments(arguments)).await.expect("the call is answered")
}

fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.as_str()).collect()
}

/// The tool's text, asserting it succeeded.
async fn ok(session: &Session, tool: &'static str, arguments: Value) -> String {
    let result = call(session, tool, arguments).await;
    assert_ne!(result.is_error, Some(true), "{tool}: {}", text(&result));
    text(&result)
}

/// The tool's error message, asserting it failed.
async fn refused(session: &Session, tool: &'static str, arguments: Value) -> String {
    let result = call(session, tool, arguments).await;
    assert_eq!(result.is_error, Some(true), "{tool} should fail: {}", text(&result));
    text(&result)
}

async fn read(session: &Session, uri: &str) -> String {
    let read = session.read_resource(ReadResourceRequestParams::new(uri)).await.expect("the resource reads");
    match &read.contents[..] {
        [ResourceContents::TextResourceContents { text, .. }] => text.clone(),
        other => panic!("{uri}: one text expected, got {other:?}"),
    }
}

/// Waits, update by update, until task `id` is in `status`.
async fn until_status(session: &Session, updates: &mut Updates, id: &str, status: &str) {
    let uri = format!("colony://tasks/{id}");
    loop {
        let task: Value = serde_json::from_str(&read(session, &uri).await).unwrap();
        if task["status"] == status {
            return;
        }
        assert!(!["failed", "blocked", "cancelled"].contains(&task["status"].as_str().unwrap()), "{task}");
        while updates.next().await != uri {}
    }
}

#[tokio::test]
async fn a_client_plans_runs_watches_approves_and_lands_without_a_terminal() {
    let repo = TestRepo::for_runs(CONFIG);
    let (session, mut updates) = connect(&repo).await;
    let server = session.peer_info().expect("the server said who it is");
    assert_eq!(server.server_info.as_ref().map(|i| i.name.as_str()), Some("colony"));
    assert!(server.capabilities.resources.as_ref().is_some_and(|r| r.subscribe == Some(true)));

    let tools: BTreeSet<String> = session.list_all_tools().await.unwrap().into_iter().map(|t| t.name.into()).collect();
    for tool in ["init", "plan", "add_plan", "run", "stop", "status", "list_tasks", "show_task", "task_log"] {
        assert!(tools.contains(tool), "{tool} in {tools:?}");
    }
    for tool in ["events", "retry", "cancel", "kill", "approve", "reject", "answer", "land"] {
        assert!(tools.contains(tool), "{tool} in {tools:?}");
    }

    let added = ok(&session, "add_plan", json!({"text": PLAN})).await;
    assert!(added.contains("\"added\"") && added.contains("\"a\""), "{added}");
    for uri in ["colony://tasks/b", "colony://status"] {
        #[allow(deprecated, reason = "the handshake protocol's subscription, which clients speak today")]
        session.subscribe(SubscribeRequestParams::new(uri)).await.unwrap();
    }
    let started = ok(&session, "run", json!({"jobs": 2})).await;
    // A run this short may end before it is seen at work; either answer
    // is a started run.
    let detached = |said: &str| said.contains("colony runs in the background") || said.contains("has already ended");
    assert!(detached(&started), "{started}");

    until_status(&session, &mut updates, "b", "awaiting_approval").await;
    ok(&session, "stop", json!({})).await;
    let approved = ok(&session, "approve", json!({"id": "b"})).await;
    assert!(approved.contains('b'), "{approved}");
    let again = ok(&session, "run", json!({})).await;
    assert!(detached(&again), "{again}");
    until_status(&session, &mut updates, "b", "done").await;
    ok(&session, "stop", json!({})).await;
    // b's events came after the subscription, so its updates come too,
    // and nothing that was not subscribed to.
    while !updates.seen.contains("colony://tasks/b") {
        updates.next().await;
    }
    while let Ok(uri) = updates.received.try_recv() {
        updates.seen.insert(uri);
    }
    let seen = &updates.seen;
    assert!(seen.iter().all(|uri| ["colony://tasks/b", "colony://status"].contains(&uri.as_str())), "{seen:?}");

    let landed = ok(&session, "land", json!({})).await;
    assert!(landed.contains("colony/p"), "{landed}");
    assert_eq!(std::fs::read_to_string(repo.root().join("b.txt")).unwrap(), "b\n");

    let plan = read(&session, "colony://plans/p").await;
    assert!(plan.contains("id: a") && plan.contains("id: b"), "{plan}");
    let listed = session.list_all_resources().await.unwrap();
    assert!(listed.iter().any(|r| r.uri == "colony://tasks/a"), "{listed:?}");
    let log = ok(&session, "task_log", json!({"id": "a"})).await;
    assert!(!log.is_empty());
    let events = ok(&session, "events", json!({"since": 0, "limit": 2})).await;
    assert!(events.lines().count() == 3 && events.contains("more; call again with since = 2"), "{events}");
    session.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_arguments_are_tool_errors_and_change_nothing() {
    let repo = TestRepo::for_runs(CONFIG);
    let (session, _updates) = connect(&repo).await;
    let events_before = repo.events().len();

    let bad_plan = refused(&session, "add_plan", json!({"text": "tasks:\n  - id: a\n    deps: [nowhere]\n"})).await;
    assert!(bad_plan.contains("colony add failed (exit code 2)") && bad_plan.contains("nowhere"), "{bad_plan}");
    let unknown = refused(&session, "approve", json!({"id": "ghost"})).await;
    assert!(unknown.contains("no task `ghost`"), "{unknown}");
    let flag = refused(&session, "retry", json!({"ids": ["--all"]})).await;
    assert!(flag.contains("no task `--all`"), "an id that looks like a flag is still an id: {flag}");
    let shape = refused(&session, "retry", json!({"ids": "a"})).await;
    assert!(shape.contains("bad arguments for retry"), "{shape}");
    let path = refused(&session, "add_plan", json!({"text": "tasks: []", "name": "../../x"})).await;
    assert!(path.contains("has `/`"), "{path}");
    let jobs = refused(&session, "run", json!({"jobs": 0})).await;
    assert!(jobs.contains("colony run failed (exit code 2)"), "{jobs}");
    let tool = refused(&session, "explode", json!({})).await;
    assert!(tool.contains("no tool `explode`"), "{tool}");

    assert_eq!(repo.events().len(), events_before, "nothing was recorded");
    assert!(!repo.root().join(".colony/run.pid").exists());
    assert!(!repo.root().parent().unwrap().join("x.yaml").exists());
    let status = ok(&session, "status", json!({})).await;
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["counts"]["total"], 0, "{status}");
    session.cancel().await.unwrap();
}

#[tokio::test]
async fn a_client_of_the_newest_protocol_listens_for_the_same_changes() {
    let repo = TestRepo::for_runs(CONFIG);
    let transport = TokioChildProcess::new(tokio::process::Command::from(repo.command(&["mcp"]))).unwrap();
    let lifecycle = ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] };
    let session = ().serve_with_lifecycle(transport, lifecycle).await.expect("the server answers");
    let filter =
        SubscriptionFilter::builder().resources_list_changed().resource_subscription("colony://tasks/a").build();
    let mut subscription = session.listen(filter).await.expect("the subscription is acknowledged");
    assert_eq!(
        subscription.acknowledged().resource_subscriptions.as_deref(),
        Some(&["colony://tasks/a".to_owned()][..])
    );

    let added = call_on(&session, "add_plan", json!({"text": "name: p\ntasks:\n  - id: a\n    prompt: p\n"})).await;
    assert_ne!(added.is_error, Some(true), "{}", text(&added));
    let mut list_changed = false;
    let mut a_updated = false;
    while !(list_changed && a_updated) {
        match subscription.next().await.unwrap().expect("the subscription is open") {
            ServerNotification::ResourceListChangedNotification(_) => list_changed = true,
            ServerNotification::ResourceUpdatedNotification(n) => {
                assert_eq!(n.params.uri, "colony://tasks/a", "only what was asked for");
                a_updated = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn install_adds_the_server_to_a_clients_file_once_and_keeps_the_rest() {
    let repo = TestRepo::new();
    let home = repo.base().join("home");
    let claude = home.join(".claude.json");
    std::fs::write(&claude, "{\"theme\": \"dark\", \"mcpServers\": {\"docs\": {\"command\": \"docs\"}}}\n").unwrap();

    let printed = repo.stdout(&["mcp", "install", "claude", "--print"], 0);
    assert!(
        printed.contains("would get:") && printed.contains("\"type\": \"stdio\",\n      \"command\": "),
        "{printed}"
    );
    assert!(!std::fs::read_to_string(&claude).unwrap().contains("colony"), "--print changes nothing");

    let added = repo.stdout(&["mcp", "install", "claude"], 0);
    assert!(added.starts_with(&format!("added colony's MCP server to {}", claude.display())), "{added}");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&claude).unwrap()).unwrap();
    assert_eq!(written["theme"], "dark");
    assert_eq!(written["mcpServers"]["docs"]["command"], "docs");
    let command = written["mcpServers"]["colony"]["command"].as_str().unwrap();
    assert_eq!(command, env!("CARGO_BIN_EXE_colony"), "not on PATH: its own path");
    assert_eq!(written["mcpServers"]["colony"]["args"], json!(["mcp"]));
    let again = repo.stdout(&["mcp", "install", "claude"], 0);
    assert!(again.contains("already has colony's MCP server; nothing changed"), "{again}");

    let codex = repo.stdout(&["mcp", "install", "codex", "--project"], 0);
    assert!(codex.contains("(it starts `colony` from PATH"), "{codex}");
    let toml = std::fs::read_to_string(repo.root().join(".codex/config.toml")).unwrap();
    assert_eq!(toml, "[mcp_servers.colony]\ncommand = \"colony\"\nargs = [\"mcp\"]\n");

    let cursor = home.join(".cursor/mcp.json");
    std::fs::create_dir_all(cursor.parent().unwrap()).unwrap();
    std::fs::write(&cursor, "{\"mcpServers\": [").unwrap();
    let err = repo.stderr(&["mcp", "install", "cursor"], 2);
    assert!(
        err.contains(&format!("{}: it is not a JSON object", cursor.display())) && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), "{\"mcpServers\": [");
}

/// A third party's client: the official MCP Python SDK (`mcp` from PyPI,
/// pinned in tests/mcp-client/requirements.txt) runs tests/mcp-client/
/// client.py against the server. Its virtual environment is made by
/// `.ci/run`; missing, this test fails: it does not skip.
#[test]
fn the_python_sdks_client_runs_a_plan_through_the_server() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp-client");
    let python = dir.join(".venv/bin/python");
    assert!(
        python.is_file(),
        "this test needs the MCP Python SDK: python3 -m venv {0}/.venv && {0}/.venv/bin/pip install -r \
         {0}/requirements.txt (CI does it in .ci/run)",
        dir.display()
    );
    let repo = TestRepo::for_runs(CONFIG);
    let client = dir.join("client.py");
    let out = repo
        .program(&python, &[client.to_str().unwrap()])
        .env("COLONY_BIN", env!("CARGO_BIN_EXE_colony"))
        .env("COLONY_REPO", repo.root())
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the Python client failed:\n{said}");
    assert!(said.contains("initialized: colony") && said.ends_with("ok\n"), "{said}");
    assert_eq!(repo.git_out(&["show", "colony/py:hello.txt"]), "hi\n");
}
