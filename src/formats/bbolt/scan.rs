//! Raw page scan: every slot of the file that looks like a leaf page, whether
//! or not any tree still reaches it. Used by salvage, which cannot trust the
//! tree of a damaged file.
//!
//! ```text
//! slot i at byte i * page_size:  | id = i | flags = 0x02 (leaf) | count | overflow |
//! ```
//! A slot counts as a leaf only if its header names its own position and has
//! exactly the leaf flag; its elements are then read with the usual checks, and
//! the caller decides which decoded elements it believes. Free pages (old
//! copies of leaves) are found too: bbolt never wipes a page it frees.

use crate::bytes::{slice, to_u64, to_usize};

use super::meta::MetaSlot;
use super::page::{Page, PageHeader, LEAF, PAGE_HEADER_SIZE};

/// Page sizes tried when no meta page says which one the file uses.
pub const CANDIDATE_PAGE_SIZES: [u32; 6] = [4096, 16384, 65536, 8192, 2048, 1024];

/// The page size: from a valid meta, else the candidate whose slots most often
/// carry their own id in the header.
pub fn guess_page_size(data: &[u8]) -> u32 {
    for off in [0usize, 4096, 16384, 65536, 8192, 2048, 1024] {
        if let MetaSlot::Valid(m) = MetaSlot::read(data.get(off..)) {
            if CANDIDATE_PAGE_SIZES.contains(&m.page_size) {
                return m.page_size;
            }
        }
    }
    let score = |ps: u32| {
        let ps = to_usize(u64::from(ps)).unwrap_or(4096);
        (0..data.len() / ps)
            .filter(|i| {
                slice(data, i * ps, PAGE_HEADER_SIZE)
                    .and_then(PageHeader::parse)
                    .is_some_and(|h| h.id == to_u64(*i) && i > &1)
            })
            .count()
    };
    CANDIDATE_PAGE_SIZES
        .iter()
        .copied()
        .max_by_key(|ps| score(*ps))
        .unwrap_or(4096)
}

/// What the scan saw in one slot.
#[derive(Debug, Clone, Copy)]
pub enum Slot<'a> {
    /// A leaf page whose header names this slot.
    Leaf(Page<'a>),
    /// A slot whose header is not a plausible page (continuation of an
    /// overflow page, a wiped page, or damage).
    Other,
}

/// Iterates slots `2..` of the file.
pub fn slots(data: &[u8], page_size: u32) -> impl Iterator<Item = (u64, Slot<'_>)> {
    let ps = to_usize(u64::from(page_size))
        .unwrap_or(4096)
        .max(PAGE_HEADER_SIZE);
    let n = data.len() / ps;
    (2..n).map(move |i| {
        let id = to_u64(i);
        let slot = slice(data, i * ps, PAGE_HEADER_SIZE)
            .and_then(PageHeader::parse)
            .filter(|h| h.id == id && h.flags == LEAF)
            .and_then(|h| {
                let span = (usize::try_from(h.overflow).ok()?.checked_add(1)?).checked_mul(ps)?;
                // A leaf cut by the end of the file keeps what is there.
                let avail = data.len().saturating_sub(i * ps).min(span);
                slice(data, i * ps, avail).map(|bytes| Page {
                    id,
                    header: h,
                    bytes,
                })
            })
            .map_or(Slot::Other, Slot::Leaf);
        (id, slot)
    })
}
