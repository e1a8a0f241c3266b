//! [`PgServer`]: a PostgreSQL server of the test process's own, in a
//! temporary directory.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::block::block_on;
use crate::linux;

/// The database superuser `initdb` creates, whatever the OS user.
const SUPERUSER: &str = "postgres";
/// Server directories are `<temp>/colony-pg-<pid of the test process>-<tag>`,
/// so a later run can tell which ones a dead process left behind.
const DIR_PREFIX: &str = "colony-pg-";
/// How long a server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a fast shutdown may take before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Servers started on a port someone else took in the meantime are retried
/// on a new port this many times.
const PORT_TRIES: u32 = 5;

/// A running PostgreSQL server with trust authentication on
/// `127.0.0.1:<port>`, whose superuser is `postgres`.
///
/// It dies with the test process even when that is killed with SIGKILL
/// (see [`linux::spawn_tied`]). Durability is off (`fsync=off` and friends):
/// the data is thrown away.
pub struct PgServer {
    port: u16,
    dir: PathBuf,
    postmaster: Child,
    next_db: AtomicU32,
}

impl PgServer {
    /// One server per test process, started on first use. It stops when the
    /// process exits; its directory is removed by the first server started
    /// after that.
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<PgServer> = OnceLock::new();
        SHARED.get_or_init(|| PgServer::launch("shared"))
    }

    /// A private server in a directory of its own, stopped and removed on
    /// drop.
    pub fn start() -> PgServer {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        PgServer::launch(&NEXT.fetch_add(1, Ordering::Relaxed).to_string())
    }

    /// Creates an empty database with a name not used before on this server
    /// and returns its URL.
    pub fn fresh_db(&self) -> String {
        let name = format!("test_{}", self.next_db.fetch_add(1, Ordering::Relaxed));
        let admin = self.url("postgres");
        let created = block_on(async {
            let mut conn = PgConnection::connect(&admin).await?;
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
            conn.close().await
        });
        if let Err(e) = created {
            panic!("creating database {name} on {admin} failed: {e}\n{}", self.log_tail());
        }
        self.url(&name)
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{db}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's pid; it leads the process group of all the server's
    /// processes.
    pub fn pid(&self) -> u32 {
        self.postmaster.id()
    }

    fn launch(tag: &str) -> PgServer {
        remove_stale_dirs();
        let bin = bindir();
        let user = linux::server_user();
        let dir = std::env::temp_dir().join(format!("{DIR_PREFIX}{}-{tag}", std::process::id()));
        // Only a dead process with our pid can have left this behind.
        let _ = fs::remove_dir_all(&dir);
        make_private_dir(&dir, user);
        make_private_dir(&dir.join("sock"), user);
        initdb(&bin, &dir, user);
        for _ in 0..PORT_TRIES {
            let port = free_port();
            let mut postmaster = spawn_postgres(&bin, &dir, port, user);
            match wait_ready(&mut postmaster, port, &dir) {
                Ok(()) => return PgServer { port, dir, postmaster, next_db: AtomicU32::new(0) },
                Err(why) => {
                    stop(&mut postmaster);
                    let log = log_tail(&dir);
                    if !log.contains("could not bind") {
                        panic!("PostgreSQL in {} did not start ({why}):\n{log}", dir.display());
                    }
                    eprintln!("colony-testkit: port {port} was taken ({why}); trying another");
                }
            }
        }
        panic!("PostgreSQL in {} found no free port in {PORT_TRIES} tries", dir.display())
    }

    fn log_tail(&self) -> String {
        log_tail(&self.dir)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        stop(&mut self.postmaster);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Asks the postmaster for a fast shutdown and waits for it; kills the
/// whole process group if it takes too long.
fn stop(postmaster: &mut Child) {
    let pid = postmaster.id();
    linux::signal(pid, linux::STOP_SIGNAL);
    let deadline = Instant::now() + STOP_TIMEOUT;
    while matches!(postmaster.try_wait(), Ok(None)) {
        if Instant::now() > deadline {
            linux::kill_group(pid);
            let _ = postmaster.wait();
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the server in `dir` answers queries on `port`; `Err` with
/// how it ended if it exited or timed out first.
fn wait_ready(postmaster: &mut Child, port: u16, dir: &Path) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let url = format!("postgres://{SUPERUSER}@127.0.0.1:{port}/postgres");
    let data_dir = dir.join("data").to_string_lossy().into_owned();
    loop {
        if let Some(status) = postmaster.try_wait().ok().flatten() {
            return Err(format!("postgres exited with {status}"));
        }
        // Another test process's server may sit on the port while ours
        // fails to bind it, so "it answers" must mean "ours answers".
        if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
            && block_on(data_directory(&url)).is_ok_and(|d| d == data_dir)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not accepting connections after {READY_TIMEOUT:?}"));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn log_tail(dir: &Path) -> String {
    let log = fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

async fn data_directory(url: &str) -> Result<String, sqlx::Error> {
    let mut conn = PgConnection::connect(url).await?;
    let dir: String = sqlx::query_scalar("SELECT current_setting('data_directory')").fetch_one(&mut conn).await?;
    conn.close().await?;
    Ok(dir)
}

/// The directory holding `initdb` and `postgres`: the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian's layout), else what
/// `pg_config --bindir` says.
fn bindir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if bin.join("initdb").is_file() {
            return bin;
        }
    }
    panic!(
        "PostgreSQL server binaries (initdb, postgres) were not found in /usr/lib/postgresql/*/bin \
         or `pg_config --bindir`; the PostgreSQL tests need them: apt-get install postgresql-15"
    )
}

/// Creates `dir` with mode 0700, owned by the server's user: PostgreSQL
/// refuses a data directory others can read.
fn make_private_dir(dir: &Path, user: Option<(u32, u32)>) {
    let made =
        fs::create_dir(dir).and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(0o700))).and_then(|()| {
            match user {
                Some((uid, gid)) => std::os::unix::fs::chown(dir, Some(uid), Some(gid)),
                None => Ok(()),
            }
        });
    if let Err(e) = made {
        panic!("cannot prepare {} for PostgreSQL: {e}", dir.display());
    }
}

fn initdb(bin: &Path, dir: &Path, user: Option<(u32, u32)>) {
    let mut cmd = Command::new(bin.join("initdb"));
    cmd.arg("-D")
        .arg(dir.join("data"))
        .args(["-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
        // The server's user may not be allowed into the caller's directory.
        .current_dir(dir)
        .stdin(Stdio::null());
    linux::run_as(&mut cmd, user);
    match cmd.output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "initdb in {} failed ({}):\n{}{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("cannot run {}: {e}", bin.join("initdb").display()),
    }
}

fn spawn_postgres(bin: &Path, dir: &Path, port: u16, user: Option<(u32, u32)>) -> Child {
    let log_path = dir.join("server.log");
    // Truncated per try, so a bind failure read from it is this try's.
    let log = fs::File::create(&log_path).unwrap_or_else(|e| panic!("cannot open {}: {e}", log_path.display()));
    let log_err = log.try_clone().unwrap_or_else(|e| panic!("cannot share {}: {e}", log_path.display()));
    let mut cmd = Command::new(bin.join("postgres"));
    cmd.arg("-D")
        .arg(dir.join("data"))
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(dir.join("sock"))
        .args(["-c", "listen_addresses=127.0.0.1"])
        // Throwaway data: durability only costs time.
        .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
        // Each store pool holds a few connections, and tests run several
        // worker processes against one server at once.
        .args(["-c", "max_connections=200"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    linux::run_as(&mut cmd, user);
    linux::spawn_tied(cmd).unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.join("postgres").display()))
}

/// A port nobody listens on right now. Another process may take it before
/// the server binds it; [`PgServer::launch`] then retries.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("an ephemeral port on 127.0.0.1 can be bound");
    listener.local_addr().expect("a bound socket has an address").port()
}

/// Removes the server directories of test processes that have died (a
/// shared server's directory outlives its process), once per process.
fn remove_stale_dirs() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let Ok(entries) = fs::read_dir(std::env::temp_dir()) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix(DIR_PREFIX))
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
            else {
                continue;
            };
            if !linux::alive(pid) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    });
}
