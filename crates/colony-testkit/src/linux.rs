//! The Linux process plumbing behind the server: whose user it runs as, how
//! it is tied to the test process, and how it is stopped.

use std::ffi::CString;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread;

/// The signal a server gets when the test process dies. `SIGINT` is
/// PostgreSQL's "fast shutdown": it ends the sessions of clients that may
/// outlive the test process (worker subprocesses) instead of waiting for
/// them, as `SIGTERM`'s "smart shutdown" would.
pub(crate) const STOP_SIGNAL: libc::c_int = libc::SIGINT;

/// The OS user the server's processes run as: `None` for the current user.
/// `initdb` and `postgres` refuse to run as root, so under root they run as
/// the `postgres` user that the distribution's package creates.
pub(crate) fn server_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let Some(ids) = lookup_user("postgres") else {
        panic!(
            "colony-testkit runs as root, and PostgreSQL refuses to; it needs the `postgres` OS user, \
             which `apt-get install postgresql-15` creates"
        );
    };
    Some(ids)
}

/// The uid and gid of `name`, from the password database.
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd (null pointers, zero ids) is a valid value
    // for getpwnam_r to overwrite.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, and `buf.len()` is the
    // size of `buf`; the reentrant variant keeps no shared state.
    let rc = unsafe { libc::getpwnam_r(name.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    (rc == 0 && !found.is_null()).then_some((pwd.pw_uid, pwd.pw_gid))
}

/// Sets `cmd` to run as `user` (when given).
pub(crate) fn run_as(cmd: &mut Command, user: Option<(u32, u32)>) {
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
}

type SpawnJob = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` as the leader of its own process group, set to receive
/// [`STOP_SIGNAL`] when the test process dies, however it dies.
///
/// The parent-death signal fires when the *thread* that forked the child
/// exits, not the process. Test harnesses run each test on a thread that
/// ends with the test, so children are forked from one thread that lives as
/// long as the process. The signal is set in `pre_exec`, which std runs
/// after switching uid and gid: a credential change clears it, so it must
/// come after.
pub(crate) fn spawn_tied(mut cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnJob>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (jobs, rx) = mpsc::channel::<SpawnJob>();
        thread::Builder::new()
            .name("colony-testkit-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    // The caller may have given up waiting; nothing to do then.
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("the spawner thread starts");
        jobs
    });
    cmd.process_group(0);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the hook runs between fork and exec and calls only
    // async-signal-safe functions (prctl, getppid), allocating nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, STOP_SIGNAL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // Had the parent died before prctl, no signal would ever come.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let (reply, answer) = mpsc::channel();
    spawner.send((cmd, reply)).expect("the spawner thread lives as long as the process");
    answer.recv().expect("the spawner thread answers every job")
}

/// Sends `signal` to one process; a process already gone is not an error.
pub(crate) fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, signal) };
}

/// Sends SIGKILL to every process of the group `pgid`.
pub(crate) fn kill_group(pgid: u32) {
    // SAFETY: killpg has no memory-safety preconditions.
    unsafe { libc::killpg(pgid as libc::pid_t, libc::SIGKILL) };
}

/// Whether a process with this pid exists (a zombie counts as gone).
pub(crate) fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesized command name.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}
