//! `hashkv`: etcd's `HashKV` (the MVCC hash its corruption checks compare)
//! computed offline from a snapshot, db, member dir or data dir.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::etcd::datadir::Input;
use crate::etcd::mvcc::{self, HashKv, TombstoneRule};
use crate::formats::bbolt::Db;
use crate::source::Source;

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
    /// Whether the rule was chosen automatically.
    pub auto_rule: bool,
    /// Notes for stderr.
    pub notes: Vec<String>,
}

/// Runs `hashkv` on `path`.
pub fn hashkv(path: &Path, opts: HashKvOptions) -> Result<HashKvReport> {
    let input = Input::resolve(path)?;
    let db_path = input.db_path()?;
    let src = Source::open(&db_path)?;
    let in_file = |e: Error| e.in_file(&db_path);
    let db = Db::open(src.bytes()).map_err(in_file)?;
    let (rule, auto_rule) = match opts.rule {
        RuleChoice::Auto => (TombstoneRule::V3516, true),
        RuleChoice::Fixed(r) => (r, false),
    };
    let ticker = super::WalkTicker::new(&src, db.meta().pgid, None);
    let hash = mvcc::hash_kv_walk(&db, opts.rev, rule, &|n| ticker.tick(n)).map_err(in_file)?;
    let mut notes = vec![format!(
        "tombstone rule: {}{}",
        hash.rule,
        if auto_rule {
            ", chosen automatically"
        } else {
            ""
        }
    )];
    if hash.rules_differ {
        notes.push(format!(
            "the key bucket holds a tombstone at the compact revision {}: etcd before 3.5.16 \
             (--tombstone-rule legacy) gives a different hash",
            hash.compact_revision
        ));
    } else {
        notes.push("both tombstone rules give this hash".into());
    }
    Ok(HashKvReport {
        db_path,
        hash,
        auto_rule,
        notes,
    })
}
