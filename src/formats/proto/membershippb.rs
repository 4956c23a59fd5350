//! `membershippb` messages (etcd `server/etcdserver/api/membership/membershippb/membership.proto`,
//! proto3, 3.5+): carried only inside `InternalRaftRequest`s.
//!
//! ```text
//! RaftAttributes              1 peer_urls rep string  2 is_learner bool
//! Attributes                  1 name string  2 client_urls rep string
//! Member                      1 ID u64  2 raft_attributes  3 member_attributes
//! ClusterVersionSetRequest    1 ver string
//! ClusterMemberAttrSetRequest 1 member_ID u64  2 member_attributes
//! DowngradeInfoSetRequest     1 enabled bool  2 ver string
//! ```

use serde::Serialize;

/// Raft attributes of a member.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct RaftAttributes {
    /// Peer URLs.
    #[prost(string, repeated, tag = "1")]
    pub peer_urls: Vec<String>,
    /// Learner or voter.
    #[prost(bool, tag = "2")]
    pub is_learner: bool,
}

/// Attributes of a member.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct Attributes {
    /// Member name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Client URLs.
    #[prost(string, repeated, tag = "2")]
    pub client_urls: Vec<String>,
}

/// A member.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct Member {
    /// Member id.
    #[prost(uint64, tag = "1")]
    #[serde(rename = "member_id", serialize_with = "super::text::hex_id")]
    pub id: u64,
    /// Raft attributes.
    #[prost(message, optional, tag = "2")]
    pub raft_attributes: Option<RaftAttributes>,
    /// Attributes.
    #[prost(message, optional, tag = "3")]
    pub member_attributes: Option<Attributes>,
}

/// Sets the cluster version.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct ClusterVersionSetRequest {
    /// Version, e.g. `3.5.0`.
    #[prost(string, tag = "1")]
    pub ver: String,
}

/// Publishes a member's attributes.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct ClusterMemberAttrSetRequest {
    /// Member id.
    #[prost(uint64, tag = "1")]
    #[serde(serialize_with = "super::text::hex_id")]
    pub member_id: u64,
    /// Attributes.
    #[prost(message, optional, tag = "2")]
    pub member_attributes: Option<Attributes>,
}

/// Starts or cancels a downgrade.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct DowngradeInfoSetRequest {
    /// Downgrade in progress.
    #[prost(bool, tag = "1")]
    pub enabled: bool,
    /// Target version.
    #[prost(string, tag = "2")]
    pub ver: String,
}
