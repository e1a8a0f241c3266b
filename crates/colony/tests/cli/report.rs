//! `colony report` on a real run with a worktree setup, a retry, a gate fix
//! round, a conflict and a review round: the JSON's numbers add up, the Markdown names every
//! task and failure, the HTML renders in Chromium, and so does the
//! dashboard's Report view of the same run.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::background::Background;
use crate::repo::TestRepo;
use crate::review::REVIEWER;
use crate::serve::dashboard;

const CONFIG: &str = "[run]\nagent = \"fake\"\nworkers = 3\nbackoff_base = \"1s\"\nbackoff_cap = \"1s\"\n\n\
                      [agents.reviewer]\nkind = \"command\"\ncommand = [\"./review.sh\"]\n\n\
                      [review]\nagent = \"reviewer\"\n\n\
                      [gates]\ncommands = [\"test ! -e g.txt || ! grep -q TODO g.txt\"]\n\n\
                      [worktree]\nsetup = [\"sleep 0.2\"]\n";

/// `retry` fails once; `gate` leaves a TODO the gate refuses; `left` and
/// `right` write the same file side by side (the second to merge meets a
/// conflict, as in `colony demo`); `reviewed` gets one review round.
const PLAN: &str = r#"name: rep
tasks:
  - id: retry
    title: Fails once
    prompt: p
    review: none
    fake: {fail_attempts: 1, write: {retry.txt: "r\n"}}
  - id: gate
    title: Leaves a TODO
    prompt: p
    review: none
    fake: {write: {g.txt: "TODO\n"}, fix_on_feedback: {g.txt: "done\n"}}
  - id: left
    title: Left side
    prompt: p
    review: none
    deps: [retry]
    fake: {write: {same.txt: "left\n"}, fix_on_feedback: {same.txt: "both\n"}, sleep_ms: 1500}
  - id: right
    title: Right side
    prompt: p
    review: none
    deps: [retry]
    fake: {write: {same.txt: "right\n"}, fix_on_feedback: {same.txt: "both\n"}, sleep_ms: 1500}
  - id: reviewed
    title: Reviewed
    prompt: p
    deps: [gate]
    fake: {write: {r.txt: "hi\n"}, fix_on_feedback: {r.txt: "HI\n"}}
"#;

const BUCKETS: [&str; 6] = ["setup_ms", "agent_ms", "gates_ms", "review_ms", "merge_queue_ms", "rate_limit_ms"];

/// The sum of a split's buckets.
fn bucket_sum(split: &serde_json::Value) -> i64 {
    BUCKETS.iter().map(|b| split[b].as_i64().unwrap_or_else(|| panic!("{b} in {split}"))).sum()
}

#[test]
fn the_report_adds_up_and_renders() {
    let repo = TestRepo::for_runs(CONFIG);
    let script = repo.root().join("review.sh");
    std::fs::write(&script, REVIEWER).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    repo.commit_all("reviewer");
    let plan = repo.write_plan("rep.yaml", PLAN);
    let out = repo.command(&["run", "-q", &plan]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    let report: serde_json::Value =
        serde_json::from_str(&repo.stdout(&["report", "rep", "--format", "json"], 0)).unwrap();
    assert_eq!(report["plan"], "rep");
    let attempts = report["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 6, "five tasks and one retry: {report:#}");
    for a in attempts {
        let wall = a["end"].as_i64().unwrap() - a["start"].as_i64().unwrap();
        assert_eq!(a["wall_ms"].as_i64(), Some(wall));
        assert_eq!(bucket_sum(&a["split"]), wall, "attempt {a}");
        // The setup sleeps for 0.2 s in every attempt: read from its log.
        assert!(a["split"]["setup_ms"].as_i64().unwrap() >= 200, "the setup's time: {a}");
        for field in ["task", "attempt", "worker", "outcome", "usage", "fix_rounds", "review_rounds"] {
            assert!(!a[field].is_null(), "{field} in {a}");
        }
    }
    let walls: i64 = attempts.iter().map(|a| a["wall_ms"].as_i64().unwrap()).sum();
    assert_eq!(report["attempts_wall_ms"].as_i64(), Some(walls));
    assert_eq!(bucket_sum(&report["totals"]), walls, "the run's buckets add up");
    for b in BUCKETS {
        let sum: i64 = attempts.iter().map(|a| a["split"][b].as_i64().unwrap()).sum();
        assert_eq!(report["totals"][b].as_i64(), Some(sum), "{b}");
    }
    assert!(report["wall_ms"].as_i64().unwrap() > 0);
    let path = report["critical_path"].as_array().unwrap();
    assert!(!path.is_empty() && report["critical_path_ms"].as_i64().unwrap() > 0, "{report:#}");
    assert_eq!(report["tasks"].as_array().unwrap().len(), 5);
    let rounds =
        |key: &str| -> u64 { report["agents"].as_array().unwrap().iter().map(|a| a[key].as_u64().unwrap()).sum() };
    // The gate fix is certain; the conflict adds one when the two tasks overlap.
    assert!(rounds("fix_rounds") >= 1, "a gate fix: {report:#}");
    assert_eq!(rounds("review_rounds"), 1, "{report:#}");
    assert_eq!(rounds("tasks"), 5);
    assert_eq!(rounds("first_try"), 4, "all but the retried task");
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{report:#}");
    assert_eq!(failures[0]["task"], "retry");
    assert!(failures[0]["class"].is_string());

    let md = repo.stdout(&["report"], 0);
    for id in ["retry", "gate", "left", "right", "reviewed"] {
        assert!(md.contains(&format!("| {id} |")), "{id} in {md}");
    }
    assert!(
        md.contains("## Failures")
            && md.contains(failures[0]["reason"].as_str().unwrap().lines().next().unwrap().trim()),
        "{md}"
    );
    assert!(md.contains("## Critical path") && md.contains("| total |"), "{md}");

    let err = repo.stderr(&["report", "nope"], 2);
    assert!(err.contains("no plan `nope`; the store has: rep"), "{err}");
    let err = repo.stderr(&["report", "-o", repo.base().to_str().unwrap()], 2);
    assert!(err.contains("is a directory"), "{err}");

    let html = repo.base().join("report.html");
    repo.stdout(&["report", "--format", "html", "-o", html.to_str().unwrap()], 0);
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(text.contains("<svg") && !text.contains("<script"), "{text}");
    let mut server = Background::start(&repo, &["serve", "--addr", "127.0.0.1:0"]);
    let (base, _) = dashboard(&mut server);
    in_chromium(&html, attempts.len(), &base);
    server.signal(libc::SIGINT);
    assert_eq!(server.finish().0, Some(0));
}

/// Opens the report in headless Chromium (report.test.mjs beside the
/// dashboard's browser tests): one bar per attempt, no script, a
/// screenshot in target/screenshots/report.png; then the dashboard served
/// at `base`, from a task's view to its plan's Report view, the same
/// numbers shown (report-view.png). Like the dashboard's test, it fails
/// rather than skips without node, playwright-core or Chromium.
fn in_chromium(html: &Path, bars: usize, base: &str) {
    let browser_tests =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../colony-web/tests/browser").canonicalize().unwrap();
    assert!(browser_tests.join("node_modules/playwright-core").is_dir(), "run `npm ci` in {}", browser_tests.display());
    let chromium =
        std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(chromium.is_file(), "the browser test needs Chromium at {}", chromium.display());
    let target = Path::new(env!("CARGO_BIN_EXE_colony")).parent().unwrap().parent().unwrap().to_path_buf();
    let shots = target.join("screenshots");
    let out = Command::new("node")
        .args(["--test", "--test-reporter=spec", "report.test.mjs"])
        .current_dir(&browser_tests)
        .env("REPORT_HTML", html)
        .env("REPORT_BARS", bars.to_string())
        .env("COLONY_URL", base)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOTS", &shots)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{text}");
    assert!(out.status.success(), "the report's browser test failed:\n{text}");
    assert!(shots.join("report.png").is_file() && shots.join("report-view.png").is_file(), "the screenshots");
}
