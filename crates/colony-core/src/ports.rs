//! Blocks of TCP ports (`[worktree] ports`): each live attempt gets its
//! own, so that two agents' dev servers never want the same port.
//!
//! Which block an attempt gets is decided here, as a pure function of the
//! range, the blocks other live holders have and a check that a port can
//! be bound now ([`lowest_free`]); the store calls it inside the write
//! transaction that records the block, so two allocations never see the
//! same blocks as free.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// TCP ports `first` to `last`, both included: a range blocks are taken
/// from, or one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Ports {
    pub first: u16,
    pub last: u16,
}

/// `[worktree] port_range` unless written: below Linux's ephemeral ports
/// (32768-60999), which the kernel hands out to outgoing connections.
pub const DEFAULT_RANGE: Ports = Ports { first: 20000, last: 29999 };

/// Ports below this only root may bind.
pub const FIRST_UNPRIVILEGED: u16 = 1024;

impl Default for Ports {
    fn default() -> Self {
        DEFAULT_RANGE
    }
}

impl Ports {
    /// How many ports it holds.
    pub fn count(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    /// Whether it and `other` share a port.
    pub fn overlaps(&self, other: &Ports) -> bool {
        self.first <= other.last && other.first <= self.last
    }

    /// `COLONY_PORT` (the first) and `COLONY_PORTS` (`first-last`): how a
    /// block reaches setup commands, agents and gates.
    pub fn env(&self) -> [(String, String); 2] {
        [("COLONY_PORT".to_owned(), self.first.to_string()), ("COLONY_PORTS".to_owned(), self.to_string())]
    }
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl FromStr for Ports {
    type Err = String;

    /// `20000-29999`: unprivileged ports, the first not above the last.
    fn from_str(text: &str) -> Result<Self, String> {
        const EXPECTED: &str = "expected a range of ports like \"20000-29999\"";
        let (first, last) = text.split_once('-').ok_or_else(|| format!("{EXPECTED}, found `{text}`"))?;
        let port = |s: &str| s.trim().parse::<u16>().map_err(|_| format!("{EXPECTED}, found `{text}`"));
        let (first, last) = (port(first)?, port(last)?);
        if first < FIRST_UNPRIVILEGED {
            return Err(format!("ports below {FIRST_UNPRIVILEGED} need root; found `{text}`"));
        }
        if first > last {
            return Err(format!("the first port must not be above the last; found `{text}`"));
        }
        Ok(Ports { first, last })
    }
}

/// The lowest block of `count` ports in `range` that overlaps none of
/// `taken` and whose every port `bindable` accepts; `None` when there is
/// none. A block that overlaps a taken one is passed over to just after
/// it, one with a port that cannot be bound to just after that port, so
/// each port is asked about at most once.
pub fn lowest_free(range: Ports, count: u16, taken: &[Ports], bindable: impl Fn(u16) -> bool) -> Option<Ports> {
    let count = u32::from(count.max(1));
    let mut first = u32::from(range.first);
    loop {
        let last = first + count - 1;
        if last > u32::from(range.last) {
            return None;
        }
        let block = Ports { first: first as u16, last: last as u16 };
        if let Some(end) = taken.iter().filter(|t| t.overlaps(&block)).map(|t| t.last).max() {
            first = u32::from(end) + 1;
            continue;
        }
        match (block.first..=block.last).find(|&p| !bindable(p)) {
            Some(busy) => first = u32::from(busy) + 1,
            None => return Some(block),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(first: u16, last: u16) -> Ports {
        Ports { first, last }
    }

    #[test]
    fn the_lowest_block_clear_of_taken_ones_is_chosen() {
        let range = ports(20000, 20009);
        let any = |_| true;
        assert_eq!(lowest_free(range, 3, &[], any), Some(ports(20000, 20002)));
        assert_eq!(lowest_free(range, 3, &[ports(20000, 20002)], any), Some(ports(20003, 20005)));
        assert_eq!(
            lowest_free(range, 3, &[ports(20003, 20005), ports(20001, 20001)], any),
            Some(ports(20006, 20008)),
            "a gap of two before and one between is too small"
        );
        assert_eq!(lowest_free(range, 3, &[ports(20002, 20004)], any), Some(ports(20005, 20007)));
        assert_eq!(lowest_free(range, 2, &[ports(20000, 20007)], any), Some(ports(20008, 20009)), "to the range's end");
        assert_eq!(lowest_free(range, 3, &[ports(20000, 20007)], any), None);
        assert_eq!(lowest_free(range, 11, &[], any), None, "larger than the range");
        assert_eq!(lowest_free(ports(65534, 65535), 2, &[], any), Some(ports(65534, 65535)), "no overflow at the top");
        assert_eq!(lowest_free(ports(65534, 65535), 2, &[ports(65535, 65535)], any), None);
    }

    #[test]
    fn a_port_that_cannot_be_bound_is_passed_over_and_asked_about_once() {
        let asked = std::cell::RefCell::new(Vec::new());
        let bindable = |p| {
            asked.borrow_mut().push(p);
            p != 20001
        };
        assert_eq!(lowest_free(ports(20000, 20009), 2, &[ports(20004, 20004)], bindable), Some(ports(20002, 20003)));
        assert_eq!(*asked.borrow(), [20000, 20001, 20002, 20003]);
        assert_eq!(lowest_free(ports(20000, 20002), 2, &[], |p| p != 20001), None);
    }

    #[test]
    fn a_range_is_read_and_written_as_first_dash_last() {
        assert_eq!("20000-29999".parse::<Ports>(), Ok(DEFAULT_RANGE));
        assert_eq!(DEFAULT_RANGE.to_string(), "20000-29999");
        assert_eq!(DEFAULT_RANGE.count(), 10000);
        assert_eq!(" 4000 - 4000 ".parse::<Ports>(), Ok(ports(4000, 4000)));
        for bad in ["20000", "a-b", "20000-70000", "-1-5", "30000-20000", "80-90"] {
            assert!(bad.parse::<Ports>().is_err(), "{bad}");
        }
        let env = ports(20000, 20002).env();
        assert_eq!(env[0], ("COLONY_PORT".into(), "20000".into()));
        assert_eq!(env[1], ("COLONY_PORTS".into(), "20000-20002".into()));
    }
}
