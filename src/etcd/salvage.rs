//! Recovering etcd's keyspace from raw leaf pages.
//!
//! Every leaf element on every page that looks like a leaf (reachable or not)
//! is a candidate; it is believed when its key is a well-formed revision key and
//! its value a consistent `mvccpb.KeyValue` (a put's `mod_revision` equals the
//! key's main revision, `create_revision` is in `1..=mod`, `version` ≥ 1; a
//! tombstone holds just the user key). Per user key the newest revision wins;
//! a key whose newest revision is a tombstone is deleted. That is what etcd's
//! compaction at the newest revision would keep, so the result is written as a
//! keyspace compacted at that revision.

use std::collections::HashMap;

use serde::Serialize;

use crate::formats::bbolt::scan::{self, Slot};
use crate::formats::bbolt::{Bucket, BucketRoot, Page};
use crate::formats::proto::KeyValueRef;

use super::revision::{self, Revision};

/// The newest version found of one user key.
#[derive(Debug, Clone, Copy)]
pub struct Newest<'a> {
    /// Its revision.
    pub rev: Revision,
    /// Whether it is a deletion.
    pub tombstone: bool,
    /// The revision key as stored (17 or 18 bytes).
    pub rev_key: &'a [u8],
    /// The KeyValue bytes as stored.
    pub value: &'a [u8],
    /// The slot it was found in.
    pub page: u64,
}

/// Counts from a scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ScanStats {
    /// Page slots looked at.
    pub slots: u64,
    /// Slots that hold a leaf page.
    pub leaf_pages: u64,
    /// Leaf elements that are believable revision entries.
    pub revision_entries: u64,
    /// Leaf elements that could not be read (past their page).
    pub unreadable_elements: u64,
    /// Lowest main revision seen.
    pub min_revision: Option<i64>,
    /// Highest main revision seen.
    pub max_revision: Option<i64>,
}

/// Whether a (key, value) pair is a believable entry of the `key` bucket.
pub fn believable<'a>(key: &'a [u8], value: &'a [u8]) -> Option<(Revision, bool, KeyValueRef<'a>)> {
    let rk = revision::parse(key).ok()?;
    if rk.rev.main < 1 || rk.rev.sub < 0 {
        return None;
    }
    let kv = KeyValueRef::decode(value).ok()?;
    if kv.key.is_empty() {
        return None;
    }
    if rk.tombstone {
        let clean = kv.mod_revision == 0 && kv.create_revision == 0 && kv.value.is_empty();
        return clean.then_some((rk.rev, true, kv));
    }
    let ok = kv.mod_revision == rk.rev.main
        && (1..=kv.mod_revision).contains(&kv.create_revision)
        && kv.version >= 1;
    ok.then_some((rk.rev, false, kv))
}

/// Scans `data` and keeps the newest believable version of every user key.
/// Inline buckets (a small `key` bucket lives inside its parent's leaf
/// element, not on a page of its own) are scanned too.
pub fn scan_keyspace(data: &[u8], page_size: u32) -> (HashMap<&[u8], Newest<'_>>, ScanStats) {
    let mut newest: HashMap<&[u8], Newest<'_>> = HashMap::new();
    let mut st = ScanStats::default();
    for (id, slot) in scan::slots(data, page_size) {
        st.slots += 1;
        let Slot::Leaf(page) = slot else { continue };
        st.leaf_pages += 1;
        scan_leaf(&page, id, true, &mut newest, &mut st);
    }
    (newest, st)
}

/// Takes the believable entries of one leaf page; `descend`: also scan the
/// inline buckets it holds (one level: an inline bucket holds no buckets of
/// etcd's).
fn scan_leaf<'a>(
    page: &Page<'a>,
    id: u64,
    descend: bool,
    newest: &mut HashMap<&'a [u8], Newest<'a>>,
    st: &mut ScanStats,
) {
    for i in 0..page.count() {
        let e = match page.leaf_element(i) {
            Ok(e) => e,
            Err(_) => {
                st.unreadable_elements += 1;
                continue;
            }
        };
        if e.is_bucket() {
            if descend {
                if let Ok(Bucket {
                    root: BucketRoot::Inline(inner),
                    ..
                }) = Bucket::from_value(e.key, e.value)
                {
                    scan_leaf(&inner, id, false, newest, st);
                }
            }
            continue;
        }
        let Some((rev, tombstone, kv)) = believable(e.key, e.value) else {
            continue;
        };
        st.revision_entries += 1;
        st.min_revision = Some(st.min_revision.map_or(rev.main, |m| m.min(rev.main)));
        st.max_revision = Some(st.max_revision.map_or(rev.main, |m| m.max(rev.main)));
        let candidate = Newest {
            rev,
            tombstone,
            rev_key: e.key,
            value: e.value,
            page: id,
        };
        newest
            .entry(kv.key)
            .and_modify(|cur| {
                if candidate.rev > cur.rev {
                    *cur = candidate;
                }
            })
            .or_insert(candidate);
    }
}
