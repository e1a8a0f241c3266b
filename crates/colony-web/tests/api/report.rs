//! `GET /api/plans/{plan}/report`: the run report as `colony report` makes
//! it, JSON or the HTML page; an unknown plan or format is refused.

use std::time::Duration;

use colony_core::{TaskId, Usage};
use colony_store::Store;

use crate::support::{Served, plan};

const LEASE: Duration = Duration::from_secs(60);
const BUCKETS: [&str; 6] = ["setup_ms", "agent_ms", "gates_ms", "review_ms", "merge_queue_ms", "rate_limit_ms"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_reports_its_attempts_split_path_and_failures() {
    let s = Served::start(&[plan("p", &[("a", "<script>alert(1)</script>", &[]), ("b", "B", &["a"])])], None).await;
    let a = s.store.claim("host:1:0", LEASE).await.unwrap().unwrap();
    let usage = Usage { input: 10, output: 2, cached: 0, cost_usd: Some(0.5) };
    s.store.record_usage(&TaskId::new("a").unwrap(), 1, usage).await.unwrap();
    s.store.complete(&a.task, a.attempt).await.unwrap();
    let b = s.store.claim("host:1:1", LEASE).await.unwrap().unwrap();
    s.store.fail(&b.task, b.attempt, "gate `make check` failed", Duration::ZERO).await.unwrap();

    let report = s.json("/api/plans/p/report", 200).await;
    assert_eq!(report["plan"], "p");
    let attempts = report["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{report:#}");
    for at in attempts {
        let sum: i64 = BUCKETS.iter().map(|k| at["split"][k].as_i64().unwrap()).sum();
        assert_eq!(Some(sum), at["wall_ms"].as_i64(), "{at}");
    }
    assert_eq!(report["tasks"][0]["title"], "<script>alert(1)</script>");
    assert_eq!(report["tasks"][0]["usage"]["cost_usd"], 0.5);
    assert_eq!(report["agents"][0]["first_try"], 1);
    assert_eq!(report["critical_path"], serde_json::json!(["a", "b"]));
    assert_eq!(
        (report["failures"][0]["task"].as_str(), report["failures"][0]["class"].as_str()),
        (Some("b"), Some("gate"))
    );
    assert_eq!(s.json("/api/plans/p/report?format=json", 200).await["attempts"], report["attempts"]);

    let page = s.get("/api/plans/p/report?format=html").send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let header = |name: &str| page.headers()[name].to_str().unwrap().to_owned();
    assert!(header("content-type").starts_with("text/html"));
    assert_eq!(header("cache-control"), "no-store");
    let csp = header("content-security-policy");
    assert!(csp.starts_with("default-src 'none'; style-src 'unsafe-inline'") && !csp.contains("script-src"), "{csp}");
    let text = page.text().await.unwrap();
    assert!(text.contains("<svg") && text.contains("&lt;script&gt;alert(1)"), "{text}");
    assert!(!text.contains("<script"), "stored text is escaped: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_plan_or_format_is_refused_with_a_reason() {
    let s = Served::start(&[plan("p", &[("a", "A", &[])]), plan("q", &[("b", "B", &[])])], None).await;
    assert_eq!(s.json("/api/plans/nope/report", 404).await["error"], "no plan `nope`; the store has: p, q");
    assert_eq!(
        s.json("/api/plans/p/report?format=pdf", 400).await["error"],
        "unknown format `pdf`; one of: json, html"
    );
    let empty = s.json("/api/plans/q/report", 200).await;
    assert_eq!((empty["wall_ms"].as_i64(), empty["attempts"].as_array().map(Vec::len)), (Some(0), Some(0)));
}
