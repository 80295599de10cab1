//! Personal data out of text that leaves the process: log lines, error
//! messages, dead-letter headers, result records.
//!
//! Apps echo what they were sent in their error bodies, and events carry
//! addresses in the fields they get wrong, so any text from outside may hold
//! an e-mail address, whole or in part. This module is the one place that
//! recognises them; it sits below every other module (it knows no type of
//! the crate), so connectors, the dead-letter code and the log writer share
//! it without importing each other.
//!
//! Two rules make masking hold up:
//! - **Mask first, cut later.** [`excerpt`] masks the whole text, then
//!   shortens it, so a cut can never leave the front half of an address
//!   (`zelda.pii.epi…`) that no longer looks like one.
//! - **Mask the whole word.** A word holding an at-sign (`@`, `%40`,
//!   `\u0040`, `&#64;`, `＠`) is replaced by `***@***` as a whole, whatever
//!   sticks to it; a quoted local part (`"ada lovelace"@x`) goes with it, and
//!   so does a half address (`ada@`, `@acme.test`, `ada@localhost`). A bare
//!   handle such as `@home` (no local part, no dot) stays.

/// What replaces an address.
pub const MASK: &str = "***@***";
/// What replaces a personal value (a name, a user name).
pub const REDACTED: &str = "***";
/// Marks text cut by [`excerpt`].
pub const ELLIPSIS: char = '…';

/// The at-sign and its encoded forms (URL, JSON, HTML, full width).
const AT_SIGNS: [&str; 7] = ["@", "%40", "\\u0040", "&#64;", "&#x40;", "&commat;", "＠"];
/// Farthest back (in characters) the opening quote of a quoted local part is looked for.
const QUOTED_LOCAL_MAX: usize = 64;

/// Characters that may belong to an address word: RFC 5322 `atext`, the dot,
/// and `%` and `\` (for encoded and escaped forms, as in a JSON log line).
/// Generous on purpose: masking a little too much is harmless, leaving half
/// an address is not.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || "._%+-'!#$&*=?^`{|}~/\\".contains(c)
}

/// Whether `text` holds any at-sign form at all: a cheap test before
/// [`mask_emails`], for text that rarely has one (log lines).
pub fn has_at_sign(text: &str) -> bool {
    text.contains('@')
        || text.contains('＠')
        || text.contains("%40")
        || text.contains("\\u0040")
        || text.contains("&#")
        || text.contains("&commat;")
}

/// The length in characters of the at-sign starting `rest`, if one does.
fn at_sign(rest: &[char]) -> Option<usize> {
    AT_SIGNS.iter().find_map(|sign| {
        let n = sign.chars().count();
        let matches = rest.len() >= n
            && sign
                .chars()
                .zip(rest)
                .all(|(a, b)| a.eq_ignore_ascii_case(b));
        matches.then_some(n)
    })
}

/// Replaces every e-mail address, whole or partial, with [`MASK`] (see the
/// module docs for what counts as one).
pub fn mask_emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let mut split: Option<(usize, usize)> = None; // (local end, domain start)
        loop {
            if let Some(n) = at_sign(&chars[i..]) {
                split.get_or_insert((i, i + n));
                i += n;
            } else if i < chars.len() && is_word_char(chars[i]) {
                i += 1;
            } else {
                break;
            }
        }
        if i == start {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // Backslashes ending a word escape what follows it (`\"` in a JSON
        // log line): they stay, or masking would break the escape.
        let mut end = i;
        while end > start && chars[end - 1] == '\\' {
            end -= 1;
        }
        let word = &chars[start..end];
        match split.filter(|(_, domain_start)| *domain_start <= end) {
            Some((local_end, domain_start)) => {
                let local = &chars[start..local_end];
                let domain = &chars[domain_start..end];
                let alnum = |s: &[char]| s.iter().any(|c| c.is_alphanumeric());
                let quoted = local.is_empty() && unquote_local(&mut out);
                if quoted || alnum(local) || (alnum(domain) && domain.contains(&'.')) {
                    out.push_str(MASK);
                } else {
                    out.extend(word);
                }
            }
            None => out.extend(word),
        }
        out.extend(&chars[end..i]);
    }
    out
}

/// If `out` ends with a quoted string (`"ada lovelace"`), the local part of
/// an address that follows: removes it and says so.
fn unquote_local(out: &mut String) -> bool {
    let Some(body) = out.strip_suffix('"') else {
        return false;
    };
    let Some(open) = body.rfind('"') else {
        return false;
    };
    let quoted = &body[open + 1..];
    if quoted.contains('\n') || quoted.chars().count() > QUOTED_LOCAL_MAX {
        return false;
    }
    out.truncate(open);
    // An escaped quote (`\"ada lovelace\"@x` in a JSON string) goes whole.
    if out.ends_with('\\') {
        out.pop();
    }
    true
}

/// `text` on one line (runs of whitespace become one space), addresses
/// masked, then cut to at most `max_chars` characters with [`ELLIPSIS`]
/// marking a cut. Masking comes first, so no cut leaves part of an address.
pub fn excerpt(text: &str, max_chars: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let masked = mask_emails(&one_line);
    if masked.chars().count() <= max_chars {
        return masked;
    }
    let mut short: String = masked.chars().take(max_chars.saturating_sub(1)).collect();
    short.push(ELLIPSIS);
    short
}

/// `text` without addresses and without the given personal values (names,
/// user names), each replaced by [`REDACTED`]. A value cut short by an
/// [`excerpt`] (`… Zelda Epistem…`) goes too. Values shorter than two
/// characters are left alone: replacing every `A` would destroy the message
/// and hide nothing.
pub fn redact(text: &str, values: &[&str]) -> String {
    let mut text = text.to_string();
    for value in values.iter().filter(|v| v.chars().count() >= 2) {
        text = text.replace(value, REDACTED);
    }
    if let Some(body) = text.strip_suffix(ELLIPSIS) {
        let cut = values.iter().find_map(|value| {
            let chars: Vec<char> = value.chars().collect();
            (3..chars.len())
                .rev()
                .map(|n| chars[..n].iter().collect::<String>())
                .find(|prefix| body.ends_with(prefix.as_str()))
        });
        if let Some(prefix) = cut {
            let kept = &body[..body.len() - prefix.len()];
            text = format!("{kept}{REDACTED}{ELLIPSIS}");
        }
    }
    mask_emails(&text)
}

#[cfg(test)]
#[path = "pii_tests.rs"]
mod tests;
