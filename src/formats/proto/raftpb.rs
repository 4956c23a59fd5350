//! `raftpb` messages (go.etcd.io/etcd/raft/v3 `raftpb/raft.proto`, gogo proto2).
//!
//! ```text
//! Entry            1 Type enum   2 Term u64   3 Index u64   4 Data bytes (if non-nil)
//! HardState        1 term u64    2 vote u64   3 commit u64
//! ConfState        1 voters rep u64 (unpacked)  2 learners  3 voters_outgoing
//!                  4 learners_next  5 auto_leave bool (always, `28 00`)
//! ConfChange       1 ID u64  2 Type enum  3 NodeID u64  4 Context bytes (if non-nil)
//! ConfChangeSingle 1 Type enum  2 NodeID u64
//! ConfChangeV2     1 Transition enum  2 Changes rep  3 Context bytes
//! SnapshotMetadata 1 conf_state  2 index u64  3 term u64
//! Snapshot         1 data bytes (if non-nil)  2 metadata
//! ```
//! gogo's `(gogoproto.nullable) = false` fields are written even when zero, in
//! ascending field number; prost's `required` label does the same, and prost
//! encodes in tag order, so re-encoding a decoded message gives etcd's bytes
//! (tested below and in `formats::wal` on records from a real 3.5.1 WAL).
//! Enums are kept as raw `i32` so unknown values survive and can be shown.
//! Source: etcd v3.5.1 `raft/raftpb/raft.proto` and `raft.pb.go`.

use serde::Serialize;

/// `EntryType` values.
pub mod entry_type {
    /// A normal entry (etcd request, or empty: leader no-op).
    pub const NORMAL: i32 = 0;
    /// A `ConfChange`.
    pub const CONF_CHANGE: i32 = 1;
    /// A `ConfChangeV2`.
    pub const CONF_CHANGE_V2: i32 = 2;
}

/// `ConfChangeType` values.
pub mod conf_change_type {
    /// Add a voter.
    pub const ADD_NODE: i32 = 0;
    /// Remove a member.
    pub const REMOVE_NODE: i32 = 1;
    /// Update a member's attributes.
    pub const UPDATE_NODE: i32 = 2;
    /// Add a learner.
    pub const ADD_LEARNER_NODE: i32 = 3;
}

/// Name of an `EntryType` value (`unknown<n>` when not known).
pub fn entry_type_name(t: i32) -> String {
    match t {
        entry_type::NORMAL => "EntryNormal".into(),
        entry_type::CONF_CHANGE => "EntryConfChange".into(),
        entry_type::CONF_CHANGE_V2 => "EntryConfChangeV2".into(),
        other => format!("unknown<{other}>"),
    }
}

/// Name of a `ConfChangeType` value (`unknown<n>` when not known).
pub fn conf_change_type_name(t: i32) -> String {
    match t {
        conf_change_type::ADD_NODE => "ConfChangeAddNode".into(),
        conf_change_type::REMOVE_NODE => "ConfChangeRemoveNode".into(),
        conf_change_type::UPDATE_NODE => "ConfChangeUpdateNode".into(),
        conf_change_type::ADD_LEARNER_NODE => "ConfChangeAddLearnerNode".into(),
        other => format!("unknown<{other}>"),
    }
}

/// One raft log entry.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Entry {
    /// `EntryType` (field 1, first on the wire).
    #[prost(int32, required, tag = "1")]
    pub r#type: i32,
    /// Raft term.
    #[prost(uint64, required, tag = "2")]
    pub term: u64,
    /// Raft index.
    #[prost(uint64, required, tag = "3")]
    pub index: u64,
    /// Payload; `None` when gogo had a nil slice (written as absent).
    #[prost(bytes = "bytes", optional, tag = "4")]
    pub data: Option<bytes::Bytes>,
}

/// Raft's persistent state.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message, Serialize)]
pub struct HardState {
    /// Current term.
    #[prost(uint64, required, tag = "1")]
    pub term: u64,
    /// Member voted for in `term` (0: none).
    #[prost(uint64, required, tag = "2")]
    pub vote: u64,
    /// Highest index known to be committed.
    #[prost(uint64, required, tag = "3")]
    pub commit: u64,
}

impl HardState {
    /// Whether every field is zero (etcd does not write such a state).
    pub fn is_empty(&self) -> bool {
        self.term == 0 && self.vote == 0 && self.commit == 0
    }
}

/// The voters and learners of a configuration.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct ConfState {
    /// Voter ids.
    #[prost(uint64, repeated, packed = "false", tag = "1")]
    pub voters: Vec<u64>,
    /// Learner ids.
    #[prost(uint64, repeated, packed = "false", tag = "2")]
    pub learners: Vec<u64>,
    /// Voters of the outgoing config in a joint configuration.
    #[prost(uint64, repeated, packed = "false", tag = "3")]
    pub voters_outgoing: Vec<u64>,
    /// Learners to add when leaving the joint configuration.
    #[prost(uint64, repeated, packed = "false", tag = "4")]
    pub learners_next: Vec<u64>,
    /// Leave the joint configuration automatically.
    #[prost(bool, required, tag = "5")]
    pub auto_leave: bool,
}

/// A v1 configuration change (what etcd proposes).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConfChange {
    /// Request id (etcd: a unique id for the proposal).
    #[prost(uint64, required, tag = "1")]
    pub id: u64,
    /// `ConfChangeType`.
    #[prost(int32, required, tag = "2")]
    pub r#type: i32,
    /// The member concerned.
    #[prost(uint64, required, tag = "3")]
    pub node_id: u64,
    /// etcd: member JSON (add/update), `ConfigChangeContext` JSON (promote), nil (remove).
    #[prost(bytes = "vec", optional, tag = "4")]
    pub context: Option<Vec<u8>>,
}

/// One change of a `ConfChangeV2`.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
pub struct ConfChangeSingle {
    /// `ConfChangeType`.
    #[prost(int32, required, tag = "1")]
    pub r#type: i32,
    /// The member concerned.
    #[prost(uint64, required, tag = "2")]
    pub node_id: u64,
}

/// A v2 (joint consensus) configuration change; etcd does not propose these.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConfChangeV2 {
    /// `ConfChangeTransition` (Auto=0, JointImplicit=1, JointExplicit=2).
    #[prost(int32, required, tag = "1")]
    pub transition: i32,
    /// The changes.
    #[prost(message, repeated, tag = "2")]
    pub changes: Vec<ConfChangeSingle>,
    /// Opaque context.
    #[prost(bytes = "vec", optional, tag = "3")]
    pub context: Option<Vec<u8>>,
}

/// Metadata of a raft snapshot.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SnapshotMetadata {
    /// Configuration at the snapshot.
    #[prost(message, required, tag = "1")]
    pub conf_state: ConfState,
    /// Raft index of the snapshot.
    #[prost(uint64, required, tag = "2")]
    pub index: u64,
    /// Raft term of the snapshot.
    #[prost(uint64, required, tag = "3")]
    pub term: u64,
}

/// A raft snapshot (the payload of a `.snap` file).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Snapshot {
    /// Application data: the v2 store JSON in etcd 3.x.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub data: Option<Vec<u8>>,
    /// Where the snapshot stands.
    #[prost(message, required, tag = "2")]
    pub metadata: SnapshotMetadata,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn zero_fields_are_written_like_gogo() {
        let e = Entry {
            r#type: 0,
            term: 0,
            index: 0,
            data: None,
        };
        assert_eq!(e.encode_to_vec(), [0x08, 0, 0x10, 0, 0x18, 0]);
        let hs = HardState::default();
        assert_eq!(hs.encode_to_vec(), [0x08, 0, 0x10, 0, 0x18, 0]);
        let cs = ConfState {
            voters: vec![1, 2],
            ..ConfState::default()
        };
        assert_eq!(cs.encode_to_vec(), [0x08, 1, 0x08, 2, 0x28, 0]);
    }

    #[test]
    fn packed_voters_are_accepted_too() {
        let cs = ConfState::decode(&[0x0a, 0x02, 0x01, 0x02][..]).unwrap();
        assert_eq!(cs.voters, [1, 2]);
    }

    #[test]
    fn wrong_wire_type_is_rejected() {
        assert!(Entry::decode(&[0x0a, 0x00][..]).is_err());
    }
}
