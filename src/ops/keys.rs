//! `keys`: the keyspace at a revision, or every stored revision of it.
//!
//! Rows are handed to a sink as they are produced (borrowed from the memory
//! map), so `--history` streams with constant memory and the latest-state
//! listing holds one entry per distinct key.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::etcd::keyspace::{self, Records, Revisions, RELEASE_EVERY, RELEASE_EVERY_ROWS};
use crate::etcd::revision::Revision;
use crate::formats::proto::KeyValueRef;

/// Moved to [`super::input`]; kept here for callers of `ops::keys::Opened`.
pub use super::input::Opened;

/// Options of `keys`.
#[derive(Debug, Clone, Default)]
pub struct KeysOptions {
    /// Revision to read at (≤ 0: current).
    pub rev: i64,
    /// Only keys starting with these bytes.
    pub prefix: Vec<u8>,
    /// Every stored revision (revision order) instead of the state at `rev`.
    pub history: bool,
    /// Stop after this many rows.
    pub limit: Option<u64>,
}

/// One row of the listing.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// The KeyValue (for a tombstone: key only).
    pub kv: KeyValueRef<'a>,
    /// The record's revision (history); for the state listing `main` is the
    /// mod revision and `sub` is 0 (not kept).
    pub rev: Revision,
    /// Whether this row is a delete (history only).
    pub tombstone: bool,
}

/// What `keys` read, besides the rows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeysSummary {
    /// The db file read.
    pub db_path: PathBuf,
    /// The revision the listing is at.
    pub rev: i64,
    /// The db's revision bounds.
    pub revisions: Revisions,
    /// Rows given to the sink.
    pub rows: u64,
    /// Rows there are in all without `--limit` (for `--history`, only known
    /// when the limit was not reached).
    pub matched: Option<u64>,
}

/// Lists the keyspace of `path`, calling `sink` for every row in output order
/// (by key for the state, by revision for `history`).
pub fn keys(
    path: &Path,
    opts: &KeysOptions,
    sink: &mut dyn FnMut(&Row<'_>) -> Result<()>,
) -> Result<KeysSummary> {
    let input = Opened::open(path)?;
    let db = input.db()?;
    let release = || input.source.release_resident();
    let limit = opts.limit.unwrap_or(u64::MAX);
    let mut rows = 0u64;
    let mut truncated = false;
    let mut matched = None;
    let (rev, revisions) = if opts.history {
        let revisions = Revisions::read(&db).map_err(|e| input.locate(e))?;
        let rev = revisions.resolve(opts.rev).map_err(|e| input.locate(e))?;
        let mut n = 0u64;
        for r in Records::new(&db, rev).map_err(|e| input.locate(e))? {
            let r = r.map_err(|e| input.locate(e))?;
            n += 1;
            if n % RELEASE_EVERY == 0 {
                release();
            }
            if !r.kv.key.starts_with(&opts.prefix) {
                continue;
            }
            if rows >= limit {
                truncated = true;
                break;
            }
            rows += 1;
            sink(&Row {
                kv: r.kv,
                rev: r.rev,
                tombstone: r.tombstone,
            })?;
        }
        if !truncated {
            matched = Some(rows);
        }
        (rev, revisions)
    } else {
        let ks = keyspace::state_at(&db, opts.rev, &opts.prefix, &release)
            .map_err(|e| input.locate(e))?;
        matched = Some(crate::bytes::to_u64(ks.kvs.len()));
        for kv in ks
            .kvs
            .iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
        {
            rows += 1;
            if rows % RELEASE_EVERY_ROWS == 0 {
                release();
            }
            sink(&Row {
                kv: *kv,
                rev: Revision {
                    main: kv.mod_revision,
                    sub: 0,
                },
                tombstone: false,
            })?;
        }
        (ks.rev, ks.revisions)
    };
    Ok(KeysSummary {
        db_path: input.db_path.clone(),
        rev,
        revisions,
        rows,
        matched,
    })
}
