//! Copy-on-write changes to a byte copy of a db, as a bbolt transaction makes
//! them: new pages go after the high-water mark, the old ones stay as they are
//! (and become free), and a new meta in the other slot points at the new root.
//!
//! ```text
//! Copy of the source, then the patch
//! | meta 0 | meta 1 | page 2 | ... | page pgid-1 | new page pgid | ... | new page next-1 |
//!   untouched source pages ..........................^ appended, each written once
//!   meta slot (txid+1) % 2 <- txid+1, root = new root, pgid = next,
//!                             freelist = 0xFFFF_FFFF_FFFF_FFFF
//!   the other slot keeps the source's meta (an older, still valid txid)
//! ```
//! Pages are laid out as [`super::node`] lays them out (same element layout,
//! a page with overflow slots when its entries need more than one page). The
//! freelist is not persisted, as etcd on Linux does not: every reader rebuilds
//! it by reachability, so the replaced pages are simply free.
//! Source: bbolt v1.3.6 `tx.go` (`Commit`: spill to new pages, meta in slot
//! `txid % 2`), `node.go` (`write`).

use crate::bytes::to_u64;
use crate::error::{Error, ErrorKind, Result};

use super::meta::{Meta, NO_FREELIST};
use super::node::{meta_page, put_page_header, u32_of, Node};
use super::page::{BRANCH, LEAF};
use super::write::{io_err, WriteSummary};
use super::Db;

/// Where a patch's pages go: positioned writes into the copy of the db.
/// `formats` does no file I/O; the caller supplies the file (see
/// `sink`, which implements this for `std::fs::File`).
pub trait PageTarget {
    /// Writes all of `bytes` at byte `offset`.
    fn write_all_at(&self, bytes: &[u8], offset: u64) -> std::io::Result<()>;
}

/// Appends pages to a copy of a db and commits them with a new meta.
pub struct Patcher<'f> {
    file: &'f dyn PageTarget,
    meta: Meta,
    next: u64,
    buf: Vec<u8>,
    node: Node,
    leaf_pages: u64,
    branch_pages: u64,
    entries: u64,
}

impl std::fmt::Debug for Patcher<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Patcher")
            .field("next", &self.next)
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

impl<'f> Patcher<'f> {
    /// A patch over `file`, which holds a byte copy of `db`'s first
    /// `pgid × page_size` bytes.
    pub fn new(file: &'f dyn PageTarget, db: &Db<'_>) -> Patcher<'f> {
        Patcher {
            file,
            meta: *db.meta(),
            next: db.meta().pgid,
            buf: Vec::new(),
            node: Node::default(),
            leaf_pages: 0,
            branch_pages: 0,
            entries: 0,
        }
    }

    /// Writes a leaf page holding `entries` (sorted, `(flags, key, value)`)
    /// and returns its page id.
    pub fn leaf(&mut self, entries: &[(u32, &[u8], &[u8])]) -> Result<u64> {
        self.node.elems.clear();
        self.node.data.clear();
        for &(flags, k, v) in entries {
            self.node
                .elems
                .push((flags, u32_of(k.len()), u32_of(v.len()), 0));
            self.node.data.extend_from_slice(k);
            self.node.data.extend_from_slice(v);
        }
        self.entries = self.entries.saturating_add(to_u64(entries.len()));
        self.leaf_pages += 1;
        self.emit(LEAF, false)
    }

    /// Writes a branch page with `(first key of child, child page)` elements
    /// and returns its page id.
    pub fn branch(&mut self, elems: &[(&[u8], u64)]) -> Result<u64> {
        self.node.elems.clear();
        self.node.data.clear();
        for &(k, child) in elems {
            self.node.elems.push((0, u32_of(k.len()), 0, child));
            self.node.data.extend_from_slice(k);
        }
        self.branch_pages += 1;
        self.emit(BRANCH, true)
    }

    fn emit(&mut self, flags: u16, branch: bool) -> Result<u64> {
        let count = u16::try_from(self.node.elems.len()).map_err(|_| {
            Error::new(ErrorKind::Usage(
                "a patched page would hold more than 65535 elements".into(),
            ))
        })?;
        let used = self.node.layout(&mut self.buf, branch);
        let ps = usize::try_from(self.meta.page_size).unwrap_or(4096);
        let slots = used.div_ceil(ps).max(1);
        self.buf.resize(slots.saturating_mul(ps), 0);
        let id = self.next;
        put_page_header(&mut self.buf, id, flags, count, u32_of(slots - 1));
        self.file
            .write_all_at(&self.buf, id.saturating_mul(u64::from(self.meta.page_size)))
            .map_err(|e| io_err("write", &e))?;
        self.next = self.next.saturating_add(to_u64(slots));
        Ok(id)
    }

    /// Writes the new meta (txid + 1, in slot `(txid + 1) % 2`) with `root`
    /// as the root bucket's page. Does not sync.
    pub fn commit(self, root: u64, buckets: u64) -> Result<WriteSummary> {
        let ps = self.meta.page_size;
        let mut meta = self.meta;
        meta.txid = meta.txid.wrapping_add(1);
        meta.root = root;
        meta.freelist = NO_FREELIST;
        meta.pgid = self.next;
        let slot = meta.txid % 2;
        let page = meta_page(ps, slot, &meta);
        self.file
            .write_all_at(&page, slot.saturating_mul(u64::from(ps)))
            .map_err(|e| io_err("write", &e))?;
        Ok(WriteSummary {
            page_size: ps,
            pgid: self.next,
            root,
            file_len: self.next.saturating_mul(u64::from(ps)),
            buckets,
            inline_buckets: 0,
            entries: self.entries,
            leaf_pages: self.leaf_pages,
            branch_pages: self.branch_pages,
        })
    }
}
