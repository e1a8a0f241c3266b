//! Whether two tasks' declared `files` globs may touch the same path.
//!
//! Two tasks whose globs overlap must not run at the same time. Deciding
//! whether two globs can match a common path exactly is more than this needs;
//! the test here is conservative: each glob is cut at its first wildcard,
//! and two globs overlap when one of those literal prefixes, taken by whole
//! path segments, contains the other. It may keep apart two tasks that could
//! have run together (`src/*.rs` and `src/*.md`); it never lets two run
//! together that could touch one file.

/// The literal part of a glob before its first wildcard, as path segments.
/// A partial last segment (`src/lo*`) keeps its literal start, marked open.
fn literal_prefix(glob: &str) -> (Vec<&str>, Option<&str>) {
    let glob = glob.trim_start_matches("./");
    let cut = glob.find(['*', '?', '[', '{']).unwrap_or(glob.len());
    let literal = &glob[..cut];
    let mut segments: Vec<&str> = literal.split('/').collect();
    let open = if cut < glob.len() { segments.pop().filter(|s| !s.is_empty()) } else { None };
    segments.retain(|s| !s.is_empty());
    (segments, open)
}

/// Whether two globs might match one path.
pub fn globs_overlap(a: &str, b: &str) -> bool {
    let (sa, oa) = literal_prefix(a);
    let (sb, ob) = literal_prefix(b);
    let wild_a = a.contains(['*', '?', '[', '{']);
    let wild_b = b.contains(['*', '?', '[', '{']);
    let common = sa.len().min(sb.len());
    if sa[..common] != sb[..common] {
        return false;
    }
    // One side's literal path ends where the other goes on.
    let (short, short_open, short_wild, long) =
        if sa.len() <= sb.len() { (&sa, oa, wild_a, &sb) } else { (&sb, ob, wild_b, &sa) };
    if short.len() == long.len() {
        // Same literal directory: exact paths must be equal; an open
        // segment on either side is compared by its literal start.
        return match (oa, ob) {
            (None, None) => wild_a || wild_b || a.trim_start_matches("./") == b.trim_start_matches("./"),
            (Some(x), Some(y)) => x.starts_with(y) || y.starts_with(x),
            (Some(_), None) | (None, Some(_)) => true,
        };
    }
    if !short_wild {
        // A plain path can only be a file, or a directory the other lies in.
        return true;
    }
    match short_open {
        Some(start) => long[short.len()].starts_with(start),
        None => true,
    }
}

/// Whether any glob of one list may touch a path of the other. Empty lists
/// (tasks that declare no files) overlap nothing.
pub fn overlap(a: &[String], b: &[String]) -> bool {
    a.iter().any(|x| b.iter().any(|y| globs_overlap(x, y)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_pairs() {
        for (a, b) in [
            ("src/**", "src/db/mod.rs"),
            ("src/db/**", "src/**/*.rs"),
            ("migrations/**", "migrations/001.sql"),
            ("src/lib.rs", "src/lib.rs"),
            ("./src/lib.rs", "src/*.rs"),
            ("src/lo*", "src/login.rs"),
            ("**/*.rs", "docs/x.md"),
            ("src", "src/a.rs"),
            ("src/*.rs", "src/*.md"),
        ] {
            assert!(globs_overlap(a, b), "{a} ~ {b}");
            assert!(globs_overlap(b, a), "{b} ~ {a}");
        }
    }

    #[test]
    fn disjoint_pairs() {
        for (a, b) in [
            ("src/**", "tests/**"),
            ("src/db/**", "src/api/**"),
            ("src/lib.rs", "src/main.rs"),
            ("src/lo*", "src/api.rs"),
            ("migrations/**", "README.md"),
        ] {
            assert!(!globs_overlap(a, b), "{a} !~ {b}");
            assert!(!globs_overlap(b, a), "{b} !~ {a}");
        }
    }

    #[test]
    fn tasks_without_files_overlap_nothing() {
        assert!(!overlap(&[], &["src/**".into()]));
        assert!(overlap(&["a/**".into(), "b/x".into()], &["b/**".into()]));
    }
}
