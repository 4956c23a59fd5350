//! `leasepb.Lease`, the value of the `lease` bucket (etcd `server/lease/leasepb/lease.proto`, proto3).
//!
//! ```text
//! Lease 1 ID int64  2 TTL int64  3 RemainingTTL int64   (zero fields not written)
//! ```

use serde::Serialize;

/// A lease as stored in the backend.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message, Serialize)]
pub struct Lease {
    /// Lease id.
    #[prost(int64, tag = "1")]
    pub id: i64,
    /// Granted TTL in seconds.
    #[prost(int64, tag = "2")]
    pub ttl: i64,
    /// Remaining TTL from the last checkpoint (0: none).
    #[prost(int64, tag = "3")]
    pub remaining_ttl: i64,
}
