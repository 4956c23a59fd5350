//! The one walk that every whole-db pass shares (check, status, hashkv,
//! inspect, compare, restore).
//!
//! [`walk`] visits every page reachable from the root bucket exactly once, in the
//! order bbolt's `tx.Check()` does (all pages of a bucket in pre-order, then its
//! nested buckets in key order), has the structural check (`check.rs`) look
//! at each page, and hands each top-level bucket's entries, in key order, to a
//! [`Visitor`]. `snapshot status` hashes through the visitor, so checking and
//! hashing are one pass.
//!
//! Large buckets are walked in parallel: the top of the tree is expanded until
//! there are enough subtrees, each subtree is walked on a rayon thread with a
//! forked visitor, and the forks are joined back in key order. Threads share one
//! atomic "reached" bitset. When anything is found the walk is redone on one
//! thread, so findings come in bbolt's exact order.

use rayon::prelude::*;

use crate::error::{Finding, Location};

use super::bucket::{Bucket, BucketRoot};
use super::check::CheckReport;
use super::cursor::PageSet;
use super::db::Db;

/// Receives the entries of top-level buckets during a [`walk`].
///
/// A parallel walk gives consecutive key ranges of a bucket to [`Visitor::fork`]ed
/// copies and [`Visitor::join`]s them back in key order, so a visitor must be
/// able to combine the results of two adjacent ranges (a CRC, counts, a map of
/// last states per key).
pub trait Visitor<'a>: Send + Sized {
    /// A key of the root bucket, in key order, before that bucket's entries.
    /// `is_bucket` is false for a plain key stored at the top level.
    fn top_level(&mut self, _name: &'a [u8], _is_bucket: bool) {}
    /// An entry of the current top-level bucket, in key order; `value` is `None`
    /// for a nested bucket (Go's `ForEach` gives nil).
    fn entry(&mut self, _key: &'a [u8], _value: Option<&'a [u8]>) {}
    /// Whether [`Visitor::packed`] can stand for the `entry` calls of `run`.
    fn takes_packed(&self, _run: &LeafRun<'a>) -> bool {
        false
    }
    /// A whole leaf page's entries at once, instead of one `entry` call each
    /// (only after [`Visitor::takes_packed`] said yes).
    fn packed(&mut self, _run: &LeafRun<'a>) {}
    /// An empty visitor for a later key range of the current bucket.
    fn fork(&self) -> Self;
    /// Appends the results of a fork that saw the entries right after ours.
    fn join(&mut self, later: Self);
}

/// The entries of one leaf page of a top-level bucket, when none is a nested
/// bucket and their bytes lie back to back in the page. bbolt writes every
/// leaf this way, so a hashing visitor can hash a page in one call.
#[derive(Debug, Clone, Copy)]
pub struct LeafRun<'a> {
    /// `key0 value0 key1 value1 …`, as they lie in the page.
    pub bytes: &'a [u8],
    /// Number of entries.
    pub count: usize,
    /// The first key.
    pub first: &'a [u8],
    /// The last key.
    pub last: &'a [u8],
    /// The length of the shortest key.
    pub min_key_len: usize,
    /// The page the run lies in, for a visitor that takes the bytes whole
    /// and still wants to look at each entry ([`LeafRun::entries`]).
    pub page: super::Page<'a>,
}

impl<'a> LeafRun<'a> {
    /// The run's `(key, value)` pairs, in page order.
    pub fn entries(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + '_ {
        (0..self.count).filter_map(|i| self.page.leaf_element(i).ok().map(|e| (e.key, e.value)))
    }
}

/// A visitor that does nothing (a plain structural check).
impl<'a> Visitor<'a> for () {
    fn takes_packed(&self, _run: &LeafRun<'a>) -> bool {
        true
    }
    fn fork(&self) -> Self {}
    fn join(&mut self, _later: Self) {}
}

/// Both visitors in one walk.
impl<'a, A: Visitor<'a>, B: Visitor<'a>> Visitor<'a> for (A, B)
where
    (A, B): Send,
{
    fn top_level(&mut self, name: &'a [u8], is_bucket: bool) {
        self.0.top_level(name, is_bucket);
        self.1.top_level(name, is_bucket);
    }
    fn entry(&mut self, k: &'a [u8], v: Option<&'a [u8]>) {
        self.0.entry(k, v);
        self.1.entry(k, v);
    }
    fn takes_packed(&self, run: &LeafRun<'a>) -> bool {
        self.0.takes_packed(run) && self.1.takes_packed(run)
    }
    fn packed(&mut self, run: &LeafRun<'a>) {
        self.0.packed(run);
        self.1.packed(run);
    }
    fn fork(&self) -> Self {
        (self.0.fork(), self.1.fork())
    }
    fn join(&mut self, later: Self) {
        self.0.join(later.0);
        self.1.join(later.1);
    }
}

/// Page statistics gathered by the walk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PageStats {
    /// Branch pages reached.
    pub branch_pages: u64,
    /// Leaf pages reached.
    pub leaf_pages: u64,
    /// Overflow page slots of reached pages.
    pub overflow_pages: u64,
    /// Pages in `[2, pgid)` not reached (free or leaked).
    pub free_pages: u64,
    /// Inline buckets seen.
    pub inline_buckets: u64,
    /// Deepest tree level seen (root page = 1).
    pub max_depth: u64,
}

impl PageStats {
    pub(super) fn add(&mut self, o: &PageStats) {
        self.branch_pages += o.branch_pages;
        self.leaf_pages += o.leaf_pages;
        self.overflow_pages += o.overflow_pages;
        self.free_pages += o.free_pages;
        self.inline_buckets += o.inline_buckets;
        self.max_depth = self.max_depth.max(o.max_depth);
    }
}

/// Subtrees to aim for before walking a bucket in parallel.
const PARALLEL_SUBTREES: usize = 64;

#[derive(Debug, Clone, Copy)]
pub(super) struct PageJob<'a> {
    pub(super) id: u64,
    pub(super) depth: usize,
    /// Keys of this subtree must be ≥ this (the parent's separator).
    pub(super) min_closed: Option<&'a [u8]>,
    /// ... and < this (the next separator of the parent).
    pub(super) max_open: Option<&'a [u8]>,
}

enum BucketJob<'a> {
    /// Walk a bucket at `level` (0 = root bucket, 1 = top-level, 2+ = nested).
    Walk {
        bucket: Bucket<'a>,
        level: u32,
        name: &'a [u8],
    },
    /// A top-level key that is not a bucket.
    PlainTopLevel(&'a [u8]),
}

/// Entries of a bucket that lead elsewhere: nested buckets (and, for the root
/// bucket, every key, `None` marking a plain one).
pub(super) type Children<'a> = Vec<(&'a [u8], Option<&'a [u8]>)>;

/// Called with a number of pages just walked, every [`PROGRESS_EVERY`] pages
/// per thread (progress bars, releasing resident pages of a memory map).
pub type Progress<'p> = &'p (dyn Fn(u64) + Sync);

/// How many pages a thread walks between two progress calls.
pub const PROGRESS_EVERY: u64 = 4096;

/// The state of one thread of the walk.
pub(super) struct Walker<'s, 'a, V> {
    pub(super) db: &'s Db<'a>,
    pub(super) progress: Progress<'s>,
    /// Pages walked since the last progress call.
    pub(super) pending: u64,
    pub(super) reached: &'s PageSet,
    pub(super) freed: &'s PageSet,
    pub(super) visitor: V,
    pub(super) findings: Vec<Finding>,
    pub(super) stats: PageStats,
    /// Last key seen in the bucket being walked (keys must rise across pages).
    pub(super) last_key: Option<&'a [u8]>,
}

/// Walks the whole database: the structural check plus a visit of every
/// top-level bucket's entries. Large buckets are walked in parallel.
pub fn walk<'a, V: Visitor<'a>>(db: &Db<'a>, visitor: &mut V) -> CheckReport {
    walk_observed(db, visitor, &|_| {})
}

/// [`walk`], reporting progress.
pub fn walk_observed<'a, V: Visitor<'a>>(
    db: &Db<'a>,
    visitor: &mut V,
    progress: Progress<'_>,
) -> CheckReport {
    let fork = visitor.fork();
    let (report, v) = walk_with(db, fork, true, progress);
    if report.findings.is_empty() {
        visitor.join(v);
        return report;
    }
    // Damage found: walk again on one thread for bbolt's exact finding order.
    let (report, v) = walk_with(db, visitor.fork(), false, progress);
    visitor.join(v);
    report
}

fn walk_with<'a, V: Visitor<'a>>(
    db: &Db<'a>,
    visitor: V,
    parallel: bool,
    progress: Progress<'_>,
) -> (CheckReport, V) {
    let meta = *db.meta();
    // Sized by the file, never by the (untrusted) high-water mark: no page past
    // the end of the file can be read, so none can be reached.
    let limit = db.pages_in_file().saturating_add(1);
    let reached = PageSet::with_limit(limit);
    let freed = PageSet::with_limit(limit);
    let mut w = Walker {
        db,
        progress,
        pending: 0,
        reached: &reached,
        freed: &freed,
        visitor,
        findings: Vec::new(),
        stats: PageStats::default(),
        last_key: None,
    };
    let mut freelist_span: Option<(u64, u64)> = None;
    if meta.has_freelist_page() {
        freelist_span = w.load_freelist(meta.freelist);
    }
    reached.insert(0);
    reached.insert(1);
    if let Some((first, overflow)) = freelist_span {
        for i in 0..=overflow {
            reached.insert(first.saturating_add(i));
        }
    }

    let mut jobs = vec![BucketJob::Walk {
        bucket: db.root_bucket(),
        level: 0,
        name: &[],
    }];
    while let Some(job) = jobs.pop() {
        match job {
            BucketJob::PlainTopLevel(name) => w.visitor.top_level(name, false),
            BucketJob::Walk {
                bucket,
                level,
                name,
            } => {
                if level == 1 {
                    // The visitor hears of a top-level bucket just before its entries.
                    w.visitor.top_level(name, true);
                }
                let children = w.walk_bucket(bucket, level, parallel);
                // Nested buckets are checked after the parent's pages, in key order.
                for (name, value) in children.into_iter().rev() {
                    match value {
                        None => jobs.push(BucketJob::PlainTopLevel(name)),
                        Some(v) => match Bucket::from_value(name, v) {
                            Ok(child) => jobs.push(BucketJob::Walk {
                                bucket: child,
                                level: level + 1,
                                name,
                            }),
                            Err(e) => {
                                w.findings.push(Finding::error(
                                    "bbolt.bucket.invalid",
                                    Location::default(),
                                    e.kind.to_string(),
                                ));
                                if level == 0 {
                                    jobs.push(BucketJob::PlainTopLevel(name));
                                }
                            }
                        },
                    }
                }
            }
        }
    }

    (w.progress)(w.pending);
    w.pending = 0;
    let unreached_from = if meta.has_freelist_page() { 0 } else { 2 };
    let in_file = meta.pgid.min(db.pages_in_file());
    if meta.pgid > in_file && meta.has_freelist_page() {
        // Go would report each as unreachable unfreed; one finding says it all.
        w.findings.push(Finding::error(
            "bbolt.file.truncated",
            db.location(in_file),
            format!(
                "pages {in_file}..{} lie past the end of the file (high-water mark {}): the file is truncated or the meta page is wrong",
                meta.pgid, meta.pgid
            ),
        ));
    }
    for id in unreached_from..in_file {
        if reached.contains(id) {
            continue;
        }
        if meta.has_freelist_page() {
            if !freed.contains(id) {
                w.findings.push(Finding::error(
                    "bbolt.page.unreachable-unfreed",
                    db.location(id),
                    format!("page {id}: unreachable unfreed"),
                ));
            }
        } else {
            w.stats.free_pages += 1;
        }
    }
    if meta.has_freelist_page() {
        w.stats.free_pages = freed.len();
    }
    let report = CheckReport {
        findings: w.findings,
        stats: w.stats,
        freelist_persisted: meta.has_freelist_page(),
    };
    (report, w.visitor)
}

impl<'s, 'a, V: Visitor<'a>> Walker<'s, 'a, V> {
    /// A walker for another thread, sharing the page sets.
    fn fork(&self) -> Walker<'s, 'a, V> {
        Walker {
            db: self.db,
            progress: self.progress,
            pending: 0,
            reached: self.reached,
            freed: self.freed,
            visitor: self.visitor.fork(),
            findings: Vec::new(),
            stats: PageStats::default(),
            last_key: None,
        }
    }

    /// Walks one bucket's pages; returns its entries that lead elsewhere.
    fn walk_bucket(&mut self, bucket: Bucket<'a>, level: u32, parallel: bool) -> Children<'a> {
        self.last_key = None;
        let mut children = Vec::new();
        match bucket.root {
            BucketRoot::Inline(page) => {
                // No pages of its own: bbolt's check skips it, but its entries count.
                self.stats.inline_buckets += 1;
                self.leaf(&page, level, None, None, &mut children);
            }
            BucketRoot::Paged(root) => {
                let root = PageJob {
                    id: root,
                    depth: 1,
                    min_closed: None,
                    max_open: None,
                };
                if parallel && level == 1 {
                    self.walk_parallel(root, level, &mut children);
                } else {
                    self.walk_pages(vec![root], level, &mut children);
                }
            }
        }
        children
    }

    /// Asks the CPU to start loading page `id` (the next one the walk takes)
    /// while this one is worked on: pages lie in tree order, not file order,
    /// so the hardware prefetcher cannot guess them.
    #[inline]
    fn prefetch(&self, id: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            let data = self.db.data();
            let size = crate::bytes::to_usize(u64::from(self.db.page_size())).unwrap_or(0);
            let Some(page) = self
                .db
                .offset_of(id)
                .and_then(crate::bytes::to_usize)
                .and_then(|o| data.get(o..o.checked_add(size)?))
            else {
                return;
            };
            for line in page.chunks(64) {
                // SAFETY: a prefetch is a hint: it never faults and changes
                // nothing; the pointer is inside the mapped file.
                #[allow(unsafe_code)]
                unsafe {
                    std::arch::x86_64::_mm_prefetch(
                        line.as_ptr().cast::<i8>(),
                        std::arch::x86_64::_MM_HINT_T0,
                    );
                }
            }
        }
    }

    /// Pre-order walk of the subtrees on `stack` (popped from the end).
    fn walk_pages(&mut self, mut stack: Vec<PageJob<'a>>, level: u32, children: &mut Children<'a>) {
        while let Some(job) = stack.pop() {
            if let Some(next) = stack.last() {
                self.prefetch(next.id);
            }
            self.page(job, level, &mut stack, children);
        }
    }

    /// Expands the top of the tree here, then walks the subtrees on rayon's
    /// threads and joins their results in key order.
    fn walk_parallel(&mut self, root: PageJob<'a>, level: u32, children: &mut Children<'a>) {
        let mut frontier = vec![root];
        loop {
            if frontier.len() >= PARALLEL_SUBTREES {
                break;
            }
            // Expand every branch page of the frontier by one level.
            let mut next = Vec::with_capacity(frontier.len() * 8);
            let mut expanded = false;
            for job in frontier {
                let is_branch = self
                    .db
                    .raw_page(job.id)
                    .is_ok_and(|p| p.header.is_branch() && p.header.id == job.id);
                if !is_branch {
                    next.push(job);
                    continue;
                }
                let mut kids = Vec::new();
                self.page(job, level, &mut kids, children);
                // page() pushes children reversed, for popping; restore key order.
                kids.reverse();
                next.extend(kids);
                expanded = true;
            }
            frontier = next;
            if !expanded {
                break;
            }
        }
        if frontier.len() < 2 {
            self.walk_pages(frontier, level, children);
            return;
        }
        // One expanded level can hold thousands of subtrees; walk them in at
        // most PARALLEL_SUBTREES runs of consecutive ones, because every fork
        // costs a join (a CRC combine per hashing visitor) on this thread.
        // Forks are made here so that the visitor need not be shared across threads.
        let per_fork = frontier.len().div_ceil(PARALLEL_SUBTREES).max(1);
        let mut forks: Vec<(Vec<PageJob<'a>>, Walker<'s, 'a, V>)> = Vec::new();
        let mut jobs = frontier.into_iter().peekable();
        while jobs.peek().is_some() {
            let mut run: Vec<PageJob<'a>> = jobs.by_ref().take(per_fork).collect();
            // walk_pages pops from the end: reverse to visit in key order.
            run.reverse();
            forks.push((run, self.fork()));
        }
        let results: Vec<(Walker<'s, 'a, V>, Children<'a>)> = forks
            .into_par_iter()
            .map(|(run, mut w)| {
                let mut ch = Vec::new();
                w.walk_pages(run, level, &mut ch);
                (w.progress)(w.pending);
                w.pending = 0;
                (w, ch)
            })
            .collect();
        for (w, ch) in results {
            self.visitor.join(w.visitor);
            self.findings.extend(w.findings);
            self.stats.add(&w.stats);
            children.extend(ch);
            if w.last_key.is_some() {
                self.last_key = w.last_key;
            }
        }
    }
}
