//! bbolt meta pages (pages 0 and 1) and the choice between them.
//!
//! ```text
//! Meta, 64 bytes, at page offset 16 (right after the page header)
//! <-------------------------- 8 bytes -------------------------->
//! 16 | magic (u32) = 0xED0CDAED   | version (u32) = 2             |
//! 24 | page_size (u32)            | flags (u32), unused           |
//! 32 | root bucket: root page id (u64)                            |
//! 40 | root bucket: sequence (u64)                                |
//! 48 | freelist page id (u64); 0xFFFF_FFFF_FFFF_FFFF = not stored  |
//! 56 | pgid (u64): high-water mark, pages in use                  |
//! 64 | txid (u64)                                                 |
//! 72 | checksum (u64): FNV-1a 64 over bytes 16..72                |
//! ```
//! Little-endian. A meta is valid if magic, version and checksum are right
//! (checked in that order, as bbolt's `meta.validate`). Of two valid metas the one
//! with the higher txid is used; with one valid meta, that one. The page size is
//! read from meta 0 or, when meta 0 is bad, probed for meta 1 at 1 KiB << i
//! (bbolt `db.getPageSize`). Source: bbolt `db.go` `meta`, `meta()`, `getPageSize`
//! (v1.3.6), `internal/common/meta.go` (v1.4+). Checksum checked on etcd 3.5.1 files.

use std::fmt;

use serde::Serialize;

use crate::bytes::{u32_le, u64_le};

/// The bbolt magic number.
pub const MAGIC: u32 = 0xED0C_DAED;
/// The only file format version bbolt writes.
pub const VERSION: u32 = 2;
/// Freelist id meaning "no freelist page; rebuild the free set by reachability".
pub const NO_FREELIST: u64 = u64::MAX;
/// Offset of the meta struct inside its page.
pub const META_OFFSET: usize = 16;
/// Bytes covered by the checksum (magic through txid).
pub const CHECKSUMMED_LEN: usize = 56;

/// Why a bbolt meta page was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum MetaProblem {
    /// The meta page lies (partly) past the end of the file.
    Missing,
    /// The magic number is not 0xED0CDAED.
    BadMagic {
        /// The value found.
        found: u32,
    },
    /// The format version is not 2.
    BadVersion {
        /// The value found.
        found: u32,
    },
    /// The FNV-1a checksum does not match the meta bytes.
    BadChecksum {
        /// Checksum stored in the page.
        stored: u64,
        /// Checksum computed over the meta bytes.
        computed: u64,
    },
}

impl fmt::Display for MetaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaProblem::Missing => f.write_str("missing (past end of file)"),
            MetaProblem::BadMagic { found } => {
                write!(f, "bad magic {found:#010x} (want 0xed0cdaed)")
            }
            MetaProblem::BadVersion { found } => write!(f, "bad version {found} (want 2)"),
            MetaProblem::BadChecksum { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:#018x}, computed {computed:#018x})"
            ),
        }
    }
}

/// A decoded meta page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Meta {
    /// Magic number.
    pub magic: u32,
    /// Format version.
    pub version: u32,
    /// Page size in bytes.
    pub page_size: u32,
    /// Unused flags.
    pub flags: u32,
    /// Root page of the root bucket.
    pub root: u64,
    /// Root bucket sequence.
    pub root_sequence: u64,
    /// Freelist page id, or [`NO_FREELIST`].
    pub freelist: u64,
    /// High-water mark: number of pages in use.
    pub pgid: u64,
    /// Transaction id.
    pub txid: u64,
    /// Stored checksum.
    pub checksum: u64,
}

/// FNV-1a, 64-bit (Go's `hash/fnv.New64a`).
pub fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Meta {
    /// Decodes the meta stored in `page` (a page's bytes, header first).
    pub fn parse(page: &[u8]) -> Option<Meta> {
        let m = META_OFFSET;
        Some(Meta {
            magic: u32_le(page, m)?,
            version: u32_le(page, m + 4)?,
            page_size: u32_le(page, m + 8)?,
            flags: u32_le(page, m + 12)?,
            root: u64_le(page, m + 16)?,
            root_sequence: u64_le(page, m + 24)?,
            freelist: u64_le(page, m + 32)?,
            pgid: u64_le(page, m + 40)?,
            txid: u64_le(page, m + 48)?,
            checksum: u64_le(page, m + 56)?,
        })
    }

    /// The checksum these field values should have.
    pub fn compute_checksum(&self) -> u64 {
        let mut b = [0u8; CHECKSUMMED_LEN];
        let fields: [&[u8]; 10] = [
            &self.magic.to_le_bytes(),
            &self.version.to_le_bytes(),
            &self.page_size.to_le_bytes(),
            &self.flags.to_le_bytes(),
            &self.root.to_le_bytes(),
            &self.root_sequence.to_le_bytes(),
            &self.freelist.to_le_bytes(),
            &self.pgid.to_le_bytes(),
            &self.txid.to_le_bytes(),
            &[],
        ];
        let mut off = 0;
        for f in fields {
            if let Some(dst) = b.get_mut(off..off + f.len()) {
                dst.copy_from_slice(f);
            }
            off += f.len();
        }
        fnv1a64(&b)
    }

    /// bbolt's `meta.validate`: magic, then version, then checksum.
    pub fn validate(&self) -> Result<(), MetaProblem> {
        if self.magic != MAGIC {
            return Err(MetaProblem::BadMagic { found: self.magic });
        }
        if self.version != VERSION {
            return Err(MetaProblem::BadVersion {
                found: self.version,
            });
        }
        let computed = self.compute_checksum();
        if computed != self.checksum {
            return Err(MetaProblem::BadChecksum {
                stored: self.checksum,
                computed,
            });
        }
        Ok(())
    }

    /// Whether the freelist is stored in a page (false for etcd on Linux).
    pub fn has_freelist_page(&self) -> bool {
        self.freelist != NO_FREELIST
    }

    /// The 64 meta bytes (with a fresh checksum) as they go on disk.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut m = *self;
        m.checksum = m.compute_checksum();
        let mut b = [0u8; 64];
        let parts: [&[u8]; 10] = [
            &m.magic.to_le_bytes(),
            &m.version.to_le_bytes(),
            &m.page_size.to_le_bytes(),
            &m.flags.to_le_bytes(),
            &m.root.to_le_bytes(),
            &m.root_sequence.to_le_bytes(),
            &m.freelist.to_le_bytes(),
            &m.pgid.to_le_bytes(),
            &m.txid.to_le_bytes(),
            &m.checksum.to_le_bytes(),
        ];
        let mut off = 0;
        for p in parts {
            if let Some(dst) = b.get_mut(off..off + p.len()) {
                dst.copy_from_slice(p);
            }
            off += p.len();
        }
        b
    }
}

/// The state of one meta slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetaSlot {
    /// Valid.
    Valid(Meta),
    /// Present but rejected, with the reason.
    Invalid(MetaProblem),
}

impl MetaSlot {
    /// Reads and validates the meta in a page's bytes (`None` bytes: past end of file).
    pub fn read(page: Option<&[u8]>) -> MetaSlot {
        match page.and_then(Meta::parse) {
            None => MetaSlot::Invalid(MetaProblem::Missing),
            Some(m) => match m.validate() {
                Ok(()) => MetaSlot::Valid(m),
                Err(p) => MetaSlot::Invalid(p),
            },
        }
    }

    /// The meta, if valid.
    pub fn valid(&self) -> Option<&Meta> {
        match self {
            MetaSlot::Valid(m) => Some(m),
            MetaSlot::Invalid(_) => None,
        }
    }
}

/// Which meta page a reader uses, and what it thought of the other one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MetaChoice {
    /// Slot used: 0 or 1.
    pub chosen: u8,
    /// Both slots as read.
    pub slots: [MetaSlot; 2],
}

impl MetaChoice {
    /// bbolt's `DB.meta()`: the higher txid if it validates, otherwise the other.
    /// `None` when neither is valid.
    pub fn choose(slots: [MetaSlot; 2]) -> Option<(Meta, MetaChoice)> {
        let (m0, m1) = (slots[0].valid().copied(), slots[1].valid().copied());
        let chosen = match (m0, m1) {
            (Some(a), Some(b)) => {
                if b.txid > a.txid {
                    1
                } else {
                    0
                }
            }
            (Some(_), None) => 0,
            (None, Some(_)) => 1,
            (None, None) => return None,
        };
        let meta = if chosen == 0 { m0? } else { m1? };
        Some((meta, MetaChoice { chosen, slots }))
    }

    /// The problem with the slot not chosen, if it is invalid.
    pub fn other_problem(&self) -> Option<(u8, MetaProblem)> {
        let other = 1 - self.chosen;
        match self.slots.get(usize::from(other))? {
            MetaSlot::Invalid(p) => Some((other, *p)),
            MetaSlot::Valid(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(txid: u64) -> Meta {
        let mut m = Meta {
            magic: MAGIC,
            version: VERSION,
            page_size: 4096,
            flags: 0,
            root: 3,
            root_sequence: 0,
            freelist: NO_FREELIST,
            pgid: 4,
            txid,
            checksum: 0,
        };
        m.checksum = m.compute_checksum();
        m
    }

    #[test]
    fn fnv_matches_go() {
        // Go: fnv.New64a().Sum64() of "" and "a"
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn round_trip_and_validate() {
        let m = meta(7);
        let mut page = vec![0u8; 4096];
        page[16..80].copy_from_slice(&m.to_bytes());
        let back = Meta::parse(&page).unwrap();
        assert_eq!(back, m);
        assert!(back.validate().is_ok());
        page[70] ^= 1;
        assert!(matches!(
            Meta::parse(&page).unwrap().validate(),
            Err(MetaProblem::BadChecksum { .. })
        ));
    }

    #[test]
    fn chooses_higher_valid_txid() {
        let (m, c) =
            MetaChoice::choose([MetaSlot::Valid(meta(5)), MetaSlot::Valid(meta(4))]).unwrap();
        assert_eq!((m.txid, c.chosen), (5, 0));
        let (m, c) = MetaChoice::choose([
            MetaSlot::Valid(meta(5)),
            MetaSlot::Invalid(MetaProblem::BadVersion { found: 1 }),
        ])
        .unwrap();
        assert_eq!((m.txid, c.chosen), (5, 0));
        assert!(c.other_problem().is_some());
        assert!(MetaChoice::choose([
            MetaSlot::Invalid(MetaProblem::Missing),
            MetaSlot::Invalid(MetaProblem::Missing)
        ])
        .is_none());
    }
}
