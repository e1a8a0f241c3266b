//! `colony-bench web`: the dashboard's latency and memory at scale.
//!
//! A store of `--tasks` tasks (a fifth of them done, so the log holds tens
//! of thousands of events) is served by a child process (`web-child`, the
//! same `colony_web::Server` that `colony serve` runs) with `--clients`
//! event streams connected, while this process keeps writing events (a
//! claim and a completion every few milliseconds) so that every stream is
//! busy. It then times `/api/tasks?page=…` (with and without a search and
//! a state filter) and `/api/tasks/{id}`, and the same store reads called
//! directly as the baseline; and reads the server's resident set from
//! `/proc`. Finally it checks every stream received every event, in order.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use colony_core::{Plan, PlanName, TaskId, TaskSpec};
use colony_store::{AddOptions, SqlStore, Store, SystemClock, TaskQuery};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::table;

#[derive(clap::Args)]
pub struct Args {
    /// Tasks in the store.
    #[arg(long, default_value_t = 10_000)]
    tasks: usize,
    /// Event streams connected while measuring.
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Requests timed per kind.
    #[arg(long, default_value_t = 400)]
    requests: usize,
}

#[derive(clap::Args)]
pub struct ChildArgs {
    /// The repository whose `.colony/colony.db` to serve.
    #[arg(long)]
    repo: PathBuf,
}

const PER_PAGE: usize = 50;

pub fn main(args: Args) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(measure(args))
}

/// The server, as `colony serve` runs it; prints its address on stdout.
pub fn child(args: ChildArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let colony = args.repo.join(".colony");
        let store = Arc::new(SqlStore::open_sqlite(&colony.join("colony.db"), Arc::new(SystemClock)).await?);
        let server = colony_web::Server::bind("127.0.0.1:0".parse()?).await?;
        println!("{}", server.local_addr());
        let config = colony_web::ServeConfig {
            repo: args.repo.clone(),
            branch_pattern: "colony/{plan}".into(),
            default_agents: Default::default(),
            token: colony_web::Token::load_or_create(&colony)?,
            run: None,
            event_poll: colony_web::EVENT_POLL,
        };
        server.serve(store, config, CancellationToken::new()).await?;
        Ok(())
    })
}

async fn measure(args: Args) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let repo = dir.path().to_path_buf();
    std::fs::create_dir_all(repo.join(".colony"))?;
    let store = Arc::new(SqlStore::open_sqlite(&repo.join(".colony/colony.db"), Arc::new(SystemClock)).await?);
    let seeded = Instant::now();
    seed(&store, args.tasks).await?;
    let events = store.last_seq().await?;
    println!("web: {} tasks, {events} events, seeded in {:.1}s", args.tasks, seeded.elapsed().as_secs_f64());

    let server = Server::start(&repo)?;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let start_seq = store.last_seq().await?;
    let mut streams = Vec::new();
    for _ in 0..args.clients {
        let response = client.get(format!("{base}/api/events?since={start_seq}")).send().await?;
        streams.push(tokio::spawn(read_stream(response)));
    }

    // Keep events flowing while measuring.
    let writing = CancellationToken::new();
    let writer = tokio::spawn(write_events(store.clone(), writing.clone()));

    let ids: Vec<String> = (0..args.tasks).map(|i| format!("t{i:05}")).collect();
    let pages = args.tasks.div_ceil(PER_PAGE);
    let list_paths: Vec<String> = (0..args.requests)
        .map(|i| match i % 4 {
            0 => format!("/api/tasks?page={}&per_page={PER_PAGE}&q=task%20{}", 1 + i % 3, i % 97),
            1 => format!("/api/tasks?page={}&per_page={PER_PAGE}&status=ready,pending", 1 + i % 20),
            _ => format!("/api/tasks?page={}&per_page={PER_PAGE}", 1 + (i * 7919) % pages),
        })
        .collect();
    let detail_paths: Vec<String> =
        (0..args.requests).map(|i| format!("/api/tasks/{}", ids[(i * 7919) % ids.len()])).collect();

    let http_list = time_http(&client, &base, &list_paths).await?;
    let http_detail = time_http(&client, &base, &detail_paths).await?;
    let direct_list = time_direct(&list_paths, |path| {
        let store = store.clone();
        async move { store.task_page(&query_of(&path)).await.map(drop) }
    })
    .await?;
    let direct_detail = time_direct(&detail_paths, |path| {
        let store = store.clone();
        async move { store.task(path.trim_start_matches("/api/tasks/")).await.map(drop) }
    })
    .await?;
    let (rss, hwm) = server.memory();

    writing.cancel();
    let written = writer.await??;
    let last = store.last_seq().await?;
    let mut complete = 0;
    for stream in streams {
        let seqs = tokio::time::timeout(Duration::from_secs(30), stream_until(stream, last))
            .await
            .context("an event stream stalled")??;
        let expected: Vec<i64> = ((start_seq + 1)..=last).collect();
        if seqs == expected {
            complete += 1;
        }
    }
    server.stop();

    println!(
        "\nlatency with {} event streams open and {written} writes meanwhile ({} requests each)",
        args.clients, args.requests
    );
    let row = |name: &str, http: &Timing, direct: &Timing| {
        vec![
            name.to_owned(),
            ms(http.p50),
            ms(http.p99),
            ms(direct.p50),
            ms(direct.p99),
            format!("{:.1}x", http.p50.as_secs_f64() / direct.p50.as_secs_f64().max(1e-9)),
            "p99 < 50 ms".to_owned(),
        ]
    };
    table::print(
        &["route", "HTTP p50", "HTTP p99", "store p50", "store p99", "p50 HTTP/store", "goal"],
        &[
            row("GET /api/tasks?page=…", &http_list, &direct_list),
            row("GET /api/tasks/{id}", &http_detail, &direct_detail),
        ],
    );
    println!("\nserver memory (the web-child process)");
    table::print(&["RSS now", "peak RSS", "goal"], &[vec![table::mib(rss), table::mib(hwm), "RSS < 150 MiB".into()]]);
    println!(
        "\nevent streams that received every one of the {} events in order: {complete} of {}",
        last - start_seq,
        args.clients
    );
    if complete != args.clients {
        bail!("{} event streams missed events", args.clients - complete);
    }
    Ok(())
}

/// A plan of `n` tasks, each depending on one or two earlier ones, a fifth
/// of them run to the end.
async fn seed(store: &SqlStore, n: usize) -> Result<()> {
    let id = |i: usize| TaskId::new(format!("t{i:05}")).expect("a valid id");
    let tasks = (0..n)
        .map(|i| {
            let mut spec = TaskSpec::new(id(i), format!("Task {i}: change module {}", i % 97), format!("Do task {i}."));
            if i >= 10 {
                spec.deps = vec![id(i - 10)];
                if i % 3 == 0 {
                    spec.deps.push(id(i - 7));
                }
            }
            spec
        })
        .collect();
    let plan = Plan { name: PlanName::new("bench")?, base: None, defaults: Default::default(), tasks };
    store.add_plan(&plan, "bench.yaml", AddOptions::default()).await?;
    for _ in 0..n / 5 {
        let Some(claim) = store.claim("seed", Duration::from_secs(60)).await? else {
            break;
        };
        store.complete(&claim.task, claim.attempt).await?;
    }
    Ok(())
}

/// A claim and a completion every 5 ms until told to stop; returns the
/// number of writes.
async fn write_events(store: Arc<SqlStore>, stop: CancellationToken) -> Result<usize> {
    let mut writes = 0;
    while !stop.is_cancelled() {
        if let Some(claim) = store.claim("writer", Duration::from_secs(60)).await? {
            store.complete(&claim.task, claim.attempt).await?;
            writes += 2;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(writes)
}

/// The list query a path asks for, as the server builds it.
fn query_of(path: &str) -> TaskQuery {
    let mut query = TaskQuery { limit: PER_PAGE as u64, ..TaskQuery::default() };
    let params = path.split_once('?').map(|(_, q)| q).unwrap_or("");
    for pair in params.split('&') {
        match pair.split_once('=') {
            Some(("page", p)) => query.offset = (p.parse::<u64>().unwrap_or(1) - 1) * PER_PAGE as u64,
            Some(("q", q)) => query.text = Some(q.replace("%20", " ")),
            Some(("status", s)) => query.statuses = s.split(',').filter_map(|s| s.parse().ok()).collect(),
            _ => {}
        }
    }
    query
}

struct Timing {
    p50: Duration,
    p99: Duration,
}

fn timing(mut samples: Vec<Duration>) -> Timing {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Timing { p50: at(0.50), p99: at(0.99) }
}

async fn time_http(client: &reqwest::Client, base: &str, paths: &[String]) -> Result<Timing> {
    let mut samples = Vec::with_capacity(paths.len());
    for path in paths {
        let started = Instant::now();
        let response = client.get(format!("{base}{path}")).send().await?;
        if !response.status().is_success() {
            bail!("{path}: {}", response.status());
        }
        response.bytes().await?;
        samples.push(started.elapsed());
    }
    Ok(timing(samples))
}

async fn time_direct<F, Fut>(paths: &[String], call: F) -> Result<Timing>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), colony_store::StoreError>>,
{
    let mut samples = Vec::with_capacity(paths.len());
    for path in paths {
        let started = Instant::now();
        call(path.clone()).await?;
        samples.push(started.elapsed());
    }
    Ok(timing(samples))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

type Stream = futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>;

/// An event stream's body, and the sequence numbers read so far.
struct Reader {
    body: Stream,
    buf: String,
    seqs: Vec<i64>,
}

async fn read_stream(response: reqwest::Response) -> Reader {
    Reader { body: response.bytes_stream().boxed(), buf: String::new(), seqs: Vec::new() }
}

/// Reads until the event `last` has arrived.
async fn stream_until(reader: tokio::task::JoinHandle<Reader>, last: i64) -> Result<Vec<i64>> {
    let mut r = reader.await?;
    while r.seqs.last().is_none_or(|s| *s < last) {
        let Some(chunk) = r.body.next().await else { bail!("an event stream ended") };
        r.buf.push_str(&String::from_utf8_lossy(&chunk?));
        while let Some(end) = r.buf.find("\n\n") {
            let block: String = r.buf.drain(..end + 2).collect();
            if let Some(id) = block.lines().find_map(|l| l.strip_prefix("id:")) {
                r.seqs.push(id.trim().parse()?);
            }
        }
    }
    Ok(r.seqs)
}

/// The `web-child` process.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(repo: &Path) -> Result<Server> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(["web-child", "--repo"])
            .arg(repo)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start web-child")?;
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().expect("piped")), &mut line)?;
        if line.trim().is_empty() {
            bail!("web-child printed no address");
        }
        Ok(Server { child, base: format!("http://{}", line.trim()) })
    }

    /// `VmRSS` and `VmHWM` of the server, in KiB.
    fn memory(&self) -> (i64, i64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
