//! The read routes: status, the paged list, one task with its log, gates
//! and diff, workers, the graph, and the page's own headers.

use std::time::Duration;

use colony_agents::{Entry, LogWriter, Stream};
use colony_core::record::{GateEnd, Record};
use colony_store::Store;

use crate::support::{Served, SseReader, git, id, plan};

const LEASE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_counts_progress_and_branches() {
    let s = Served::start(&[plan("p", &[("a", "A", &[]), ("b", "B", &["a"])])], None).await;
    let status = s.json("/api/status", 200).await;
    assert_eq!(status["total"], 2);
    assert_eq!((status["counts"]["ready"].as_u64(), status["counts"]["pending"].as_u64()), (Some(1), Some(1)));
    assert_eq!(
        status["counts"].as_object().unwrap().len(),
        colony_core::TaskStatus::ALL.len(),
        "every state is listed"
    );
    assert_eq!((status["unfinished"].as_u64(), status["over"].as_bool()), (Some(2), Some(false)));
    assert_eq!(status["plans"][0]["integration_branch"], "colony/p");
    assert_eq!(status["run"]["in_process"], false);
    assert!(status["eta_ms"].is_null(), "no attempt has been merged yet");

    let a = s.store.claim("w", LEASE).await.unwrap().unwrap();
    s.store.complete(&a.task, a.attempt).await.unwrap();
    let status = s.json("/api/status", 200).await;
    assert_eq!((status["done"].as_u64(), status["busy_workers"].as_u64()), (Some(1), Some(0)));
    assert!(status["eta_ms"].is_i64(), "{status}");
    s.store.cancel(&[id("b")]).await.unwrap();
    assert_eq!(s.json("/api/status", 200).await["over"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_filters_searches_and_pages() {
    let tasks: Vec<(String, String)> = (0..120).map(|i| (format!("t{i:03}"), format!("Task number {i}"))).collect();
    let refs: Vec<(&str, &str, &[&str])> = tasks.iter().map(|(i, t)| (i.as_str(), t.as_str(), &[][..])).collect();
    let s = Served::start(&[plan("big", &refs)], None).await;

    let first = s.json("/api/tasks", 200).await;
    assert_eq!(
        (first["total"].as_u64(), first["pages"].as_u64(), first["tasks"].as_array().unwrap().len()),
        (Some(120), Some(3), 50)
    );
    let last = s.json("/api/tasks?page=3&per_page=50", 200).await;
    assert_eq!(last["tasks"].as_array().unwrap().len(), 20);
    assert_eq!(last["tasks"][0]["id"], "t100");
    let found = s.json("/api/tasks?q=NUMBER%2011", 200).await;
    let ids: Vec<&str> = found["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["t011", "t110", "t111", "t112", "t113", "t114", "t115", "t116", "t117", "t118", "t119"]);
    assert_eq!(s.json("/api/tasks?status=ready,running", 200).await["total"], 120);
    assert_eq!(s.json("/api/tasks?status=done", 200).await["total"], 0);

    let bad = s.json("/api/tasks?status=runing", 400).await;
    assert!(bad["error"].as_str().unwrap().contains("unknown status `runing`; one of: pending"), "{bad}");
    let bad = s.json("/api/tasks?page=0", 400).await;
    assert_eq!(bad["error"], "`page` counts from 1");
    let bad = s.json("/api/tasks?page=two", 400).await;
    assert!(bad["error"].as_str().unwrap().contains("page"), "{bad}");
    assert!(s.json("/api/tasks?per_page=501", 400).await["error"].as_str().unwrap().contains("per_page"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tasks_and_routes_are_404_with_a_reason() {
    let s = Served::start(&[plan("p", &[("a", "A", &[])])], None).await;
    assert_eq!(s.json("/api/tasks/nope", 404).await["error"], "no task `nope`");
    assert_eq!(s.json("/api/tasks/bad%20id", 404).await["error"], "no task `bad id`");
    assert_eq!(s.json("/api/tasks/nope/log", 404).await["error"], "no task `nope`");
    assert_eq!(s.json("/api/tasks/a/log?attempt=3", 404).await["error"], "task a has no attempt 3");
    assert_eq!(s.json("/api/nothing", 404).await["error"], "no route /api/nothing");
    assert_eq!(s.json("/assets/missing.js", 404).await["error"], "no file `missing.js`");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_shows_its_log_gates_spend_and_diff() {
    let s = Served::start(&[plan("p", &[("a", "<script>alert(1)</script>", &[])])], None).await;
    let claim = s.store.claim("host:1:0", LEASE).await.unwrap().unwrap();
    // The attempt's branch, as the engine leaves it: one commit on top of
    // the integration branch.
    git(&s.root, &["branch", "colony/p", "main"]);
    git(&s.root, &["checkout", "-q", "-b", "colony-task/p/a-a1"]);
    std::fs::write(s.root.join("new.txt"), "<b>not bold</b>\n").unwrap();
    git(&s.root, &["add", "new.txt"]);
    git(&s.root, &["commit", "-qm", "Work"]);
    git(&s.root, &["checkout", "-q", "main"]);
    let mut log = LogWriter::open(s.root.join(".colony/runs/a/a1/log.jsonl")).unwrap();
    let raw = |stream, text: &str| Entry::Raw { stream, text: text.into() };
    log.append(1, &raw(Stream::Stdout, "<script>alert(2)</script>")).unwrap();
    let usage = colony_core::Usage { input: 10, output: 2, cached: 0, cost_usd: Some(0.5) };
    s.store.record_usage(&colony_core::TaskId::new("a").unwrap(), 1, usage).await.unwrap();
    let gate = |record| Entry::Colony(record);
    log.append(3, &gate(Record::Gate { command: "make check".into() })).unwrap();
    log.append(4, &raw(Stream::Stdout, "1 test failed")).unwrap();
    let end = GateEnd::Exited { code: 2 };
    log.append(5, &gate(Record::GateEnded { command: "make check".into(), end, tail: vec![] })).unwrap();

    let detail = s.json("/api/tasks/a", 200).await;
    assert_eq!(
        (detail["title"].as_str(), detail["status"].as_str()),
        (Some("<script>alert(1)</script>"), Some("running"))
    );
    assert_eq!(detail["spec"]["prompt"], "Do a.");
    assert_eq!(detail["attempts"][0]["worker"], "host:1:0");
    assert_eq!(detail["log"]["records"].as_array().unwrap().len(), 4);
    assert_eq!(detail["log"]["records"][0]["text"], "<script>alert(2)</script>");
    let says = |i: usize| detail["log"]["records"][i]["says"].as_str().map(str::to_owned);
    assert_eq!(detail["log"]["records"][1]["step"], "gate", "colony's records come typed");
    assert_eq!(says(1).as_deref(), Some("gate `make check`"));
    assert_eq!(says(3).as_deref(), Some("gate `make check` failed (exit code 2)"), "and worded once, in Rust");
    assert_eq!(says(0), None, "the agent's own lines say themselves");
    assert_eq!(detail["gates"][0]["command"], "make check");
    assert_eq!(detail["gates"][0]["passed"], false);
    assert_eq!(detail["gates"][0]["output"][0], "1 test failed");
    assert_eq!(detail["spend"][0]["usd"], 0.5, "the store's spend of the attempt");
    assert_eq!(detail["spend"][0]["input_tokens"], 10);
    assert_eq!(detail["reviews"].as_array().unwrap().len(), 0);
    assert_eq!(detail["diff"]["source"], "branch");
    let diff = detail["diff"]["text"].as_str().unwrap();
    assert!(diff.contains("+++ b/new.txt") && diff.contains("+<b>not bold</b>"), "{diff}");

    let tail = s.json("/api/tasks/a/log?tail=2", 200).await;
    assert_eq!((tail["skipped"].as_u64(), tail["records"].as_array().unwrap().len()), (Some(2), 2));

    // Following: what is there, what comes, then `end` once the attempt is over.
    let response = s.get("/api/tasks/a/log?follow=1").send().await.unwrap();
    let mut follow = SseReader::new(response);
    for _ in 0..4 {
        follow.next().await.unwrap();
    }
    log.append(6, &raw(Stream::Stdout, "more")).unwrap();
    let more = follow.next().await.unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&more.data).unwrap()["text"], "more");
    s.store.complete(&claim.task, claim.attempt).await.unwrap();
    let end = follow.next().await.unwrap();
    assert_eq!((end.event.as_deref(), end.data.as_str()), (Some("end"), "{\"attempt\":1}"));
    assert!(follow.next().await.is_none(), "the stream ends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooded_log_is_read_in_bounded_answers() {
    let s = Served::start(&[plan("p", &[("a", "A", &[])])], None).await;
    s.store.claim("host:1:0", LEASE).await.unwrap().unwrap();
    let mut log = LogWriter::open(s.root.join(".colony/runs/a/a1/log.jsonl")).unwrap();
    for i in 0..300 {
        log.append(i, &Entry::Raw { stream: Stream::Stdout, text: format!("{i:03}{}", "x".repeat(60_000)) }).unwrap();
    }
    drop(log);
    let detail = s.get("/api/tasks/a").send().await.unwrap().text().await.unwrap();
    assert!(detail.len() < 400 << 10, "the detail is {} bytes", detail.len());
    let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
    let records = detail["log"]["records"].as_array().unwrap();
    assert!(records.len() < 10 && detail["log"]["skipped"].as_u64().unwrap() > 100, "{}", records.len());
    assert!(records.last().unwrap()["text"].as_str().unwrap().starts_with("299"), "the newest records");

    for path in ["/api/tasks/a/log", "/api/tasks/a/log?tail=1000000"] {
        let body = s.get(path).send().await.unwrap().text().await.unwrap();
        assert!(body.len() < (4 << 20) + (64 << 10), "{path} is {} bytes", body.len());
        let tail: serde_json::Value = serde_json::from_str(&body).unwrap();
        let kept = tail["records"].as_array().unwrap().len() as u64;
        assert!(kept > 60 && tail["skipped"].as_u64().unwrap() > 0, "{path}: {kept}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_show_each_attempt_its_progress_and_its_last_line() {
    let s = Served::start(&[plan("p", &[("a", "A", &[]), ("b", "B", &["a"]), ("c", "C", &["a", "b"])])], None).await;
    assert_eq!(s.json("/api/workers", 200).await.as_array().unwrap().len(), 0);
    let claim = s.store.claim("host:7:2", LEASE).await.unwrap().unwrap();
    let mut log = LogWriter::open(s.root.join(".colony/runs/a/a1/log.jsonl")).unwrap();
    log.append(1, &Entry::ToolUse { name: "Edit".into(), input_summary: "src/lib.rs".into() }).unwrap();
    let workers = s.json("/api/workers", 200).await;
    assert_eq!(workers[0]["worker"], "host:7:2");
    assert_eq!((workers[0]["task"].as_str(), workers[0]["phase"].as_str()), (Some("a"), Some("running")));
    assert_eq!(workers[0]["last_line"], "Edit src/lib.rs");
    assert!(workers[0]["elapsed_ms"].as_i64().unwrap() >= 0);
    assert!(workers[0]["progress"].is_null());
    s.store.report_progress(&claim.task, claim.attempt, "the schema is in; now the API").await.unwrap();
    assert_eq!(s.json("/api/workers", 200).await[0]["progress"], "the schema is in; now the API");
    s.store.set_phase(&claim.task, claim.attempt, colony_core::Phase::Merging).await.unwrap();
    assert_eq!(s.json("/api/workers", 200).await[0]["phase"], "merging");

    let graph = s.json("/api/graph", 200).await;
    let depths: Vec<(&str, u64)> =
        graph.as_array().unwrap().iter().map(|n| (n["id"].as_str().unwrap(), n["depth"].as_u64().unwrap())).collect();
    assert_eq!(depths, [("a", 0), ("b", 1), ("c", 2)]);
    assert_eq!(graph[2]["deps"], serde_json::json!(["a", "b"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_embedded_and_locked_down() {
    let s = Served::start(&[], None).await;
    let page = s.get("/").send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert!(page.text().await.unwrap().contains("/assets/app.js"));
    for (asset, kind) in
        [("app.js", "text/javascript"), ("style.css", "text/css"), ("vendor/htm-preact.js", "text/javascript")]
    {
        let r = s.get(&format!("/assets/{asset}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{asset}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with(kind), "{asset}");
    }
    assert_eq!(
        s.get("/assets/vendor/update.sh").send().await.unwrap().status().as_u16(),
        404,
        "the script is not served"
    );
    let js = s.get("/assets/app.js").send().await.unwrap().text().await.unwrap();
    assert!(!js.contains("innerHTML") && !js.contains("dangerouslySetInnerHTML"), "text is never parsed as markup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_merged_in_a_train_shows_what_its_own_merge_brought() {
    let s = Served::start(&[plan("p", &[("a", "A", &[]), ("b", "B", &[])])], None).await;
    let a = s.store.claim("host:1:0", LEASE).await.unwrap().unwrap();
    let b = s.store.claim("host:1:1", LEASE).await.unwrap().unwrap();
    // A train's chain, as the engine leaves it: one merge commit per task,
    // each the first parent of the next, and the task branches gone.
    git(&s.root, &["checkout", "-q", "-b", "colony/p"]);
    let mut merges = Vec::new();
    for task in ["a", "b"] {
        git(&s.root, &["checkout", "-q", "-b", "work", "main"]);
        let file = format!("{task}.txt");
        std::fs::write(s.root.join(&file), format!("{task}\n")).unwrap();
        git(&s.root, &["add", &file]);
        git(&s.root, &["commit", "-qm", task]);
        git(&s.root, &["checkout", "-q", "colony/p"]);
        git(&s.root, &["merge", "-q", "--no-ff", "-m", &format!("Merge task {task}"), "work"]);
        git(&s.root, &["branch", "-q", "-D", "work"]);
        merges.push(git(&s.root, &["rev-parse", "HEAD"]).trim().to_owned());
    }
    git(&s.root, &["checkout", "-q", "main"]);
    // The leader's fenced writes under the merge lock, then each rider's
    // completion; no log says where either merged.
    assert!(s.store.try_lock("merge", "leader", LEASE).await.unwrap());
    for (claim, commit) in [(&a, &merges[0]), (&b, &merges[1])] {
        s.store.fence_merge(&claim.task, claim.attempt, LEASE, ("merge", "leader"), commit).await.unwrap();
        s.store.complete(&claim.task, claim.attempt).await.unwrap();
    }

    let detail = s.json("/api/tasks/b", 200).await;
    assert_eq!(detail["diff"]["source"], "merged", "{detail}");
    assert_eq!(detail["diff"]["to"], merges[1].as_str());
    let diff = detail["diff"]["text"].as_str().unwrap();
    assert!(diff.contains("+++ b/b.txt") && !diff.contains("a.txt"), "{diff}");
}
