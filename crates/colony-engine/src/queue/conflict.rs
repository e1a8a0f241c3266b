//! Whether a resolver round left conflict markers behind.
//!
//! The files are the agent's work, so they are read as untrusted: only
//! regular files (a conflicted path the agent turned into a link to
//! `/dev/zero` or a FIFO would otherwise be read forever or block), and
//! streamed in chunks while [`Markers`] keeps just the start of the current
//! line, so a file of any size or a line of any length costs a fixed
//! amount of memory.

use std::io::Read;
use std::path::Path;

use colony_core::input::open_regular;

/// A marker line starts with one of these, or is `=======` alone.
const OPENING: &[u8] = b"<<<<<<< ";
const CLOSING: &[u8] = b">>>>>>> ";
const SEPARATOR: &[u8] = b"=======";

/// Bytes read from a file at a time.
const CHUNK: usize = 64 * 1024;

/// Which of `paths` in `worktree` still hold a conflict marker line.
pub(crate) fn with_conflict_markers(worktree: &Path, paths: &[String]) -> Vec<String> {
    paths.iter().filter(|p| has_markers(&worktree.join(p))).cloned().collect()
}

/// A file that cannot be read, or is not a regular file, holds none: the
/// gates judge what it is instead.
fn has_markers(path: &Path) -> bool {
    let Ok((mut file, _)) = open_regular(path) else {
        return false;
    };
    let mut markers = Markers::default();
    let mut chunk = vec![0u8; CHUNK];
    loop {
        match file.read(&mut chunk) {
            Ok(0) | Err(_) => return markers.finish(),
            Ok(n) => {
                if markers.feed(&chunk[..n]) {
                    return true;
                }
            }
        }
    }
}

/// Scans text fed in pieces for a marker line, keeping only the first
/// bytes of the line at hand.
#[derive(Debug, Default)]
struct Markers {
    /// The current line's first bytes, at most as many as a marker needs.
    head: Vec<u8>,
    /// The current line's length so far.
    len: usize,
}

impl Markers {
    /// Takes the next piece; true once a complete marker line was seen.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            if b == b'\n' {
                if self.is_marker() {
                    return true;
                }
                self.head.clear();
                self.len = 0;
            } else {
                if self.head.len() < OPENING.len() {
                    self.head.push(b);
                }
                self.len += 1;
            }
        }
        false
    }

    /// Whether the last line, ended by the end of the file, is a marker.
    fn finish(&self) -> bool {
        self.is_marker()
    }

    fn is_marker(&self) -> bool {
        self.head == OPENING || self.head == CLOSING || (self.len == SEPARATOR.len() && self.head == SEPARATOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(pieces: &[&[u8]]) -> bool {
        let mut m = Markers::default();
        pieces.iter().any(|p| m.feed(p)) || m.finish()
    }

    #[test]
    fn each_marker_line_is_found_wherever_the_pieces_break() {
        for text in [&b"a\n<<<<<<< ours\nb\n"[..], b"x\n=======\ny", b">>>>>>> theirs", b"=======\n"] {
            assert!(scan(&[text]), "{:?}", String::from_utf8_lossy(text));
            let split: Vec<&[u8]> = text.chunks(1).collect();
            assert!(scan(&split), "byte by byte: {:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn lines_that_only_look_like_markers_are_not() {
        for text in [&b"<<<<<<<no space\n"[..], b"========\n", b" =======\n", b"a <<<<<<< b\n", b"", b"==="] {
            assert!(!scan(&[text]), "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn files_are_read_only_when_regular() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "x\n<<<<<<< HEAD\ny\n").unwrap();
        std::fs::write(dir.path().join("b.txt"), "clean\n").unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero")).unwrap();
        let paths = ["a.txt", "b.txt", "zero", "missing"].map(String::from);
        assert_eq!(with_conflict_markers(dir.path(), &paths), ["a.txt"]);
    }
}
