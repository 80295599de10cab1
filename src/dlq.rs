//! Dead-letter records (SPEC §7): the original key and value bytes, untouched,
//! plus headers saying where they came from and why they failed — enough for
//! an operator to understand the failure and for `replay` to send them back.

use chrono::{SecondsFormat, Utc};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};

use crate::pii;

/// The `dlq.error.kind` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// An HR event that fails SPEC §3 validation.
    InvalidEvent,
    /// The app refused the command for good.
    Permanent,
    /// Every retry failed.
    RetriesExhausted,
    /// A record names an app the catalogue does not have.
    UnknownApp,
}

impl ErrorKind {
    /// The header value, also the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidEvent => "invalid_event",
            ErrorKind::Permanent => "permanent",
            ErrorKind::RetriesExhausted => "retries_exhausted",
            ErrorKind::UnknownApp => "unknown_app",
        }
    }
}

/// Why a record is being dead-lettered.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The kind.
    pub kind: ErrorKind,
    /// A human-readable reason; never a secret (addresses in it are masked
    /// in the header).
    pub message: String,
    /// How many times the record was tried.
    pub attempts: u32,
    /// The app, for commands.
    pub app: Option<String>,
}

/// The headers of the dead-letter copy of `original`. The original record's
/// own headers are kept first, so nothing it carried is lost.
pub fn headers<M: Message>(original: &M, failure: &Failure) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    if let Some(existing) = original.headers() {
        for h in existing.iter() {
            headers = headers.insert(Header {
                key: h.key,
                value: h.value,
            });
        }
    }
    let timestamp = original.timestamp().to_millis().unwrap_or(-1).to_string();
    let fields = [
        ("dlq.original.topic", original.topic().to_string()),
        ("dlq.original.partition", original.partition().to_string()),
        ("dlq.original.offset", original.offset().to_string()),
        ("dlq.original.timestamp", timestamp),
        ("dlq.error.kind", failure.kind.as_str().to_string()),
        // Messages quote what was wrong, which may be an address.
        ("dlq.error.message", pii::mask_emails(&failure.message)),
        ("dlq.attempts", failure.attempts.to_string()),
        (
            "dlq.failed_at",
            Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        ),
    ];
    for (key, value) in &fields {
        headers = headers.insert(Header {
            key,
            value: Some(value.as_bytes()),
        });
    }
    if let Some(app) = &failure.app {
        headers = headers.insert(Header {
            key: "dlq.app",
            value: Some(app.as_bytes()),
        });
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::{OwnedMessage, Timestamp};

    fn header<'a>(h: &'a OwnedHeaders, key: &str) -> Option<&'a str> {
        h.iter()
            .find(|x| x.key == key)
            .and_then(|x| x.value)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    #[test]
    fn headers_describe_origin_and_failure() {
        let original = OwnedMessage::new(
            Some(b"{".to_vec()),
            Some(b"E1".to_vec()),
            "hr.employee.events".into(),
            Timestamp::CreateTime(1_700_000_000_123),
            4,
            42,
            Some(OwnedHeaders::new().insert(Header {
                key: "trace",
                value: Some("abc"),
            })),
        );
        let h = headers(
            &original,
            &Failure {
                kind: ErrorKind::InvalidEvent,
                message: "value is not JSON".into(),
                attempts: 1,
                app: None,
            },
        );
        assert_eq!(header(&h, "trace"), Some("abc"));
        assert_eq!(header(&h, "dlq.original.topic"), Some("hr.employee.events"));
        assert_eq!(header(&h, "dlq.original.partition"), Some("4"));
        assert_eq!(header(&h, "dlq.original.offset"), Some("42"));
        assert_eq!(header(&h, "dlq.original.timestamp"), Some("1700000000123"));
        assert_eq!(header(&h, "dlq.error.kind"), Some("invalid_event"));
        assert_eq!(header(&h, "dlq.error.message"), Some("value is not JSON"));
        assert_eq!(header(&h, "dlq.attempts"), Some("1"));
        assert_eq!(header(&h, "dlq.app"), None);
        let failed_at = header(&h, "dlq.failed_at").unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(failed_at).is_ok());
    }

    #[test]
    fn the_error_message_header_holds_no_address() {
        let original =
            OwnedMessage::new(None, None, "t".into(), Timestamp::NotAvailable, 0, 0, None);
        let failure = Failure {
            kind: ErrorKind::InvalidEvent,
            message: "data.manager_id \"ada@acme.test\" is not an employee id".into(),
            attempts: 1,
            app: None,
        };
        let h = headers(&original, &failure);
        assert_eq!(
            header(&h, "dlq.error.message"),
            Some("data.manager_id \"***@***\" is not an employee id")
        );
    }
}
