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

/// A GitLab discussion as `glab api …/discussions` gives it: its notes,
/// the first of them on `position` when it is a comment on a line.
fn discussion(id: &str, notes: &[(u64, &str, &str, bool)], position: Option<(&str, u64)>) -> Value {
    let notes: Vec<Value> = notes
        .iter()
        .enumerate()
        .map(|(i, (note, who, body, resolved))| {
            let at = position
                .filter(|_| i == 0)
                .map(|(path, line)| json!({"new_path": path, "new_line": line, "old_path": path, "old_line": null}));
            json!({"id": note, "body": body, "author": {"username": who}, "system": false,
                   "resolvable": true, "resolved": resolved, "position": at})
        })
        .collect();
    json!({"id": id, "notes": notes})
}

#[test]
fn a_merge_requests_open_discussions_become_tasks_answered_in_each_discussion() {
    let config = format!("{CONFIG}[land]\nforge = \"gitlab\"\n");
    let f = Forged::after(&config, "ssh://git.example.com/team/repo.git", PLAN, 0);
    assert_eq!(f.colony(&["land", "--pr"]).status.code(), Some(0));

    // Two open discussions (one on a line, one on the whole request), one
    // resolved, a comment nobody can resolve and a system note; glab's
    // `--paginate` prints them page after page.
    let system = json!({"id": "s", "notes": [{"id": 9, "body": "added 1 commit", "author": {"username": "bot"},
                                              "system": true}]});
    let plain = json!({"id": "n", "notes": [{"id": 8, "body": "Nice", "author": {"username": "fay"},
                                             "resolvable": false}]});
    let first = json!([
        discussion(
            "d1",
            &[(11, "alice", "Name it better", false), (12, "bob", "Agreed", false)],
            Some(("good.txt", 1))
        ),
        discussion("d2", &[(21, "carol", "Done already", true)], Some(("good.txt", 1))),
    ]);
    let second = json!([discussion("d3", &[(31, "dave", "Add a changelog line", false)], None), plain, system]);
    let pages = format!("{first}\n{second}");
    let endpoint = "projects/:fullpath/merge_requests/1/discussions";
    std::fs::write(f.state.join("api.json"), json!({ endpoint: pages }).to_string()).unwrap();
    let out = f.colony(&["pr-fixes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("wrote plans/pr-1-fixes.yaml: 2 tasks"), "{}", text(&out.stdout));
    let out = f.colony(&["export", "--plan", "pr-1-fixes", "--format", "json"]);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tasks = plan["tasks"].as_array().unwrap();
    let ids: Vec<&str> = tasks.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["fix-11", "fix-31"]);
    assert_eq!(tasks[0]["files"], json!(["good.txt"]));
    let prompt = tasks[0]["prompt"].as_str().unwrap();
    assert!(prompt.contains("on `good.txt` at line 1") && prompt.contains("@bob replied:\n\n> Agreed"), "{prompt}");
    assert!(tasks[1].get("files").is_none_or(Value::is_null), "a comment on no file names none: {}", tasks[1]);

    let out = f.colony(&["run", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = f.colony(&["land", "--pr", "--plan", "pr-1-fixes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let replies = posted(&f);
    let endpoints: Vec<&str> = replies.iter().map(|r| r["endpoint"].as_str().unwrap()).collect();
    assert_eq!(
        endpoints,
        [
            "projects/:fullpath/merge_requests/1/discussions/d1/notes",
            "projects/:fullpath/merge_requests/1/discussions/d3/notes"
        ]
    );
    assert!(replies.iter().all(|r| r["forge"] == "glab"), "{replies:?}");
    assert!(replies[1]["fields"]["body"].as_str().unwrap().ends_with("(task `fix-31` of plan `pr-1-fixes`)."));
    assert_eq!(f.prs().len(), 1, "the same merge request");
}
