//! bbolt, the B+tree file format of etcd's backend (`member/snap/db`, snapshot files).
//!
//! ```text
//! | meta 0 | meta 1 | page 2 | page 3 | ... | page pgid-1 | (tail)
//!   each page_size bytes; a page with overflow n spans n+1 slots
//! meta.root -> root bucket tree -> one leaf entry per top-level bucket
//!   -> bucket header (root page, or an inline leaf page image)
//! ```
//! One file per on-disk concept: [`page`] (header and elements), [`meta`] (meta
//! pages and their choice), [`bucket`] (bucket headers, inline buckets),
//! [`freelist`] (freelist pages), [`cursor`] (in-order walk, rightmost path,
//! the one [`cursor::MAX_DEPTH`]), [`walk`] (the shared whole-db walk),
//! [`check`] (the structural check it runs), [`db`] (opening), `node` (page
//! images of nodes and metas), and the two writers built on it: [`write`], a
//! streaming compact rewrite into a writer, and [`patch`], copy-on-write pages
//! and a new meta over a byte copy (what restore uses). No module here opens a
//! file: writers get a `Write`/[`patch::PageTarget`] from the caller (`sink`).
//! Everything else is read-only and works on a borrowed `&[u8]`.

pub mod bucket;
pub mod check;
pub mod cursor;
pub mod db;
pub mod freelist;
pub mod meta;
mod node;
pub mod page;
pub mod patch;
pub mod scan;
pub mod walk;
pub mod write;

pub use bucket::{Bucket, BucketRoot};
pub use check::{check, CheckReport};
pub use cursor::Cursor;
pub use db::Db;
pub use meta::{Meta, MetaChoice, MetaSlot};
pub use page::{BranchElement, LeafElement, Page, PageHeader};
pub use walk::{walk, walk_observed, LeafRun, PageStats, Progress, Visitor};
pub use write::{DbWriter, WriteSummary, WriterOptions};
