//! The controls: nothing changes without the token; with it, each does
//! what it says or answers why not.

use std::time::Duration;

use colony_agents::Shutdown;
use colony_store::Store;

use crate::support::{Served, expect, plan};

const LEASE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_token_nothing_changes() {
    let run = Shutdown::new();
    let s = Served::start(&[plan("p", &[("a", "A", &[])])], Some(run.clone())).await;
    let before = s.store.last_seq().await.unwrap();
    for path in
        ["/api/tasks/a/cancel", "/api/tasks/a/retry", "/api/tasks/a/kill", "/api/tasks/a/approve", "/api/run/stop"]
    {
        let body = expect(s.post(path).send().await.unwrap(), 401).await;
        assert!(body["error"].as_str().unwrap().starts_with("this needs colony's token"), "{path}: {body}");
        let wrong = s.post(path).bearer_auth("0".repeat(64)).send().await.unwrap();
        expect(wrong, 401).await;
        let cookie = s.post(path).header("cookie", "colony_token=guess").send().await.unwrap();
        expect(cookie, 401).await;
    }
    // The right token from another site's page is refused too.
    let forged = s.act("/api/tasks/a/cancel").header("origin", "http://evil.example").send().await.unwrap();
    assert!(expect(forged, 403).await["error"].as_str().unwrap().contains("http://evil.example"));
    assert_eq!(s.store.last_seq().await.unwrap(), before, "no event was written");
    assert_eq!(s.status_of("a").await, "ready");
    assert!(!run.is_draining());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_retry_with_the_token_or_the_cookie() {
    let s = Served::start(&[plan("p", &[("a", "A", &[]), ("b", "B", &["a"])])], None).await;
    let done = expect(s.act("/api/tasks/a/cancel").send().await.unwrap(), 200).await;
    assert_eq!(done["task"]["status"], "cancelled");
    assert_eq!(s.status_of("b").await, "blocked");
    let again = expect(s.act("/api/tasks/a/cancel").send().await.unwrap(), 409).await;
    assert!(again["error"].as_str().unwrap().contains("cancelled"), "{again}");
    let blocked = expect(s.act("/api/tasks/b/retry").send().await.unwrap(), 409).await;
    assert_eq!(blocked["error"], "task b is blocked by a; retry a and b will follow; nothing was changed");

    // The printed URL sets the cookie and drops the token from the address.
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let wrong = no_redirects.get(format!("{}/?token=nope", s.base)).send().await.unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let visit = no_redirects.get(format!("{}/?token={}", s.base, s.token)).send().await.unwrap();
    assert_eq!(visit.status().as_u16(), 303);
    assert_eq!(visit.headers()["location"], "/");
    let cookie = visit.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let same_site = s.base.trim_start_matches("http://").to_owned();
    let retried = s
        .post("/api/tasks/a/retry")
        .header("cookie", &pair)
        .header("origin", &s.base)
        .header("host", same_site)
        .send()
        .await
        .unwrap();
    assert_eq!(expect(retried, 200).await["task"]["status"], "ready");
    assert_eq!(s.status_of("b").await, "pending");
    let session = s.get("/api/session").header("cookie", &pair).send().await.unwrap();
    assert_eq!(expect(session, 200).await["authorized"], true);
    assert_eq!(s.json("/api/session", 200).await["authorized"], false);
    assert_eq!(expect(s.act("/api/tasks/zz/cancel").send().await.unwrap(), 404).await["error"], "no task `zz`");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_ends_the_running_attempt_and_the_worker_loses_its_lease() {
    let s = Served::start(&[plan("p", &[("a", "A", &[])])], None).await;
    let not_running = expect(s.act("/api/tasks/a/kill").send().await.unwrap(), 409).await;
    assert_eq!(not_running["error"], "task a is ready; only a running attempt can be killed; nothing was changed");
    let claim = s.store.claim("host:1:0", LEASE).await.unwrap().unwrap();
    let killed = expect(s.act("/api/tasks/a/kill").send().await.unwrap(), 200).await;
    assert_eq!((killed["attempt"].as_u64(), killed["status"].as_str()), (Some(1), Some("ready")));
    // What the engine's heartbeat then hears, and stops its agent for.
    let beat = s.store.heartbeat(&claim.task, claim.attempt, LEASE).await;
    assert!(matches!(beat, Err(colony_store::StoreError::LeaseLost { .. })), "{beat:?}");
    let detail = s.json("/api/tasks/a", 200).await;
    assert_eq!(detail["attempts"][0]["outcome"], "killed");
    assert_eq!(detail["attempts"][0]["reason"], "killed by a person");
    let events = detail["events"].as_array().unwrap();
    let killed = events.iter().find(|e| e["type"] == "killed").expect("a killed event");
    assert_eq!(killed["text"], "attempt 1 of host:1:0 killed by a person (requeued)");
    assert!(events.iter().all(|e| e["text"].is_string()), "every event carries its text: {events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_and_reject_pass_a_waiting_task_on_and_refuse_the_rest() {
    let s = Served::start(&[plan("p", &[("a", "A", &[]), ("b", "B", &[])])], None).await;
    let approve = expect(s.act("/api/tasks/a/approve").send().await.unwrap(), 409).await;
    let refused = approve["error"].as_str().unwrap();
    assert!(refused.starts_with("task a is ready, not awaiting approval"), "{refused}");
    let no_body = expect(s.act("/api/tasks/a/reject").send().await.unwrap(), 400).await;
    assert!(no_body["error"].as_str().unwrap().starts_with("reject needs a JSON body"), "{no_body}");
    let empty = s.act("/api/tasks/a/reject").json(&serde_json::json!({"feedback": " "})).send().await.unwrap();
    assert!(expect(empty, 400).await["error"].as_str().unwrap().contains("the feedback is empty"));

    // Both tasks' checks pass and they wait for a person.
    for _ in 0..2 {
        let c = s.store.claim("w", std::time::Duration::from_secs(30)).await.unwrap().unwrap();
        s.store.set_phase(&c.task, c.attempt, colony_core::Phase::Checking).await.unwrap();
        s.store.request_approval(&c.task, c.attempt).await.unwrap();
    }
    let approved = expect(s.act("/api/tasks/a/approve").send().await.unwrap(), 200).await;
    assert_eq!(approved["task"]["status"], "ready", "{approved}");
    let reject = s.act("/api/tasks/b/reject").json(&serde_json::json!({"feedback": "smaller"})).send().await.unwrap();
    let rejected = expect(reject, 200).await;
    assert_eq!(rejected["task"]["status"], "ready", "{rejected}");
    let kinds: Vec<String> = s.store.events(0, usize::MAX).await.unwrap().iter().map(|e| e.kind.summary()).collect();
    assert!(kinds.contains(&"attempt 1 approved".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"attempt 1 sent back: smaller".to_owned()), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_drains_then_stops_the_run_in_this_process() {
    let standalone = Served::start(&[], None).await;
    let refused = expect(standalone.act("/api/run/stop").send().await.unwrap(), 409).await;
    assert!(refused["error"].as_str().unwrap().starts_with("no run in this process"), "{refused}");

    let run = Shutdown::new();
    let s = Served::start(&[], Some(run.clone())).await;
    assert_eq!(s.json("/api/status", 200).await["run"]["state"], "running");
    let bad = s.act("/api/run/stop").body("{now: yes}").send().await.unwrap();
    expect(bad, 400).await;
    assert!(!run.is_draining());
    assert_eq!(expect(s.act("/api/run/stop").send().await.unwrap(), 202).await["stopping"], "graceful");
    assert!(run.is_draining() && !run.is_stopping_now());
    assert_eq!(s.json("/api/status", 200).await["run"]["state"], "draining");
    let now = s.act("/api/run/stop").json(&serde_json::json!({"now": true})).send().await.unwrap();
    assert_eq!(expect(now, 202).await["stopping"], "now");
    assert!(run.is_stopping_now());
}
