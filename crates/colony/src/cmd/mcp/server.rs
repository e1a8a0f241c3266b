//! The IO half of `colony mcp`: the MCP handler, the `colony` child each
//! tool call runs, and the watcher that turns the event log into resource
//! notifications.
//!
//! A tool call runs this same executable as a child (`--repo` and
//! `--store` as the server was given, no shell, stdin closed) rather than
//! calling the command in-process: a command prints to stdout, which here
//! is the protocol's channel, and a child's failure of any kind becomes a
//! tool error instead of taking the server down. It also makes every tool
//! answer exactly as the command does, errors included.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use colony_core::{Event, EventKind};
use colony_store::{Store, Tail, TaskFilter};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, ResourceTemplate, ResourceUpdatedNotificationParam,
    ServerCapabilities, ServerConfig, SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, RoleServer, SubscriptionContext};
use rmcp::{ErrorData, Peer, ServerHandler};
use tokio::sync::broadcast;

use super::tools::{Call, ToolDef};
use crate::ctx::{Ctx, STATE_DIR};

/// The most of a command's output a tool call returns, per stream.
const MAX_OUTPUT: usize = 256 * 1024;

/// How often the watcher asks SQLite for new events (PostgreSQL notifies).
const POLL: Duration = Duration::from_millis(250);

/// Where a plan given as text is kept, under the state directory.
const PLANS_DIR: &str = "plans";

/// Resource addresses.
const STATUS_URI: &str = "colony://status";
const TASKS_URI: &str = "colony://tasks";
const TASK_PREFIX: &str = "colony://tasks/";
const PLAN_PREFIX: &str = "colony://plans/";

pub struct Server {
    exe: PathBuf,
    ctx: Arc<Ctx>,
    /// The `--store` text the server was started with, passed on as it is.
    store: String,
    tools: Arc<Vec<ToolDef>>,
    changes: broadcast::Sender<Change>,
    /// What a client that initialized (protocol versions before
    /// 2026-07-28) subscribed to with `resources/subscribe`.
    subscribed: Arc<Mutex<BTreeSet<String>>>,
}

impl Server {
    /// The server, following the event log from where it ends now.
    pub async fn new(ctx: Ctx, store: String) -> std::io::Result<Server> {
        let (changes, _) = broadcast::channel(256);
        let ctx = Arc::new(ctx);
        let since = match open(&ctx).await {
            Some(store) => {
                let last = store.last_seq().await.unwrap_or(0);
                store.close().await;
                last
            }
            None => 0,
        };
        tokio::spawn(watch(ctx.clone(), since, changes.clone()));
        Ok(Server {
            exe: std::env::current_exe()?,
            ctx,
            store,
            tools: super::tools::all(),
            changes,
            subscribed: Arc::default(),
        })
    }

    /// Runs `colony ARGS` for this repository and store.
    async fn colony(&self, args: &[String]) -> std::io::Result<Output> {
        let output = tokio::process::Command::new(&self.exe)
            .arg("--repo")
            .arg(&self.ctx.root)
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output()
            .await?;
        Ok(Output { code: output.status.code(), stdout: capped(&output.stdout), stderr: capped(&output.stderr) })
    }

    async fn run_call(&self, mut call: Call) -> CallToolResult {
        if let Some(plan) = call.plan.take() {
            match self.write_plan(&plan.file, &plan.text) {
                Ok(path) => call.args.push(path.display().to_string()),
                Err(message) => return CallToolResult::error(vec![ContentBlock::text(message)]),
            }
        }
        let output = match self.colony(&call.args).await {
            Ok(output) => output,
            Err(e) => return error(format!("could not run {}: {e}", self.exe.display())),
        };
        let command = call.args.first().map_or("", String::as_str);
        if output.code != Some(0) {
            let code = output.code.map_or_else(|| "a signal".to_owned(), |c| format!("exit code {c}"));
            let text = [output.stderr.trim(), output.stdout.trim()].into_iter().filter(|s| !s.is_empty());
            return error(format!("colony {command} failed ({code}):\n{}", text.collect::<Vec<_>>().join("\n")));
        }
        let mut text = match call.lines {
            Some(limit) => first_lines(&output.stdout, limit),
            None => output.stdout,
        };
        if !output.stderr.trim().is_empty() {
            text.push_str(output.stderr.trim_end());
            text.push('\n');
        }
        CallToolResult::success(vec![ContentBlock::text(text)])
    }

    /// Writes a plan given as text to `.colony/plans/FILE`, for `colony add`.
    fn write_plan(&self, file: &str, text: &str) -> Result<PathBuf, String> {
        let state = self.ctx.root.join(STATE_DIR);
        if !state.is_dir() {
            return Err(format!("colony is not set up in {}; call the init tool first", self.ctx.root.display()));
        }
        let dir = state.join(PLANS_DIR);
        let path = dir.join(file);
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, text))
            .map_err(|e| format!("could not write {}: {e}", path.display()))?;
        Ok(path)
    }

    /// The resources there are now: the status, the task list, each task
    /// and each plan.
    async fn resources(&self) -> anyhow::Result<Vec<Resource>> {
        let mut all = vec![
            Resource::new(STATUS_URI, "status")
                .with_description("Where things stand, as the status tool says it")
                .with_mime_type("application/json"),
            Resource::new(TASKS_URI, "tasks")
                .with_description("Every task with its status, as list_tasks gives it")
                .with_mime_type("application/json"),
        ];
        if !self.ctx.root.join(STATE_DIR).is_dir() {
            return Ok(all);
        }
        let store = self.ctx.open_store().await?;
        let plans = store.plans().await;
        let tasks = store.tasks(&TaskFilter::default()).await;
        store.close().await;
        for plan in plans? {
            all.push(
                Resource::new(format!("{PLAN_PREFIX}{}", plan.name), format!("plan {}", plan.name))
                    .with_description("The plan's tasks, as colony export writes them")
                    .with_mime_type("application/yaml"),
            );
        }
        for task in tasks? {
            all.push(
                Resource::new(format!("{TASK_PREFIX}{}", task.task.id), format!("task {}", task.task.id))
                    .with_description(task.title)
                    .with_mime_type("application/json"),
            );
        }
        Ok(all)
    }
}

/// What a `colony` child ended with.
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn error(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// Bytes as text, at most [`MAX_OUTPUT`] of them, saying so when cut.
fn capped(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_OUTPUT)]).into_owned();
    match bytes.len() > MAX_OUTPUT {
        true => format!("{text}\n[… {} more bytes not shown]\n", bytes.len() - MAX_OUTPUT),
        false => text,
    }
}

/// The first `limit` lines of `text`, saying how to read on when cut.
fn first_lines(text: &str, limit: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: String = lines.iter().take(limit).flat_map(|l| [*l, "\n"]).collect();
    if lines.len() > limit {
        let last = lines[limit - 1];
        let seq = serde_json::from_str::<serde_json::Value>(last).ok().and_then(|v| v["seq"].as_i64());
        let more = lines.len() - limit;
        match seq {
            Some(seq) => out.push_str(&format!("[{more} more; call again with since = {seq}]\n")),
            None => out.push_str(&format!("[{more} more lines]\n")),
        }
    }
    out
}

/// The resources a batch of events changed, and whether resources came
/// or went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub uris: BTreeSet<String>,
    pub list_changed: bool,
    /// A task's spec changed in a way that does not name its plan: every
    /// plan resource may have changed.
    pub all_plans: bool,
}

impl Change {
    /// Whether `uri` is among the changed.
    fn touches(&self, uri: &str) -> bool {
        self.uris.contains(uri) || (self.all_plans && uri.starts_with(PLAN_PREFIX))
    }
}

/// What `events` changed: every event the status and the task list, a
/// task's events that task, and a plan's shape its plan.
pub fn change(events: &[Event]) -> Change {
    let mut change = Change::default();
    if events.is_empty() {
        return change;
    }
    change.uris.insert(STATUS_URI.to_owned());
    change.uris.insert(TASKS_URI.to_owned());
    for event in events {
        if let Some(task) = &event.task {
            change.uris.insert(format!("{TASK_PREFIX}{task}"));
        }
        match &event.kind {
            EventKind::PlanAdded { plan, .. } | EventKind::TaskAdded { plan, .. } => {
                change.uris.insert(format!("{PLAN_PREFIX}{plan}"));
                change.list_changed = true;
            }
            EventKind::PlanUpdated { plan, .. } => {
                change.uris.insert(format!("{PLAN_PREFIX}{plan}"));
            }
            EventKind::TaskUpdated { .. } | EventKind::Replaced { .. } => change.all_plans = true,
            _ => {}
        }
    }
    change
}

/// The store, when colony is set up.
async fn open(ctx: &Ctx) -> Option<colony_store::SqlStore> {
    match ctx.root.join(STATE_DIR).is_dir() {
        true => ctx.open_store().await.ok(),
        false => None,
    }
}

/// Follows the event log after `since` and sends what each batch changed.
/// Waits for the store while there is none (colony not set up yet: then
/// every event is new), and opens it again after a failed read.
async fn watch(ctx: Arc<Ctx>, mut since: i64, changes: broadcast::Sender<Change>) {
    loop {
        let Some(store) = open(&ctx).await else {
            tokio::time::sleep(POLL).await;
            continue;
        };
        let mut tail = Tail::new(&store, since, 1000, POLL).listening().await;
        loop {
            match tail.read().await {
                Ok(batch) if batch.is_empty() => {}
                Ok(batch) => {
                    // No receiver (nobody subscribed yet) is not an error.
                    let _ = changes.send(change(&batch));
                }
                Err(_) => break,
            }
            tail.wait().await;
        }
        since = tail.since();
        store.close().await;
        tokio::time::sleep(POLL).await;
    }
}

/// Sends a client that initialized the notifications it subscribed to,
/// and every change of the resource list, until it goes.
async fn forward(
    peer: Peer<RoleServer>,
    subscribed: Arc<Mutex<BTreeSet<String>>>,
    mut changes: broadcast::Receiver<Change>,
) {
    loop {
        let change = match changes.recv().await {
            Ok(change) => change,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let uris: Vec<String> = {
            let subscribed = subscribed.lock().expect("subscriptions lock");
            subscribed.iter().filter(|uri| change.touches(uri)).cloned().collect()
        };
        for uri in uris {
            if peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri)).await.is_err() {
                return;
            }
        }
        if change.list_changed && peer.notify_resource_list_changed().await.is_err() {
            return;
        }
    }
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_resources_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("colony", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "colony runs a plan of coding tasks through many AI coding agents at once, each in its own git \
             worktree, checks their work and merges it into an integration branch. Add a plan (add_plan, or \
             plan from a goal), start a run (run), watch it (status, list_tasks, resources), decide what \
             awaits a person (approve, reject), then land the plan.",
        )
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        tokio::spawn(forward(context.peer, self.subscribed.clone(), self.changes.subscribe()));
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.iter().map(|def| def.tool.clone()).collect()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(def) = self.tools.iter().find(|def| def.tool.name == request.name) else {
            let known: Vec<&str> = self.tools.iter().map(|def| def.tool.name.as_ref()).collect();
            return Ok(error(format!("no tool `{}`; colony has: {}", request.name, known.join(", "))).into());
        };
        let result = match def.call(request.arguments.unwrap_or_default()) {
            Ok(call) => self.run_call(call).await,
            Err(message) => error(message),
        };
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let all = self.resources().await.map_err(|e| ErrorData::internal_error(format!("{e:#}"), None))?;
        Ok(ListResourcesResult::with_all_items(all))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(format!("{TASK_PREFIX}{{id}}"), "task")
                .with_description("One task in full, as show_task gives it")
                .with_mime_type("application/json"),
            ResourceTemplate::new(format!("{PLAN_PREFIX}{{name}}"), "plan")
                .with_description("A plan's tasks, as colony export writes them")
                .with_mime_type("application/yaml"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri;
        let args: Vec<String> = match uri.as_str() {
            STATUS_URI => vec!["status".into(), "--json".into()],
            TASKS_URI => vec!["list".into(), "--json".into()],
            _ => match (uri.strip_prefix(TASK_PREFIX), uri.strip_prefix(PLAN_PREFIX)) {
                (Some(id), _) => vec!["show".into(), "--json".into(), "--".into(), id.into()],
                (_, Some(plan)) => vec!["export".into(), "--plan".into(), plan.into()],
                _ => return Err(ErrorData::resource_not_found(format!("no resource {uri}"), None)),
            },
        };
        let output = self.colony(&args).await.map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        match output.code {
            Some(0) => Ok(ReadResourceResult::new(vec![ResourceContents::text(output.stdout, uri)]).into()),
            _ => Err(ErrorData::resource_not_found(format!("{uri}: {}", output.stderr.trim()), None)),
        }
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscribed.lock().expect("subscriptions lock").insert(request.uri);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscribed.lock().expect("subscriptions lock").remove(&request.uri);
        Ok(())
    }

    fn accepted_subscription_filter(&self, requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        Some(requested.supported_by(&self.get_info().capabilities))
    }

    /// A client of protocol 2026-07-28 listens instead of subscribing: the
    /// same changes, sent on its subscription until it is cancelled.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut changes = self.changes.subscribe();
        let uris: BTreeSet<String> = context.accepted().resource_subscriptions.iter().flatten().cloned().collect();
        let list_changed = context.accepted().resources_list_changed == Some(true);
        loop {
            let change = tokio::select! {
                () = context.cancelled() => return Ok(()),
                change = changes.recv() => change,
            };
            let change = match change {
                Ok(change) => change,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            };
            for uri in uris.iter().filter(|uri| change.touches(uri)) {
                if context.sink().notify_resource_updated(uri.clone()).await.is_err() {
                    return Ok(());
                }
            }
            if list_changed && change.list_changed && context.sink().notify_resource_list_changed().await.is_err() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use colony_core::TaskId;

    use super::*;

    fn event(seq: i64, task: Option<&str>, kind: EventKind) -> Event {
        Event { seq, at: 0, task: task.map(|t| TaskId::new(t).unwrap()), kind }
    }

    #[test]
    fn events_change_the_status_the_list_and_their_tasks() {
        let change = change(&[event(1, Some("a"), EventKind::Ready), event(2, Some("b"), EventKind::Cancelled)]);
        let uris: Vec<&str> = change.uris.iter().map(String::as_str).collect();
        assert_eq!(uris, ["colony://status", "colony://tasks", "colony://tasks/a", "colony://tasks/b"]);
        assert!(!change.list_changed);
        assert!(change.touches("colony://tasks/a"));
        assert!(!change.touches("colony://tasks/c"));
        assert!(!change.touches("colony://plans/web"));
    }

    #[test]
    fn a_new_task_changes_its_plan_and_the_list_and_an_update_every_plan() {
        let plan = colony_core::PlanName::new("web").unwrap();
        let added =
            change(&[event(1, None, EventKind::PlanAdded { plan: plan.clone(), tasks: 1, source: "p.yaml".into() })]);
        assert!(added.list_changed);
        assert!(added.touches("colony://plans/web"));
        assert!(!added.touches("colony://plans/other"));
        assert_eq!(change(&[]), Change::default());
    }

    #[test]
    fn long_output_is_cut_saying_where_to_read_on() {
        let text = "{\"seq\":4}\n{\"seq\":5}\n{\"seq\":6}\n";
        assert_eq!(first_lines(text, 2), "{\"seq\":4}\n{\"seq\":5}\n[1 more; call again with since = 5]\n");
        assert_eq!(first_lines(text, 3), text);
        assert_eq!(first_lines("a\nb\n", 1), "a\n[1 more lines]\n");
        let big = vec![b'x'; MAX_OUTPUT + 10];
        assert!(capped(&big).ends_with("[… 10 more bytes not shown]\n"));
    }
}
