//! What `etcdutl snapshot status` computes: the status hash, revision, total
//! keys, total size and storage version, in one walk that is also the bbolt
//! structural check.
//!
//! Status hash: CRC-32C (Castagnoli), streamed over, for each top-level bucket in
//! key order, the bucket name, then every key and value of the bucket in key
//! order (a nested bucket's value contributes nothing). Revision: main revision
//! of the last key of `key`. Total size: `pgid * page_size`. Total keys: every
//! pair of every bucket (etcd 3.4/3.5), or the number of live user keys (3.6+).
//! Source: etcd `etcdutl/snapshot/v3_snapshot.go` `Status` (v3.5.1, v3.6.x).
//! Checked against etcdutl 3.5.1 on the files under testdata/.

use super::keyhash::{hash128, BuildPreHashed};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::formats::bbolt::{self, CheckReport, Db, LeafRun, Progress, Visitor};
use crate::formats::proto::KeyValueRef;

use super::revision::{is_tombstone, main_of};
use super::schema;
use super::version::Version;

/// Which etcd's meaning of the status columns to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Compat {
    /// etcd 3.4/3.5: TOTAL KEYS counts every pair in every bucket; no version column.
    V35,
    /// etcd 3.6: TOTAL KEYS counts live user keys; a version column is printed.
    V36,
    /// etcd 3.7: the 3.6 figures; etcdutl 3.7 draws its table with Unicode
    /// box characters (tablewriter 1.x), the other formats are 3.6's.
    V37,
}

impl Compat {
    /// Whether TOTAL KEYS means live user keys and a version is printed (3.6+).
    pub fn live_keys(self) -> bool {
        self != Compat::V35
    }

    /// The newest storage version whose status output we know: files written
    /// by a newer etcd are read with 3.7's rules and a warning.
    pub const NEWEST_KNOWN: (i64, i64) = (3, 7);

    /// The meaning the etcd that wrote a file with this storage version uses:
    /// no storage version (3.4/3.5, or a 3.6 member whose cluster is still at
    /// 3.5) → 3.5; 3.6 → 3.6; 3.7 and anything newer → 3.7.
    pub fn for_storage_version(v: Option<&Version>) -> Compat {
        match v {
            Some(v) if v.at_least(3, 7) => Compat::V37,
            Some(v) if v.at_least(3, 6) => Compat::V36,
            _ => Compat::V35,
        }
    }
}

/// Whether a storage version is newer than any etcd this tool was checked against.
pub fn newer_than_known(v: &Version) -> bool {
    (v.major, v.minor) > Compat::NEWEST_KNOWN
}

/// `etcdutl snapshot status` figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbStatus {
    /// Status hash (CRC-32C over all buckets).
    pub hash: u32,
    /// Main revision of the last key in `key`.
    pub revision: i64,
    /// Total keys, in the meaning of `compat`.
    pub total_key: u64,
    /// `pgid * page_size`.
    pub total_size: u64,
    /// Storage version from meta/storageVersion (3.6+), "" if absent.
    pub version: String,
    /// Whose meaning the figures follow.
    pub compat: Compat,
}

/// The storage version stored in `meta/storageVersion`, if present and parsable.
pub fn storage_version(db: &Db<'_>) -> Result<Option<Version>> {
    let Some(meta) = db.bucket(schema::META)? else {
        return Ok(None);
    };
    let Some(e) = meta.get(db, schema::meta_key::STORAGE_VERSION)? else {
        return Ok(None);
    };
    Ok(std::str::from_utf8(e.value).ok().and_then(Version::parse))
}

/// The last state (live or deleted) of each user key, by its 128-bit hash.
type LiveTable = std::collections::HashMap<u128, bool, BuildPreHashed>;

struct StatusVisitor {
    crc: u32,
    /// Bytes hashed since this visitor was forked (to combine CRCs).
    len: u64,
    pairs: u64,
    revision: Option<i64>,
    in_key_bucket: bool,
    /// 3.6 meaning: the last state (live or deleted) of each user key, by a
    /// 128-bit hash of the key: a lookup then never touches the page that held
    /// the key's earlier revision (released from memory by then, or cold).
    live: Option<LiveTable>,
    problem: Option<String>,
}

impl StatusVisitor {
    fn hash(&mut self, b: &[u8]) {
        self.crc = crc32c::crc32c_append(self.crc, b);
        self.len += crate::bytes::to_u64(b.len());
    }

    /// Records the state a revision leaves its user key in (3.6 counting;
    /// nothing when not counting).
    fn count_live(&mut self, key: &[u8], value: &[u8]) {
        let Some(live) = &mut self.live else {
            return;
        };
        match KeyValueRef::decode(value) {
            Ok(kv) => {
                live.insert(hash128(kv.key), !is_tombstone(key));
            }
            Err(e) => {
                self.problem.get_or_insert_with(|| {
                    format!(
                        "cannot unmarshal value of revision key {}: {e}",
                        crate::bytes::hex(key)
                    )
                });
            }
        }
    }
}

impl<'a> Visitor<'a> for StatusVisitor {
    fn top_level(&mut self, name: &'a [u8], is_bucket: bool) {
        if !is_bucket {
            self.problem.get_or_insert_with(|| {
                format!(
                    "cannot get hash of bucket {}: it is a plain key, not a bucket",
                    String::from_utf8_lossy(name)
                )
            });
        }
        self.hash(name);
        self.in_key_bucket = name == schema::KEY;
    }

    fn entry(&mut self, key: &'a [u8], value: Option<&'a [u8]>) {
        self.hash(key);
        if let Some(v) = value {
            self.hash(v);
        }
        self.pairs += 1;
        if !self.in_key_bucket {
            return;
        }
        match main_of(key) {
            Some(m) => self.revision = Some(m),
            None => {
                self.problem.get_or_insert_with(|| {
                    format!(
                        "cannot parse revision key {:?}: shorter than 8 bytes",
                        crate::bytes::hex(key)
                    )
                });
            }
        }
        // Go unmarshals a nil value (nested bucket) as an empty KeyValue.
        self.count_live(key, value.unwrap_or(&[]));
    }

    fn takes_packed(&self, run: &LeafRun<'a>) -> bool {
        // Outside the key bucket only the CRC is wanted. In it, a revision
        // needs 8 key bytes; 3.6 counting reads the entries after the CRC.
        !self.in_key_bucket || run.min_key_len >= 8
    }

    fn packed(&mut self, run: &LeafRun<'a>) {
        self.hash(run.bytes);
        self.pairs += crate::bytes::to_u64(run.count);
        if self.in_key_bucket {
            self.revision = main_of(run.last).or(self.revision);
            if self.live.is_some() {
                for (key, value) in run.entries() {
                    self.count_live(key, value);
                }
            }
        }
    }

    fn fork(&self) -> Self {
        StatusVisitor {
            crc: 0,
            len: 0,
            pairs: 0,
            revision: None,
            in_key_bucket: self.in_key_bucket,
            live: self.live.as_ref().map(|_| LiveTable::default()),
            problem: None,
        }
    }

    fn join(&mut self, later: Self) {
        let len2 = usize::try_from(later.len).unwrap_or(usize::MAX);
        self.crc = crc32c::crc32c_combine(self.crc, later.crc, len2);
        self.len += later.len;
        self.pairs += later.pairs;
        if later.revision.is_some() {
            self.revision = later.revision;
        }
        if let (Some(mine), Some(mut theirs)) = (&mut self.live, later.live) {
            // The later part's state of a key wins; move the smaller table.
            if theirs.len() > mine.len() {
                for (k, alive) in mine.drain() {
                    theirs.entry(k).or_insert(alive);
                }
                *mine = theirs;
            } else {
                mine.extend(theirs);
            }
        }
        if self.problem.is_none() {
            self.problem = later.problem;
        }
    }
}

/// Computes the status. `compat: None` follows the etcd that wrote the file
/// (see [`Compat::for_storage_version`]). Fails, as etcdutl does, when
/// the structural check finds anything; the check report is returned either way
/// through `report`.
pub fn compute(db: &Db<'_>, compat: Option<Compat>, report: &mut CheckReport) -> Result<DbStatus> {
    compute_observed(db, compat, report, &|_| {})
}

/// [`compute`], reporting walk progress (see [`bbolt::walk_observed`]).
pub fn compute_observed(
    db: &Db<'_>,
    compat: Option<Compat>,
    report: &mut CheckReport,
    progress: Progress<'_>,
) -> Result<DbStatus> {
    compute_with(db, compat, report, progress, &mut ())
}

/// [`compute_observed`], with another visitor riding along in the same walk.
pub fn compute_with<'a, V: Visitor<'a>>(
    db: &Db<'a>,
    compat: Option<Compat>,
    report: &mut CheckReport,
    progress: Progress<'_>,
    extra: &mut V,
) -> Result<DbStatus> {
    let version = storage_version(db)?;
    let compat = compat.unwrap_or(Compat::for_storage_version(version.as_ref()));
    let v = StatusVisitor {
        crc: 0,
        len: 0,
        pairs: 0,
        revision: None,
        in_key_bucket: false,
        live: compat.live_keys().then(LiveTable::default),
        problem: None,
    };
    let mut both = (v, extra.fork());
    *report = bbolt::walk_observed(db, &mut both, progress);
    let (v, extra_result) = both;
    extra.join(extra_result);
    if !report.findings.is_empty() {
        return Err(Error::new(ErrorKind::IntegrityCheckFailed(
            report.messages(),
        )));
    }
    if let Some(p) = v.problem {
        return Err(Error::new(ErrorKind::Schema(p)));
    }
    let total_key = match &v.live {
        Some(live) => crate::bytes::to_u64(live.values().filter(|alive| **alive).count()),
        None => v.pairs,
    };
    Ok(DbStatus {
        hash: v.crc,
        revision: v.revision.unwrap_or(0),
        total_key,
        total_size: db.size(),
        version: version.map(|v| v.to_string()).unwrap_or_default(),
        compat,
    })
}
