//! `inspect`'s raft part: the WAL and `.snap` files, the member's identity
//! and the membership each source records, and where they disagree.

use std::path::{Path, PathBuf};

use crate::error::Severity;
use crate::etcd::membership::{self, Member, Membership};
use crate::etcd::raftlog::{self, RaftLog, WalDir};
use crate::etcd::v2store;
use crate::formats::proto::raftpb;
use crate::formats::snap;
use crate::formats::wal::{self};

use super::file::{chosen_snap, list_leftovers};
use super::report::*;

/// Reads the raft part; returns the log and every entry of the WAL (from the first file, after overwrites).
pub(super) fn raft_part(
    w: &WalDir,
    snap_dir: Option<&Path>,
    r: &mut InspectReport,
) -> Option<(RaftLog, Vec<raftpb::Entry>)> {
    let log = match raftlog::load(w, snap_dir, false) {
        Ok(l) => l,
        Err(e) => {
            r.unreadable.push(format!("snap dir: {e}"));
            return None;
        }
    };
    for f in &log.findings {
        r.warnings.push(Warning::from_finding(f));
    }
    let segments = w.segments();
    let first_start = segments.first().map_or(0, |s| s.name.index);
    let full = wal::read_all(&log.decoded, &segments, 0, first_start.saturating_sub(1), 0);
    let commit = log.last_state.map_or(0, |s| s.commit);
    for f in &full.findings {
        let dup = log
            .findings
            .iter()
            .any(|g| g.code == f.code && g.at == f.at);
        if !dup && f.code != "wal.snapshot.not-found" && f.code != "wal.snapshot.term-mismatch" {
            r.warnings.push(Warning::from_finding(f));
        }
    }
    let snap_index = log.chosen.as_ref().map_or(0, snap::SnapFile::index);
    let last = full
        .entries
        .last()
        .map_or(0, |e| e.entry.index)
        .max(snap_index);
    if commit > last {
        r.warnings.push(Warning::new(
            "wal.commit-beyond-last",
            Severity::Error,
            format!("the HardState commit {commit} is beyond the last entry the WAL holds ({last}); etcd panics on start (commit out of range)"),
            "committed entries were lost from the WAL tail; restore the member from a snapshot or re-add it to the cluster",
        ));
    }
    if let Some(m) = log.read.metadata.or(full.metadata) {
        r.identity = Some(Identity {
            member_id: m.node_id,
            cluster_id: m.cluster_id,
            name: None,
        });
    }
    let mut leftovers = Vec::new();
    let mut snap_dbs = Vec::new();
    list_leftovers(&w.dir, &mut leftovers, &mut snap_dbs);
    if let Some(d) = snap_dir {
        list_leftovers(d, &mut leftovers, &mut snap_dbs);
    }
    for l in &leftovers {
        let (sev, msg, action) = if l.ends_with(".broken") {
            (
                Severity::Info,
                format!("{l}: etcd set this file aside as damaged (a torn WAL tail it repaired, or a .snap it could not load)"),
                "keep it for forensics; it can be deleted once the member runs fine",
            )
        } else {
            (
                Severity::Info,
                format!("{l}: a temporary file (preallocated WAL segment, or an interrupted write or defrag)"),
                "nothing to do; etcd removes or reuses it",
            )
        };
        let mut w = Warning::new("datadir.leftover", sev, msg, action);
        w.file = Some(PathBuf::from(l));
        r.warnings.push(w);
    }
    let chosen = log.chosen.as_ref().and_then(|c| {
        log.snaps
            .iter()
            .find(|s| s.selected)
            .map(|s| chosen_snap(&s.name, c))
    });
    let after: Vec<_> = log.read.entries.iter().collect();
    r.raft = Some(RaftReport {
        wal_dir: w.dir.clone(),
        wal_files: w.listing.segments.iter().map(|(n, _)| n.clone()).collect(),
        hard_state: log.last_state.map(HardStateJson::from),
        first_index: full.entries.first().map(|e| e.entry.index),
        first_term: full.entries.first().map(|e| e.entry.term),
        last_index: full.entries.last().map(|e| e.entry.index),
        last_term: full.entries.last().map(|e| e.entry.term),
        entries_after_snapshot: crate::bytes::to_u64(after.len()),
        committed_after_snapshot: crate::bytes::to_u64(log.read.committed().count()),
        uncommitted: crate::bytes::to_u64(
            full.entries
                .iter()
                .filter(|e| e.entry.index > commit)
                .count(),
        ),
        overwritten: crate::bytes::to_u64(full.overwritten.len()),
        stop: log.decoded.stop,
        wal_snapshots: log
            .wal_snaps
            .iter()
            .map(|&(term, index)| TermIndex { term, index })
            .collect(),
        snapshot: chosen,
        snap_files: log.snaps.clone(),
        snap_db_files: snap_dbs,
        leftovers,
    });
    // Membership from the WAL.
    let (snap_m, store) = match &log.chosen {
        Some(c) => {
            let st = v2store::Store::parse(c.data()).ok();
            (st.as_ref().map(membership::from_v2), st)
        }
        None => (None, None),
    };
    if log.chosen.is_some() && store.is_none() {
        r.unreadable
            .push("v2 store JSON of the chosen .snap".into());
    }
    let after_ents: Vec<&raftpb::Entry> = log.read.entries.iter().map(|e| &e.entry).collect();
    let snap_plus_wal = snap_m.clone().map(|m| {
        let (mut m2, _) = membership::apply_conf_changes(m, after_ents.iter().copied(), commit);
        membership::apply_attributes(&mut m2, after_ents.iter().copied(), commit);
        m2
    });
    let full_ents: Vec<&raftpb::Entry> = full.entries.iter().map(|e| &e.entry).collect();
    let (wal_m, events) =
        membership::apply_conf_changes(Membership::default(), full_ents.iter().copied(), commit);
    let wal_complete = full.entries.first().is_some_and(|e| e.entry.index == 1);
    let wal_m = wal_complete.then(|| {
        let mut m = wal_m;
        membership::apply_attributes(&mut m, full_ents.iter().copied(), commit);
        m
    });
    r.membership = Some(MembershipReport {
        db: None,
        snap: snap_m,
        snap_plus_wal,
        wal: wal_m,
        wal_conf_changes: events,
    });
    drop(full_ents);
    let entries = full.entries.into_iter().map(|e| e.entry).collect();
    Some((log, entries))
}

/// The member's name, from the first source that knows it.
pub(super) fn fill_name(r: &mut InspectReport) {
    if let (Some(id), Some(mr)) = (&mut r.identity, &r.membership) {
        let name = [&mr.db, &mr.snap_plus_wal, &mr.wal]
            .iter()
            .filter_map(|m| m.as_ref().and_then(|m| m.get(id.member_id)))
            .map(|m| m.name.clone())
            .find(|n| !n.is_empty());
        id.name = name;
    }
}

pub(super) fn summary(m: &Membership) -> String {
    m.members
        .iter()
        .map(|x: &Member| format!("{:x}{}", x.id, if x.is_learner { "(learner)" } else { "" }))
        .collect::<Vec<_>>()
        .join(",")
}

/// Warns where membership sources disagree. A db behind the WAL (conf
/// changes committed after its consistent index `ci`) is expected to differ
/// until etcd replays them; that is reported as info.
pub(super) fn membership_warnings(r: &mut InspectReport, ci: Option<u64>) {
    let Some(mr) = &r.membership else { return };
    let pending: Vec<u64> = mr
        .wal_conf_changes
        .iter()
        .filter(|e| e.committed && e.index > ci.unwrap_or(0))
        .map(|e| e.index)
        .collect();
    let mut sources: Vec<(&str, &Membership)> = Vec::new();
    if let Some(m) = &mr.db {
        sources.push(("db members bucket", m));
    }
    if let Some(m) = &mr.snap_plus_wal {
        sources.push((".snap v2 store + WAL conf changes", m));
    }
    if let Some(m) = &mr.wal {
        sources.push(("WAL conf changes", m));
    }
    let mut warns = Vec::new();
    if let Some((first_name, first)) = sources.first() {
        for (name, m) in sources.iter().skip(1) {
            let a: Vec<(u64, bool, &Vec<String>)> = first
                .members
                .iter()
                .map(|x| (x.id, x.is_learner, &x.peer_urls))
                .collect();
            let b: Vec<(u64, bool, &Vec<String>)> = m
                .members
                .iter()
                .map(|x| (x.id, x.is_learner, &x.peer_urls))
                .collect();
            if a != b {
                let explained = first_name.starts_with("db") && !pending.is_empty();
                warns.push(Warning::new(
                    "membership.disagree",
                    if explained { Severity::Info } else { Severity::Warning },
                    format!(
                        "membership differs: {first_name} has [{}], {name} has [{}]{}",
                        summary(first),
                        summary(m),
                        if explained {
                            format!("; conf changes at index {pending:?} are committed but not yet applied to the db (consistent index {})", ci.map_or_else(|| "absent".to_string(), |c| c.to_string()))
                        } else {
                            String::new()
                        }
                    ),
                    "if committed conf changes are beyond the db's consistent index this is expected until etcd replays them; otherwise trust the raft log (WAL/.snap) and fix the member list with `etcdctl member` or restore with --initial-cluster",
                ));
            }
        }
    }
    if let Some(id) = &r.identity {
        if let Some(m) = &mr.db {
            if !m.members.is_empty() && m.get(id.member_id).is_none() {
                warns.push(Warning::new(
                    "membership.self-missing",
                    Severity::Warning,
                    format!("member {:x} (this WAL's owner) is not in the db's members bucket{}", id.member_id, if m.removed.contains(&id.member_id) { "; it was removed from the cluster" } else { "" }),
                    "this member was removed or the db comes from another member; do not start it as is",
                ));
            }
        }
    }
    r.warnings.extend(warns);
}
