//! The event stream: ids are sequence numbers, a reconnect resumes, and
//! every client sees every event in order.

use std::time::Duration;

use colony_store::Store;

use crate::support::{Served, SseReader, plan};

const LEASE: Duration = Duration::from_secs(60);

/// Reads events until `last`, returning their sequence numbers.
async fn read_until(mut reader: SseReader, last: i64) -> Vec<i64> {
    let mut seqs = Vec::new();
    while seqs.last().is_none_or(|s| *s < last) {
        let event = reader.next().await.expect("the stream stays open");
        let seq: i64 = event.id.unwrap().parse().unwrap();
        let body: serde_json::Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(body["seq"], seq, "the id is the event's sequence number");
        let kind: colony_core::Event = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(body["text"], kind.kind.summary(), "each event carries its text, in colony's words");
        seqs.push(seq);
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_clients_each_receive_every_event_in_order() {
    let s = Served::start(&[], None).await;
    let mut clients = Vec::new();
    for _ in 0..50 {
        let response = s.get("/api/events?since=0").send().await.unwrap();
        clients.push(SseReader::new(response));
    }
    // Events arrive while the clients listen: plans, claims, completions.
    let tasks: Vec<(String, String)> = (0..60).map(|i| (format!("t{i}"), format!("T{i}"))).collect();
    let refs: Vec<(&str, &str, &[&str])> = tasks.iter().map(|(i, t)| (i.as_str(), t.as_str(), &[][..])).collect();
    s.store.add_plan(&plan("p", &refs), "p.yaml", Default::default()).await.unwrap();
    while let Some(claim) = s.store.claim("w", LEASE).await.unwrap() {
        s.store.complete(&claim.task, claim.attempt).await.unwrap();
    }
    let last = s.store.last_seq().await.unwrap();
    assert!(last > 200, "{last}");
    let readers: Vec<_> = clients.into_iter().map(|c| tokio::spawn(read_until(c, last))).collect();
    let expected: Vec<i64> = (1..=last).collect();
    for reader in readers {
        assert_eq!(reader.await.unwrap(), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_resumes_after_the_last_event_id() {
    let s = Served::start(&[plan("p", &[("a", "A", &[]), ("b", "B", &["a"])])], None).await;
    let last = s.store.last_seq().await.unwrap();
    assert_eq!(last, 4, "plan_added, two task_added, ready");
    let resumed = s.get("/api/events").header("last-event-id", "2").send().await.unwrap();
    assert_eq!(read_until(SseReader::new(resumed), last).await, (3..=last).collect::<Vec<_>>());

    // Without a position the stream starts with the next new event.
    let fresh = SseReader::new(s.get("/api/events").send().await.unwrap());
    let claim = s.store.claim("w", LEASE).await.unwrap().unwrap();
    s.store.complete(&claim.task, claim.attempt).await.unwrap();
    let now = s.store.last_seq().await.unwrap();
    assert_eq!(read_until(fresh, now).await, ((last + 1)..=now).collect::<Vec<_>>());

    let bad = s.get("/api/events").header("last-event-id", "x").send().await.unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let bad = s.get("/api/events?since=-4").send().await.unwrap();
    assert_eq!(bad.status().as_u16(), 400);
}
