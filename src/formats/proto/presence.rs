//! Which fields a message carried on the wire, so that it re-encodes to the
//! bytes it was read from whichever etcd wrote it.
//!
//! ```text
//! message bytes:  [tag 1][v] [tag 2][v] [tag 3][len][nested message] ...
//! Presence:       {1, 2, 3: {nested field numbers...}}
//! ```
//!
//! Why: etcd 3.4–3.6 (gogo proto2, `nullable=false`) write every scalar field of
//! the raft messages, zero or not (`ConfChange.ID = 0` as `08 00`,
//! `ConfState.auto_leave = false` as `28 00`). etcd 3.7 (raft v3.7, protobuf-go
//! with pointer fields) writes only the fields that were set, so the same values
//! come out shorter. The prost structs here write what 3.4–3.6 write; keeping
//! the presence read alongside a decoded message and applying it to the
//! re-encoded bytes drops exactly the fields the original did not carry.
//! Field order is not changed (both encoders write in field-number order; etcd
//! 3.7's raft keeps its declared order, which prost follows too).

use super::wire::{Fields, Value, WireError};

/// The field numbers a message carried, with the presence of the nested
/// messages the caller asked to follow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presence {
    fields: Vec<(u32, Option<Presence>)>,
}

impl Presence {
    /// Reads the presence of `bytes`. `nested` lists paths of field numbers
    /// (from this message down) that are messages to follow, e.g. `&[&[3]]`
    /// for `walpb.Snapshot.conf_state`.
    pub fn read(bytes: &[u8], nested: &[&[u32]]) -> Result<Presence, WireError> {
        let mut fields: Vec<(u32, Option<Presence>)> = Vec::new();
        for f in Fields::new(bytes) {
            let (number, value) = f?;
            if fields.iter().any(|(n, _)| *n == number) {
                continue;
            }
            let below: Vec<&[u32]> = nested
                .iter()
                .filter_map(|p| match p.split_first() {
                    Some((first, rest)) if *first == number => Some(rest),
                    _ => None,
                })
                .collect();
            let inner = match value {
                Value::Bytes(b) if !below.is_empty() => Some(Presence::read(b, &below)?),
                _ => None,
            };
            fields.push((number, inner));
        }
        Ok(Presence { fields })
    }

    /// Whether field `number` was on the wire.
    pub fn has(&self, number: u32) -> bool {
        self.fields.iter().any(|(n, _)| *n == number)
    }

    /// `encoded` (a re-encoding of the message this presence was read from)
    /// without the fields the original did not carry, recursively.
    pub fn apply(&self, encoded: &[u8]) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::with_capacity(encoded.len());
        let mut pos = 0usize;
        let mut fields = Fields::new(encoded);
        while let Some(f) = fields.next() {
            let (number, value) = f?;
            let end = encoded.len() - fields.remaining();
            let raw = encoded.get(pos..end).unwrap_or_default();
            pos = end;
            let Some((_, inner)) = self.fields.iter().find(|(n, _)| *n == number) else {
                continue;
            };
            match (inner, value) {
                (Some(p), Value::Bytes(b)) => {
                    let trimmed = p.apply(b)?;
                    put_varint(&mut out, (u64::from(number) << 3) | 2);
                    put_varint(&mut out, crate::bytes::to_u64(trimmed.len()));
                    out.extend_from_slice(&trimmed);
                }
                _ => out.extend_from_slice(raw),
            }
        }
        Ok(out)
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(u8::try_from(v & 0x7f).unwrap_or(0) | 0x80);
        v >>= 7;
    }
    out.push(u8::try_from(v).unwrap_or(0));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_fields_the_original_lacked() {
        // ConfChange as etcd 3.7 writes it: type=0, node_id=5, no id.
        let original = [0x10, 0x00, 0x18, 0x05];
        // What a proto2 encoder writing every scalar gives: id=0 first.
        let full = [0x08, 0x00, 0x10, 0x00, 0x18, 0x05];
        let p = Presence::read(&original, &[]).unwrap();
        assert!(!p.has(1));
        assert_eq!(p.apply(&full).unwrap(), original);
    }

    #[test]
    fn follows_nested_messages() {
        // walpb.Snapshot{index=1, term=1, conf_state={voters:[7]}} without auto_leave.
        let original = [0x08, 0x01, 0x10, 0x01, 0x1a, 0x02, 0x08, 0x07];
        let full = [0x08, 0x01, 0x10, 0x01, 0x1a, 0x04, 0x08, 0x07, 0x28, 0x00];
        let p = Presence::read(&original, &[&[3]]).unwrap();
        assert_eq!(p.apply(&full).unwrap(), original);
        // Without following field 3 the nested zero field stays.
        let flat = Presence::read(&original, &[]).unwrap();
        assert_eq!(flat.apply(&full).unwrap(), full);
    }
}
