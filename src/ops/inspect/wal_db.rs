//! `inspect`'s cross-check of the db against the WAL: what the committed
//! entries beyond the db's consistent index would change on replay.

use std::collections::BTreeMap;

use crate::error::Severity;
use crate::etcd::entry::{self, Payload};
use crate::etcd::raftlog::RaftLog;
use crate::etcd::replay::Model;
use crate::formats::bbolt::Db;
use crate::formats::proto::raftpb;
use crate::formats::snap;

use super::report::*;

pub(super) fn wal_db(
    l: &RaftLog,
    full: &[raftpb::Entry],
    db: &Db<'_>,
    rep: &DbReport,
    r: &mut InspectReport,
) -> Option<WalDbReport> {
    let ci = rep.facts.consistent_index?;
    let commit = l.last_state.map_or(0, |s| s.commit);
    let beyond: Vec<&raftpb::Entry> = full
        .iter()
        .filter(|e| e.index > ci && e.index <= commit)
        .collect();
    let mut by_kind = BTreeMap::new();
    for e in &beyond {
        let k = entry::payload(e).kind().to_string();
        *by_kind.entry(k).or_insert(0u64) += 1;
    }
    let expected = commit.saturating_sub(ci);
    let contiguous = match beyond.first() {
        Some(e) => e.index == ci.saturating_add(1),
        None => true,
    };
    let replay_complete = contiguous && crate::bytes::to_u64(beyond.len()) == expected;
    let db_revision = match &rep.status {
        Some(s) => Some(s.revision),
        None => crate::etcd::mvcc::last_revision(db)
            .ok()
            .map(|x| x.unwrap_or(0)),
    };
    let writes_beyond = beyond
        .iter()
        .any(|e| matches!(entry::payload(e), Payload::Request { .. }));
    let revision_after_replay =
        if let (true, false, Some(db_revision)) = (replay_complete, writes_beyond, db_revision) {
            // Nothing to apply: skip loading the key space (seconds on a large db).
            Some(
                [
                    rep.facts.scheduled_compact_revision,
                    rep.facts.finished_compact_revision,
                ]
                .iter()
                .flatten()
                .fold(db_revision, |a, b| a.max(*b)),
            )
        } else if replay_complete {
            match Model::from_db(
                db,
                &[
                    rep.facts.scheduled_compact_revision,
                    rep.facts.finished_compact_revision,
                ],
            ) {
                Ok(mut m) => {
                    for e in &beyond {
                        if let Payload::Request { irr, .. } = entry::payload(e) {
                            m.apply(&irr);
                        }
                    }
                    Some(m.revision)
                }
                Err(e) => {
                    r.unreadable.push(format!("db keyspace for replay: {e}"));
                    None
                }
            }
        } else {
            None
        };
    let snap_index = l.chosen.as_ref().map_or(0, snap::SnapFile::index);
    let needs_snap_db = snap_index > ci;
    if !beyond.is_empty() {
        r.warnings.push(Warning::new(
            "wal.ahead-of-db",
            Severity::Info,
            format!(
                "{} committed entries (index {}..{}) are in the WAL but not yet in the db (consistent index {ci}); etcd applies them when it starts",
                beyond.len(),
                ci.saturating_add(1),
                commit
            ),
            "keep the WAL with the db: a copy of member/snap/db alone would lose these entries; `etcd-rescue snapshot restore <this data dir>` restores with them applied",
        ));
    }
    if !replay_complete {
        r.warnings.push(Warning::new(
            "wal.replay.incomplete",
            Severity::Error,
            format!("the WAL does not hold every committed entry after the db's consistent index {ci} (up to commit {commit})"),
            "entries are missing between the db and the WAL; the member cannot catch up from its own files; restore it from a snapshot of a healthy member",
        ));
    }
    if needs_snap_db {
        let name = format!("{snap_index:016x}.snap.db");
        let present = r
            .raft
            .as_ref()
            .is_some_and(|x| x.snap_db_files.contains(&name));
        r.warnings.push(Warning::new(
            "db.behind-snapshot",
            if present { Severity::Info } else { Severity::Error },
            format!("the db's consistent index {ci} is below the snapshot index {snap_index}; etcd will look for {name} ({})", if present { "present" } else { "missing" }),
            if present { "nothing to do: etcd will use it" } else { "etcd will fail to start; restore the member from a snapshot" },
        ));
    }
    if let Some(t) = rep.facts.term {
        if t > l.last_state.map_or(t, |s| s.term) {
            r.warnings.push(Warning::new(
                "db.term-ahead",
                Severity::Warning,
                format!("the db's term {t} is above the WAL's HardState term"),
                "the db and the WAL do not belong together; check where the db came from",
            ));
        }
    }
    if ci > commit && commit > 0 {
        // Where the WAL reading stopped early, its commit is only what the
        // readable part says: a db ahead of it is expected, not foreign.
        let has = |codes: &[&str]| r.warnings.iter().any(|w| codes.contains(&w.code));
        let torn = has(&["wal.tail.torn", "wal.frame.past-end"]);
        let cut = has(&[
            "wal.crc.mismatch",
            "wal.record.unmarshal",
            "wal.frame.too-large",
            "wal.crc.seed-mismatch",
        ]);
        r.warnings.push(if torn && !cut {
            Warning::new(
                "db.ahead-of-wal",
                Severity::Info,
                format!(
                    "the db's consistent index {ci} is above the commit {commit} of the WAL's last whole record: the torn last record is the one that committed {}, and the db had already applied it when the write was cut",
                    if commit.saturating_add(1) == ci {
                        format!("index {ci}")
                    } else {
                        format!("indexes {}..{ci}", commit.saturating_add(1))
                    }
                ),
                "nothing to do: the db belongs to this WAL; etcd drops the torn record when it starts",
            )
        } else if cut {
            Warning::new(
                "db.ahead-of-wal",
                Severity::Info,
                format!(
                    "the db's consistent index {ci} is above the commit {commit} the WAL shows up to its damage; the entries after the damage cannot be read"
                ),
                "see the WAL damage above: the db itself is usable up to its consistent index",
            )
        } else {
            Warning::new(
                "db.ahead-of-wal",
                Severity::Warning,
                format!("the db's consistent index {ci} is above the WAL's commit {commit}"),
                "the db is newer than the WAL (copied from elsewhere?); etcd 3.5 starts but the member may diverge",
            )
        });
    }
    Some(WalDbReport {
        consistent_index: ci,
        commit,
        committed_beyond_db: crate::bytes::to_u64(beyond.len()),
        beyond_db_by_kind: by_kind,
        replay_complete,
        db_revision: db_revision.unwrap_or(0),
        revision_after_replay,
        needs_snap_db,
    })
}
