//! The page image of a node: how a branch or leaf page's elements, keys and
//! values are laid out, shared by the streaming writer (`write.rs`) and the
//! copy-on-write patch (`patch.rs`), plus the meta page image both write.
//!
//! ```text
//! Page header (16 bytes), every page
//! | id u64 | flags u16 | count u16 | overflow u32 |
//!
//! Leaf page (flags 0x02), as node.write lays it out
//! | header 16 | elem 0 | elem 1 | ... | k0 v0 | k1 v1 | ... | zero pad |
//!   elem i = flags u32 | pos u32 | ksize u32 | vsize u32,
//!   pos = (16 + 16*n + Σ_{j<i}(k_j+v_j)) - (16 + 16*i)   (relative to the element)
//!
//! Branch page (flags 0x01)
//! | header 16 | elem 0 | ... | key 0 | key 1 | ... | zero pad |
//!   elem i = pos u32 | ksize u32 | pgid u64; key i = first key of child i
//!
//! Meta page (flags 0x04): header with id = slot (0 or 1), then the meta
//!   (see meta.rs) at offset 16, zeros to page_size
//! ```
//! All integers little-endian. Source: bbolt v1.3.6 `node.go` (`write`),
//! `page.go`, `db.go` (`meta.write`).

use super::meta::Meta;
use super::page::{ELEMENT_SIZE, META, PAGE_HEADER_SIZE};

pub(super) fn u32_of(v: usize) -> u32 {
    // Sizes here are bounded by MAX_KEY_SIZE/MAX_VALUE_SIZE and the page span
    // rules, which keep them below 2^32.
    u32::try_from(v).unwrap_or(u32::MAX)
}

pub(super) fn put_u16(buf: &mut [u8], off: usize, v: u16) {
    if let Some(d) = buf.get_mut(off..off + 2) {
        d.copy_from_slice(&v.to_le_bytes());
    }
}

pub(super) fn put_u32(buf: &mut [u8], off: usize, v: u32) {
    if let Some(d) = buf.get_mut(off..off + 4) {
        d.copy_from_slice(&v.to_le_bytes());
    }
}

pub(super) fn put_u64(buf: &mut [u8], off: usize, v: u64) {
    if let Some(d) = buf.get_mut(off..off + 8) {
        d.copy_from_slice(&v.to_le_bytes());
    }
}

pub(super) fn put_bytes(buf: &mut [u8], off: usize, src: &[u8]) {
    if let Some(d) = buf.get_mut(off..off + src.len()) {
        d.copy_from_slice(src);
    }
}

/// Fills in a page header at the start of `buf`.
pub(super) fn put_page_header(buf: &mut [u8], id: u64, flags: u16, count: u16, overflow: u32) {
    put_u64(buf, 0, id);
    put_u16(buf, 8, flags);
    put_u16(buf, 10, count);
    put_u32(buf, 12, overflow);
}

/// The image of meta page `slot` (0 or 1) holding `meta`, `page_size` bytes.
pub(super) fn meta_page(page_size: u32, slot: u64, meta: &Meta) -> Vec<u8> {
    let mut page = vec![0u8; usize::try_from(page_size).unwrap_or(4096)];
    put_page_header(&mut page, slot, META, 0, 0);
    put_bytes(&mut page, PAGE_HEADER_SIZE, &meta.to_bytes());
    page
}

/// A node being filled: elements plus their key (and value) bytes.
#[derive(Debug, Default)]
pub(super) struct Node {
    /// Per element: (leaf flags, key size, value size, child page for branches).
    pub(super) elems: Vec<(u32, u32, u32, u64)>,
    pub(super) data: Vec<u8>,
}

impl Node {
    pub(super) fn size(&self) -> usize {
        PAGE_HEADER_SIZE + self.elems.len() * ELEMENT_SIZE + self.data.len()
    }

    pub(super) fn clear(&mut self) {
        self.elems.clear();
        self.data.clear();
    }

    pub(super) fn first_key(&self) -> &[u8] {
        let k = self.elems.first().map_or(0, |e| e.1 as usize);
        self.data.get(..k).unwrap_or(&[])
    }

    /// Lays the node out as a page image into `buf` (header fields other than
    /// the id filled in later by the pager). Returns the bytes used.
    pub(super) fn layout(&self, buf: &mut Vec<u8>, branch: bool) -> usize {
        let n = self.elems.len();
        let used = self.size();
        buf.clear();
        buf.resize(used, 0);
        let mut data_off = PAGE_HEADER_SIZE + n * ELEMENT_SIZE;
        for (i, &(flags, ksize, vsize, child)) in self.elems.iter().enumerate() {
            let e = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
            let pos = u32_of(data_off - e);
            if branch {
                put_u32(buf, e, pos);
                put_u32(buf, e + 4, ksize);
                put_u64(buf, e + 8, child);
            } else {
                put_u32(buf, e, flags);
                put_u32(buf, e + 4, pos);
                put_u32(buf, e + 8, ksize);
                put_u32(buf, e + 12, vsize);
            }
            data_off += ksize as usize + vsize as usize;
        }
        put_bytes(buf, PAGE_HEADER_SIZE + n * ELEMENT_SIZE, &self.data);
        used
    }
}
