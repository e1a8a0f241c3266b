//! `colony-bench notify`: what `[notify]` costs a run, against the same
//! run without it, in the same process and the same bench.
//!
//! Each mode runs the engine on a fresh repository with a layered plan of
//! sleeping tasks, some of which fail (a `failed` notice each, and
//! `blocked` notices for what depends on them), with a webhook beside it
//! as `colony run` starts one, and ends the way `colony run` does: the
//! run's end written to the log and the notifier given its few seconds.
//! The webhook's endpoint is, by mode: none (no `[notify]`), a receiver
//! that answers at once, a port nothing listens on (every connection
//! refused), and one that takes connections and never answers (every try
//! waits out the delivery timeout). The wall time is from the engine's
//! start to the notifier's end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use colony_agents::Shutdown;
use colony_core::config::{Config, NotifyConfig};
use colony_engine::notify::Notifier;
use colony_engine::{AgentSetup, Engine, Notices, Settings};
use colony_git::Repo;
use colony_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::engine::scratch::{self, Scratch};
use crate::table;

/// The agent: fails when its task's prompt says so, else sleeps as told
/// and writes its file.
const AGENT: &str = r#"prompt=$(cat)
# The task's own prompt is the first line; colony's words follow it.
first=$(printf '%s\n' "$prompt" | head -n 1)
case $first in
fail) exit 1 ;;
"sleep "*) sleep "${first#sleep }" ;;
esac
mkdir -p out
printf '%s\n' "$prompt" > "out/$COLONY_TASK_ID.txt"
"#;

/// As `colony run` waits for its notices at its end.
const FINISH_WAIT: Duration = Duration::from_secs(5);

#[derive(clap::Args)]
pub struct Args {
    /// Tasks in each run, in layers of four.
    #[arg(long, default_value_t = 24)]
    tasks: usize,
    /// Engine workers.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// How long each task's agent sleeps, in milliseconds.
    #[arg(long, default_value_t = 300)]
    task_ms: u64,
    /// Every this many tasks, one fails.
    #[arg(long, default_value_t = 8)]
    fail_every: usize,
    /// Runs of each mode, alternating.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Endpoint {
    Off,
    Answers,
    Refuses,
    Silent,
}

impl Endpoint {
    const ALL: [Endpoint; 4] = [Endpoint::Off, Endpoint::Answers, Endpoint::Refuses, Endpoint::Silent];

    fn label(self) -> &'static str {
        match self {
            Endpoint::Off => "no [notify] (baseline)",
            Endpoint::Answers => "webhook that answers",
            Endpoint::Refuses => "webhook refusing connections",
            Endpoint::Silent => "webhook that never answers",
        }
    }
}

pub fn main(args: Args) -> anyhow::Result<()> {
    ensure!(args.tasks >= 4 && args.rounds > 0 && args.fail_every > 0, "--tasks ≥ 4, --rounds and --fail-every ≥ 1");
    for (name, value) in scratch::GIT_ENV {
        // SAFETY: no other thread runs yet.
        unsafe { std::env::set_var(name, value) };
    }
    let scratch = Scratch::new()?;
    let agent = scratch.path().join("notify-agent.sh");
    std::fs::write(&agent, AGENT).context("cannot write the agent")?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "colony-bench notify: {} tasks of {} ms in layers of 4, one in {} failing, {} workers, {} rounds ({cores} cores)",
        args.tasks, args.task_ms, args.fail_every, args.workers, args.rounds
    );
    let mut walls: BTreeMap<usize, Vec<Duration>> = BTreeMap::new();
    let mut engine_walls: BTreeMap<usize, Vec<Duration>> = BTreeMap::new();
    let mut delivered: BTreeMap<usize, usize> = BTreeMap::new();
    for round in 0..args.rounds {
        for (i, endpoint) in Endpoint::ALL.into_iter().enumerate() {
            let (engine, wall, got) = run_mode(&scratch, &agent, &format!("m{i}-{round}"), endpoint, &args)?;
            engine_walls.entry(i).or_default().push(engine);
            walls.entry(i).or_default().push(wall);
            *delivered.entry(i).or_default() += got;
        }
    }
    let (base_engine, base) = (mean(&engine_walls[&0]), mean(&walls[&0]));
    let ratio = |a: Duration, b: Duration| format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64().max(1e-9));
    let rows: Vec<Vec<String>> = Endpoint::ALL
        .into_iter()
        .enumerate()
        .map(|(i, endpoint)| {
            let (engine, wall) = (mean(&engine_walls[&i]), mean(&walls[&i]));
            let got = match endpoint {
                Endpoint::Answers => format!("{}", delivered[&i] / args.rounds),
                _ => "-".to_owned(),
            };
            vec![
                endpoint.label().to_owned(),
                format!("{:.2} s", engine.as_secs_f64()),
                ratio(engine, base_engine),
                format!("{:.2} s", wall.as_secs_f64()),
                ratio(wall, base),
                got,
            ]
        })
        .collect();
    let header = ["endpoint", "run (mean)", "vs baseline", "with the end's wait", "vs baseline", "notices taken"];
    table::print(&header, &rows);
    println!(
        "  run: the engine's start to its end; with the end's wait: to the notifier's end too, which waits up to \
         {} s for notices still to go unless its sink is already failing",
        FINISH_WAIT.as_secs()
    );
    Ok(())
}

/// One run with `endpoint`: the engine's wall time, the wall time with the
/// notifier's end, and the notices the endpoint took.
fn run_mode(
    scratch: &Scratch,
    agent: &std::path::Path,
    name: &str,
    endpoint: Endpoint,
    args: &Args,
) -> anyhow::Result<(Duration, Duration, usize)> {
    let repo = scratch.repo(name)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start a runtime")?;
    let mut plan = crate::seed::plan("p", args.tasks, 4)?;
    for (i, task) in plan.tasks.iter_mut().enumerate() {
        // The first layer's failures block the layers after them.
        task.max_attempts = Some(1);
        task.prompt = match i % args.fail_every == 1 {
            true => "fail".to_owned(),
            false => scratch::sleep_command(args.task_ms),
        };
    }
    scratch::add_plan(&rt, &repo, &plan)?;
    let harness = AgentSetup::command(vec!["/bin/sh".into(), agent.display().to_string()], Vec::new(), &repo)?;
    let mut config = Config::default();
    config.run.agent = Some("bench".into());
    let received = Arc::new(AtomicUsize::new(0));
    let (engine, wall, report) = rt.block_on(async {
        if let Some(url) = endpoint_url(endpoint, received.clone()).await? {
            config.notify = NotifyConfig { webhook: Some(url), ..NotifyConfig::default() };
        }
        let mut settings = Settings::new(config.clone(), BTreeMap::from([("bench".to_owned(), harness)]));
        settings.workers = args.workers;
        let store = Arc::new(scratch::open_store(&repo).await?);
        let git = Repo::open(&repo).context("cannot open the repository")?;
        let started = Instant::now();
        let notifier = Notifier::start(store.clone(), &config.notify, Notices::default(), format!("bench:{name}"));
        let report =
            Engine::new(store.clone(), git, settings).run(Shutdown::new()).await.context("the engine failed")?;
        let engine = started.elapsed();
        if let Some(notifier) = notifier {
            store.run_finished("the bench's run", &[]).await?;
            notifier.finish(FINISH_WAIT).await;
        }
        let wall = started.elapsed();
        store.close().await;
        anyhow::Ok((engine, wall, report))
    })?;
    ensure!(!report.failed.is_empty() && !report.blocked.is_empty(), "{name}: some tasks fail, and block others");
    std::fs::remove_dir_all(&repo).with_context(|| format!("cannot remove {}", repo.display()))?;
    Ok((engine, wall, received.load(Ordering::SeqCst)))
}

/// The webhook URL of `endpoint`, serving it on a loopback port where it
/// is a server.
async fn endpoint_url(endpoint: Endpoint, received: Arc<AtomicUsize>) -> anyhow::Result<Option<String>> {
    if endpoint == Endpoint::Off {
        return Ok(None);
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    match endpoint {
        // Closed before the run: nothing listens there.
        Endpoint::Refuses => drop(listener),
        Endpoint::Silent => {
            tokio::spawn(async move {
                let mut held = Vec::new();
                while let Ok((stream, _)) = listener.accept().await {
                    held.push(stream);
                }
            });
        }
        _ => {
            tokio::spawn(async move {
                while let Ok((mut stream, _)) = listener.accept().await {
                    let received = received.clone();
                    tokio::spawn(async move {
                        if read_request(&mut stream).await {
                            received.fetch_add(1, Ordering::SeqCst);
                            let ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                            let _ = stream.write_all(ok.as_bytes()).await;
                        }
                    });
                }
            });
        }
    }
    Ok(Some(url))
}

/// Reads one request to the end of its body.
async fn read_request(stream: &mut tokio::net::TcpStream) -> bool {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut buf).await else { return false };
        if n == 0 {
            return false;
        }
        data.extend_from_slice(&buf[..n]);
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if data.len() >= end + 4 + length {
            return true;
        }
    }
}

fn mean(walls: &[Duration]) -> Duration {
    walls.iter().sum::<Duration>() / u32::try_from(walls.len().max(1)).unwrap_or(u32::MAX)
}
