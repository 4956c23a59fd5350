//! etcd's storage-version migration (`etcdutl migrate`), as a rewrite of the
//! db into a new file.
//!
//! ```text
//! detect:  meta/storageVersion when present ("3.6.0", "3.7.0");
//!          else meta/term != 0 means 3.5; else "missing term information"
//!          (etcd has not yet written a snapshot since start-up)
//! plan:    one minor step at a time, 3.5 <-> 3.6 <-> 3.7 (etcd 3.7.3's
//!          schemaChanges: 3.6 adds meta/storageVersion, 3.7 adds nothing)
//! result:  target >= 3.6: meta/storageVersion = "<major>.<minor>.0"
//!          target  = 3.5: meta/storageVersion removed
//!          every other bucket and key kept byte for byte
//! ```
//! Source: etcd v3.6.17 / v3.7.3 `etcdutl/etcdutl/migrate_command.go`
//! (`migrateCommandFunc`, `migrateForce`) and `server/storage/schema`
//! (`UnsafeDetectSchemaVersion`, `newPlan`, `migrationStep.unsafeExecute`).

use std::io::{Seek, Write};

use crate::error::{Error, ErrorKind, Result};
use crate::formats::bbolt::write::{DbWriter, WriteSummary, WriterOptions};
use crate::formats::bbolt::{Bucket, Db};

use super::schema;

/// A storage version at minor granularity, as etcd's plan compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Minor {
    /// Major (always 3 for known versions).
    pub major: i64,
    /// Minor.
    pub minor: i64,
}

impl std::fmt::Display for Minor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The oldest and newest storage versions this migrates between.
pub const OLDEST: Minor = Minor { major: 3, minor: 5 };
/// See [`OLDEST`].
pub const NEWEST: Minor = Minor { major: 3, minor: 7 };

impl Minor {
    /// `"X.Y"` as `--target-version` takes it.
    pub fn parse_target(s: &str) -> Result<Minor> {
        let bad = |why: &str| {
            Error::new(ErrorKind::Usage(format!(
                "--target-version {s:?}: {why}; expected \"X.Y\", one of 3.5, 3.6, 3.7"
            )))
        };
        let (a, b) = s.split_once('.').ok_or_else(|| bad("no dot"))?;
        let major = a.parse::<i64>().map_err(|_| bad("bad major"))?;
        let minor = b.parse::<i64>().map_err(|_| bad("bad minor"))?;
        let m = Minor { major, minor };
        if m < OLDEST {
            return Err(bad("the minimal target is 3.5"));
        }
        if m > NEWEST {
            return Err(bad("not a storage version this tool knows"));
        }
        Ok(m)
    }

    /// The value etcd stores in `meta/storageVersion` (3.6+), e.g. "3.6.0".
    pub fn stored(self) -> String {
        format!("{}.{}.0", self.major, self.minor)
    }
}

/// The db's storage version as etcd detects it.
pub fn detect(db: &Db<'_>) -> Result<Minor> {
    if let Some(v) = super::status::storage_version(db)? {
        return Ok(Minor {
            major: v.major,
            minor: v.minor,
        });
    }
    let term = db
        .bucket(schema::META)?
        .and_then(|m| m.get(db, schema::meta_key::TERM).ok().flatten())
        .and_then(|e| <[u8; 8]>::try_from(e.value).ok())
        .map_or(0, u64::from_be_bytes);
    if term == 0 {
        return Err(Error::new(ErrorKind::Schema(
            "cannot detect the storage version: no meta/storageVersion and no meta/term \
             (missing term information); start etcd 3.5 on the data dir until it has \
             written a snapshot, then migrate"
                .into(),
        )));
    }
    Ok(OLDEST)
}

/// Whether `from` -> `to` is a plan etcd makes (same major, known minors).
pub fn plan_is_known(from: Minor, to: Minor) -> bool {
    from.major == to.major && (OLDEST..=NEWEST).contains(&from) && (OLDEST..=NEWEST).contains(&to)
}

/// Copies `db` into `out` with `meta/storageVersion` set to `target`'s
/// (3.6+) or removed (3.5). A compact rewrite: same buckets, keys, values and
/// sequences; new page layout.
pub fn rewrite_db<W: Write + Seek>(
    db: &Db<'_>,
    target: Minor,
    out: W,
) -> Result<(W, WriteSummary)> {
    let new_value = (target > OLDEST).then(|| target.stored().into_bytes());
    let key = schema::meta_key::STORAGE_VERSION;
    let mut w = DbWriter::new(out, WriterOptions::like(db))?;
    let mut saw_meta = false;
    for top in db.root_bucket().cursor(db) {
        let top = top?;
        if !top.is_bucket() {
            return Err(Error::new(ErrorKind::Schema(format!(
                "top-level key {} is not a bucket; etcd never writes one (run `etcd-rescue check`)",
                String::from_utf8_lossy(top.key)
            ))));
        }
        let bucket = Bucket::from_value(top.key, top.value)?;
        w.begin_bucket(top.key)?;
        w.set_sequence(bucket.sequence);
        let is_meta = top.key == schema::META;
        saw_meta |= is_meta;
        let mut pending = if is_meta { new_value.as_deref() } else { None };
        for e in bucket.cursor(db) {
            let e = e?;
            if is_meta {
                if e.key == key {
                    continue;
                }
                if let Some(v) = pending.filter(|_| e.key > key) {
                    w.put(key, v)?;
                    pending = None;
                }
            }
            w.put(e.key, e.value)?;
        }
        if let Some(v) = pending {
            w.put(key, v)?;
        }
    }
    if !saw_meta {
        return Err(Error::new(ErrorKind::Schema(
            "the db has no meta bucket: not an etcd db (run `etcd-rescue check`)".into(),
        )));
    }
    w.finish()
}
