//! Dates: `YYYY-MM-DD` or an RFC 3339 date-time, the two forms an event's
//! `start_date` / `end_date` may take (validated by the event parser) and
//! that the rules' `before` / `after` compare.
//!
//! Both forms become one instant so they compare with each other: a plain
//! date means midnight UTC at its start, a date-time is converted to UTC.
//! So `2026-12-01` is before `2026-12-01T09:00:00Z` and equal to
//! `2026-12-01T00:00:00Z` (neither before nor after it).

use chrono::{DateTime, NaiveDate, Utc};

/// Parses a rule value or an employee value; `None` if it is neither form.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    if let Some(date) = parse_plain_date(text) {
        return date.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Strict `YYYY-MM-DD`: four-digit year, two-digit month and day, a real date.
pub(crate) fn parse_plain_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    let year = text.get(0..4)?.parse().ok()?;
    let month = text.get(5..7)?.parse().ok()?;
    let day = text.get(8..10)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_dates_are_midnight_utc() {
        assert_eq!(parse("2026-12-01"), parse("2026-12-01T00:00:00Z"));
        assert_eq!(parse("2026-12-01"), parse("2026-12-01T01:00:00+01:00"));
        assert!(parse("2026-12-01") < parse("2026-12-01T09:00:00Z"));
    }

    #[test]
    fn rejects_non_dates() {
        for bad in [
            "",
            "2026-13-01",
            "2026-02-30",
            "2026-1-5",
            "26-12-01",
            "2026/12/01",
            "2026-12-01T09:00:00", // no offset: not RFC 3339
            "tomorrow",
            "２０２６-12-01",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn accepts_fractional_seconds_and_offsets() {
        assert!(parse("2026-11-26T09:00:00.012Z").is_some());
        assert!(parse("2026-11-26T09:00:00-05:00").is_some());
    }
}
