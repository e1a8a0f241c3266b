//! A full disk under the repository: the work an attempt could not write
//! is not its agent's failure.
//!
//! An attempt that ends because the disk holding its worktree is full (git
//! or a file write says so, or its agent failed while no room was left)
//! gives its task back without counting a try, and the run's workers claim
//! nothing new until the disk has room again; they look every few seconds.
//! (A full disk under the store is `patient.rs`'s: every store call waits.)

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use crate::error::EngineError;

/// How often waiting workers look at the disk again.
pub(crate) const LOOK_EVERY: Duration = Duration::from_secs(2);

/// Less free space than this, or than a twentieth of the filesystem when
/// that is smaller, is no room: an agent and its build need space to work.
const ENOUGH: u64 = 64 * 1024 * 1024;

/// Whether work is paused for want of room, and why.
#[derive(Debug, Default)]
pub(crate) struct Room {
    full: Mutex<Option<String>>,
}

impl Room {
    /// Pauses new work; returns whether it was running until now.
    pub(crate) fn pause(&self, why: String) -> bool {
        lock(&self.full).replace(why).is_none()
    }

    /// Why new work is paused, if it is.
    pub(crate) fn paused(&self) -> Option<String> {
        lock(&self.full).clone()
    }

    /// Lets new work go on; returns whether it was paused.
    pub(crate) fn resume(&self) -> bool {
        lock(&self.full).take().is_some()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether the filesystem holding `path` has room to work in. A path that
/// cannot be asked about counts as having room: the next write will say.
pub(crate) fn has_room(path: &Path) -> bool {
    match free_space(path) {
        Some((free, total)) => enough(free, total),
        None => true,
    }
}

/// Whether `free` bytes of `total` are room enough.
fn enough(free: u64, total: u64) -> bool {
    free >= ENOUGH.min(total / 20)
}

/// Bytes free to an unprivileged user, and the filesystem's size.
fn free_space(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string and `stat` is written by
    // statvfs before it is read, only when it returns 0.
    let stat = unsafe {
        if libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return None;
        }
        stat.assume_init()
    };
    // The fields are 32 bits wide on some targets.
    #[allow(clippy::useless_conversion)]
    let block = u64::from(stat.f_frsize);
    #[allow(clippy::useless_conversion)]
    let (free, total) = (u64::from(stat.f_bavail), u64::from(stat.f_blocks));
    Some((free * block, total * block))
}

/// Whether a failure's words say the disk was full, as the C library
/// says `ENOSPC` (an agent's tool, or the agent itself, failing to
/// write): the disk may have room again by the time colony looks.
pub(crate) fn says_full(reason: &str) -> bool {
    reason.contains("No space left on device")
}

/// Whether an attempt's error was the disk being full: a file write's
/// `ENOSPC`, or git saying so.
pub(crate) fn out_of_room(e: &EngineError) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::StorageFull) {
            return true;
        }
        if let Some(colony_git::GitError::Failed { stderr_tail, .. }) = s.downcast_ref::<colony_git::GitError>()
            && says_full(stderr_tail)
        {
            return true;
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_is_a_share_of_small_filesystems_and_64_mib_of_large_ones() {
        let mib = 1024 * 1024;
        assert!(!enough(0, 8 * mib));
        assert!(enough(8 * mib / 20, 8 * mib));
        assert!(!enough(8 * mib / 20 - 1, 8 * mib));
        assert!(enough(64 * mib, 1024 * 1024 * mib));
        assert!(!enough(63 * mib, 1024 * 1024 * mib));
    }

    #[test]
    fn this_directory_has_room_and_a_missing_one_is_not_judged() {
        assert!(free_space(Path::new(".")).is_some_and(|(_, total)| total > 0));
        assert!(has_room(Path::new("/no/such/place")));
    }

    #[test]
    fn a_failure_that_says_the_disk_was_full_is_told_apart() {
        assert!(says_full("exit code 1; stderr ends:\nwriting a.txt: No space left on device (os error 28)"));
        assert!(!says_full("exit code 1; stderr ends:\nerror: no such file"));
    }

    #[test]
    fn a_full_disk_is_read_from_io_and_git_errors() {
        let io = EngineError::Io { path: "x".into(), source: std::io::Error::from(std::io::ErrorKind::StorageFull) };
        assert!(out_of_room(&io));
        let git = |stderr: &str| {
            EngineError::Git(colony_git::GitError::Failed {
                args: vec!["commit".into()],
                code: Some(128),
                stderr_tail: stderr.into(),
            })
        };
        assert!(out_of_room(&git("error: unable to write file: No space left on device")));
        assert!(!out_of_room(&git("fatal: bad object")));
        let other = EngineError::Io { path: "x".into(), source: std::io::Error::from(std::io::ErrorKind::NotFound) };
        assert!(!out_of_room(&other));
    }
}
