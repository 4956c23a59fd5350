//! The input of a command, opened once: resolve the path the user gave
//! (snapshot, db copy, member dir or data dir) to its db file, map it, open
//! the bbolt db over it; and the walk ticker every walk over it shares.
//!
//! The mapped pages are released (dropped from the resident set) at fixed
//! intervals, so RSS stays flat on a db larger than memory. The intervals, by
//! what is counted:
//!
//! - pages walked: [`RELEASE_EVERY_PAGES`] (here, in [`WalkTicker`]);
//! - records read in revision order: [`crate::etcd::keyspace::RELEASE_EVERY`];
//! - rows listed (keys, diff: each row may read several pages):
//!   [`crate::etcd::keyspace::RELEASE_EVERY_ROWS`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::etcd::datadir::{Input, InputKind};
use crate::formats::bbolt::Db;
use crate::formats::trailer::Trailer;
use crate::source::Source;

use super::ProgressFn;

/// Pages walked between two releases of the mapped pages (128 MiB of 4 KiB pages).
pub const RELEASE_EVERY_PAGES: u64 = 32 * 1024;

/// An opened input: the db path and its mapped bytes.
#[derive(Debug)]
pub struct Opened {
    /// What the path given was (a file, a member dir, a data dir).
    pub kind: InputKind,
    /// The db file read (for a data dir: `member/snap/db`).
    pub db_path: PathBuf,
    /// The mapped file.
    pub source: Source,
}

impl Opened {
    /// Resolves `path` (snapshot, db, member dir or data dir) and maps the db.
    pub fn open(path: &Path) -> Result<Opened> {
        let input = Input::resolve(path)?;
        let db_path = input.db_path()?;
        let source = Source::open(&db_path)?;
        Ok(Opened {
            kind: input.kind,
            db_path,
            source,
        })
    }

    /// Maps a db file already resolved (a member's `member/snap/db`).
    pub fn open_db_file(db_path: &Path) -> Result<Opened> {
        let source = Source::open(db_path)?;
        Ok(Opened {
            kind: InputKind::File,
            db_path: db_path.to_path_buf(),
            source,
        })
    }

    /// Opens the bbolt db over the mapped bytes.
    pub fn db(&self) -> Result<Db<'_>> {
        Db::open(self.source.bytes()).map_err(|e| self.locate(e))
    }

    /// Opens the bbolt db over the mapped bytes less a sha256 trailer, if any.
    pub fn db_body(&self) -> Result<Db<'_>> {
        Db::open(Trailer::body(self.source.bytes())).map_err(|e| self.locate(e))
    }

    /// Attaches this input's path to an error.
    pub fn locate(&self, e: Error) -> Error {
        e.in_file(&self.db_path)
    }

    /// A ticker for a walk over `total` pages of this input.
    pub(crate) fn ticker(&self, total: u64, progress: Option<ProgressFn>) -> WalkTicker<'_> {
        WalkTicker::new(&self.source, total, progress)
    }
}

/// The per-page callback of a walk over `src`: drops the resident mapped
/// pages every [`RELEASE_EVERY_PAGES`] pages walked (a walk outruns the
/// Source's timed releaser: 100 ms is most of a GiB) and reports
/// `(walked, total)` to `progress`.
pub(crate) struct WalkTicker<'s> {
    src: &'s Source,
    total: u64,
    walked: AtomicU64,
    progress: Option<ProgressFn>,
}

impl<'s> WalkTicker<'s> {
    pub(crate) fn new(src: &'s Source, total: u64, progress: Option<ProgressFn>) -> Self {
        WalkTicker {
            src,
            total,
            walked: AtomicU64::new(0),
            progress,
        }
    }

    /// Counts `n` more pages walked.
    pub(crate) fn tick(&self, n: u64) {
        let before = self.walked.fetch_add(n, Ordering::Relaxed);
        let now = before.saturating_add(n);
        if let Some(p) = &self.progress {
            p(now, self.total);
        }
        if now / RELEASE_EVERY_PAGES != before / RELEASE_EVERY_PAGES {
            self.src.release_resident();
        }
    }
}
