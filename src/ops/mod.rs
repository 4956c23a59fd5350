//! Operations: one module per command. Each returns a report value; nothing
//! here prints.

/// Progress of a long pass: `(pages done, pages in the db)`, called from any thread.
pub type ProgressFn = std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Pages walked between two releases of the mapped pages (128 MiB of 4 KiB pages).
const RELEASE_EVERY: u64 = 32 * 1024;

/// The per-page callback of a walk over `src`: drops the resident mapped
/// pages every [`RELEASE_EVERY`] pages walked (a walk outruns the Source's
/// timed releaser: 100 ms is most of a GiB) and reports `(walked, total)`
/// to `progress`.
pub(crate) struct WalkTicker<'s> {
    src: &'s crate::source::Source,
    total: u64,
    walked: std::sync::atomic::AtomicU64,
    progress: Option<ProgressFn>,
}

impl<'s> WalkTicker<'s> {
    pub(crate) fn new(
        src: &'s crate::source::Source,
        total: u64,
        progress: Option<ProgressFn>,
    ) -> Self {
        WalkTicker {
            src,
            total,
            walked: std::sync::atomic::AtomicU64::new(0),
            progress,
        }
    }

    /// Counts `n` more pages walked.
    pub(crate) fn tick(&self, n: u64) {
        use std::sync::atomic::Ordering;
        let before = self.walked.fetch_add(n, Ordering::Relaxed);
        let now = before.saturating_add(n);
        if let Some(p) = &self.progress {
            p(now, self.total);
        }
        if now / RELEASE_EVERY != before / RELEASE_EVERY {
            self.src.release_resident();
        }
    }
}

pub mod check;
pub mod compare;
pub mod diff;
pub mod get;
pub mod hashkv;
pub mod inspect;
pub mod keys;
pub mod restore;
pub mod salvage;
pub mod space;
pub mod status;
pub mod v2;
pub mod wal;
