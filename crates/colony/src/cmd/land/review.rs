//! A pull request's review comments through the forges' own CLIs: the
//! argument lists that look a pull request up, read its review threads
//! and reply to one, and what their answers say. Pure; `fixes.rs` runs
//! them.
//!
//! GitHub's resolved state belongs to a thread and only its GraphQL API
//! has it (`reviewThreads { isResolved }`; the REST list of review
//! comments does not say), so threads are read with `gh api graphql
//! --paginate`, which asks for page after page through `$endCursor` and
//! prints each page's JSON one after another. A reply goes to the
//! thread's first comment through REST
//! (`repos/{owner}/{repo}/pulls/N/comments/ID/replies`). GitLab's
//! discussions endpoint has both (`resolvable`, `resolved` on each note),
//! read with `glab api --paginate`, and a reply is a note added to the
//! discussion. `{owner}`, `{repo}` and `:fullpath` are the CLIs' own
//! placeholders for the repository they are run in.

use colony_core::config::Forge;
use serde::Deserialize;

use super::forge::Invocation;

/// A pull request looked up by number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewed {
    pub number: u64,
    pub url: String,
    /// Its head branch, where its commits are.
    pub head: String,
    pub open: bool,
}

/// A review thread nobody has resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    /// What a reply goes to: the first comment's id on GitHub, the
    /// discussion's id on GitLab.
    pub reply_to: String,
    /// The file and line it is on, when it is on one.
    pub path: Option<String>,
    pub line: Option<u64>,
    /// Its comments in order, the review comment first.
    pub comments: Vec<Comment>,
}

/// One comment of a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Its id on the forge, unique there.
    pub id: String,
    pub author: String,
    pub body: String,
}

/// Looks pull request `number` up, as JSON.
pub fn view(forge: Forge, number: u64) -> Invocation {
    let args = match forge {
        Forge::GitHub => {
            vec!["pr".into(), "view".into(), number.to_string(), "--json=number,url,headRefName,state".into()]
        }
        Forge::GitLab => vec!["mr".into(), "view".into(), number.to_string(), "--output=json".into()],
    };
    Invocation { args, stdin: None }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GhView {
    number: u64,
    url: String,
    head_ref_name: String,
    state: String,
}

#[derive(Deserialize)]
struct GlabView {
    iid: u64,
    web_url: String,
    source_branch: String,
    state: String,
}

/// What [`view`] printed.
pub fn viewed(forge: Forge, stdout: &str) -> Result<Viewed, String> {
    let bad = |e: serde_json::Error| format!("the pull request came back in a shape colony does not know: {e}");
    Ok(match forge {
        Forge::GitHub => {
            let pr: GhView = serde_json::from_str(stdout).map_err(bad)?;
            Viewed { number: pr.number, url: pr.url, head: pr.head_ref_name, open: pr.state == "OPEN" }
        }
        Forge::GitLab => {
            let mr: GlabView = serde_json::from_str(stdout).map_err(bad)?;
            Viewed { number: mr.iid, url: mr.web_url, head: mr.source_branch, open: mr.state == "opened" }
        }
    })
}

/// GitHub's review threads of a pull request, a hundred a page.
const THREADS: &str = "query($owner: String!, $name: String!, $number: Int!, $endCursor: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 100, after: $endCursor) {
        pageInfo { hasNextPage endCursor }
        nodes {
          isResolved
          path
          line
          comments(first: 100) { nodes { databaseId body author { login } } }
        }
      }
    }
  }
}";

/// Reads every review thread of pull request `number`.
pub fn threads(forge: Forge, number: u64) -> Invocation {
    let args = match forge {
        Forge::GitHub => vec![
            "api".into(),
            "graphql".into(),
            "--paginate".into(),
            "--field=owner={owner}".into(),
            "--field=name={repo}".into(),
            format!("--field=number={number}"),
            format!("--raw-field=query={THREADS}"),
        ],
        Forge::GitLab => {
            vec!["api".into(), "--paginate".into(), format!("projects/:fullpath/merge_requests/{number}/discussions")]
        }
    };
    Invocation { args, stdin: None }
}

#[derive(Deserialize)]
struct GhPage {
    data: GhData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GhData {
    repository: GhRepository,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GhRepository {
    pull_request: GhPull,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GhPull {
    review_threads: Nodes<GhThread>,
}

#[derive(Deserialize)]
struct Nodes<T> {
    nodes: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GhThread {
    is_resolved: bool,
    path: Option<String>,
    line: Option<u64>,
    comments: Nodes<GhComment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GhComment {
    database_id: u64,
    body: String,
    /// `null` for an account that was deleted.
    author: Option<GhAuthor>,
}

#[derive(Deserialize)]
struct GhAuthor {
    login: String,
}

#[derive(Deserialize)]
struct GlabDiscussion {
    id: String,
    notes: Vec<GlabNote>,
}

#[derive(Deserialize)]
struct GlabNote {
    id: u64,
    body: String,
    author: GlabAuthor,
    #[serde(default)]
    system: bool,
    #[serde(default)]
    resolvable: bool,
    #[serde(default)]
    resolved: bool,
    position: Option<GlabPosition>,
}

#[derive(Deserialize)]
struct GlabAuthor {
    username: String,
}

#[derive(Deserialize)]
struct GlabPosition {
    new_path: Option<String>,
    new_line: Option<u64>,
    old_path: Option<String>,
    old_line: Option<u64>,
}

/// The threads nobody resolved in what [`threads`] printed: one JSON
/// document per page, one after another.
pub fn unresolved(forge: Forge, stdout: &str) -> Result<Vec<Thread>, String> {
    let bad = |e: serde_json::Error| format!("the review comments came back in a shape colony does not know: {e}");
    let mut found = Vec::new();
    match forge {
        Forge::GitHub => {
            for page in serde_json::Deserializer::from_str(stdout).into_iter::<GhPage>() {
                for thread in page.map_err(bad)?.data.repository.pull_request.review_threads.nodes {
                    let Some(first) = thread.comments.nodes.first() else { continue };
                    if thread.is_resolved {
                        continue;
                    }
                    found.push(Thread {
                        reply_to: first.database_id.to_string(),
                        path: thread.path,
                        line: thread.line,
                        comments: thread
                            .comments
                            .nodes
                            .into_iter()
                            .map(|c| Comment {
                                id: c.database_id.to_string(),
                                author: c.author.map_or_else(|| "ghost".to_owned(), |a| a.login),
                                body: c.body,
                            })
                            .collect(),
                    });
                }
            }
        }
        Forge::GitLab => {
            for page in serde_json::Deserializer::from_str(stdout).into_iter::<Vec<GlabDiscussion>>() {
                for discussion in page.map_err(bad)? {
                    let notes: Vec<GlabNote> = discussion.notes.into_iter().filter(|n| !n.system).collect();
                    let Some(first) = notes.first() else { continue };
                    if !first.resolvable || notes.iter().all(|n| n.resolved) {
                        continue;
                    }
                    let (path, line) = match &first.position {
                        Some(p) => (p.new_path.clone().or_else(|| p.old_path.clone()), p.new_line.or(p.old_line)),
                        None => (None, None),
                    };
                    found.push(Thread {
                        reply_to: discussion.id,
                        path,
                        line,
                        comments: notes
                            .into_iter()
                            .map(|n| Comment { id: n.id.to_string(), author: n.author.username, body: n.body })
                            .collect(),
                    });
                }
            }
        }
    }
    Ok(found)
}

/// Replies `body` to the thread [`Thread::reply_to`] names on pull
/// request `number`.
pub fn reply(forge: Forge, number: u64, reply_to: &str, body: &str) -> Invocation {
    let endpoint = match forge {
        Forge::GitHub => format!("repos/{{owner}}/{{repo}}/pulls/{number}/comments/{reply_to}/replies"),
        Forge::GitLab => format!("projects/:fullpath/merge_requests/{number}/discussions/{reply_to}/notes"),
    };
    Invocation {
        args: vec!["api".into(), "--method=POST".into(), endpoint, format!("--raw-field=body={body}")],
        stdin: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_threads_come_page_after_page_and_resolved_ones_are_left_out() {
        let page = |threads: &str| {
            format!(
                r#"{{"data":{{"repository":{{"pullRequest":{{"reviewThreads":{{"pageInfo":{{"hasNextPage":false,"endCursor":null}},"nodes":[{threads}]}}}}}}}}}}"#
            )
        };
        let open = r#"{"isResolved":false,"path":"src/a.rs","line":12,"comments":{"nodes":[
            {"databaseId":101,"body":"Rename this","author":{"login":"alice"}},
            {"databaseId":102,"body":"Agreed","author":null}]}}"#;
        let done = r#"{"isResolved":true,"path":"b.rs","line":1,"comments":{"nodes":[
            {"databaseId":201,"body":"Fixed","author":{"login":"bob"}}]}}"#;
        let text = format!("{}{}", page(open), page(done));
        let threads = unresolved(Forge::GitHub, &text).unwrap();
        assert_eq!(threads.len(), 1);
        let t = &threads[0];
        assert_eq!((t.reply_to.as_str(), t.path.as_deref(), t.line), ("101", Some("src/a.rs"), Some(12)));
        assert_eq!(t.comments[1].author, "ghost", "a deleted account");
        assert!(unresolved(Forge::GitHub, "{}").unwrap_err().contains("in a shape colony does not know"));
    }

    #[test]
    fn gitlab_discussions_count_when_resolvable_and_not_resolved() {
        let text = r#"[
          {"id":"d1","notes":[{"id":1,"body":"Use a constant","author":{"username":"carol"},"resolvable":true,"resolved":false,
             "position":{"new_path":"lib.rs","new_line":4,"old_path":"lib.rs","old_line":null}}]},
          {"id":"d2","notes":[{"id":2,"body":"Done","author":{"username":"dan"},"resolvable":true,"resolved":true}]},
          {"id":"d3","notes":[{"id":3,"body":"Nice work","author":{"username":"erin"},"resolvable":false}]},
          {"id":"d4","notes":[{"id":4,"body":"changed the description","author":{"username":"erin"},"system":true}]}
        ]"#;
        let threads = unresolved(Forge::GitLab, text).unwrap();
        assert_eq!(threads.len(), 1, "{threads:?}");
        assert_eq!((threads[0].reply_to.as_str(), threads[0].line), ("d1", Some(4)));
        assert_eq!(threads[0].comments[0].author, "carol");
    }

    #[test]
    fn the_command_lines_name_the_pull_request_and_give_values_after_their_flag() {
        assert_eq!(view(Forge::GitHub, 7).args, ["pr", "view", "7", "--json=number,url,headRefName,state"]);
        assert_eq!(view(Forge::GitLab, 7).args, ["mr", "view", "7", "--output=json"]);
        let gh = threads(Forge::GitHub, 7).args;
        assert_eq!(
            gh[..6],
            ["api", "graphql", "--paginate", "--field=owner={owner}", "--field=name={repo}", "--field=number=7"]
        );
        assert!(gh[6].starts_with("--raw-field=query=query($owner"));
        assert_eq!(
            reply(Forge::GitHub, 7, "101", "-x").args,
            ["api", "--method=POST", "repos/{owner}/{repo}/pulls/7/comments/101/replies", "--raw-field=body=-x"]
        );
        assert_eq!(
            reply(Forge::GitLab, 7, "d1", "b").args[2],
            "projects/:fullpath/merge_requests/7/discussions/d1/notes"
        );
        let gh = r#"{"number":7,"url":"https://github.com/o/r/pull/7","headRefName":"colony/p","state":"OPEN"}"#;
        assert_eq!(
            viewed(Forge::GitHub, gh),
            Ok(Viewed { number: 7, url: "https://github.com/o/r/pull/7".into(), head: "colony/p".into(), open: true })
        );
    }
}
