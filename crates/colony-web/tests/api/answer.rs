//! Answering an agent's question: the task shows it while it waits, and
//! an answer with the token sends it back to the queue; anything else is
//! refused and changes nothing.

use std::time::Duration;

use colony_store::{MAX_ANSWER_BYTES, Store};
use serde_json::json;

use crate::support::{Served, expect, plan};

const QUESTION: &str = "Which table holds the users?\n<b>users</b> or accounts";

/// `a` awaits input with [`QUESTION`]; `b` waits for `a`.
async fn asking() -> Served {
    let s = Served::start(&[plan("p", &[("a", "A", &[]), ("b", "B", &["a"])])], None).await;
    let claim = s.store.claim("w", Duration::from_secs(30)).await.unwrap().unwrap();
    assert_eq!(claim.task.as_str(), "a");
    s.store.request_input(&claim.task, claim.attempt, QUESTION, Duration::from_secs(60)).await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_awaiting_input_shows_its_question_everywhere() {
    let s = asking().await;
    let a = s.json("/api/tasks/a", 200).await;
    assert_eq!((a["status"].as_str(), a["question"].as_str()), (Some("awaiting_input"), Some(QUESTION)), "{a}");
    let until = a["until"].as_i64().expect("when it fails unanswered");
    assert!(until > a["updated_at"].as_i64().unwrap(), "{a}");
    assert_eq!(a["attempts"][0]["outcome"], "awaiting_input", "{a}");

    let list = s.json("/api/tasks?status=awaiting_input", 200).await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["tasks"][0]["question"], QUESTION);
    let status = s.json("/api/status", 200).await;
    assert_eq!(status["counts"]["awaiting_input"], 1, "{status}");
    assert_eq!(
        status["questions"],
        json!([{ "task": "a", "title": "A", "question": QUESTION, "until": until }]),
        "{status}"
    );
    assert_eq!(status["over"], false, "an unanswered question fails its task in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_with_the_token_sends_the_task_back_to_the_queue() {
    let s = asking().await;
    let answer = s.act("/api/tasks/a/answer").json(&json!({"answer": "users, not accounts"})).send().await.unwrap();
    let answered = expect(answer, 200).await;
    assert_eq!(answered["task"]["status"], "ready", "{answered}");
    assert!(answered["task"].get("question").is_none(), "{answered}");
    let kinds: Vec<String> = s.store.events(0, usize::MAX).await.unwrap().iter().map(|e| e.kind.summary()).collect();
    assert!(kinds.contains(&"attempt 1 answered: users, not accounts".to_owned()), "{kinds:?}");
    assert_eq!(s.json("/api/status", 200).await["questions"], json!([]));

    let again = s.act("/api/tasks/a/answer").json(&json!({"answer": "still users"})).send().await.unwrap();
    let refused = expect(again, 409).await;
    assert!(refused["error"].as_str().unwrap().starts_with("task a is ready, not awaiting input"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_answer_or_one_without_the_token_changes_nothing() {
    let s = asking().await;
    let before = s.store.last_seq().await.unwrap();
    let answer = json!({"answer": "users"});

    let anonymous = expect(s.post("/api/tasks/a/answer").json(&answer).send().await.unwrap(), 401).await;
    assert!(anonymous["error"].as_str().unwrap().starts_with("this needs colony's token"), "{anonymous}");
    let forged = s.act("/api/tasks/a/answer").header("origin", "http://evil.example").json(&answer);
    expect(forged.send().await.unwrap(), 403).await;

    let no_body = expect(s.act("/api/tasks/a/answer").send().await.unwrap(), 400).await;
    assert!(
        no_body["error"].as_str().unwrap().starts_with("answer needs a JSON body {\"answer\": \"…\"}"),
        "{no_body}"
    );
    let wrong_field = s.act("/api/tasks/a/answer").json(&json!({"feedback": "users"})).send().await.unwrap();
    let wrong_field = expect(wrong_field, 400).await;
    assert!(wrong_field["error"].as_str().unwrap().contains("missing field `answer`"), "{wrong_field}");
    let empty = s.act("/api/tasks/a/answer").json(&json!({"answer": " \n"})).send().await.unwrap();
    let empty = expect(empty, 400).await;
    assert_eq!(empty["error"], "the answer is empty; say what the agent asked for");
    let long = json!({"answer": "x".repeat(MAX_ANSWER_BYTES + 1)});
    let long = expect(s.act("/api/tasks/a/answer").json(&long).send().await.unwrap(), 400).await;
    assert!(long["error"].as_str().unwrap().contains(&format!("at most {MAX_ANSWER_BYTES}")), "{long}");

    // `b` asked nothing. The longest answer, every byte escaped in its
    // JSON, is within the body limit: refused for the task's state alone.
    let pending = s.act("/api/tasks/b/answer").json(&answer).send().await.unwrap();
    let pending = expect(pending, 409).await;
    assert!(pending["error"].as_str().unwrap().starts_with("task b is pending, not awaiting input"), "{pending}");
    let longest = json!({"answer": "\u{1}".repeat(MAX_ANSWER_BYTES)});
    assert_eq!(serde_json::to_vec(&longest).unwrap().len(), 6 * MAX_ANSWER_BYTES + 13);
    expect(s.act("/api/tasks/b/answer").json(&longest).send().await.unwrap(), 409).await;
    let missing = expect(s.act("/api/tasks/zz/answer").json(&answer).send().await.unwrap(), 404).await;
    assert_eq!(missing["error"], "no task `zz`");

    assert_eq!(s.store.last_seq().await.unwrap(), before, "no event was written");
    assert_eq!(s.status_of("a").await, "awaiting_input");
}
