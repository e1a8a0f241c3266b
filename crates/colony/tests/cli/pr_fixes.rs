//! `colony pr-fixes`: a pull request's unresolved review comments made
//! into a plan, run with the fake agent, and answered by `colony land
//! --pr` with the commits that addressed them, once. The stand-in `gh`
//! answers `gh api graphql` from a recorded page of review threads and
//! records what is posted.

use serde_json::{Value, json};

use crate::pull_requests::{CONFIG, Forged, text};

const PLAN: &str = r#"name: p
tasks:
  - id: good
    title: Add the good part
    prompt: Write good.txt
    fake: {write: {good.txt: "good\n"}}
"#;

/// A review thread as GitHub's GraphQL API gives it.
fn thread(resolved: bool, path: &str, line: Option<u64>, comments: &[(u64, &str, &str)]) -> Value {
    let nodes: Vec<Value> = comments
        .iter()
        .map(|(id, who, body)| json!({"databaseId": id, "body": body, "author": {"login": who}}))
        .collect();
    json!({"isResolved": resolved, "path": path, "line": line, "comments": {"nodes": nodes}})
}

fn posted(f: &Forged) -> Vec<Value> {
    match std::fs::read_to_string(f.state.join("posted.jsonl")) {
        Ok(text) => text.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn review_comments_become_tasks_whose_merges_answer_them_once() {
    let f = Forged::after(CONFIG, "https://github.com/fake/repo.git", PLAN, 0);
    let fixes = f.repo.root().join("plans/pr-1-fixes.yaml");

    // No pull request for the plan's branch yet, or one that does not exist.
    let out = f.colony(&["pr-fixes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no open pull request has colony/p as its head"), "{}", text(&out.stderr));
    assert_eq!(f.colony(&["land", "--pr"]).status.code(), Some(0));
    let out = f.colony(&["pr-fixes", "9"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("there is no pull request #9 here (gh said: GraphQL: Could not resolve"), "{err}");
    assert_eq!(f.colony(&["pr-fixes", "x"]).status.code(), Some(2), "not a number");
    std::fs::write(f.state.join("logged-out"), "").unwrap();
    let out = f.colony(&["pr-fixes", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("`gh` is not logged in") && err.contains("nothing was changed"), "{err}");
    std::fs::remove_file(f.state.join("logged-out")).unwrap();
    assert!(!fixes.exists(), "nothing was written");

    // Four threads, one resolved.
    let threads = [
        thread(false, "good.txt", Some(1), &[(101, "alice", "Say <b>better</b> here\nplease"), (102, "bob", "+1")]),
        thread(true, "good.txt", Some(1), &[(201, "carol", "Fixed already")]),
        thread(false, "README.md", Some(1), &[(301, "dave", "-- Mention good.txt")]),
        thread(false, "src/new.rs", None, &[(401, "erin", "Add a test; `rm -rf /` $(whoami)")]),
    ];
    let page = json!({"data": {"repository": {"pullRequest": {"reviewThreads": {
        "pageInfo": {"hasNextPage": false, "endCursor": null}, "nodes": threads}}}}});
    std::fs::write(f.state.join("api.json"), json!({"graphql": page}).to_string()).unwrap();
    let out = f.colony(&["pr-fixes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("wrote plans/pr-1-fixes.yaml: 3 tasks from the unresolved review comments of pull request #1"),
        "{said}"
    );
    assert!(fixes.exists());
    // The file was added to the store as it is: read it back from there.
    let out = f.colony(&["export", "--plan", "pr-1-fixes", "--format", "json"]);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["base"], "colony/p");
    let tasks = plan["tasks"].as_array().unwrap();
    let ids: Vec<&str> = tasks.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["fix-101", "fix-301", "fix-401"]);
    assert_eq!(tasks[0]["files"], json!(["good.txt"]));
    let prompt = tasks[0]["prompt"].as_str().unwrap();
    assert!(prompt.contains("on `good.txt` at line 1"), "{prompt}");
    assert!(prompt.contains("@alice wrote:\n\n> Say <b>better</b> here\n> please\n"), "{prompt}");
    assert!(prompt.contains("@bob replied:\n\n> +1"), "{prompt}");
    assert_eq!(tasks[1]["title"], "Review: -- Mention good.txt");
    assert!(tasks[2]["prompt"].as_str().unwrap().contains("> Add a test; `rm -rf /` $(whoami)"));
    assert!(posted(&f).is_empty());

    // Run them; then land: the fixes go to the pull request's branch and
    // each comment is answered with its task's merge.
    let out = f.colony(&["run", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = f.colony(&["land", "--pr", "--plan", "pr-1-fixes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("pushed colony/pr-1-fixes to origin's colony/p at"), "{said}");
    let tip = f.repo.git_out(&["rev-parse", "colony/pr-1-fixes"]).trim().to_owned();
    assert_eq!(f.pushed().as_deref(), Some(tip.as_str()));
    assert_eq!(f.repo.git_out(&["rev-parse", "colony/p"]).trim(), tip, "the local branch follows");
    let merges = f.repo.git_out(&["log", "--first-parent", "--format=%H", "colony/p~3..colony/p"]);
    let replies = posted(&f);
    assert_eq!(replies.len(), 3, "{replies:?}");
    for (reply, id) in replies.iter().zip([101, 301, 401]) {
        assert_eq!(reply["endpoint"], format!("repos/{{owner}}/{{repo}}/pulls/1/comments/{id}/replies"));
        let body = reply["fields"]["body"].as_str().unwrap();
        let commit = body.strip_prefix("Addressed in ").unwrap().split(' ').next().unwrap();
        assert!(merges.contains(commit), "{commit} is one of the fixes' merges: {merges}");
        assert!(body.ends_with(&format!("(task `fix-{id}` of plan `pr-1-fixes`).")), "{body}");
    }
    assert_eq!(f.prs().len(), 1, "the same pull request");

    // Again: nothing more is sent, and the comments are tasks already.
    let out = f.colony(&["land", "--pr", "--plan", "pr-1-fixes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("origin's colony/p already has colony/pr-1-fixes"), "{}", text(&out.stdout));
    assert_eq!(posted(&f).len(), 3);
    let out = f.colony(&["pr-fixes", "--plan", "p"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("no unresolved review comments that are not tasks already"));
}
