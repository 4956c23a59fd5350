//! A zero-copy protobuf wire reader, for the messages read once per key on hot
//! paths (mvccpb.KeyValue): fields are borrowed from the input, nothing is
//! allocated. Whole messages that are read rarely use prost structs instead.
//!
//! ```text
//! field = tag (varint: field_number << 3 | wire_type) payload
//! wire_type 0: varint (≤ 10 bytes)       1: 8 bytes (fixed64)
//!           2: varint length + bytes     5: 4 bytes (fixed32)
//!           3, 4: groups (deprecated; rejected, as gogo rejects them in etcd types)
//! ```
//! Source: protobuf encoding spec; gogo-generated `Unmarshal` in etcd's
//! `api/mvccpb/kv.pb.go`, which rejects a wrong wire type on a known field and
//! skips unknown fields.

use std::fmt;

/// Why a message could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The input ended inside a field.
    Truncated {
        /// Offset of the field that was cut.
        at: usize,
    },
    /// A varint longer than 10 bytes or overflowing 64 bits.
    VarintOverflow {
        /// Offset of the varint.
        at: usize,
    },
    /// A wire type that cannot occur (6, 7) or a group.
    BadWireType {
        /// Offset of the tag.
        at: usize,
        /// The wire type.
        wire_type: u8,
    },
    /// Field number 0.
    ZeroField {
        /// Offset of the tag.
        at: usize,
    },
    /// A known field with the wrong wire type.
    WrongWireType {
        /// Field number.
        field: u32,
        /// Wire type found.
        wire_type: u8,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated { at } => write!(f, "protobuf field at byte {at} is cut short"),
            WireError::VarintOverflow { at } => write!(f, "protobuf varint at byte {at} overflows"),
            WireError::BadWireType { at, wire_type } => {
                write!(
                    f,
                    "protobuf wire type {wire_type} at byte {at} is not valid"
                )
            }
            WireError::ZeroField { at } => write!(f, "protobuf field number 0 at byte {at}"),
            WireError::WrongWireType { field, wire_type } => {
                write!(f, "protobuf field {field} has wrong wire type {wire_type}")
            }
        }
    }
}

/// A field's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

impl Value<'_> {
    /// The wire type number of this payload.
    pub fn wire_type(&self) -> u8 {
        match self {
            Value::Varint(_) => 0,
            Value::Fixed64(_) => 1,
            Value::Bytes(_) => 2,
            Value::Fixed32(_) => 5,
        }
    }
}

/// Reads a varint at `*pos`, advancing it.
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let start = *pos;
    let mut v: u64 = 0;
    for i in 0..10u32 {
        let b = *buf.get(*pos).ok_or(WireError::Truncated { at: start })?;
        *pos += 1;
        if i == 9 && b > 1 {
            return Err(WireError::VarintOverflow { at: start });
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(WireError::VarintOverflow { at: start })
}

/// Iterates the fields of a message.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    /// Fields of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Fields { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn field(&mut self) -> Result<(u32, Value<'a>), WireError> {
        let at = self.pos;
        let tag = read_varint(self.buf, &mut self.pos)?;
        let wire_type = (tag & 7) as u8;
        let number =
            u32::try_from(tag >> 3).map_err(|_| WireError::BadWireType { at, wire_type })?;
        if number == 0 {
            return Err(WireError::ZeroField { at });
        }
        let value = match wire_type {
            0 => Value::Varint(read_varint(self.buf, &mut self.pos)?),
            1 => {
                let b = crate::bytes::array::<8>(self.buf, self.pos)
                    .ok_or(WireError::Truncated { at })?;
                self.pos += 8;
                Value::Fixed64(u64::from_le_bytes(b))
            }
            2 => {
                let len = read_varint(self.buf, &mut self.pos)?;
                let len = usize::try_from(len).map_err(|_| WireError::Truncated { at })?;
                let b = crate::bytes::slice(self.buf, self.pos, len)
                    .ok_or(WireError::Truncated { at })?;
                self.pos += len;
                Value::Bytes(b)
            }
            5 => {
                let b = crate::bytes::array::<4>(self.buf, self.pos)
                    .ok_or(WireError::Truncated { at })?;
                self.pos += 4;
                Value::Fixed32(u32::from_le_bytes(b))
            }
            _ => return Err(WireError::BadWireType { at, wire_type }),
        };
        Ok((number, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let r = self.field();
        if r.is_err() {
            // Stop: the rest cannot be framed.
            self.pos = self.buf.len();
        }
        Some(r)
    }
}

/// Requires a varint payload for a known field.
pub fn varint(field: u32, v: Value<'_>) -> Result<u64, WireError> {
    match v {
        Value::Varint(x) => Ok(x),
        other => Err(WireError::WrongWireType {
            field,
            wire_type: other.wire_type(),
        }),
    }
}

/// Requires a length-delimited payload for a known field.
pub fn bytes(field: u32, v: Value<'_>) -> Result<&[u8], WireError> {
    match v {
        Value::Bytes(b) => Ok(b),
        other => Err(WireError::WrongWireType {
            field,
            wire_type: other.wire_type(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut p = 0;
        assert_eq!(read_varint(&[0xac, 0x02], &mut p), Ok(300));
        let mut p = 0;
        assert!(read_varint(&[0xff; 11], &mut p).is_err());
        let mut p = 0;
        assert!(read_varint(&[0x80], &mut p).is_err());
        let mut p = 0;
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(read_varint(&max, &mut p), Ok(u64::MAX));
    }

    #[test]
    fn fields_stop_on_error() {
        let f: Vec<_> = Fields::new(&[0x0a, 0x05, 0x01]).collect();
        assert_eq!(f.len(), 1);
        assert!(f[0].is_err());
    }
}
