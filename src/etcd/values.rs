//! What a value stored in etcd is, for a person: JSON, a Kubernetes object,
//! an encrypted Kubernetes value, text, or binary.
//!
//! ```text
//! Kubernetes protobuf envelope (apimachinery runtime/serializer/protobuf):
//!   "k8s\0" (6b 38 73 00) then runtime.Unknown:
//!     1 typeMeta TypeMeta { 1 apiVersion string, 2 kind string }
//!     2 raw bytes            the object; field 1 of every top-level kind is
//!                            ObjectMeta { 1 name, 3 namespace, ... }
//!     3 contentEncoding string   4 contentType string
//! Kubernetes encryption at rest: "k8s:enc:<provider>:v1:<key name>:" + ciphertext
//!   (aescbc, aesgcm, secretbox, kms; identity stores plain bytes)
//! ```
//! Field numbers: `k8s.io/apimachinery/pkg/runtime/generated.proto` (Unknown,
//! TypeMeta) and `pkg/apis/meta/v1/generated.proto` (ObjectMeta name=1,
//! namespace=3), as documented in the Kubernetes API concepts page.
//!
//! Everything here reads untrusted bytes: no panics, no allocation sized by a
//! count from the input, every loop consumes input.

use serde::Serialize;

use crate::formats::proto::wire::{Fields, Value};

/// Magic prefix of Kubernetes protobuf values.
pub const K8S_MAGIC: &[u8] = b"k8s\0";
/// Prefix of values encrypted by the kube-apiserver.
pub const K8S_ENC_PREFIX: &[u8] = b"k8s:enc:";

/// The header fields of a Kubernetes protobuf object, where they can be read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct K8sObject<'a> {
    /// `typeMeta.apiVersion`, e.g. `v1`, `apps/v1`.
    #[serde(skip_serializing_if = "Option::is_none", rename = "apiVersion")]
    pub api_version: Option<&'a str>,
    /// `typeMeta.kind`, e.g. `Pod`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'a str>,
    /// `metadata.name` of the object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    /// `metadata.namespace` of the object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
    /// `contentEncoding`, when set.
    #[serde(skip_serializing_if = "Option::is_none", rename = "contentEncoding")]
    pub content_encoding: Option<&'a str>,
    /// `contentType`, when set.
    #[serde(skip_serializing_if = "Option::is_none", rename = "contentType")]
    pub content_type: Option<&'a str>,
    /// The object bytes (`raw`).
    #[serde(skip)]
    pub raw: &'a [u8],
}

/// What a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// No bytes.
    Empty,
    /// A JSON object or array.
    Json(&'a str),
    /// A Kubernetes protobuf object.
    K8s(K8sObject<'a>),
    /// A value encrypted by the kube-apiserver (`k8s:enc:<provider>:v1:<key>:`).
    K8sEncrypted {
        /// The provider (`aescbc`, `aesgcm`, `secretbox`, `kms`, ...).
        provider: &'a str,
        /// The key name, if it can be read.
        key_name: Option<&'a str>,
    },
    /// UTF-8 text without control characters other than tab, CR and LF.
    Text(&'a str),
    /// Anything else.
    Binary,
}

impl Decoded<'_> {
    /// A short name of the kind, for JSON (`json`, `k8s`, `k8s-encrypted`, `text`,
    /// `binary`, `empty`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Decoded::Empty => "empty",
            Decoded::Json(_) => "json",
            Decoded::K8s(_) => "k8s",
            Decoded::K8sEncrypted { .. } => "k8s-encrypted",
            Decoded::Text(_) => "text",
            Decoded::Binary => "binary",
        }
    }
}

/// Recognises a value.
pub fn decode(v: &[u8]) -> Decoded<'_> {
    if v.is_empty() {
        return Decoded::Empty;
    }
    if let Some(body) = v.strip_prefix(K8S_MAGIC) {
        if let Some(obj) = k8s_envelope(body) {
            return Decoded::K8s(obj);
        }
    }
    if let Some(rest) = v.strip_prefix(K8S_ENC_PREFIX) {
        let mut parts = rest.splitn(4, |b| *b == b':');
        let provider = parts.next().and_then(|p| std::str::from_utf8(p).ok());
        let _version = parts.next();
        let key_name = parts.next().and_then(|p| std::str::from_utf8(p).ok());
        if let Some(provider) = provider.filter(|p| is_word(p)) {
            return Decoded::K8sEncrypted {
                provider,
                key_name: key_name.filter(|k| is_word(k)),
            };
        }
    }
    let Some(text) = as_text(v) else {
        return Decoded::Binary;
    };
    let t = text.trim_start();
    if (t.starts_with('{') || t.starts_with('['))
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    {
        return Decoded::Json(text);
    }
    Decoded::Text(text)
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// The value as text, if it is UTF-8 without control characters other than
/// tab, CR and LF.
pub fn as_text(v: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(v).ok()?;
    s.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .then_some(s)
}

/// Reads the `runtime.Unknown` envelope that follows `k8s\0`. `None` if it is
/// not one (a wire error, or no type information at all).
pub fn k8s_envelope(body: &[u8]) -> Option<K8sObject<'_>> {
    let mut obj = K8sObject::default();
    let mut raw = None;
    for f in Fields::new(body) {
        match f.ok()? {
            (1, Value::Bytes(tm)) => {
                for g in Fields::new(tm) {
                    match g.ok()? {
                        (1, Value::Bytes(s)) => obj.api_version = std::str::from_utf8(s).ok(),
                        (2, Value::Bytes(s)) => obj.kind = std::str::from_utf8(s).ok(),
                        _ => {}
                    }
                }
            }
            (2, Value::Bytes(r)) => raw = Some(r),
            (3, Value::Bytes(s)) => obj.content_encoding = std::str::from_utf8(s).ok(),
            (4, Value::Bytes(s)) => obj.content_type = std::str::from_utf8(s).ok(),
            (1..=4, _) => return None,
            _ => {}
        }
    }
    if obj.kind.is_none() && obj.api_version.is_none() && raw.is_none() {
        return None;
    }
    obj.raw = raw.unwrap_or(&[]);
    if obj.content_encoding.is_none_or(str::is_empty) {
        // Field 1 of every top-level kind is ObjectMeta.
        if let Some(Ok((1, Value::Bytes(meta)))) = Fields::new(obj.raw).next() {
            for g in Fields::new(meta) {
                match g {
                    Ok((1, Value::Bytes(s))) => obj.name = std::str::from_utf8(s).ok(),
                    Ok((3, Value::Bytes(s))) => obj.namespace = std::str::from_utf8(s).ok(),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }
    }
    Some(obj)
}

/// Most lines [`proto_dump`] writes.
pub const PROTO_DUMP_MAX_LINES: usize = 5000;
/// Deepest nesting [`proto_dump`] follows.
pub const PROTO_DUMP_MAX_DEPTH: usize = 12;

/// A schema-less dump of a protobuf message, like `protoc --decode_raw`:
/// field numbers with varints, fixed values, strings (printable UTF-8),
/// nested messages (bytes that parse cleanly) or hex. `None` if `buf` is not a
/// well-formed message. Bounded: at most [`PROTO_DUMP_MAX_LINES`] lines and
/// [`PROTO_DUMP_MAX_DEPTH`] levels.
pub fn proto_dump(buf: &[u8]) -> Option<String> {
    let mut out = String::new();
    let mut lines = 0usize;
    dump_message(buf, 0, &mut out, &mut lines).then_some(out)
}

fn parses_cleanly(buf: &[u8]) -> bool {
    !buf.is_empty() && Fields::new(buf).all(|f| f.is_ok())
}

fn dump_message(buf: &[u8], depth: usize, out: &mut String, lines: &mut usize) -> bool {
    use std::fmt::Write;
    if !parses_cleanly(buf) {
        return false;
    }
    let pad = "  ".repeat(depth);
    for f in Fields::new(buf) {
        let Ok((n, v)) = f else { return false };
        *lines = lines.saturating_add(1);
        if *lines > PROTO_DUMP_MAX_LINES {
            if *lines == PROTO_DUMP_MAX_LINES.saturating_add(1) {
                let _ = writeln!(out, "{pad}... (more fields not shown)");
            }
            return true;
        }
        match v {
            Value::Varint(x) => {
                let _ = writeln!(out, "{pad}{n}: {x}");
            }
            Value::Fixed64(x) => {
                let _ = writeln!(out, "{pad}{n}: 0x{x:016x}");
            }
            Value::Fixed32(x) => {
                let _ = writeln!(out, "{pad}{n}: 0x{x:08x}");
            }
            Value::Bytes(b) => {
                if let Some(t) = as_text(b) {
                    let _ = writeln!(out, "{pad}{n}: {t:?}");
                } else if depth < PROTO_DUMP_MAX_DEPTH && parses_cleanly(b) {
                    let _ = writeln!(out, "{pad}{n} {{");
                    dump_message(b, depth.saturating_add(1), out, lines);
                    let _ = writeln!(out, "{pad}}}");
                } else {
                    let shown = b.get(..64).unwrap_or(b);
                    let more = if shown.len() < b.len() { "..." } else { "" };
                    let _ = writeln!(
                        out,
                        "{pad}{n}: 0x{}{more} ({} bytes)",
                        crate::bytes::hex(shown),
                        b.len()
                    );
                }
            }
        }
    }
    true
}

/// Re-indents valid JSON text with two spaces, keeping the key order and every
/// token as written (no parsing into a map, no number reformatting).
pub fn pretty_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_add(s.len() / 2));
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    let mut chars = s.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // An empty container stays on one line.
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('}' | ']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth = depth.saturating_add(1);
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// `hexdump -C` style: offset, 16 bytes in two groups of 8, ASCII column.
/// At most `max` bytes are shown; a final line says how many were left out.
pub fn hexdump(v: &[u8], max: usize) -> String {
    use std::fmt::Write;
    let shown = v.get(..max).unwrap_or(v);
    let mut out = String::new();
    for (i, chunk) in shown.chunks(16).enumerate() {
        let _ = write!(out, "{:08x} ", i.saturating_mul(16));
        for j in 0..16 {
            if j == 8 {
                out.push(' ');
            }
            match chunk.get(j) {
                Some(b) => {
                    let _ = write!(out, " {b:02x}");
                }
                None => out.push_str("   "),
            }
        }
        out.push_str("  |");
        for b in chunk {
            out.push(if b.is_ascii_graphic() || *b == b' ' {
                char::from(*b)
            } else {
                '.'
            });
        }
        out.push_str("|\n");
    }
    if shown.len() < v.len() {
        let _ = writeln!(
            out,
            "... {} more bytes (use --raw for all)",
            v.len().saturating_sub(shown.len())
        );
    }
    out
}

/// Standard base64 with padding (RFC 4648), as Go's `encoding/json` writes `[]byte`.
pub fn base64(v: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |i: u32| char::from(A.get((i & 63) as usize).copied().unwrap_or(b'='));
    let mut out = String::with_capacity(v.len().div_ceil(3).saturating_mul(4));
    for c in v.chunks(3) {
        let b = |i: usize| u32::from(c.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(if c.len() > 1 { sym(n >> 6) } else { '=' });
        out.push(if c.len() > 2 { sym(n) } else { '=' });
    }
    out
}

/// Decodes standard base64 with padding as Go's `base64.StdEncoding` does
/// (`\r` and `\n` ignored); `None` on anything else.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let sym = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    };
    let clean: Vec<u8> = s.bytes().filter(|c| *c != b'\r' && *c != b'\n').collect();
    if clean.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    let quads = clean.chunks(4);
    let n_quads = quads.len();
    for (i, q) in quads.enumerate() {
        let pad = q.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != n_quads) {
            return None;
        }
        let mut n = 0u32;
        for (j, c) in q.iter().enumerate() {
            let v = if j >= 4 - pad { 0 } else { sym(*c)? };
            n = (n << 6) | v;
        }
        let bytes = n.to_be_bytes();
        out.extend(bytes.get(1..4 - pad).unwrap_or_default());
    }
    Some(out)
}

/// A key or short value for a table cell: text as is, anything else with
/// non-printable bytes escaped (`\x00`).
pub fn printable(v: &[u8]) -> String {
    match std::str::from_utf8(v) {
        Ok(s) if !s.chars().any(char::is_control) => s.to_owned(),
        _ => v.escape_ascii().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A k8s value as the apiserver writes it, built by hand.
    fn k8s_pod() -> Vec<u8> {
        fn field(n: u8, b: &[u8]) -> Vec<u8> {
            let mut v = vec![(n << 3) | 2, u8::try_from(b.len()).unwrap()];
            v.extend_from_slice(b);
            v
        }
        let type_meta = [field(1, b"v1"), field(2, b"Pod")].concat();
        let object_meta = [field(1, b"nginx"), field(3, b"default"), field(5, b"uid")].concat();
        let pod = [field(1, &object_meta), field(2, b"spec")].concat();
        let unknown = [field(1, &type_meta), field(2, &pod), field(4, b"")].concat();
        [K8S_MAGIC, &unknown].concat()
    }

    #[test]
    fn recognises_kubernetes_objects() {
        let v = k8s_pod();
        let Decoded::K8s(o) = decode(&v) else {
            panic!("not k8s: {:?}", decode(&v))
        };
        assert_eq!(o.api_version, Some("v1"));
        assert_eq!(o.kind, Some("Pod"));
        assert_eq!(o.name, Some("nginx"));
        assert_eq!(o.namespace, Some("default"));
        // Cut short: no longer an envelope, shown as binary.
        assert_eq!(decode(&v[..v.len() - 3]), Decoded::Binary);
    }

    #[test]
    fn proto_dump_shows_the_object() {
        let v = k8s_pod();
        let Decoded::K8s(o) = decode(&v) else {
            panic!()
        };
        let d = proto_dump(o.raw).unwrap();
        assert_eq!(
            d,
            "1 {\n  1: \"nginx\"\n  3: \"default\"\n  5: \"uid\"\n}\n2: \"spec\"\n"
        );
        assert_eq!(proto_dump(&[0x0a, 0x05]), None);
        assert_eq!(proto_dump(&[0x08, 0x96, 0x01]).unwrap(), "1: 150\n");
    }

    #[test]
    fn recognises_encrypted_values() {
        let v = b"k8s:enc:aescbc:v1:key1:\x8f\x00\x13";
        assert_eq!(
            decode(v),
            Decoded::K8sEncrypted {
                provider: "aescbc",
                key_name: Some("key1")
            }
        );
    }

    #[test]
    fn json_text_binary() {
        assert!(matches!(decode(br#"{"a": [1, 2]}"#), Decoded::Json(_)));
        assert!(matches!(decode(b"{not json"), Decoded::Text(_)));
        assert!(matches!(decode(b"42"), Decoded::Text(_)));
        assert_eq!(decode(b"bar\n"), Decoded::Text("bar\n"));
        assert_eq!(decode(b"\x00\x01"), Decoded::Binary);
        assert_eq!(decode(b"\xff"), Decoded::Binary);
        assert_eq!(decode(b""), Decoded::Empty);
    }

    #[test]
    fn pretty_json_keeps_order_and_tokens() {
        let s = r#"{"z":1.50,"a":{"s":"x, {y}: \"q\""},"e":[],"o":{ },"l":[true,null]}"#;
        let want = "{\n  \"z\": 1.50,\n  \"a\": {\n    \"s\": \"x, {y}: \\\"q\\\"\"\n  },\n  \"e\": [],\n  \"o\": {},\n  \"l\": [\n    true,\n    null\n  ]\n}";
        assert_eq!(pretty_json(s), want);
    }

    #[test]
    fn base64_round_trips() {
        for v in [&b""[..], b"a", b"ab", b"abc", b"\x00\xff\x10hello"] {
            assert_eq!(base64_decode(&base64(v)).unwrap(), v);
        }
        assert!(base64_decode("abc").is_none());
        assert!(base64_decode("ab=c").is_none());
        assert!(base64_decode("a*==").is_none());
    }

    #[test]
    fn hexdump_and_base64() {
        assert_eq!(
            hexdump(b"k8s\x00abcdefghijklmnop", 64),
            "00000000  6b 38 73 00 61 62 63 64  65 66 67 68 69 6a 6b 6c  |k8s.abcdefghijkl|\n\
             00000010  6d 6e 6f 70                                       |mnop|\n"
        );
        assert!(hexdump(&[0u8; 40], 16).ends_with("... 24 more bytes (use --raw for all)\n"));
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xff, 0xfe, 0x00, 0x01]), "//4AAQ==");
    }

    #[test]
    fn printable_escapes() {
        assert_eq!(printable(b"/registry/pods"), "/registry/pods");
        assert_eq!(printable(b"a\x00\xff"), "a\\x00\\xff");
    }
}
