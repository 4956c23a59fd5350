//! `etcdserverpb` messages found in the WAL: the WAL `Metadata`, the v2
//! `Request` (gogo proto2) and `InternalRaftRequest` with its sub-requests
//! (proto3).
//!
//! ```text
//! Metadata  1 NodeID u64 (always)  2 ClusterID u64 (always)
//! Request   1 ID u64  2 Method string  3 Path string  4 Val string  5 Dir bool
//!  (v2)     6 PrevValue string  7 PrevIndex u64  8 PrevExist bool (only if set)
//!           9 Expiration int64 (Unix ns)  10 Wait  11 Since u64  12 Recursive
//!           13 Sorted  14 Quorum  15 Time int64 (Unix ns)  16 Stream
//!           17 Refresh bool (only if set); all others always written
//! InternalRaftRequest (proto3) 100 header  1 ID  2 v2  3 range  4 put
//!           5 delete_range  6 txn  7 compaction  8 lease_grant  9 lease_revoke
//!           10 alarm  11 lease_checkpoint  1000.. auth  1300.. membership
//! ```
//! v2 strings are kept as bytes: gogo does not check UTF-8, and a key with
//! invalid UTF-8 must not turn a request into "unknown".
//! Source: etcd v3.5.1 `server/etcdserver/etcdserverpb/etcdserver.proto`,
//! `raft_internal.proto`, `api/etcdserverpb/rpc.proto`.

use serde::Serialize;

use super::authpb;
use super::membershippb;

/// The metadata record of every WAL file.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message, Serialize)]
pub struct Metadata {
    /// This member's id.
    #[prost(uint64, required, tag = "1")]
    #[serde(rename = "member_id", serialize_with = "super::text::hex_id")]
    pub node_id: u64,
    /// The cluster's id.
    #[prost(uint64, required, tag = "2")]
    #[serde(serialize_with = "super::text::hex_id")]
    pub cluster_id: u64,
}

/// A v2 API request (also etcd's own v2 store writes and SYNC).
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct Request {
    /// Request id.
    #[prost(uint64, required, tag = "1")]
    #[serde(rename = "id")]
    pub id: u64,
    /// `PUT`, `POST`, `DELETE`, `QGET`, `SYNC`, ...
    #[prost(bytes = "vec", required, tag = "2")]
    #[serde(serialize_with = "super::text::bytes")]
    pub method: Vec<u8>,
    /// v2 store path (`/1/...` for user keys, `/0/...` for etcd's own).
    #[prost(bytes = "vec", required, tag = "3")]
    #[serde(serialize_with = "super::text::bytes")]
    pub path: Vec<u8>,
    /// Value.
    #[prost(bytes = "vec", required, tag = "4")]
    #[serde(serialize_with = "super::text::bytes")]
    pub val: Vec<u8>,
    /// Directory.
    #[prost(bool, required, tag = "5")]
    pub dir: bool,
    /// Compare-and-swap: previous value.
    #[prost(bytes = "vec", required, tag = "6")]
    #[serde(serialize_with = "super::text::bytes")]
    pub prev_value: Vec<u8>,
    /// Compare-and-swap: previous index.
    #[prost(uint64, required, tag = "7")]
    pub prev_index: u64,
    /// Must (not) exist; absent when unset.
    #[prost(bool, optional, tag = "8")]
    pub prev_exist: Option<bool>,
    /// Absolute expiration, Unix nanoseconds (0: none).
    #[prost(int64, required, tag = "9")]
    pub expiration: i64,
    /// Watch.
    #[prost(bool, required, tag = "10")]
    pub wait: bool,
    /// Watch from index.
    #[prost(uint64, required, tag = "11")]
    pub since: u64,
    /// Recursive.
    #[prost(bool, required, tag = "12")]
    pub recursive: bool,
    /// Sorted.
    #[prost(bool, required, tag = "13")]
    pub sorted: bool,
    /// Quorum read.
    #[prost(bool, required, tag = "14")]
    pub quorum: bool,
    /// Unix nanoseconds (SYNC: expire keys up to this time).
    #[prost(int64, required, tag = "15")]
    pub time: i64,
    /// Stream.
    #[prost(bool, required, tag = "16")]
    pub stream: bool,
    /// Refresh the TTL only; absent when unset.
    #[prost(bool, optional, tag = "17")]
    pub refresh: Option<bool>,
}

/// Header of an internal request.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct RequestHeader {
    /// Request id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Authenticated user.
    #[prost(string, tag = "2")]
    pub username: String,
    /// Auth revision the request was checked at.
    #[prost(uint64, tag = "3")]
    pub auth_revision: u64,
}

/// Range (a read; linearizable reads are not in the WAL, but the field exists).
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct RangeRequest {
    /// Key.
    #[prost(bytes = "vec", tag = "1")]
    #[serde(serialize_with = "super::text::bytes")]
    pub key: Vec<u8>,
    /// Range end.
    #[prost(bytes = "vec", tag = "2")]
    #[serde(serialize_with = "super::text::bytes")]
    pub range_end: Vec<u8>,
    /// Limit.
    #[prost(int64, tag = "3")]
    pub limit: i64,
    /// Revision.
    #[prost(int64, tag = "4")]
    pub revision: i64,
    /// Sort order.
    #[prost(int32, tag = "5")]
    pub sort_order: i32,
    /// Sort target.
    #[prost(int32, tag = "6")]
    pub sort_target: i32,
    /// Serializable.
    #[prost(bool, tag = "7")]
    pub serializable: bool,
    /// Keys only.
    #[prost(bool, tag = "8")]
    pub keys_only: bool,
    /// Count only.
    #[prost(bool, tag = "9")]
    pub count_only: bool,
    /// Min mod revision.
    #[prost(int64, tag = "10")]
    pub min_mod_revision: i64,
    /// Max mod revision.
    #[prost(int64, tag = "11")]
    pub max_mod_revision: i64,
    /// Min create revision.
    #[prost(int64, tag = "12")]
    pub min_create_revision: i64,
    /// Max create revision.
    #[prost(int64, tag = "13")]
    pub max_create_revision: i64,
}

/// Put.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct PutRequest {
    /// Key.
    #[prost(bytes = "vec", tag = "1")]
    #[serde(serialize_with = "super::text::bytes")]
    pub key: Vec<u8>,
    /// Value.
    #[prost(bytes = "vec", tag = "2")]
    #[serde(serialize_with = "super::text::bytes")]
    pub value: Vec<u8>,
    /// Lease id.
    #[prost(int64, tag = "3")]
    pub lease: i64,
    /// Return the previous kv.
    #[prost(bool, tag = "4")]
    pub prev_kv: bool,
    /// Keep the current value.
    #[prost(bool, tag = "5")]
    pub ignore_value: bool,
    /// Keep the current lease.
    #[prost(bool, tag = "6")]
    pub ignore_lease: bool,
}

/// Delete a key or range.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct DeleteRangeRequest {
    /// Key.
    #[prost(bytes = "vec", tag = "1")]
    #[serde(serialize_with = "super::text::bytes")]
    pub key: Vec<u8>,
    /// Range end.
    #[prost(bytes = "vec", tag = "2")]
    #[serde(serialize_with = "super::text::bytes")]
    pub range_end: Vec<u8>,
    /// Return the deleted kvs.
    #[prost(bool, tag = "3")]
    pub prev_kv: bool,
}

/// The value a `Compare` compares with.
#[derive(Clone, PartialEq, Eq, prost::Oneof, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetUnion {
    /// Version.
    #[prost(int64, tag = "4")]
    Version(i64),
    /// Create revision.
    #[prost(int64, tag = "5")]
    CreateRevision(i64),
    /// Mod revision.
    #[prost(int64, tag = "6")]
    ModRevision(i64),
    /// Value.
    #[prost(bytes, tag = "7")]
    Value(#[serde(serialize_with = "super::text::bytes")] Vec<u8>),
    /// Lease.
    #[prost(int64, tag = "8")]
    Lease(i64),
}

/// A txn condition.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct Compare {
    /// EQUAL=0, GREATER=1, LESS=2, NOT_EQUAL=3.
    #[prost(int32, tag = "1")]
    pub result: i32,
    /// VERSION=0, CREATE=1, MOD=2, VALUE=3, LEASE=4.
    #[prost(int32, tag = "2")]
    pub target: i32,
    /// Key.
    #[prost(bytes = "vec", tag = "3")]
    #[serde(serialize_with = "super::text::bytes")]
    pub key: Vec<u8>,
    /// Compared value.
    #[prost(oneof = "TargetUnion", tags = "4, 5, 6, 7, 8")]
    pub target_union: Option<TargetUnion>,
    /// Range end.
    #[prost(bytes = "vec", tag = "64")]
    #[serde(serialize_with = "super::text::bytes")]
    pub range_end: Vec<u8>,
}

/// One operation of a txn branch.
#[derive(Clone, PartialEq, Eq, prost::Oneof, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Request_ {
    /// Range.
    #[prost(message, tag = "1")]
    RequestRange(RangeRequest),
    /// Put.
    #[prost(message, tag = "2")]
    RequestPut(PutRequest),
    /// Delete range.
    #[prost(message, tag = "3")]
    RequestDeleteRange(DeleteRangeRequest),
    /// Nested txn.
    #[prost(message, tag = "4")]
    RequestTxn(TxnRequest),
}

/// One operation of a txn branch.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct RequestOp {
    /// The operation.
    #[prost(oneof = "Request_", tags = "1, 2, 3, 4")]
    pub request: Option<Request_>,
}

/// Txn.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct TxnRequest {
    /// Conditions.
    #[prost(message, repeated, tag = "1")]
    pub compare: Vec<Compare>,
    /// Operations if all conditions hold.
    #[prost(message, repeated, tag = "2")]
    pub success: Vec<RequestOp>,
    /// Operations otherwise.
    #[prost(message, repeated, tag = "3")]
    pub failure: Vec<RequestOp>,
}

/// Compaction.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message, Serialize)]
pub struct CompactionRequest {
    /// Compact revisions up to this one.
    #[prost(int64, tag = "1")]
    pub revision: i64,
    /// Wait for the compaction to be physically applied.
    #[prost(bool, tag = "2")]
    pub physical: bool,
}

/// Lease grant.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message, Serialize)]
pub struct LeaseGrantRequest {
    /// TTL in seconds.
    #[prost(int64, tag = "1")]
    pub ttl: i64,
    /// Lease id.
    #[prost(int64, tag = "2")]
    pub id: i64,
}

/// Lease revoke.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message, Serialize)]
pub struct LeaseRevokeRequest {
    /// Lease id.
    #[prost(int64, tag = "1")]
    pub id: i64,
}

/// One lease checkpoint.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message, Serialize)]
pub struct LeaseCheckpoint {
    /// Lease id.
    #[prost(int64, tag = "1")]
    pub id: i64,
    /// Remaining TTL.
    #[prost(int64, tag = "2")]
    pub remaining_ttl: i64,
}

/// Lease checkpoints.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct LeaseCheckpointRequest {
    /// Checkpoints.
    #[prost(message, repeated, tag = "1")]
    pub checkpoints: Vec<LeaseCheckpoint>,
}

/// Alarm actions: GET=0, ACTIVATE=1, DEACTIVATE=2; alarms: NONE=0, NOSPACE=1, CORRUPT=2.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message, Serialize)]
pub struct AlarmRequest {
    /// Action.
    #[prost(int32, tag = "1")]
    pub action: i32,
    /// Member raising the alarm.
    #[prost(uint64, tag = "2")]
    #[serde(serialize_with = "super::text::hex_id")]
    pub member_id: u64,
    /// Alarm type.
    #[prost(int32, tag = "3")]
    pub alarm: i32,
}

/// The key of the `alarm` bucket.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message, Serialize)]
pub struct AlarmMember {
    /// Member id.
    #[prost(uint64, tag = "1")]
    #[serde(serialize_with = "super::text::hex_id")]
    pub member_id: u64,
    /// NONE=0, NOSPACE=1, CORRUPT=2.
    #[prost(int32, tag = "2")]
    pub alarm: i32,
}

/// Name of an alarm type.
pub fn alarm_name(a: i32) -> String {
    match a {
        0 => "NONE".into(),
        1 => "NOSPACE".into(),
        2 => "CORRUPT".into(),
        other => format!("unknown<{other}>"),
    }
}

/// A request without fields (auth enable/disable/status, user/role list).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message, Serialize)]
pub struct Empty {}

/// Authenticate (simple token issued by the leader).
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct InternalAuthenticateRequest {
    /// User.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Password (never shown).
    #[prost(string, tag = "2")]
    #[serde(skip)]
    pub password: String,
    /// Token (never shown).
    #[prost(string, tag = "3")]
    #[serde(skip)]
    pub simple_token: String,
}

/// Add a user.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct AuthUserAddRequest {
    /// User.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Password (never shown).
    #[prost(string, tag = "2")]
    #[serde(skip)]
    pub password: String,
    /// Options.
    #[prost(message, optional, tag = "3")]
    pub options: Option<authpb::UserAddOptions>,
    /// Password hash (never shown).
    #[prost(string, tag = "4")]
    #[serde(skip)]
    pub hashed_password: String,
}

/// A request naming one user or role (`name`, field 1).
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct NameRequest {
    /// User or role name.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// Change a password.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct AuthUserChangePasswordRequest {
    /// User.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Password (never shown).
    #[prost(string, tag = "2")]
    #[serde(skip)]
    pub password: String,
    /// Password hash (never shown).
    #[prost(string, tag = "3")]
    #[serde(skip)]
    pub hashed_password: String,
}

/// Grant or revoke a role to/from a user (field 1 is `user` or `name`).
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct UserRoleRequest {
    /// User.
    #[prost(string, tag = "1")]
    pub user: String,
    /// Role.
    #[prost(string, tag = "2")]
    pub role: String,
}

/// Grant a permission to a role.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct AuthRoleGrantPermissionRequest {
    /// Role.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Permission.
    #[prost(message, optional, tag = "2")]
    pub perm: Option<authpb::Permission>,
}

/// Revoke a permission from a role.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct AuthRoleRevokePermissionRequest {
    /// Role.
    #[prost(string, tag = "1")]
    pub role: String,
    /// Key.
    #[prost(bytes = "vec", tag = "2")]
    #[serde(serialize_with = "super::text::bytes")]
    pub key: Vec<u8>,
    /// Range end.
    #[prost(bytes = "vec", tag = "3")]
    #[serde(serialize_with = "super::text::bytes")]
    pub range_end: Vec<u8>,
}

/// The request carried by most `EntryNormal` entries of etcd 3.x.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct InternalRaftRequest {
    /// Header (written last on the wire).
    #[prost(message, optional, tag = "100")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<RequestHeader>,
    /// Request id (0: use `header.id`).
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// A v2 request.
    #[prost(message, optional, tag = "2")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v2: Option<Request>,
    /// Range.
    #[prost(message, optional, tag = "3")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<RangeRequest>,
    /// Put.
    #[prost(message, optional, tag = "4")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub put: Option<PutRequest>,
    /// Delete range.
    #[prost(message, optional, tag = "5")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_range: Option<DeleteRangeRequest>,
    /// Txn.
    #[prost(message, optional, tag = "6")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txn: Option<TxnRequest>,
    /// Compaction.
    #[prost(message, optional, tag = "7")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compaction: Option<CompactionRequest>,
    /// Lease grant.
    #[prost(message, optional, tag = "8")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_grant: Option<LeaseGrantRequest>,
    /// Lease revoke.
    #[prost(message, optional, tag = "9")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_revoke: Option<LeaseRevokeRequest>,
    /// Alarm.
    #[prost(message, optional, tag = "10")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm: Option<AlarmRequest>,
    /// Lease checkpoint.
    #[prost(message, optional, tag = "11")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_checkpoint: Option<LeaseCheckpointRequest>,
    /// Enable auth.
    #[prost(message, optional, tag = "1000")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_enable: Option<Empty>,
    /// Disable auth.
    #[prost(message, optional, tag = "1011")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_disable: Option<Empty>,
    /// Authenticate.
    #[prost(message, optional, tag = "1012")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authenticate: Option<InternalAuthenticateRequest>,
    /// Auth status.
    #[prost(message, optional, tag = "1013")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_status: Option<Empty>,
    /// Add a user.
    #[prost(message, optional, tag = "1100")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_user_add: Option<AuthUserAddRequest>,
    /// Delete a user.
    #[prost(message, optional, tag = "1101")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_user_delete: Option<NameRequest>,
    /// Get a user.
    #[prost(message, optional, tag = "1102")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_user_get: Option<NameRequest>,
    /// Change a password.
    #[prost(message, optional, tag = "1103")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_user_change_password: Option<AuthUserChangePasswordRequest>,
    /// Grant a role.
    #[prost(message, optional, tag = "1104")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_user_grant_role: Option<UserRoleRequest>,
    /// Revoke a role.
    #[prost(message, optional, tag = "1105")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_user_revoke_role: Option<UserRoleRequest>,
    /// List users.
    #[prost(message, optional, tag = "1106")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_user_list: Option<Empty>,
    /// List roles.
    #[prost(message, optional, tag = "1107")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_role_list: Option<Empty>,
    /// Add a role.
    #[prost(message, optional, tag = "1200")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_role_add: Option<NameRequest>,
    /// Delete a role.
    #[prost(message, optional, tag = "1201")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_role_delete: Option<NameRequest>,
    /// Get a role.
    #[prost(message, optional, tag = "1202")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_role_get: Option<NameRequest>,
    /// Grant a permission.
    #[prost(message, optional, tag = "1203")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_role_grant_permission: Option<AuthRoleGrantPermissionRequest>,
    /// Revoke a permission.
    #[prost(message, optional, tag = "1204")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_role_revoke_permission: Option<AuthRoleRevokePermissionRequest>,
    /// Set the cluster version (3.5+).
    #[prost(message, optional, tag = "1300")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_version_set: Option<membershippb::ClusterVersionSetRequest>,
    /// Publish member attributes (3.5+).
    #[prost(message, optional, tag = "1301")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_member_attr_set: Option<membershippb::ClusterMemberAttrSetRequest>,
    /// Downgrade info (3.5+).
    #[prost(message, optional, tag = "1302")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downgrade_info_set: Option<membershippb::DowngradeInfoSetRequest>,
    /// Test-only downgrade request (3.6).
    #[prost(message, optional, tag = "9900")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downgrade_version_test: Option<NameRequest>,
}

impl InternalRaftRequest {
    /// The request id: `ID`, or `header.ID` when that is 0.
    pub fn request_id(&self) -> u64 {
        if self.id != 0 {
            self.id
        } else {
            self.header.as_ref().map_or(0, |h| h.id)
        }
    }

    /// Short name of the request it carries (`put`, `txn`, ...), `empty` if none.
    pub fn kind(&self) -> &'static str {
        macro_rules! first {
            ($($f:ident),*) => {{ $( if self.$f.is_some() { return stringify!($f); } )* }};
        }
        first!(
            v2,
            range,
            put,
            delete_range,
            txn,
            compaction,
            lease_grant,
            lease_revoke,
            alarm,
            lease_checkpoint,
            auth_enable,
            auth_disable,
            authenticate,
            auth_status,
            auth_user_add,
            auth_user_delete,
            auth_user_get,
            auth_user_change_password,
            auth_user_grant_role,
            auth_user_revoke_role,
            auth_user_list,
            auth_role_list,
            auth_role_add,
            auth_role_delete,
            auth_role_get,
            auth_role_grant_permission,
            auth_role_revoke_permission,
            cluster_version_set,
            cluster_member_attr_set,
            downgrade_info_set,
            downgrade_version_test
        );
        "empty"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn header_is_encoded_last() {
        let irr = InternalRaftRequest {
            header: Some(RequestHeader {
                id: 5,
                ..RequestHeader::default()
            }),
            put: Some(PutRequest {
                key: b"a".to_vec(),
                ..PutRequest::default()
            }),
            ..InternalRaftRequest::default()
        };
        let b = irr.encode_to_vec();
        assert_eq!(
            b,
            [0x22, 0x03, 0x0a, 0x01, b'a', 0xa2, 0x06, 0x02, 0x08, 0x05]
        );
        let back = InternalRaftRequest::decode(&b[..]).unwrap();
        assert_eq!(back.kind(), "put");
        assert_eq!(back.request_id(), 5);
    }

    #[test]
    fn v2_request_prev_exist_only_when_set() {
        let r = Request::default();
        let b = r.encode_to_vec();
        // 1,2,3,4,5,6,7,9,10,11,12,13,14,15,16 written; 8 and 17 absent.
        assert!(!b.windows(2).any(|w| w == [0x40, 0x00]));
        assert_eq!(Request::decode(&b[..]).unwrap(), r);
    }

    #[test]
    fn metadata_round_trip() {
        // Checked vector from a 3.5.1 restore (etcd-formats.md §5.4).
        let b = [
            0x08, 0xcd, 0xd2, 0x91, 0x8b, 0xd2, 0xb8, 0x81, 0xcf, 0x8e, 0x01, 0x10, 0xb2, 0x98,
            0xea, 0xf1, 0x94, 0x83, 0x86, 0xfc, 0xcd, 0x01,
        ];
        let m = Metadata::decode(&b[..]).unwrap();
        assert_eq!(m.node_id, 0x8e9e_05c5_2164_694d);
        assert_eq!(m.cluster_id, 0xcdf8_1819_4e3a_8c32);
        assert_eq!(m.encode_to_vec(), b);
    }
}
