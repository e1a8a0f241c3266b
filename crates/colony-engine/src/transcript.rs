//! What a round remembers of its child's entries, in bounded memory, for
//! what is decided at its end: the verdict, the answer, the session to
//! resume, the tokens spent.
//!
//! Tokens and cost are summed as they come and the last session is kept.
//! Of the rest, the newest entries up to [`KEEP_BYTES`] are kept, and
//! beside them the final and error events (the newest [`KEEP_MARKS`]),
//! which a verdict reads whatever came after them. An agent that prints
//! 200 MB costs a megabyte here; the log keeps what a person reads.

use std::collections::VecDeque;

use colony_agents::Entry;
use colony_agents::cut::text_len;
use colony_core::Usage;

/// The newest entries kept, by the size of their texts.
const KEEP_BYTES: usize = 1 << 20;

/// Final and error events kept.
const KEEP_MARKS: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct Transcript {
    usage: Usage,
    session: Option<String>,
    version: Option<String>,
    /// The newest entries, each with its place in the order they came.
    recent: VecDeque<(u64, Entry)>,
    recent_bytes: usize,
    /// The newest final and error events.
    marks: VecDeque<(u64, Entry)>,
    seen: u64,
}

impl Transcript {
    pub fn push(&mut self, entry: Entry) {
        self.seen += 1;
        match entry {
            Entry::Usage { input, output, cached } => {
                self.usage = self.usage.plus(Usage { input, output, cached, cost_usd: None });
            }
            Entry::Cost { usd } => self.usage = self.usage.plus(Usage { cost_usd: Some(usd), ..Usage::default() }),
            Entry::Session { id } => self.session = Some(id),
            Entry::Version { version } => self.version = Some(version),
            Entry::Finished { .. } | Entry::Error { .. } | Entry::StderrError { .. } => {
                self.marks.push_back((self.seen, entry));
                if self.marks.len() > KEEP_MARKS {
                    self.marks.pop_front();
                }
            }
            // The pieces of one streamed message become one text.
            Entry::TextDelta { text } if matches!(self.recent.back(), Some((last, Entry::TextDelta { .. })) if *last + 1 == self.seen) =>
            {
                self.recent_bytes += text.len();
                if let Some((last, Entry::TextDelta { text: joined })) = self.recent.back_mut() {
                    joined.push_str(&text);
                    *last = self.seen;
                }
            }
            entry => {
                self.recent_bytes += weight(&entry);
                self.recent.push_back((self.seen, entry));
                while self.recent_bytes > KEEP_BYTES
                    && let Some((_, old)) = self.recent.pop_front()
                {
                    self.recent_bytes -= weight(&old);
                }
            }
        }
    }

    /// The tokens and reported cost of every entry; the cost is `None`
    /// when the agent reported none.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The last session the agent announced.
    pub fn session(&self) -> Option<String> {
        self.session.clone()
    }

    /// The version the agent's own output gave.
    pub fn version(&self) -> Option<String> {
        self.version.clone()
    }

    /// The entries kept, in the order they came.
    pub fn entries(&self) -> Vec<Entry> {
        let mut all: Vec<&(u64, Entry)> = self.recent.iter().chain(&self.marks).collect();
        all.sort_by_key(|(seen, _)| *seen);
        all.into_iter().map(|(_, entry)| entry.clone()).collect()
    }
}

/// What an entry costs to keep, near enough.
fn weight(entry: &Entry) -> usize {
    text_len(entry) + std::mem::size_of::<Entry>()
}

#[cfg(test)]
mod tests {
    use colony_agents::{ErrorClass, Stream};

    use super::*;

    fn raw(text: String) -> Entry {
        Entry::Raw { stream: Stream::Stdout, text }
    }

    #[test]
    fn a_flood_keeps_its_end_its_verdict_and_every_token() {
        let mut t = Transcript::default();
        t.push(Entry::Session { id: "s1".into() });
        t.push(Entry::Error { class: ErrorClass::RateLimit, message: "slow down".into(), reset_at: None });
        for i in 0..200_000 {
            t.push(raw(format!("line {i} {}", "x".repeat(100))));
            if i % 1000 == 0 {
                t.push(Entry::Usage { input: 1, output: 2, cached: 0 });
            }
        }
        t.push(Entry::Cost { usd: 0.5 });
        t.push(Entry::Finished { is_error: false, message: Some("done".into()) });
        assert!(t.recent_bytes <= KEEP_BYTES);
        let entries = t.entries();
        assert!(matches!(&entries[0], Entry::Error { message, .. } if message == "slow down"), "marks stay");
        assert!(matches!(entries.last(), Some(Entry::Finished { .. })));
        let Some(Entry::Raw { text, .. }) = entries.iter().rev().nth(1) else { panic!("the newest output") };
        assert!(text.starts_with("line 199999 "));
        assert_eq!(t.usage(), Usage { input: 200, output: 400, cached: 0, cost_usd: Some(0.5) });
        assert_eq!(t.session().as_deref(), Some("s1"));
    }

    #[test]
    fn the_pieces_of_a_streamed_message_are_one_text() {
        let mut t = Transcript::default();
        for piece in ["{\"verdict\":", " \"approved\"", "}"] {
            t.push(Entry::TextDelta { text: piece.into() });
        }
        t.push(Entry::ToolUse { name: "read".into(), input_summary: "a".into() });
        t.push(Entry::TextDelta { text: "after".into() });
        let texts: Vec<String> = t
            .entries()
            .into_iter()
            .filter_map(|e| match e {
                Entry::TextDelta { text } => Some(text),
                _ => None,
            })
            .collect();
        assert_eq!(texts, [r#"{"verdict": "approved"}"#, "after"]);
    }
}
