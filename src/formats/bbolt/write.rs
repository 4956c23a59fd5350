//! Writing a new bbolt file: a compact, streaming rewrite from sorted input.
//!
//! ```text
//! Output file, page_size bytes per slot, written front to back
//! | meta 0 | meta 1 | page 2 | page 3 | ... | page pgid-1 | (zero pad to 4 KiB)
//!   metas are written last (a seek back to offset 0); every other page once, in
//!   allocation order, so the writer never revisits data.
//!
//! Leaf and branch pages: laid out as node.rs shows (bbolt's node.write).
//!
//! Bucket value in the root bucket (leaf flag 0x01)
//!   paged:  root u64 | sequence u64                       (16 bytes)
//!   inline: 0 u64    | sequence u64 | leaf page image with header id 0
//!
//! Meta (both slots; see meta.rs): root = root bucket's root page, freelist =
//! 0xFFFF_FFFF_FFFF_FFFF (NoFreelistSync, as etcd on Linux), pgid = pages
//! written, meta 0 txid T and meta 1 txid T-1, as in a snapshot (tx.WriteTo).
//! ```
//! All integers little-endian (every host etcd runs on).
//!
//! How pages are filled (decisions where bbolt leaves a choice to the writer):
//! * An entry goes on the current page unless that page already holds an entry
//!   and the entry would take it past `fill × page_size` bytes; then the page is
//!   written and a new one started. Default fill 0.9, the `FillPercent` etcd's
//!   defrag uses (`backend.go:defragdb`), so the result looks like a defragmented
//!   etcd db. A single entry larger than the page gets a page of its own with
//!   overflow slots (`ceil(size / page_size)` slots in all). bbolt's `splitTwo`
//!   keeps at least two entries per page; both layouts are valid to every reader.
//! * Branch pages follow the same rule but always keep at least two children,
//!   so every level above the leaves has at most half the nodes of the level
//!   below and building terminates. Branch keys are the child's first key,
//!   exactly as bbolt writes them.
//! * A bucket is written inline exactly when bbolt would (`bucket.go:inlineable`):
//!   a single leaf whose `16 + Σ(16 + k + v)` is at most `page_size / 4`. Option
//!   [`WriterOptions::inline_buckets`] turns this off (Go reads both forms).
//!   The root bucket is never inline: the meta must name a page.
//! * Only top-level buckets (etcd never nests buckets).
//!
//! Memory: the current leaf, plus one partly filled branch node per tree level
//! (the right spine) for the bucket being written and for the root bucket, all
//! in buffers reused across pages; nothing grows with the number of keys.
//! Source: bbolt v1.3.6 `node.go` (`write`, `splitTwo`, `splitIndex`),
//! `bucket.go` (`inlineable`, `write`), `tx.go` (`WriteTo`), `db.go` (`meta`).
//! Checked with Go bbolt's `tx.Check()` and etcdutl 3.5.1 `snapshot status`.

use std::io::{Seek, SeekFrom, Write};

use crate::bytes::{hex, to_u64};
use crate::error::{Error, ErrorKind, Result};

use super::bucket::encode_header;
use super::db::{MAX_PAGE_SIZE, MIN_PAGE_SIZE};
use super::meta::{Meta, MAGIC, NO_FREELIST, VERSION};
use super::node::{meta_page, put_page_header, u32_of, Node};
use super::page::{BRANCH, BUCKET_LEAF_FLAG, ELEMENT_SIZE, LEAF};

/// bbolt's `MaxKeySize`.
pub const MAX_KEY_SIZE: usize = 32768;
/// bbolt's `MaxValueSize` (2^31 - 2).
pub const MAX_VALUE_SIZE: usize = (1 << 31) - 2;
/// Most elements one page may hold (bbolt panics at 0xFFFF on write).
const MAX_ELEMENTS: usize = 0xFFFF - 1;
/// Go's `getPageSize` reads 4096 bytes at offset 0, so files are padded to this.
const MIN_FILE_LEN: u64 = 4096;

/// How to write the file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WriterOptions {
    /// Page size in bytes: a power of two from 512 to 1 MiB (default 4096).
    pub page_size: u32,
    /// Fill fraction of a page before a new one is started, clamped to
    /// `[0.1, 1.0]` as bbolt clamps `FillPercent` (default 0.9).
    pub fill: f64,
    /// Store small buckets inline as bbolt does (default true).
    pub inline_buckets: bool,
    /// Transaction id of meta 0; meta 1 gets `txid - 1` (default 2, at least 1).
    pub txid: u64,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            page_size: 4096,
            fill: 0.9,
            inline_buckets: true,
            txid: 2,
        }
    }
}

impl WriterOptions {
    /// Defaults, with the page size of an existing db (for rewriting it).
    pub fn like(db: &super::Db<'_>) -> Self {
        WriterOptions {
            page_size: db.page_size(),
            ..WriterOptions::default()
        }
    }
}

/// What [`DbWriter::finish`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct WriteSummary {
    /// Page size.
    pub page_size: u32,
    /// High-water mark: pages in the file (meta.pgid).
    pub pgid: u64,
    /// Root page of the root bucket.
    pub root: u64,
    /// File length in bytes (`pgid * page_size`, at least 4096).
    pub file_len: u64,
    /// Top-level buckets written.
    pub buckets: u64,
    /// Buckets stored inline.
    pub inline_buckets: u64,
    /// Key/value pairs written (over all buckets).
    pub entries: u64,
    /// Leaf pages written (not counting overflow slots).
    pub leaf_pages: u64,
    /// Branch pages written.
    pub branch_pages: u64,
}

/// Writes pages at increasing page ids and keeps the counts.
struct Pager<W> {
    out: W,
    page_size: u32,
    /// Bytes a page may be filled to before a new one is started.
    threshold: usize,
    next: u64,
    buf: Vec<u8>,
    leaf_pages: u64,
    branch_pages: u64,
}

pub(super) fn io_err(op: &'static str, e: &std::io::Error) -> Error {
    Error::new(ErrorKind::Io {
        op,
        message: e.to_string(),
    })
}

impl<W: Write> Pager<W> {
    /// Writes `buf[..used]` as the page(s) starting at the next page id, padded
    /// with zeros to whole slots. `buf` must hold the header already (the id is
    /// filled in here). Returns the page id.
    fn emit(&mut self, used: usize, flags: u16, count: usize) -> Result<u64> {
        let ps = usize::try_from(self.page_size).unwrap_or(usize::MAX);
        let slots = used.div_ceil(ps).max(1);
        let span = slots.saturating_mul(ps);
        // `buf` holds exactly `used` bytes (Node::layout); the rest is zeros.
        self.buf.truncate(used);
        self.buf.resize(span, 0);
        let id = self.next;
        put_page_header(
            &mut self.buf,
            id,
            flags,
            u16::try_from(count).unwrap_or(u16::MAX),
            u32_of(slots - 1),
        );
        self.out
            .write_all(&self.buf)
            .map_err(|e| io_err("write", &e))?;
        self.next = self.next.saturating_add(to_u64(slots));
        if flags == LEAF {
            self.leaf_pages += 1;
        } else {
            self.branch_pages += 1;
        }
        Ok(id)
    }
}

/// One B+tree being built bottom-up: the open leaf and the right spine.
#[derive(Debug, Default)]
struct Tree {
    leaf: Node,
    /// `levels[0]` holds the children of leaves, and so on upward.
    levels: Vec<Node>,
    entries: u64,
}

impl Tree {
    fn reset(&mut self) {
        self.leaf.clear();
        for l in &mut self.levels {
            l.clear();
        }
        self.levels.clear();
        self.entries = 0;
    }

    fn write_leaf<W: Write>(&mut self, pager: &mut Pager<W>) -> Result<()> {
        let used = self.leaf.layout(&mut pager.buf, false);
        let id = pager.emit(used, LEAF, self.leaf.elems.len())?;
        let mut leaf = std::mem::take(&mut self.leaf);
        push_branch(&mut self.levels, 0, pager, leaf.first_key(), id)?;
        leaf.clear();
        self.leaf = leaf;
        Ok(())
    }

    fn add<W: Write>(
        &mut self,
        pager: &mut Pager<W>,
        flags: u32,
        key: &[u8],
        value: &[u8],
    ) -> Result<()> {
        let el = ELEMENT_SIZE + key.len() + value.len();
        let n = self.leaf.elems.len();
        if n > 0 && (self.leaf.size() + el > pager.threshold || n >= MAX_ELEMENTS) {
            self.write_leaf(pager)?;
        }
        self.leaf
            .elems
            .push((flags, u32_of(key.len()), u32_of(value.len()), 0));
        self.leaf.data.extend_from_slice(key);
        self.leaf.data.extend_from_slice(value);
        self.entries += 1;
        Ok(())
    }

    /// Whether the whole tree is still one leaf that bbolt would store inline.
    fn inlineable(&self, page_size: u32) -> bool {
        self.levels.is_empty() && to_u64(self.leaf.size()) <= u64::from(page_size / 4)
    }

    /// Writes what is left and returns the root page id.
    fn finish<W: Write>(&mut self, pager: &mut Pager<W>) -> Result<u64> {
        if self.levels.is_empty() {
            let used = self.leaf.layout(&mut pager.buf, false);
            return pager.emit(used, LEAF, self.leaf.elems.len());
        }
        if !self.leaf.elems.is_empty() {
            self.write_leaf(pager)?;
        }
        // Close each level of the spine, bottom-up. Every level but the top
        // gets written and pushed into the one above, so the loop ends at the
        // top, which by then has at least one element.
        let mut i = 0usize;
        loop {
            let top = i + 1 >= self.levels.len();
            let Some(node) = self.levels.get_mut(i) else {
                return Err(Error::new(ErrorKind::Schema(
                    "bbolt writer: empty tree level (internal error)".into(),
                )));
            };
            if top && node.elems.len() == 1 {
                return Ok(node.elems.first().map_or(0, |e| e.3));
            }
            let used = node.layout(&mut pager.buf, true);
            let id = pager.emit(used, BRANCH, node.elems.len())?;
            let mut node = std::mem::take(node);
            push_branch(&mut self.levels, i + 1, pager, node.first_key(), id)?;
            node.clear();
            if let Some(slot) = self.levels.get_mut(i) {
                *slot = node;
            }
            if top {
                // The new level above holds exactly this page: it is the root.
                return Ok(id);
            }
            i += 1;
        }
    }
}

/// Adds child `(key, pgid)` to branch level `level`, writing the level's node
/// first if it has two or more children and the child would overfill it.
fn push_branch<W: Write>(
    levels: &mut Vec<Node>,
    level: usize,
    pager: &mut Pager<W>,
    key: &[u8],
    pgid: u64,
) -> Result<()> {
    if levels.len() <= level {
        levels.push(Node::default());
    }
    let threshold = pager.threshold;
    let full = match levels.get(level) {
        Some(node) => {
            let n = node.elems.len();
            n >= 2 && (node.size() + ELEMENT_SIZE + key.len() > threshold || n >= MAX_ELEMENTS)
        }
        None => false,
    };
    if full {
        let mut node = levels
            .get_mut(level)
            .map(std::mem::take)
            .unwrap_or_default();
        let used = node.layout(&mut pager.buf, true);
        let id = pager.emit(used, BRANCH, node.elems.len())?;
        push_branch(levels, level + 1, pager, node.first_key(), id)?;
        node.clear();
        if let Some(slot) = levels.get_mut(level) {
            *slot = node;
        }
    }
    if let Some(node) = levels.get_mut(level) {
        node.elems.push((0, u32_of(key.len()), 0, pgid));
        node.data.extend_from_slice(key);
    }
    Ok(())
}

/// Writes a new bbolt file from top-level buckets given in name order, each
/// with its keys in strictly increasing order.
///
/// ```no_run
/// # use etcd_rescue::formats::bbolt::write::{DbWriter, WriterOptions};
/// let file = std::io::BufWriter::new(std::fs::File::create("out.db")?);
/// let mut w = DbWriter::new(file, WriterOptions::default())?;
/// w.begin_bucket(b"key")?;
/// w.put(b"k1", b"v1")?;
/// w.begin_bucket(b"meta")?;
/// w.put(b"consistent_index", &7u64.to_be_bytes())?;
/// let (_file, summary) = w.finish()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DbWriter<W: Write + Seek> {
    pager: Pager<W>,
    opts: WriterOptions,
    root: Tree,
    bucket: Tree,
    /// Name of the bucket being written, if any.
    name: Option<Vec<u8>>,
    sequence: u64,
    /// Last key put in the current bucket.
    prev: Vec<u8>,
    buckets: u64,
    inline: u64,
    entries: u64,
    value_buf: Vec<u8>,
}

impl<W: Write + Seek> std::fmt::Debug for DbWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbWriter")
            .field("opts", &self.opts)
            .field("next_page", &self.pager.next)
            .finish_non_exhaustive()
    }
}

fn bad_input(bucket: Option<&[u8]>, key: &[u8], problem: &'static str) -> Error {
    Error::new(ErrorKind::BadWriteInput {
        bucket: bucket.map(|b| String::from_utf8_lossy(b).into_owned()),
        key: show(key),
        problem,
    })
}

fn show(k: &[u8]) -> String {
    match k.get(..48) {
        Some(h) if k.len() > 48 => format!("{}…", hex(h)),
        _ => hex(k),
    }
}

impl<W: Write + Seek> DbWriter<W> {
    /// Starts a file on `out`, which should be empty and positioned at 0
    /// (a `BufWriter<File>` in practice). Two zeroed meta slots are written now
    /// and filled in by [`finish`](Self::finish).
    pub fn new(mut out: W, opts: WriterOptions) -> Result<Self> {
        let ps = opts.page_size;
        if !(MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&ps) || !ps.is_power_of_two() {
            return Err(Error::new(ErrorKind::BadPageSize(ps)));
        }
        if opts.txid == 0 {
            return Err(Error::new(ErrorKind::Usage(
                "bbolt writer: txid must be at least 1 (meta 1 gets txid - 1)".into(),
            )));
        }
        let fill = if opts.fill.is_nan() {
            0.9
        } else {
            opts.fill.clamp(0.1, 1.0)
        };
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let threshold = (f64::from(ps) * fill) as usize;
        let zeros = vec![0u8; usize::try_from(ps).unwrap_or(4096).saturating_mul(2)];
        out.write_all(&zeros).map_err(|e| io_err("write", &e))?;
        Ok(DbWriter {
            pager: Pager {
                out,
                page_size: ps,
                threshold,
                next: 2,
                buf: Vec::new(),
                leaf_pages: 0,
                branch_pages: 0,
            },
            opts,
            root: Tree::default(),
            bucket: Tree::default(),
            name: None,
            sequence: 0,
            prev: Vec::new(),
            buckets: 0,
            inline: 0,
            entries: 0,
            value_buf: Vec::new(),
        })
    }

    /// Ends the current bucket (if any) and starts the top-level bucket `name`.
    /// Names must be non-empty and strictly increasing (bytewise).
    pub fn begin_bucket(&mut self, name: &[u8]) -> Result<()> {
        if name.is_empty() {
            return Err(bad_input(None, name, "a bucket name must not be empty"));
        }
        if name.len() > MAX_KEY_SIZE {
            return Err(bad_input(None, name, "bucket name longer than 32768 bytes"));
        }
        let last = self.close_bucket()?;
        if let Some(last) = &last {
            if name <= last.as_slice() {
                return Err(bad_input(
                    None,
                    name,
                    "bucket names must be given in strictly increasing order",
                ));
            }
        }
        let mut n = last.unwrap_or_default();
        n.clear();
        n.extend_from_slice(name);
        self.name = Some(n);
        self.sequence = 0;
        self.prev.clear();
        self.bucket.reset();
        Ok(())
    }

    /// Sets the current bucket's sequence counter (bbolt `NextSequence` state).
    pub fn set_sequence(&mut self, sequence: u64) {
        self.sequence = sequence;
    }

    /// Adds `key = value` to the current bucket. Keys must be non-empty, at most
    /// 32768 bytes and strictly increasing; values at most 2^31 - 2 bytes.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let Some(name) = self.name.as_deref() else {
            return Err(bad_input(None, key, "put before begin_bucket"));
        };
        if key.is_empty() {
            return Err(bad_input(Some(name), key, "keys must not be empty"));
        }
        if key.len() > MAX_KEY_SIZE {
            return Err(bad_input(Some(name), key, "key longer than 32768 bytes"));
        }
        if value.len() > MAX_VALUE_SIZE {
            return Err(bad_input(Some(name), key, "value longer than 2^31-2 bytes"));
        }
        if self.bucket.entries > 0 && key <= self.prev.as_slice() {
            return Err(bad_input(
                Some(name),
                key,
                "keys must be given in strictly increasing order",
            ));
        }
        self.prev.clear();
        self.prev.extend_from_slice(key);
        self.bucket.add(&mut self.pager, 0, key, value)?;
        self.entries += 1;
        Ok(())
    }

    /// Writes out the current bucket and records it in the root bucket.
    /// Returns the bucket's name (its buffer, for reuse).
    fn close_bucket(&mut self) -> Result<Option<Vec<u8>>> {
        let Some(name) = self.name.take() else {
            return Ok(None);
        };
        let mut value = std::mem::take(&mut self.value_buf);
        value.clear();
        if self.opts.inline_buckets && self.bucket.inlineable(self.opts.page_size) {
            // Inline: bucket header with root 0, then the leaf page image, id 0.
            value.extend_from_slice(&encode_header(0, self.sequence));
            let mut image = std::mem::take(&mut self.pager.buf);
            let used = self.bucket.leaf.layout(&mut image, false);
            put_page_header(
                &mut image,
                0,
                LEAF,
                u16::try_from(self.bucket.leaf.elems.len()).unwrap_or(u16::MAX),
                0,
            );
            value.extend_from_slice(image.get(..used).unwrap_or(&[]));
            self.pager.buf = image;
            self.inline += 1;
        } else {
            let root = self.bucket.finish(&mut self.pager)?;
            value.extend_from_slice(&encode_header(root, self.sequence));
        }
        self.root
            .add(&mut self.pager, BUCKET_LEAF_FLAG, &name, &value)?;
        self.value_buf = value;
        self.buckets += 1;
        self.bucket.reset();
        Ok(Some(name))
    }

    /// Ends the last bucket, writes the root bucket and both metas, flushes,
    /// and returns the output (positioned at its end) with a summary.
    pub fn finish(mut self) -> Result<(W, WriteSummary)> {
        self.close_bucket()?;
        let root = self.root.finish(&mut self.pager)?;
        let ps = self.opts.page_size;
        let pgid = self.pager.next;
        let mut meta = Meta {
            magic: MAGIC,
            version: VERSION,
            page_size: ps,
            flags: 0,
            root,
            root_sequence: 0,
            freelist: NO_FREELIST,
            pgid,
            txid: self.opts.txid,
            checksum: 0,
        };
        let mut file_len = pgid.saturating_mul(u64::from(ps));
        let out = &mut self.pager.out;
        if file_len < MIN_FILE_LEN {
            let pad = vec![0u8; usize::try_from(MIN_FILE_LEN - file_len).unwrap_or(0)];
            out.write_all(&pad).map_err(|e| io_err("write", &e))?;
            file_len = MIN_FILE_LEN;
        }
        out.seek(SeekFrom::Start(0))
            .map_err(|e| io_err("seek", &e))?;
        for slot in 0..2u64 {
            meta.txid = self.opts.txid - slot;
            let page = meta_page(ps, slot, &meta);
            out.write_all(&page).map_err(|e| io_err("write", &e))?;
        }
        out.seek(SeekFrom::Start(file_len))
            .map_err(|e| io_err("seek", &e))?;
        out.flush().map_err(|e| io_err("write", &e))?;
        let summary = WriteSummary {
            page_size: ps,
            pgid,
            root,
            file_len,
            buckets: self.buckets,
            inline_buckets: self.inline,
            entries: self.entries,
            leaf_pages: self.pager.leaf_pages,
            branch_pages: self.pager.branch_pages,
        };
        Ok((self.pager.out, summary))
    }
}

/// Copies every top-level bucket of `db` (in key order, with its sequence)
/// into a new file on `out`: a compact rewrite. Nested buckets and plain
/// top-level keys, which etcd never writes, are refused. Streams over the
/// source; memory does not grow with the db.
pub fn copy_db<W: Write + Seek>(
    db: &super::Db<'_>,
    out: W,
    opts: WriterOptions,
) -> Result<(W, WriteSummary)> {
    let mut w = DbWriter::new(out, opts)?;
    for top in db.root_bucket().cursor(db) {
        let top = top?;
        if !top.is_bucket() {
            return Err(bad_input(
                None,
                top.key,
                "plain key at the top level (not a bucket)",
            ));
        }
        let bucket = super::Bucket::from_value(top.key, top.value)?;
        w.begin_bucket(top.key)?;
        w.set_sequence(bucket.sequence);
        for e in bucket.cursor(db) {
            let e = e?;
            if e.is_bucket() {
                return Err(bad_input(
                    Some(top.key),
                    e.key,
                    "nested buckets are not supported by the writer",
                ));
            }
            w.put(e.key, e.value)?;
        }
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Cursor;

    use proptest::prelude::*;

    use super::*;
    use crate::formats::bbolt::{check, Bucket, Db};

    type Model = BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>>;

    fn write(model: &Model, opts: WriterOptions) -> (Vec<u8>, WriteSummary) {
        let mut w = DbWriter::new(Cursor::new(Vec::new()), opts).unwrap();
        for (name, kvs) in model {
            w.begin_bucket(name).unwrap();
            for (k, v) in kvs {
                w.put(k, v).unwrap();
            }
        }
        let (out, s) = w.finish().unwrap();
        (out.into_inner(), s)
    }

    fn read(bytes: &[u8]) -> Model {
        let db = Db::open(bytes).unwrap();
        let report = check(&db);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        let mut model = Model::new();
        for top in db.root_bucket().cursor(&db) {
            let top = top.unwrap();
            assert!(top.is_bucket());
            let b = Bucket::from_value(top.key, top.value).unwrap();
            let mut kvs = BTreeMap::new();
            for e in b.cursor(&db) {
                let e = e.unwrap();
                kvs.insert(e.key.to_vec(), e.value.to_vec());
            }
            model.insert(top.key.to_vec(), kvs);
        }
        model
    }

    fn check_file(bytes: &[u8], s: &WriteSummary) {
        let db = Db::open(bytes).unwrap();
        let ps = u64::from(s.page_size);
        assert_eq!(to_u64(bytes.len()), s.file_len);
        assert!(s.file_len >= s.pgid * ps && s.file_len >= 4096);
        let m0 = Meta::parse(bytes).unwrap();
        let m1 = Meta::parse(&bytes[ps as usize..]).unwrap();
        assert_eq!((m0.txid, m1.txid), (2, 1));
        assert_eq!(m0.freelist, NO_FREELIST);
        assert!(m0.validate().is_ok() && m1.validate().is_ok());
        assert_eq!(db.meta().root, s.root);
        assert_eq!(db.meta_choice().chosen, 0);
    }

    #[test]
    fn empty_db_and_empty_bucket() {
        let (b, s) = write(&Model::new(), WriterOptions::default());
        check_file(&b, &s);
        assert_eq!((s.pgid, s.root), (3, 2));
        assert!(read(&b).is_empty());
        let mut m = Model::new();
        m.insert(b"key".to_vec(), BTreeMap::new());
        for inline in [true, false] {
            let opts = WriterOptions {
                inline_buckets: inline,
                ..WriterOptions::default()
            };
            let (b, s) = write(&m, opts);
            check_file(&b, &s);
            assert_eq!(s.inline_buckets, u64::from(inline));
            assert_eq!(read(&b), m);
        }
    }

    #[test]
    fn inline_image_matches_bbolt() {
        // The inline `key` bucket checked on a real etcd file (etcd-formats.md §1.5).
        let mut m = Model::new();
        let mut kv = BTreeMap::new();
        kv.insert(b"key17_bytes_long!".to_vec(), b"value16_bytes_ok".to_vec());
        m.insert(b"key".to_vec(), kv);
        let (b, s) = write(&m, WriterOptions::default());
        check_file(&b, &s);
        let db = Db::open(&b).unwrap();
        let e = db.root_bucket().get(&db, b"key").unwrap().unwrap();
        assert_eq!(e.flags, BUCKET_LEAF_FLAG);
        let want_head: &[u8] = &[
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // bucket header
            0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0, 0, // page header
            0, 0, 0, 0, 0x10, 0, 0, 0, 0x11, 0, 0, 0, 0x10, 0, 0, 0, // element
        ];
        assert_eq!(&e.value[..48], want_head);
        assert_eq!(e.value.len(), 48 + 17 + 16);
    }

    #[test]
    fn rejects_bad_order_and_empty_keys() {
        let mut w = DbWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
        assert!(w.put(b"a", b"").is_err());
        w.begin_bucket(b"b").unwrap();
        w.put(b"k2", b"").unwrap();
        for bad in [&b"k2"[..], b"k1", b""] {
            let e = w.put(bad, b"").unwrap_err();
            assert!(matches!(e.kind, ErrorKind::BadWriteInput { .. }), "{e}");
        }
        assert!(w.begin_bucket(b"a").is_err());
        assert!(w.begin_bucket(b"").is_err());
        assert!(DbWriter::new(
            Cursor::new(Vec::new()),
            WriterOptions {
                page_size: 3000,
                ..WriterOptions::default()
            }
        )
        .is_err());
    }

    #[test]
    fn many_keys_make_a_deep_tree() {
        let mut kv = BTreeMap::new();
        for i in 0..60_000u64 {
            kv.insert(i.to_be_bytes().to_vec(), vec![b'x'; (i % 50) as usize]);
        }
        // Big keys force tall, narrow branch levels.
        let mut big = BTreeMap::new();
        for i in 0..200u32 {
            let mut k = vec![b'k'; 3000];
            k.extend_from_slice(&i.to_be_bytes());
            big.insert(k, vec![1u8; 10]);
        }
        let mut m = Model::new();
        m.insert(b"big".to_vec(), big);
        m.insert(b"key".to_vec(), kv);
        for ps in [4096u32, 16384] {
            let opts = WriterOptions {
                page_size: ps,
                ..WriterOptions::default()
            };
            let (b, s) = write(&m, opts);
            check_file(&b, &s);
            assert!(s.branch_pages > 1);
            assert_eq!(read(&b), m);
        }
    }

    fn model_strategy() -> impl Strategy<Value = Model> {
        let key = prop::collection::vec(any::<u8>(), 1..40);
        let value = prop_oneof![
            8 => prop::collection::vec(any::<u8>(), 0..64),
            1 => prop::collection::vec(any::<u8>(), 0..4000),
            1 => (0usize..100_000).prop_map(|n| vec![0xab; n]),
        ];
        let bucket = prop::collection::btree_map(key, value, 0..300);
        let name = prop::collection::vec(any::<u8>(), 1..12);
        prop::collection::btree_map(name, bucket, 0..5)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn round_trip(model in model_strategy(), shift in 0u32..5, inline in any::<bool>(),
                      fill in prop_oneof![Just(0.9), Just(0.5), Just(1.0), Just(0.1)]) {
            let opts = WriterOptions {
                page_size: 4096 << shift,
                fill,
                inline_buckets: inline,
                txid: 2,
            };
            let (b, s) = write(&model, opts);
            check_file(&b, &s);
            prop_assert_eq!(read(&b), model);
        }
    }
}
