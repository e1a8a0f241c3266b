//! `colony mcp attempt`: the MCP server an attempt's agent's CLI starts.
//! It serves nothing itself: it connects to the socket of the colony that
//! runs the attempt, sends the attempt's key, and passes the session
//! through both ways until either side ends it. Both come from the
//! environment colony gave the CLI's server entry.

use anyhow::{Context, Result, bail};
use colony_engine::talk::{KEY_VAR, SOCKET_VAR};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

pub async fn run() -> Result<()> {
    let (Ok(socket), Ok(key)) = (std::env::var(SOCKET_VAR), std::env::var(KEY_VAR)) else {
        bail!(
            "colony mcp attempt is started by an agent's CLI for an attempt colony runs, with {SOCKET_VAR} \
             and {KEY_VAR} set; for your own agent session, use `colony mcp`"
        );
    };
    let stream = UnixStream::connect(&socket)
        .await
        .with_context(|| format!("could not reach the colony running this attempt at {socket}"))?;
    let (mut from_colony, mut to_colony) = stream.into_split();
    to_colony.write_all(format!("{key}\n").as_bytes()).await?;
    let up = async {
        tokio::io::copy(&mut tokio::io::stdin(), &mut to_colony).await?;
        to_colony.shutdown().await
    };
    let down = async {
        let mut stdout = tokio::io::stdout();
        tokio::io::copy(&mut from_colony, &mut stdout).await?;
        stdout.flush().await
    };
    // The session is over when colony ends it (the attempt ended), or,
    // once the agent closed our stdin, when colony has answered the rest.
    tokio::pin!(down);
    tokio::select! {
        went = &mut down => return went.context("the session with colony broke"),
        came = up => came.context("the session with the agent broke")?,
    }
    down.await.context("the session with colony broke")
}
