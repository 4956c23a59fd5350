//! `snapshot status`: etcdutl's figures for a snapshot, a db, or a data dir.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::etcd::datadir::Input;
use crate::etcd::status::{self, Compat, DbStatus};
use crate::formats::bbolt::{CheckReport, Db, PageStats};
use crate::formats::trailer::Trailer;
use crate::source::Source;

use super::ProgressFn;

/// Options of `snapshot status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusOptions {
    /// Force 3.5 or 3.6 meaning of the columns; `None` follows the file.
    pub compat: Option<Compat>,
    /// Also verify the sha256 trailer (one more pass over the file).
    pub verify_trailer: bool,
}

/// Everything `snapshot status` learned.
#[derive(Debug, Clone)]
pub struct StatusReport {
    /// The db file read.
    pub db_path: PathBuf,
    /// etcdutl's figures.
    pub status: DbStatus,
    /// The sha256 trailer, as found.
    pub trailer: Trailer,
    /// Page statistics from the walk.
    pub pages: PageStats,
    /// Warnings for stderr (never part of etcdutl-compatible stdout).
    pub warnings: Vec<String>,
}

/// Runs `snapshot status` on `path` (file, member dir or data dir).
pub fn status(path: &Path, opts: StatusOptions) -> Result<StatusReport> {
    status_observed(path, opts, None)
}

/// [`status`], reporting progress of the walk.
pub fn status_observed(
    path: &Path,
    opts: StatusOptions,
    progress: Option<ProgressFn>,
) -> Result<StatusReport> {
    let input = Input::resolve(path)?;
    let db_path = input.db_path()?;
    let src = Source::open(&db_path)?;
    let in_file = |e: Error| e.in_file(&db_path);
    let db = Db::open(src.bytes()).map_err(in_file)?;
    let mut warnings = Vec::new();
    if let Some((pid, _)) = src.lock_holder() {
        warnings.push(live_note(&db_path, pid));
    }
    if let Some((slot, problem)) = db.meta_choice().other_problem() {
        warnings.push(format!(
            "{}: meta page {slot} is invalid ({problem}); using meta page {} (txid {})",
            db_path.display(),
            db.meta_choice().chosen,
            db.meta().txid
        ));
    }
    let have = crate::bytes::to_u64(src.bytes().len());
    if have < db.size() {
        warnings.push(format!(
            "{}: file is truncated: the db spans {} bytes (high-water mark {} x page size {}), the file has {have}; pages past the end are missing (partial download or copy?)",
            db_path.display(),
            db.size(),
            db.meta().pgid,
            db.page_size()
        ));
    }
    let mut report = CheckReport::default();
    let ticker = super::WalkTicker::new(&src, db.meta().pgid, progress);
    let status = status::compute_observed(&db, opts.compat, &mut report, &|n| ticker.tick(n))
        .map_err(in_file)?;
    let trailer = Trailer::inspect(src.bytes(), opts.verify_trailer);
    if let Trailer::Mismatch { stored, computed } = &trailer {
        warnings.push(format!(
            "{}: sha256 trailer does not match the file (stored {stored}, computed {computed}): the file was modified or damaged after it was saved",
            db_path.display()
        ));
    }
    Ok(StatusReport {
        db_path,
        status,
        trailer,
        pages: report.stats,
        warnings,
    })
}

/// The note given when a db is held by a running etcd.
pub fn live_note(db_path: &Path, pid: u32) -> String {
    format!(
        "{}: the file is live (locked by process {pid}, a running etcd?): read without waiting for the lock, from the meta page current at open; a long read can see pages etcd reuses meanwhile, so take `etcdctl snapshot save` for a backup",
        db_path.display()
    )
}
