//! `mvccpb.KeyValue`, the value of every entry in etcd's `key` bucket, as a
//! zero-copy view.
//!
//! ```text
//! KeyValue (proto3; zero fields are not written)
//!   1 key bytes   2 create_revision int64   3 mod_revision int64
//!   4 version int64   5 value bytes   6 lease int64
//! ```
//! A tombstone's value holds the key only. Checked on an etcd 3.5.1 file:
//! `0a03666f6f 1002 1802 2001 2a03626172` = foo, create 2, mod 2, version 1, bar.
//! Source: etcd `api/mvccpb/kv.proto`.

use serde::Serialize;

use super::wire::{bytes, varint, Fields, WireError};

/// A decoded KeyValue borrowing its key and value from the input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KeyValueRef<'a> {
    /// The user key.
    #[serde(skip)]
    pub key: &'a [u8],
    /// Revision of the key's creation in its current generation.
    pub create_revision: i64,
    /// Revision of this change.
    pub mod_revision: i64,
    /// Number of puts since creation.
    pub version: i64,
    /// The value.
    #[serde(skip)]
    pub value: &'a [u8],
    /// Lease id, 0 for none.
    pub lease: i64,
}

impl<'a> KeyValueRef<'a> {
    /// Decodes `buf` as gogo's `KeyValue.Unmarshal` would (unknown fields skipped,
    /// wrong wire types on known fields rejected; the last occurrence wins).
    pub fn decode(buf: &'a [u8]) -> Result<Self, WireError> {
        let mut kv = KeyValueRef::default();
        for f in Fields::new(buf) {
            let (n, v) = f?;
            // int64 fields are varints reinterpreted as two's complement.
            #[allow(clippy::cast_possible_wrap)]
            match n {
                1 => kv.key = bytes(n, v)?,
                2 => kv.create_revision = varint(n, v)? as i64,
                3 => kv.mod_revision = varint(n, v)? as i64,
                4 => kv.version = varint(n, v)? as i64,
                5 => kv.value = bytes(n, v)?,
                6 => kv.lease = varint(n, v)? as i64,
                _ => {}
            }
        }
        Ok(kv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_checked_example() {
        let b = [
            0x0a, 0x03, b'f', b'o', b'o', 0x10, 0x02, 0x18, 0x02, 0x20, 0x01, 0x2a, 0x03, b'b',
            b'a', b'r',
        ];
        let kv = KeyValueRef::decode(&b).unwrap();
        assert_eq!(kv.key, b"foo");
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 2, 1));
        assert_eq!(kv.value, b"bar");
        assert!(KeyValueRef::decode(&[0x08, 0x01]).is_err()); // key as varint
        assert_eq!(KeyValueRef::decode(&[]).unwrap(), KeyValueRef::default());
    }
}
