//! Durations and dollars as messages say them, the same in the engine's
//! notes, the events and the CLI.

use std::time::Duration;

/// A short duration: `30m`, `1h 30m`, `45s`, `2.5s`.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs();
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) if d.subsec_millis() > 0 && s < 10 => format!("{:.1}s", d.as_secs_f64()),
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

/// [`human`] of a count of milliseconds.
pub fn human_millis(ms: u64) -> String {
    human(Duration::from_millis(ms))
}

/// `$0.42`; a fraction of a cent keeps its first figures, `$0.0012`.
pub fn dollars(usd: f64) -> String {
    if usd > 0.0 && usd < 0.01 { format!("${usd:.4}") } else { format!("${usd:.2}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_their_scale() {
        let cases = [(2_500, "2.5s"), (45_000, "45s"), (1_800_000, "30m"), (90_000, "1m 30s"), (5_400_000, "1h 30m")];
        for (ms, text) in cases {
            assert_eq!(human_millis(ms), text);
        }
        assert_eq!(human(Duration::from_secs(7200)), "2h");
    }

    #[test]
    fn small_amounts_keep_their_figures() {
        assert_eq!(dollars(0.0042), "$0.0042");
        assert_eq!(dollars(1.2), "$1.20");
        assert_eq!(dollars(0.0), "$0.00");
    }
}
