//! Output made safe for a terminal.
//!
//! Task titles, prompts, failure reasons and agent output are other
//! people's and programs' text, and can hold escape sequences: `ESC]0;…BEL`
//! retitles the window, `ESC[2J` clears the screen, OSC 52 writes the
//! clipboard. colony's own words hold no control character but the line
//! feed (its live view draws through indicatif, not through here). So all
//! of colony's output passes [`safe`]: stdout through [`Safe`], which every
//! command writes to, and the few lines written to stderr one by one.
//!
//! A control character is shown as its JSON escape (`\u001b`), not
//! dropped: the reader sees that something was there, and `--json` output
//! stays valid JSON with the same value (`serde_json` escapes C0 itself,
//! but leaves DEL and the C1 controls, such as U+009B CSI, raw).

use std::borrow::Cow;
use std::io::{self, Write};

/// `text` with every control character but line feed and tab written as
/// `\uXXXX`. The one function colony's output goes through.
pub fn safe(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A writer that passes everything through [`safe`]. A character split
/// across two writes waits for its end.
pub struct Safe<W: Write> {
    inner: W,
    /// The start of a character whose last bytes have not come yet.
    pending: Vec<u8>,
}

impl<W: Write> Safe<W> {
    pub fn new(inner: W) -> Safe<W> {
        Safe { inner, pending: Vec::new() }
    }
}

/// Writes `text` to stderr through [`safe`]. A stderr its reader closed
/// is not an error worth stopping for (and `eprint!` would panic on it):
/// the text is dropped. colony's stdout goes through [`Safe`], whose
/// errors end the command quietly (see `exit::is_broken_pipe`).
pub fn eprint(text: &str) {
    let _ = io::stderr().write_all(safe(text).as_bytes());
}

/// colony's stderr, for text that is written there instead of stdout.
pub fn stderr() -> Safe<io::Stderr> {
    Safe::new(io::stderr())
}

impl<W: Write> Write for Safe<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let whole = self.pending.len() - unfinished(&self.pending);
        let bytes: Vec<u8> = self.pending.drain(..whole).collect();
        self.inner.write_all(safe(&String::from_utf8_lossy(&bytes)).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Drop for Safe<W> {
    /// Bytes that never became a character are shown as U+FFFD.
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let _ = self.inner.write_all(String::from_utf8_lossy(&self.pending).as_bytes());
        }
    }
}

/// How many bytes at the end of `bytes` start a UTF-8 character that is
/// not complete yet.
fn unfinished(bytes: &[u8]) -> usize {
    // A character is at most 4 bytes: its first byte is within the last 3.
    for back in 1..=bytes.len().min(3) {
        let first = bytes[bytes.len() - back];
        if first & 0xC0 == 0x80 {
            continue;
        }
        let len = match first {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if len > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_shown_and_text_is_kept() {
        assert_eq!(safe("plain\ttext\nnext"), "plain\ttext\nnext");
        assert!(matches!(safe("plain"), Cow::Borrowed(_)));
        assert_eq!(safe("\u{1b}]0;pwned\u{7}title"), "\\u001b]0;pwned\\u0007title");
        assert_eq!(safe("a\rb\u{7f}c\u{9b}31m"), "a\\u000db\\u007fc\\u009b31m");
        assert_eq!(safe("日本語 ✓"), "日本語 ✓");
    }

    #[test]
    fn json_stays_json_with_the_same_value() {
        let value = serde_json::json!({ "title": "a\u{9b}2J\u{1b}[31m\u{85}b" });
        let text = serde_json::to_string(&value).unwrap();
        let shown = safe(&text);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&shown).unwrap(), value);
    }

    #[test]
    fn the_writer_waits_for_a_split_character() {
        let mut out = Vec::new();
        {
            let mut w = Safe::new(&mut out);
            let csi = "x\u{9b}y é\u{1F600}".as_bytes();
            for byte in csi {
                w.write_all(std::slice::from_ref(byte)).unwrap();
            }
            w.write_all(b"\x1b[2J\n").unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "x\\u009by é\u{1F600}\\u001b[2J\n");
    }
}
