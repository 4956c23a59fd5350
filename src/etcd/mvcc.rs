//! etcd's MVCC keyspace offline: the key index rebuilt from the `key` bucket,
//! `keep` at a revision, and `HashKV`.
//!
//! ```text
//! key bucket, in key (= revision) order:
//!   | main (8, BE) | '_' | sub (8, BE) | ['t'] |  →  mvccpb.KeyValue {key, …}
//! per user key, generations (kvstore.go restoreIntoIndex, key_index.go):
//!   put        → append to the last generation
//!   tombstone  → append, then open a new empty generation
//!                (first record of a key: a one-revision generation + an empty one;
//!                 on an empty last generation: ignored, as etcd logs and skips it)
//! keep(R) (key_index.go keep/doCompact): the first generation whose tombstone
//!   has main > R (else the last one); in it, the newest revision with main ≤ R.
//! HashKV(R) = CRC-32C("key" ‖ k ‖ v ‖ …) over bucket entries with main ≤ R,
//!   skipping those with main ≤ C that are not in keep(R) (only if keep(R) is
//!   non-empty), and, from etcd 3.5.16 / 3.4.34, tombstones with main == C.
//! C (compact revision) = meta/finishedCompactRev, raised to
//!   meta/scheduledCompactRev when that is larger (etcd re-runs it at start),
//!   -1 when neither is set. Current revision = main of the last key, raised to C
//!   and to scheduledCompactRev.
//! ```
//! Two streaming passes over the bucket; memory is one small state per
//! distinct user key (keys borrowed from the map), nothing per revision.
//! A scheduled-but-unfinished compaction is not applied to the bucket (etcd
//! would delete the revisions first); entries it would delete are exactly the
//! ones the `keep` rule skips, so the hash is the same.
//! Source: etcd `server/mvcc/kvstore.go` (`restore`, `restoreIntoIndex`,
//! `HashByRev`/`hashByRev`), `hash.go` (3.5.16+), `key_index.go` (v3.5.1,
//! v3.5.30). Checked against `etcdctl endpoint hashkv` of live etcd 3.5.1 and
//! 3.5.30.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::bytes::{hex, u64_be};
use crate::error::{Error, ErrorKind, Result};
use crate::formats::bbolt::Db;
use crate::formats::proto::KeyValueRef;

use super::revision::{is_tombstone, Revision};
use super::schema;

/// Whether a tombstone at exactly the compact revision is hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TombstoneRule {
    /// etcd before 3.5.16 / 3.4.34: it is hashed; and `rev == compactRev` is
    /// refused as compacted (3.4 and 3.5.0–3.5.7 behaviour).
    #[serde(rename = "legacy")]
    Legacy,
    /// etcd 3.5.16+ / 3.4.34+ / 3.6: it is skipped; `rev == compactRev` allowed.
    #[serde(rename = "3.5.16")]
    V3516,
}

impl std::fmt::Display for TombstoneRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TombstoneRule::Legacy => "legacy (etcd < 3.5.16)",
            TombstoneRule::V3516 => "3.5.16 (etcd >= 3.5.16, 3.4.34, 3.6)",
        })
    }
}

/// The result of [`hash_kv`], with etcdutl 3.6 `hashkv`'s fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HashKv {
    /// CRC-32C.
    pub hash: u32,
    /// The revision hashed at.
    pub hash_revision: i64,
    /// The compact revision (-1 if never compacted).
    pub compact_revision: i64,
    /// The current revision of the store.
    pub current_revision: i64,
    /// The tombstone rule applied.
    pub rule: TombstoneRule,
    /// Whether the bucket holds a tombstone at the compact revision within
    /// the hashed range, i.e. whether the two rules give different hashes.
    pub rules_differ: bool,
    /// Revisions in `keep` at the hash revision.
    pub keep_len: u64,
}

/// Lenient revision decode, as etcd 3.5 `bytesToRev` (no check of `_`).
#[allow(clippy::cast_possible_wrap)]
fn rev_of(key: &[u8]) -> Option<Revision> {
    if key.len() < 17 {
        return None;
    }
    Some(Revision {
        main: u64_be(key, 0)? as i64,
        sub: u64_be(key, 9)? as i64,
    })
}

fn bad_rev(key: &[u8]) -> Error {
    Error::new(ErrorKind::Schema(format!(
        "bucket key: key {} is not a revision key (shorter than 17 bytes)",
        hex(key)
    )))
}

/// `meta/finishedCompactRev` and `meta/scheduledCompactRev` (main revisions).
pub fn compact_revisions(db: &Db<'_>) -> Result<(Option<i64>, Option<i64>)> {
    let Some(meta) = db.bucket(schema::META)? else {
        return Ok((None, None));
    };
    let read = |k: &[u8]| -> Result<Option<i64>> {
        Ok(meta
            .get(db, k)?
            .and_then(|e| rev_of(e.value).map(|r| r.main)))
    };
    Ok((
        read(schema::meta_key::FINISHED_COMPACT_REV)?,
        read(schema::meta_key::SCHEDULED_COMPACT_REV)?,
    ))
}

/// Per user key: what keep(R) needs, folded as the revisions stream by.
#[derive(Debug, Clone, Copy, Default)]
struct KeyState {
    /// Newest revision with main ≤ R in the current generation.
    newest_le: Option<Revision>,
    /// The generation keep(R) looks at is closed: `newest_le` is final.
    decided: bool,
    /// The current (last) generation holds revisions.
    gen_nonempty: bool,
}

/// keep(R) over the whole index: the kept revisions and how many there are.
/// Only those with main ≤ `only_le` are collected (the hash only asks those).
fn keep_at(db: &Db<'_>, at: i64, only_le: i64) -> Result<(HashSet<Revision>, u64, i64)> {
    let Some(bucket) = db.bucket(schema::KEY)? else {
        return Ok((HashSet::new(), 0, 1));
    };
    let mut keys: HashMap<&[u8], KeyState> = HashMap::new();
    let mut last_main = 1i64;
    for e in bucket.cursor(db) {
        let e = e?;
        let r = rev_of(e.key).ok_or_else(|| bad_rev(e.key))?;
        last_main = r.main;
        let kv = KeyValueRef::decode(e.value).map_err(|w| {
            Error::new(ErrorKind::Schema(format!(
                "key bucket: value of revision {r} is not a KeyValue: {w}"
            )))
        })?;
        let tomb = is_tombstone(e.key);
        let mut fresh = false;
        let st = keys.entry(kv.key).or_insert_with(|| {
            fresh = true;
            KeyState::default()
        });
        if st.decided {
            continue;
        }
        if tomb && !st.gen_nonempty && !fresh {
            // etcd: tombstone on an empty generation → ErrRevisionNotFound, skipped.
            continue;
        }
        if r.main <= at {
            st.newest_le = Some(r);
        }
        if tomb {
            if r.main > at {
                // The first generation whose tombstone is past R: keep(R) uses it.
                st.decided = true;
            } else {
                st.newest_le = None;
                st.gen_nonempty = false;
            }
        } else {
            st.gen_nonempty = true;
        }
    }
    let mut set = HashSet::new();
    let mut n = 0u64;
    for st in keys.values() {
        if let Some(r) = st.newest_le {
            n += 1;
            if r.main <= only_le {
                set.insert(r);
            }
        }
    }
    Ok((set, n, last_main))
}

/// `HashKV` at `rev` (0 = current revision), as the etcd the rule belongs to.
pub fn hash_kv(db: &Db<'_>, rev: i64, rule: TombstoneRule) -> Result<HashKv> {
    hash_kv_with(db, rev, rule, true)
}

/// [`hash_kv`]; with `need_keep_len` false, a never-compacted db (compact
/// revision < 1, so `keep` cannot matter) is hashed in one pass instead of
/// two, and `keep_len` is reported as 0. The cursor-based reference for
/// [`hash_kv_walk`], which `hashkv` and `compare` run.
pub fn hash_kv_with(
    db: &Db<'_>,
    rev: i64,
    rule: TombstoneRule,
    need_keep_len: bool,
) -> Result<HashKv> {
    let (compact, scheduled) = hashable(db, rev, rule)?;
    let at = if rev > 0 { rev } else { i64::MAX };
    let one_pass = !need_keep_len && compact < 1 && rev > 0;
    let (keep, keep_len, last_main) = if one_pass {
        (HashSet::new(), 0, 1)
    } else {
        keep_at(db, at, compact)?
    };
    let current = last_main.max(compact).max(scheduled.unwrap_or(0));
    if rev > current && !one_pass {
        return Err(Error::new(ErrorKind::FutureRevision { rev, current }));
    }
    let at = if rev > 0 { rev } else { current };
    let mut last_main = last_main;
    let mut crc = crc32c::crc32c(schema::KEY);
    let mut rules_differ = false;
    if let Some(bucket) = db.bucket(schema::KEY)? {
        for e in bucket.cursor(db) {
            let e = e?;
            let r = rev_of(e.key).ok_or_else(|| bad_rev(e.key))?;
            last_main = r.main;
            if r.main > at {
                continue;
            }
            if r.main <= compact && keep_len > 0 && !keep.contains(&r) {
                continue;
            }
            if r.main == compact && is_tombstone(e.key) {
                rules_differ = true;
                if rule == TombstoneRule::V3516 {
                    continue;
                }
            }
            crc = crc32c::crc32c_append(crc, e.key);
            crc = crc32c::crc32c_append(crc, e.value);
        }
    }
    let current = last_main.max(compact).max(scheduled.unwrap_or(0));
    if rev > current {
        return Err(Error::new(ErrorKind::FutureRevision { rev, current }));
    }
    Ok(HashKv {
        hash: crc,
        hash_revision: at,
        compact_revision: compact,
        current_revision: current,
        rule,
        rules_differ,
        keep_len,
    })
}

/// The compact revision (-1 if none) and the scheduled one, after etcd's
/// check that `rev` (0: current) was not compacted away under `rule`.
fn hashable(db: &Db<'_>, rev: i64, rule: TombstoneRule) -> Result<(i64, Option<i64>)> {
    let (finished, scheduled) = compact_revisions(db)?;
    let compact = finished.unwrap_or(-1).max(scheduled.unwrap_or(-1));
    let compacted = match rule {
        TombstoneRule::Legacy => rev > 0 && rev <= compact,
        TombstoneRule::V3516 => rev > 0 && rev < compact,
    };
    if compacted {
        return Err(Error::new(ErrorKind::Compacted {
            rev,
            compact_rev: compact,
        }));
    }
    Ok((compact, scheduled))
}

/// [`hash_kv`] by the parallel structural walk: the `keep` pass only when the
/// db was compacted, then one walk of every page with a [`HashKvVisitor`]
/// (whole leaf pages hashed at once). What `hashkv` runs; a damaged db is an
/// error naming what the structural check found.
pub fn hash_kv_walk(
    db: &Db<'_>,
    rev: i64,
    rule: TombstoneRule,
    progress: crate::formats::bbolt::Progress<'_>,
) -> Result<HashKv> {
    let (compact, scheduled) = hashable(db, rev, rule)?;
    // An empty store is at revision 1, as etcd starts.
    let current = last_revision(db)?
        .unwrap_or(1)
        .max(compact)
        .max(scheduled.unwrap_or(0));
    if rev > current {
        return Err(Error::new(ErrorKind::FutureRevision { rev, current }));
    }
    let at = if rev > 0 { rev } else { current };
    let plan = HashKvPlan::after_check(db, at, rule, compact)?;
    let mut visitor = HashKvVisitor::new(&plan);
    let report = crate::formats::bbolt::walk_observed(db, &mut visitor, progress);
    if !report.findings.is_empty() {
        return Err(Error::new(ErrorKind::IntegrityCheckFailed(
            report.messages(),
        )));
    }
    let Some(hash) = visitor.hash() else {
        return Err(Error::new(ErrorKind::Schema(
            "bucket key: a key is not a revision key (shorter than 17 bytes)".into(),
        )));
    };
    Ok(HashKv {
        hash,
        hash_revision: at,
        compact_revision: compact,
        current_revision: current,
        rule,
        rules_differ: compact >= 1 && tombstone_at(db, compact, &plan)?,
        keep_len: plan.keep_len,
    })
}

/// Whether the `key` bucket holds a tombstone with main revision `main` that
/// the hash would take (where the two tombstone rules give different
/// hashes): one seek.
fn tombstone_at(db: &Db<'_>, main: i64, plan: &HashKvPlan) -> Result<bool> {
    let Some(bucket) = db.bucket(schema::KEY)? else {
        return Ok(false);
    };
    let mut cursor = bucket.cursor(db);
    cursor.seek(&main.to_be_bytes())?;
    for e in cursor {
        let e = e?;
        match rev_of(e.key) {
            Some(r) if r.main == main => {
                let kept = plan.keep_len == 0 || plan.keep.contains(&r);
                if is_tombstone(e.key) && kept {
                    return Ok(true);
                }
            }
            _ => return Ok(false),
        }
    }
    Ok(false)
}

/// Main revision of the last key of the `key` bucket (`snapshot status`
/// REVISION), found by descending the rightmost path: a few pages, not a walk.
/// `None` when the bucket is absent or empty.
pub fn last_revision(db: &Db<'_>) -> Result<Option<i64>> {
    let Some(bucket) = db.bucket(schema::KEY)? else {
        return Ok(None);
    };
    let last = bucket.cursor(db).last_entry()?;
    Ok(last.and_then(|e| rev_of(e.key)).map(|r| r.main))
}

/// What [`HashKvVisitor`] needs besides the entries: the revision, the
/// compact revision, `keep` at the revision (only when compacted) and the rule.
#[derive(Debug)]
pub struct HashKvPlan {
    /// Hash at this revision.
    pub rev: i64,
    /// Compact revision (-1 if never compacted).
    pub compact: i64,
    /// keep(rev) restricted to main ≤ compact; empty when never compacted.
    pub keep: HashSet<Revision>,
    /// Size of keep(rev) (0 when never compacted: then it cannot matter).
    pub keep_len: u64,
    /// Tombstone rule.
    pub rule: TombstoneRule,
}

impl HashKvPlan {
    /// Plans HashKV at `rev` (> 0): reads the compact revisions and, when the
    /// db was compacted, runs the `keep` pass.
    pub fn new(db: &Db<'_>, rev: i64, rule: TombstoneRule) -> Result<HashKvPlan> {
        let (finished, scheduled) = compact_revisions(db)?;
        let compact = finished.unwrap_or(-1).max(scheduled.unwrap_or(-1));
        let compacted = match rule {
            TombstoneRule::Legacy => rev <= compact,
            TombstoneRule::V3516 => rev < compact,
        };
        if compacted {
            return Err(Error::new(ErrorKind::Compacted {
                rev,
                compact_rev: compact,
            }));
        }
        Self::after_check(db, rev, rule, compact)
    }

    /// The plan once the revision was found hashable (etcd checks the
    /// revision asked for, before 0 becomes the current one).
    fn after_check(db: &Db<'_>, rev: i64, rule: TombstoneRule, compact: i64) -> Result<HashKvPlan> {
        let (keep, keep_len) = if compact < 1 {
            (HashSet::new(), 0)
        } else {
            let (k, n, _) = keep_at(db, rev, compact)?;
            (k, n)
        };
        Ok(HashKvPlan {
            rev,
            compact,
            keep,
            keep_len,
            rule,
        })
    }
}

/// HashKV computed while the status walk visits the `key` bucket (one walk
/// for both hashes). Forks hash later key ranges; joins combine the CRCs.
#[derive(Debug)]
pub struct HashKvVisitor<'p> {
    plan: &'p HashKvPlan,
    in_key: bool,
    crc: u32,
    len: u64,
    problem: bool,
}

impl<'p> HashKvVisitor<'p> {
    /// A visitor for `plan`.
    pub fn new(plan: &'p HashKvPlan) -> Self {
        HashKvVisitor {
            plan,
            in_key: false,
            crc: 0,
            len: 0,
            problem: false,
        }
    }

    /// The HashKV, or `None` when a key was not a revision key.
    pub fn hash(&self) -> Option<u32> {
        if self.problem {
            return None;
        }
        let prefix = crc32c::crc32c(schema::KEY);
        let len = usize::try_from(self.len).ok()?;
        Some(crc32c::crc32c_combine(prefix, self.crc, len))
    }
}

impl<'a> crate::formats::bbolt::Visitor<'a> for HashKvVisitor<'_> {
    fn top_level(&mut self, name: &'a [u8], _is_bucket: bool) {
        self.in_key = name == schema::KEY;
    }

    fn entry(&mut self, key: &'a [u8], value: Option<&'a [u8]>) {
        if !self.in_key {
            return;
        }
        let Some(r) = rev_of(key) else {
            self.problem = true;
            return;
        };
        let p = self.plan;
        if r.main > p.rev {
            return;
        }
        if r.main <= p.compact && p.keep_len > 0 && !p.keep.contains(&r) {
            return;
        }
        if r.main == p.compact && is_tombstone(key) && p.rule == TombstoneRule::V3516 {
            return;
        }
        let v = value.unwrap_or(&[]);
        self.crc = crc32c::crc32c_append(crc32c::crc32c_append(self.crc, key), v);
        self.len = self
            .len
            .saturating_add(crate::bytes::to_u64(key.len()))
            .saturating_add(crate::bytes::to_u64(v.len()));
    }

    fn takes_packed(&self, run: &crate::formats::bbolt::LeafRun<'a>) -> bool {
        if !self.in_key {
            return true;
        }
        // Every revision of the page is hashed: all within (compact, rev].
        let p = self.plan;
        run.min_key_len >= 17
            && rev_of(run.first).is_some_and(|r| r.main > p.compact)
            && rev_of(run.last).is_some_and(|r| r.main <= p.rev)
    }

    fn packed(&mut self, run: &crate::formats::bbolt::LeafRun<'a>) {
        if !self.in_key {
            return;
        }
        self.crc = crc32c::crc32c_append(self.crc, run.bytes);
        self.len = self
            .len
            .saturating_add(crate::bytes::to_u64(run.bytes.len()));
    }

    fn fork(&self) -> Self {
        HashKvVisitor {
            plan: self.plan,
            in_key: self.in_key,
            crc: 0,
            len: 0,
            problem: false,
        }
    }

    fn join(&mut self, later: Self) {
        // Most forks hash nothing (other buckets) or follow an empty one:
        // skip the combine, which costs more than hashing a small page.
        if self.len == 0 {
            self.crc = later.crc;
        } else if later.len > 0 {
            let len2 = usize::try_from(later.len).unwrap_or(usize::MAX);
            self.crc = crc32c::crc32c_combine(self.crc, later.crc, len2);
        }
        self.len = self.len.saturating_add(later.len);
        self.problem |= later.problem;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Cursor;

    use super::*;
    use crate::formats::bbolt::write::{DbWriter, WriterOptions};

    fn kv(key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut out = vec![0x0a, u8::try_from(key.len()).unwrap()];
        out.extend_from_slice(key);
        if !value.is_empty() {
            out.push(0x2a);
            out.push(u8::try_from(value.len()).unwrap());
            out.extend_from_slice(value);
        }
        out
    }

    /// (main, tombstone, user key); sub always 0.
    fn db(ops: &[(i64, bool, &str)], finished: Option<i64>) -> Vec<u8> {
        let mut w = DbWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
        w.begin_bucket(b"key").unwrap();
        let mut m = BTreeMap::new();
        for (main, t, k) in ops {
            let mut key = Revision {
                main: *main,
                sub: 0,
            }
            .to_key()
            .to_vec();
            if *t {
                key.push(b't');
            }
            m.insert(key, kv(k.as_bytes(), if *t { b"" } else { b"v" }));
        }
        for (k, v) in &m {
            w.put(k, v).unwrap();
        }
        w.begin_bucket(b"meta").unwrap();
        if let Some(f) = finished {
            w.put(
                b"finishedCompactRev",
                &Revision { main: f, sub: 0 }.to_key(),
            )
            .unwrap();
        }
        w.finish().unwrap().0.into_inner()
    }

    fn keep(bytes: &[u8], at: i64) -> Vec<i64> {
        let d = Db::open(bytes).unwrap();
        let (set, n, _) = keep_at(&d, at, i64::MAX).unwrap();
        let mut v: Vec<i64> = set.into_iter().map(|r| r.main).collect();
        v.sort_unstable();
        assert_eq!(n, v.len() as u64);
        v
    }

    #[test]
    fn keep_follows_generations() {
        // a: put 2, put 3, del 4, put 5; b: put 3? (one rev per main here)
        let b = db(
            &[
                (2, false, "a"),
                (3, false, "a"),
                (4, true, "a"),
                (5, false, "a"),
                (6, false, "b"),
                (7, true, "b"),
            ],
            None,
        );
        assert_eq!(keep(&b, 3), vec![3]);
        assert_eq!(keep(&b, 4), Vec::<i64>::new()); // a's gen 0 closed at 4 ≤ R: gen 1 has nothing ≤ 4
        assert_eq!(keep(&b, 5), vec![5]);
        assert_eq!(keep(&b, 6), vec![5, 6]);
        assert_eq!(keep(&b, 7), vec![5]);
        assert_eq!(keep(&b, 1), Vec::<i64>::new());
    }

    #[test]
    fn first_record_tombstone_and_double_delete() {
        let b = db(&[(5, true, "x"), (6, false, "x"), (7, true, "y")], None);
        assert_eq!(keep(&b, 5), Vec::<i64>::new());
        assert_eq!(keep(&b, 6), vec![6]);
    }

    #[test]
    fn visitor_in_the_walk_equals_hash_kv() {
        let cases = [
            db(&[(2, false, "a"), (3, true, "a"), (4, false, "b")], Some(3)),
            db(&[(2, false, "a"), (3, true, "a")], Some(3)),
            db(
                &[
                    (2, false, "a"),
                    (3, false, "a"),
                    (4, true, "a"),
                    (5, false, "a"),
                    (6, false, "b"),
                ],
                Some(4),
            ),
            db(&[(2, false, "a"), (3, false, "b"), (4, true, "a")], None),
        ];
        // Several leaf pages, so whole pages take the packed path and the
        // pages holding the compact or hash revision take the per-entry one.
        let names: Vec<String> = (0..10).map(|i| format!("key-{i}")).collect();
        let many: Vec<(i64, bool, &str)> = (2..400)
            .map(|r| (r, r % 7 == 0, names[(r % 10) as usize].as_str()))
            .collect();
        let cases = [cases.as_slice(), &[db(&many, Some(150)), db(&many, None)]].concat();
        let big = Db::open(cases.last().unwrap()).unwrap();
        assert!(big.meta().pgid > 8, "pages: {}", big.meta().pgid);
        for b in &cases {
            let d = Db::open(b).unwrap();
            let current = last_revision(&d).unwrap().unwrap();
            // rev 0 means the current revision, hashable even when it is the
            // compact revision under the legacy rule.
            for rule in [TombstoneRule::V3516, TombstoneRule::Legacy] {
                let want = hash_kv(&d, 0, rule).unwrap();
                let walked = hash_kv_walk(&d, 0, rule, &|_| {}).unwrap();
                assert_eq!(
                    (walked.hash, walked.hash_revision, walked.rules_differ),
                    (want.hash, want.hash_revision, want.rules_differ)
                );
            }
            for rev in 1..=current {
                for rule in [TombstoneRule::V3516, TombstoneRule::Legacy] {
                    let Ok(want) = hash_kv(&d, rev, rule) else {
                        assert!(HashKvPlan::new(&d, rev, rule).is_err());
                        continue;
                    };
                    let plan = HashKvPlan::new(&d, rev, rule).unwrap();
                    let mut v = HashKvVisitor::new(&plan);
                    let report = crate::formats::bbolt::walk(&d, &mut v);
                    assert!(report.findings.is_empty());
                    assert_eq!(v.hash(), Some(want.hash), "rev {rev} {rule:?}");
                    let one = hash_kv_with(&d, rev, rule, false).unwrap();
                    assert_eq!(one.hash, want.hash);
                    let walked = hash_kv_walk(&d, rev, rule, &|_| {}).unwrap();
                    assert_eq!(
                        (walked.hash, walked.hash_revision, walked.compact_revision),
                        (want.hash, want.hash_revision, want.compact_revision)
                    );
                    assert_eq!(walked.current_revision, want.current_revision);
                    assert_eq!(walked.rules_differ, want.rules_differ, "rev {rev}");
                }
            }
        }
    }

    #[test]
    fn errors_and_rules() {
        let b = db(&[(2, false, "a"), (3, true, "a"), (4, false, "b")], Some(3));
        let d = Db::open(&b).unwrap();
        let e = hash_kv(&d, 2, TombstoneRule::V3516).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Compacted { .. }));
        assert!(hash_kv(&d, 3, TombstoneRule::V3516).is_ok());
        assert!(hash_kv(&d, 3, TombstoneRule::Legacy).is_err());
        let e = hash_kv(&d, 9, TombstoneRule::V3516).unwrap_err();
        assert!(matches!(
            e.kind,
            ErrorKind::FutureRevision { current: 4, .. }
        ));
        let new = hash_kv(&d, 0, TombstoneRule::V3516).unwrap();
        let old = hash_kv(&d, 0, TombstoneRule::Legacy).unwrap();
        // keep(4) = {4}: 2 and the tombstone 3 (≤ C, not kept) are skipped by
        // both rules, so they agree.
        assert!(!new.rules_differ);
        assert_eq!(new.hash, old.hash);
        assert_eq!((new.hash_revision, new.compact_revision), (4, 3));
        // Every key deleted: keep is empty, nothing is skipped for compaction,
        // and only the 3.5.16 rule leaves the tombstone at C out.
        let b = db(&[(2, false, "a"), (3, true, "a")], Some(3));
        let d = Db::open(&b).unwrap();
        let new = hash_kv(&d, 0, TombstoneRule::V3516).unwrap();
        let old = hash_kv(&d, 0, TombstoneRule::Legacy).unwrap();
        assert!(new.rules_differ && new.keep_len == 0);
        assert_ne!(new.hash, old.hash);
    }
}
