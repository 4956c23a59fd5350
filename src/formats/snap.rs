//! `.snap` files: raft snapshots of the v2 store (`member/snap/*.snap`).
//!
//! ```text
//! file name  %016x-%016x.snap  (term, index)
//! file       snappb.Snapshot { 1 crc uint32 (always), 2 data bytes }
//!            crc = CRC-32C(data) (plain, seed 0)
//! data       raftpb.Snapshot { 1 data = v2 store JSON,
//!                              2 metadata { 1 conf_state, 2 index, 3 term } }
//! ```
//! Reading fails, as in etcd's `snap.Read`, when the file is empty, when
//! `crc == 0` or data is empty, when the CRC does not match, or when either
//! message does not decode; etcd then renames the file to `<name>.broken`.
//! Choosing (`LoadNewestAvailable`): names ending in `.snap`, sorted
//! descending as strings; the first that loads and whose *metadata* (term,
//! index) equals a WAL snapshot record with index ≤ the HardState commit.
//! Source: etcd v3.5.1 `server/etcdserver/api/snap/snapshotter.go`
//! (`Read`, `loadMatching`, `snapNames`), `server/wal/wal.go`
//! (`ValidSnapshotEntries`).

use prost::Message;
use serde::Serialize;

use crate::formats::proto::presence::Presence;
use crate::formats::proto::{raftpb, snappb};

/// Why a `.snap` file cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum SnapProblem {
    /// The file has no bytes (`ErrEmptySnapshot`).
    EmptyFile,
    /// The envelope does not decode.
    BadEnvelope {
        /// Decoder message.
        detail: String,
    },
    /// `crc == 0` or no data (`ErrEmptySnapshot`).
    EmptyData,
    /// The CRC does not match the data (`ErrCRCMismatch`).
    CrcMismatch {
        /// CRC stored in the file.
        stored: u32,
        /// CRC-32C of the data.
        computed: u32,
    },
    /// The raft snapshot inside does not decode.
    BadSnapshot {
        /// Decoder message.
        detail: String,
    },
}

impl std::fmt::Display for SnapProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapProblem::EmptyFile => f.write_str("the file is empty"),
            SnapProblem::BadEnvelope { detail } => {
                write!(f, "not a snappb.Snapshot: {detail}")
            }
            SnapProblem::EmptyData => f.write_str("the snapshot has no data or a zero CRC"),
            SnapProblem::CrcMismatch { stored, computed } => write!(
                f,
                "CRC mismatch: stored {stored:08x}, the data gives {computed:08x}"
            ),
            SnapProblem::BadSnapshot { detail } => {
                write!(f, "the raftpb.Snapshot inside does not decode: {detail}")
            }
        }
    }
}

/// A decoded `.snap` file.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapFile {
    /// The stored (and verified) CRC.
    pub crc: u32,
    /// The raft snapshot.
    pub snapshot: raftpb::Snapshot,
}

impl SnapFile {
    /// The v2 store JSON (empty if absent).
    pub fn data(&self) -> &[u8] {
        self.snapshot.data.as_deref().unwrap_or(&[])
    }

    /// Raft index of the snapshot (from its metadata).
    pub fn index(&self) -> u64 {
        self.snapshot.metadata.index
    }

    /// Raft term of the snapshot (from its metadata).
    pub fn term(&self) -> u64 {
        self.snapshot.metadata.term
    }
}

/// Decodes and checks a `.snap` file as etcd's `snap.Read` does.
pub fn decode(file: &[u8]) -> Result<SnapFile, SnapProblem> {
    if file.is_empty() {
        return Err(SnapProblem::EmptyFile);
    }
    let env = snappb::Snapshot::decode(file).map_err(|e| SnapProblem::BadEnvelope {
        detail: e.to_string(),
    })?;
    let data = env.data.unwrap_or_default();
    if data.is_empty() || env.crc == 0 {
        return Err(SnapProblem::EmptyData);
    }
    let computed = crc32c::crc32c(&data);
    if computed != env.crc {
        return Err(SnapProblem::CrcMismatch {
            stored: env.crc,
            computed,
        });
    }
    let snapshot =
        raftpb::Snapshot::decode(data.as_slice()).map_err(|e| SnapProblem::BadSnapshot {
            detail: e.to_string(),
        })?;
    Ok(SnapFile {
        crc: env.crc,
        snapshot,
    })
}

/// Encodes a `.snap` file for a raft snapshot (`snappb` with its CRC).
pub fn encode(snapshot: &raftpb::Snapshot) -> Vec<u8> {
    encode_bytes(snapshot.encode_to_vec())
}

/// A `.snap` file around an already encoded `raftpb.Snapshot` (for writers
/// whose field encoding differs from this crate's messages, as etcd 3.7's).
pub fn encode_bytes(data: Vec<u8>) -> Vec<u8> {
    snappb::Snapshot {
        crc: crc32c::crc32c(&data),
        data: Some(data),
    }
    .encode_to_vec()
}

/// Nested messages of `raftpb.Snapshot` whose fields' presence is kept:
/// `metadata` (2) and `metadata.conf_state` (2.1).
const SNAPSHOT_NESTED: &[&[u32]] = &[&[2], &[2, 1]];

/// Which fields the `raftpb.Snapshot` inside a `.snap` file carried (etcd 3.7
/// omits unset ones, e.g. `ConfState.auto_leave`); `None` if the envelope
/// cannot be read. See [`encode_as_read`].
pub fn read_presence(file: &[u8]) -> Option<Presence> {
    let env = snappb::Snapshot::decode(file).ok()?;
    Presence::read(env.data.as_deref()?, SNAPSHOT_NESTED).ok()
}

/// [`encode`], writing only the fields `presence` says the original carried,
/// so a `.snap` written by any etcd version re-encodes to its own bytes.
pub fn encode_as_read(snapshot: &raftpb::Snapshot, presence: &Presence) -> Vec<u8> {
    let full = snapshot.encode_to_vec();
    let data = presence.apply(&full).unwrap_or(full);
    snappb::Snapshot {
        crc: crc32c::crc32c(&data),
        data: Some(data),
    }
    .encode_to_vec()
}

/// Parses `%016x-%016x.snap` into (term, index).
pub fn parse_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".snap")?;
    let (a, b) = stem.split_once('-')?;
    let hex = |s: &str| {
        if s.len() == 16 && s.bytes().all(|c| c.is_ascii_hexdigit()) {
            u64::from_str_radix(s, 16).ok()
        } else {
            None
        }
    };
    Some((hex(a)?, hex(b)?))
}

/// The name etcd gives the snapshot at (term, index).
pub fn file_name(term: u64, index: u64) -> String {
    format!("{term:016x}-{index:016x}.snap")
}

/// Picks the snapshot etcd would load: `candidates` are `(name, loaded)`
/// pairs of every `*.snap` file; `wal_snaps` are (term, index) of WAL snapshot
/// records; `commit` is the last HardState commit. Returns the position in
/// `candidates`.
pub fn select(
    candidates: &[(String, Option<(u64, u64)>)],
    wal_snaps: &[(u64, u64)],
    commit: u64,
) -> Option<usize> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|a, b| {
        let na = candidates.get(*a).map(|c| c.0.as_str());
        let nb = candidates.get(*b).map(|c| c.0.as_str());
        nb.cmp(&na)
    });
    order.into_iter().find(|i| {
        candidates
            .get(*i)
            .and_then(|c| c.1)
            .is_some_and(|(t, ix)| ix <= commit && wal_snaps.contains(&(t, ix)))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small snapshot (`{}` store, one voter) at `term`/`index`.
    pub(crate) fn snap(term: u64, index: u64) -> raftpb::Snapshot {
        raftpb::Snapshot {
            data: Some(b"{}".to_vec()),
            metadata: raftpb::SnapshotMetadata {
                conf_state: raftpb::ConfState {
                    voters: vec![1],
                    ..raftpb::ConfState::default()
                },
                index,
                term,
            },
        }
    }

    #[test]
    fn round_trip_and_corruption() {
        let b = encode(&snap(2, 0x29));
        let s = decode(&b).unwrap();
        assert_eq!((s.term(), s.index()), (2, 0x29));
        let mut bad = b.clone();
        if let Some(x) = bad.get_mut(8) {
            *x ^= 1;
        }
        assert!(matches!(decode(&bad), Err(SnapProblem::CrcMismatch { .. })));
        assert_eq!(decode(&[]), Err(SnapProblem::EmptyFile));
        assert!(matches!(
            decode(&[0xff]),
            Err(SnapProblem::BadEnvelope { .. })
        ));
        assert_eq!(decode(&[0x08, 0x00]), Err(SnapProblem::EmptyData));
    }

    #[test]
    fn names_and_selection() {
        assert_eq!(
            parse_name("0000000000000002-0000000000000029.snap"),
            Some((2, 0x29))
        );
        assert_eq!(parse_name("db"), None);
        assert_eq!(file_name(2, 0x29), "0000000000000002-0000000000000029.snap");
        let c = vec![
            (file_name(2, 10), Some((2, 10))),
            (file_name(2, 20), Some((2, 20))),
            (file_name(3, 30), None),          // broken
            (file_name(3, 40), Some((3, 40))), // orphan: no WAL record
        ];
        let wal = [(2, 10), (2, 20), (3, 30)];
        assert_eq!(select(&c, &wal, 100), Some(1));
        assert_eq!(select(&c, &wal, 15), Some(0));
        assert_eq!(select(&c, &wal, 5), None);
    }
}
