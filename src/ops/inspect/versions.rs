//! `inspect`'s versions part: which etcd last wrote a data dir, read from what
//! is on disk, and where etcd 3.7 would start on it.
//!
//! Why these sources: a member never runs below the cluster version it applies
//! (etcd refuses to join a cluster whose version is above its own), and 3.6+
//! writes `meta/storageVersion` only once the cluster version reached 3.6. So
//! each of them is a lower bound for the version of the last writer; the
//! largest is the best one the files hold. No file records the exact binary.
//!
//! 3.7 no longer loads `.snap` files (3.7.3 `etcdserver/bootstrap.go`,
//! `recoverSnapshot`): it takes the newest valid WAL snapshot record, the db,
//! and the ConfState from the db's `members` bucket. So on a dir a 3.7 last
//! wrote, an unloadable or missing `.snap` is normal, and every `.snap` is a
//! leftover kept only for tools and a downgrade.

use crate::error::Severity;
use crate::etcd::entry::{payload, Payload};
use crate::etcd::version::Version;
use crate::formats::proto::raftpb;

use super::report::{InspectReport, TermIndex, VersionsReport};

/// The last committed cluster-version change in `entries` (index ≤ `commit`).
pub fn wal_cluster_version(entries: &[raftpb::Entry], commit: u64) -> Option<String> {
    let mut last = None;
    for e in entries.iter().filter(|e| e.index <= commit) {
        match payload(e) {
            Payload::Request { irr, .. } => {
                if let Some(c) = &irr.cluster_version_set {
                    last = Some(c.ver.clone());
                } else if let Some(v2) = &irr.v2 {
                    if let Some(v) = v2_version_put(v2) {
                        last = Some(v);
                    }
                }
            }
            Payload::V2 { v2 } => {
                if let Some(v) = v2_version_put(&v2) {
                    last = Some(v);
                }
            }
            _ => {}
        }
    }
    last
}

/// `PUT /0/version` of the v2 store (how 3.4 records a cluster version change).
fn v2_version_put(r: &crate::formats::proto::etcdserverpb::Request) -> Option<String> {
    (r.method == b"PUT" && r.path == b"/0/version")
        .then(|| String::from_utf8_lossy(&r.val).into_owned())
}

/// `MAJOR.MINOR` of a version string, when it parses.
fn minor(v: &str) -> Option<(i64, i64)> {
    Version::parse(v).map(|v| (v.major, v.minor))
}

/// Fills `r.versions` and adjusts `.snap` findings on a dir 3.7 wrote.
pub(super) fn versions_part(r: &mut InspectReport, full_entries: &[raftpb::Entry]) {
    let commit = r
        .raft
        .as_ref()
        .and_then(|rf| rf.hard_state.as_ref())
        .map_or(0, |h| h.commit);
    let mut v = VersionsReport {
        storage_version: r.db.as_ref().and_then(|d| d.facts.storage_version.clone()),
        cluster_version: r.db.as_ref().and_then(|d| d.facts.cluster_version.clone()),
        wal_cluster_version: wal_cluster_version(full_entries, commit),
        snap_cluster_version: r
            .raft
            .as_ref()
            .and_then(|rf| rf.snapshot.as_ref())
            .and_then(|s| s.v2_cluster_version.clone()),
        ..VersionsReport::default()
    };
    let candidates = [
        ("db meta/storageVersion", &v.storage_version),
        ("WAL cluster version change", &v.wal_cluster_version),
        ("db cluster/clusterVersion", &v.cluster_version),
        (".snap v2 /0/version", &v.snap_cluster_version),
    ];
    let mut best: Option<((i64, i64), &str)> = None;
    for (source, value) in candidates {
        if let Some(m) = value.as_deref().and_then(minor) {
            if best.is_none_or(|(b, _)| m > b) {
                best = Some((m, source));
            }
        }
    }
    if let Some(((ma, mi), source)) = best {
        v.written_by_at_least = Some(format!("{ma}.{mi}"));
        v.written_by_source = Some(source.to_string());
    }
    if let Some(rf) = &r.raft {
        v.start_3_7 = rf
            .wal_snapshots
            .iter()
            .filter(|s| s.index <= commit)
            .max_by_key(|s| s.index)
            .map(|s| TermIndex {
                term: s.term,
                index: s.index,
            });
    }
    // From 3.6 on, etcd reads membership only from the db's `members` bucket
    // (the v2 store is no longer loaded for it): say which source to trust.
    let by_3_6 = v
        .storage_version
        .as_deref()
        .and_then(minor)
        .is_some_and(|m| m >= (3, 6));
    if by_3_6 {
        for w in &mut r.warnings {
            if w.code == "membership.disagree" {
                w.action = "etcd 3.6+ (which wrote this dir) takes membership from the db's members bucket only; if committed conf changes are beyond the consistent index this is expected until etcd replays them, otherwise the v2 (.snap) copy is stale: fix the member list with `etcdctl member` or restore with --initial-cluster".into();
            }
        }
    }
    let by_3_7 = v
        .storage_version
        .as_deref()
        .and_then(minor)
        .is_some_and(|m| m >= (3, 7));
    if by_3_7 {
        for w in &mut r.warnings {
            if w.code.starts_with("snap.") && w.severity > Severity::Info {
                w.severity = Severity::Info;
                w.message
                    .push_str(" (etcd 3.7, which last wrote this dir, does not read .snap files)");
            }
        }
    }
    r.versions = Some(v);
}

/// Whether the dir was last written by etcd 3.7 or newer (its storage version says so).
pub fn written_by_3_7(r: &InspectReport) -> bool {
    r.versions
        .as_ref()
        .and_then(|v| v.storage_version.as_deref())
        .and_then(minor)
        .is_some_and(|m| m >= (3, 7))
}
