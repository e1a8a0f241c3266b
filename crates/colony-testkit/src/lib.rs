//! Fixtures for colony's tests: a real PostgreSQL server, started from the
//! binaries installed on the machine, and a TCP [`Proxy`] that cuts the
//! connections to it.
//!
//! The PostgreSQL store is only trustworthy when its tests run against the
//! real thing (row locks, `SKIP LOCKED`, deadlock codes), so tests get a
//! private server in a temporary directory instead of a mock or a server
//! someone has to set up. A missing installation is a loud panic, never a
//! skipped test.
//!
//! ```no_run
//! use colony_testkit::PgServer;
//!
//! let url = PgServer::shared().fresh_db(); // an empty database of its own
//! ```
//!
//! The server runs with `fsync`, `synchronous_commit` and
//! `full_page_writes` off: it is thrown away after the test run, so
//! durability would only cost time. Figures measured on it say nothing about
//! a durable server's commit latency.

#[cfg(not(target_os = "linux"))]
compile_error!("colony-testkit ties each PostgreSQL server to the test process with Linux's parent-death signal");

mod block;
mod linux;
mod proxy;
mod server;

pub use proxy::Proxy;
pub use server::PgServer;
