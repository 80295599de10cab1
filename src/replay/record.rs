//! A dead-letter record as replay sees it: the CONTRACT §7 headers read once,
//! and the headers its replayed copy carries.
//!
//! The replayed copy keeps every header the original record had (tracing
//! ids, content types…) and drops every `dlq.*` header — they describe one
//! failure, and the record is no longer dead — except `dlq.replay.count`,
//! which says how many times it has been sent back. When a replayed record
//! fails again, the dead-letter writer keeps that count among the original
//! headers (see `dlq::headers`), so the next replay counts on from it.

use chrono::{DateTime, Utc};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};

/// Where the record came from.
pub const ORIGINAL_TOPIC: &str = "dlq.original.topic";
/// Its partition there.
pub const ORIGINAL_PARTITION: &str = "dlq.original.partition";
/// Its offset there.
pub const ORIGINAL_OFFSET: &str = "dlq.original.offset";
/// `dlq::ErrorKind` as text.
pub const ERROR_KIND: &str = "dlq.error.kind";
/// Why it failed.
pub const ERROR_MESSAGE: &str = "dlq.error.message";
/// The app, for commands.
pub const APP: &str = "dlq.app";
/// When it failed, RFC 3339.
pub const FAILED_AT: &str = "dlq.failed_at";
/// How many times the record has been replayed (on replayed copies only).
pub const REPLAY_COUNT: &str = "dlq.replay.count";

/// The CONTRACT §7 headers of one dead-letter record. A header given twice
/// counts by its last value: the dead-letter writer appends its headers after
/// the record's own, so the last ones describe the latest failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DlqInfo {
    /// `dlq.original.topic`.
    pub original_topic: Option<String>,
    /// `dlq.original.partition`, when it is a number.
    pub original_partition: Option<i32>,
    /// `dlq.original.offset`, when it is a number.
    pub original_offset: Option<i64>,
    /// `dlq.error.kind`.
    pub kind: Option<String>,
    /// `dlq.error.message`.
    pub message: Option<String>,
    /// `dlq.app`.
    pub app: Option<String>,
    /// `dlq.failed_at` as written.
    pub failed_at_text: Option<String>,
    /// `dlq.failed_at`, when it is RFC 3339.
    pub failed_at: Option<DateTime<Utc>>,
    /// `dlq.replay.count`, 0 when absent or not a number.
    pub replay_count: u64,
    /// `dlq.value.dropped`: the dead letter kept no value, so there is
    /// nothing to replay.
    pub value_dropped: Option<String>,
}

impl DlqInfo {
    /// Reads the headers of a dead-letter record.
    pub fn of<M: Message>(record: &M) -> DlqInfo {
        let mut info = DlqInfo::default();
        let Some(headers) = record.headers() else {
            return info;
        };
        for h in headers.iter() {
            let Some(value) = h.value.map(|v| String::from_utf8_lossy(v).into_owned()) else {
                continue;
            };
            match h.key {
                ORIGINAL_TOPIC => info.original_topic = Some(value).filter(|t| !t.is_empty()),
                ORIGINAL_PARTITION => info.original_partition = value.parse().ok(),
                ORIGINAL_OFFSET => info.original_offset = value.parse().ok(),
                ERROR_KIND => info.kind = Some(value),
                ERROR_MESSAGE => info.message = Some(value),
                APP => info.app = Some(value),
                FAILED_AT => {
                    info.failed_at = DateTime::parse_from_rfc3339(&value)
                        .ok()
                        .map(|t| t.with_timezone(&Utc));
                    info.failed_at_text = Some(value);
                }
                REPLAY_COUNT => info.replay_count = value.parse().unwrap_or(0),
                crate::dlq::VALUE_DROPPED => info.value_dropped = Some(value),
                _ => {}
            }
        }
        info
    }
}

/// The headers of the replayed copy of `record`: its non-`dlq.*` headers in
/// their order, then `dlq.replay.count` = `previous_count + 1`.
pub fn replay_headers<M: Message>(record: &M, previous_count: u64) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    if let Some(existing) = record.headers() {
        for h in existing.iter().filter(|h| !h.key.starts_with("dlq.")) {
            headers = headers.insert(Header {
                key: h.key,
                value: h.value,
            });
        }
    }
    let count = (previous_count + 1).to_string();
    headers.insert(Header {
        key: REPLAY_COUNT,
        value: Some(count.as_bytes()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dlq::{self, ErrorKind, Failure};
    use rdkafka::message::{OwnedMessage, Timestamp};

    fn message(headers: OwnedHeaders) -> OwnedMessage {
        OwnedMessage::new(
            Some(b"{}".to_vec()),
            Some(b"E1".to_vec()),
            "provisioning.commands.dlq".into(),
            Timestamp::CreateTime(1),
            0,
            7,
            Some(headers),
        )
    }

    fn pairs(h: &OwnedHeaders) -> Vec<(String, Option<String>)> {
        h.iter()
            .map(|h| {
                (
                    h.key.to_string(),
                    h.value.map(|v| String::from_utf8_lossy(v).into_owned()),
                )
            })
            .collect()
    }

    /// A dead letter made by the project's own writer, of a record that
    /// carried `own` headers.
    fn dead_letter(own: OwnedHeaders) -> OwnedMessage {
        let original = OwnedMessage::new(
            Some(b"{}".to_vec()),
            Some(b"E1".to_vec()),
            "provisioning.commands.slack".into(),
            Timestamp::CreateTime(1_700_000_000_000),
            3,
            41,
            Some(own),
        );
        let failure = Failure {
            kind: ErrorKind::RetriesExhausted,
            message: "3 attempts failed".into(),
            attempts: 3,
            app: Some("slack".into()),
        };
        message(dlq::headers(&original, &failure))
    }

    #[test]
    fn reads_the_headers_the_writer_writes() {
        let trace = OwnedHeaders::new().insert(Header {
            key: "traceparent",
            value: Some("00-ab"),
        });
        let info = DlqInfo::of(&dead_letter(trace));
        assert_eq!(
            info.original_topic.as_deref(),
            Some("provisioning.commands.slack")
        );
        assert_eq!(info.original_partition, Some(3));
        assert_eq!(info.original_offset, Some(41));
        assert_eq!(info.kind.as_deref(), Some("retries_exhausted"));
        assert_eq!(info.message.as_deref(), Some("3 attempts failed"));
        assert_eq!(info.app.as_deref(), Some("slack"));
        assert!(info.failed_at.is_some());
        assert_eq!(info.replay_count, 0);
    }

    #[test]
    fn missing_or_odd_headers_are_absent_not_errors() {
        let h = OwnedHeaders::new()
            .insert(Header {
                key: ORIGINAL_TOPIC,
                value: Some(""),
            })
            .insert(Header {
                key: ORIGINAL_PARTITION,
                value: Some("two"),
            })
            .insert(Header {
                key: FAILED_AT,
                value: Some("yesterday"),
            })
            .insert(Header {
                key: REPLAY_COUNT,
                value: Some("x"),
            })
            .insert::<str>(Header {
                key: APP,
                value: None,
            });
        let info = DlqInfo::of(&message(h));
        assert_eq!(info.original_topic, None);
        assert_eq!(info.original_partition, None);
        assert_eq!(info.failed_at, None);
        assert_eq!(info.failed_at_text.as_deref(), Some("yesterday"));
        assert_eq!(info.replay_count, 0);
        assert_eq!(info.app, None);
        assert_eq!(
            DlqInfo::of(&message(OwnedHeaders::new())),
            DlqInfo::default()
        );
    }

    #[test]
    fn replayed_copy_keeps_own_headers_and_only_the_count() {
        let own = OwnedHeaders::new()
            .insert(Header {
                key: "traceparent",
                value: Some("00-ab"),
            })
            .insert(Header {
                key: "content-type",
                value: Some("application/json"),
            });
        let record = dead_letter(own);
        let h = replay_headers(&record, DlqInfo::of(&record).replay_count);
        assert_eq!(
            pairs(&h),
            vec![
                ("traceparent".into(), Some("00-ab".into())),
                ("content-type".into(), Some("application/json".into())),
                (REPLAY_COUNT.into(), Some("1".into())),
            ]
        );
    }

    #[test]
    fn the_count_goes_on_across_failures() {
        // Replayed once, failed again: the writer keeps the count among the
        // record's own headers and appends a fresh failure.
        let once = OwnedHeaders::new().insert(Header {
            key: REPLAY_COUNT,
            value: Some("1"),
        });
        let record = dead_letter(once);
        let info = DlqInfo::of(&record);
        assert_eq!(info.replay_count, 1);
        let h = replay_headers(&record, info.replay_count);
        assert_eq!(pairs(&h), vec![(REPLAY_COUNT.into(), Some("2".into()))]);
    }
}
