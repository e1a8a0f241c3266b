//! Fake forge CLIs, `gh` and `glab`, for tests of `colony land --pr` and
//! `colony pr-fixes`: one program that plays the CLI it is linked as, for
//! the commands colony runs. It keeps its pull requests in
//! `$COLONY_FAKE_FORGE_DIR/prs.json`, logs every call (arguments and stdin)
//! to `calls.jsonl` there, and is logged out while a file `logged-out` is
//! there, answering as the real CLIs do. `api` reads (`GET`, and GitHub's
//! `graphql`) answer what `api.json` there holds for the endpoint, as
//! written on the command line (a JSON string there is printed as it is,
//! as `--paginate` prints pages); `api --method=POST` calls are recorded in
//! `posted.jsonl` there, with their `--raw-field`s.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};
use serde_json::json;

/// A pull request the fake holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pr {
    number: u64,
    head: String,
    base: String,
    title: String,
    body: String,
    draft: bool,
    url: String,
}

/// The CLI it plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Gh,
    Glab,
}

/// Runs the fake forge CLI this executable is linked as.
pub fn run_forge() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let name = argv.first().map(|a| a.rsplit('/').next().unwrap_or(a).to_owned()).unwrap_or_default();
    let which = match name.as_str() {
        "glab" => Which::Glab,
        _ => Which::Gh,
    };
    let Some(dir) = std::env::var_os("COLONY_FAKE_FORGE_DIR").map(PathBuf::from) else {
        eprintln!("{name}: COLONY_FAKE_FORGE_DIR is not set");
        return ExitCode::from(2);
    };
    let args = &argv[1..];
    let mut stdin = String::new();
    if args.iter().any(|a| a == "--body-file=-") || args.windows(2).any(|w| w[0] == "--body-file" && w[1] == "-") {
        let _ = io::stdin().read_to_string(&mut stdin);
    }
    let call = json!({"forge": name, "args": args, "stdin": stdin});
    let logged = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("calls.jsonl"))
        .and_then(|mut f| f.write_all(format!("{call}\n").as_bytes()));
    if let Err(e) = logged {
        eprintln!("{name}: cannot log the call: {e}");
        return ExitCode::from(2);
    }
    match answer(which, &dir, args, stdin) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(said) => {
            eprintln!("{said}");
            ExitCode::FAILURE
        }
    }
}

/// What the call prints, or its error.
fn answer(which: Which, dir: &std::path::Path, args: &[String], stdin: String) -> Result<String, String> {
    let words: Vec<&str> = args.iter().map(String::as_str).filter(|a| !a.starts_with('-')).collect();
    let flags = flags(args);
    let flag = |name: &str| flags.get(name).cloned().unwrap_or_default();
    if words.starts_with(&["auth", "status"]) {
        return match (dir.join("logged-out").exists(), which) {
            (true, Which::Gh) => Err("You are not logged into any GitHub hosts. To log in, run: gh auth login".into()),
            (true, Which::Glab) => Err("x gitlab.com: No token found (checked config file, keyring, and environment \
                                        variables).\n  - To authenticate, run 'glab auth login'."
                .into()),
            (false, _) => Ok("Logged in as colony-test\n".into()),
        };
    }
    let path = dir.join("prs.json");
    let mut prs: Vec<Pr> = match fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| e.to_string())?,
        Err(_) => Vec::new(),
    };
    let url = |n: u64| match which {
        Which::Gh => format!("https://github.com/fake/repo/pull/{n}"),
        Which::Glab => format!("https://gitlab.com/fake/repo/-/merge_requests/{n}"),
    };
    let out = match (which, words.get(..2)) {
        (Which::Gh, Some(["pr", "list"])) => {
            let open: Vec<_> = prs
                .iter()
                .filter(|p| p.head == flag("head"))
                .map(|p| json!({"number": p.number, "url": p.url}))
                .collect();
            serde_json::to_string(&open).unwrap_or_default()
        }
        (Which::Glab, Some(["mr", "list"])) => {
            let open: Vec<_> = prs
                .iter()
                .filter(|p| p.head == flag("source-branch"))
                .map(|p| json!({"iid": p.number, "web_url": p.url, "title": p.title}))
                .collect();
            serde_json::to_string(&open).unwrap_or_default()
        }
        (_, Some(["pr", "create"] | ["mr", "create"])) => {
            let (head, base, body) = match which {
                Which::Gh => (flag("head"), flag("base"), stdin),
                Which::Glab => (flag("source-branch"), flag("target-branch"), flag("description")),
            };
            if let Some(open) = prs.iter().find(|p| p.head == head) {
                return Err(format!(
                    "a pull request for branch \"{head}\" into branch \"{}\" already exists:\n{}",
                    open.base, open.url
                ));
            }
            let number = prs.len() as u64 + 1;
            let draft = args.iter().any(|a| a == "--draft");
            prs.push(Pr { number, head, base, title: flag("title"), body, draft, url: url(number) });
            format!("\nCreating pull request\n\n{}\n", url(number))
        }
        (Which::Gh, Some(["pr", "view"])) | (Which::Glab, Some(["mr", "view"])) => {
            let number: u64 = words.get(2).and_then(|n| n.parse().ok()).ok_or("no number given")?;
            let Some(pr) = prs.iter().find(|p| p.number == number) else {
                return Err(match which {
                    Which::Gh => format!(
                        "GraphQL: Could not resolve to a PullRequest with the number of {number}. \
                         (repository.pullRequest)"
                    ),
                    Which::Glab => "ERROR: 404 Not Found".to_owned(),
                });
            };
            let shown = match which {
                Which::Gh => json!({"number": pr.number, "url": pr.url, "headRefName": pr.head, "state": "OPEN"}),
                Which::Glab => {
                    json!({"iid": pr.number, "web_url": pr.url, "source_branch": pr.head, "state": "opened"})
                }
            };
            return Ok(format!("{shown}\n"));
        }
        (_, Some(["api", endpoint])) => return api(dir, &name_of(which), endpoint, args),
        (_, Some(["pr", "edit"] | ["mr", "update"])) => {
            let number: u64 = words.get(2).and_then(|n| n.parse().ok()).ok_or("no number given")?;
            let pr = prs.iter_mut().find(|p| p.number == number).ok_or(format!("no pull request {number}"))?;
            pr.title = flag("title");
            let base = flag(if which == Which::Gh { "base" } else { "target-branch" });
            if !base.is_empty() {
                pr.base = base;
            }
            pr.body = if which == Which::Gh { stdin } else { flag("description") };
            format!("{}\n", pr.url)
        }
        _ => return Err(format!("unknown command {:?}", args)),
    };
    fs::write(&path, serde_json::to_string_pretty(&prs).unwrap_or_default()).map_err(|e| e.to_string())?;
    Ok(out)
}

fn name_of(which: Which) -> String {
    match which {
        Which::Gh => "gh".into(),
        Which::Glab => "glab".into(),
    }
}

/// `gh api` and `glab api`: a read answers from `api.json`; a `POST` is
/// recorded in `posted.jsonl` and answered with its place there.
fn api(dir: &std::path::Path, name: &str, endpoint: &str, args: &[String]) -> Result<String, String> {
    if args.iter().any(|a| a == "--method=POST") {
        let fields: BTreeMap<&str, &str> =
            args.iter().filter_map(|a| a.strip_prefix("--raw-field=")?.split_once('=')).collect();
        let posted = dir.join("posted.jsonl");
        let before = fs::read_to_string(&posted).map(|t| t.lines().count()).unwrap_or(0);
        let line = json!({"forge": name, "endpoint": endpoint, "fields": fields});
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&posted)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()))
            .map_err(|e| e.to_string())?;
        return Ok(format!("{}\n", json!({"id": before + 1})));
    }
    let recorded: serde_json::Value = match fs::read_to_string(dir.join("api.json")) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| e.to_string())?,
        Err(_) => json!({}),
    };
    match recorded.get(endpoint) {
        // A text is printed as it is: pages one after another.
        Some(serde_json::Value::String(pages)) => Ok(format!("{pages}\n")),
        Some(answer) => Ok(format!("{answer}\n")),
        None => Err(format!("{name}: HTTP 404: Not Found ({endpoint})")),
    }
}

/// `--name=value` and `--name value` flags, by name.
fn flags(args: &[String]) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut i = 0;
    while i < args.len() {
        if let Some(flag) = args[i].strip_prefix("--") {
            match flag.split_once('=') {
                Some((name, value)) => {
                    found.insert(name.to_owned(), value.to_owned());
                }
                None if args.get(i + 1).is_some_and(|next| !next.starts_with("--")) => {
                    found.insert(flag.to_owned(), args[i + 1].clone());
                    i += 1;
                }
                None => {
                    found.insert(flag.to_owned(), String::new());
                }
            }
        }
        i += 1;
    }
    found
}
