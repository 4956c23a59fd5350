//! In-order traversal of a bucket's B+tree with an explicit stack.
//!
//! A frame is `(page, next index)`. On a branch page the index is the next child
//! to descend into; on a leaf it is the next element to yield. Pre-order descent
//! over branch elements in order visits the leaves left to right, i.e. in key
//! order. Damaged trees cannot make it loop or recurse without bound: every page
//! entered is remembered (a second visit is an error) and the depth is capped.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, ErrorKind, Result};

use super::bucket::BucketRoot;
use super::db::Db;
use super::page::{type_name, LeafElement, Page};

/// No real bbolt tree comes near this depth (a 4 KiB page fans out by ~100).
pub const MAX_DEPTH: usize = 64;

/// A set of page ids, as a bitset over `[0, limit)`. Atomic, so that the
/// parallel walk's threads share one set: the first to insert an id owns it.
#[derive(Debug, Default)]
pub struct PageSet {
    bits: Vec<AtomicU64>,
}

impl PageSet {
    /// A set able to hold ids below `limit`.
    pub fn with_limit(limit: u64) -> PageSet {
        let words = usize::try_from(limit / 64 + 1).unwrap_or(0);
        PageSet {
            bits: (0..words).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Adds `id`; returns false if it was already there (or cannot be held).
    pub fn insert(&self, id: u64) -> bool {
        let Some(word) = usize::try_from(id / 64).ok().and_then(|w| self.bits.get(w)) else {
            return false;
        };
        let mask = 1u64 << (id % 64);
        word.fetch_or(mask, Ordering::Relaxed) & mask == 0
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: u64) -> bool {
        usize::try_from(id / 64)
            .ok()
            .and_then(|w| self.bits.get(w))
            .is_some_and(|word| word.load(Ordering::Relaxed) & (1u64 << (id % 64)) != 0)
    }

    /// Number of ids in the set.
    pub fn len(&self) -> u64 {
        self.bits
            .iter()
            .map(|w| u64::from(w.load(Ordering::Relaxed).count_ones()))
            .sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, Copy)]
struct Frame<'a> {
    page: Page<'a>,
    index: usize,
}

/// An in-order cursor over a bucket's leaf elements.
#[derive(Debug)]
pub struct Cursor<'d, 'a> {
    db: &'d Db<'a>,
    root: BucketRoot<'a>,
    stack: Vec<Frame<'a>>,
    visited: Option<PageSet>,
    started: bool,
}

impl<'d, 'a> Cursor<'d, 'a> {
    /// A cursor before the first element.
    pub fn new(db: &'d Db<'a>, root: BucketRoot<'a>) -> Self {
        Cursor {
            db,
            root,
            stack: Vec::new(),
            visited: None,
            started: false,
        }
    }

    fn load(&mut self, id: u64) -> Result<Page<'a>> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Error::at(
                ErrorKind::TooDeep(MAX_DEPTH),
                self.db.location(id),
            ));
        }
        let db = self.db;
        let visited = self
            .visited
            .get_or_insert_with(|| PageSet::with_limit(db.pages_in_file() + 1));
        if !visited.insert(id) {
            return Err(Error::at(ErrorKind::PageRevisited(id), db.location(id)));
        }
        let page = db.page(id)?;
        if !page.header.is_branch() && !page.header.is_leaf() {
            return Err(Error::at(
                ErrorKind::BadPageType {
                    expected: "branch or leaf",
                    found: page.header.flags,
                    found_name: type_name(page.header.flags),
                },
                db.location(id),
            ));
        }
        Ok(page)
    }

    fn root_page(&mut self) -> Result<Page<'a>> {
        match self.root {
            BucketRoot::Inline(p) => Ok(p),
            BucketRoot::Paged(id) => self.load(id),
        }
    }

    fn locate(&self, page: &Page<'a>, kind: ErrorKind) -> Error {
        match self.root {
            BucketRoot::Inline(_) => Error::new(kind),
            BucketRoot::Paged(_) => Error::at(kind, self.db.location(page.id)),
        }
    }

    /// Positions the cursor so that the next element is the first with key ≥ `key`.
    pub fn seek(&mut self, key: &[u8]) -> Result<()> {
        self.stack.clear();
        self.visited = None;
        self.started = true;
        let mut page = self.root_page()?;
        loop {
            let count = page.count();
            if page.header.is_leaf() {
                // First element with key >= target.
                let (mut lo, mut hi) = (0usize, count);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    let e = page.leaf_element(mid).map_err(|k| self.locate(&page, k))?;
                    if e.key < key {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                self.stack.push(Frame { page, index: lo });
                return Ok(());
            }
            // Branch: last element whose key <= target (or the first one).
            let (mut lo, mut hi) = (0usize, count);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                let e = page
                    .branch_element(mid)
                    .map_err(|k| self.locate(&page, k))?;
                if e.key <= key {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            let index = lo.saturating_sub(1);
            if count == 0 {
                self.stack.push(Frame { page, index: 0 });
                return Ok(());
            }
            let child = page
                .branch_element(index)
                .map_err(|k| self.locate(&page, k))?
                .child;
            self.stack.push(Frame {
                page,
                index: index + 1,
            });
            page = self.load(child)?;
        }
    }

    /// The rightmost path of the bucket's tree, root first: from each branch
    /// page its last child, down to a leaf (or to an empty branch page, which
    /// ends the path). A few pages, not a walk; each page is checked as the
    /// walk checks it (branch or leaf, entered once, at most [`MAX_DEPTH`]
    /// deep). Leaves the cursor exhausted.
    pub fn rightmost_path(&mut self) -> Result<Vec<Page<'a>>> {
        self.stack.clear();
        self.visited = None;
        self.started = true;
        let mut page = self.root_page()?;
        let mut path = Vec::new();
        loop {
            path.push(page);
            let Some(index) = page.count().checked_sub(1) else {
                return Ok(path);
            };
            if page.header.is_leaf() {
                return Ok(path);
            }
            let child = page
                .branch_element(index)
                .map_err(|k| self.locate(&page, k))?
                .child;
            page = self.load_at_depth(child)?;
        }
    }

    /// The last element of the bucket (end of [`Self::rightmost_path`]),
    /// `None` if the rightmost leaf is empty. Leaves the cursor exhausted.
    pub fn last_entry(&mut self) -> Result<Option<LeafElement<'a>>> {
        let path = self.rightmost_path()?;
        let Some(page) = path.last() else {
            return Ok(None);
        };
        match page.count().checked_sub(1) {
            Some(index) if page.header.is_leaf() => page
                .leaf_element(index)
                .map(Some)
                .map_err(|k| self.locate(page, k)),
            _ => Ok(None),
        }
    }

    /// [`Self::load`] for descents that keep no stack: the depth is counted
    /// through the visited set instead.
    fn load_at_depth(&mut self, id: u64) -> Result<Page<'a>> {
        let depth = self.visited.as_ref().map_or(0, PageSet::len);
        if depth >= crate::bytes::to_u64(MAX_DEPTH) {
            return Err(Error::at(
                ErrorKind::TooDeep(MAX_DEPTH),
                self.db.location(id),
            ));
        }
        self.load(id)
    }

    fn step(&mut self) -> Option<Result<LeafElement<'a>>> {
        if !self.started {
            self.started = true;
            match self.root_page() {
                Ok(page) => self.stack.push(Frame { page, index: 0 }),
                Err(e) => return Some(Err(e)),
            }
        }
        loop {
            let frame = *self.stack.last()?;
            if frame.index >= frame.page.count() {
                self.stack.pop();
                continue;
            }
            if let Some(top) = self.stack.last_mut() {
                top.index += 1;
            }
            if frame.page.header.is_leaf() {
                return Some(
                    frame
                        .page
                        .leaf_element(frame.index)
                        .map_err(|k| self.locate(&frame.page, k)),
                );
            }
            let child = match frame.page.branch_element(frame.index) {
                Ok(e) => e.child,
                Err(k) => return Some(Err(self.locate(&frame.page, k))),
            };
            match self.load(child) {
                Ok(page) => self.stack.push(Frame { page, index: 0 }),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<'a> Iterator for Cursor<'_, 'a> {
    type Item = Result<LeafElement<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.step();
        if matches!(item, Some(Err(_))) {
            // Stop after the first error: the rest of the tree cannot be trusted.
            self.stack.clear();
        }
        item
    }
}
