//! DNS rebinding and caching: the server answers only to its own names,
//! and no answer of the API is kept in a cache.

use std::io::{Read, Write};
use std::net::TcpStream;

use colony_store::Store;

use crate::support::{Served, expect, plan};

/// Every route that reads, the page and the event streams included.
const READS: &[&str] = &[
    "/",
    "/assets/app.js",
    "/api/status",
    "/api/tasks",
    "/api/tasks/a",
    "/api/tasks/a/log",
    "/api/tasks/a/log?follow=1",
    "/api/workers",
    "/api/graph",
    "/api/events",
    "/api/session",
];

fn port(s: &Served) -> u16 {
    s.base.rsplit_once(':').unwrap().1.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_is_not_the_servers_is_refused_on_every_route() {
    let s = Served::start(&[plan("p", &[("a", "A", &[])])], None).await;
    let p = port(&s);
    // A rebound name, names that merely start like ours, our address with
    // another port.
    let foreign = [
        format!("evil.example:{p}"),
        format!("localhost.evil.example:{p}"),
        format!("127.0.0.1.nip.io:{p}"),
        format!("127.0.0.1:{}", p.wrapping_add(1)),
    ];
    for host in &foreign {
        for path in READS {
            let response = s.get(path).header("host", host).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 421, "{host}{path}");
            assert_eq!(response.headers()["cache-control"], "no-store", "{host}{path}");
            assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
            let body = expect(response, 421).await;
            let error = body["error"].as_str().unwrap();
            assert!(error.contains(&format!("does not answer to the name `{host}`")), "{host}{path}: {error}");
            assert!(!error.contains("Do a."), "nothing of the task is in the refusal");
        }
    }
    // A change with the token is refused the same way, and writes nothing.
    let before = s.store.last_seq().await.unwrap();
    let cancel = s.act("/api/tasks/a/cancel").header("host", &foreign[0]).send().await.unwrap();
    expect(cancel, 421).await;
    assert_eq!(s.store.last_seq().await.unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_names_and_a_request_without_host_are_served() {
    let s = Served::start(&[plan("p", &[("a", "A", &[])])], None).await;
    let p = port(&s);
    for host in [format!("127.0.0.1:{p}"), format!("localhost:{p}"), format!("LOCALHOST:{p}"), format!("[::1]:{p}")] {
        let body = expect(s.get("/api/tasks/a").header("host", &host).send().await.unwrap(), 200).await;
        assert_eq!(body["spec"]["prompt"], "Do a.", "{host}");
    }
    // HTTP/1.0 has no Host header; no browser sends such a request.
    let mut stream = TcpStream::connect(s.base.trim_start_matches("http://")).unwrap();
    stream.write_all(b"GET /api/status HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_opened_as_localhost_may_use_the_controls() {
    let s = Served::start(&[plan("p", &[("a", "A", &[])])], None).await;
    let p = port(&s);
    let origin = format!("http://localhost:{p}");
    let cancel = s.act("/api/tasks/a/cancel").header("host", format!("localhost:{p}")).header("origin", &origin);
    assert_eq!(expect(cancel.send().await.unwrap(), 200).await["task"]["status"], "cancelled");
    // Our page under another of our names is ours too; another port is not.
    let retry = s.act("/api/tasks/a/retry").header("origin", &origin).send().await.unwrap();
    assert_eq!(expect(retry, 200).await["task"]["status"], "ready");
    let other = s.act("/api/tasks/a/cancel").header("origin", format!("http://localhost:{}", p.wrapping_add(1)));
    expect(other.send().await.unwrap(), 403).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_are_never_stored() {
    let s = Served::start(&[plan("p", &[("a", "A", &[])])], None).await;
    for path in READS.iter().filter(|p| p.starts_with("/api/")) {
        let response = s.get(path).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
    }
    let missing = s.get("/api/tasks/zz").send().await.unwrap();
    assert_eq!(missing.headers()["cache-control"], "no-store");
    let page = s.get("/").send().await.unwrap();
    assert_eq!(page.headers()["cache-control"], "no-cache", "the page holds no data; it is only revalidated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_413_in_the_apis_shape() {
    let s = Served::start(&[plan("p", &[("a", "A", &[])])], None).await;
    let feedback = format!("{{\"feedback\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let response = s.act("/api/tasks/a/reject").header("content-type", "application/json").body(feedback);
    let response = response.send().await.unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = expect(response, 413).await;
    assert_eq!(body["error"], "the request body is over 1048576 bytes");
}
