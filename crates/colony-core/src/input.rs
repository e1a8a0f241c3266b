//! Reading the files colony is handed (plans, `colony.toml`, the
//! dashboard's token, git's exclude file): whole, within a size limit, and
//! only when they are regular files.
//!
//! A plan or config that is a link to `/dev/zero` would otherwise be read
//! until memory runs out, and a FIFO would block the read, or even the
//! `open`, until some writer came; neither is a file anyone means to give
//! colony. So the file is opened without blocking (which a FIFO honours at
//! `open`; a regular file ignores it), its type is checked on the open
//! descriptor, not on the path, and at most one byte past the limit is
//! read, so a file that grows meanwhile is refused too.

use std::fs::{File, FileType, Metadata};
use std::io::{self, Read};
use std::path::Path;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// It could not be opened or read (missing, no permission, …).
    #[error("{0}")]
    Io(#[source] io::Error),
    /// A directory, device, FIFO or socket.
    #[error("not a regular file but {kind}")]
    NotRegular { kind: &'static str },
    #[error("larger than the limit of {}", size(*limit))]
    TooBig { limit: u64 },
}

impl ReadError {
    /// Whether the file does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

/// Opens `path` for reading if it is a regular file, never blocking.
pub fn open_regular(path: &Path) -> Result<(File, Metadata), ReadError> {
    let file = open_nonblocking(path).map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular { kind: kind(&meta.file_type()) });
    }
    Ok((file, meta))
}

/// The whole of the regular file at `path`, if it holds at most `limit`
/// bytes.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let (file, meta) = open_regular(path)?;
    if meta.len() > limit {
        return Err(ReadError::TooBig { limit });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooBig { limit });
    }
    Ok(bytes)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// What a file that is not regular is, in the words of an error message.
fn kind(file_type: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() { "a directory" } else { "something else" }
}

/// A byte count for messages: `16 MiB`, `4 KiB`, `100 bytes`.
pub fn size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    match bytes {
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= KIB && b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_within_the_limit_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.yaml");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_limited(&path, 10).unwrap(), b"0123456789");
        assert!(matches!(read_limited(&path, 9), Err(ReadError::TooBig { limit: 9 })));
    }

    #[test]
    fn devices_directories_and_fifos_are_refused_without_reading() {
        let e = read_limited(Path::new("/dev/zero"), 1024).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file but a character device");
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_limited(dir.path(), 1024).unwrap_err().to_string(), "not a regular file but a directory");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        // No writer ever comes: a blocking open would wait here forever.
        assert_eq!(read_limited(&fifo, 1024).unwrap_err().to_string(), "not a regular file but a FIFO");
    }

    #[test]
    fn a_missing_file_is_told_apart() {
        assert!(read_limited(Path::new("/no/such/file"), 1).unwrap_err().is_missing());
        assert!(!ReadError::TooBig { limit: 1 }.is_missing());
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(16 * 1024 * 1024), "16 MiB");
        assert_eq!(size(4096), "4 KiB");
        assert_eq!(size(1500), "1500 bytes");
        assert_eq!(ReadError::TooBig { limit: 1024 * 1024 }.to_string(), "larger than the limit of 1 MiB");
    }
}
