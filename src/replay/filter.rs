//! Which dead-letter records an operator asked for.
//!
//! Every filter given must match (they combine with "and"). A record lacking
//! the header a filter looks at does not match it: an events dead letter has
//! no `dlq.app` unless the engine set one (`unknown_app`), so `--app` leaves
//! invalid events alone; a record without a readable `dlq.failed_at` is
//! outside every `--since`/`--until` window.

use chrono::{DateTime, Utc};

use super::record::DlqInfo;

/// The kinds `--error-kind` accepts (CONTRACT §7).
pub const ERROR_KINDS: [&str; 6] = [
    "invalid_event",
    "permanent",
    "retries_exhausted",
    "unknown_app",
    "unknown_employee",
    "verify_failed",
];

/// The selection; `None` fields select everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `--app`: the `dlq.app` header.
    pub app: Option<String>,
    /// `--employee`: the record key.
    pub employee: Option<String>,
    /// `--error-kind`: the `dlq.error.kind` header.
    pub error_kind: Option<String>,
    /// `--since`: `dlq.failed_at` at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// `--until`: `dlq.failed_at` before this time.
    pub until: Option<DateTime<Utc>>,
}

impl Filter {
    /// Checks that the filters can select something at all.
    pub fn validate(&self) -> Result<(), String> {
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since >= until {
                return Err(format!(
                    "--since {} is not before --until {}: no record can match",
                    since.to_rfc3339(),
                    until.to_rfc3339()
                ));
            }
        }
        Ok(())
    }

    /// Whether a record with these headers and key is selected.
    pub fn matches(&self, info: &DlqInfo, key: Option<&[u8]>) -> bool {
        let same = |wanted: &Option<String>, got: Option<&str>| {
            wanted.as_deref().is_none_or(|w| got == Some(w))
        };
        if !same(&self.app, info.app.as_deref()) || !same(&self.error_kind, info.kind.as_deref()) {
            return false;
        }
        if let Some(employee) = &self.employee {
            if key != Some(employee.as_bytes()) {
                return false;
            }
        }
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let Some(failed_at) = info.failed_at else {
            return false;
        };
        self.since.is_none_or(|s| failed_at >= s) && self.until.is_none_or(|u| failed_at < u)
    }
}

/// Parses the value of a time flag. The error says what is wrong and what
/// would be right, not which flag and value: the command line parser
/// (clap) already leads with "invalid value 'X' for '--since'".
pub fn parse_time(value: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!(
                "not an RFC 3339 time ({e}); \
                 write e.g. 2026-11-26T09:00:00Z or 2026-11-26T10:00:00+01:00"
            )
        })
}

/// Parses the value of `--error-kind`; the error lists the kinds (clap
/// names the flag and the value).
pub fn parse_error_kind(value: &str) -> Result<String, String> {
    if ERROR_KINDS.contains(&value) {
        Ok(value.to_string())
    } else {
        Err(format!(
            "not a dead-letter kind (one of: {})",
            ERROR_KINDS.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        parse_time(text).unwrap()
    }

    fn info(app: Option<&str>, kind: &str, failed_at: Option<&str>) -> DlqInfo {
        DlqInfo {
            app: app.map(String::from),
            kind: Some(kind.into()),
            failed_at: failed_at.map(at),
            ..DlqInfo::default()
        }
    }

    #[test]
    fn times_parse_with_offsets_and_errors_name_flag_and_value() {
        assert_eq!(
            at("2026-11-26T10:00:00+01:00"),
            at("2026-11-26T09:00:00Z"),
            "offsets are normalised to UTC"
        );
        assert_eq!(at("2026-11-26T09:00:00.5Z").timestamp_subsec_millis(), 500);
        let e = parse_time("yesterday").unwrap_err();
        assert!(e.starts_with("not an RFC 3339 time ("), "{e}");
        assert!(!e.contains("yesterday"), "clap names the value: {e}");
    }

    #[test]
    fn error_kinds_are_the_spec_ones() {
        use crate::dlq::ErrorKind;
        let kinds = [
            ErrorKind::InvalidEvent,
            ErrorKind::Permanent,
            ErrorKind::RetriesExhausted,
            ErrorKind::UnknownApp,
            ErrorKind::UnknownEmployee,
            ErrorKind::VerifyFailed,
        ];
        assert_eq!(ERROR_KINDS.to_vec(), kinds.map(ErrorKind::as_str).to_vec());
        assert_eq!(parse_error_kind("unknown_app").unwrap(), "unknown_app");
        assert_eq!(
            parse_error_kind("unknown_employee").unwrap(),
            "unknown_employee"
        );
        let e = parse_error_kind("timeout").unwrap_err();
        assert!(
            e.starts_with("not a dead-letter kind") && e.contains("retries_exhausted"),
            "{e}"
        );
    }

    #[test]
    fn no_filter_selects_everything() {
        let f = Filter::default();
        assert!(f.matches(&DlqInfo::default(), None));
        assert!(f.matches(&info(Some("slack"), "permanent", None), Some(b"E1")));
    }

    #[test]
    fn every_given_filter_must_match() {
        let f = Filter {
            app: Some("slack".into()),
            employee: Some("E1".into()),
            error_kind: Some("retries_exhausted".into()),
            ..Filter::default()
        };
        let good = info(Some("slack"), "retries_exhausted", None);
        assert!(f.matches(&good, Some(b"E1")));
        assert!(!f.matches(&good, Some(b"E2")), "other employee");
        assert!(!f.matches(&good, None), "no key");
        assert!(!f.matches(
            &info(Some("zendesk"), "retries_exhausted", None),
            Some(b"E1")
        ));
        assert!(!f.matches(&info(Some("slack"), "permanent", None), Some(b"E1")));
        // An invalid HR event has no app: --app never selects it.
        assert!(!f.matches(&info(None, "retries_exhausted", None), Some(b"E1")));
    }

    #[test]
    fn time_window_is_since_inclusive_until_exclusive() {
        let f = Filter {
            since: Some(at("2026-11-26T09:00:00Z")),
            until: Some(at("2026-11-26T10:00:00Z")),
            ..Filter::default()
        };
        let with = |t: &str| info(None, "permanent", Some(t));
        assert!(f.matches(&with("2026-11-26T09:00:00Z"), None));
        assert!(f.matches(&with("2026-11-26T09:59:59.999Z"), None));
        assert!(!f.matches(&with("2026-11-26T10:00:00Z"), None));
        assert!(!f.matches(&with("2026-11-26T08:59:59Z"), None));
        assert!(
            !f.matches(&info(None, "permanent", None), None),
            "no readable failed_at: outside every window"
        );
        let only_until = Filter {
            until: f.until,
            ..Filter::default()
        };
        assert!(only_until.matches(&with("2020-01-01T00:00:00Z"), None));
    }

    #[test]
    fn an_empty_window_is_refused() {
        let f = Filter {
            since: Some(at("2026-11-26T10:00:00Z")),
            until: Some(at("2026-11-26T10:00:00Z")),
            ..Filter::default()
        };
        let e = f.validate().unwrap_err();
        assert!(e.contains("--since") && e.contains("--until"), "{e}");
        assert!(Filter::default().validate().is_ok());
    }
}
