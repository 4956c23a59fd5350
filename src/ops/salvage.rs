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
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::etcd::revision::{self, Revision};
use crate::etcd::salvage::{scan_keyspace, Newest, ScanStats};
use crate::etcd::schema::{self, meta_key};
use crate::formats::bbolt::write::{DbWriter, WriteSummary, WriterOptions};
use crate::formats::bbolt::{scan, Bucket, Db};
use crate::sink::NewFile;
use crate::source::Source;

/// A top-level bucket's name and its entries, or why they cannot be read
/// (with the count of entries readable before that, if it was found).
type BucketRead<'a> = (Vec<u8>, std::result::Result<Entries<'a>, Unread>);

/// A bucket's entries.
type Entries<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Why a bucket cannot be read, and the entries readable before that (`None`:
/// the bucket was not found).
type Unread = (String, Option<u64>);

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

/// A bucket that could not be carried over.
#[derive(Debug, Clone, Serialize)]
pub struct LostBucket {
    /// Bucket name.
    pub name: String,
    /// Entries that were readable before the bucket's tree failed (so at
    /// least this many are lost); `null` when the bucket could not be found.
    pub entries_seen: Option<u64>,
    /// Why.
    pub reason: String,
    /// What losing it means for a cluster restored from the new db.
    pub consequence: &'static str,
}

/// The recovered keyspace compared with what the damaged tree still shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TreeComparison {
    /// Whether the `key` bucket's tree could be read to the end.
    pub readable: bool,
    /// Live keys in the tree (as far as it could be read).
    pub tree_live_keys: u64,
    /// Live in the tree, missing from the salvage; `null` when the tree
    /// cannot be read to the end (the loss cannot be counted).
    pub lost_keys: Option<u64>,
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
    /// Every etcd bucket that could not be carried over, with what that means.
    pub lost_buckets: Vec<LostBucket>,
    /// What a person must know before using the new db (auth lost, ...).
    pub warnings: Vec<String>,
    /// Comparison with the original tree.
    pub tree: TreeComparison,
    /// The new file.
    pub written: WriteSummary,
}

impl SalvageReport {
    /// Whether anything is known to be lost or damaged.
    pub fn lossy(&self) -> bool {
        self.tree.lost_keys != Some(0)
            || self.tree.stale_keys > 0
            || !self.tree.readable
            || self.scan.unreadable_elements > 0
            || !self.lost_buckets.is_empty()
    }
}

fn lossy_name(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The buckets etcd 3.4 to 3.6 create on start (besides `key`), and what a
/// restored cluster misses without each.
const ETCD_BUCKETS: [(&[u8], &str); 9] = [
    (schema::ALARM, "an active alarm (NOSPACE, CORRUPT) is forgotten"),
    (schema::AUTH, "AUTH IS OFF in a cluster restored from the new db (auth/authEnabled is gone): anyone who can reach it can read and write everything; enable it again (etcdctl auth enable) before clients connect"),
    (schema::AUTH_ROLES, "every role and its permissions are gone; if auth is on, users lose their access; re-create them (etcdctl role add / role grant-permission)"),
    (schema::AUTH_USERS, "every user is gone; if auth is on, nobody can log in (not even root); re-create them (etcdctl user add) with auth off first"),
    (schema::CLUSTER, "the cluster version is gone; etcd sets it again once members agree"),
    (schema::LEASE, "every lease is gone: keys attached to a lease never expire; re-grant leases and re-attach the keys (or let the clients re-create them)"),
    (schema::MEMBERS, "the member list is gone; `snapshot restore` writes it anew from --initial-cluster"),
    (schema::MEMBERS_REMOVED, "the list of removed member IDs is gone; `snapshot restore` writes membership anew"),
    (schema::META, "the consistent index and compaction marks are gone; the new db gets compaction marks at the newest revision, `snapshot restore` writes the rest"),
];

/// Reads a whole bucket, or says why it cannot be and how many entries were
/// readable before that.
fn read_bucket<'a>(db: &Db<'a>, bucket: &Bucket<'a>) -> std::result::Result<Entries<'a>, Unread> {
    let mut v = Vec::new();
    for e in bucket.cursor(db) {
        let e = e.map_err(|err| (err.to_string(), Some(crate::bytes::to_u64(v.len()))))?;
        if e.is_bucket() {
            return Err((
                "nested bucket".to_string(),
                Some(crate::bytes::to_u64(v.len())),
            ));
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
    let src = Source::open(input).map_err(|e| {
        e.with_path_hint(
            "salvage reads one db file: give the damaged db (in a data dir, member/snap/db)",
        )
    })?;
    let data = src.bytes();
    if data.is_empty() {
        return Err(Error::new(ErrorKind::Empty).in_file(input));
    }
    let page_size = scan::guess_page_size(data);
    let (newest, stats) = scan_keyspace(data, page_size);

    // The tree, if any of it can still be opened.
    let opened = Db::open(data);
    if let Err(e) = &opened {
        if stats.revision_entries == 0 {
            // Not a bbolt db at all (or nothing of etcd's in it): writing an
            // empty db would only hide that.
            return Err(Error::new(ErrorKind::Refused(format!(
                "nothing to salvage, nothing written: no valid bbolt meta page ({}) and no page holds an etcd key; this is not an etcd db or snapshot (check the path), or it is overwritten beyond recovery: use another member's data dir or another backup",
                e.kind
            )))
            .in_file(input));
        }
    }
    let open_problem = opened.as_ref().err().map(|e| e.kind.to_string());
    let db = opened.ok();
    let (readable, latest) = db.as_ref().map_or((false, HashMap::new()), tree_latest);
    let mut tree = TreeComparison {
        readable,
        ..TreeComparison::default()
    };
    let mut lost_keys = 0u64;
    for (k, (rev, dead)) in &latest {
        if *dead {
            continue;
        }
        tree.tree_live_keys += 1;
        match newest.get(k) {
            Some(n) if !n.tombstone && n.rev == *rev => {}
            Some(n) if !n.tombstone && n.rev < *rev => tree.stale_keys += 1,
            _ => {
                lost_keys += 1;
                if tree.lost_examples.len() < EXAMPLES {
                    tree.lost_examples.push(lossy_name(k));
                }
            }
        }
    }
    tree.lost_keys = readable.then_some(lost_keys);
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
    let mut root_problem: Option<String> = None;
    if let Some(db) = &db {
        for top in db.root_bucket().cursor(db) {
            let top = match top {
                Ok(t) => t,
                Err(e) => {
                    root_problem = Some(e.to_string());
                    break;
                }
            };
            if top.key == schema::KEY || !top.is_bucket() {
                continue;
            }
            let entries = match Bucket::from_value(top.key, top.value) {
                Err(e) => Err((e.to_string(), Some(0))),
                Ok(b) => read_bucket(db, &b),
            };
            others.push((top.key.to_vec(), entries));
        }
    } else if let Some(p) = &open_problem {
        root_problem = Some(format!("the db cannot be opened: {p}"));
    }
    // etcd's buckets that were not found at all are lost too, not just absent.
    for (name, _) in ETCD_BUCKETS {
        if !others.iter().any(|(n, _)| n == name) {
            let why = root_problem.clone().map_or_else(
                || "not found in the root bucket".to_string(),
                |p| format!("not found: the root bucket cannot be read to the end ({p})"),
            );
            others.push((name.to_vec(), Err((why, None))));
        }
    }
    others.push((schema::KEY.to_vec(), Ok(Vec::new())));
    others.sort_by(|a, b| a.0.cmp(&b.0));

    // Write beside the target, then rename (the temporary file is removed on
    // any failure).
    let mut new_file = NewFile::create(out, 0o666)?;
    let tmp = new_file.tmp_path().to_path_buf();
    let f = new_file.take()?;
    let (written, buckets) = (|| -> Result<(WriteSummary, Vec<BucketOutcome>)> {
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
                Err((e, _)) if name == schema::META => {
                    // The new db still needs its compaction marks.
                    w.begin_bucket(name)?;
                    if let Some(c) = compact {
                        let m = Revision { main: c, sub: 0 }.to_key();
                        w.put(meta_key::FINISHED_COMPACT_REV, &m)?;
                        w.put(meta_key::SCHEDULED_COMPACT_REV, &m)?;
                    }
                    outcomes.push(BucketOutcome {
                        name: name_s,
                        state: "lost",
                        entries: u64::from(compact.is_some()) * 2,
                        reason: Some(e.clone()),
                    });
                }
                Err((e, _)) => outcomes.push(BucketOutcome {
                    name: name_s,
                    state: "lost",
                    entries: 0,
                    reason: Some(e.clone()),
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
        new_file.commit_file(f)?;
        Ok((summary, outcomes))
    })()?;
    let lost_buckets: Vec<LostBucket> = others
        .iter()
        .filter_map(|(name, r)| {
            let (reason, seen) = r.as_ref().err()?;
            let consequence = ETCD_BUCKETS
                .iter()
                .find(|(n, _)| n == name)
                .map_or("a bucket etcd does not create is gone", |(_, c)| *c);
            Some(LostBucket {
                name: lossy_name(name),
                entries_seen: *seen,
                reason: reason.clone(),
                consequence,
            })
        })
        .collect();
    let warnings = salvage_warnings(&lost_buckets, &tree);
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
        lost_buckets,
        warnings,
        tree,
        written,
    })
}

/// The loud part of the report: auth first, then every other loss.
fn salvage_warnings(lost: &[LostBucket], tree: &TreeComparison) -> Vec<String> {
    let mut w = Vec::new();
    let is_auth = |b: &&LostBucket| ["auth", "authUsers", "authRoles"].contains(&b.name.as_str());
    let auth: Vec<&LostBucket> = lost.iter().filter(is_auth).collect();
    if !auth.is_empty() {
        let names: Vec<&str> = auth.iter().map(|b| b.name.as_str()).collect();
        w.push(format!(
            "AUTH NOT CARRIED OVER ({}): a cluster restored from the new db comes up with auth off or without its users and roles; re-create users and roles and run `etcdctl auth enable` before clients can reach it",
            names.join(", ")
        ));
    }
    for b in lost.iter().filter(|b| !is_auth(b)) {
        w.push(format!("bucket {} lost: {}", b.name, b.consequence));
    }
    if tree.lost_keys.is_none() {
        w.push("the original key tree cannot be read to the end: how many keys were lost cannot be counted; compare the result with another member or an older snapshot".into());
    }
    w
}
