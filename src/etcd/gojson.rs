//! JSON strings written byte for byte as Go's `encoding/json` writes them
//! (etcd stores member JSON and v2 store nodes that way; a digest or a
//! byte comparison with etcd's files depends on the exact escapes).

use std::fmt::Write as _;

/// Appends `s` as a JSON string the way Go's `encoding/json` writes it:
/// `<`, `>`, `&`, U+2028 and U+2029 escaped as `\u…`, control characters
/// as `\n`, `\r`, `\t` or `\u00XX` (Go before 1.22, which etcd 3.5 uses).
pub fn go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a JSON list of strings, each written by [`go_json_string`].
pub fn go_json_list(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, u) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_json_string(out, u);
    }
    out.push(']');
}
