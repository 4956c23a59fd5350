//! Buckets: the 16-byte bucket header and inline buckets.
//!
//! ```text
//! Bucket value (leaf element with flag 0x01), at least 16 bytes
//! <-------------------------- 8 bytes -------------------------->
//! | root (u64): root page of the bucket's B+tree, 0 = inline     |
//! | sequence (u64)                                              |
//! | inline only: a whole leaf page image (16-byte header with    |
//! | id 0 and flags 0x02, elements, keys and values)              |
//! ```
//! Offsets inside an inline page image are relative to the image, as on a real
//! page. The root bucket has no value of its own: its header is `meta.root`.
//! Source: bbolt `bucket.go` `bucket`, `openBucket` (v1.3.6).

use crate::bytes::{to_u64, u64_le};
use crate::error::{Error, ErrorKind, Result};

use super::cursor::Cursor;
use super::db::Db;
use super::page::{LeafElement, Page};

/// Size of the bucket header.
pub const BUCKET_HEADER_SIZE: usize = 16;

/// Encodes a bucket header: `root` (0 for an inline bucket, whose page image
/// follows the header) and `sequence`, little-endian.
pub fn encode_header(root: u64, sequence: u64) -> [u8; BUCKET_HEADER_SIZE] {
    let mut h = [0u8; BUCKET_HEADER_SIZE];
    let (r, s) = h.split_at_mut(8);
    r.copy_from_slice(&root.to_le_bytes());
    s.copy_from_slice(&sequence.to_le_bytes());
    h
}

/// Where a bucket's tree lives.
#[derive(Debug, Clone, Copy)]
pub enum BucketRoot<'a> {
    /// A B+tree rooted at this page.
    Paged(u64),
    /// A single leaf page stored inside the parent's value.
    Inline(Page<'a>),
}

/// A bucket: its root and sequence.
#[derive(Debug, Clone, Copy)]
pub struct Bucket<'a> {
    /// Where the tree is.
    pub root: BucketRoot<'a>,
    /// The bucket's sequence counter.
    pub sequence: u64,
}

impl<'a> Bucket<'a> {
    /// A bucket whose tree starts at page `root` (the root bucket uses meta.root).
    pub fn paged(root: u64) -> Bucket<'a> {
        Bucket {
            root: BucketRoot::Paged(root),
            sequence: 0,
        }
    }

    /// Decodes a bucket value (the value of a leaf element flagged as a bucket).
    pub fn from_value(name: &[u8], value: &'a [u8]) -> Result<Bucket<'a>> {
        let bad = |what: String| {
            Error::new(ErrorKind::BadBucket {
                name: String::from_utf8_lossy(name).into_owned(),
                what,
            })
        };
        let (root, sequence) = match (u64_le(value, 0), u64_le(value, 8)) {
            (Some(r), Some(s)) => (r, s),
            _ => {
                return Err(bad(format!(
                    "bucket value is {} bytes, shorter than the 16-byte bucket header",
                    value.len()
                )))
            }
        };
        if root != 0 {
            return Ok(Bucket {
                root: BucketRoot::Paged(root),
                sequence,
            });
        }
        let image = value.get(BUCKET_HEADER_SIZE..).unwrap_or(&[]);
        let page = Page::new(0, image).map_err(|_| {
            bad(format!(
                "inline bucket holds {} bytes, too few for a page header",
                to_u64(image.len())
            ))
        })?;
        if !page.header.is_leaf() {
            return Err(bad(format!(
                "inline bucket page has flags {:#06x}, expected a leaf",
                page.header.flags
            )));
        }
        Ok(Bucket {
            root: BucketRoot::Inline(page),
            sequence,
        })
    }

    /// Whether the bucket is stored inline in its parent.
    pub fn is_inline(&self) -> bool {
        matches!(self.root, BucketRoot::Inline(_))
    }

    /// An in-order cursor over the bucket's entries.
    pub fn cursor<'d>(&self, db: &'d Db<'a>) -> Cursor<'d, 'a> {
        Cursor::new(db, self.root)
    }

    /// The entry with exactly this key, if any.
    pub fn get(&self, db: &Db<'a>, key: &[u8]) -> Result<Option<LeafElement<'a>>> {
        let mut c = self.cursor(db);
        c.seek(key)?;
        match c.next() {
            Some(Ok(e)) if e.key == key => Ok(Some(e)),
            Some(Err(e)) => Err(e),
            _ => Ok(None),
        }
    }

    /// The nested bucket `name`, if an entry with that key is a bucket.
    pub fn child(&self, db: &Db<'a>, name: &[u8]) -> Result<Option<Bucket<'a>>> {
        match self.get(db, name)? {
            Some(e) if e.is_bucket() => Ok(Some(Bucket::from_value(name, e.value)?)),
            _ => Ok(None),
        }
    }
}
