//! `wal dump`: every record of a WAL, decoded, with where it is and what
//! became of it (committed, superseded by a later record at the same index).

use std::path::{Path, PathBuf};

use prost::Message;
use serde::Serialize;

use crate::error::{Error, ErrorKind, Finding, Result};
use crate::etcd::entry::{self, Payload};
use crate::etcd::raftlog::WalDir;
use crate::formats::proto::{etcdserverpb, raftpb, walpb};
use crate::formats::wal::{self, RecordType, Stop};

/// Options of `wal dump`.
#[derive(Debug, Clone, Default)]
pub struct DumpOptions {
    /// Go on past CRC mismatches and undecodable frames.
    pub raw: bool,
    /// Only entries with index ≥ this.
    pub start_index: Option<u64>,
    /// Only entries with index ≤ this.
    pub end_index: Option<u64>,
    /// Only records whose type (`entry`, `state`, ...) or entry kind (`put`,
    /// `conf_change`, `v2`, `noop`, ...) is in this list; empty: all.
    pub types: Vec<String>,
}

/// One WAL file.
#[derive(Debug, Clone, Serialize)]
pub struct FileInfo {
    /// File name.
    pub name: String,
    /// Sequence number.
    pub seq: u64,
    /// Raft index of its first entry.
    pub first_index: u64,
    /// Size in bytes.
    pub size: u64,
}

/// The decoded content of a record.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Body {
    /// Metadata.
    Metadata(etcdserverpb::Metadata),
    /// An entry.
    Entry {
        /// Term.
        term: u64,
        /// Index.
        index: u64,
        /// `EntryNormal`, `EntryConfChange`, ...
        entry_type: String,
        /// index ≤ the last HardState commit.
        committed: bool,
        /// A later record replaced this entry (or it comes before the first file's start).
        superseded: bool,
        /// What it carries.
        #[serde(flatten)]
        payload: Payload,
    },
    /// A HardState.
    State {
        /// Term.
        term: u64,
        /// Voted for (hex id).
        vote: String,
        /// Commit index.
        commit: u64,
    },
    /// A CRC seed or a record without content of its own.
    Crc {},
    /// A snapshot marker.
    Snapshot {
        /// Index.
        index: u64,
        /// Term.
        term: u64,
        /// Voters (hex ids), if the record has a ConfState.
        #[serde(skip_serializing_if = "Option::is_none")]
        voters: Option<Vec<String>>,
        /// Learners (hex ids), if the record has a ConfState.
        #[serde(skip_serializing_if = "Option::is_none")]
        learners: Option<Vec<String>>,
    },
    /// The data does not decode as its type.
    Undecodable {
        /// Why.
        error: String,
    },
}

/// One record.
#[derive(Debug, Clone, Serialize)]
pub struct DumpRecord {
    /// File name.
    pub file: String,
    /// Offset of the frame in the file.
    pub offset: u64,
    /// Record type.
    #[serde(rename = "type")]
    pub rtype: RecordType,
    /// Stored CRC.
    pub crc: u32,
    /// The CRC matched the chain (false only with `--raw`).
    pub crc_ok: bool,
    /// Content.
    #[serde(flatten)]
    pub body: Body,
}

/// What `wal dump` found.
#[derive(Debug, Clone, Serialize)]
pub struct DumpReport {
    /// The WAL dir (or file) read.
    pub wal: PathBuf,
    /// The files, in order.
    pub files: Vec<FileInfo>,
    /// Number of records shown (given to the sink).
    pub shown: u64,
    /// Why reading stopped.
    pub stop: Stop,
    /// Problems.
    pub findings: Vec<Finding>,
}

/// The hint after a path `wal dump` cannot use.
const WAL_PATH_HINT: &str =
    "give a WAL dir (member/wal), one .wal file, a member dir or a data dir";

/// The WAL dir for `path`: a WAL dir, a single `.wal` file, a member dir or a data dir.
pub fn open_wal(path: &Path) -> Result<WalDir> {
    open_wal_dir(path).map_err(|e| e.with_path_hint(WAL_PATH_HINT))
}

fn open_wal_dir(path: &Path) -> Result<WalDir> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("open", path, &e))?;
    if meta.is_file() {
        return WalDir::open_file(path);
    }
    for cand in [path.join("member").join("wal"), path.join("wal")] {
        if cand.is_dir() {
            return WalDir::open(&cand);
        }
    }
    if path.join("member").is_dir() || path.join("snap").is_dir() {
        return Err(Error::new(ErrorKind::BadPath(
            "this data dir has no wal/ directory".into(),
        ))
        .in_file(path));
    }
    WalDir::open(path)
}

fn hex_ids(v: &[u64]) -> Vec<String> {
    v.iter().map(|i| format!("{i:016x}")).collect()
}

/// What `wal dump` hands to its sink, in order.
#[derive(Debug)]
pub enum DumpEvent<'r> {
    /// Before the first record: the WAL dir and its files.
    Start {
        /// The WAL dir.
        wal: &'r Path,
        /// Its files.
        files: &'r [FileInfo],
    },
    /// One record.
    Record(DumpRecord),
}

/// Runs `wal dump`, collecting the records (for small WALs and tests).
pub fn dump(path: &Path, opts: &DumpOptions) -> Result<(DumpReport, Vec<DumpRecord>)> {
    let mut v = Vec::new();
    let r = dump_to(path, opts, |ev| {
        if let DumpEvent::Record(rec) = ev {
            v.push(rec);
        }
    })?;
    Ok((r, v))
}

/// Runs `wal dump`, giving each record to `sink` as soon as it is decoded, so
/// a large WAL is never held decoded in memory.
pub fn dump_to<F: FnMut(DumpEvent<'_>)>(
    path: &Path,
    opts: &DumpOptions,
    mut sink: F,
) -> Result<DumpReport> {
    check_types(&opts.types)?;
    let w = open_wal(path)?;
    let segments = w.segments();
    let decoded = wal::decode(&segments, opts.raw);
    let mut findings = w.name_findings();
    findings.extend(decoded.findings.iter().cloned());
    let first_index = segments.first().map_or(0, |s| s.name.index);
    let read = wal::read_all(&decoded, &segments, 0, first_index.saturating_sub(1), 0);
    findings.extend(
        read.findings
            .iter()
            .filter(|f| {
                f.code != "wal.snapshot.not-found" && f.code != "wal.snapshot.term-mismatch"
            })
            .cloned(),
    );
    let (_, last_state) = wal::snapshot_records(&decoded);
    let commit = last_state.map_or(0, |s| s.commit);
    let kept: std::collections::HashSet<(usize, u64)> =
        read.entries.iter().map(|e| (e.segment, e.offset)).collect();
    let files: Vec<FileInfo> = w
        .listing
        .segments
        .iter()
        .zip(&w.files)
        .map(|((n, s), f)| FileInfo {
            name: n.clone(),
            seq: s.seq,
            first_index: s.index,
            size: f.size,
        })
        .collect();
    sink(DumpEvent::Start {
        wal: &w.dir,
        files: &files,
    });
    let mut shown = 0u64;
    for rec in &decoded.records {
        let rtype = RecordType::of(rec.rtype);
        let data = &rec.data[..];
        let body = match rtype {
            RecordType::Metadata => match etcdserverpb::Metadata::decode(data) {
                Ok(m) => Body::Metadata(m),
                Err(e) => Body::Undecodable {
                    error: e.to_string(),
                },
            },
            RecordType::Entry => match raftpb::Entry::decode(data) {
                Ok(e) => Body::Entry {
                    term: e.term,
                    index: e.index,
                    entry_type: raftpb::entry_type_name(e.r#type),
                    committed: e.index <= commit,
                    superseded: !kept.contains(&(rec.segment, rec.offset)),
                    payload: entry::payload(&e),
                },
                Err(e) => Body::Undecodable {
                    error: e.to_string(),
                },
            },
            RecordType::State => match raftpb::HardState::decode(data) {
                Ok(s) => Body::State {
                    term: s.term,
                    vote: format!("{:016x}", s.vote),
                    commit: s.commit,
                },
                Err(e) => Body::Undecodable {
                    error: e.to_string(),
                },
            },
            RecordType::Crc | RecordType::Unknown => Body::Crc {},
            RecordType::Snapshot => match walpb::Snapshot::decode(data) {
                Ok(s) => Body::Snapshot {
                    index: s.index,
                    term: s.term,
                    voters: s.conf_state.as_ref().map(|c| hex_ids(&c.voters)),
                    learners: s.conf_state.as_ref().map(|c| hex_ids(&c.learners)),
                },
                Err(e) => Body::Undecodable {
                    error: e.to_string(),
                },
            },
        };
        if !keep(&body, rtype, opts) {
            continue;
        }
        shown = shown.saturating_add(1);
        sink(DumpEvent::Record(DumpRecord {
            file: w
                .listing
                .segments
                .get(rec.segment)
                .map(|(n, _)| n.clone())
                .unwrap_or_default(),
            offset: rec.offset,
            rtype,
            crc: rec.crc,
            crc_ok: rec.crc_ok,
            body,
        }));
    }
    Ok(DumpReport {
        wal: w.dir.clone(),
        files,
        shown,
        stop: decoded.stop,
        findings,
    })
}

/// What `--type` accepts: record types, entry kinds, and the request names
/// of `InternalRaftRequest::kind` (etcdserverpb.rs, same order).
pub const DUMP_TYPES: &[&str] = &[
    "metadata",
    "entry",
    "state",
    "crc",
    "snapshot",
    "unknown",
    "noop",
    "conf_change",
    "conf_change_v2",
    "v2",
    "empty",
    "range",
    "put",
    "delete_range",
    "txn",
    "compaction",
    "lease_grant",
    "lease_revoke",
    "alarm",
    "lease_checkpoint",
    "auth_enable",
    "auth_disable",
    "authenticate",
    "auth_status",
    "auth_user_add",
    "auth_user_delete",
    "auth_user_get",
    "auth_user_change_password",
    "auth_user_grant_role",
    "auth_user_revoke_role",
    "auth_user_list",
    "auth_role_list",
    "auth_role_add",
    "auth_role_delete",
    "auth_role_get",
    "auth_role_grant_permission",
    "auth_role_revoke_permission",
    "cluster_version_set",
    "cluster_member_attr_set",
    "downgrade_info_set",
    "downgrade_version_test",
];

/// Refuses a `--type` that would silently match nothing.
fn check_types(types: &[String]) -> Result<()> {
    let bad: Vec<&str> = types
        .iter()
        .map(String::as_str)
        .filter(|t| !DUMP_TYPES.contains(t))
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(Error::new(ErrorKind::Usage(format!(
        "--type {}: not a record type or entry kind; valid: {}",
        bad.join(","),
        DUMP_TYPES.join(", ")
    ))))
}

fn type_name(t: RecordType) -> &'static str {
    match t {
        RecordType::Metadata => "metadata",
        RecordType::Entry => "entry",
        RecordType::State => "state",
        RecordType::Crc => "crc",
        RecordType::Snapshot => "snapshot",
        RecordType::Unknown => "unknown",
    }
}

fn keep(body: &Body, t: RecordType, opts: &DumpOptions) -> bool {
    if let Body::Entry { index, .. } = body {
        if opts.start_index.is_some_and(|s| *index < s)
            || opts.end_index.is_some_and(|e| *index > e)
        {
            return false;
        }
    } else if opts.start_index.is_some() || opts.end_index.is_some() {
        // An index range selects entries; other records are shown only when asked for by type.
        if opts.types.is_empty() {
            return false;
        }
    }
    if opts.types.is_empty() {
        return true;
    }
    let kind = match body {
        Body::Entry { payload, .. } => Some(payload.kind()),
        _ => None,
    };
    opts.types
        .iter()
        .any(|t2| t2 == type_name(t) || Some(t2.as_str()) == kind)
}
