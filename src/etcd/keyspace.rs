//! The user keyspace as etcd serves it at a revision, from one streaming pass
//! over the `key` bucket.
//!
//! ```text
//! key bucket, in bbolt key order = revision order:
//!   {main, sub}      -> KeyValue{key, create, mod, version, value, lease}   a put
//!   {main, sub} 't'  -> KeyValue{key}                                       a delete
//! state at R = for each user key, its newest record with main <= R;
//!              the key exists at R iff that record is a put.
//! ```
//! This is what etcd's `treeIndex.Range(rev)` answers (`key_index.go:get`: the
//! generation that holds R, nothing if R falls after that generation's
//! tombstone). Compaction removes, for every key, all records ≤ compactRev but
//! the newest (and that one too when it is a tombstone), so the rule stays
//! right for every R ≥ compactRev and is wrong below it — hence etcd's refusal.
//!
//! Revision rules (etcd `kvstore_txn.go:rangeKeys`, `kvstore.go:restore`, 3.5):
//! - current revision = max(main of the last record, `finishedCompactRev`,
//!   `scheduledCompactRev`, 1) (a fresh store is at revision 1);
//! - compact revision = `finishedCompactRev`, or `scheduledCompactRev` when it is
//!   larger (etcd re-runs an unfinished compaction on startup), 0 if neither;
//! - R ≤ 0 means the current revision; R > current fails with
//!   [`ErrorKind::FutureRevision`]; R < compact revision fails with
//!   [`ErrorKind::Compacted`] (R equal to it is allowed, as in etcd).
//!
//! Memory: one map entry per distinct user key (a copy of the key, the record
//! borrowed from the memory map); the file itself is never held in memory.
//! The pass stops at the first record past R.

use std::collections::HashMap;

use crate::error::{Error, ErrorKind, Result};
use crate::formats::bbolt::{Cursor, Db};
use crate::formats::proto::KeyValueRef;

use super::revision::{self, Revision};
use super::schema;

/// Records between two calls of the `release` callback of the passes here.
pub const RELEASE_EVERY: u64 = 1 << 16;
/// Output rows between two releases when rows reach back into the map at
/// random places (values of a key listing, in key order). Small, because one
/// touched value can map a whole large folio of the page cache: at 1,024 rows
/// `keys --prefix` on the bench db peaked at 818 MiB of mapped file, at 128 at
/// 218 MiB.
pub const RELEASE_EVERY_ROWS: u64 = 1 << 7;

/// Revision bounds of a db: what etcd would compute on startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Revisions {
    /// The current revision (see the module doc).
    pub current: i64,
    /// The compact revision, 0 if the db was never compacted.
    pub compact: i64,
    /// `meta/finishedCompactRev`, if present.
    pub finished_compact: Option<i64>,
    /// `meta/scheduledCompactRev`, if present.
    pub scheduled_compact: Option<i64>,
}

impl Revisions {
    /// Reads the bounds: the meta keys and the last record of `key`.
    pub fn read(db: &Db<'_>) -> Result<Revisions> {
        let (finished, scheduled) = super::mvcc::compact_revisions(db)?;
        let last = match db.bucket(schema::KEY)? {
            None => None,
            Some(b) => b
                .cursor(db)
                .last_entry()?
                .and_then(|e| revision::main_of(e.key)),
        };
        let compact = finished.max(scheduled).unwrap_or(0);
        // A fresh store starts at revision 1 (`kvstore.go:NewStore`).
        let current = last.unwrap_or(1).max(compact).max(1);
        Ok(Revisions {
            current,
            compact,
            finished_compact: finished,
            scheduled_compact: scheduled,
        })
    }

    /// The revision a read at `rev` is served at, or etcd's error for it.
    /// `rev ≤ 0` means the current revision.
    pub fn resolve(&self, rev: i64) -> Result<i64> {
        if rev > self.current {
            return Err(ErrorKind::FutureRevision {
                rev,
                current: self.current,
            }
            .into());
        }
        let rev = if rev <= 0 { self.current } else { rev };
        if rev < self.compact {
            return Err(ErrorKind::Compacted {
                rev,
                compact_rev: self.compact,
            }
            .into());
        }
        Ok(rev)
    }
}

/// One record of the `key` bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Its revision.
    pub rev: Revision,
    /// Whether it is a delete.
    pub tombstone: bool,
    /// The stored KeyValue (for a tombstone: the key only).
    pub kv: KeyValueRef<'a>,
    /// Bytes the record takes in the bucket: revision key plus value.
    pub stored_bytes: u64,
}

/// The records of the `key` bucket in revision order, up to a revision.
#[derive(Debug)]
pub struct Records<'d, 'a> {
    cursor: Option<Cursor<'d, 'a>>,
    upto: i64,
    done: bool,
}

impl<'d, 'a> Records<'d, 'a> {
    /// Records with main revision ≤ `upto` (all of them for `i64::MAX`).
    pub fn new(db: &'d Db<'a>, upto: i64) -> Result<Self> {
        let cursor = db.bucket(schema::KEY)?.map(|b| b.cursor(db));
        Ok(Records {
            cursor,
            upto,
            done: false,
        })
    }

    fn step(&mut self) -> Option<Result<Record<'a>>> {
        let e = match self.cursor.as_mut()?.next()? {
            Ok(e) => e,
            Err(e) => return Some(Err(e)),
        };
        let rk = match revision::parse(e.key) {
            Ok(rk) => rk,
            Err(err) => {
                return Some(Err(Error::new(ErrorKind::Schema(format!(
                    "key bucket: key {}: {err}",
                    crate::bytes::hex(e.key)
                )))))
            }
        };
        if rk.rev.main > self.upto {
            return None;
        }
        if e.is_bucket() {
            return Some(Err(Error::new(ErrorKind::Schema(format!(
                "key bucket: revision {} is a nested bucket, not a KeyValue",
                rk.rev
            )))));
        }
        let kv = match KeyValueRef::decode(e.value) {
            Ok(kv) => kv,
            Err(err) => {
                return Some(Err(Error::new(ErrorKind::Schema(format!(
                    "key bucket: value of revision {}: {err}",
                    rk.rev
                )))))
            }
        };
        let stored_bytes = crate::bytes::to_u64(e.key.len().saturating_add(e.value.len()));
        Some(Ok(Record {
            rev: rk.rev,
            tombstone: rk.tombstone,
            kv,
            stored_bytes,
        }))
    }
}

impl<'a> Iterator for Records<'_, 'a> {
    type Item = Result<Record<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.step();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }
}

/// The newest record of each user key, as of a revision.
///
/// The index holds a heap copy of each distinct key (memory: distinct keys),
/// so that updating an entry never reaches back into a page of the map that
/// was already read and released; the records themselves stay borrowed.
#[derive(Debug, Default)]
pub struct Latest<'a> {
    map: HashMap<Box<[u8]>, Record<'a>>,
}

impl<'a> Latest<'a> {
    /// Notes a record (records must come in revision order).
    pub fn push(&mut self, r: Record<'a>) {
        if let Some(slot) = self.map.get_mut(r.kv.key) {
            *slot = r;
        } else {
            self.map.insert(r.kv.key.into(), r);
        }
    }

    /// Number of distinct user keys seen (live or deleted).
    pub fn distinct(&self) -> usize {
        self.map.len()
    }

    /// The live keys (newest record is a put), sorted by key as etcd returns them.
    pub fn into_live(self) -> Vec<KeyValueRef<'a>> {
        let mut v: Vec<(Box<[u8]>, Record<'a>)> =
            self.map.into_iter().filter(|(_, r)| !r.tombstone).collect();
        v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        v.into_iter().map(|(_, r)| r.kv).collect()
    }
}

/// The keyspace at one revision.
#[derive(Debug, Clone)]
pub struct Keyspace<'a> {
    /// The revision it was read at.
    pub rev: i64,
    /// The db's revision bounds.
    pub revisions: Revisions,
    /// Live keys under the prefix, sorted by key.
    pub kvs: Vec<KeyValueRef<'a>>,
}

/// Streams the `key` bucket's records up to `rev` (≤ 0: current) into `f`,
/// calling `release` every [`RELEASE_EVERY`] records (to drop resident mapped
/// pages). Returns the revision read at and the db's revision bounds.
fn each_record<'a>(
    db: &Db<'a>,
    rev: i64,
    release: &dyn Fn(),
    mut f: impl FnMut(Record<'a>),
) -> Result<(i64, Revisions)> {
    let revisions = Revisions::read(db)?;
    let rev = revisions.resolve(rev)?;
    let mut n = 0u64;
    for r in Records::new(db, rev)? {
        n += 1;
        if n % RELEASE_EVERY == 0 {
            release();
        }
        f(r?);
    }
    Ok((rev, revisions))
}

/// The keys under `prefix` alive at `rev` (≤ 0: current), as etcd's
/// `Range(prefix, prefix+1, rev)` would return them. `release` is called every
/// [`RELEASE_EVERY`] records (to drop resident mapped pages).
pub fn state_at<'a>(
    db: &Db<'a>,
    rev: i64,
    prefix: &[u8],
    release: &dyn Fn(),
) -> Result<Keyspace<'a>> {
    let mut latest = Latest::default();
    let (rev, revisions) = each_record(db, rev, release, |r| {
        if r.kv.key.starts_with(prefix) {
            latest.push(r);
        }
    })?;
    Ok(Keyspace {
        rev,
        revisions,
        kvs: latest.into_live(),
    })
}

/// What `get` finds for one key at a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// The key exists.
    Live(KeyValueRef<'a>),
    /// The key's newest record ≤ R is a delete at this revision.
    Deleted(Revision),
    /// No record of the key ≤ R survives in the file.
    Absent,
}

/// Looks one key up at `rev` (≤ 0: current). Streams the bucket keeping only
/// that key's newest record. Returns the revision read at and the answer.
pub fn lookup<'a>(
    db: &Db<'a>,
    key: &[u8],
    rev: i64,
    release: &dyn Fn(),
) -> Result<(i64, Lookup<'a>)> {
    let mut found = Lookup::Absent;
    let (rev, _) = each_record(db, rev, release, |r| {
        if r.kv.key == key {
            found = if r.tombstone {
                Lookup::Deleted(r.rev)
            } else {
                Lookup::Live(r.kv)
            };
        }
    })?;
    Ok((rev, found))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revs(current: i64, compact: i64) -> Revisions {
        Revisions {
            current,
            compact,
            finished_compact: Some(compact),
            scheduled_compact: Some(compact),
        }
    }

    #[test]
    fn revision_rules_follow_etcd() {
        let r = revs(31, 25);
        assert_eq!(r.resolve(0).unwrap(), 31);
        assert_eq!(r.resolve(-3).unwrap(), 31);
        assert_eq!(r.resolve(25).unwrap(), 25);
        assert_eq!(r.resolve(31).unwrap(), 31);
        assert!(matches!(
            r.resolve(24).unwrap_err().kind,
            ErrorKind::Compacted {
                rev: 24,
                compact_rev: 25
            }
        ));
        assert!(matches!(
            r.resolve(32).unwrap_err().kind,
            ErrorKind::FutureRevision {
                rev: 32,
                current: 31
            }
        ));
        // Never compacted: every revision from 1 is readable.
        assert_eq!(revs(5, 0).resolve(1).unwrap(), 1);
    }

    #[test]
    fn latest_keeps_the_newest_record_per_key() {
        let rec = |main, key: &'static [u8], tombstone| Record {
            rev: Revision { main, sub: 0 },
            tombstone,
            kv: KeyValueRef {
                key,
                mod_revision: main,
                ..KeyValueRef::default()
            },
            stored_bytes: 0,
        };
        let mut l = Latest::default();
        l.push(rec(2, b"b", false));
        l.push(rec(3, b"a", false));
        l.push(rec(4, b"b", true));
        l.push(rec(5, b"c", false));
        l.push(rec(6, b"c", false));
        assert_eq!(l.distinct(), 3);
        let live = l.into_live();
        let keys: Vec<_> = live.iter().map(|kv| (kv.key, kv.mod_revision)).collect();
        assert_eq!(keys, vec![(&b"a"[..], 3), (&b"c"[..], 6)]);
    }
}
