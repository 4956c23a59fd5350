//! `diff`: keys added, removed and changed between two snapshots or members.
//!
//! Each side is read as etcd would serve it at the revision (both at `--rev`,
//! or each at its own current revision), then the two sorted key lists are
//! merged. Memory: the distinct keys of both sides; keys and values stay in
//! the two memory maps.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::etcd::keyspace::{self, RELEASE_EVERY_ROWS};
use crate::formats::proto::KeyValueRef;

use super::input::Opened;

/// Options of `diff`.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Revision to read both sides at (≤ 0: each side's current revision).
    pub rev: i64,
    /// Only keys starting with these bytes.
    pub prefix: Vec<u8>,
    /// Compare values and leases only, not create/mod revision and version
    /// (for a restored cluster whose revisions were bumped).
    pub ignore_revisions: bool,
}

/// One difference.
#[derive(Debug, Clone)]
pub enum Change<'a> {
    /// Only in B.
    Added(KeyValueRef<'a>),
    /// Only in A.
    Removed(KeyValueRef<'a>),
    /// In both, with different fields.
    Changed {
        /// A's version.
        a: KeyValueRef<'a>,
        /// B's version.
        b: KeyValueRef<'a>,
        /// Names of the fields that differ, in KeyValue order.
        fields: Vec<&'static str>,
    },
}

/// Totals of a diff.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DiffSummary {
    /// A's db file.
    pub a: PathBuf,
    /// B's db file.
    pub b: PathBuf,
    /// Revision A was read at.
    pub a_rev: i64,
    /// Revision B was read at.
    pub b_rev: i64,
    /// Keys only in B.
    pub added: u64,
    /// Keys only in A.
    pub removed: u64,
    /// Keys in both that differ.
    pub changed: u64,
    /// Keys in both that are the same.
    pub unchanged: u64,
}

impl DiffSummary {
    /// Whether any difference was found.
    pub fn differs(&self) -> bool {
        self.added + self.removed + self.changed > 0
    }
}

/// The fields of `a` and `b` that differ.
pub fn changed_fields(
    a: &KeyValueRef<'_>,
    b: &KeyValueRef<'_>,
    ignore_revisions: bool,
) -> Vec<&'static str> {
    let mut f = Vec::new();
    if !ignore_revisions {
        if a.create_revision != b.create_revision {
            f.push("create_revision");
        }
        if a.mod_revision != b.mod_revision {
            f.push("mod_revision");
        }
        if a.version != b.version {
            f.push("version");
        }
    }
    if a.value != b.value {
        f.push("value");
    }
    if a.lease != b.lease {
        f.push("lease");
    }
    f
}

/// Compares `a` and `b`, calling `sink` for every difference in key order.
pub fn diff(
    a: &Path,
    b: &Path,
    opts: &DiffOptions,
    sink: &mut dyn FnMut(&Change<'_>) -> Result<()>,
) -> Result<DiffSummary> {
    let ia = Opened::open(a)?;
    let ib = Opened::open(b)?;
    let (da, db) = (ia.db()?, ib.db()?);
    let ra = || ia.source.release_resident();
    let rb = || ib.source.release_resident();
    let ka = keyspace::state_at(&da, opts.rev, &opts.prefix, &ra).map_err(|e| ia.locate(e))?;
    let kb = keyspace::state_at(&db, opts.rev, &opts.prefix, &rb).map_err(|e| ib.locate(e))?;
    let mut s = DiffSummary {
        a: ia.db_path.clone(),
        b: ib.db_path.clone(),
        a_rev: ka.rev,
        b_rev: kb.rev,
        ..DiffSummary::default()
    };
    let mut xa = ka.kvs.iter().peekable();
    let mut xb = kb.kvs.iter().peekable();
    let mut steps = 0u64;
    loop {
        steps += 1;
        if steps % RELEASE_EVERY_ROWS == 0 {
            ra();
            rb();
        }
        let change = match (xa.peek(), xb.peek()) {
            (None, None) => break,
            (Some(x), None) => {
                let c = Change::Removed(**x);
                xa.next();
                c
            }
            (None, Some(y)) => {
                let c = Change::Added(**y);
                xb.next();
                c
            }
            (Some(x), Some(y)) => match x.key.cmp(y.key) {
                Ordering::Less => {
                    let c = Change::Removed(**x);
                    xa.next();
                    c
                }
                Ordering::Greater => {
                    let c = Change::Added(**y);
                    xb.next();
                    c
                }
                Ordering::Equal => {
                    let fields = changed_fields(x, y, opts.ignore_revisions);
                    let c = Change::Changed {
                        a: **x,
                        b: **y,
                        fields,
                    };
                    xa.next();
                    xb.next();
                    c
                }
            },
        };
        match &change {
            Change::Added(_) => s.added += 1,
            Change::Removed(_) => s.removed += 1,
            Change::Changed { fields, .. } if fields.is_empty() => {
                s.unchanged += 1;
                continue;
            }
            Change::Changed { .. } => s.changed += 1,
        }
        sink(&change)?;
    }
    Ok(s)
}
