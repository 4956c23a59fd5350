//! etcd's backend schema: bucket names and `meta` keys.
//!
//! Buckets in bbolt (bytewise) order, which is also the order status and the
//! hashes visit them: `alarm`, `auth`, `authRoles`, `authUsers`, `cluster`,
//! `key`, `lease`, `members`, `members_removed`, `meta`.
//! Source: etcd `server/mvcc/buckets/bucket.go` (3.5),
//! `server/storage/schema/bucket.go` (3.6).

/// The MVCC keyspace: revision key → mvccpb.KeyValue.
pub const KEY: &[u8] = b"key";
/// Meta bucket.
pub const META: &[u8] = b"meta";
/// Leases: 8-byte big-endian id → leasepb.Lease.
pub const LEASE: &[u8] = b"lease";
/// Alarms: marshalled AlarmMember → empty.
pub const ALARM: &[u8] = b"alarm";
/// Cluster: `clusterVersion`, `downgrade`.
pub const CLUSTER: &[u8] = b"cluster";
/// Members: hex id → member JSON.
pub const MEMBERS: &[u8] = b"members";
/// Removed members: hex id → `removed`.
pub const MEMBERS_REMOVED: &[u8] = b"members_removed";
/// Auth: `authEnabled`, `authRevision`.
pub const AUTH: &[u8] = b"auth";
/// Auth users.
pub const AUTH_USERS: &[u8] = b"authUsers";
/// Auth roles.
pub const AUTH_ROLES: &[u8] = b"authRoles";

/// `meta` keys.
pub mod meta_key {
    /// Raft index of the last applied entry (u64 big-endian).
    pub const CONSISTENT_INDEX: &[u8] = b"consistent_index";
    /// Raft term of the last applied entry (u64 big-endian, 3.5+).
    pub const TERM: &[u8] = b"term";
    /// JSON raftpb.ConfState (3.5+).
    pub const CONF_STATE: &[u8] = b"confState";
    /// Compaction scheduled at this revision (17-byte revision key).
    pub const SCHEDULED_COMPACT_REV: &[u8] = b"scheduledCompactRev";
    /// Compaction finished at this revision (17-byte revision key).
    pub const FINISHED_COMPACT_REV: &[u8] = b"finishedCompactRev";
    /// Storage version, e.g. `3.6.0` (3.6+).
    pub const STORAGE_VERSION: &[u8] = b"storageVersion";
}
