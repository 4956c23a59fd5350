//! `snapshot status`: etcdutl's figures for a snapshot, a db, or a data dir.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::etcd::status::{self, Compat, DbStatus};
use crate::formats::bbolt::{CheckReport, PageStats};
use crate::formats::trailer::Trailer;

use super::input::Opened;
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
    pub warnings: Vec<StatusWarning>,
}

/// What `snapshot status` warns about, as data; the CLI words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusWarning {
    /// The db is locked by a running process (see [`live_note`]).
    Live {
        /// The process holding the lock.
        pid: u32,
    },
    /// One meta page is invalid; the other is used.
    MetaInvalid {
        /// The invalid slot.
        slot: u8,
        /// Why it is invalid.
        problem: String,
        /// The slot used.
        chosen: u8,
        /// The txid of the meta used.
        txid: u64,
    },
    /// The file is shorter than the db it describes.
    Truncated {
        /// Bytes the db spans (`pgid * page_size`).
        db_size: u64,
        /// High-water mark.
        pgid: u64,
        /// Page size.
        page_size: u32,
        /// Bytes the file has.
        file_size: u64,
    },
    /// `meta/storageVersion` names an etcd newer than any this tool was
    /// checked against: the figures follow the newest known rules.
    NewerThanKnown {
        /// The storage version as stored.
        version: String,
    },
    /// The sha256 trailer does not match the bytes before it.
    TrailerMismatch {
        /// The stored digest, hex.
        stored: String,
        /// The digest of the bytes before it, hex.
        computed: String,
    },
}

impl StatusWarning {
    /// The finding code (see [`crate::codes`]).
    pub fn code(&self) -> &'static str {
        match self {
            StatusWarning::Live { .. } => "file.live",
            StatusWarning::MetaInvalid { .. } => "bbolt.meta.invalid",
            StatusWarning::Truncated { .. } => "file.truncated",
            StatusWarning::TrailerMismatch { .. } => "snapshot.trailer.mismatch",
            StatusWarning::NewerThanKnown { .. } => "db.version.newer",
        }
    }
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
    let input = Opened::open(path)?;
    let db = input.db()?;
    let (db_path, src) = (&input.db_path, &input.source);
    let mut warnings = Vec::new();
    if let Some((pid, _)) = src.lock_holder() {
        warnings.push(StatusWarning::Live { pid });
    }
    if let Some((slot, problem)) = db.meta_choice().other_problem() {
        warnings.push(StatusWarning::MetaInvalid {
            slot,
            problem: problem.to_string(),
            chosen: db.meta_choice().chosen,
            txid: db.meta().txid,
        });
    }
    let have = crate::bytes::to_u64(src.bytes().len());
    if have < db.size() {
        warnings.push(StatusWarning::Truncated {
            db_size: db.size(),
            pgid: db.meta().pgid,
            page_size: db.page_size(),
            file_size: have,
        });
    }
    let mut report = CheckReport::default();
    let ticker = input.ticker(db.meta().pgid, progress);
    let status = status::compute_observed(&db, opts.compat, &mut report, &|n| ticker.tick(n))
        .map_err(|e| input.locate(e))?;
    if crate::etcd::version::Version::parse(&status.version)
        .is_some_and(|v| status::newer_than_known(&v))
    {
        warnings.push(StatusWarning::NewerThanKnown {
            version: status.version.clone(),
        });
    }
    let trailer = Trailer::inspect(src.bytes(), opts.verify_trailer);
    if let Trailer::Mismatch { stored, computed } = &trailer {
        warnings.push(StatusWarning::TrailerMismatch {
            stored: stored.clone(),
            computed: computed.clone(),
        });
    }
    Ok(StatusReport {
        db_path: db_path.clone(),
        status,
        trailer,
        pages: report.stats,
        warnings,
    })
}

/// The storage version of `status` when it names an etcd newer than any this
/// tool knows (finding code `db.version.newer`).
pub fn newer_version(status: &crate::etcd::status::DbStatus) -> Option<String> {
    crate::etcd::version::Version::parse(&status.version)
        .filter(crate::etcd::status::newer_than_known)
        .map(|_| status.version.clone())
}

/// What `check` and `inspect` say of a db a newer etcd wrote: what holds
/// whatever the version, and what is read by the newest rules known.
pub fn newer_version_note(version: &str) -> String {
    format!(
        "written by etcd {version} (meta/storageVersion), newer than any etcd this tool knows (3.4 to 3.7): \
         the bbolt structure, hash, revision and keys are read as every etcd writes them, the etcd schema is \
         judged by etcd 3.7's rules (buckets or keys a newer etcd added show as unknown); confirm with etcdutl {version}"
    )
}

/// The note given when a db is held by a running etcd.
pub fn live_note(db_path: &Path, pid: u32) -> String {
    format!(
        "{}: the file is live (locked by process {pid}, a running etcd?): read without waiting for the lock, from the meta page current at open; a long read can see pages etcd reuses meanwhile, so take `etcdctl snapshot save` for a backup",
        db_path.display()
    )
}
