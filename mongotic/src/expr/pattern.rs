//! Turning user text into regular expressions that match it literally.
//!
//! Everything a user passes to `contains`, `starts_with`, `ends_with`, `like` and `ilike` is
//! data. Each ASCII punctuation character is escaped with a backslash (in PCRE a backslash
//! before a non-alphanumeric character always means the character itself), and control
//! characters are written as `\xHH`, so no input can become regex syntax. In `like` patterns
//! only `%` (any run of characters) and `_` (exactly one character) are wildcards.
//!
//! Anchors are `^` and `\z`: `$` would also match before a final newline. The patterns are
//! used with the `s` option so that `.` (from `%` and `_`) matches newlines too.

use std::fmt::Write as _;

/// Appends `text` to `out` as a regex that matches exactly that text.
pub(crate) fn push_literal(out: &mut String, text: &str) {
    for ch in text.chars() {
        push_literal_char(out, ch);
    }
}

fn push_literal_char(out: &mut String, ch: char) {
    if ch.is_ascii_punctuation() {
        out.push('\\');
        out.push(ch);
    } else if ch.is_ascii_control() {
        // Infallible: writing to a String cannot fail.
        let _ = write!(out, "\\x{:02x}", ch as u32);
    } else {
        out.push(ch);
    }
}

/// An unanchored regex matching `text` anywhere.
pub(crate) fn contains(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    push_literal(&mut out, text);
    out
}

/// A regex matching values that start with `text`.
pub(crate) fn starts_with(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    out.push('^');
    push_literal(&mut out, text);
    out
}

/// A regex matching values that end with `text`.
pub(crate) fn ends_with(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    push_literal(&mut out, text);
    out.push_str("\\z");
    out
}

/// The anchored regex for an SQL `LIKE` pattern: `%` is any run of characters, `_` exactly
/// one, a backslash makes the next character literal (`\%`, `\_`, `\\`), everything else is
/// literal.
pub(crate) fn like(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    out.push('^');
    let mut chars = pattern.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            // A trailing backslash has nothing to escape and stands for itself.
            '\\' => push_literal_char(&mut out, chars.next().unwrap_or('\\')),
            other => push_literal_char(&mut out, other),
        }
    }
    out.push_str("\\z");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metacharacters_are_escaped() {
        assert_eq!(contains("a.b*c"), r"a\.b\*c");
        assert_eq!(contains(r"(x|y)\[z]$^"), r"\(x\|y\)\\\[z\]\$\^");
        assert_eq!(contains("{\"$ne\": null}"), r#"\{\"\$ne\"\: null\}"#);
    }

    #[test]
    fn control_characters_become_hex_escapes() {
        assert_eq!(contains("a\u{0}b\n"), r"a\x00b\x0a");
    }

    #[test]
    fn non_ascii_is_kept() {
        assert_eq!(starts_with("Zoë"), "^Zoë");
    }

    #[test]
    fn anchors() {
        assert_eq!(starts_with("ab"), "^ab");
        assert_eq!(ends_with("ab"), r"ab\z");
    }

    #[test]
    fn like_wildcards_and_literals() {
        assert_eq!(like("Al%"), r"^Al.*\z");
        assert_eq!(like("A_c"), r"^A.c\z");
        assert_eq!(like("100%.x"), r"^100.*\.x\z");
        assert_eq!(like(r"100\%"), r"^100\%\z");
        assert_eq!(like(r"a\_b\\"), r"^a\_b\\\z");
        assert_eq!(like("end\\"), r"^end\\\z");
    }
}
