//! The forges' own CLIs, `gh` and `glab`: the argument lists that check a
//! login, find a branch's open pull request, open one and update it, and
//! what their answers say. Pure; `pr.rs` runs them.
//!
//! Values go after `=` in their flag (`--title=…`), so a title that begins
//! with `-` is still a title.

use colony_core::config::Forge;
use serde::Deserialize;

/// One run of a forge's CLI: its arguments, and what goes on its stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub args: Vec<String>,
    pub stdin: Option<String>,
}

/// An open pull request (a merge request, on GitLab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub number: u64,
    pub url: String,
}

/// What a pull request is opened or updated with.
#[derive(Debug, Clone, Copy)]
pub struct Proposal<'a> {
    pub head: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub draft: bool,
}

fn args<const N: usize>(words: [&str; N]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// The program, as it is found on `PATH`.
pub fn program(forge: Forge) -> &'static str {
    match forge {
        Forge::GitHub => "gh",
        Forge::GitLab => "glab",
    }
}

/// The forge's name and where its CLI comes from, for messages.
pub fn about(forge: Forge) -> &'static str {
    match forge {
        Forge::GitHub => "GitHub's CLI `gh` (https://cli.github.com)",
        Forge::GitLab => "GitLab's CLI `glab` (https://gitlab.com/gitlab-org/cli)",
    }
}

/// Exits 0 only when the CLI is logged in.
pub fn auth_status(_forge: Forge) -> Invocation {
    Invocation { args: args(["auth", "status"]), stdin: None }
}

/// Lists the open pull requests whose head is `branch`, as JSON.
pub fn find(forge: Forge, branch: &str) -> Invocation {
    let args = match forge {
        Forge::GitHub => vec![
            "pr".into(),
            "list".into(),
            format!("--head={branch}"),
            "--state=open".into(),
            "--json=number,url".into(),
        ],
        Forge::GitLab => vec!["mr".into(), "list".into(), format!("--source-branch={branch}"), "--output=json".into()],
    };
    Invocation { args, stdin: None }
}

#[derive(Deserialize)]
struct GhPr {
    number: u64,
    url: String,
}

#[derive(Deserialize)]
struct GlabMr {
    iid: u64,
    web_url: String,
}

/// The first open pull request [`find`]'s answer lists, or what is wrong
/// with the answer.
pub fn found(forge: Forge, stdout: &str) -> Result<Option<Opened>, String> {
    let bad =
        |e: serde_json::Error| format!("{} listed pull requests in a shape colony does not know: {e}", program(forge));
    Ok(match forge {
        Forge::GitHub => {
            let prs: Vec<GhPr> = serde_json::from_str(stdout).map_err(bad)?;
            prs.into_iter().next().map(|pr| Opened { number: pr.number, url: pr.url })
        }
        Forge::GitLab => {
            let mrs: Vec<GlabMr> = serde_json::from_str(stdout).map_err(bad)?;
            mrs.into_iter().next().map(|mr| Opened { number: mr.iid, url: mr.web_url })
        }
    })
}

/// Opens a pull request.
pub fn create(forge: Forge, p: Proposal<'_>) -> Invocation {
    let args = match forge {
        Forge::GitHub => vec!["pr".into(), "create".into(), format!("--head={}", p.head), format!("--base={}", p.base)],
        Forge::GitLab => vec![
            "mr".into(),
            "create".into(),
            format!("--source-branch={}", p.head),
            format!("--target-branch={}", p.base),
        ],
    };
    let mut invocation = content(forge, args, p);
    if forge == Forge::GitLab {
        invocation.args.push("--yes".into());
    }
    if p.draft {
        invocation.args.push("--draft".into());
    }
    invocation
}

/// Updates the title and description of pull request `number`, and with
/// `rebase` its base too.
pub fn update(forge: Forge, number: u64, p: Proposal<'_>, rebase: bool) -> Invocation {
    let (verb, base) = match forge {
        Forge::GitHub => (["pr", "edit"], "--base"),
        Forge::GitLab => (["mr", "update"], "--target-branch"),
    };
    let mut words = args(verb);
    words.push(number.to_string());
    if rebase {
        words.push(format!("{base}={}", p.base));
    }
    content(forge, words, p)
}

/// `args`, then the title and the description: `gh` reads the body from
/// stdin; `glab` takes it as an argument (the description is bounded well
/// below what one may hold).
fn content(forge: Forge, mut args: Vec<String>, p: Proposal<'_>) -> Invocation {
    args.push(format!("--title={}", p.title));
    match forge {
        Forge::GitHub => {
            args.push("--body-file=-".into());
            Invocation { args, stdin: Some(p.body.to_owned()) }
        }
        Forge::GitLab => {
            args.push(format!("--description={}", p.body));
            Invocation { args, stdin: None }
        }
    }
}

/// The pull request's address in what [`create`] printed: its last URL.
pub fn created_url(stdout: &str) -> Option<String> {
    stdout.split_whitespace().rev().find(|w| w.starts_with("https://") || w.starts_with("http://")).map(str::to_owned)
}

/// The number a pull request's address ends with (`…/pull/13`,
/// `…/merge_requests/3`).
pub fn number_in(url: &str) -> Option<u64> {
    url.trim_end_matches('/').rsplit('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Proposal<'static> = Proposal { head: "colony/p", base: "main", title: "-t", body: "body", draft: true };

    #[test]
    fn gh_gets_the_body_on_stdin_and_glab_as_a_value() {
        let gh = create(Forge::GitHub, P);
        assert_eq!(
            gh.args,
            ["pr", "create", "--head=colony/p", "--base=main", "--title=-t", "--body-file=-", "--draft"]
        );
        assert_eq!(gh.stdin.as_deref(), Some("body"));
        let glab = create(Forge::GitLab, Proposal { draft: false, ..P });
        assert_eq!(
            glab.args,
            [
                "mr",
                "create",
                "--source-branch=colony/p",
                "--target-branch=main",
                "--title=-t",
                "--description=body",
                "--yes"
            ]
        );
        assert_eq!(update(Forge::GitHub, 7, P, false).args, ["pr", "edit", "7", "--title=-t", "--body-file=-"]);
        assert_eq!(update(Forge::GitLab, 7, P, false).args[..3], ["mr", "update", "7"]);
        assert_eq!(update(Forge::GitHub, 7, P, true).args[3], "--base=main");
        assert_eq!(update(Forge::GitLab, 7, P, true).args[3], "--target-branch=main");
        assert_eq!(find(Forge::GitHub, "colony/p").args[2], "--head=colony/p");
    }

    #[test]
    fn answers_are_read_or_refused_saying_why() {
        let gh = r#"[{"number": 12, "url": "https://github.com/o/r/pull/12"}]"#;
        assert_eq!(
            found(Forge::GitHub, gh),
            Ok(Some(Opened { number: 12, url: "https://github.com/o/r/pull/12".into() }))
        );
        assert_eq!(found(Forge::GitHub, "[]"), Ok(None));
        let glab = r#"[{"iid": 3, "web_url": "https://gitlab.com/g/r/-/merge_requests/3", "title": "x"}]"#;
        assert_eq!(found(Forge::GitLab, glab).unwrap().map(|o| o.number), Some(3));
        assert!(found(Forge::GitHub, "not json").unwrap_err().contains("gh listed pull requests in a shape"));
        let said = "Creating pull request for colony/p into main\n\nhttps://github.com/o/r/pull/13\n";
        assert_eq!(created_url(said).as_deref(), Some("https://github.com/o/r/pull/13"));
        assert_eq!(created_url("nothing"), None);
        assert_eq!(number_in("https://github.com/o/r/pull/13"), Some(13));
        assert_eq!(number_in("https://gitlab.com/g/r/-/merge_requests/3/"), Some(3));
        assert_eq!(number_in("https://github.com/o/r/pulls"), None);
    }
}
