//! `hashkv`: etcd's `HashKV` (the MVCC hash its corruption checks compare)
//! computed offline from a snapshot, db, member dir or data dir.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::etcd::mvcc::{self, HashKv, TombstoneRule};
use crate::etcd::status::storage_version;
use crate::etcd::version::Version;

use super::input::Opened;

/// Which tombstone-at-compact-revision rule to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuleChoice {
    /// The 3.5.16 rule. The two rules differ only when the `key` bucket holds a
    /// tombstone at exactly the compact revision, which only etcd 3.5.16+
    /// compaction leaves behind, so the file itself says the newer rule applies.
    #[default]
    Auto,
    /// A fixed rule.
    Fixed(TombstoneRule),
}

/// Options of `hashkv`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HashKvOptions {
    /// Revision to hash at; 0 = the current revision.
    pub rev: i64,
    /// Tombstone rule.
    pub rule: RuleChoice,
}

/// What `hashkv` computed.
#[derive(Debug, Clone)]
pub struct HashKvReport {
    /// The db file read.
    pub db_path: PathBuf,
    /// The hash and revisions.
    pub hash: HashKv,
    /// Whether the rule was chosen automatically. With `hash.rule` and
    /// `hash.rules_differ`, what the CLI notes on stderr.
    pub auto_rule: bool,
    /// `meta/storageVersion` (etcd 3.6+), when present and parsable.
    pub storage_version: Option<Version>,
}

impl HashKvReport {
    /// Whether the file was written by an etcd newer than any this tool knows
    /// (finding code `db.version.newer`): HashKV's definition is 3.7's there.
    pub fn newer_than_known(&self) -> bool {
        self.storage_version
            .as_ref()
            .is_some_and(crate::etcd::status::newer_than_known)
    }
}

/// Runs `hashkv` on `path`.
pub fn hashkv(path: &Path, opts: HashKvOptions) -> Result<HashKvReport> {
    let input = Opened::open(path)?;
    let db = input.db()?;
    let (rule, auto_rule) = match opts.rule {
        RuleChoice::Auto => (TombstoneRule::V3516, true),
        RuleChoice::Fixed(r) => (r, false),
    };
    let storage_version = storage_version(&db).map_err(|e| input.locate(e))?;
    let ticker = input.ticker(db.meta().pgid, None);
    let hash = mvcc::hash_kv_walk(&db, opts.rev, rule, &|n| ticker.tick(n))
        .map_err(|e| input.locate(e))?;
    Ok(HashKvReport {
        db_path: input.db_path.clone(),
        hash,
        auto_rule,
        storage_version,
    })
}
