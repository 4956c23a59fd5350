//! etcd's compaction, offline: which revisions of the `key` bucket a
//! compaction at revision R keeps, and the compact rewrite of a whole db
//! (compacted or not: the offline `defrag`).
//!
//! ```text
//! key index, per user key, rebuilt in revision order as etcd's restore does
//! (kvstore.go restoreIntoIndex, key_index.go):
//!   put                   → append to the last generation
//!   tombstone             → append, then open a new empty generation
//!   first record a tomb   → a one-revision generation + an empty one
//!   tomb on an empty gen  → ignored (ErrRevisionNotFound, logged by etcd)
//! compact(R) per key (key_index.go doCompact/compact, treeIndex.Compact):
//!   generation = the first whose last revision has main ≥ R, else the last;
//!   kept       = its newest revision with main ≤ R, if any
//!   ⇒ kept = the key's last effective record with main ≤ R, unless that is a
//!     tombstone with main < R (the key's history ends there: nothing kept);
//!     a tombstone at exactly R is kept by etcd 3.5.16+, 3.4.34+ and 3.6+
//!     (dropped at the next compaction); etcd before those ("legacy",
//!     keyIndex.compact's "remove any tombstone") drops it at once. Either way
//!     the keyspace at every revision ≥ R is the same; the stored history and
//!     HashKV under the other version's rule are not.
//! the db (kvstore_compaction.go scheduleCompaction): every record with
//!   main ≤ R not kept is deleted; records with main > R are untouched;
//!   meta/scheduledCompactRev = meta/finishedCompactRev = {R, 0} (17 bytes)
//! refused (kvstore.go updateCompactRev): R ≤ compact revision
//!   ("mvcc: required revision has been compacted"), R > current revision
//!   ("mvcc: required revision is a future revision")
//! ```
//! Two streaming passes over the `key` bucket in revision order. Pass 1
//! (records with main ≤ R only) keeps one slot per distinct user key, keyed
//! by a 128-bit hash of the key (two SipHash-1-3 digests; a collision between
//! two keys of one db has odds of about n²/2¹²⁹, 10⁻²⁷ for a million keys) so
//! that neither key bytes nor pages of the map are held: 40 bytes a key. It
//! yields the kept revisions, sorted (16 bytes a key). Pass 2 copies every
//! bucket into the [`DbWriter`], merging the `key` bucket against that list.
//! Source: etcd v3.5.36 and v3.6.17 `server/mvcc` / `server/storage/mvcc`
//! (`kvstore.go`, `kvstore_compaction.go`, `index.go`, `key_index.go`);
//! checked against live etcd 3.5.1 (legacy rule), 3.5.36 and 3.6.17
//! (`etcdctl compact` + `defrag`).

use std::collections::HashMap;
use std::io::{Seek, Write};

use prost::Message;
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::formats::bbolt::write::{DbWriter, WriteSummary, WriterOptions};
use crate::formats::bbolt::{Bucket, Db};
use crate::formats::proto::etcdserverpb::AlarmMember;

use super::keyhash::{hash128, BuildPreHashed};
use super::keyspace::{Records, Revisions, RELEASE_EVERY};
use super::mvcc::TombstoneRule;
use super::revision::{self, Revision};
use super::schema::{self, meta_key};

/// etcd's `AlarmType_NOSPACE`.
pub const ALARM_NOSPACE: i32 = 1;

/// Checks a compaction at `rev` as etcd's `updateCompactRev` does; returns
/// the revision to compact at (`rev` 0 means the current revision).
pub fn resolve_rev(revs: &Revisions, rev: i64) -> Result<i64> {
    if rev < 0 {
        return Err(Error::new(ErrorKind::Usage(format!(
            "--rev {rev}: a revision is at least 1 (0 means the current revision)"
        ))));
    }
    let at = if rev == 0 { revs.current } else { rev };
    if at > revs.current {
        return Err(Error::new(ErrorKind::Refused(format!(
            "mvcc: required revision is a future revision: --rev {at} is past the current \
             revision {}; give a revision up to {} (0 means the current one)",
            revs.current, revs.current
        ))));
    }
    // etcd's compactMainRev is -1 until the first compaction; `compact` is 0 then.
    let compacted = revs.finished_compact.is_some() || revs.scheduled_compact.is_some();
    if compacted && at <= revs.compact {
        return Err(Error::new(ErrorKind::Refused(format!(
            "mvcc: required revision has been compacted: the db is already compacted at \
             revision {}; give a revision above it (up to the current {}), or rewrite it \
             without compacting with `etcd-rescue defrag`",
            revs.compact, revs.current
        ))));
    }
    Ok(at)
}

/// Per user key, pass 1's state: the last effective record with main ≤ R.
#[derive(Debug, Clone, Copy)]
struct Slot {
    rev: Revision,
    tombstone: bool,
    /// The key's last generation holds revisions (a tombstone closes it).
    open: bool,
}

/// What a compaction at R keeps below and at R.
#[derive(Debug, Clone, Default)]
pub struct Keep {
    /// The revision compacted at.
    pub at: i64,
    /// Kept revisions (main ≤ `at`), sorted: one per key at most.
    pub revs: Vec<Revision>,
    /// Distinct user keys with a record at or below `at`.
    pub keys_seen: u64,
    /// Records with main ≤ `at` (all of them, kept or not).
    pub records_le: u64,
    /// Kept revisions that are tombstones (at exactly `at`).
    pub tombstones_kept: u64,
    /// Tombstones etcd's index ignores (on a key already deleted).
    pub ignored_tombstones: u64,
}

/// Pass 1: which revisions a compaction at `at` keeps, as the etcd of
/// `rule` compacts. `release` is called every [`RELEASE_EVERY`] records (to
/// drop the mapped pages read so far).
pub fn keep_at(db: &Db<'_>, at: i64, rule: TombstoneRule, release: &dyn Fn()) -> Result<Keep> {
    let mut slots: HashMap<u128, Slot, BuildPreHashed> = HashMap::default();
    let mut keep = Keep {
        at,
        ..Keep::default()
    };
    for r in Records::new(db, at)? {
        let r = r?;
        keep.records_le += 1;
        if keep.records_le % RELEASE_EVERY == 0 {
            release();
        }
        let h = hash128(r.kv.key);
        match slots.get_mut(&h) {
            None => {
                // restore / restoreTombstone: a tombstone first is a
                // one-revision generation followed by an empty one.
                slots.insert(
                    h,
                    Slot {
                        rev: r.rev,
                        tombstone: r.tombstone,
                        open: !r.tombstone,
                    },
                );
            }
            Some(s) if r.tombstone && !s.open => keep.ignored_tombstones += 1,
            Some(s) => {
                s.rev = r.rev;
                s.tombstone = r.tombstone;
                s.open = !r.tombstone;
            }
        }
    }
    keep.keys_seen = crate::bytes::to_u64(slots.len());
    let mut revs = Vec::new();
    for s in slots.into_values() {
        if !s.tombstone {
            revs.push(s.rev);
        } else if s.rev.main == at && rule == TombstoneRule::V3516 {
            revs.push(s.rev);
            keep.tombstones_kept += 1;
        }
    }
    revs.sort_unstable();
    keep.revs = revs;
    Ok(keep)
}

/// What the rewrite changes besides the layout.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rewrite<'k> {
    /// Compact the `key` bucket with this plan (None: copy it whole).
    pub compact: Option<&'k Keep>,
    /// Drop NOSPACE alarm records from the `alarm` bucket.
    pub disarm: bool,
}

/// A removed alarm record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RemovedAlarm {
    /// The member that raised it.
    #[serde(serialize_with = "crate::formats::proto::text::hex_id")]
    pub member_id: u64,
    /// The alarm (always NOSPACE).
    pub alarm: &'static str,
}

/// What [`rewrite_db`] did.
#[derive(Debug, Clone, Serialize)]
pub struct RewriteStats {
    /// `key` bucket records read.
    pub records_before: u64,
    /// `key` bucket records written.
    pub records_after: u64,
    /// Records removed by the compaction (all with main ≤ R).
    pub records_dropped: u64,
    /// Bytes (key + value) of the removed records.
    pub bytes_dropped: u64,
    /// NOSPACE alarm records removed (`--disarm`).
    pub alarms_removed: Vec<RemovedAlarm>,
    /// Alarm records left in the `alarm` bucket.
    pub alarms_left: u64,
    /// The new file.
    pub written: WriteSummary,
}

fn schema_err(msg: String) -> Error {
    Error::new(ErrorKind::Schema(msg))
}

/// Pass 2: copies every top-level bucket of `db` into a new compact file on
/// `out` (no free pages), applying `what`. With a compaction, the meta
/// bucket gets both compaction marks at R. `release` as in [`keep_at`].
pub fn rewrite_db<W: Write + Seek>(
    db: &Db<'_>,
    what: Rewrite<'_>,
    out: W,
    release: &dyn Fn(),
) -> Result<(W, RewriteStats)> {
    let mut w = DbWriter::new(out, WriterOptions::like(db))?;
    let mut st = RewriteStats {
        records_before: 0,
        records_after: 0,
        records_dropped: 0,
        bytes_dropped: 0,
        alarms_removed: Vec::new(),
        alarms_left: 0,
        written: WriteSummary {
            page_size: 0,
            pgid: 0,
            root: 0,
            file_len: 0,
            buckets: 0,
            inline_buckets: 0,
            entries: 0,
            leaf_pages: 0,
            branch_pages: 0,
        },
    };
    let mark = what
        .compact
        .map(|k| Revision { main: k.at, sub: 0 }.to_key());
    let mut saw_meta = false;
    let mut n = 0u64;
    let mut tick = || {
        n += 1;
        if n % RELEASE_EVERY == 0 {
            release();
        }
    };
    for top in db.root_bucket().cursor(db) {
        let top = top?;
        if !top.is_bucket() {
            return Err(schema_err(format!(
                "top-level key {} is not a bucket; etcd never writes one (run `etcd-rescue check`)",
                String::from_utf8_lossy(top.key)
            )));
        }
        let name = top.key;
        let bucket = Bucket::from_value(name, top.value)?;
        w.begin_bucket(name)?;
        w.set_sequence(bucket.sequence);
        let is_key = name == schema::KEY;
        let is_meta = name == schema::META;
        saw_meta |= is_meta;
        // Meta keys to set, in key order ("finishedCompactRev" < "scheduledCompactRev").
        let mut pending: Vec<(&[u8], &[u8])> = match (&mark, is_meta) {
            (Some(m), true) => vec![
                (meta_key::FINISHED_COMPACT_REV, m.as_slice()),
                (meta_key::SCHEDULED_COMPACT_REV, m.as_slice()),
            ],
            _ => Vec::new(),
        };
        let mut kept = what.compact.map(|k| k.revs.iter().peekable());
        for e in bucket.cursor(db) {
            let e = e?;
            tick();
            if e.is_bucket() {
                return Err(schema_err(format!(
                    "bucket {}: key {} is a nested bucket; etcd never writes one (run `etcd-rescue check`)",
                    String::from_utf8_lossy(name),
                    crate::bytes::hex(e.key)
                )));
            }
            if is_key {
                st.records_before += 1;
                if let (Some(k), Some(kept)) = (what.compact, kept.as_mut()) {
                    let rk = revision::parse(e.key).map_err(|err| {
                        schema_err(format!(
                            "key bucket: key {}: {err}",
                            crate::bytes::hex(e.key)
                        ))
                    })?;
                    if rk.rev.main <= k.at {
                        while kept.next_if(|r| **r < rk.rev).is_some() {}
                        if kept.peek().is_none_or(|r| **r != rk.rev) {
                            st.records_dropped += 1;
                            st.bytes_dropped = st
                                .bytes_dropped
                                .saturating_add(crate::bytes::to_u64(e.key.len() + e.value.len()));
                            continue;
                        }
                    }
                }
                st.records_after += 1;
            } else if is_meta && mark.is_some() {
                while let Some(&(pk, pv)) = pending.first() {
                    if pk > e.key {
                        break;
                    }
                    w.put(pk, pv)?;
                    pending.remove(0);
                }
                if e.key == meta_key::FINISHED_COMPACT_REV
                    || e.key == meta_key::SCHEDULED_COMPACT_REV
                {
                    continue;
                }
            } else if name == schema::ALARM {
                match AlarmMember::decode(e.key) {
                    Ok(a) if what.disarm && a.alarm == ALARM_NOSPACE => {
                        st.alarms_removed.push(RemovedAlarm {
                            member_id: a.member_id,
                            alarm: "NOSPACE",
                        });
                        continue;
                    }
                    _ => st.alarms_left += 1,
                }
            }
            w.put(e.key, e.value)?;
        }
        for (pk, pv) in pending {
            w.put(pk, pv)?;
        }
    }
    if mark.is_some() && !saw_meta {
        return Err(schema_err(
            "the db has no meta bucket: not an etcd db (run `etcd-rescue check`)".into(),
        ));
    }
    let (out, written) = w.finish()?;
    st.written = written;
    Ok((out, st))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Cursor;

    use super::*;

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
    fn db(ops: &[(i64, bool, &str)], finished: Option<i64>, alarms: &[(u64, i32)]) -> Vec<u8> {
        let mut w = DbWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
        let mut alarm = std::collections::BTreeSet::new();
        for (id, a) in alarms {
            let mut k = Vec::new();
            prost::Message::encode(
                &AlarmMember {
                    member_id: *id,
                    alarm: *a,
                },
                &mut k,
            )
            .unwrap();
            alarm.insert(k);
        }
        w.begin_bucket(b"alarm").unwrap();
        for k in &alarm {
            w.put(k, b"").unwrap();
        }
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
        w.put(b"consistent_index", &9u64.to_be_bytes()).unwrap();
        if let Some(f) = finished {
            let m = Revision { main: f, sub: 0 }.to_key();
            w.put(b"finishedCompactRev", &m).unwrap();
            w.put(b"scheduledCompactRev", &m).unwrap();
        }
        w.put(b"term", &2u64.to_be_bytes()).unwrap();
        w.finish().unwrap().0.into_inner()
    }

    fn kept(bytes: &[u8], at: i64) -> Vec<i64> {
        let d = Db::open(bytes).unwrap();
        keep_at(&d, at, TombstoneRule::V3516, &|| {})
            .unwrap()
            .revs
            .iter()
            .map(|r| r.main)
            .collect()
    }

    #[test]
    fn keep_follows_etcd_generations() {
        let ops = [
            (2, false, "a"),
            (3, false, "a"),
            (4, true, "a"),
            (5, false, "a"),
            (6, false, "b"),
            (7, true, "b"),
            (8, false, "c"),
        ];
        let b = db(&ops, None, &[]);
        assert_eq!(kept(&b, 3), vec![3]);
        // The tombstone at exactly R stays (compact, unlike keep for the hash).
        assert_eq!(kept(&b, 4), vec![4]);
        assert_eq!(kept(&b, 5), vec![5]);
        assert_eq!(kept(&b, 6), vec![5, 6]);
        assert_eq!(kept(&b, 7), vec![5, 7]);
        assert_eq!(kept(&b, 8), vec![5, 8]);
        // etcd before 3.5.16 drops the tombstone at R too.
        let d = Db::open(&b).unwrap();
        let legacy = keep_at(&d, 4, TombstoneRule::Legacy, &|| {}).unwrap();
        assert!(legacy.revs.is_empty() && legacy.tombstones_kept == 0);
        let legacy = keep_at(&d, 7, TombstoneRule::Legacy, &|| {}).unwrap();
        assert_eq!(legacy.revs, vec![Revision { main: 5, sub: 0 }]);
    }

    #[test]
    fn tombstone_first_and_double_delete() {
        // x: a tombstone first (left by an earlier compaction), a put, a delete,
        // and a second delete etcd's index ignores.
        let b = db(
            &[
                (5, true, "x"),
                (6, false, "x"),
                (7, true, "x"),
                (8, true, "x"),
            ],
            Some(5),
            &[],
        );
        assert_eq!(kept(&b, 5), vec![5]);
        assert_eq!(kept(&b, 6), vec![6]);
        assert_eq!(kept(&b, 7), vec![7]);
        assert_eq!(kept(&b, 8), Vec::<i64>::new());
        let d = Db::open(&b).unwrap();
        assert_eq!(
            keep_at(&d, 8, TombstoneRule::V3516, &|| {})
                .unwrap()
                .ignored_tombstones,
            1
        );
    }

    fn rewrite(bytes: &[u8], at: Option<i64>, disarm: bool) -> (Vec<u8>, RewriteStats) {
        let d = Db::open(bytes).unwrap();
        let keep = at.map(|a| keep_at(&d, a, TombstoneRule::V3516, &|| {}).unwrap());
        let (out, st) = rewrite_db(
            &d,
            Rewrite {
                compact: keep.as_ref(),
                disarm,
            },
            Cursor::new(Vec::new()),
            &|| {},
        )
        .unwrap();
        (out.into_inner(), st)
    }

    fn entries(bytes: &[u8], bucket: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let d = Db::open(bytes).unwrap();
        let b = d.bucket(bucket).unwrap().unwrap();
        b.cursor(&d)
            .map(|e| {
                let e = e.unwrap();
                (e.key.to_vec(), e.value.to_vec())
            })
            .collect()
    }

    #[test]
    fn rewrite_compacts_marks_and_disarms() {
        let ops = [
            (2, false, "a"),
            (3, false, "a"),
            (4, true, "a"),
            (5, false, "b"),
            (6, false, "b"),
        ];
        let b = db(&ops, None, &[(7, ALARM_NOSPACE), (8, 2)]);
        let (out, st) = rewrite(&b, Some(5), true);
        let d = Db::open(&out).unwrap();
        assert!(crate::formats::bbolt::check(&d).findings.is_empty());
        let mains: Vec<i64> = entries(&out, b"key")
            .iter()
            .map(|(k, _)| revision::main_of(k).unwrap())
            .collect();
        assert_eq!(mains, vec![5, 6]);
        assert_eq!((st.records_before, st.records_dropped), (5, 3));
        let meta: BTreeMap<Vec<u8>, Vec<u8>> = entries(&out, b"meta").into_iter().collect();
        let m = Revision { main: 5, sub: 0 }.to_key().to_vec();
        assert_eq!(meta[&b"finishedCompactRev".to_vec()], m);
        assert_eq!(meta[&b"scheduledCompactRev".to_vec()], m);
        assert_eq!(meta.len(), 4);
        assert_eq!(st.alarms_removed.len(), 1);
        assert_eq!(st.alarms_removed[0].member_id, 7);
        assert_eq!(st.alarms_left, 1);
        assert_eq!(entries(&out, b"alarm").len(), 1);

        // Already compacted: the marks are replaced, not duplicated.
        let b = db(&ops, Some(3), &[]);
        let (out, _) = rewrite(&b, Some(6), false);
        let meta = entries(&out, b"meta");
        assert_eq!(meta.len(), 4);
        assert_eq!(meta[1].1, Revision { main: 6, sub: 0 }.to_key().to_vec());

        // Defrag: every record stays, nothing else changes.
        let (out, st) = rewrite(&b, None, false);
        assert_eq!(st.records_dropped, 0);
        for name in [&b"key"[..], b"meta", b"alarm"] {
            assert_eq!(entries(&out, name), entries(&b, name));
        }
    }

    #[test]
    fn refusals_follow_etcd() {
        let r = Revisions {
            current: 10,
            compact: 4,
            finished_compact: Some(4),
            scheduled_compact: Some(4),
        };
        assert_eq!(resolve_rev(&r, 0).unwrap(), 10);
        assert_eq!(resolve_rev(&r, 5).unwrap(), 5);
        for bad in [4, 3, 11] {
            let e = resolve_rev(&r, bad).unwrap_err().to_string();
            assert!(e.contains("mvcc: required revision"), "{e}");
        }
        let fresh = Revisions {
            current: 10,
            compact: 0,
            finished_compact: None,
            scheduled_compact: None,
        };
        assert_eq!(resolve_rev(&fresh, 1).unwrap(), 1);
    }
}
