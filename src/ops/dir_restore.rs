//! `snapshot restore DATA_DIR`: a restore from a member's own files instead
//! of a snapshot. The db is read as `snapshot restore` reads a raw db; then
//! every committed WAL entry after the db's consistent index is applied to
//! it, as etcd's apply loop would on start ([`crate::etcd::replay`]), and the
//! result is written as a snapshot restore writes it (members, token, bump,
//! output version). Entries past the WAL's HardState commit are not applied
//! (raft may still have dropped them); the report counts them.
//!
//! Several member dirs: the one `compare` names as the best seed (the newest
//! among the members that agree, WAL entries included) is used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::etcd::datadir::{Input, InputKind};
use crate::etcd::entry::{self, Payload};
use crate::etcd::raftlog::{self, WalDir};
use crate::etcd::replay::Model;
use crate::etcd::restore::Overlay;
use crate::formats::bbolt::Db;
use crate::formats::wal;
use crate::ops::check::{check_bytes, CheckOptions};
use crate::source::Source;

use super::restore::RestoreOptions;

/// What the WAL replay did.
#[derive(Debug, Clone, Serialize)]
pub struct WalReplay {
    /// The data or member dir restored from.
    pub input: PathBuf,
    /// Its db.
    pub db: PathBuf,
    /// The db's consistent index: entries up to it are in the db already.
    pub consistent_index: u64,
    /// The WAL's HardState commit.
    pub commit: u64,
    /// The revision of the db alone (what a db-only restore keeps).
    pub db_revision: i64,
    /// The revision after the replay.
    pub revision_reached: i64,
    /// Committed entries after the consistent index, all applied in order.
    pub entries_applied: u64,
    /// Their index range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_range: Option<[u64; 2]>,
    /// Of them, the requests that raised the revision.
    pub writes: u64,
    /// Applied entries by kind (`put`, `txn`, `lease_grant`, `noop`, ...).
    pub applied_by_kind: BTreeMap<String, u64>,
    /// Entries in the WAL past the commit: not applied.
    pub uncommitted: u64,
    /// Their index range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncommitted_range: Option<[u64; 2]>,
    /// Requests the replay does not model (downgrade), by kind:
    /// their effect is missing from the output.
    pub not_applied: BTreeMap<String, u64>,
    /// Passwords sent by etcd < 3.5 (user add, password change) and
    /// bcrypt-hashed by the replay as etcd does at apply: a fresh salt, so
    /// another hash than the old member's for the same password.
    pub passwords_hashed: u64,
    /// Requests etcd refuses when it applies them (lease not found, future
    /// revision, NOSPACE alarm, ...), by kind: no-ops, as in etcd.
    pub refused: BTreeMap<String, u64>,
    /// The newest compaction applied by the replay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compaction: Option<i64>,
    /// Auth was enabled (in the db, or by a replayed entry): permission
    /// checks were not evaluated.
    pub auth_enabled: bool,
    /// Which input was chosen among several, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chosen: Option<Chosen>,
}

/// The input chosen among several member dirs.
#[derive(Debug, Clone, Serialize)]
pub struct Chosen {
    /// Every input given.
    pub candidates: Vec<PathBuf>,
    /// Why this one (compare's best seed).
    pub reason: String,
}

/// The db and WAL of one member dir, read and replayed.
pub(super) struct Replayed {
    /// The report part.
    pub report: WalReplay,
    /// The db's source (mapped).
    pub src: Source,
    /// What to lay over the db.
    pub overlay: Overlay,
}

fn usage(msg: String) -> Error {
    Error::new(ErrorKind::Usage(msg))
}

fn refused(msg: String, at: &Path) -> Error {
    Error::new(ErrorKind::Refused(msg)).in_file(at)
}

/// The member dir to restore from: the only input, or compare's best seed.
fn choose(o: &RestoreOptions) -> Result<(PathBuf, Option<Chosen>)> {
    if o.more_inputs.is_empty() {
        return Ok((o.snapshot.clone(), None));
    }
    let mut all = vec![o.snapshot.clone()];
    all.extend(o.more_inputs.iter().cloned());
    for p in &all {
        if !p.is_dir() {
            return Err(usage(format!(
                "{}: several inputs are member dirs to choose from; a snapshot file is restored alone",
                p.display()
            )));
        }
    }
    let cmp = super::compare::compare(&all, super::compare::CompareOptions { keys: 0 })?;
    let Some(seed) = cmp.best_seed else {
        return Err(refused(
            "compare found no member dir to restore from among the inputs (`etcd-rescue compare` shows why)".into(),
            &o.snapshot,
        ));
    };
    let row = cmp.members.iter().find(|r| r.path == seed.member);
    let path = all
        .iter()
        .find(|p| p.display().to_string() == seed.member)
        .cloned()
        .unwrap_or_else(|| PathBuf::from(&seed.member));
    let detail = row.map_or(String::new(), |r| {
        format!(
            ": revision {} with its WAL (db consistent index {}, raft commit {})",
            r.effective_revision().unwrap_or(0),
            r.consistent_index.unwrap_or(0),
            r.raft_commit.unwrap_or(0)
        )
    });
    let others: Vec<String> = cmp
        .members
        .iter()
        .filter(|r| r.path != seed.member)
        .map(|r| {
            format!(
                "{} revision {}",
                r.path,
                r.effective_revision()
                    .map_or_else(|| "unknown".to_string(), |v| v.to_string())
            )
        })
        .collect();
    // compare's reason, without its advice on how to restore from the seed.
    let why = seed.reason.split("; ").next().unwrap_or_default();
    let reason = format!(
        "its committed log reaches furthest{detail}; the others: {}; chosen as compare's best seed ({why})",
        others.join(", ")
    );
    Ok((
        path,
        Some(Chosen {
            candidates: all,
            reason,
        }),
    ))
}

/// Reads the chosen member dir and replays its WAL onto its db's model.
pub(super) fn read_and_replay(o: &RestoreOptions) -> Result<Replayed> {
    let (path, chosen) = choose(o)?;
    let input = Input::resolve(&path)?;
    let Some(member) = input
        .member_dir
        .clone()
        .filter(|_| input.kind != InputKind::File)
    else {
        return Err(usage(format!(
            "{} is not a data dir or member dir",
            path.display()
        )));
    };
    let db_path = input.db_path()?;
    if let Some((pid, _)) = crate::source::lock_holder(&db_path) {
        return Err(refused(
            format!("etcd (pid {pid}) has this db open: its WAL and db are still changing; stop it, or copy the data dir and restore from the copy"),
            &db_path,
        ));
    }
    let src = Source::open(&db_path)?;
    let data = src.bytes();
    let checked = check_bytes(
        data,
        &db_path,
        false,
        &|_| {},
        CheckOptions {
            verify_trailer: false,
        },
    )?;
    super::restore::judge_findings(&db_path, &checked, true)?;
    let db = Db::open(data).map_err(|e| e.in_file(&db_path))?;
    let facts = crate::etcd::dbinfo::read(&db).map_err(|e| e.in_file(&db_path))?;
    let ci = facts.consistent_index.unwrap_or(0);

    let wal_dir = member.join("wal");
    let snap_dir = member.join("snap");
    let wal = WalDir::open(&wal_dir)?;
    let log = raftlog::load(&wal, Some(&snap_dir), false)?;
    let snap_index = log
        .chosen
        .as_ref()
        .map_or(0, crate::formats::snap::SnapFile::index);
    if snap_index > ci {
        return Err(refused(
            format!("the db's consistent index {ci} is below the raft snapshot's index {snap_index}: etcd would take the db from {snap_index:016x}.snap.db, which this restore does not read; restore from that file (`snapshot restore <file> --skip-hash-check`) or from another member"),
            &db_path,
        ));
    }
    let segments = wal.segments();
    let first_start = segments.first().map_or(0, |s| s.name.index);
    let full = wal::read_all(&log.decoded, &segments, 0, first_start.saturating_sub(1), 0);
    let commit = log.last_state.map_or(0, |s| s.commit);
    let beyond: Vec<_> = full
        .entries
        .iter()
        .filter(|e| e.entry.index > ci && e.entry.index <= commit)
        .collect();
    let uncommitted: Vec<u64> = full
        .entries
        .iter()
        .map(|e| e.entry.index)
        .filter(|i| *i > commit.max(ci))
        .collect();
    let expected = commit.saturating_sub(ci);
    let contiguous = beyond
        .iter()
        .zip(ci.saturating_add(1)..)
        .all(|(e, want)| e.entry.index == want);
    if !contiguous || crate::bytes::to_u64(beyond.len()) != expected {
        return Err(refused(
            format!(
                "the WAL does not hold every committed entry after the db's consistent index {ci} (commit {commit}; {} of {expected} found, from index {}): the db cannot be brought up to date from this member's files; use another member or a snapshot (`etcd-rescue inspect {}` shows the WAL)",
                beyond.len(),
                beyond.first().map_or(0, |e| e.entry.index),
                path.display()
            ),
            &wal_dir,
        ));
    }

    let mut model = Model::from_db(
        &db,
        &[
            facts.scheduled_compact_revision,
            facts.finished_compact_revision,
        ],
    )
    .map_err(|e| e.in_file(&db_path))?;
    let db_revision = model.revision;
    model.record();
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    for e in &beyond {
        let p = entry::payload(&e.entry);
        *by_kind.entry(p.kind().to_string()).or_insert(0) += 1;
        if let Payload::Request { irr, .. } = p {
            model.apply(&irr);
        }
    }
    let mut changes = model.take_changes();
    let removals = match changes.compaction {
        Some(r) => {
            Model::compaction_removals(&db, r, &mut changes).map_err(|e| e.in_file(&db_path))?
        }
        None => Vec::new(),
    };
    let report = WalReplay {
        input: path.clone(),
        db: db_path.clone(),
        consistent_index: ci,
        commit,
        db_revision,
        revision_reached: model.revision,
        entries_applied: crate::bytes::to_u64(beyond.len()),
        applied_range: beyond
            .first()
            .zip(beyond.last())
            .map(|(a, b)| [a.entry.index, b.entry.index]),
        writes: model.writes,
        applied_by_kind: by_kind,
        uncommitted: crate::bytes::to_u64(uncommitted.len()),
        uncommitted_range: uncommitted
            .first()
            .zip(uncommitted.last())
            .map(|(a, b)| [*a, *b]),
        not_applied: changes
            .not_applied
            .iter()
            .map(|(k, v)| ((*k).to_string(), *v))
            .collect(),
        passwords_hashed: changes.passwords_hashed,
        refused: changes
            .refused
            .iter()
            .map(|(k, v)| ((*k).to_string(), *v))
            .collect(),
        compaction: changes.compaction,
        auth_enabled: model.auth_was_enabled,
        chosen,
    };
    let overlay = changes.into_overlay(removals);
    Ok(Replayed {
        report,
        src,
        overlay,
    })
}

/// Checks a db we wrote as `check` does: a finding of severity error is our
/// bug, and nothing is moved into place.
pub(super) fn check_output(db_path: &Path) -> Result<()> {
    let src = Source::open(db_path)?;
    let checked = check_bytes(
        src.bytes(),
        db_path,
        false,
        &|_| {},
        CheckOptions {
            verify_trailer: false,
        },
    )?;
    let errors: Vec<String> = checked
        .findings
        .iter()
        .filter(|f| f.severity == crate::error::Severity::Error)
        .take(5)
        .map(|f| format!("[{}] {}", f.code, f.message))
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    Err(refused(
        format!(
            "the restored db fails its own check (a bug in etcd-rescue; nothing was written to the target): {}",
            errors.join("; ")
        ),
        db_path,
    ))
}
