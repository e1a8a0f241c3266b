//! One agent's MCP session, come in on the run's socket: its key first,
//! then the session, served until the agent goes.

use std::sync::Arc;
use std::time::Duration;

use colony_core::TaskId;
use colony_core::plan::Proposed;
use colony_store::{Store, TaskFilter};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::UnixStream;

use super::tools::{self, Ask};
use crate::shared::Inner;

/// The longest key line read.
const MAX_KEY_LINE: u64 = 256;

/// How long a connection has to send its key.
const KEY_WAIT: Duration = Duration::from_secs(10);

/// Serves the session on `stream` if it begins with a live key; closes it
/// otherwise.
pub(crate) async fn serve<S: Store + 'static>(inner: Arc<Inner<S>>, stream: UnixStream) {
    let (read, write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    let got = tokio::time::timeout(KEY_WAIT, (&mut read).take(MAX_KEY_LINE).read_line(&mut line)).await;
    if !matches!(got, Ok(Ok(n)) if n > 0) {
        return;
    }
    let key = line.trim_end().to_owned();
    if inner.talk.speaker(&key).is_none() {
        return;
    }
    let session = AgentTools { inner, key, tools: tools::all() };
    if let Ok(running) = session.serve((read, write)).await {
        let _ = running.waiting().await;
    }
}

/// The tools, for the attempt one key speaks for.
struct AgentTools<S> {
    inner: Arc<Inner<S>>,
    key: String,
    tools: Vec<rmcp::model::Tool>,
}

impl<S: Store + 'static> AgentTools<S> {
    /// `task`'s plan as its agent may see it.
    async fn plan_view(&self, task: &TaskId) -> Result<tools::PlanView, crate::error::EngineError> {
        let store = &self.inner.store;
        let detail =
            store.task(task.as_str()).await?.ok_or_else(|| colony_store::StoreError::NoSuchTask(task.to_string()))?;
        let plan = detail.record.task.plan.clone();
        let filter = TaskFilter { statuses: Vec::new(), plan: Some(plan.to_string()) };
        let all = store.tasks(&filter).await?;
        let more_tasks = all.len().saturating_sub(tools::MAX_PLAN_TASKS);
        let tasks = all
            .into_iter()
            .take(tools::MAX_PLAN_TASKS)
            .map(|rec| tools::PlanTask {
                id: rec.task.id.to_string(),
                title: rec.title,
                status: rec.task.status().to_string(),
                deps: rec.deps.iter().map(ToString::to_string).collect(),
            })
            .collect();
        let dependencies = self.inner.base.dependencies(&detail.spec, &mut |_| {}).await?;
        Ok(tools::PlanView { plan: plan.to_string(), you: task.to_string(), tasks, more_tasks, dependencies })
    }

    async fn answer(&self, ask: Ask) -> Result<String, String> {
        let Some(speaker) = self.inner.talk.speaker(&self.key) else {
            return Err("your attempt has ended: nothing more is recorded".into());
        };
        let (task, attempt) = (&speaker.task, speaker.attempt);
        let store = &self.inner.store;
        let lost = |e: colony_store::StoreError| format!("colony could not record it: {e}");
        match ask {
            Ask::Progress(message) => {
                store.report_progress(task, attempt, &message).await.map_err(lost)?;
                speaker.said.push(message);
                Ok("noted".into())
            }
            Ask::Followup { id, text } => {
                let config = &self.inner.settings.config;
                let proposed = Proposed::new(text, &config.plan, &config.run.integration_branch);
                let held = proposed.mode == colony_core::config::Followups::Approve;
                let judged = store.record_followups(task, attempt, &proposed).await.map_err(lost)?;
                tools::followup_answer(&id, &judged, held)
            }
            Ask::Question(question) => {
                tools::question_answer(speaker.said.ask(question), self.inner.settings.config.run.answer_timeout)
            }
            Ask::ViewPlan => {
                let view = self.plan_view(task).await.map_err(|e| format!("colony could not read the plan: {e}"))?;
                Ok(serde_json::to_string(&view).expect("a plan view always serializes"))
            }
        }
    }
}

impl<S: Store + 'static> ServerHandler for AgentTools<S> {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("colony", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "colony runs your task as one of many in a plan. Tell the person how far you are with \
                 report_progress at each milestone, propose work you find that is not yours with \
                 propose_followup, and ask the person with ask_human when only they can settle something, \
                 then end your turn. view_plan shows the plan and what the tasks yours depends on did.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let answered = match tools::ask(&request.name, request.arguments.unwrap_or_default()) {
            Ok(ask) => self.answer(ask).await,
            Err(message) => Err(message),
        };
        Ok(match answered {
            Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
            Err(text) => CallToolResult::error(vec![ContentBlock::text(text)]),
        }
        .into())
    }
}
