//! `repair db --revert-meta`: a copy of a db that uses its older meta page.
//!
//! bbolt writes each transaction's meta to slot `txid % 2` (pages 0 and 1),
//! so the other slot still describes the previous transaction, whose pages a
//! one-transaction-newer db has not reused yet. When the newest transaction's
//! pages are damaged (power loss: a root pointing at a garbage page, page
//! cycles, "failed to get all reachable pages"), the older meta still names a
//! consistent tree. bbolt's `surgery revert-meta-page` copies the older meta
//! page over the newer one (page header id set to the slot it lands in); the
//! result has two equal metas. Source: bbolt v1.4.3 `internal/surgeon`
//! `RevertMetaPage`, `CopyPage`; `internal/guts_cli` `GetActiveMetaPage`
//! (the newer is the higher txid, ties to slot 0).
//!
//! Here the older meta is the valid one with the lower txid (or the only
//! valid one), the copy is written beside the target and checked as `check`
//! does before it is renamed into place; a result with any error finding is
//! refused (nothing is written) with `salvage` as the way out. For etcd it
//! says which consistent index, term and revision the result falls back to,
//! what the dropped transaction held when its tree can still be read, and,
//! given the member's WAL, whether the WAL holds every entry after that
//! consistent index (then etcd replays them when it starts on the result).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result, Severity};
use crate::etcd::datadir::Input;
use crate::etcd::raftlog::{self, WalDir};
use crate::etcd::{dbinfo, mvcc};
use crate::formats::bbolt::meta::{Meta, MetaSlot};
use crate::formats::bbolt::Db;
use crate::formats::trailer::Trailer;
use crate::ops::check::{check_bytes, CheckOptions};
use crate::sink::NewFile;
use crate::source::Source;

/// One meta slot as found in the input.
#[derive(Debug, Clone, Serialize)]
pub struct SlotState {
    /// 0 or 1.
    pub slot: u8,
    /// The txid stored (even when the meta is invalid), if the page holds one.
    pub txid: Option<u64>,
    /// Root page of the root bucket, as stored.
    pub root: Option<u64>,
    /// High-water mark, as stored.
    pub pgid: Option<u64>,
    /// Why the meta is invalid, if it is.
    pub problem: Option<String>,
}

/// etcd's position in a db's tree.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Position {
    /// `meta/consistent_index`.
    pub consistent_index: Option<u64>,
    /// `meta/term`.
    pub term: Option<u64>,
    /// The current revision (last stored, or a compaction mark above it).
    pub revision: Option<i64>,
    /// The compact revision.
    pub compact_revision: Option<i64>,
}

/// Whether the member's WAL holds every entry after the result's consistent index.
#[derive(Debug, Clone, Serialize)]
pub struct WalCoverage {
    /// The WAL dir read.
    pub wal_dir: PathBuf,
    /// Index of the snapshot etcd would start from (0: none).
    pub snapshot_index: u64,
    /// First and last entry index etcd would read.
    pub first_index: Option<u64>,
    /// See `first_index`.
    pub last_index: Option<u64>,
    /// The last HardState's commit.
    pub commit: u64,
    /// Committed entries after the consistent index, which etcd re-applies.
    pub entries_to_replay: u64,
    /// True when nothing is lost: the WAL reads cleanly and holds every
    /// committed entry after the consistent index.
    pub holds_all: bool,
    /// Why not, when `holds_all` is false.
    pub reason: Option<String>,
}

/// What `repair db --revert-meta` did.
#[derive(Debug, Clone, Serialize)]
pub struct DbRepairReport {
    /// The path given.
    pub input: PathBuf,
    /// The db file read.
    pub db_path: PathBuf,
    /// The db written.
    pub output: PathBuf,
    /// Both slots as found.
    pub slots: [SlotState; 2],
    /// The slot whose meta the result uses (copied over the other).
    pub kept_slot: u8,
    /// The txid of the result.
    pub kept_txid: u64,
    /// The transaction dropped (the other slot's txid, if readable).
    pub dropped_txid: Option<u64>,
    /// bbolt already used the kept meta (the newer one was invalid): the
    /// repair only makes both slots agree.
    pub already_in_use: bool,
    /// Where the result stands.
    pub result: Position,
    /// Where the dropped transaction stood, when its tree can still be read.
    pub dropped: Option<Position>,
    /// The check of the result: verdict and counts.
    pub check_verdict: &'static str,
    /// Warnings and notes of that check (no errors: a result with errors is refused).
    pub check_notes: Vec<String>,
    /// A sha256 trailer was on the input and is not carried over.
    pub trailer_dropped: bool,
    /// The WAL, when one was given or found.
    pub wal: Option<WalCoverage>,
    /// What to do next.
    pub next_steps: Vec<String>,
}

impl DbRepairReport {
    /// True when a loss is known: the WAL lacks entries the result needs.
    pub fn lossy(&self) -> bool {
        self.wal.as_ref().is_some_and(|w| !w.holds_all)
    }
}

fn slot_state(db_data: &[u8], page_size: usize, slot: u8) -> SlotState {
    let off = usize::from(slot).saturating_mul(page_size);
    let page = crate::bytes::slice(db_data, off, page_size);
    let parsed = page.and_then(Meta::parse);
    let problem = match MetaSlot::read(page) {
        MetaSlot::Valid(_) => None,
        MetaSlot::Invalid(p) => Some(p.to_string()),
    };
    SlotState {
        slot,
        txid: parsed.map(|m| m.txid),
        root: parsed.map(|m| m.root),
        pgid: parsed.map(|m| m.pgid),
        problem,
    }
}

fn position(db: &Db<'_>) -> Result<Position> {
    let facts = dbinfo::read(db)?;
    let last = mvcc::last_revision(db)?;
    let (finished, scheduled) = mvcc::compact_revisions(db)?;
    let revision = [last, finished, scheduled].into_iter().flatten().max();
    let compact_revision = match (finished, scheduled) {
        (Some(f), Some(s)) => Some(f.max(s)),
        (f, s) => f.or(s),
    };
    Ok(Position {
        consistent_index: facts.consistent_index,
        term: facts.term,
        revision,
        compact_revision,
    })
}

/// Refuses an `--out` that exists and is not an empty file.
pub(crate) fn refuse_existing_file(out: &Path) -> Result<()> {
    if let Ok(meta) = std::fs::metadata(out) {
        if meta.len() > 0 || meta.is_dir() {
            return Err(Error::new(ErrorKind::Usage(format!(
                "--out {} exists and is not empty: name a new file",
                out.display()
            ))));
        }
    }
    Ok(())
}

/// Writes `input`'s db (a db file, member dir or data dir) to `out` with its
/// older meta page in place of the newer one. `wal`: the member's WAL (a data
/// dir, member dir or WAL dir); for a member or data dir input its own WAL is
/// used when `wal` is `None`.
pub fn revert_meta(input: &Path, out: &Path, wal: Option<&Path>) -> Result<DbRepairReport> {
    refuse_existing_file(out)?;
    let resolved = Input::resolve(input)?;
    let db_path = resolved.db_path()?;
    if db_path == out {
        return Err(Error::new(ErrorKind::Usage(
            "--out names the input: the input is never changed; name a new file".into(),
        )));
    }
    let src = Source::open(&db_path)?;
    let data = src.bytes();
    let body = Trailer::body(data);
    let trailer_dropped = body.len() != data.len();
    // Db::open fails when neither meta is valid: nothing to revert to.
    let db = Db::open(body).map_err(|e| {
        if matches!(e.kind, ErrorKind::NoValidMeta { .. }) {
            Error::new(ErrorKind::Refused(format!(
                "nothing written: neither meta page is valid ({}), so there is no older state to revert to; `etcd-rescue salvage {} --out NEW.db` recovers the keys the other pages still hold",
                e.kind,
                db_path.display()
            )))
            .in_file(&db_path)
        } else {
            e.in_file(&db_path)
        }
    })?;
    let ps = crate::bytes::to_usize(u64::from(db.page_size())).unwrap_or(usize::MAX);
    let slots = [slot_state(body, ps, 0), slot_state(body, ps, 1)];
    let choice = *db.meta_choice();
    let valid: Vec<(u8, Meta)> = choice
        .slots
        .iter()
        .zip([0u8, 1])
        .filter_map(|(s, i)| s.valid().map(|m| (i, *m)))
        .collect();
    // The older state: of two valid metas the lower txid (bbolt: ties go to
    // slot 0 being the newer, so slot 1 is kept); else the only valid one.
    let (kept_slot, kept) = match valid.as_slice() {
        [(0, a), (1, b)] => {
            if a.txid < b.txid {
                (0, *a)
            } else {
                (1, *b)
            }
        }
        [(i, m)] => (*i, *m),
        _ => (choice.chosen, *db.meta()),
    };
    let target_slot = 1 - kept_slot;
    let already_in_use = choice.chosen == kept_slot;
    let dropped_txid = slots.get(usize::from(target_slot)).and_then(|s| s.txid);

    // What the dropped transaction held, when its tree is readable.
    let dropped = slots
        .get(usize::from(target_slot))
        .filter(|s| s.problem.is_none())
        .and_then(|_| db.stored_meta(target_slot))
        .and_then(|m| position(&db.with_meta(m)).ok());

    // Write the copy with the kept meta page in both slots.
    let mut page = crate::bytes::slice(body, usize::from(kept_slot).saturating_mul(ps), ps)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| {
            Error::new(ErrorKind::Truncated {
                what: "meta page",
                need: 2 * u64::from(db.page_size()),
                have: crate::bytes::to_u64(body.len()),
            })
            .in_file(&db_path)
        })?;
    if let Some(id) = page.get_mut(..8) {
        id.copy_from_slice(&u64::from(target_slot).to_le_bytes());
    }
    let target_at = usize::from(target_slot).saturating_mul(ps);
    let mut file = NewFile::create(out, 0o600)?;
    let tmp = file.tmp_path().to_path_buf();
    {
        let f = file.file()?;
        let w = |f: &mut std::fs::File, b: &[u8]| {
            f.write_all(b).map_err(|e| Error::io("write", &tmp, &e))
        };
        w(f, body.get(..target_at).unwrap_or(&[]))?;
        w(f, &page)?;
        w(f, body.get(target_at.saturating_add(ps)..).unwrap_or(&[]))?;
        f.flush().map_err(|e| Error::io("write", &tmp, &e))?;
    }

    // Check the result as `check` does; refuse it on any error.
    let written = Source::open(&tmp)?;
    let result = check_bytes(
        written.bytes(),
        out,
        false,
        &|_| {},
        CheckOptions {
            verify_trailer: false,
        },
    )?;
    let errors: Vec<String> = result
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{}: {}", f.code, f.message))
        .collect();
    if !errors.is_empty() {
        let shown: Vec<&str> = errors.iter().take(5).map(String::as_str).collect();
        return Err(Error::new(ErrorKind::Refused(format!(
            "nothing written: the older meta page (slot {kept_slot}, txid {}) is also unusable: its tree fails the check with {} error(s): {}{}; `etcd-rescue salvage {} --out NEW.db` recovers the keys the pages still hold, or use another member's data dir or a snapshot",
            kept.txid,
            errors.len(),
            shown.join("; "),
            if errors.len() > shown.len() { "; ..." } else { "" },
            db_path.display()
        )))
        .in_file(&db_path));
    }
    let check_notes: Vec<String> = result
        .findings
        .iter()
        .map(|f| format!("{}: {}", f.code, f.message))
        .collect();
    let check_verdict = result.verdict.name();
    let new_db = Db::open(written.bytes()).map_err(|e| e.in_file(&tmp))?;
    let pos = position(&new_db).map_err(|e| e.in_file(&tmp))?;
    drop(written);

    // The WAL: given (it must read), or the member's own when it has one.
    let wal = match (wal, &resolved.member_dir) {
        (Some(w), _) => Some(wal_coverage(w, &pos)?),
        (None, Some(m)) if m.join("wal").is_dir() => Some(wal_coverage(m, &pos)?),
        (None, _) => None,
    };
    file.commit()?;
    let mut next_steps = Vec::new();
    match &wal {
        Some(w) if w.holds_all => next_steps.push(format!(
            "nothing is lost: put {} in place of member/snap/db (keep the member's WAL and .snap files); etcd re-applies the {} committed entries after index {} when it starts",
            out.display(),
            w.entries_to_replay,
            pos.consistent_index.unwrap_or(0)
        )),
        Some(w) => next_steps.push(format!(
            "the WAL cannot replay what the dropped transaction held ({}): use the result with `snapshot restore {} --skip-hash-check` (a new cluster at revision {}), or another member's data dir",
            w.reason.as_deref().unwrap_or("see above"),
            out.display(),
            pos.revision.unwrap_or(0)
        )),
        None => next_steps.push(format!(
            "give the member's WAL (--wal DIR) to learn whether it still holds the entries after consistent index {}; without it, what the dropped transaction wrote is lost unless another member has it",
            pos.consistent_index.unwrap_or(0)
        )),
    }
    Ok(DbRepairReport {
        input: input.to_path_buf(),
        db_path,
        output: out.to_path_buf(),
        slots,
        kept_slot,
        kept_txid: kept.txid,
        dropped_txid,
        already_in_use,
        result: pos,
        dropped,
        check_verdict,
        check_notes,
        trailer_dropped,
        wal,
        next_steps,
    })
}

/// Whether the WAL at `given` holds every committed entry after `pos`'s
/// consistent index.
fn wal_coverage(given: &Path, pos: &Position) -> Result<WalCoverage> {
    let (wal_dir, snap_dir) = super::wal_and_snap(given);
    let wd = WalDir::open(&wal_dir)?;
    let log = raftlog::load(&wd, snap_dir.as_deref(), false)?;
    let ci = pos.consistent_index.unwrap_or(0);
    let commit = log.last_state.map_or(0, |s| s.commit);
    let first_index = log.read.entries.first().map(|e| e.entry.index);
    let last_index = log.read.last().map(|(i, _)| i);
    let (snapshot_index, _) = log.start;
    let entries_to_replay = log.read.committed().filter(|e| e.entry.index > ci).count();
    let missing_start = log.findings.iter().any(|f| f.code == "wal.start.missing");
    let reason = if !log.decoded.stop.is_clean() || log.read.failed || missing_start {
        let first_error = log
            .findings
            .iter()
            .find(|f| f.severity == Severity::Error)
            .map_or_else(String::new, |f| format!(": {}", f.message));
        Some(format!(
            "the WAL does not read cleanly{first_error} (`etcd-rescue repair wal` first)"
        ))
    } else if snapshot_index > ci {
        Some(format!(
            "etcd would start from the snapshot at index {snapshot_index}, above the db's consistent index {ci}; etcd 3.5 then looks for a {snapshot_index:016x}.snap.db and does not start"
        ))
    } else if commit > ci && last_index.is_none_or(|l| l < commit) {
        Some(format!(
            "the WAL ends at index {} but its commit is {commit}",
            last_index.unwrap_or(snapshot_index)
        ))
    } else {
        None
    };
    Ok(WalCoverage {
        wal_dir,
        snapshot_index,
        first_index,
        last_index,
        commit,
        entries_to_replay: crate::bytes::to_u64(entries_to_replay),
        holds_all: reason.is_none(),
        reason,
    })
}
