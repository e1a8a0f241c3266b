//! What kind of failure an agent CLI reported, from its own words.
//!
//! CLIs report a rate limit, an overloaded provider, a spend cap or a
//! refused login in prose ("You've hit your limit · resets 1pm", "exceeded
//! retry limit, last status: 429", "Invalid API key · Please run /login",
//! "You've hit your monthly spend limit"), rarely as a field. Every adapter
//! sends such text through [`classify`], so one table of phrases decides
//! what colony does: wait until the reset, back off, or stop and tell the
//! user.
//!
//! Clock times without a date ("resets 1pm") mean the next such time after
//! the line arrived, in the zone the CLI names right after it ("resets 2pm
//! (Asia/Shanghai)", as Claude Code says), else in the machine's local
//! zone, which is the one a CLI formats its clock times in (Codex's "try
//! again at 7:54 PM"). [`classify`] reads the local zone from the system
//! (`TZ` first); [`classify_in`] takes it as a value, for tests.

use colony_core::Millis;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::harness::ErrorClass;

const SECOND: Millis = 1000;
const MINUTE: Millis = 60 * SECOND;
const HOUR: Millis = 60 * MINUTE;
const DAY: Millis = 24 * HOUR;

/// Phrases of a refused login or key: waiting does not help, the user must
/// act.
const AUTH: &[&str] = &[
    "invalid api key",
    "invalid x-api-key",
    "invalid_api_key",
    "api key not valid",
    "authentication_error",
    "authentication failed",
    "unauthorized",
    "unauthenticated",
    "not logged in",
    "please run /login",
    "login required",
    "please log in",
    "token has expired",
    "authentication required",
    "permission_error",
    "gemini_api_key",
];

/// Phrases of a spend cap reached or credit used up: waiting does not lift
/// it, a person must raise the cap or pay. Providers send these with status
/// 429 (Claude's monthly spend limit), 402 (OpenCode's `provider.quota`) or
/// 401 (OpenCode's "Insufficient balance"), so these words win over the
/// status.
const SPEND_LIMIT: &[&str] = &[
    "spend limit",
    "spending limit",
    "spend cap",
    "requires more credits",
    "out of credits",
    "insufficient balance",
    "insufficient credit",
    "credit balance is too low",
    "insufficient_quota",
    "billing hard limit",
    "billing_hard_limit",
    "check your plan and billing",
];

/// Phrases of a rate limit or a spent quota.
const RATE_LIMIT: &[&str] = &[
    "rate limit",
    "rate-limit",
    "rate_limit",
    "ratelimit",
    "usage limit",
    "hit your limit",
    "quota",
    "resource_exhausted",
    "resource exhausted",
    "too many requests",
];

/// Phrases of a provider without capacity right now.
const OVERLOADED: &[&str] =
    &["overloaded", "service unavailable", "temporarily unavailable", "at capacity", "server is busy"];

/// Words after which a number introduces a wait ("try again in 5 minutes").
const RELATIVE: &[&str] = &[
    "try again in",
    "retry in",
    "retry after",
    "resets in",
    "reset in",
    "resets after",
    "reset after",
    "available in",
];

/// Words after which a clock time is when the limit lifts ("resets 1pm").
const CLOCK: &[&str] = &["resets at", "reset at", "try again at", "retry at", "available at", "resets"];

/// The class of an error a CLI reported in `message`, and when a rate limit
/// (or an overload) lifts if the message says; `at` is when it was said.
/// Clock times are in the zone the message names, else the system's.
pub fn classify(message: &str, at: Millis) -> (ErrorClass, Option<Millis>) {
    classify_in(message, at, &TimeZone::system())
}

/// [`classify`] with `local` as the machine's time zone.
pub fn classify_in(message: &str, at: Millis, local: &TimeZone) -> (ErrorClass, Option<Millis>) {
    classify_with_status(message, None, at, local)
}

/// [`classify_in`] of `message` and the HTTP status the CLI gave with it
/// in a field: the status decides when it says more than the words ("API
/// Error: request failed" with status 529 is an overload).
pub(super) fn classify_with_status(
    message: &str,
    status: Option<u16>,
    at: Millis,
    local: &TimeZone,
) -> (ErrorClass, Option<Millis>) {
    let lower = message.to_lowercase();
    let by_status = statuses(&lower).into_iter().chain(status).filter_map(status_class).max_by_key(|c| rank(*c));
    let by_words = [
        (ErrorClass::Auth, AUTH),
        (ErrorClass::SpendLimit, SPEND_LIMIT),
        (ErrorClass::RateLimit, RATE_LIMIT),
        (ErrorClass::Overloaded, OVERLOADED),
    ]
    .into_iter()
    .find(|(_, phrases)| phrases.iter().any(|p| lower.contains(p)))
    .map(|(class, _)| class);
    let class = match (by_words, by_status) {
        // The words name a cap; the status is only how it was refused.
        (Some(ErrorClass::SpendLimit), _) => ErrorClass::SpendLimit,
        (words, status) => [words, status].into_iter().flatten().max_by_key(|c| rank(*c)).unwrap_or(ErrorClass::Other),
    };
    let reset = match class {
        ErrorClass::RateLimit | ErrorClass::Overloaded => reset_time(&lower, at, local),
        ErrorClass::Auth | ErrorClass::SpendLimit | ErrorClass::Other => None,
    };
    (class, reset)
}

/// The class an HTTP status stands for, when it stands for one.
pub fn status_class(status: u16) -> Option<ErrorClass> {
    match status {
        429 => Some(ErrorClass::RateLimit),
        402 => Some(ErrorClass::SpendLimit),
        503 | 529 => Some(ErrorClass::Overloaded),
        401 | 403 => Some(ErrorClass::Auth),
        _ => None,
    }
}

/// How much a class matters when a run reported several errors: the one
/// the user must act on first, then the ones colony waits out.
pub(super) fn rank(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Auth => 4,
        ErrorClass::SpendLimit => 3,
        ErrorClass::RateLimit => 2,
        ErrorClass::Overloaded => 1,
        ErrorClass::Other => 0,
    }
}

/// Three-digit numbers in `lower` that read as HTTP statuses: right after
/// "status", "error", "code" or "http", or opening the message. A bare 429
/// elsewhere (a line number) is not one.
fn statuses(lower: &str) -> Vec<u16> {
    let bytes = lower.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i - start != 3 {
            continue;
        }
        let before = lower[..start].trim_end_matches([' ', ':', '=', '(', '[', '"']);
        let introduced = before.is_empty() || ["status", "error", "code", "http"].iter().any(|w| before.ends_with(w));
        if introduced && let Ok(n) = lower[start..i].parse() {
            found.push(n);
        }
    }
    found
}

/// When the limit described by `lower` (a lowercased message) lifts.
fn reset_time(lower: &str, at: Millis, local: &TimeZone) -> Option<Millis> {
    epoch_after_pipe(lower)
        .or_else(|| after_any(lower, RELATIVE).find_map(|rest| duration(rest).map(|d| at + d)))
        .or_else(|| after_any(lower, CLOCK).find_map(|rest| clock(rest, at, local)))
}

/// The text after each occurrence of each of `keys`.
fn after_any<'a>(lower: &'a str, keys: &'a [&str]) -> impl Iterator<Item = &'a str> {
    keys.iter().flat_map(move |k| lower.match_indices(k).map(move |(i, _)| &lower[i + k.len()..]))
}

/// Claude Code's older "Claude AI usage limit reached|1750000000": the
/// reset as Unix seconds after a pipe.
fn epoch_after_pipe(lower: &str) -> Option<Millis> {
    let (_, tail) = lower.split_once("limit reached|")?;
    let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
    let seconds: Millis = digits.parse().ok()?;
    Some(seconds * SECOND)
}

/// A duration at the start of `text`: "5 minutes", "2 hours 3 minutes",
/// "4 days, 3 hours and 20 minutes", "1h30m", "27.585s".
fn duration(text: &str) -> Option<Millis> {
    let mut rest = text;
    let mut total: Option<Millis> = None;
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if total.is_some() {
            rest = rest.strip_prefix("and ").unwrap_or(rest);
        }
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let Ok(number) = rest[..number_len].parse::<f64>() else {
            return total;
        };
        let after = rest[number_len..].trim_start();
        let unit_len = after.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(after.len());
        let unit = match &after[..unit_len] {
            "d" | "day" | "days" => DAY,
            "h" | "hr" | "hrs" | "hour" | "hours" => HOUR,
            "m" | "min" | "mins" | "minute" | "minutes" => MINUTE,
            "s" | "sec" | "secs" | "second" | "seconds" => SECOND,
            "ms" => 1,
            _ => return total,
        };
        // Rounded up: waking a moment late beats waking a moment early.
        let add = (number * unit as f64).ceil() as Millis;
        total = Some(total.unwrap_or(0) + add);
        rest = &after[unit_len..];
    }
}

/// The next time after `at` matching the clock time at the start of
/// `text` ("1pm", "1:30 pm", "13:00"), in the zone named in parentheses
/// right after it ("2pm (asia/shanghai)"), else in `local`. A bare number
/// is no clock time.
fn clock(text: &str, at: Millis, local: &TimeZone) -> Option<Millis> {
    let text = text.trim_start();
    let hour_len = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let mut hour: i8 = text[..hour_len].parse().ok()?;
    let mut rest = &text[hour_len..];
    let mut minute: i8 = 0;
    let mut has_minutes = false;
    if let Some(after) = rest.strip_prefix(':') {
        let len = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
        if len != 2 {
            return None;
        }
        minute = after[..len].parse().ok()?;
        has_minutes = true;
        rest = &after[len..];
    }
    rest = rest.trim_start();
    let meridiem = ["am", "pm"]
        .into_iter()
        .find(|m| rest.strip_prefix(m).is_some_and(|r| !r.starts_with(|c: char| c.is_ascii_alphabetic())));
    match meridiem {
        Some(m) => {
            if !(1..=12).contains(&hour) {
                return None;
            }
            hour = hour % 12 + if m == "pm" { 12 } else { 0 };
            rest = &rest[m.len()..];
        }
        None if has_minutes && hour < 24 => {}
        None => return None,
    }
    let time = Time::new(hour, minute, 0, 0).ok()?;
    let zone = named_zone(rest).unwrap_or_else(|| local.clone());
    next_clock_time(time, at, &zone)
}

/// The zone named in parentheses at the start of `text`, if it is one.
fn named_zone(text: &str) -> Option<TimeZone> {
    let inner = text.trim_start().strip_prefix('(')?;
    let name = &inner[..inner.find(')')?];
    // Zone names are matched without regard to case: `text` is lowercased.
    TimeZone::get(name.trim()).ok()
}

/// The first instant after `at` whose wall clock in `zone` reads `time`:
/// today's, or tomorrow's when today's is not later. A time a change to
/// summer time skips is taken as the instant after the gap.
fn next_clock_time(time: Time, at: Millis, zone: &TimeZone) -> Option<Millis> {
    let now = Timestamp::from_millisecond(at).ok()?.to_zoned(zone.clone());
    let today = now.date();
    for date in [today, today.checked_add(1.day()).ok()?] {
        let then = date.to_datetime(time).to_zoned(zone.clone()).ok()?.timestamp();
        if then > now.timestamp() {
            return Some(then.as_millisecond());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-01T10:00:00Z.
    const AT: Millis = 1_767_261_600_000;

    fn class(message: &str) -> ErrorClass {
        classify_in(message, AT, &TimeZone::UTC).0
    }

    fn reset(message: &str) -> Option<Millis> {
        classify_in(message, AT, &TimeZone::UTC).1
    }

    /// The reset of `message` said at `at` (RFC 3339) on a machine in
    /// zone `local`, as RFC 3339 in UTC.
    fn reset_in(message: &str, at: &str, local: &str) -> Option<String> {
        let at = at.parse::<Timestamp>().unwrap().as_millisecond();
        let local = TimeZone::get(local).unwrap();
        classify_in(message, at, &local).1.map(|t| Timestamp::from_millisecond(t).unwrap().to_string())
    }

    #[test]
    fn rate_limits_by_phrase_and_status() {
        for message in [
            "You've hit your limit · resets 1pm",
            "exceeded retry limit, last status: 429 Too Many Requests",
            "You've hit your usage limit. Upgrade to Pro or try again in 2 hours 3 minutes.",
            "API Error: 429 {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\"}}",
            "Claude AI usage limit reached|1767272400",
            "Quota exceeded for quota metric 'Generate Content API requests per minute'",
            "[API Error: RESOURCE_EXHAUSTED]",
            "Request failed with status code 429",
        ] {
            assert_eq!(class(message), ErrorClass::RateLimit, "{message}");
        }
    }

    #[test]
    fn overloads_by_phrase_and_status() {
        for message in [
            "API Error: 529 {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}",
            "The model is overloaded. Please try again later.",
            "status: 503",
            "503 Service Unavailable",
        ] {
            assert_eq!(class(message), ErrorClass::Overloaded, "{message}");
        }
    }

    #[test]
    fn refused_logins_by_phrase_and_status() {
        for message in [
            "Invalid API key · Please run /login",
            "API Error: 401 {\"type\":\"error\",\"error\":{\"type\":\"authentication_error\"}}",
            "Not logged in",
            "unexpected status 403 Forbidden",
            "exceeded retry limit, last status: 401 Unauthorized",
            "Error: Authentication required. Please run 'agent login' first, or set AGENT_API_KEY.",
            "When using Gemini API, you must specify the GEMINI_API_KEY environment variable.",
        ] {
            assert_eq!(class(message), ErrorClass::Auth, "{message}");
        }
    }

    #[test]
    fn everything_else_is_other() {
        for message in [
            "Maximum session turns exceeded",
            "stream disconnected before completion",
            "error at line 429: unexpected token",
            "exceeded retry limit, last status: 500 Internal Server Error",
            "",
        ] {
            assert_eq!(classify_in(message, AT, &TimeZone::UTC), (ErrorClass::Other, None), "{message}");
        }
    }

    #[test]
    fn a_refused_login_wins_over_a_rate_limit_phrase() {
        assert_eq!(class("rate limit check failed: 401 Unauthorized"), ErrorClass::Auth);
    }

    #[test]
    fn relative_resets_count_from_the_line() {
        assert_eq!(reset("Usage limit. Try again in 5 minutes."), Some(AT + 5 * MINUTE));
        assert_eq!(reset("usage limit. Try again in 2 hours 3 minutes"), Some(AT + 2 * HOUR + 3 * MINUTE));
        assert_eq!(
            reset("usage limit; try again in 4 days, 3 hours and 20 minutes."),
            Some(AT + 4 * DAY + 3 * HOUR + 20 * MINUTE)
        );
        assert_eq!(reset("rate limited, retry in 1h30m"), Some(AT + 90 * MINUTE));
        assert_eq!(reset("Quota exceeded. Please retry in 27.5s."), Some(AT + 27_500));
        assert_eq!(reset("429: retry after 30 seconds"), Some(AT + 30 * SECOND));
    }

    #[test]
    fn spend_caps_by_phrase_and_status_outrank_a_rate_limit() {
        for message in [
            "You've hit your monthly spend limit. Switch to another model to continue.",
            "API Error: 429 spend limit reached for this organization",
            "This request requires more credits, or fewer max_tokens.",
            "Insufficient balance. Top up at https://example.invalid/billing",
            "Credit balance is too low",
            "You exceeded your current quota, please check your plan and billing details.",
            "status 402 Payment Required",
        ] {
            assert_eq!(class(message), ErrorClass::SpendLimit, "{message}");
        }
        let (class, reset) = classify_with_status("Insufficient balance.", Some(401), AT, &TimeZone::UTC);
        assert_eq!((class, reset), (ErrorClass::SpendLimit, None), "the words win over the status");
        let (class, _) = classify_with_status("monthly spend limit", Some(429), AT, &TimeZone::UTC);
        assert_eq!(class, ErrorClass::SpendLimit);
        let (class, _) = classify_with_status("provider refused", Some(402), AT, &TimeZone::UTC);
        assert_eq!(class, ErrorClass::SpendLimit);
        assert_eq!(rank(ErrorClass::SpendLimit).cmp(&rank(ErrorClass::RateLimit)), std::cmp::Ordering::Greater);
    }

    #[test]
    fn a_named_zone_is_followed() {
        // 10:00Z is 18:00 in Shanghai: 2pm there is tomorrow's, 06:00Z.
        assert_eq!(
            reset_in("You've hit your limit · resets 2pm (Asia/Shanghai)", "2026-01-01T10:00:00Z", "UTC").as_deref(),
            Some("2026-01-02T06:00:00Z")
        );
        // The named zone wins over the local one.
        assert_eq!(
            reset_in("hit your limit · resets 7pm (Europe/Berlin)", "2026-07-01T10:00:00Z", "Asia/Tokyo").as_deref(),
            Some("2026-07-01T17:00:00Z")
        );
        // Not a zone: the local one.
        assert_eq!(
            reset_in("hit your limit · resets 7pm (soon)", "2026-07-01T10:00:00Z", "Europe/Berlin").as_deref(),
            Some("2026-07-01T17:00:00Z")
        );
    }

    #[test]
    fn without_a_zone_the_clock_is_local() {
        let codex = "You've hit your usage limit. To get more access now, try again at 7:54 PM.";
        assert_eq!(reset_in(codex, "2026-01-01T10:00:00Z", "Europe/Berlin").as_deref(), Some("2026-01-01T18:54:00Z"));
        assert_eq!(reset_in(codex, "2026-01-01T10:00:00Z", "Asia/Tokyo").as_deref(), Some("2026-01-01T10:54:00Z"));
        // 19:54 in Tokyo has passed at 11:00Z (20:00 there): tomorrow's.
        assert_eq!(reset_in(codex, "2026-01-01T11:00:00Z", "Asia/Tokyo").as_deref(), Some("2026-01-02T10:54:00Z"));
    }

    #[test]
    fn clock_resets_across_a_change_to_and_from_summer_time() {
        // New York springs forward on 2026-03-08 at 2am (EST, -5, to EDT, -4).
        // Said at 11pm EST the day before: 9am is EDT, 13:00Z.
        let said = "2026-03-08T04:00:00Z";
        assert_eq!(
            reset_in("usage limit; resets 9am", said, "America/New_York").as_deref(),
            Some("2026-03-08T13:00:00Z")
        );
        // 2:30am does not exist that day: the instant after the gap.
        assert_eq!(
            reset_in("usage limit; resets 2:30", said, "America/New_York").as_deref(),
            Some("2026-03-08T07:30:00Z")
        );
        // Falls back on 2026-11-01: 9am is EST again, 14:00Z.
        assert_eq!(
            reset_in("usage limit; resets 9am", "2026-11-01T04:00:00Z", "America/New_York").as_deref(),
            Some("2026-11-01T14:00:00Z")
        );
    }

    #[test]
    fn clock_resets_are_the_next_such_time_in_the_local_zone() {
        // 13:00 today: later than 10:00.
        assert_eq!(reset("You've hit your limit · resets 1pm"), Some(AT + 3 * HOUR));
        // 13:30 in Berlin is 12:30Z in winter.
        assert_eq!(reset("You've hit your limit · resets 1:30 PM (Europe/Berlin)"), Some(AT + 2 * HOUR + 30 * MINUTE));
        // 09:00 has passed today: tomorrow's.
        assert_eq!(reset("usage limit; try again at 9:00"), Some(AT + 23 * HOUR));
        assert_eq!(reset("rate limit; resets at 12am"), Some(AT + 14 * HOUR));
        assert_eq!(reset("rate limit; resets 12pm"), Some(AT + 2 * HOUR));
        // 10:00 exactly is now, not a wait: the next one.
        assert_eq!(reset("rate limit; resets 10am"), Some(AT + DAY));
    }

    #[test]
    fn an_epoch_after_a_pipe_is_the_reset() {
        assert_eq!(reset("Claude AI usage limit reached|1767272400"), Some(1_767_272_400_000));
    }

    #[test]
    fn no_reset_without_a_readable_time() {
        for message in [
            "rate limit exceeded",
            "rate limit; resets soon",
            "rate limit; resets 13",
            "rate limit; resets 13pm",
            "rate limit; resets 1:5pm",
            "rate limit; try again in a while",
            "rate limit; resets 10:75",
        ] {
            assert_eq!(reset(message), None, "{message}");
        }
    }

    #[test]
    fn only_waits_carry_a_reset() {
        assert_eq!(reset("Invalid API key; try again in 5 minutes"), None);
        assert_eq!(reset("overloaded; retry in 10 seconds"), Some(AT + 10 * SECOND));
    }

    #[test]
    fn statuses_map_to_classes() {
        assert_eq!(status_class(429), Some(ErrorClass::RateLimit));
        assert_eq!(status_class(529), Some(ErrorClass::Overloaded));
        assert_eq!(status_class(402), Some(ErrorClass::SpendLimit));
        assert_eq!(status_class(503), Some(ErrorClass::Overloaded));
        assert_eq!(status_class(401), Some(ErrorClass::Auth));
        assert_eq!(status_class(403), Some(ErrorClass::Auth));
        assert_eq!(status_class(500), None);
    }
}
