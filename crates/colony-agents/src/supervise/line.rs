//! One line of a child's output while it is read: kept whole up to
//! [`MAX_LINE`] bytes, beyond that only its head and its tail, so a child
//! that prints hundreds of megabytes with no newline costs a bounded
//! buffer.

use std::collections::VecDeque;

use crate::cut::{MAX_TEXT, around};

/// The longest line kept whole. An agent CLI's JSON event must arrive
/// whole to be parsed, and one carrying a tool's whole output runs to
/// megabytes; a line longer than this is no event colony can use.
pub const MAX_LINE: usize = 4 << 20;

/// What is kept of each end of a line cut short: with the marker between
/// them, no more than a log record keeps of a text, so that the log does
/// not cut it again (and lose the count).
const KEEP: usize = (MAX_TEXT - 64) / 2;

#[derive(Debug, Default)]
pub(super) struct LineBuf {
    /// The line so far; once it is cut, its head.
    bytes: Vec<u8>,
    /// Once cut: its last bytes so far.
    tail: VecDeque<u8>,
    /// Bytes dropped between the head and the tail.
    cut: u64,
}

impl LineBuf {
    pub fn push(&mut self, more: &[u8]) {
        if self.cut == 0 && self.tail.is_empty() {
            if self.bytes.len() + more.len() <= MAX_LINE {
                self.bytes.extend_from_slice(more);
                return;
            }
            let rest = self.bytes.split_off(KEEP.min(self.bytes.len()));
            self.keep_tail(&rest);
        }
        self.keep_tail(more);
    }

    fn keep_tail(&mut self, more: &[u8]) {
        let more = match more.len().checked_sub(KEEP) {
            Some(skip) => {
                self.cut += (self.tail.len() + skip) as u64;
                self.tail.clear();
                &more[skip..]
            }
            None => more,
        };
        self.tail.extend(more);
        let over = self.tail.len().saturating_sub(KEEP);
        self.tail.drain(..over);
        self.cut += over as u64;
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.tail.is_empty()
    }

    /// The line as text, leaving the buffer empty: bytes that are not
    /// UTF-8 become U+FFFD, a CRLF ending loses its CR, and a line that was
    /// cut has the marker where its middle was.
    pub fn take(&mut self) -> String {
        let mut bytes = std::mem::take(&mut self.bytes);
        let mut tail: Vec<u8> = std::mem::take(&mut self.tail).into();
        let end = if tail.is_empty() { &mut bytes } else { &mut tail };
        // CRLF endings come from tools written for Windows; parsers want
        // the line alone.
        if end.last() == Some(&b'\r') {
            end.pop();
        }
        let text = |bytes: Vec<u8>| {
            String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
        };
        match std::mem::take(&mut self.cut) {
            0 if tail.is_empty() => text(bytes),
            cut => around(&text(bytes), cut, &text(tail)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_within_the_limit_is_whole() {
        let mut line = LineBuf::default();
        line.push(b"ab");
        line.push(b"c\r");
        assert_eq!(line.take(), "abc");
        assert!(line.is_empty());
        let long = vec![b'x'; MAX_LINE];
        line.push(&long);
        assert_eq!(line.take().len(), MAX_LINE);
    }

    #[test]
    fn a_line_past_the_limit_keeps_its_head_and_tail_in_bounded_memory() {
        let mut line = LineBuf::default();
        line.push(b"HEAD");
        let chunk = vec![b'.'; 64 * 1024];
        let mut pushed = 4;
        while pushed < 3 * MAX_LINE {
            line.push(&chunk);
            pushed += chunk.len();
            assert!(line.bytes.len() + line.tail.len() <= MAX_LINE, "bounded");
        }
        line.push(b"TAIL");
        pushed += 4;
        let text = line.take();
        assert!(text.starts_with("HEAD....") && text.ends_with("....TAIL"), "{}", &text[..10]);
        let cut = pushed - 2 * KEEP;
        assert!(text.contains(&format!(" [… {cut} bytes cut …] ")));
        assert_eq!(text.len(), 2 * KEEP + around("", cut as u64, "").len());
        assert!(text.len() <= MAX_TEXT && around("", u64::MAX, "").len() <= 64, "the log keeps it as it is");
        assert!(line.is_empty());
        line.push(b"next");
        assert_eq!(line.take(), "next", "the next line starts afresh");
    }
}
