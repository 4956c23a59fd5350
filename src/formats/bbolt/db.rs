//! A read-only bbolt database over a byte slice (normally a memory map).
//!
//! ```text
//! file = page 0 | page 1 | page 2 | ... | page pgid-1 | (tail: grown space, sha256 trailer)
//!        meta 0   meta 1   branch/leaf/freelist pages, page id n at byte n * page_size
//! ```
//! Opening reads and validates both metas (see meta.rs) and nothing else: pages are
//! decoded when asked for, each access checked against the file length. The file
//! length is never used as the database size: that is `pgid * page_size`
//! (`tx.Size()`), and a data-dir db can be longer (grown space) or a snapshot
//! 32 bytes longer (sha256 trailer). Source: bbolt `db.go` `mmap`, `getPageSize`,
//! `page` (v1.3.6).

use crate::bytes::{slice, to_u64, to_usize};
use crate::error::{Error, ErrorKind, Location, Result};

use super::bucket::Bucket;
use super::meta::{Meta, MetaChoice, MetaProblem, MetaSlot};
use super::page::{Page, PageHeader, PAGE_HEADER_SIZE};

/// Smallest and largest page sizes we accept. bbolt takes the OS page size
/// (4 KiB, 16 KiB or 64 KiB in practice) unless told otherwise.
pub const MIN_PAGE_SIZE: u32 = 512;
/// See [`MIN_PAGE_SIZE`].
pub const MAX_PAGE_SIZE: u32 = 1 << 20;

/// An open database: the bytes, the page size and the meta in use.
#[derive(Debug, Clone, Copy)]
pub struct Db<'a> {
    data: &'a [u8],
    page_size: u32,
    meta: Meta,
    choice: MetaChoice,
}

impl<'a> Db<'a> {
    /// Opens a database held in `data` (read-only; nothing is ever written).
    pub fn open(data: &'a [u8]) -> Result<Db<'a>> {
        if data.is_empty() {
            return Err(ErrorKind::Empty.into());
        }
        let page_size = detect_page_size(data)?;
        if !(MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(Error::at(
                ErrorKind::BadPageSize(page_size),
                Location::offset(0),
            ));
        }
        let ps = to_usize(u64::from(page_size)).unwrap_or(usize::MAX);
        let need = 2 * u64::from(page_size);
        if to_u64(data.len()) < need {
            return Err(ErrorKind::Truncated {
                what: "two meta pages",
                need,
                have: to_u64(data.len()),
            }
            .into());
        }
        let slots = [
            MetaSlot::read(data.get(..ps)),
            MetaSlot::read(slice(data, ps, ps)),
        ];
        let (meta, choice) = MetaChoice::choose(slots).ok_or_else(|| {
            Error::new(ErrorKind::NoValidMeta {
                meta0: problem(&slots[0]),
                meta1: problem(&slots[1]),
            })
        })?;
        Ok(Db {
            data,
            page_size,
            meta,
            choice,
        })
    }

    /// The bytes the database was opened on.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Page size in bytes.
    pub fn page_size(&self) -> u32 {
        self.page_size
    }

    /// The meta in use.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Which meta is in use and what the other one looked like.
    pub fn meta_choice(&self) -> &MetaChoice {
        &self.choice
    }

    /// `pgid * page_size`: etcd's db size (`tx.Size()`), not the file length.
    pub fn size(&self) -> u64 {
        self.meta.pgid.saturating_mul(u64::from(self.page_size))
    }

    /// Number of whole pages in the file.
    pub fn pages_in_file(&self) -> u64 {
        to_u64(self.data.len()) / u64::from(self.page_size)
    }

    /// Byte offset of page `id`.
    pub fn offset_of(&self, id: u64) -> Option<u64> {
        id.checked_mul(u64::from(self.page_size))
    }

    /// The location of page `id`, for errors.
    pub fn location(&self, id: u64) -> Location {
        Location::page(id, self.page_size)
    }

    /// Reads page `id` whatever its header says (for checks that report a bad
    /// header id instead of stopping). The span covers the overflow pages.
    pub fn raw_page(&self, id: u64) -> Result<Page<'a>> {
        let loc = || self.location(id);
        let past_end = || {
            Error::at(
                ErrorKind::PagePastEnd {
                    id,
                    pages: self.pages_in_file(),
                },
                loc(),
            )
        };
        let off = self.offset_of(id).and_then(to_usize).ok_or_else(past_end)?;
        let head = slice(self.data, off, PAGE_HEADER_SIZE).ok_or_else(past_end)?;
        let header = PageHeader::parse(head).ok_or_else(past_end)?;
        let span = (u64::from(header.overflow) + 1).saturating_mul(u64::from(self.page_size));
        let bytes = to_usize(span)
            .and_then(|s| slice(self.data, off, s))
            .ok_or_else(|| {
                Error::at(
                    ErrorKind::Truncated {
                        what: "page with its overflow pages",
                        need: to_u64(off).saturating_add(span),
                        have: to_u64(self.data.len()),
                    },
                    loc(),
                )
            })?;
        Ok(Page { id, header, bytes })
    }

    /// Reads page `id` and checks that its header names it.
    pub fn page(&self, id: u64) -> Result<Page<'a>> {
        let p = self.raw_page(id)?;
        if p.header.id != id {
            return Err(Error::at(
                ErrorKind::PageIdMismatch {
                    expected: id,
                    found: p.header.id,
                },
                self.location(id),
            ));
        }
        Ok(p)
    }

    /// The root bucket (whose keys are the top-level bucket names).
    pub fn root_bucket(&self) -> Bucket<'a> {
        Bucket::paged(self.meta.root)
    }

    /// The top-level bucket `name`, if it exists.
    pub fn bucket(&self, name: &[u8]) -> Result<Option<Bucket<'a>>> {
        self.root_bucket().child(self, name)
    }

    /// The same bytes read through another meta (e.g. one that failed its
    /// checksum, to see what its transaction held). Nothing is validated:
    /// every later read still checks each page it visits.
    pub fn with_meta(&self, meta: Meta) -> Db<'a> {
        Db { meta, ..*self }
    }

    /// The meta stored in slot `slot` (0 or 1) as its bytes say, valid or
    /// not; `None` when the page cannot hold one.
    pub fn stored_meta(&self, slot: u8) -> Option<Meta> {
        self.raw_page(u64::from(slot))
            .ok()
            .and_then(|p| Meta::parse(p.bytes))
    }
}

fn problem(slot: &MetaSlot) -> MetaProblem {
    match slot {
        MetaSlot::Invalid(p) => *p,
        // Unreachable in practice: choose() only fails when both are invalid.
        MetaSlot::Valid(_) => MetaProblem::Missing,
    }
}

/// bbolt `getPageSize`: meta 0 if it validates, else meta 1 probed at 1 KiB << i.
fn detect_page_size(data: &[u8]) -> Result<u32> {
    let meta0 = MetaSlot::read(Some(data));
    if let MetaSlot::Valid(m) = meta0 {
        return Ok(m.page_size);
    }
    let mut meta1 = MetaSlot::Invalid(MetaProblem::Missing);
    for i in 0..=14u32 {
        let off = 1024usize << i;
        let slot = MetaSlot::read(data.get(off..));
        if let MetaSlot::Valid(m) = slot {
            return Ok(m.page_size);
        }
        // Report what sits where meta 1 of a 4 KiB-page file would be.
        if off == 4096 {
            meta1 = slot;
        }
    }
    let meta0 = problem(&meta0);
    let meta1 = problem(&meta1);
    Err(ErrorKind::NoValidMeta { meta0, meta1 }.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_garbage_are_errors() {
        assert_eq!(Db::open(&[]).unwrap_err().kind, ErrorKind::Empty);
        let junk = vec![0x5au8; 8192];
        assert!(matches!(
            Db::open(&junk).unwrap_err().kind,
            ErrorKind::NoValidMeta { .. }
        ));
        let short = vec![0u8; 10];
        assert!(Db::open(&short).is_err());
    }
}
