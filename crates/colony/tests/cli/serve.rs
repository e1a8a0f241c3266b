//! `colony serve` and `colony run --serve`: the address, the token, and the
//! dashboard driven in a real browser.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::background::Background;
use crate::repo::TestRepo;

/// The base URL and token of the `dashboard: URL` line.
pub(crate) fn dashboard(process: &mut Background) -> (String, String) {
    process.wait_for_line("the dashboard's URL", |line| {
        let url = line.strip_prefix("dashboard: ")?;
        let (base, token) = url.split_once("/?token=").expect("the URL carries the token");
        Some((base.to_owned(), token.to_owned()))
    })
}

/// `GET path` over a plain socket: the status and the body.
fn get(base: &str, path: &str) -> (u16, String) {
    let (status, _, body) = get_as(base, base.trim_start_matches("http://"), path);
    (status, body)
}

/// `GET path` with `Host: host`: the status, the head and the body.
fn get_as(base: &str, host: &str, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[test]
fn serve_prints_its_url_with_the_token_and_refuses_a_taken_address() {
    let repo = TestRepo::with_auth_plan();
    let mut server = Background::start(&repo, &["serve", "--addr", "127.0.0.1:0"]);
    let (base, token) = dashboard(&mut server);
    let file = repo.root().join(".colony/token");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), token);
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let (status, body) = get(&base, "/api/status");
    assert_eq!(status, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["plans"][0]["integration_branch"], "colony/auth");

    let addr = base.trim_start_matches("http://");
    let err = repo.stderr(&["serve", "--addr", addr], 2);
    assert_eq!(
        err,
        format!(
            "error: {addr} is already in use (is another colony serving?); pick another address with --addr, or --addr 127.0.0.1:0 for any free port\n"
        )
    );
    let err = repo.stderr(&["serve", "--addr", "localhost"], 2);
    assert!(err.contains("invalid value 'localhost' for '--addr <HOST:PORT>'"), "{err}");
    let err = repo.stderr(&["run", "--addr", "127.0.0.1:0"], 2);
    assert!(err.contains("--serve"), "--addr needs --serve: {err}");

    server.signal(libc::SIGINT);
    let (code, _, _) = server.finish();
    assert_eq!(code, Some(0));
    let (again, token_again) = dashboard(&mut Background::start(&repo, &["serve", "--addr", "127.0.0.1:0"]));
    assert_ne!(again, base);
    assert_eq!(token_again, token, "the token is kept");
}

/// `colony run PLAN --serve` on a port another program holds is refused
/// before the plan is stored: the error says nothing was changed, and
/// nothing was.
#[test]
fn run_serve_on_a_taken_port_stores_nothing() {
    let repo = TestRepo::for_runs(crate::run::FAKE_CONFIG);
    let plan = repo.write_plan("p.yaml", "name: p\ntasks:\n  - id: a\n    prompt: p\n");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = repo.stderr(&["run", &plan, "--serve", "--addr", &addr], 2);
    assert_eq!(
        err,
        format!(
            "error: {addr} is already in use (is another colony serving?); pick another address with --addr, or --addr 127.0.0.1:0 for any free port\n"
        )
    );
    assert_eq!(repo.stdout(&["list", "--json"], 0), "[]\n", "the plan was stored");
    assert!(repo.events().is_empty(), "events were written");
    assert!(!repo.root().join(".colony/token").exists(), "a token was written");
}

/// DNS rebinding: a page on another site whose name now points at this
/// machine sends its own name as `Host`; it gets no prompt, diff or log.
#[test]
fn serve_answers_only_to_its_own_names() {
    let repo = TestRepo::with_auth_plan();
    let mut server = Background::start(&repo, &["serve", "--addr", "127.0.0.1:0"]);
    let (base, _) = dashboard(&mut server);
    let port = base.rsplit_once(':').unwrap().1;
    for path in ["/api/tasks/db-schema", "/api/events", "/"] {
        let (status, head, body) = get_as(&base, &format!("evil.example:{port}"), path);
        assert_eq!(status, 421, "{path}: {body}");
        assert!(head.contains("cache-control: no-store"), "{head}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(error["error"].as_str().unwrap().contains("evil.example"), "{body}");
        assert!(!body.contains("users table"), "{body}");
    }
    let (status, head, body) = get_as(&base, &format!("localhost:{port}"), "/api/tasks/db-schema");
    assert_eq!(status, 200);
    assert!(head.contains("cache-control: no-store"), "{head}");
    assert!(body.contains("users table"), "{body}");
    server.signal(libc::SIGINT);
    assert_eq!(server.finish().0, Some(0));
}

/// Runs colony's browser tests (crates/colony-web/tests/browser) against
/// `colony run --serve`. They need `npm ci` in that directory and Debian's
/// chromium; `.ci/run` sets both up. Missing, this test fails: it does not
/// skip.
#[test]
fn the_dashboard_works_in_a_browser() {
    let browser_tests =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../colony-web/tests/browser").canonicalize().unwrap();
    assert!(
        browser_tests.join("node_modules/playwright-core").is_dir(),
        "the browser tests need playwright-core: run `npm ci` in {} (CI does it in .ci/run)",
        browser_tests.display()
    );
    let chromium =
        std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        chromium.is_file(),
        "the browser tests need Chromium at {}: `apt-get install chromium` (or set CHROMIUM)",
        chromium.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(node.is_ok_and(|o| o.status.success()), "the browser tests need node (20 or later) on PATH");

    // Nothing here waits for a lease to run out, and a busy machine must
    // not make one run out: a lease missed three times would fail `long`
    // (and block `parked`) before the page has seen them.
    let repo = TestRepo::for_runs(
        "[run]\nagent = \"fake\"\nworkers = 4\nlease = \"60s\"\nshutdown_grace = \"1s\"\ngrace = \"1s\"\n",
    );
    // `quick` runs until the browser test has seen it unfinished.
    let release = repo.base().join("release-quick");
    repo.write_plan("web.yaml", &WEB_PLAN.replace("RELEASE", &release.display().to_string()));
    repo.write_plan("late.yaml", "name: late\ntasks:\n  - id: late\n    title: Added while the page is open\n    prompt: p\n    fake: {sleep_ms: 100}\n");
    let mut run = Background::start(&repo, &["run", "--serve", "--addr", "127.0.0.1:0", "plans/web.yaml"]);
    let (base, token) = dashboard(&mut run);

    let target = Path::new(env!("CARGO_BIN_EXE_colony")).parent().unwrap().parent().unwrap().to_path_buf();
    let shots = target.join("screenshots");
    let out = Command::new("node")
        .args(["--test", "--test-reporter=spec", "dashboard.test.mjs"])
        .current_dir(&browser_tests)
        .env("COLONY_URL", &base)
        .env("COLONY_TOKEN", &token)
        .env("COLONY_BIN", env!("CARGO_BIN_EXE_colony"))
        .env("COLONY_REPO", repo.root())
        .env("COLONY_RELEASE", &release)
        .env("COLONY_FAKE_AGENT", env!("CARGO_BIN_EXE_colony-fake-agent"))
        .env("HOME", repo.base().join("home"))
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOTS", &shots)
        .output()
        .unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{report}");
    if !out.status.success() {
        run.signal(libc::SIGKILL);
        panic!("the browser tests failed:\n{report}");
    }
    // The last browser test pressed the emergency stop.
    let (code, _, stderr) = run.finish();
    assert_eq!(code, Some(3), "a stopped run leaves work undone: {stderr}");
    assert!(stderr.contains("stopping now") || !stderr.contains("panicked"), "{stderr}");
    for name in
        ["tasks", "task-hostile", "refused", "graph", "workers", "overview-phone", "followup-dropped", "server-gone"]
    {
        assert!(shots.join(format!("{name}.png")).is_file(), "screenshot {name}");
    }
}

/// Tasks that let the browser see every state: one finishes soon, one
/// prints hostile text and keeps running, one fails at once, one runs long
/// (to be killed), one waits on it (to be cancelled), one follows the first
/// and proposes two follow-ups (one to be added, one dropped), one asks a
/// person a question holding markup (to be answered).
const WEB_PLAN: &str = r#"name: web
tasks:
  - id: quick
    title: A quick task
    prompt: p
    fake: {print: ["working on quick"], wait_for: RELEASE}
  - id: hostile
    title: "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">"
    prompt: "<b>prompt</b>"
    fake:
      print: ["<script>window.__pwned=3</script>"]
      mcp: [{tool: report_progress, arguments: {message: "<img src=x onerror=\"window.__pwned=4\"> half way"}}]
      sleep_ms: 600000
  - id: long
    title: Runs until killed
    prompt: p
    fake: {print: ["a long job"], sleep_ms: 600000}
  - id: doomed
    title: Fails at once
    prompt: p
    max_attempts: 1
    fake: {fail_attempts: 9}
  - id: parked
    title: Waits for the long one
    prompt: p
    deps: [long]
  - id: after
    title: Follows the quick one
    prompt: p
    deps: [quick]
    fake:
      sleep_ms: 500
      write:
        after.txt: "after\n"
        .colony/followups.yaml: "- id: idea\n  title: An idea its agent had\n  prompt: p\n  deps: [after]\n- id: idea-more\n  title: More of that idea\n  prompt: p\n  deps: [idea]\n"
  - id: asking
    title: Asks a person
    prompt: p
    fake:
      write: {asking.txt: "asking\n"}
      mcp: [{tool: ask_human, arguments: {question: "Which table holds the users?\n<img src=x onerror=window.__pwned=5> or accounts"}}]
      mcp_on_feedback: []
"#;
