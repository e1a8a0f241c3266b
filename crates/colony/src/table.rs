//! Aligned text tables no wider than a classic 80-column terminal.
//!
//! Output is the same whatever the terminal, so it can be snapshot-tested
//! and piped. When the rows do not fit, the widest shrinkable column gives
//! way first and its cells are cut with `…`.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::terminal;

/// The widest a table may be.
pub const MAX_WIDTH: usize = 80;

/// Spaces between columns.
const GAP: usize = 2;

/// Columns are never squeezed below this, so they stay readable.
const MIN_SQUEEZED: usize = 8;

pub struct Table {
    headers: Vec<&'static str>,
    /// Per column: may it be cut to fit?
    shrink: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns; `(header, shrinkable)`.
    pub fn new(columns: &[(&'static str, bool)]) -> Table {
        Table {
            headers: columns.iter().map(|c| c.0).collect(),
            shrink: columns.iter().map(|c| c.1).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells);
    }

    /// The table as lines, each ending in `\n`, with trailing spaces trimmed.
    pub fn render(&self) -> String {
        let widths = self.widths();
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        for cells in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str(&" ".repeat(GAP));
                }
                let text = truncate(cell, *width);
                let pad = width - text.width();
                line.push_str(&text);
                line.push_str(&" ".repeat(pad));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Each column's width: its widest cell, then the widest shrinkable
    /// column cut one at a time until the whole fits.
    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.width()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.width());
            }
        }
        let total = |w: &[usize]| w.iter().sum::<usize>() + GAP * w.len().saturating_sub(1);
        while total(&widths) > MAX_WIDTH {
            let widest = (0..widths.len())
                .filter(|&i| self.shrink[i] && widths[i] > MIN_SQUEEZED.max(self.headers[i].width()))
                .max_by_key(|&i| (widths[i], i));
            match widest {
                Some(i) => widths[i] -= 1,
                None => break,
            }
        }
        widths
    }
}

/// `text` cut to `width` display columns, ending in `…` when cut. Line
/// breaks and tabs become spaces, so one cell is one line; other control
/// characters are shown as [`terminal::safe`] shows them.
pub fn truncate(text: &str, width: usize) -> String {
    let flat: String = terminal::safe(text).chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if flat.width() <= width {
        return flat;
    }
    let mut out = String::new();
    let mut used = 0;
    for c in flat.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns_and_trims_line_ends() {
        let mut t = Table::new(&[("ID", false), ("TITLE", true)]);
        t.row(vec!["a".into(), "First".into()]);
        t.row(vec!["long-id".into(), "".into()]);
        assert_eq!(t.render(), "ID       TITLE\na        First\nlong-id\n");
    }

    #[test]
    fn squeezes_the_widest_shrinkable_column_to_fit() {
        let mut t = Table::new(&[("ID", false), ("TITLE", true), ("NOTE", true)]);
        t.row(vec!["x".repeat(20), "t".repeat(70), "n".repeat(30)]);
        let out = t.render();
        for line in out.lines() {
            assert!(line.width() <= MAX_WIDTH, "{line:?} is {} wide", line.width());
        }
        assert!(out.contains('…'));
        assert!(out.contains(&"x".repeat(20)), "ids are not cut");
    }

    #[test]
    fn truncate_counts_display_width_and_flattens_lines() {
        assert_eq!(truncate("hello world", 6), "hello…");
        assert_eq!(truncate("日本語です", 5), "日本…");
        assert_eq!(truncate("a\nb", 10), "a b");
        assert_eq!(truncate("fits", 4), "fits");
    }
}
