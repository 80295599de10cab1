//! Logs: `tracing` to stderr, JSON lines when stderr is not a terminal (or
//! with `--log-format json`), human-readable otherwise; `RUST_LOG` filters
//! (default `info`).
//!
//! What a line may carry: ids (event, employee, command, hold), apps,
//! topics, partitions, offsets, counts and reasons. Never an e-mail address,
//! a name or a secret. The code keeps to that by logging ids only; as a last
//! line of defence every line passes through [`mask_emails`] before it is
//! written, so an e-mail that slips into an error message from an app or a
//! broken event still never reaches the log. (`tests/ops/logs.rs` runs the
//! engine and a connector on events full of names and e-mails and checks
//! the captured log.)

use std::io::{self, IsTerminal, Write};

use tracing_subscriber::fmt::MakeWriter;

use crate::pii::{has_at_sign, mask_emails};

/// The two formats of `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object a line (flattened fields, current span and span list).
    Json,
    /// For people at a terminal.
    Pretty,
}

/// Installs the global subscriber; `None` picks JSON unless stderr is a terminal.
pub fn init(format: Option<LogFormat>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match format {
        Some(LogFormat::Json) => true,
        Some(LogFormat::Pretty) => false,
        None => !io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(MaskedStderr);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .init();
    } else {
        builder.with_ansi(io::stderr().is_terminal()).init();
    }
}

/// Stderr, with e-mail addresses masked in every line.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaskedStderr;

impl<'a> MakeWriter<'a> for MaskedStderr {
    type Writer = Masked<io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        Masked(io::stderr())
    }
}

/// A writer that masks e-mail addresses in what it is given. `tracing`
/// formats a whole line, then writes it in one call, so an address is never
/// split between two calls.
#[derive(Debug)]
pub struct Masked<W>(pub W);

impl<W: Write> Write for Masked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) if has_at_sign(text) => self.0.write_all(mask_emails(text).as_bytes())?,
            _ => self.0.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked_whole() {
        let mut out = Masked(Vec::new());
        out.write_all(br#"{"reason":"user ada@acme.test exists","employee_id":"E1"}"#)
            .unwrap();
        let text = String::from_utf8(out.0).unwrap();
        assert_eq!(
            text,
            r#"{"reason":"user ***@*** exists","employee_id":"E1"}"#
        );
    }

    #[test]
    fn masking_keeps_a_json_line_valid() {
        let reasons = [
            r#"key "ada@acme.test" does not match"#,
            r#"quoted "ada lovelace"@acme.test here"#,
            r"escaped ada\u0040acme.test and C:\dir\ada@acme.test\",
            "tab\tada@acme.test\\",
        ];
        for reason in reasons {
            let line = serde_json::json!({ "reason": reason }).to_string();
            let mut out = Masked(Vec::new());
            out.write_all(line.as_bytes()).unwrap();
            let text = String::from_utf8(out.0).unwrap();
            let v: serde_json::Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            let masked = v["reason"].as_str().unwrap();
            assert!(!masked.contains("ada"), "{masked}");
            assert!(masked.contains("***@***"), "{masked}");
        }
    }
}
