//! Times as a person reads them (`docs/CLI.md`, "Times"): an argument is
//! Unix seconds or ISO 8601 (RFC 3339), output is ISO 8601 in UTC; the
//! integers stored in records and blocks are unchanged.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

/// A grant's `not_after` when it has no end (the core's "forever").
pub const NO_END: u64 = u64::MAX;

const FORMS: &str = "give Unix seconds (1767225600), a date (2026-01-01, midnight UTC), \
                     or a time in UTC (2026-01-01T08:00:00Z) or with an offset (2026-01-01T09:00:00+01:00)";

/// clap's parser for a time argument; clap names the flag in its error.
pub fn parse(text: &str) -> Result<u64, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| format!("more seconds than the largest time, {}", u64::MAX));
    }
    let before_1970 = || "a time before 1970 (Unix time 0)".to_owned();
    if text
        .strip_prefix('-')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(before_1970());
    }
    let at = if text.len() == 10 {
        Date::parse(text, format_description!("[year]-[month]-[day]"))
            .ok()
            .map(|d| d.midnight().assume_utc())
    } else if matches!(text.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        // Checked here because the crate's RFC 3339 takes any character
        // between the date and the time.
        OffsetDateTime::parse(text, &Rfc3339).ok()
    } else {
        None
    };
    // A fraction would be cut to the second silently: records hold whole
    // seconds (a leap second, :60, parses as :59 and a fraction, so it is
    // refused here too).
    let at = at
        .filter(|t| t.nanosecond() == 0)
        .ok_or_else(|| format!("not a time: {FORMS}"))?;
    u64::try_from(at.unix_timestamp()).map_err(|_| before_1970())
}

/// clap's parser for `--not-after`, which also takes `never`.
pub fn parse_end(text: &str) -> Result<u64, String> {
    if text == "never" {
        return Ok(NO_END);
    }
    parse(text).map_err(|e| format!("{e}; or never, for no end"))
}

/// `t` in ISO 8601 UTC; none past the year 9999, which RFC 3339 cannot
/// write (so none for [`NO_END`] either).
pub fn iso(t: u64) -> Option<String> {
    let t = i64::try_from(t).ok()?;
    OffsetDateTime::from_unix_timestamp(t)
        .ok()?
        .format(&Rfc3339)
        .ok()
}

/// The `_iso` companion of a time field in JSON: the text, or null.
pub fn iso_json(t: u64) -> Value {
    iso(t).map_or(Value::Null, Value::String)
}

/// `t` for a person: ISO 8601 UTC, or the seconds when past the year 9999.
pub fn show(t: u64) -> String {
    iso(t).unwrap_or_else(|| format!("Unix time {t}"))
}

/// A grant's end for a person: `no end` for [`NO_END`].
pub fn show_end(t: u64) -> String {
    if t == NO_END {
        "no end".to_owned()
    } else {
        show(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let t = 1_767_254_400; // 2026-01-01T08:00:00Z
        for text in [
            "1767254400",
            "2026-01-01T08:00:00Z",
            "2026-01-01t08:00:00z",
            "2026-01-01 08:00:00Z",
            "2026-01-01T09:30:00+01:30",
            "2026-01-01T03:00:00-05:00",
            "2026-01-01T08:00:00.000Z",
        ] {
            assert_eq!(parse(text), Ok(t), "{text}");
        }
        assert_eq!(parse("2026-01-01"), Ok(1_767_225_600));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_end("never"), Ok(NO_END));
        assert_eq!(parse_end("2026-01-01"), Ok(1_767_225_600));
        for text in [
            "",
            "-1",
            "+5",
            "1.5",
            "18446744073709551616",
            "never",
            "2026-1-01",
            "2026-13-01",
            "2026-02-30",
            "+2026-01-01",
            "2026-01-01T08:00",
            "2026-01-01T08:00:00",
            "2026-01-01X08:00:00Z",
            "2026-01-01T08:00:00.5Z",
            "2026-01-01T08:00:00+24:00",
            "2026-01-01T08:00:00Z ",
            "1969-12-31",
            "1970-01-01T00:30:00+01:00",
            "2016-12-31T23:59:60Z",
        ] {
            assert!(parse(text).is_err(), "{text:?}");
        }
        assert!(parse("1969-12-31").unwrap_err().contains("before 1970"));
        assert!(parse("-1").unwrap_err().contains("before 1970"));
    }

    #[test]
    fn shown() {
        assert_eq!(show(1_767_254_400), "2026-01-01T08:00:00Z");
        assert_eq!(show(0), "1970-01-01T00:00:00Z");
        assert_eq!(show(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(show(253_402_300_800), "Unix time 253402300800");
        assert_eq!(show_end(NO_END), "no end");
        assert_eq!(iso_json(NO_END), Value::Null);
        assert_eq!(show_end(5), "1970-01-01T00:00:05Z");
    }
}
