//! The structural check: what is judged on each page the walk (`walk.rs`)
//! reaches, and the findings.
//!
//! Every problem is reported as a [`Finding`], not only the first.
//! Findings shared with Go bbolt carry the exact text of bbolt v1.3.6's
//! `tx.check` (the version etcdutl 3.5 uses): `page N: already freed`,
//! `page N: out of bounds: M`, `page N: multiple references`,
//! `page N: reachable freed`, `page N: invalid type: T`,
//! `page N: unreachable unfreed`. Go panics, loops or faults on some damage
//! (a page cycle, an element past its page, a page past the end of the file,
//! a bad freelist page, any error while rebuilding the free set of an etcd db);
//! we report those as findings of our own and never descend into a page twice.
//! Key order (bbolt ≥ 1.3.7) is checked too, with our own wording.

use crate::bytes::hex;
use crate::error::Finding;

use super::cursor::MAX_DEPTH;
use super::db::Db;
use super::freelist;
use super::page::{type_name, LeafElement, Page};
use super::walk::{walk, Children, LeafRun, PageJob, PageStats, Visitor, Walker, PROGRESS_EVERY};

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

/// Runs the structural check alone.
pub fn check(db: &Db<'_>) -> CheckReport {
    walk(db, &mut ())
}

/// Longest key shown in a finding, in bytes.
const SHOWN_KEY: usize = 48;

fn show_key(k: &[u8]) -> String {
    match k.get(..SHOWN_KEY) {
        Some(head) if k.len() > SHOWN_KEY => format!("{}…", hex(head)),
        _ => hex(k),
    }
}

impl<'s, 'a, V: Visitor<'a>> Walker<'s, 'a, V> {
    pub(super) fn finding(&mut self, code: &'static str, id: u64, message: String) {
        self.findings
            .push(Finding::error(code, self.db.location(id), message));
    }

    /// Reads a persisted freelist into `freed`; returns its (first page, overflow).
    pub(super) fn load_freelist(&mut self, id: u64) -> Option<(u64, u64)> {
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

    pub(super) fn page(
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

    pub(super) fn branch(
        &mut self,
        page: &Page<'a>,
        job: &PageJob<'a>,
        stack: &mut Vec<PageJob<'a>>,
    ) {
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

    pub(super) fn leaf(
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
                page: *page,
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
    pub(super) fn check_order(
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
