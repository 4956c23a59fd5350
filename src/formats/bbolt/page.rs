//! bbolt pages: the header and the branch/leaf element arrays.
//!
//! ```text
//! Page header, 16 bytes, at byte page_id * page_size
//! <-------------------------- 8 bytes -------------------------->
//! | id (u64): must equal the page's own position                |
//! | flags (u16) | count (u16) | overflow (u32): extra pages     |
//!
//! flags: 0x01 branch, 0x02 leaf, 0x04 meta, 0x10 freelist (exactly one set).
//! A page with overflow n spans n+1 page slots; only the first has a header.
//!
//! Branch element, 16 bytes, element i at page offset 16 + 16*i
//! | pos (u32)   | ksize (u32) | pgid (u64): child page          |
//! key = bytes [elem_off + pos, +ksize)   (pos is relative to the ELEMENT)
//! key is the first key of the child.
//!
//! Leaf element, 16 bytes, element i at page offset 16 + 16*i
//! | flags (u32) | pos (u32)   | ksize (u32) | vsize (u32)       |
//! key = [elem_off + pos, +ksize), value follows the key directly.
//! flags & 0x01: the value is a nested bucket header (see bucket.rs).
//! ```
//! All integers little-endian. Source: bbolt `page.go` (v1.3.x),
//! `internal/common/page.go` (v1.4+). Every offset read from the page is checked
//! against the page's own span; a bad element is an error, never a stray read.

use crate::bytes::{slice, to_u64, to_usize, u16_le, u32_le, u64_le};
use crate::error::{ErrorKind, Result};

/// Size of the page header.
pub const PAGE_HEADER_SIZE: usize = 16;
/// Size of a branch or leaf element.
pub const ELEMENT_SIZE: usize = 16;

/// Branch page flag.
pub const BRANCH: u16 = 0x01;
/// Leaf page flag.
pub const LEAF: u16 = 0x02;
/// Meta page flag.
pub const META: u16 = 0x04;
/// Freelist page flag.
pub const FREELIST: u16 = 0x10;

/// Leaf element flag: the value is a nested bucket.
pub const BUCKET_LEAF_FLAG: u32 = 0x01;

/// Name of a page's flags as bbolt prints them (`page.typ()`), e.g. `unknown<20>`.
pub fn type_name(flags: u16) -> String {
    // Same precedence as bbolt's typ(): branch, leaf, meta, freelist.
    if flags & BRANCH != 0 {
        "branch".into()
    } else if flags & LEAF != 0 {
        "leaf".into()
    } else if flags & META != 0 {
        "meta".into()
    } else if flags & FREELIST != 0 {
        "freelist".into()
    } else {
        format!("unknown<{flags:02x}>")
    }
}

/// The 16-byte page header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageHeader {
    /// Page id as written in the header.
    pub id: u64,
    /// Type flags.
    pub flags: u16,
    /// Number of elements (freelist: ids, or 0xFFFF for the long form).
    pub count: u16,
    /// Extra contiguous pages this page spans.
    pub overflow: u32,
}

impl PageHeader {
    /// Reads a header from the first 16 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Option<PageHeader> {
        Some(PageHeader {
            id: u64_le(buf, 0)?,
            flags: u16_le(buf, 8)?,
            count: u16_le(buf, 10)?,
            overflow: u32_le(buf, 12)?,
        })
    }

    /// Whether the flags say branch (bbolt tests the bit, not equality).
    pub fn is_branch(&self) -> bool {
        self.flags & BRANCH != 0
    }

    /// Whether the flags say leaf.
    pub fn is_leaf(&self) -> bool {
        self.flags & LEAF != 0
    }
}

/// A page: its header and all its bytes (header included, overflow included).
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    /// The page's position (for an inline bucket page: 0).
    pub id: u64,
    /// The header.
    pub header: PageHeader,
    /// All bytes of the page span, starting with the header.
    pub bytes: &'a [u8],
}

/// A branch element: a separator key and a child page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BranchElement<'a> {
    /// First key of the child page.
    pub key: &'a [u8],
    /// Child page id.
    pub child: u64,
}

/// A leaf element: a key, a value and whether the value is a nested bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafElement<'a> {
    /// Element flags (0x01: nested bucket).
    pub flags: u32,
    /// The key.
    pub key: &'a [u8],
    /// The value (for a bucket: its 16-byte header, plus the page image if inline).
    pub value: &'a [u8],
}

impl LeafElement<'_> {
    /// Whether the value is a nested bucket.
    pub fn is_bucket(&self) -> bool {
        self.flags & BUCKET_LEAF_FLAG != 0
    }
}

impl<'a> Page<'a> {
    /// Views `bytes` (header first) as a page at position `id`.
    pub fn new(id: u64, bytes: &'a [u8]) -> Result<Page<'a>, ErrorKind> {
        let header = PageHeader::parse(bytes).ok_or(ErrorKind::Truncated {
            what: "page header",
            need: to_u64(PAGE_HEADER_SIZE),
            have: to_u64(bytes.len()),
        })?;
        Ok(Page { id, header, bytes })
    }

    /// Number of elements.
    pub fn count(&self) -> usize {
        usize::from(self.header.count)
    }

    fn element_offset(&self, index: usize) -> Result<usize, ErrorKind> {
        let off = index
            .checked_mul(ELEMENT_SIZE)
            .and_then(|o| o.checked_add(PAGE_HEADER_SIZE))
            .unwrap_or(usize::MAX);
        if off.saturating_add(ELEMENT_SIZE) > self.bytes.len() {
            return Err(self.out_of_page(index, off.saturating_add(ELEMENT_SIZE)));
        }
        Ok(off)
    }

    fn out_of_page(&self, index: usize, end: usize) -> ErrorKind {
        ErrorKind::ElementOutOfPage {
            index: u32::try_from(index).unwrap_or(u32::MAX),
            count: u32::from(self.header.count),
            end: to_u64(end),
            len: to_u64(self.bytes.len()),
        }
    }

    /// Bytes `[elem_off + pos, + len)`, checked against the page span.
    fn data_at(
        &self,
        index: usize,
        elem_off: usize,
        pos: u32,
        len: u64,
    ) -> Result<&'a [u8], ErrorKind> {
        let start = to_usize(u64::from(pos)).and_then(|p| elem_off.checked_add(p));
        let len_us = to_usize(len);
        match (start, len_us) {
            (Some(s), Some(l)) => {
                slice(self.bytes, s, l).ok_or_else(|| self.out_of_page(index, s.saturating_add(l)))
            }
            _ => Err(self.out_of_page(index, usize::MAX)),
        }
    }

    /// Branch element `index`.
    pub fn branch_element(&self, index: usize) -> Result<BranchElement<'a>, ErrorKind> {
        let off = self.element_offset(index)?;
        let (pos, ksize, child) = match (
            u32_le(self.bytes, off),
            u32_le(self.bytes, off + 4),
            u64_le(self.bytes, off + 8),
        ) {
            (Some(p), Some(k), Some(c)) => (p, k, c),
            _ => return Err(self.out_of_page(index, off + ELEMENT_SIZE)),
        };
        let key = self.data_at(index, off, pos, u64::from(ksize))?;
        Ok(BranchElement { key, child })
    }

    /// Leaf element `index`.
    pub fn leaf_element(&self, index: usize) -> Result<LeafElement<'a>, ErrorKind> {
        let off = self.element_offset(index)?;
        let (flags, pos, ksize, vsize) = match (
            u32_le(self.bytes, off),
            u32_le(self.bytes, off + 4),
            u32_le(self.bytes, off + 8),
            u32_le(self.bytes, off + 12),
        ) {
            (Some(f), Some(p), Some(k), Some(v)) => (f, p, k, v),
            _ => return Err(self.out_of_page(index, off + ELEMENT_SIZE)),
        };
        let kv = self.data_at(index, off, pos, u64::from(ksize) + u64::from(vsize))?;
        let (key, value) = kv.split_at(to_usize(u64::from(ksize)).unwrap_or(0).min(kv.len()));
        Ok(LeafElement { flags, key, value })
    }

    /// All branch elements, in order.
    pub fn branch_elements(
        &self,
    ) -> impl Iterator<Item = Result<BranchElement<'a>, ErrorKind>> + '_ {
        (0..self.count()).map(move |i| self.branch_element(i))
    }

    /// All leaf elements, in order.
    pub fn leaf_elements(&self) -> impl Iterator<Item = Result<LeafElement<'a>, ErrorKind>> + '_ {
        (0..self.count()).map(move |i| self.leaf_element(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf_page(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut p = vec![0u8; 4096];
        p[8..10].copy_from_slice(&LEAF.to_le_bytes());
        p[10..12].copy_from_slice(&(entries.len() as u16).to_le_bytes());
        let mut data = 16 + 16 * entries.len();
        for (i, (k, v)) in entries.iter().enumerate() {
            let e = 16 + 16 * i;
            p[e + 4..e + 8].copy_from_slice(&((data - e) as u32).to_le_bytes());
            p[e + 8..e + 12].copy_from_slice(&(k.len() as u32).to_le_bytes());
            p[e + 12..e + 16].copy_from_slice(&(v.len() as u32).to_le_bytes());
            p[data..data + k.len()].copy_from_slice(k);
            data += k.len();
            p[data..data + v.len()].copy_from_slice(v);
            data += v.len();
        }
        p
    }

    #[test]
    fn reads_leaf_elements() {
        let bytes = leaf_page(&[(b"a", b"1"), (b"bb", b"22")]);
        let page = Page::new(3, &bytes).unwrap();
        let e: Vec<_> = page.leaf_elements().map(|e| e.unwrap()).collect();
        assert_eq!(e[0].key, b"a");
        assert_eq!(e[1].value, b"22");
    }

    #[test]
    fn element_past_page_is_an_error() {
        let mut bytes = leaf_page(&[(b"a", b"1")]);
        bytes[16 + 12..16 + 16].copy_from_slice(&5000u32.to_le_bytes());
        let page = Page::new(3, &bytes).unwrap();
        assert!(matches!(
            page.leaf_element(0),
            Err(ErrorKind::ElementOutOfPage { .. })
        ));
        // count claims more elements than fit
        bytes[10..12].copy_from_slice(&300u16.to_le_bytes());
        let page = Page::new(3, &bytes).unwrap();
        assert!(page.leaf_element(299).is_err());
    }

    #[test]
    fn type_names_match_bbolt() {
        assert_eq!(type_name(0x20), "unknown<20>");
        assert_eq!(type_name(0x03), "branch");
        assert_eq!(type_name(0x10), "freelist");
    }
}
