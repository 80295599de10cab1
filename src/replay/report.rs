//! What replay tells people and scripts: the dry-run listing (a table or one
//! JSON object a line) and the one summary line.
//!
//! Every table cell comes from a dead-lettered record, which anyone able to
//! write to a topic shaped: cells are escaped ([`crate::text::escape`]) so a
//! key or header cannot drive the terminal, and messages are masked
//! ([`crate::pii`]) before they are cut to the column.

use serde_json::json;

use super::record::DlqInfo;
use super::select::Decision;
use crate::pii;
use crate::text::escape;

/// How the listing and the summary are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON object a line for scripts.
    Json,
}

/// What a run did (or, in a dry run, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Re-published.
    pub replayed: u64,
    /// Skipped: a newer generation is already applied.
    pub superseded: u64,
    /// Skipped: not selected by the filters.
    pub filtered: u64,
    /// Skipped: no usable `dlq.original.topic` (reported one by one).
    pub unroutable: u64,
}

impl Summary {
    /// Every record not re-published.
    pub fn skipped(&self) -> u64 {
        self.superseded + self.filtered + self.unroutable
    }

    /// Every record handled.
    pub fn handled(&self) -> u64 {
        self.replayed + self.skipped()
    }

    /// Counts one decision.
    pub fn count(&mut self, decision: &Decision) {
        match decision {
            Decision::Replay(_) => self.replayed += 1,
            Decision::Superseded { .. } => self.superseded += 1,
            Decision::Filtered => self.filtered += 1,
            Decision::Unroutable(_) => self.unroutable += 1,
        }
    }

    /// Adds another summary's counts.
    pub fn add(&mut self, other: &Summary) {
        self.replayed += other.replayed;
        self.superseded += other.superseded;
        self.filtered += other.filtered;
        self.unroutable += other.unroutable;
    }

    /// The CONTRACT §7 line: `replayed N, skipped M (superseded S, filtered F)`.
    /// Unroutable records are in M (each was reported on its own line).
    pub fn line(&self) -> String {
        format!(
            "replayed {}, skipped {} (superseded {}, filtered {})",
            self.replayed,
            self.skipped(),
            self.superseded,
            self.filtered
        )
    }

    /// The summary in `format`: the line itself, or a JSON object holding
    /// the counts and the line.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Table => self.line(),
            Format::Json => json!({
                "summary": {
                    "replayed": self.replayed,
                    "skipped": self.skipped(),
                    "superseded": self.superseded,
                    "filtered": self.filtered,
                    "unroutable": self.unroutable,
                },
                "text": self.line(),
            })
            .to_string(),
        }
    }
}

/// One record of the listing.
pub struct Row<'a> {
    /// The dead-letter topic.
    pub topic: &'a str,
    /// Its partition there.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
    /// The record key (the employee id).
    pub key: Option<&'a [u8]>,
    /// Its headers.
    pub info: &'a DlqInfo,
    /// Its fate.
    pub decision: &'a Decision,
}

const MESSAGE_WIDTH: usize = 48;

/// The table header.
pub fn table_header() -> String {
    format!(
        "{:<44} {:<12} {:<17} {:<10} {:<24} {:<w$} DECISION",
        "TOPIC/PARTITION/OFFSET",
        "KEY",
        "KIND",
        "APP",
        "FAILED_AT",
        "MESSAGE",
        w = MESSAGE_WIDTH
    )
}

impl Row<'_> {
    /// The original location (where it came from and goes back to).
    fn origin(&self) -> String {
        let part = |v: Option<String>| v.unwrap_or_else(|| "?".into());
        match &self.info.original_topic {
            Some(t) => format!(
                "{t}/{}/{}",
                part(self.info.original_partition.map(|p| p.to_string())),
                part(self.info.original_offset.map(|o| o.to_string()))
            ),
            None => "-".into(),
        }
    }

    fn key(&self) -> Option<String> {
        self.key.map(|k| String::from_utf8_lossy(k).into_owned())
    }

    /// One table line, every cell escaped.
    pub fn table(&self) -> String {
        let dash = |v: Option<&str>| escape(v.unwrap_or("-")).into_owned();
        let message = pii::mask_emails(self.info.message.as_deref().unwrap_or("-"));
        format!(
            "{:<44} {:<12} {:<17} {:<10} {:<24} {:<w$} {}",
            escape(&self.origin()),
            dash(self.key().as_deref()),
            dash(self.info.kind.as_deref()),
            dash(self.info.app.as_deref()),
            dash(self.info.failed_at_text.as_deref()),
            pii::excerpt(&escape(&message), MESSAGE_WIDTH),
            escape(&self.decision.describe()),
            w = MESSAGE_WIDTH
        )
    }

    /// One JSON line.
    pub fn json(&self) -> String {
        let mut value = json!({
            "dlq": { "topic": self.topic, "partition": self.partition, "offset": self.offset },
            "original": {
                "topic": self.info.original_topic,
                "partition": self.info.original_partition,
                "offset": self.info.original_offset,
            },
            "key": self.key(),
            "kind": self.info.kind,
            "app": self.info.app,
            "failed_at": self.info.failed_at_text,
            "message": self.info.message,
            "replay_count": self.info.replay_count,
            "decision": self.decision.label(),
        });
        match self.decision {
            Decision::Replay(route) => {
                value["to"] = json!({ "topic": route.topic, "partition": route.partition })
            }
            Decision::Superseded {
                generation,
                applied,
            } => {
                value["generation"] = json!(generation);
                value["applied_generation"] = json!(applied);
            }
            Decision::Unroutable(reason) => value["reason"] = json!(reason),
            Decision::Filtered => {}
        }
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::select::Route;

    #[test]
    fn summary_line_is_the_spec_one() {
        let s = Summary {
            replayed: 5,
            superseded: 2,
            filtered: 3,
            unroutable: 1,
        };
        assert_eq!(s.line(), "replayed 5, skipped 6 (superseded 2, filtered 3)");
        assert_eq!(
            Summary::default().line(),
            "replayed 0, skipped 0 (superseded 0, filtered 0)"
        );
        assert_eq!(s.render(Format::Table), s.line());
        let v: serde_json::Value = serde_json::from_str(&s.render(Format::Json)).unwrap();
        assert_eq!(v["summary"]["replayed"], 5);
        assert_eq!(v["summary"]["skipped"], 6);
        assert_eq!(v["summary"]["unroutable"], 1);
        assert_eq!(v["text"], s.line());
        assert_eq!(s.handled(), 11);
    }

    #[test]
    fn decisions_are_counted() {
        let mut s = Summary::default();
        s.count(&Decision::Filtered);
        s.count(&Decision::Unroutable("x".into()));
        s.count(&Decision::Superseded {
            generation: 1,
            applied: 2,
        });
        s.count(&Decision::Replay(Route {
            topic: "t".into(),
            partition: None,
        }));
        let mut total = Summary::default();
        total.add(&s);
        total.add(&s);
        assert_eq!(
            total.line(),
            "replayed 2, skipped 6 (superseded 2, filtered 2)"
        );
    }

    fn info() -> DlqInfo {
        DlqInfo {
            original_topic: Some("provisioning.commands.slack".into()),
            original_partition: Some(2),
            original_offset: Some(17),
            kind: Some("retries_exhausted".into()),
            message: Some(format!("3 attempts failed;\nlast: {}", "x".repeat(80))),
            app: Some("slack".into()),
            failed_at_text: Some("2026-11-26T09:00:00.000Z".into()),
            ..DlqInfo::default()
        }
    }

    #[test]
    fn table_rows_line_up_and_cut_long_messages() {
        let info = info();
        let decision = Decision::Superseded {
            generation: 1,
            applied: 2,
        };
        let row = Row {
            topic: "provisioning.commands.dlq",
            partition: 0,
            offset: 4,
            key: Some(b"E1"),
            info: &info,
            decision: &decision,
        };
        let line = row.table();
        assert!(
            line.starts_with("provisioning.commands.slack/2/17 "),
            "{line}"
        );
        assert!(
            line.ends_with(" superseded (generation 1, applied 2)"),
            "{line}"
        );
        assert!(line.contains("3 attempts failed;\\nlast: xxx"), "{line}");
        assert!(line.contains('…') && !line.contains('\n'), "{line}");
        let header = table_header();
        // Columns in characters ('…' is three bytes).
        let col = |s: &str, p: &str| s[..s.find(p).unwrap()].chars().count();
        assert_eq!(col(&header, "KEY"), col(&line, "E1"), "{header}\n{line}");
        assert_eq!(col(&header, "DECISION"), col(&line, "superseded"));
    }

    #[test]
    fn hostile_keys_and_headers_cannot_drive_the_terminal() {
        let info = DlqInfo {
            original_topic: Some("t\u{1b}]0;owned\u{7}".into()),
            kind: Some("permanent\u{1b}[2J".into()),
            app: Some("sl\nack".into()),
            failed_at_text: Some("2026\r".into()),
            message: Some("ring\u{7} \u{1b}[31mred\u{202e}".into()),
            ..info()
        };
        let decision = Decision::Unroutable("bad header \u{1b}[A".into());
        let row = Row {
            topic: "provisioning.commands.dlq",
            partition: 0,
            offset: 4,
            key: Some(b"E1\x1b[1;1H\x07\nE2"),
            info: &info,
            decision: &decision,
        };
        let line = row.table();
        assert!(!line.chars().any(char::is_control), "{line:?}");
        for shown in [
            "t\\x1b]0;owned\\x07/",
            "E1\\x1b[1;1H\\x07\\nE2",
            "permanent\\x1b[2J",
            "sl\\nack",
            "2026\\r",
            "ring\\x07 \\x1b[31mred\\u{202e}",
            "unroutable: bad header \\x1b[A",
        ] {
            assert!(line.contains(shown), "{shown} not in {line}");
        }
    }

    #[test]
    fn messages_are_masked_before_they_are_cut_to_the_column() {
        let info = DlqInfo {
            message: Some(format!(
                "{} zelda.pii.epistemology@acme.test",
                "x".repeat(42)
            )),
            ..info()
        };
        let row = Row {
            topic: "provisioning.commands.dlq",
            partition: 0,
            offset: 4,
            key: None,
            info: &info,
            decision: &Decision::Filtered,
        };
        let line = row.table();
        assert!(!line.contains("zel"), "{line}");
        assert!(line.contains(" ***@…"), "{line}");
    }

    #[test]
    fn json_rows_carry_both_locations_and_the_decision() {
        let info = info();
        let decision = Decision::Replay(Route {
            topic: "provisioning.commands.slack".into(),
            partition: Some(2),
        });
        let row = Row {
            topic: "provisioning.commands.dlq",
            partition: 0,
            offset: 4,
            key: Some(b"E1"),
            info: &info,
            decision: &decision,
        };
        let v: serde_json::Value = serde_json::from_str(&row.json()).unwrap();
        assert_eq!(v["dlq"]["offset"], 4);
        assert_eq!(v["original"]["topic"], "provisioning.commands.slack");
        assert_eq!(v["original"]["offset"], 17);
        assert_eq!(v["key"], "E1");
        assert_eq!(v["decision"], "replay");
        assert_eq!(v["to"]["partition"], 2);
        assert_eq!(v["replay_count"], 0);
        let unroutable = Decision::Unroutable("no dlq.original.topic header".into());
        let row = Row {
            decision: &unroutable,
            ..row
        };
        let v: serde_json::Value = serde_json::from_str(&row.json()).unwrap();
        assert_eq!(v["reason"], "no dlq.original.topic header");
    }
}
