//! [`CliVersion`]: an agent CLI's version as it prints it, for the engine
//! and `colony doctor` to compare with the one each adapter is tested
//! against ([`CliKind::tested_version`](super::CliKind::tested_version)).
//!
//! CLIs print versions in their own ways ("2.1.59 (Claude Code)",
//! "codex-cli 0.101.0", cursor-agent's "2026.03.20-abc123", Amp's
//! "0.0.1775837683-g6ddb8e"): the version is the first dotted run of
//! numbers, compared part by part as numbers.

use std::cmp::Ordering;
use std::fmt;

/// A dotted numeric version: "0.101.0", "2026.03.20".
#[derive(Debug, Clone)]
pub struct CliVersion {
    /// The numbers, as compared.
    parts: Vec<u64>,
    /// The dotted text as printed, leading zeros kept, as shown.
    text: String,
}

impl CliVersion {
    /// The first run of at least two dot-separated numbers in `text`
    /// (`--version` output, an init event's field), if there is one.
    pub fn parse(text: &str) -> Option<CliVersion> {
        let bytes = text.as_bytes();
        let mut start = 0;
        while start < bytes.len() {
            if !bytes[start].is_ascii_digit() || (start > 0 && bytes[start - 1].is_ascii_digit()) {
                start += 1;
                continue;
            }
            let mut end = start;
            let mut parts = Vec::new();
            loop {
                let from = end;
                while end < bytes.len() && bytes[end].is_ascii_digit() {
                    end += 1;
                }
                let Ok(part) = text[from..end].parse::<u64>() else { break };
                parts.push(part);
                if end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_digit() {
                    end += 1;
                } else {
                    break;
                }
            }
            if parts.len() >= 2 {
                return Some(CliVersion { parts, text: text[start..end].to_owned() });
            }
            start = end.max(start + 1);
        }
        None
    }
}

impl PartialEq for CliVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for CliVersion {}

impl PartialOrd for CliVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CliVersion {
    /// Part by part as numbers, a missing part counting as 0: 0.101.0 is
    /// newer than 0.99.3, and 2.1 is 2.1.0.
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.parts.len().max(other.parts.len());
        let part = |v: &CliVersion, i: usize| v.parts.get(i).copied().unwrap_or(0);
        (0..len).map(|i| part(self, i).cmp(&part(other, i))).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
    }
}

impl fmt::Display for CliVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> CliVersion {
        CliVersion::parse(text).unwrap_or_else(|| panic!("no version in {text:?}"))
    }

    #[test]
    fn the_first_dotted_number_of_each_clis_output() {
        for (printed, version) in [
            ("2.1.59 (Claude Code)", "2.1.59"),
            ("codex-cli 0.101.0", "0.101.0"),
            ("0.31.0", "0.31.0"),
            ("1.18.18\n", "1.18.18"),
            ("2026.03.20-abc123", "2026.03.20"),
            ("0.0.1775837683-g6ddb8e", "0.0.1775837683"),
            ("aider v0.86.1", "0.86.1"),
            ("build 7, version 3.4", "3.4"),
        ] {
            assert_eq!(v(printed).to_string(), version, "{printed}");
        }
        for printed in ["", "claude", "build 7", "v.1", "1."] {
            assert_eq!(CliVersion::parse(printed), None, "{printed}");
        }
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert!(v("0.101.0") > v("0.99.3"));
        assert!(v("2.1.284") > v("2.1.59"));
        assert!(v("2026.03.20") < v("2026.11.2"));
        assert_eq!(v("2.1"), v("2.1.0"));
        assert_eq!(v("2026.03.20"), v("2026.3.20"));
        assert!(v("0.0.1775837683") > v("0.0.1775000000"));
    }
}
