//! Text too long to keep whole: its head and its tail are kept, around a
//! marker that says how many bytes were cut between them. Agent output is
//! other programs' text: one tool result, or one line with no newline, can
//! be hundreds of megabytes.

use std::borrow::Cow;

use colony_core::record::Record;

use crate::harness::Entry;

/// The most of one text of a log record that is kept: an agent's message,
/// a tool's output, a line it printed.
pub const MAX_TEXT: usize = 64 * 1024;

/// `text` whole when it is at most `max` bytes; else about its first and
/// last `max / 2` bytes (at character boundaries) around the marker.
pub fn cut_middle(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut head = max / 2;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - max / 2;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    Cow::Owned(around(&text[..head], (tail - head) as u64, &text[tail..]))
}

/// `head`, the marker for `cut` bytes left out, `tail`: the one place the
/// marker is made.
pub fn around(head: &str, cut: u64, tail: &str) -> String {
    format!("{head} [… {cut} bytes cut …] {tail}")
}

/// The bytes of `entry`'s texts: what a bound on entries kept counts.
pub fn text_len(entry: &Entry) -> usize {
    match entry {
        Entry::Text { text } | Entry::TextDelta { text } | Entry::Raw { text, .. } => text.len(),
        Entry::Unknown { event } => event.len(),
        Entry::ToolUse { name, input_summary } => name.len() + input_summary.len(),
        Entry::ToolResult { output, .. } => output.len(),
        Entry::Session { id } | Entry::Version { version: id } => id.len(),
        Entry::Error { message, .. } | Entry::StderrError { message, .. } => message.len(),
        Entry::Finished { message, .. } => message.as_ref().map_or(0, String::len),
        Entry::Colony(Record::GateEnded { command, tail, .. } | Record::SetupEnded { command, tail, .. }) => {
            command.len() + tail.iter().map(String::len).sum::<usize>()
        }
        // Records are few and short: their wording is their size.
        Entry::Colony(record) => record.to_string().len(),
        Entry::Usage { .. } | Entry::Cost { .. } | Entry::Omitted { .. } => 0,
    }
}

/// Cuts each text of `entry` to [`MAX_TEXT`]; whether any was cut.
pub fn cap_entry(entry: &mut Entry) -> bool {
    let texts: Vec<&mut String> = match entry {
        Entry::Text { text } | Entry::TextDelta { text } | Entry::Raw { text, .. } => vec![text],
        Entry::Unknown { event } => vec![event],
        Entry::ToolUse { name, input_summary } => vec![name, input_summary],
        Entry::ToolResult { output, .. } => vec![output],
        Entry::Session { id } | Entry::Version { version: id } => vec![id],
        Entry::Error { message, .. } | Entry::StderrError { message, .. } => vec![message],
        Entry::Finished { message, .. } => message.iter_mut().collect(),
        Entry::Colony(Record::Note { text }) => vec![text],
        Entry::Colony(Record::GateEnded { tail, .. } | Record::SetupEnded { tail, .. }) => tail.iter_mut().collect(),
        Entry::Usage { .. } | Entry::Cost { .. } | Entry::Omitted { .. } | Entry::Colony(_) => vec![],
    };
    let mut cut = false;
    for text in texts {
        if let Cow::Owned(short) = cut_middle(text, MAX_TEXT) {
            *text = short;
            cut = true;
        }
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervise::Stream;

    #[test]
    fn a_long_text_keeps_its_head_and_tail_and_says_how_much_went() {
        assert!(matches!(cut_middle("short", 10), Cow::Borrowed("short")));
        let text = format!("HEAD{}TAIL", "x".repeat(1000));
        assert_eq!(cut_middle(&text, 10), "HEADx [… 998 bytes cut …] xTAIL");
        let wide = "é".repeat(100);
        assert_eq!(cut_middle(&wide, 11), "éé [… 192 bytes cut …] éé", "cut at character boundaries");
    }

    #[test]
    fn every_text_of_an_entry_is_capped() {
        let big = "y".repeat(MAX_TEXT * 3);
        let mut tool = Entry::ToolUse { name: big.clone(), input_summary: big.clone() };
        assert!(cap_entry(&mut tool));
        let Entry::ToolUse { name, input_summary } = &tool else { unreachable!() };
        assert!(name.len() < MAX_TEXT + 64 && input_summary.len() < MAX_TEXT + 64);
        let mut finished = Entry::Finished { is_error: false, message: Some(big.clone()) };
        assert!(cap_entry(&mut finished));
        let end = colony_core::record::GateEnd::Exited { code: 1 };
        let mut setup = Entry::Colony(Record::SetupEnded { command: "npm ci".into(), end, tail: vec![big] });
        assert!(text_len(&setup) > MAX_TEXT * 3);
        assert!(cap_entry(&mut setup));
        assert!(text_len(&setup) < MAX_TEXT + 64);
        let mut small = Entry::Raw { stream: Stream::Stdout, text: "ok".into() };
        assert!(!cap_entry(&mut small));
    }
}
