//! A served store in a temporary git repository, and a small client.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use colony_agents::Shutdown;
use colony_core::{Plan, PlanName, TaskId, TaskSpec};
use colony_store::{AddOptions, SqlStore, Store, SystemClock};
use colony_web::{ServeConfig, Server, Token};
use futures_util::StreamExt;
use reqwest::{Client, RequestBuilder, Response};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

/// Longest any wait in these tests may take before it fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct Served {
    _dir: TempDir,
    pub root: PathBuf,
    pub store: Arc<SqlStore>,
    pub base: String,
    pub token: String,
    pub client: Client,
    stop: CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub fn id(s: &str) -> TaskId {
    TaskId::new(s).unwrap()
}

/// A plan from `(id, title, deps)`.
pub fn plan(name: &str, tasks: &[(&str, &str, &[&str])]) -> Plan {
    Plan {
        name: PlanName::new(name).unwrap(),
        base: None,
        defaults: Default::default(),
        tasks: tasks
            .iter()
            .map(|(t, title, deps)| {
                let mut spec = TaskSpec::new(id(t), *title, format!("Do {t}."));
                spec.deps = deps.iter().map(|d| id(d)).collect();
                spec
            })
            .collect(),
    }
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Served {
    /// A git repository with one commit, a store holding `plans`, served
    /// on a free port; `run` as `colony run --serve` would pass it.
    pub async fn start(plans: &[Plan], run: Option<Shutdown>) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        git(&root, &["init", "-q", "-b", "main"]);
        std::fs::write(root.join("README.md"), "# test\n").unwrap();
        git(&root, &["add", "."]);
        git(&root, &["commit", "-qm", "Start"]);
        std::fs::create_dir_all(root.join(".colony")).unwrap();
        let store =
            Arc::new(SqlStore::open_sqlite(&root.join(".colony/colony.db"), Arc::new(SystemClock)).await.unwrap());
        for p in plans {
            store.add_plan(p, "plan.yaml", AddOptions::default()).await.unwrap();
        }
        let token = Token::load_or_create(&root.join(".colony")).unwrap();
        let server = Server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let base = format!("http://{}", server.local_addr());
        let stop = CancellationToken::new();
        let config = ServeConfig {
            repo: root.clone(),
            branch_pattern: "colony/{plan}".into(),
            default_agents: Default::default(),
            token: token.clone(),
            run,
            event_poll: Duration::from_millis(50),
        };
        tokio::spawn(server.serve(store.clone(), config, stop.clone()));
        Served { _dir: dir, root, store, base, token: token.as_str().to_owned(), client: Client::new(), stop }
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(format!("{}{path}", self.base))
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(format!("{}{path}", self.base))
    }

    /// A POST with the token.
    pub fn act(&self, path: &str) -> RequestBuilder {
        self.post(path).bearer_auth(&self.token)
    }

    /// GET `path` as JSON, asserting the status.
    pub async fn json(&self, path: &str, status: u16) -> serde_json::Value {
        let response = self.get(path).send().await.unwrap();
        expect(response, status).await
    }

    pub async fn status_of(&self, task: &str) -> String {
        self.json(&format!("/api/tasks/{task}"), 200).await["status"].as_str().unwrap().to_owned()
    }
}

/// The body as JSON, after asserting the status.
pub async fn expect(response: Response, status: u16) -> serde_json::Value {
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct Sse {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// Reads server-sent events from a streaming response.
pub struct SseReader {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl SseReader {
    pub fn new(response: Response) -> SseReader {
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseReader { body: response.bytes_stream().boxed(), buf: String::new() }
    }

    /// The next event (comments and keep-alives skipped), or `None` when
    /// the stream ends.
    pub async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut sse = Sse { id: None, event: None, data: String::new() };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        sse.id = Some(v.trim_start().to_owned());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        sse.event = Some(v.trim_start().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        sse.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        any = true;
                    }
                }
                if any {
                    return Some(sse);
                }
                continue;
            }
            let chunk = tokio::time::timeout(PATIENCE, self.body.next()).await.expect("an event in time")?.ok()?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}
