//! `[notify]` through the real binary: a webhook received by a small HTTP
//! server in the test, which checks each notice's signature, and a
//! command that keeps what it is given. Both must get each notice once,
//! in the log's order, across a `kill -9` of colony and a new run.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::background::Background;
use crate::repo::TestRepo;

const SECRET: &str = "s3cret for the test";

/// One request the receiver was sent.
#[derive(Debug, Clone)]
struct Request {
    headers: Vec<(String, String)>,
    body: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A webhook receiver on a loopback port: answers `503` to its first
/// `refuse` requests, `200` after, and keeps every request.
struct Receiver {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    fn start(refuse: usize) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let kept = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let Some(request) = read_request(&stream) else { continue };
                let mut kept = kept.lock().unwrap();
                kept.push(request);
                let status = if kept.len() <= refuse { "503 Service Unavailable" } else { "200 OK" };
                let _ = (&stream).write_all(
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
                );
            }
        });
        Receiver { url, requests }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// The notices it took (answered `200`), in the order they came.
    fn notices(&self, refused: usize) -> Vec<Request> {
        self.requests().into_iter().skip(refused).collect()
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    if !line.starts_with("POST /hook ") {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length: usize = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("content-length"))?.1.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { headers, body: String::from_utf8(body).ok()? })
}

fn signature(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Waits until `check` holds, looking again every 50 ms for a minute.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `a` waits for approval, `b` fails and blocks `c`, `d` waits for the
/// test to let it go: the run stays up until then.
fn plan(release: &str) -> String {
    format!(
        "name: night\ntasks:\n  - id: a\n    title: Needs a person\n    prompt: Write a.\n    approval: required\n\
         \x20 - id: b\n    title: Breaks\n    prompt: Write b.\n    fake: {{exit: 1}}\n\
         \x20 - id: c\n    title: After b\n    prompt: Write c.\n    deps: [b]\n\
         \x20 - id: d\n    title: Slow\n    prompt: Write d.\n    fake: {{wait_for: \"{release}\"}}\n"
    )
}

fn config(url: &str, kept: &str) -> String {
    format!(
        "[run]\nagent = \"fake\"\nmax_attempts = 1\n\n[notify]\nwebhook = \"{url}\"\n\
         command = [\"sh\", \"-c\", \"cat >> '{kept}'\"]\n"
    )
}

/// The `seq` of each notice the command was given.
fn kept_seqs(kept: &std::path::Path) -> Vec<i64> {
    let text = std::fs::read_to_string(kept).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["seq"].as_i64().unwrap()).collect()
}

#[test]
fn each_notice_comes_once_in_order_signed_across_a_kill_and_a_new_run() {
    let receiver = Receiver::start(1);
    let repo = TestRepo::for_runs("");
    let kept = repo.base().join("notices.jsonl");
    let release = repo.base().join("release");
    std::fs::write(repo.root().join("colony.toml"), config(&receiver.url, &kept.display().to_string())).unwrap();
    repo.commit_all("notify");
    let plan = repo.write_plan("night.yaml", &plan(&release.display().to_string()));

    let mut command = repo.command(&["run", &plan, "-j", "4"]);
    command.env("COLONY_WEBHOOK_SECRET", SECRET);
    let mut first = Background::spawn(command);
    // The first try is answered 503, and tried again.
    first.wait_for_stderr("a notice to the webhook failed (HTTP 503 Service Unavailable); colony tries again");
    let wanted = ["awaiting_approval", "blocked", "failed"];
    let took = eventually("three notices", || {
        let took = receiver.notices(1);
        let kinds: BTreeSet<String> = took.iter().map(|r| r.json()["event"].as_str().unwrap().to_owned()).collect();
        (kinds.len() == 3).then_some(took)
    });
    let last = took.iter().map(|r| r.json()["seq"].as_i64().unwrap()).max().unwrap();
    // Killed once both sinks recorded what they delivered.
    eventually("the deliveries recorded", || {
        let status = repo.json(&["status"]);
        let cursors = status["notify"].as_array()?.clone();
        (cursors.len() == 2 && cursors.iter().all(|c| c["seq"].as_i64() >= Some(last))).then_some(())
    });
    assert_eq!(kept_seqs(&kept).len(), 3, "the command had the same three");
    first.signal(libc::SIGKILL);
    assert_eq!(first.finish().0, None, "killed");

    std::fs::write(&release, "").unwrap();
    repo.stdout(&["approve", "a"], 0);
    let mut command = repo.command(&["run", "-j", "4"]);
    command.env("COLONY_WEBHOOK_SECRET", SECRET);
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "b failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\nwhere its time went: .colony/reports/night.html\n"), "{stdout}");

    let took = receiver.notices(1);
    let bodies: Vec<Value> = took.iter().map(Request::json).collect();
    let seqs: Vec<i64> = bodies.iter().map(|b| b["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in the log's order, each once: {seqs:?}");
    let kinds: Vec<&str> = bodies.iter().map(|b| b["event"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert_eq!(kinds.iter().copied().take(3).collect::<BTreeSet<_>>(), BTreeSet::from(wanted), "{kinds:?}");
    assert_eq!(kinds[3], "run_finished");
    for (request, body) in took.iter().zip(&bodies) {
        assert_eq!(request.header("X-Colony-Signature-256"), Some(signature(&request.body).as_str()));
        assert_eq!(request.header("X-Colony-Event"), body["event"].as_str());
        assert_eq!(request.header("X-Colony-Delivery"), Some(body["seq"].to_string().as_str()));
        assert_eq!(request.header("Content-Type"), Some("application/json"));
    }
    let by_kind = |kind: &str| bodies.iter().find(|b| b["event"] == kind).unwrap();
    let approval = by_kind("awaiting_approval");
    assert_eq!((approval["task"].as_str(), approval["title"].as_str()), (Some("a"), Some("Needs a person")));
    assert_eq!((approval["plan"].as_str(), approval["action"].as_str()), (Some("night"), Some("colony approve a")));
    assert_eq!(by_kind("failed")["task"], "b");
    assert_eq!((by_kind("blocked")["task"].as_str(), by_kind("blocked")["detail"].as_str()), (Some("c"), Some("b")));
    let finished = by_kind("run_finished");
    assert!(
        finished["text"].as_str().unwrap().contains("colony run ended: finished in ")
            && finished["text"].as_str().unwrap().contains(": 2 of 4 tasks done; 1 failed, 1 blocked"),
        "{finished}"
    );
    let report = finished["reports"][0].as_str().unwrap();
    assert!(report.ends_with(".colony/reports/night.html"), "{report}");
    assert!(std::fs::read_to_string(report).unwrap().contains("<svg"), "an HTML report with its timeline");

    assert_eq!(kept_seqs(&kept), seqs, "the command got the same notices, once each, in order");
    let events = repo.events();
    assert_eq!(events.iter().filter(|e| e["type"] == "run_finished").count(), 1, "the killed run never finished");
}

#[test]
fn a_dead_webhook_costs_a_warning_and_the_run_goes_on() {
    // A port nothing listens on: every connection is refused.
    let url = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", listener.local_addr().unwrap())
    };
    let repo = TestRepo::for_runs(&format!("[run]\nagent = \"fake\"\n\n[notify]\nwebhook = \"{url}\"\n"));
    let plan = repo.write_plan("p.yaml", "name: p\ntasks:\n  - id: a\n    prompt: Write a.\n");
    let out = repo.command(&["run", &plan]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("webhook notices go unsigned: COLONY_WEBHOOK_SECRET is not set"), "{stderr}");
    assert!(stderr.contains("a notice to the webhook failed ("), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("all 1 task done"));

    let status = repo.json(&["status"]);
    let webhook = &status["notify"][0];
    assert_eq!(webhook["sink"], "webhook");
    let finished = repo.events().iter().find(|e| e["type"] == "run_finished").unwrap()["seq"].as_i64().unwrap();
    assert!(webhook["seq"].as_i64().unwrap() < finished, "the run's end is not delivered: {status}");
    assert!(webhook["failing"].as_str().is_some_and(|why| !why.is_empty()), "{status}");
    let text = repo.stdout(&["status"], 0);
    assert!(text.contains("notify:    notices to the webhook fail since"), "{text}");
}
