//! `compact` and `defrag`: etcd's compaction at a revision and its
//! defragmentation, offline, into a new db file (the input is only read).
//!
//! Order of work (nothing is written before step 4):
//! 1. `--out` absent or empty; the input (snapshot, db, member or data dir)
//!    mapped read-only.
//! 2. The revision bounds read as etcd does on start; `--rev` checked as
//!    etcd's `Compact` checks it (see [`crate::etcd::compact`]).
//! 3. Pass 1 over the `key` bucket (compact only): the revisions kept.
//! 4. Pass 2: every bucket copied into a temporary file beside `--out` by the
//!    streaming bbolt writer: no free pages, pages filled as etcd's defrag
//!    fills them; the `key` bucket compacted, the compaction marks set,
//!    NOSPACE alarms dropped with `--disarm`.
//! 5. The temporary file checked as `check` checks a db (bbolt structure and
//!    etcd schema) and its revision bounds compared with the plan; only a
//!    sound result is renamed to `--out`, anything else is removed.
//!
//! Memory: the writer's page buffers, and for compact one hashed slot per
//! distinct key (see the `etcd` module); the mapped input pages are released
//! every 65,536 records.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::etcd::compact::{keep_at, resolve_rev, rewrite_db, Keep, RemovedAlarm, Rewrite};
use crate::etcd::keyspace::Revisions;
use crate::etcd::mvcc::TombstoneRule;
use crate::formats::bbolt::{Db, WriteSummary};
use crate::sink::{EarlySync, NewFile};
use crate::source::Source;

use super::check::{check_path, CheckOptions};
use super::input::Opened;
use super::verdict::Verdict;

/// Write buffer of the output file.
const WRITE_BUF: usize = 4 << 20;

/// What to do.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// Snapshot, db file, member dir or data dir.
    pub input: PathBuf,
    /// The new db file (absent or empty).
    pub out: PathBuf,
    /// Compact at this revision (0: the current one); `None`: defrag only.
    pub rev: Option<i64>,
    /// Drop NOSPACE alarm records.
    pub disarm: bool,
    /// Whose compaction: etcd 3.5.16+ (keeps a tombstone at exactly the
    /// compact revision) or an older one (drops it).
    pub rule: TombstoneRule,
}

/// File sizes before and after.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SizeReport {
    /// The input file, in bytes (a snapshot's sha256 trailer included).
    pub input_file: u64,
    /// The input db (high-water mark × page size).
    pub input_db: u64,
    /// The new file.
    pub output_file: u64,
}

/// What the compaction kept (compact only).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct KeptReport {
    /// Distinct user keys with a record at or below the compact revision.
    pub keys_seen: u64,
    /// Of those, keys whose newest record at or below it is kept (live keys,
    /// plus tombstones at exactly the compact revision).
    pub keys_kept: u64,
    /// Kept tombstones (deletes at exactly the compact revision; etcd keeps
    /// them until the next compaction).
    pub tombstones_kept: u64,
    /// Deletes of an already deleted key, which etcd's index ignores; removed.
    pub ignored_tombstones: u64,
}

/// The check of the new file.
#[derive(Debug, Clone, Serialize)]
pub struct OutputCheck {
    /// `check`'s verdict.
    pub verdict: Verdict,
    /// Its findings, as `code: message`.
    pub findings: Vec<String>,
    /// The revision bounds etcd computes on the new file.
    pub revisions: Revisions,
}

/// What `compact` / `defrag` did.
#[derive(Debug, Clone, Serialize)]
pub struct CompactReport {
    /// `compact` or `defrag`.
    pub command: &'static str,
    /// The path given.
    pub input: PathBuf,
    /// The db file read.
    pub db_path: PathBuf,
    /// The new file.
    pub output: PathBuf,
    /// Revision bounds of the input.
    pub before: Revisions,
    /// The revision compacted at (compact only).
    pub compact_revision: Option<i64>,
    /// Whose compaction rule for a tombstone at exactly that revision (compact only).
    pub tombstone_rule: Option<TombstoneRule>,
    /// What was kept (compact only).
    pub kept: Option<KeptReport>,
    /// `key` bucket records read.
    pub records_before: u64,
    /// `key` bucket records written.
    pub records_after: u64,
    /// Records removed by the compaction.
    pub records_dropped: u64,
    /// Key + value bytes of the removed records.
    pub bytes_dropped: u64,
    /// NOSPACE alarms removed (`--disarm`).
    pub alarms_removed: Vec<RemovedAlarm>,
    /// Alarm records left.
    pub alarms_left: u64,
    /// Sizes.
    pub sizes: SizeReport,
    /// The new file's layout.
    pub written: WriteSummary,
    /// The check of the new file.
    pub check: OutputCheck,
    /// What to know (a running etcd holding the input, alarms left).
    pub notes: Vec<String>,
}

fn refused(msg: String) -> Error {
    Error::new(ErrorKind::Refused(msg))
}

/// An input that cannot be read whole while it is copied: refused, with the
/// ways out. Write errors of the output pass through unchanged.
fn unreadable(input: &Path, e: Error) -> Error {
    if matches!(e.kind, ErrorKind::Io { .. }) {
        return e;
    }
    refused(format!(
        "{e}; nothing was written: the input cannot be read whole, so it cannot be rewritten \
         soundly. `etcd-rescue check {p}` lists every problem; `etcd-rescue salvage {p} --out \
         NEW.db` recovers what it still holds; or use another member's data dir or an older \
         snapshot",
        p = input.display()
    ))
}

/// Compacts (with `o.rev`) or only defragments `o.input` into `o.out`.
pub fn compact(o: &CompactOptions) -> Result<CompactReport> {
    if let Ok(meta) = std::fs::metadata(&o.out) {
        if meta.len() > 0 || meta.is_dir() {
            return Err(Error::new(ErrorKind::Usage(format!(
                "--out {} exists and is not empty: name a new file (the input is never changed)",
                o.out.display()
            ))));
        }
    }
    let input = Opened::open(&o.input)?;
    let db = input.db_body()?;
    let release = || input.source.release_resident();
    let before = Revisions::read(&db).map_err(|e| unreadable(&o.input, input.locate(e)))?;
    let mut notes = Vec::new();
    if let Some((pid, _)) = input.source.lock_holder() {
        notes.push(format!(
            "{} is locked by process {pid} (a running etcd?): the copy reflects the db as it was \
             while being read; stop etcd or work from `etcdctl snapshot save` for a consistent copy",
            input.db_path.display()
        ));
    }
    let keep: Option<Keep> = match o.rev {
        None => None,
        Some(rev) => {
            let at = resolve_rev(&before, rev).map_err(|e| input.locate(e))?;
            Some(
                keep_at(&db, at, o.rule, &release)
                    .map_err(|e| unreadable(&o.input, input.locate(e)))?,
            )
        }
    };
    let what = Rewrite {
        compact: keep.as_ref(),
        disarm: o.disarm,
    };

    let mut new_file = NewFile::create(&o.out, 0o600)?;
    let tmp = new_file.tmp_path().to_path_buf();
    let f = new_file.take()?;
    let syncer = f.try_clone().map_err(|e| Error::io("open", &tmp, &e))?;
    let (f, stats) = std::thread::scope(|s| -> Result<(File, _)> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        // Starts writeback early, so the final fsync has little left.
        s.spawn(move || {
            while rx.recv().is_ok() {
                let _ = syncer.sync_data();
            }
        });
        let out = BufWriter::with_capacity(WRITE_BUF, EarlySync::new(f, tx));
        let (out, stats) = rewrite_db(&db, what, out, &release)
            .map_err(|e| unreadable(&o.input, input.locate(e)))?;
        let f = out
            .into_inner()
            .map_err(|e| Error::io("write", &tmp, e.error()))?;
        Ok((f.into_file(), stats))
    })?;
    f.sync_all().map_err(|e| Error::io("fsync", &tmp, &e))?;
    release();

    let check = check_output(&tmp, &before, keep.as_ref())?;
    new_file.commit_file(f)?;

    if stats.alarms_left > 0 {
        notes.push(format!(
            "{} alarm record(s) kept in the alarm bucket: etcd raises them again on start{}",
            stats.alarms_left,
            if o.disarm {
                " (--disarm removes NOSPACE only)"
            } else {
                " (--disarm removes NOSPACE alarms)"
            }
        ));
    }
    let kept = keep.as_ref().map(|k| KeptReport {
        keys_seen: k.keys_seen,
        keys_kept: crate::bytes::to_u64(k.revs.len()),
        tombstones_kept: k.tombstones_kept,
        ignored_tombstones: k.ignored_tombstones,
    });
    Ok(CompactReport {
        command: if keep.is_some() { "compact" } else { "defrag" },
        input: o.input.clone(),
        db_path: input.db_path.clone(),
        output: o.out.clone(),
        before,
        compact_revision: keep.as_ref().map(|k| k.at),
        tombstone_rule: keep.as_ref().map(|_| o.rule),
        kept,
        records_before: stats.records_before,
        records_after: stats.records_after,
        records_dropped: stats.records_dropped,
        bytes_dropped: stats.bytes_dropped,
        alarms_removed: stats.alarms_removed,
        alarms_left: stats.alarms_left,
        sizes: SizeReport {
            input_file: crate::bytes::to_u64(input.source.bytes().len()),
            input_db: db.size(),
            output_file: stats.written.file_len,
        },
        written: stats.written,
        check,
        notes,
    })
}

/// Checks the written file as `check` does, and that etcd would compute the
/// planned revisions from it; refuses anything else (the caller then drops
/// the temporary file).
fn check_output(tmp: &Path, before: &Revisions, keep: Option<&Keep>) -> Result<OutputCheck> {
    let r = check_path(
        tmp,
        CheckOptions {
            verify_trailer: false,
        },
    )?;
    // A db file has no sha256 trailer (only `snapshot save` adds one): not a
    // note about this output.
    let kept: Vec<_> = r
        .findings
        .into_iter()
        .filter(|f| f.code != "snapshot.trailer.absent")
        .collect();
    let verdict = Verdict::of(&kept, r.verdict != Verdict::Unusable).max(if r.verdict.is_sound() {
        Verdict::Sound
    } else {
        r.verdict
    });
    let findings: Vec<String> = kept
        .iter()
        .map(|f| format!("{}: {}", f.code, f.message))
        .collect();
    if !verdict.is_sound() {
        return Err(refused(format!(
            "the new db failed its own check ({}), so nothing was written: {}; this is a bug \
             of etcd-rescue, please report it with `etcd-rescue check` of the input",
            verdict.name(),
            findings.join("; ")
        )));
    }
    let src = Source::open(tmp)?;
    let db = Db::open(src.bytes()).map_err(|e| e.in_file(tmp))?;
    let revisions = Revisions::read(&db).map_err(|e| e.in_file(tmp))?;
    let want_compact = keep.map_or(before.compact, |k| k.at);
    if revisions.current != before.current || revisions.compact != want_compact {
        return Err(refused(format!(
            "the new db would start at revision {} compacted at {} instead of {} compacted at \
             {want_compact}, so nothing was written; this is a bug of etcd-rescue",
            revisions.current, revisions.compact, before.current
        )));
    }
    Ok(OutputCheck {
        verdict,
        findings,
        revisions,
    })
}
