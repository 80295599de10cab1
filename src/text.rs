//! Text shown to people at a terminal: table cells and error lines.
//!
//! Table cells come from records the CLI does not control — dead-letter
//! keys and headers, employee ids, rule names — and a terminal obeys what it
//! is sent: an ESC sequence recolours or rewrites the screen, a BEL rings, a
//! newline splits a row, a right-to-left override reorders what follows.
//! Every table the CLI prints passes its cells through [`escape`], so such
//! characters are shown, never obeyed. JSON output needs no help: its
//! encoder escapes control characters itself.

use std::borrow::Cow;
use std::error::Error;
use std::fmt::Write;

/// Unicode format and separator characters that reorder or hide text (bidi
/// controls, zero-width characters, line and paragraph separators), which
/// `char::is_control` does not cover.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// `text` with control and invisible characters written as escapes: `\n`,
/// `\r`, `\t`, `\x1b` (other C0, DEL and C1 controls likewise), `\u{202e}`
/// (invisible characters), and `\\` for a backslash, so an escape in the
/// output always means one in the input. Borrowed when nothing needs escaping.
pub fn escape(text: &str) -> Cow<'_, str> {
    let needs = |c: char| c == '\\' || c.is_control() || is_invisible(c);
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        // Writing to a String cannot fail.
        let _ = match c {
            '\\' => out.write_str("\\\\"),
            '\n' => out.write_str("\\n"),
            '\r' => out.write_str("\\r"),
            '\t' => out.write_str("\\t"),
            c if c.is_control() => write!(out, "\\x{:02x}", u32::from(c)),
            c if is_invisible(c) => write!(out, "\\u{{{:04x}}}", u32::from(c)),
            c => out.write_char(c),
        };
    }
    Cow::Owned(out)
}

/// An instant as the CLI prints it: RFC 3339 with milliseconds and `Z`, the
/// form commands carry (CONTRACT §5).
pub fn instant(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `header` and `rows` as the lines of a table for people: every cell
/// escaped ([`escape`]) and padded to its column's widest cell, columns two
/// spaces apart, the last one unpadded.
pub fn columns<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> Vec<String> {
    let header = header.map(|cell| escape(cell).into_owned());
    let rows: Vec<[String; N]> = rows
        .iter()
        .map(|row| row.clone().map(|cell| escape(&cell).into_owned()))
        .collect();
    let mut widths = [0; N];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    std::iter::once(&header)
        .chain(&rows)
        .map(|row| {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
                if i + 1 < N {
                    // Writing to a String cannot fail.
                    let _ = write!(line, "{cell:<width$}  ");
                } else {
                    line.push_str(cell);
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// An error and its causes on one line, `outer: cause: root cause`, each
/// said once: a cause whose text the line already holds is left out. Many
/// errors repeat their source's text in their own message (so that a log
/// line showing only the top error is complete) and also return it from
/// `source()`; printing the chain naively would say it two or three times.
pub fn error_chain(error: &(dyn Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(current) = cause {
        let text = current.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = current.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_invisible_characters_are_shown_not_obeyed() {
        assert_eq!(escape("E1"), Cow::Borrowed("E1"));
        assert_eq!(
            escape("E\u{1b}[31mRED\u{7}\nrow2\r\t\u{7f}\u{9b}"),
            "E\\x1b[31mRED\\x07\\nrow2\\r\\t\\x7f\\x9b"
        );
        assert_eq!(
            escape("a\u{202e}b\u{200b}c\u{2028}"),
            "a\\u{202e}b\\u{200b}c\\u{2028}"
        );
        assert_eq!(escape("C:\\x1b"), "C:\\\\x1b");
        assert_eq!(escape("Zoë 日本"), "Zoë 日本");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read config.toml: {source}")]
    struct Outer {
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("starting the engine")]
    struct Context {
        #[source]
        source: Outer,
    }

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = Context {
            source: Outer { source: io },
        };
        assert_eq!(
            error_chain(&error),
            "starting the engine: cannot read config.toml: no such file"
        );
    }

    #[test]
    fn columns_are_padded_to_their_widest_escaped_cell() {
        let rows = [
            ["E1".to_string(), "slack".to_string(), "".to_string()],
            [
                "E\u{7}2".to_string(),
                "zendesk".to_string(),
                "x".to_string(),
            ],
        ];
        assert_eq!(
            columns(["ID", "APP", "NOTE"], &rows),
            [
                "ID      APP      NOTE",
                "E1      slack",
                "E\\x072  zendesk  x"
            ]
        );
        assert_eq!(
            instant("2026-12-31T23:00:00Z".parse().unwrap()),
            "2026-12-31T23:00:00.000Z"
        );
    }
}
