//! serde helpers to show protobuf `bytes` fields to people: valid UTF-8 is
//! written as a JSON string, anything else as `{"hex": "..."}`.

use serde::Serializer;

/// Serializes bytes as a string when they are UTF-8, else as `{"hex": ...}`.
pub fn bytes<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    match std::str::from_utf8(b) {
        Ok(t) => s.serialize_str(t),
        Err(_) => {
            let mut m = s.serialize_map(Some(1))?;
            m.serialize_entry("hex", &crate::bytes::hex(b))?;
            m.end()
        }
    }
}

/// [`bytes`] for an optional field.
#[allow(clippy::ref_option)]
pub fn opt_bytes<S: Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match b {
        Some(b) => bytes(b, s),
        None => s.serialize_none(),
    }
}

/// Bytes shown as text for a table: UTF-8 as is (control characters escaped),
/// anything else as `0x<hex>`.
pub fn display(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(t) => t
            .chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
        Err(_) => format!("0x{}", crate::bytes::hex(b)),
    }
}

/// Serializes a member or cluster id as 16 lowercase hex digits (JSON numbers
/// lose ids above 2^53).
#[allow(clippy::trivially_copy_pass_by_ref)]
pub fn hex_id<S: Serializer>(id: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{id:016x}"))
}
