//! Where notices go: a command, a webhook, the desktop. Each delivers one
//! notice and says how it went; retrying is `health.rs`'s to decide.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::health::Outcome;
use super::notice::Notice;
use super::sign;

/// How long a command or a webhook has to take a notice.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One way of telling a person.
pub(crate) enum Sink {
    /// `[notify] command`: run once per notice, the notice on stdin.
    Command(Vec<String>),
    /// `[notify] webhook`: POSTed to, signed when there is a secret.
    Webhook { client: reqwest::Client, url: String, secret: Option<Vec<u8>> },
    /// `[notify] desktop`: `notify-send`.
    Desktop,
}

impl Sink {
    /// A webhook posting to `url`, signing with `secret`.
    pub fn webhook(url: String, secret: Option<Vec<u8>>) -> Result<Sink, String> {
        let client = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("colony/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Sink::Webhook { client, url, secret })
    }

    /// Its name: its key in `[notify]`, and its row in the store.
    pub fn name(&self) -> &'static str {
        match self {
            Sink::Command(_) => "command",
            Sink::Webhook { .. } => "webhook",
            Sink::Desktop => "desktop",
        }
    }

    pub async fn deliver(&self, notice: &Notice) -> Outcome {
        match self {
            Sink::Command(argv) => command(argv, notice).await,
            Sink::Webhook { client, url, secret } => webhook(client, url, secret.as_deref(), notice).await,
            Sink::Desktop => desktop(notice).await,
        }
    }
}

/// Runs the command with the notice's JSON, and a newline, on its stdin.
async fn command(argv: &[String], notice: &Notice) -> Outcome {
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env("COLONY_NOTICE", notice.event)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => return Outcome::Failed(format!("could not start {}: {e}", argv[0])),
    };
    let body = format!("{}\n", notice.json());
    let ran = tokio::time::timeout(DELIVERY_TIMEOUT, async {
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read its input still counts by its exit.
            let _ = stdin.write_all(body.as_bytes()).await;
        }
        child.wait().await
    })
    .await;
    match ran {
        Ok(Ok(status)) if status.success() => Outcome::Delivered,
        Ok(Ok(status)) => Outcome::Failed(format!("{} {status}", argv[0])),
        Ok(Err(e)) => Outcome::Failed(format!("{}: {e}", argv[0])),
        Err(_) => Outcome::Failed(format!("{} did not finish in {}s", argv[0], DELIVERY_TIMEOUT.as_secs())),
    }
}

async fn webhook(client: &reqwest::Client, url: &str, secret: Option<&[u8]>, notice: &Notice) -> Outcome {
    let body = notice.json();
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Colony-Event", notice.event)
        .header("X-Colony-Delivery", notice.seq.to_string());
    if let Some(secret) = secret {
        request = request.header(sign::HEADER, sign::signature(secret, body.as_bytes()));
    }
    match request.body(body).send().await {
        Ok(answer) => {
            let status = answer.status();
            if status.is_success() {
                Outcome::Delivered
            } else if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
                Outcome::Failed(format!("HTTP {status}"))
            } else {
                Outcome::Refused(format!("HTTP {status}"))
            }
        }
        Err(e) => Outcome::Failed(short_error(&e)),
    }
}

/// The desktop's notifier, once: a notice missed there is not worth a
/// retry, and `notify-send` exits at once either way.
async fn desktop(notice: &Notice) -> Outcome {
    let status = tokio::process::Command::new("notify-send")
        .arg("--app-name=colony")
        .arg("--")
        .arg("colony")
        .arg(&notice.text)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .status();
    match tokio::time::timeout(DELIVERY_TIMEOUT, status).await {
        Ok(Ok(status)) if status.success() => Outcome::Delivered,
        Ok(Ok(status)) => Outcome::Refused(format!("notify-send {status}")),
        Ok(Err(e)) => Outcome::Refused(format!("could not run notify-send: {e}")),
        Err(_) => Outcome::Refused("notify-send did not finish".into()),
    }
}

/// The innermost cause of a request's failure: what the person can act on
/// ("connection refused", "timed out").
fn short_error(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if e.is_timeout() { format!("no answer in {}s", DELIVERY_TIMEOUT.as_secs()) } else { cause.to_string() }
}
