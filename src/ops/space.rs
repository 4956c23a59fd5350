//! `space`: where the bytes of the `key` bucket go — the questions behind
//! "mvcc: database space exceeded".
//!
//! Two passes over every stored revision (etcd::usage): per distinct user key
//! (a 64-bit hash of it, not the key) the number of records, their bytes and
//! the size of the newest record; per prefix the same totals; then the names
//! of the keys that make the top lists. Out come the largest keys by bytes
//! over all revisions, the keys with the most revisions, and totals per key
//! prefix. Bytes of a record are those it takes
//! in the bucket: the revision key plus the marshalled KeyValue (page headers
//! and free pages not included).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Result;
use crate::etcd::dbinfo;
use crate::etcd::keyspace::{Record, Records, Revisions, RELEASE_EVERY};
use crate::etcd::usage::{Accounts, TopLists};
use crate::formats::bbolt::{self, Db};

use super::input::Opened;

/// Options of `space`.
#[derive(Debug, Clone, Copy)]
pub struct SpaceOptions {
    /// How many keys and prefixes each top list shows.
    pub top: usize,
    /// Path segments a prefix keeps (`/registry/pods/` is 2).
    pub depth: usize,
}

impl Default for SpaceOptions {
    fn default() -> Self {
        SpaceOptions { top: 10, depth: 2 }
    }
}

pub use crate::etcd::usage::{prefix_of, Usage};

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct SpaceReport {
    /// The db file read.
    #[serde(skip)]
    pub db_path: PathBuf,
    /// The db's revision bounds.
    pub revisions: Revisions,
    /// `pgid * page_size`: the size etcd reports and the quota applies to.
    pub db_size: u64,
    /// The file length.
    pub file_size: u64,
    /// Totals over the whole `key` bucket.
    pub total: Usage,
    /// Delete records.
    pub tombstones: u64,
    /// Keys with the most bytes over all revisions.
    #[serde(skip)]
    pub largest: Vec<Usage>,
    /// Keys with the most revisions.
    #[serde(skip)]
    pub most_revisions: Vec<Usage>,
    /// Prefixes with the most bytes.
    #[serde(skip)]
    pub prefixes: Vec<Usage>,
    /// Distinct prefixes.
    pub prefix_count: u64,
    /// Pages below the high-water mark that no tree reaches: free space inside
    /// the file, which defragmentation returns to the OS.
    pub free_pages: u64,
    /// `free_pages * page_size`.
    pub free_bytes: u64,
    /// Problems the bbolt structural check found on the way (see `check`).
    pub check_problems: u64,
    /// Active alarms (`NOSPACE` once the quota was hit), as `ALARM@member-id-hex`.
    pub alarms: Vec<String>,
}

/// Computes where the bytes go in `path`.
pub fn space(path: &Path, opts: SpaceOptions) -> Result<SpaceReport> {
    let input = Opened::open(path)?;
    let db = input.db()?;
    let revisions = Revisions::read(&db).map_err(|e| input.locate(e))?;
    let alarms = dbinfo::read(&db)
        .map_err(|e| input.locate(e))?
        .alarms
        .iter()
        .map(|a| format!("{}@{:x}", a.alarm, a.member_id))
        .collect();
    // Free pages: one parallel walk (bbolt's reachability), releasing mapped
    // pages as it goes like `snapshot status`.
    let ticker = input.ticker(db.meta().pgid, None);
    let check = bbolt::walk_observed(&db, &mut (), &|n| ticker.tick(n));
    input.source.release_resident();
    // Two passes over the records; the per-key table holds hashes, not keys
    // (etcd::usage), so memory grows by about 20 bytes a key.
    let mut acc = Accounts::new(opts.depth);
    each_record(&input, &db, |r| acc.add(r))?;
    let mut plan = acc.plan(opts.top);
    each_record(&input, &db, |r| acc.find(&mut plan, r))?;
    input.source.release_resident();
    let prefix_count = acc.prefix_count();
    let TopLists {
        largest,
        most_revisions,
        prefixes,
    } = acc.finish(plan, opts.top);
    let total = acc.total.clone();
    let tombstones = acc.tombstones;
    Ok(SpaceReport {
        db_path: input.db_path.clone(),
        revisions,
        db_size: db.size(),
        file_size: crate::bytes::to_u64(input.source.bytes().len()),
        total,
        tombstones,
        largest,
        most_revisions,
        prefixes,
        prefix_count,
        free_pages: check.stats.free_pages,
        free_bytes: check
            .stats
            .free_pages
            .saturating_mul(u64::from(db.page_size())),
        check_problems: crate::bytes::to_u64(check.findings.len()),
        alarms,
    })
}

/// Every record of the `key` bucket in revision order, releasing the mapped
/// pages as the pass goes (one pass of `space`).
fn each_record(input: &Opened, db: &Db<'_>, mut f: impl FnMut(&Record<'_>)) -> Result<()> {
    for (n, r) in (1u64..).zip(Records::new(db, i64::MAX).map_err(|e| input.locate(e))?) {
        f(&r.map_err(|e| input.locate(e))?);
        if n % RELEASE_EVERY == 0 {
            input.source.release_resident();
        }
    }
    Ok(())
}
