//! `inspect` of one file: a WAL segment, a `.snap`, or a db/snapshot file;
//! and the db part every input with a db shares.

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result, Severity};
use crate::etcd::dbinfo::{self, DbFacts};
use crate::etcd::membership::{self};
use crate::etcd::raftlog::{self, WalDir};
use crate::etcd::status::{self};
use crate::etcd::v2store;
use crate::formats::bbolt::{CheckReport, Db};
use crate::formats::snap;
use crate::formats::trailer::Trailer;
use crate::formats::wal::{self, Stop};
use crate::source::Source;

use super::raft::raft_part;
use super::report::*;

pub(super) fn inspect_file(path: &Path, r: &mut InspectReport, opts: InspectOptions) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if wal::SegmentName::parse(&name).is_some() {
        r.input = "wal-file";
        let w = WalDir::open_file(path)?;
        raft_part(&w, None, r);
        return Ok(());
    }
    let src = Source::open(path)?;
    let size = crate::bytes::to_u64(src.bytes().len());
    if name.ends_with(".snap") {
        r.input = "snap-file";
        match snap::decode(src.bytes()) {
            Ok(s) => {
                let chosen = chosen_snap(&name, &s);
                let store = v2store::Store::parse(s.data()).ok();
                r.membership = Some(MembershipReport {
                    db: None,
                    snap: store.as_ref().map(membership::from_v2),
                    snap_plus_wal: None,
                    wal: None,
                    wal_conf_changes: Vec::new(),
                });
                r.file = Some(FileReport {
                    kind: format!(
                        "raft snapshot (.snap) at term {} index {}",
                        s.term(),
                        s.index()
                    ),
                    trailer: Trailer::Absent,
                    size,
                });
                r.raft = Some(RaftReport {
                    wal_dir: PathBuf::new(),
                    wal_files: Vec::new(),
                    hard_state: None,
                    first_index: None,
                    first_term: None,
                    last_index: None,
                    last_term: None,
                    entries_after_snapshot: 0,
                    committed_after_snapshot: 0,
                    uncommitted: 0,
                    overwritten: 0,
                    stop: Stop::Eof,
                    wal_snapshots: Vec::new(),
                    snapshot: Some(chosen),
                    snap_files: Vec::new(),
                    snap_db_files: Vec::new(),
                    leftovers: Vec::new(),
                });
            }
            Err(p) => {
                let mut w = Warning::new(
                    "snap.unreadable",
                    Severity::Error,
                    format!("{name}: {p}"),
                    action_for("snap.unreadable"),
                );
                w.file = Some(path.to_path_buf());
                r.warnings.push(w);
                r.file = Some(FileReport {
                    kind: "damaged raft snapshot (.snap)".into(),
                    trailer: Trailer::Absent,
                    size,
                });
            }
        }
        return Ok(());
    }
    r.input = "db-file";
    let trailer = Trailer::inspect(src.bytes(), true);
    let body = Trailer::body(src.bytes());
    let db_res = Db::open(body);
    let kind = match (&trailer, &db_res) {
        (_, Err(e)) if matches!(e.kind, ErrorKind::Truncated { .. } | ErrorKind::Empty) => {
            "truncated file (partial download or copy)".to_string()
        }
        (_, Err(_)) => "not a bbolt db".to_string(),
        (Trailer::Valid { .. }, Ok(db)) if crate::bytes::to_u64(body.len()) >= db.size() => {
            "saved snapshot (etcdctl snapshot save), sha256 trailer valid".to_string()
        }
        (Trailer::Mismatch { .. }, Ok(_)) => {
            "saved snapshot whose sha256 trailer does not match: modified or damaged after saving"
                .to_string()
        }
        (_, Ok(db)) if crate::bytes::to_u64(body.len()) < db.size() => {
            "truncated db: shorter than the pages its meta page counts (partial download or copy)"
                .to_string()
        }
        (_, Ok(_)) if name.ends_with(".snap.db") => {
            "db received from a leader (.snap.db), no trailer".to_string()
        }
        (_, Ok(_)) => "raw db copy (member/snap/db or a copy of it), no trailer".to_string(),
    };
    if let Trailer::Mismatch { .. } = trailer {
        let mut w = Warning::new(
            "snapshot.trailer.mismatch",
            Severity::Error,
            "the sha256 trailer does not match the file".into(),
            "take the snapshot again, or use it with `--skip-hash-check` only if nothing else is available",
        );
        w.file = Some(path.to_path_buf());
        r.warnings.push(w);
    }
    r.file = Some(FileReport {
        kind,
        trailer,
        size,
    });
    match db_res {
        Ok(db) => {
            let rep = db_part(path, size, &db, &src, r, opts);
            super::db_membership(&db, path, r);
            r.db = Some(rep);
        }
        Err(e) => r.unreadable.push(format!("db: {}", e.in_file(path))),
    }
    Ok(())
}

pub(super) fn chosen_snap(name: &str, s: &snap::SnapFile) -> ChosenSnap {
    let store = v2store::Store::parse(s.data()).ok();
    let cs = &s.snapshot.metadata.conf_state;
    ChosenSnap {
        name: name.to_string(),
        term: s.term(),
        index: s.index(),
        voters: cs.voters.clone(),
        learners: cs.learners.clone(),
        v2_custom_content: store.as_ref().map(v2store::Store::has_custom_content),
        v2_user_keys: store.as_ref().map(v2store::Store::user_keys),
        v2_cluster_version: store
            .as_ref()
            .and_then(|s| s.cluster_version().map(String::from)),
    }
}

pub(super) fn db_part(
    path: &Path,
    size: u64,
    db: &Db<'_>,
    src: &Source,
    r: &mut InspectReport,
    opts: InspectOptions,
) -> DbReport {
    let mut check = CheckReport::default();
    let ticker = crate::ops::WalkTicker::new(src, db.meta().pgid, None);
    let walked = if opts.status_walk {
        status::compute_observed(db, None, &mut check, &|n| ticker.tick(n))
    } else {
        Err(Error::new(ErrorKind::IntegrityCheckFailed(Vec::new())))
    };
    let (status, check_errors) = match walked {
        Ok(s) => (Some(s), Vec::new()),
        Err(e) => {
            let msgs = match &e.kind {
                ErrorKind::IntegrityCheckFailed(m) => m.clone(),
                _ => vec![e.to_string()],
            };
            (None, msgs)
        }
    };
    if let Some(v) = status.as_ref().and_then(crate::ops::status::newer_version) {
        let mut w = Warning::new(
            "db.version.newer",
            Severity::Info,
            crate::ops::status::newer_version_note(&v),
            "read the figures with that version's etcdutl before acting on a difference",
        );
        w.file = Some(path.to_path_buf());
        r.warnings.push(w);
    }
    if !check_errors.is_empty() {
        let mut w = Warning::new(
            "db.check.failed",
            Severity::Error,
            format!(
                "the db fails bbolt's structural check: {}",
                check_errors.join("; ")
            ),
            "etcd may crash on this db; run `etcd-rescue check` and restore from a snapshot",
        );
        w.file = Some(path.to_path_buf());
        r.warnings.push(w);
    }
    let facts = match dbinfo::read(db) {
        Ok(f) => f,
        Err(e) => {
            r.unreadable
                .push(format!("db meta facts: {}", e.in_file(path)));
            DbFacts::default()
        }
    };
    for a in &facts.alarms {
        r.warnings.push(Warning::new(
            "db.alarm.active",
            Severity::Warning,
            format!("alarm {} raised by member {:x} is active", a.alarm, a.member_id),
            if a.alarm == "NOSPACE" {
                "free space (compact, defrag, raise --quota-backend-bytes), then `etcdctl alarm disarm`"
            } else {
                "find the member whose data differs (`etcd-rescue compare`), replace it, then `etcdctl alarm disarm`"
            },
        ));
    }
    for p in &facts.problems {
        r.warnings.push(Warning::new(
            "db.meta.bad-value",
            Severity::Warning,
            p.clone(),
            "the db was written by an unknown tool or is damaged",
        ));
    }
    DbReport {
        path: path.to_path_buf(),
        file_size: size,
        status,
        check_errors,
        facts,
    }
}

pub(super) fn list_leftovers(dir: &Path, out: &mut Vec<String>, dbs: &mut Vec<String>) {
    let Ok(names) = raftlog::list_names(dir) else {
        return;
    };
    for n in names {
        if n.ends_with(".snap.db") {
            dbs.push(n);
        } else if n.ends_with(".tmp") || n.ends_with(".broken") || n.starts_with("db.tmp") {
            out.push(dir.join(&n).display().to_string());
        }
    }
}
