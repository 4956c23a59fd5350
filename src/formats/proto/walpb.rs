//! `walpb` messages (etcd `server/wal/walpb/record.proto`, gogo proto2).
//!
//! ```text
//! Record   1 type int64 (always)  2 crc uint32 (always)  3 data bytes (if non-nil)
//! Snapshot 1 index u64 (always)   2 term u64 (always)    3 conf_state (nullable; 3.5+)
//! ```
//! Source: etcd v3.5.1 `server/wal/walpb/record.proto` and `record.pb.go`.

use super::raftpb::ConfState;

/// One WAL record (the payload of a frame).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Record {
    /// Record type: 1 metadata, 2 entry, 3 state, 4 crc, 5 snapshot.
    #[prost(int64, required, tag = "1")]
    pub r#type: i64,
    /// The running CRC-32C after this record's data.
    #[prost(uint32, required, tag = "2")]
    pub crc: u32,
    /// The record's payload.
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub data: Option<bytes::Bytes>,
}

/// A snapshot marker in the WAL.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Snapshot {
    /// Raft index of the snapshot.
    #[prost(uint64, required, tag = "1")]
    pub index: u64,
    /// Raft term of the snapshot.
    #[prost(uint64, required, tag = "2")]
    pub term: u64,
    /// Configuration at the snapshot (absent in 3.4 and in the initial `{0,0}` record).
    #[prost(message, optional, tag = "3")]
    pub conf_state: Option<ConfState>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn empty_snapshot_record_is_08_00_10_00() {
        let s = Snapshot::default();
        assert_eq!(s.encode_to_vec(), [0x08, 0, 0x10, 0]);
        let r = Record {
            r#type: 4,
            crc: 0,
            data: None,
        };
        assert_eq!(r.encode_to_vec(), [0x08, 0x04, 0x10, 0x00]);
    }
}
