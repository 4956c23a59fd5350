//! `snappb.Snapshot`, the envelope of a `.snap` file (etcd
//! `server/etcdserver/api/snap/snappb/snap.proto`, gogo proto2).
//!
//! ```text
//! Snapshot 1 crc uint32 (always; CRC-32C of data)  2 data bytes (if non-nil)
//! ```

/// The `.snap` file envelope.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Snapshot {
    /// CRC-32C (Castagnoli) of `data`.
    #[prost(uint32, required, tag = "1")]
    pub crc: u32,
    /// A marshalled `raftpb.Snapshot`.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub data: Option<Vec<u8>>,
}
