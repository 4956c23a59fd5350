//! The structural check, and the one walk that every whole-db pass shares.
//!
//! [`walk`] visits every page reachable from the root bucket exactly once, in the
//! order bbolt's `tx.Check()` does (all pages of a bucket in pre-order, then its
//! nested buckets in key order), reports every problem as a [`Finding`], and hands
//! each top-level bucket's entries, in key order, to a [`Visitor`]. `snapshot
//! status` hashes through the visitor, so checking and hashing are one pass.
//!
//! Large buckets are walked in parallel: the top of the tree is expanded until
//! there are enough subtrees, each subtree is walked on a rayon thread with a
//! forked visitor, and the forks are joined back in key order. Threads share one
//! atomic "reached" bitset. When anything is found the walk is redone on one
//! thread, so findings come in bbolt's exact order.
//!
//! Findings shared with Go bbolt carry the exact text of bbolt v1.3.6's
//! `tx.check` (the version etcdutl 3.5 uses): `page N: already freed`,
//! `page N: out of bounds: M`, `page N: multiple references`,
//! `page N: reachable freed`, `page N: invalid type: T`,
//! `page N: unreachable unfreed`. Go panics, loops or faults on some damage
//! (a page cycle, an element past its page, a page past the end of the file,
//! a bad freelist page, any error while rebuilding the free set of an etcd db);
//! we report those as findings of our own and never descend into a page twice.
//! Key order (bbolt ≥ 1.3.7) is checked too, with our own wording.

use rayon::prelude::*;

use crate::bytes::hex;
use crate::error::{Finding, Location};

use super::bucket::{Bucket, BucketRoot};
use super::cursor::{PageSet, MAX_DEPTH};
use super::db::Db;
use super::freelist;
use super::page::{type_name, LeafElement, Page};

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
    fn add(&mut self, o: &PageStats) {
        self.branch_pages += o.branch_pages;
        self.leaf_pages += o.leaf_pages;
        self.overflow_pages += o.overflow_pages;
        self.free_pages += o.free_pages;
        self.inline_buckets += o.inline_buckets;
        self.max_depth = self.max_depth.max(o.max_depth);
    }
}

/// What the walk found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Every problem, in bbolt's order.
    pub findings: Vec<Finding>,
    /// Page statistics.
    pub stats: PageStats,
    /// Whether the meta points at a freelist page (false for etcd on Linux).
    pub freelist_persisted: bool,
}

impl CheckReport {
    /// The findings' messages, as `tx.Check()` would send them.
    pub fn messages(&self) -> Vec<String> {
        self.findings.iter().map(|f| f.message.clone()).collect()
    }
}

/// Longest key shown in a finding, in bytes.
const SHOWN_KEY: usize = 48;

/// Subtrees to aim for before walking a bucket in parallel.
const PARALLEL_SUBTREES: usize = 64;

fn show_key(k: &[u8]) -> String {
    match k.get(..SHOWN_KEY) {
        Some(head) if k.len() > SHOWN_KEY => format!("{}…", hex(head)),
        _ => hex(k),
    }
}

#[derive(Debug, Clone, Copy)]
struct PageJob<'a> {
    id: u64,
    depth: usize,
    /// Keys of this subtree must be ≥ this (the parent's separator).
    min_closed: Option<&'a [u8]>,
    /// ... and < this (the next separator of the parent).
    max_open: Option<&'a [u8]>,
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
type Children<'a> = Vec<(&'a [u8], Option<&'a [u8]>)>;

/// Called with a number of pages just walked, every [`PROGRESS_EVERY`] pages
/// per thread (progress bars, releasing resident pages of a memory map).
pub type Progress<'p> = &'p (dyn Fn(u64) + Sync);

/// How many pages a thread walks between two progress calls.
pub const PROGRESS_EVERY: u64 = 4096;

/// The state of one thread of the walk.
struct Walker<'s, 'a, V> {
    db: &'s Db<'a>,
    progress: Progress<'s>,
    /// Pages walked since the last progress call.
    pending: u64,
    reached: &'s PageSet,
    freed: &'s PageSet,
    visitor: V,
    findings: Vec<Finding>,
    stats: PageStats,
    /// Last key seen in the bucket being walked (keys must rise across pages).
    last_key: Option<&'a [u8]>,
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

/// Runs the structural check alone.
pub fn check(db: &Db<'_>) -> CheckReport {
    walk(db, &mut ())
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
    fn finding(&mut self, code: &'static str, id: u64, message: String) {
        self.findings
            .push(Finding::error(code, self.db.location(id), message));
    }

    /// Reads a persisted freelist into `freed`; returns its (first page, overflow).
    fn load_freelist(&mut self, id: u64) -> Option<(u64, u64)> {
        let page = match self.db.raw_page(id) {
            Ok(p) => p,
            Err(e) => {
                self.finding(
                    "bbolt.freelist.invalid",
                    id,
                    format!("page {id}: freelist page cannot be read: {}", e.kind),
                );
                return None;
            }
        };
        match freelist::read_ids(&page) {
            Ok(ids) => {
                for fid in ids {
                    if !self.freed.insert(fid) && self.freed.contains(fid) {
                        self.finding(
                            "bbolt.freelist.already-freed",
                            fid,
                            format!("page {fid}: already freed"),
                        );
                    }
                }
            }
            Err(e) => self.finding(
                "bbolt.freelist.invalid",
                id,
                format!("page {id}: invalid freelist page: {e}"),
            ),
        }
        Some((id, u64::from(page.header.overflow)))
    }

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

    fn page(
        &mut self,
        job: PageJob<'a>,
        level: u32,
        stack: &mut Vec<PageJob<'a>>,
        children: &mut Children<'a>,
    ) {
        let id = job.id;
        let pgid = self.db.meta().pgid;
        if job.depth > MAX_DEPTH {
            self.finding(
                "bbolt.tree.too-deep",
                id,
                format!("page {id}: tree deeper than {MAX_DEPTH} levels (page cycle?)"),
            );
            return;
        }
        let page = match self.db.raw_page(id) {
            Ok(p) => p,
            Err(e) => {
                if id > pgid {
                    self.finding(
                        "bbolt.page.out-of-bounds",
                        id,
                        format!("page {id}: out of bounds: {pgid}"),
                    );
                }
                self.finding(
                    "bbolt.page.unreadable",
                    id,
                    format!("page {id}: cannot be read: {}", e.kind),
                );
                return;
            }
        };
        self.stats.max_depth = self.stats.max_depth.max(job.depth as u64);
        if page.header.id != id {
            self.finding(
                "bbolt.page.id-mismatch",
                id,
                format!(
                    "page {id}: header says page {} (misplaced or overwritten page)",
                    page.header.id
                ),
            );
        }
        if id > pgid {
            self.finding(
                "bbolt.page.out-of-bounds",
                id,
                format!("page {id}: out of bounds: {pgid}"),
            );
        }
        let first_visit = self.reached.insert(id);
        if !first_visit {
            self.finding(
                "bbolt.page.multiple-references",
                id,
                format!("page {id}: multiple references"),
            );
        }
        for i in 1..=u64::from(page.header.overflow) {
            let pid = id.saturating_add(i);
            if !self.reached.insert(pid) {
                self.finding(
                    "bbolt.page.multiple-references",
                    pid,
                    format!("page {pid}: multiple references"),
                );
            }
        }
        if self.freed.contains(id) {
            self.finding(
                "bbolt.page.reachable-freed",
                id,
                format!("page {id}: reachable freed"),
            );
            return;
        }
        if !page.header.is_branch() && !page.header.is_leaf() {
            let t = type_name(page.header.flags);
            self.finding(
                "bbolt.page.invalid-type",
                id,
                format!("page {id}: invalid type: {t}"),
            );
            return;
        }
        if !first_visit {
            // Never descend twice: a cycle would never end.
            return;
        }
        self.stats.overflow_pages += u64::from(page.header.overflow);
        self.pending += 1 + u64::from(page.header.overflow);
        if self.pending >= PROGRESS_EVERY {
            (self.progress)(self.pending);
            self.pending = 0;
        }
        if page.header.is_branch() {
            self.stats.branch_pages += 1;
            self.branch(&page, &job, stack);
        } else {
            self.stats.leaf_pages += 1;
            self.leaf(&page, level, job.min_closed, job.max_open, children);
        }
    }

    fn branch(&mut self, page: &Page<'a>, job: &PageJob<'a>, stack: &mut Vec<PageJob<'a>>) {
        let mut elems = Vec::with_capacity(page.count().min(page.bytes.len() / 16));
        for i in 0..page.count() {
            match page.branch_element(i) {
                Ok(e) => elems.push(e),
                Err(k) => {
                    self.finding(
                        "bbolt.page.bad-element",
                        page.id,
                        format!("page {}: branch {k}", page.id),
                    );
                    break;
                }
            }
        }
        let mut prev: Option<&'a [u8]> = None;
        for (i, e) in elems.iter().enumerate() {
            self.check_order(
                page.id,
                "branch",
                i,
                e.key,
                prev,
                job.min_closed,
                job.max_open,
            );
            prev = Some(e.key);
        }
        for (i, e) in elems.iter().enumerate().rev() {
            let max_open = elems.get(i + 1).map(|n| n.key).or(job.max_open);
            stack.push(PageJob {
                id: e.child,
                depth: job.depth + 1,
                min_closed: Some(e.key),
                max_open,
            });
        }
    }

    fn leaf(
        &mut self,
        page: &Page<'a>,
        level: u32,
        min_closed: Option<&'a [u8]>,
        max_open: Option<&'a [u8]>,
        children: &mut Children<'a>,
    ) {
        let count = page.count();
        let mut good = count;
        // Whether every element is plain and each key starts where the
        // previous value ended (addresses within this one page): then the
        // visitor may take the page as one run of bytes.
        let base = page.bytes.as_ptr() as usize;
        let mut run: Option<(usize, usize)> = None;
        let mut packed = level == 1;
        let mut min_key_len = usize::MAX;
        for i in 0..count {
            let e: LeafElement<'a> = match page.leaf_element(i) {
                Ok(e) => e,
                Err(k) => {
                    self.finding(
                        "bbolt.page.bad-element",
                        page.id,
                        format!("page {}: leaf {k}", page.id),
                    );
                    good = i;
                    packed = false;
                    break;
                }
            };
            let prev = self.last_key;
            self.check_order(page.id, "leaf", i, e.key, prev, min_closed, max_open);
            self.last_key = Some(e.key);
            if e.is_bucket() {
                packed = false;
                children.push((e.key, Some(e.value)));
            } else if level == 0 {
                children.push((e.key, None));
            }
            if packed {
                min_key_len = min_key_len.min(e.key.len());
                let (k, v_end) = (
                    e.key.as_ptr() as usize,
                    e.value.as_ptr() as usize + e.value.len(),
                );
                run = match run {
                    None => Some((k, v_end)),
                    Some((start, end)) if end == k => Some((start, v_end)),
                    Some(_) => {
                        packed = false;
                        None
                    }
                };
            }
        }
        if level != 1 || good == 0 {
            return;
        }
        let (Ok(first), Ok(last)) = (page.leaf_element(0), page.leaf_element(good - 1)) else {
            return;
        };
        let bytes = run.filter(|_| packed).and_then(|(start, end)| {
            page.bytes
                .get(start.checked_sub(base)?..end.checked_sub(base)?)
        });
        if let Some(bytes) = bytes {
            let run = LeafRun {
                bytes,
                count: good,
                first: first.key,
                last: last.key,
                min_key_len,
            };
            if self.visitor.takes_packed(&run) {
                self.visitor.packed(&run);
                return;
            }
        }
        for i in 0..good {
            if let Ok(e) = page.leaf_element(i) {
                self.visitor
                    .entry(e.key, (!e.is_bucket()).then_some(e.value));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn check_order(
        &mut self,
        id: u64,
        kind: &str,
        index: usize,
        key: &'a [u8],
        prev: Option<&'a [u8]>,
        min_closed: Option<&'a [u8]>,
        max_open: Option<&'a [u8]>,
    ) {
        if let Some(p) = prev {
            if key_cmp(key, p).is_le() {
                let rel = if key == p { "equal to" } else { "less than" };
                self.finding(
                    "bbolt.key.order",
                    id,
                    format!(
                        "page {id}: {kind} key[{index}] (hex {}) is {rel} the previous key (hex {})",
                        show_key(key),
                        show_key(p)
                    ),
                );
            }
        }
        if let Some(min) = min_closed {
            if key_cmp(key, min).is_lt() {
                self.finding(
                    "bbolt.key.order",
                    id,
                    format!(
                        "page {id}: {kind} key[{index}] (hex {}) is below its parent's separator (hex {})",
                        show_key(key),
                        show_key(min)
                    ),
                );
            }
        }
        if let Some(max) = max_open {
            if key_cmp(key, max).is_ge() {
                self.finding(
                    "bbolt.key.order",
                    id,
                    format!(
                        "page {id}: {kind} key[{index}] (hex {}) is not below the next separator in its parent (hex {})",
                        show_key(key),
                        show_key(max)
                    ),
                );
            }
        }
    }
}

/// Byte-wise key order, as `<[u8]>::cmp`, deciding on the first 8 bytes as
/// one big-endian word when both keys have them: etcd's revision keys almost
/// always differ there, and this runs for every key of every page.
#[inline]
fn key_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    if let (Some(x), Some(y)) = (a.first_chunk::<8>(), b.first_chunk::<8>()) {
        let (x, y) = (u64::from_be_bytes(*x), u64::from_be_bytes(*y));
        if x != y {
            return x.cmp(&y);
        }
    }
    a.cmp(b)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn key_cmp_is_slice_order(
            a in proptest::collection::vec(any::<u8>(), 0..20),
            b in proptest::collection::vec(any::<u8>(), 0..20),
            shared in 0usize..12,
        ) {
            // Often share a prefix, so the slow path is taken too.
            let mut b = b;
            for (i, x) in a.iter().take(shared).enumerate() {
                if let Some(y) = b.get_mut(i) {
                    *y = *x;
                }
            }
            prop_assert_eq!(super::key_cmp(&a, &b), a.as_slice().cmp(b.as_slice()));
        }
    }
}
