//! `space`: where the bytes of the `key` bucket go — the questions behind
//! "mvcc: database space exceeded".
//!
//! One pass over every stored revision, keeping per distinct user key the
//! number of records, their bytes, and the size of the newest record. Then:
//! the largest keys by bytes over all revisions, the keys with the most
//! revisions, and totals per key prefix. Bytes of a record are those it takes
//! in the bucket: the revision key plus the marshalled KeyValue (page headers
//! and free pages not included).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Result;
use crate::etcd::dbinfo;
use crate::etcd::keyspace::{Records, Revisions, RELEASE_EVERY};
use crate::formats::bbolt;

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

/// Figures for one key or one prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// The key or prefix.
    #[serde(skip)]
    pub name: Vec<u8>,
    /// Distinct keys (1 for a key).
    pub keys: u64,
    /// Of which alive at the current revision.
    pub live_keys: u64,
    /// Stored records (puts and deletes).
    pub revisions: u64,
    /// Bytes of all stored records.
    pub bytes: u64,
    /// Bytes of the newest record of each live key (what compaction keeps).
    pub live_bytes: u64,
    /// Largest single value seen.
    pub max_value: u64,
}

impl Usage {
    fn add(&mut self, o: &Usage) {
        self.keys += o.keys;
        self.live_keys += o.live_keys;
        self.revisions += o.revisions;
        self.bytes += o.bytes;
        self.live_bytes += o.live_bytes;
        self.max_value = self.max_value.max(o.max_value);
    }
}

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

/// The first `depth` path segments of `key`, with their trailing `/`
/// (`/registry/pods/default/x` at depth 2 is `/registry/pods/`). A key with
/// fewer segments keeps everything up to its last `/`, or is its own prefix.
pub fn prefix_of(key: &[u8], depth: usize) -> &[u8] {
    let start = usize::from(key.first() == Some(&b'/'));
    let mut seen = 0usize;
    let mut last = None;
    for (i, b) in key.iter().enumerate().skip(start) {
        if *b == b'/' {
            seen += 1;
            last = Some(i);
            if seen >= depth {
                break;
            }
        }
    }
    match last {
        Some(i) => key.get(..=i).unwrap_or(key),
        None => key,
    }
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
    // Keys are copied once per distinct key (see keyspace::Latest for why).
    let mut per_key: HashMap<Box<[u8]>, (Usage, bool)> = HashMap::new();
    let mut tombstones = 0u64;
    let mut n = 0u64;
    for r in Records::new(&db, i64::MAX).map_err(|e| input.locate(e))? {
        let r = r.map_err(|e| input.locate(e))?;
        n += 1;
        if n % RELEASE_EVERY == 0 {
            input.source.release_resident();
        }
        let (u, alive) = match per_key.get_mut(r.kv.key) {
            Some(e) => e,
            None => per_key.entry(r.kv.key.into()).or_default(),
        };
        u.revisions += 1;
        u.bytes += r.stored_bytes;
        u.max_value = u.max_value.max(crate::bytes::to_u64(r.kv.value.len()));
        *alive = !r.tombstone;
        if r.tombstone {
            tombstones += 1;
            u.live_bytes = 0;
        } else {
            u.live_bytes = r.stored_bytes;
        }
    }
    let mut total = Usage::default();
    let mut prefixes: HashMap<Vec<u8>, Usage> = HashMap::new();
    let mut keys: Vec<Usage> = Vec::with_capacity(per_key.len());
    for (k, (mut u, alive)) in per_key {
        u.keys = 1;
        u.live_keys = u64::from(alive);
        if !alive {
            u.live_bytes = 0;
        }
        total.add(&u);
        let p = prefix_of(&k, opts.depth);
        match prefixes.get_mut(p) {
            Some(pu) => pu.add(&u),
            None => prefixes.entry(p.to_vec()).or_default().add(&u),
        }
        u.name = k.into_vec();
        keys.push(u);
    }
    let top = |v: &mut Vec<Usage>, by: &dyn Fn(&Usage) -> u64| {
        v.sort_unstable_by(|a, b| by(b).cmp(&by(a)).then_with(|| a.name.cmp(&b.name)));
        v.truncate(opts.top);
    };
    let mut largest = keys.clone();
    top(&mut largest, &|u| u.bytes);
    let mut most_revisions = keys;
    top(&mut most_revisions, &|u| u.revisions);
    let prefix_count = crate::bytes::to_u64(prefixes.len());
    let mut prefixes: Vec<Usage> = prefixes
        .into_iter()
        .map(|(k, mut u)| {
            u.name = k;
            u
        })
        .collect();
    top(&mut prefixes, &|u| u.bytes);
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

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::prefix_of;

    #[test]
    fn prefixes() {
        assert_eq!(
            prefix_of(b"/registry/pods/default/x", 2),
            b"/registry/pods/"
        );
        assert_eq!(prefix_of(b"/registry/pods/default/x", 1), b"/registry/");
        assert_eq!(prefix_of(b"/registry/ranges", 2), b"/registry/");
        assert_eq!(prefix_of(b"a/b/c", 1), b"a/");
        assert_eq!(prefix_of(b"foo", 2), b"foo");
        assert_eq!(prefix_of(b"", 2), b"");
        assert_eq!(prefix_of(b"/", 2), b"/");
    }
}
