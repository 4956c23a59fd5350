//! `get`: one key's value at a revision.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::etcd::keyspace::{self, Lookup};
use crate::etcd::revision::Revision;

use super::input::Opened;

/// One key as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The key exists at the revision.
    Live {
        /// Revision of the key's creation (current generation).
        create_revision: i64,
        /// Revision of its last change.
        mod_revision: i64,
        /// Puts since creation.
        version: i64,
        /// Lease id, 0 for none.
        lease: i64,
        /// The value (copied out of the map: it outlives the file).
        value: Vec<u8>,
    },
    /// The key's last record at or before the revision is a delete.
    Deleted(Revision),
    /// No record of the key at or before the revision is in the file.
    Absent,
}

/// What `get` found.
#[derive(Debug, Clone)]
pub struct GetReport {
    /// The db file read.
    pub db_path: PathBuf,
    /// The revision it was read at.
    pub rev: i64,
    /// The key.
    pub key: Vec<u8>,
    /// The answer.
    pub found: Found,
}

/// Looks `key` up in `path` at `rev` (≤ 0: current).
pub fn get(path: &Path, key: &[u8], rev: i64) -> Result<GetReport> {
    let input = Opened::open(path)?;
    let db = input.db()?;
    let release = || input.source.release_resident();
    let (rev, l) = keyspace::lookup(&db, key, rev, &release).map_err(|e| input.locate(e))?;
    let found = match l {
        Lookup::Live(kv) => Found::Live {
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
            lease: kv.lease,
            value: kv.value.to_vec(),
        },
        Lookup::Deleted(r) => Found::Deleted(r),
        Lookup::Absent => Found::Absent,
    };
    Ok(GetReport {
        db_path: input.db_path.clone(),
        rev,
        key: key.to_vec(),
        found,
    })
}
