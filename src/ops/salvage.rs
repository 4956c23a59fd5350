//! `salvage`: recover what a damaged db still holds into a new, valid db.
//!
//! 1. Scan every page slot for leaf pages and keep, per user key, the newest
//!    believable revision (see [`crate::etcd::salvage`]); deleted keys stay
//!    deleted.
//! 2. Copy the other buckets (meta, lease, auth, cluster, …) from the tree when
//!    they can be read whole; a bucket that cannot is dropped and reported.
//! 3. Write a fresh db: the recovered keys (their newest revision each), the
//!    copied buckets, and meta compaction marks at the newest revision found
//!    (the keyspace is what a compaction there would keep).
//! 4. When the original tree can still be read, compare: keys lost, keys
//!    recovered only in an older version, keys that reappear from free pages.
//!
//! The input is only read; the output is written to a temporary file beside
//! the named path, synced, and renamed into place.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::etcd::revision::{self, Revision};
use crate::etcd::salvage::{scan_keyspace, Newest, ScanStats};
use crate::etcd::schema::{self, meta_key};
use crate::formats::bbolt::write::{DbWriter, WriteSummary, WriterOptions};
use crate::formats::bbolt::{scan, Bucket, Db};
use crate::source::Source;

/// A top-level bucket's name and its entries, or why they cannot be read.
type BucketRead<'a> = (Vec<u8>, Result<Vec<(&'a [u8], &'a [u8])>>);

/// Most key names listed in each category of the report.
const EXAMPLES: usize = 20;

/// What happened to one top-level bucket.
#[derive(Debug, Clone, Serialize)]
pub struct BucketOutcome {
    /// Bucket name.
    pub name: String,
    /// `recovered` (key bucket, from the page scan), `copied`, `lost`.
    pub state: &'static str,
    /// Entries written.
    pub entries: u64,
    /// Why it was lost, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The recovered keyspace compared with what the damaged tree still shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TreeComparison {
    /// Whether the `key` bucket's tree could be read to the end.
    pub readable: bool,
    /// Live keys in the tree (as far as it could be read).
    pub tree_live_keys: u64,
    /// Live in the tree, missing from the salvage.
    pub lost_keys: u64,
    /// Recovered, but in an older version than the tree's.
    pub stale_keys: u64,
    /// Recovered live although the tree has them deleted or absent (from free pages).
    pub reappeared_keys: u64,
    /// Some lost keys.
    pub lost_examples: Vec<String>,
}

/// What salvage did.
#[derive(Debug, Clone, Serialize)]
pub struct SalvageReport {
    /// The damaged input.
    pub input: PathBuf,
    /// The db written.
    pub output: PathBuf,
    /// Page size used for the scan.
    pub page_size: u32,
    /// Scan counts.
    pub scan: ScanStats,
    /// Distinct user keys seen.
    pub keys_seen: u64,
    /// Live keys written (newest version each).
    pub keys_recovered: u64,
    /// Keys whose newest version is a deletion.
    pub keys_deleted: u64,
    /// The revision the new db is marked compacted at (the newest found).
    pub compact_revision: Option<i64>,
    /// Per-bucket outcome.
    pub buckets: Vec<BucketOutcome>,
    /// Comparison with the original tree.
    pub tree: TreeComparison,
    /// The new file.
    pub written: WriteSummary,
}

impl SalvageReport {
    /// Whether anything is known to be lost or damaged.
    pub fn lossy(&self) -> bool {
        self.tree.lost_keys > 0
            || self.tree.stale_keys > 0
            || !self.tree.readable
            || self.scan.unreadable_elements > 0
            || self.buckets.iter().any(|b| b.state == "lost")
    }
}

fn lossy_name(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Reads a whole bucket, or says why it cannot be.
fn read_bucket<'a>(db: &Db<'a>, bucket: &Bucket<'a>) -> Result<Vec<(&'a [u8], &'a [u8])>> {
    let mut v = Vec::new();
    for e in bucket.cursor(db) {
        let e = e?;
        if e.is_bucket() {
            return Err(Error::new(ErrorKind::Schema("nested bucket".into())));
        }
        v.push((e.key, e.value));
    }
    Ok(v)
}

/// The newest state per user key as the tree shows it (None: unreadable).
fn tree_latest<'a>(db: &Db<'a>) -> (bool, HashMap<&'a [u8], (Revision, bool)>) {
    let mut m = HashMap::new();
    let Ok(Some(key)) = db.bucket(schema::KEY) else {
        return (false, m);
    };
    for e in key.cursor(db) {
        let Ok(e) = e else { return (false, m) };
        let Ok(rk) = revision::parse(e.key) else {
            continue;
        };
        let Ok(kv) = crate::formats::proto::KeyValueRef::decode(e.value) else {
            continue;
        };
        if !kv.key.is_empty() {
            m.insert(kv.key, (rk.rev, rk.tombstone));
        }
    }
    (true, m)
}

/// Salvages `input` into the new file `out` (which must not exist or be empty).
pub fn salvage(input: &Path, out: &Path) -> Result<SalvageReport> {
    if let Ok(meta) = std::fs::metadata(out) {
        if meta.len() > 0 || meta.is_dir() {
            return Err(Error::new(ErrorKind::Usage(format!(
                "--out {} exists and is not empty: name a new file",
                out.display()
            ))));
        }
    }
    let src = Source::open(input)?;
    let data = src.bytes();
    if data.is_empty() {
        return Err(Error::new(ErrorKind::Empty).in_file(input));
    }
    let page_size = scan::guess_page_size(data);
    let (newest, stats) = scan_keyspace(data, page_size);

    // The tree, if any of it can still be opened.
    let db = Db::open(data).ok();
    let (readable, latest) = db.as_ref().map_or((false, HashMap::new()), tree_latest);
    let mut tree = TreeComparison {
        readable,
        ..TreeComparison::default()
    };
    for (k, (rev, dead)) in &latest {
        if *dead {
            continue;
        }
        tree.tree_live_keys += 1;
        match newest.get(k) {
            Some(n) if !n.tombstone && n.rev == *rev => {}
            Some(n) if !n.tombstone && n.rev < *rev => tree.stale_keys += 1,
            _ => {
                tree.lost_keys += 1;
                if tree.lost_examples.len() < EXAMPLES {
                    tree.lost_examples.push(lossy_name(k));
                }
            }
        }
    }
    if readable {
        tree.reappeared_keys = crate::bytes::to_u64(
            newest
                .iter()
                .filter(|(k, n)| !n.tombstone && latest.get(*k).is_none_or(|(_, dead)| *dead))
                .count(),
        );
    }

    // Keys to write: the newest put of each live key, in revision order.
    let mut puts: Vec<&Newest<'_>> = newest.values().filter(|n| !n.tombstone).collect();
    puts.sort_by_key(|n| n.rev);
    let compact = stats.max_revision;

    // Other buckets from the tree, whole or not at all.
    let mut others: Vec<BucketRead<'_>> = Vec::new();
    if let Some(db) = &db {
        for top in db.root_bucket().cursor(db) {
            let Ok(top) = top else { break };
            if top.key == schema::KEY || !top.is_bucket() {
                continue;
            }
            let entries = Bucket::from_value(top.key, top.value).and_then(|b| read_bucket(db, &b));
            others.push((top.key.to_vec(), entries));
        }
    }
    if !others.iter().any(|(n, _)| n == schema::META) {
        others.push((schema::META.to_vec(), Ok(Vec::new())));
    }
    others.push((schema::KEY.to_vec(), Ok(Vec::new())));
    others.sort_by(|a, b| a.0.cmp(&b.0));

    // Write beside the target, then rename.
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "salvaged.db".into());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| -> Result<(WriteSummary, Vec<BucketOutcome>)> {
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io("create", &tmp, &e))?;
        let opts = WriterOptions {
            page_size,
            ..WriterOptions::default()
        };
        let mut w = DbWriter::new(BufWriter::new(f), opts)?;
        let mut outcomes = Vec::new();
        for (name, entries) in &others {
            let name_s = lossy_name(name);
            if name == schema::KEY {
                w.begin_bucket(name)?;
                for n in &puts {
                    w.put(n.rev_key, n.value)?;
                }
                outcomes.push(BucketOutcome {
                    name: name_s,
                    state: "recovered",
                    entries: crate::bytes::to_u64(puts.len()),
                    reason: None,
                });
                continue;
            }
            match entries {
                Err(e) => outcomes.push(BucketOutcome {
                    name: name_s,
                    state: "lost",
                    entries: 0,
                    reason: Some(e.to_string()),
                }),
                Ok(entries) => {
                    w.begin_bucket(name)?;
                    let mut n = 0u64;
                    if name == schema::META {
                        // Compaction marks at the newest revision, in key order.
                        let mark = compact.map(|c| Revision { main: c, sub: 0 }.to_key());
                        let mut all: Vec<(&[u8], &[u8])> = entries
                            .iter()
                            .filter(|(k, _)| {
                                *k != meta_key::SCHEDULED_COMPACT_REV
                                    && *k != meta_key::FINISHED_COMPACT_REV
                            })
                            .copied()
                            .collect();
                        if let Some(m) = &mark {
                            all.push((meta_key::SCHEDULED_COMPACT_REV, m));
                            all.push((meta_key::FINISHED_COMPACT_REV, m));
                        }
                        all.sort_by(|a, b| a.0.cmp(b.0));
                        for (k, v) in all {
                            w.put(k, v)?;
                            n += 1;
                        }
                    } else {
                        for (k, v) in entries {
                            w.put(k, v)?;
                            n += 1;
                        }
                    }
                    outcomes.push(BucketOutcome {
                        name: name_s,
                        state: "copied",
                        entries: n,
                        reason: None,
                    });
                }
            }
        }
        let (bw, summary) = w.finish()?;
        let f = bw
            .into_inner()
            .map_err(|e| Error::io("write", &tmp, e.error()))?;
        f.sync_all().map_err(|e| Error::io("sync", &tmp, &e))?;
        Ok((summary, outcomes))
    })();
    let (written, buckets) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, out).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io("rename", out, &e)
    })?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(SalvageReport {
        input: input.to_path_buf(),
        output: out.to_path_buf(),
        page_size,
        scan: stats,
        keys_seen: crate::bytes::to_u64(newest.len()),
        keys_recovered: crate::bytes::to_u64(puts.len()),
        keys_deleted: crate::bytes::to_u64(newest.values().filter(|n| n.tombstone).count()),
        compact_revision: compact,
        buckets,
        tree,
        written,
    })
}
