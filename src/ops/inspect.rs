//! `inspect`: everything that can be learned about a data dir, member dir,
//! WAL dir or snapshot file without running etcd, and what disagrees.
//!
//! Each part is read on its own; a part that cannot be read is listed in
//! `unreadable` and the rest is still reported. Warnings carry a stable code,
//! a sentence and what to do.
//!
//! Parts: [`report`] (the types returned), `file` (one file, and the db
//! part), `raft` (WAL, `.snap`, identity, membership), `wal_db` (db against WAL).

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result, Severity};
use crate::etcd::membership;
use crate::etcd::raftlog::WalDir;
use crate::formats::bbolt::Db;
use crate::formats::proto::raftpb;
use crate::source::Source;

mod file;
mod raft;
pub mod report;
mod versions;
mod wal_db;

pub use report::*;
pub use versions::{wal_cluster_version, written_by_3_7};

use file::{db_part, inspect_file};
use raft::{fill_name, membership_warnings, raft_part};
use wal_db::wal_db;

/// The WAL and snap dirs of the input, where it has them.
struct Dirs {
    wal: Option<PathBuf>,
    snap: Option<PathBuf>,
}

/// Runs `inspect` on one path.
pub fn inspect(path: &Path) -> Result<InspectReport> {
    inspect_with(path, InspectOptions::default())
}

/// [`inspect`] with options.
pub fn inspect_with(path: &Path, opts: InspectOptions) -> Result<InspectReport> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("open", path, &e))?;
    let mut r = InspectReport {
        format_version: 1,
        path: path.to_path_buf(),
        input: "data-dir",
        identity: None,
        membership: None,
        raft: None,
        db: None,
        wal_db: None,
        versions: None,
        file: None,
        warnings: Vec::new(),
        unreadable: Vec::new(),
        verdict: crate::ops::verdict::Verdict::Sound,
    };
    if meta.is_file() {
        inspect_file(path, &mut r, opts)?;
        r.judge();
        return Ok(r);
    }
    let dirs = if path.join("member").is_dir() {
        let m = path.join("member");
        Dirs {
            wal: Some(m.join("wal")),
            snap: Some(m.join("snap")),
        }
    } else if path.join("wal").is_dir() || path.join("snap").is_dir() {
        r.input = "member-dir";
        Dirs {
            wal: Some(path.join("wal")),
            snap: Some(path.join("snap")),
        }
    } else {
        r.input = "wal-dir";
        // Neither a data dir nor a member dir: it must hold WAL files, or there is nothing to read.
        WalDir::open(path)?;
        Dirs {
            wal: Some(path.to_path_buf()),
            snap: None,
        }
    };
    inspect_dirs(&dirs, &mut r, opts)?;
    r.judge();
    Ok(r)
}

fn inspect_dirs(d: &Dirs, r: &mut InspectReport, opts: InspectOptions) -> Result<()> {
    let mut log = None;
    let mut full_entries: Vec<raftpb::Entry> = Vec::new();
    if let Some(wd) = &d.wal {
        match if wd.is_dir() {
            WalDir::open(wd)
        } else {
            Err(Error::new(ErrorKind::BadPath("no wal directory".into())).in_file(wd))
        } {
            Ok(w) => {
                if let Some((l, ents)) = raft_part(&w, d.snap.as_deref(), r) {
                    log = Some(l);
                    full_entries = ents;
                }
            }
            Err(e) => {
                r.unreadable.push(format!("WAL: {e}"));
                r.warnings.push(Warning::new(
                    "wal.missing",
                    Severity::Error,
                    format!("cannot read the WAL: {e}"),
                    "without the WAL, member and cluster ids and entries not yet in the db are unknown; use the db (or a snapshot) with `snapshot restore`",
                ));
            }
        }
    }
    if r.input == "wal-dir" {
        fill_name(r);
        return Ok(());
    }
    let db_path = d.snap.as_ref().map(|s| s.join("db"));
    let db_src = match &db_path {
        Some(p) if p.is_file() => match Source::open(p) {
            Ok(s) => Some(s),
            Err(e) => {
                r.unreadable.push(format!("db: {e}"));
                None
            }
        },
        Some(p) => {
            r.unreadable
                .push(format!("db: {} does not exist", p.display()));
            None
        }
        None => None,
    };
    let Some(src) = db_src else { return Ok(()) };
    let db_path = src.path().to_path_buf();
    let db = match Db::open(src.bytes()) {
        Ok(db) => db,
        Err(e) => {
            r.unreadable.push(format!("db: {}", e.in_file(&db_path)));
            return Ok(());
        }
    };
    let rep = db_part(
        &db_path,
        crate::bytes::to_u64(src.bytes().len()),
        &db,
        &src,
        r,
        opts,
    );
    db_membership(&db, &db_path, r);
    fill_name(r);
    membership_warnings(r, rep.facts.consistent_index);
    // WAL versus db.
    if let Some(l) = &log {
        let wd = wal_db(l, &full_entries, &db, &rep, r);
        r.wal_db = wd;
    }
    r.db = Some(rep);
    versions::versions_part(r, &full_entries);
    Ok(())
}

/// Membership from the db's `members` bucket (what etcd 3.5+ keeps there),
/// beside whatever the WAL and `.snap` gave.
pub(crate) fn db_membership(db: &Db<'_>, db_path: &Path, r: &mut InspectReport) {
    match membership::from_db(db) {
        Ok((m, problems)) => {
            for p in problems {
                r.warnings.push(Warning::new("db.members.bad", Severity::Warning, p, "the members bucket is damaged; restore from a snapshot or fix with member add/remove"));
            }
            if let Some(mr) = &mut r.membership {
                mr.db = m;
            } else {
                r.membership = Some(MembershipReport {
                    db: m,
                    snap: None,
                    snap_plus_wal: None,
                    wal: None,
                    wal_conf_changes: Vec::new(),
                });
            }
        }
        Err(e) => r
            .unreadable
            .push(format!("db members: {}", e.in_file(db_path))),
    }
}
