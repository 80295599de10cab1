//! Dead-letter records (CONTRACT §7): the original key and value bytes, untouched,
//! plus headers saying where they came from and why they failed — enough for
//! an operator to understand the failure and for `replay` to send them back.

use chrono::{SecondsFormat, Utc};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};

use crate::ids::AppName;
use crate::pii;

/// The `dlq.error.kind` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// An HR event that fails CONTRACT §3 validation.
    InvalidEvent,
    /// The app refused the command for good.
    Permanent,
    /// Every retry failed.
    RetriesExhausted,
    /// A record names an app the catalogue does not have.
    UnknownApp,
    /// A `changed` event for an employee the engine knows nothing of (no
    /// hire seen); replayed once the hire has arrived.
    UnknownEmployee,
    /// The app accepted the command but reading the account back showed it
    /// did not take, also after one more try (`apps.<name>.verify`).
    VerifyFailed,
}

impl ErrorKind {
    /// The header value (the metric label is the same word).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidEvent => "invalid_event",
            ErrorKind::Permanent => "permanent",
            ErrorKind::RetriesExhausted => "retries_exhausted",
            ErrorKind::UnknownApp => "unknown_app",
            ErrorKind::UnknownEmployee => "unknown_employee",
            ErrorKind::VerifyFailed => "verify_failed",
        }
    }
}

/// The metric label of a kind: the same spelling as the header value. Here
/// rather than in a process, as both the engine and the connector count
/// dead letters; `metrics` sits below this module and knows no `dlq`.
impl From<ErrorKind> for crate::metrics::DeadLetterKind {
    fn from(kind: ErrorKind) -> Self {
        use crate::metrics::DeadLetterKind as Label;
        match kind {
            ErrorKind::InvalidEvent => Label::InvalidEvent,
            ErrorKind::Permanent => Label::Permanent,
            ErrorKind::RetriesExhausted => Label::RetriesExhausted,
            ErrorKind::UnknownApp => Label::UnknownApp,
            ErrorKind::UnknownEmployee => Label::UnknownEmployee,
            ErrorKind::VerifyFailed => Label::VerifyFailed,
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
    pub app: Option<AppName>,
}

/// What a dead letter may weigh when nothing better is known: librdkafka's
/// default `message.max.bytes`.
pub const DEFAULT_MAX_BYTES: usize = 1_000_000;

/// Room kept for the record's own framing (lengths, offsets, timestamps) and
/// the batch around it, on top of key, value and headers.
const RECORD_OVERHEAD: usize = 512;

/// The header that says a dead letter's value (and perhaps key) was left out.
pub const VALUE_DROPPED: &str = "dlq.value.dropped";

/// A dead-letter record's key, value and headers.
#[derive(Debug)]
pub struct Copy {
    /// The original key, unless it alone was too large to keep.
    pub key: Option<Vec<u8>>,
    /// The original value, unless the copy would be too large to write.
    pub payload: Option<Vec<u8>>,
    /// The original headers (unless too large), then ours.
    pub headers: OwnedHeaders,
}

/// The dead-letter copy of `original`, at most `max_bytes` large.
///
/// A copy that would not fit (the producer or the DLQ topic would refuse it,
/// and the batch holding it would abort forever) loses its value, and if
/// still too large its key and original headers. A `dlq.value.dropped` header
/// then says what was left out and why; the `dlq.original.*` headers still
/// point at the record, which stays readable where it came from.
pub fn copy<M: Message>(original: &M, failure: &Failure, max_bytes: usize) -> Copy {
    let (key, value) = (original.key(), original.payload());
    let len = |bytes: Option<&[u8]>| bytes.map_or(0, <[u8]>::len);
    let full = headers(original, failure);
    // Sized before anything is copied: a value too large is never copied.
    let whole = len(key) + len(value) + headers_len(&full) + RECORD_OVERHEAD;
    if whole <= max_bytes {
        return Copy {
            key: key.map(<[u8]>::to_vec),
            payload: value.map(<[u8]>::to_vec),
            headers: full,
        };
    }
    let why = format!(
        "the dead-letter copy ({whole} bytes, value {}) exceeds the {max_bytes} bytes \
         a dead letter may have; read the original at dlq.original.topic/partition/offset",
        len(value)
    );
    let dropped = |h: OwnedHeaders, what: &str| {
        h.insert(Header {
            key: VALUE_DROPPED,
            value: Some(format!("{what} left out: {why}").as_bytes()),
        })
    };
    let kept = dropped(full, "value");
    if len(key) + headers_len(&kept) + RECORD_OVERHEAD <= max_bytes {
        return Copy {
            key: key.map(<[u8]>::to_vec),
            payload: None,
            headers: kept,
        };
    }
    // A huge key or huge original headers: keep only our own headers.
    Copy {
        key: None,
        payload: None,
        headers: dropped(
            build(original, failure, false),
            "value, key and original headers",
        ),
    }
}

/// Bytes of headers' keys and values.
fn headers_len(headers: &OwnedHeaders) -> usize {
    headers
        .iter()
        .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len))
        .sum()
}

/// The headers of the dead-letter copy of `original`. The original record's
/// own headers are kept first, so nothing it carried is lost.
pub fn headers<M: Message>(original: &M, failure: &Failure) -> OwnedHeaders {
    build(original, failure, true)
}

fn build<M: Message>(original: &M, failure: &Failure, keep_original: bool) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    if let Some(existing) = original.headers().filter(|_| keep_original) {
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

    fn failure() -> Failure {
        Failure {
            kind: ErrorKind::InvalidEvent,
            message: "value is not JSON".into(),
            attempts: 1,
            app: None,
        }
    }

    fn record(key: Vec<u8>, value: Vec<u8>) -> OwnedMessage {
        OwnedMessage::new(
            Some(value),
            Some(key),
            "hr".into(),
            Timestamp::CreateTime(1),
            0,
            7,
            None,
        )
    }

    #[test]
    fn a_copy_that_fits_is_whole() {
        let c = copy(
            &record(b"E1".to_vec(), vec![b'x'; 1000]),
            &failure(),
            10_000,
        );
        assert_eq!(
            (c.key.as_deref(), c.payload.map(|v| v.len())),
            (Some(&b"E1"[..]), Some(1000))
        );
        assert_eq!(header(&c.headers, VALUE_DROPPED), None);
    }

    #[test]
    fn a_copy_too_large_loses_its_value_then_its_key() {
        let c = copy(
            &record(b"E1".to_vec(), vec![b'x'; 1_040_000]),
            &failure(),
            1_000_000,
        );
        assert_eq!(
            (c.key.as_deref(), c.payload.is_none()),
            (Some(&b"E1"[..]), true)
        );
        let why = header(&c.headers, VALUE_DROPPED).unwrap();
        assert!(
            why.starts_with("value left out") && why.contains("1000000"),
            "{why}"
        );
        assert_eq!(header(&c.headers, "dlq.original.offset"), Some("7"));
        let c = copy(&record(vec![b'k'; 5000], vec![b'x'; 10]), &failure(), 2000);
        assert_eq!((c.key, c.payload), (None, None));
        assert!(header(&c.headers, VALUE_DROPPED).unwrap().contains("key"));
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
