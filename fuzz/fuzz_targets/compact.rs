//! Arbitrary bytes as a db to compact: the revision bounds, pass 1 (kept
//! revisions) at the current revision and one below it, pass 2 (the rewrite
//! into memory), and the result opened and checked again. Nothing may panic
//! or loop; whatever is written must pass the structural check.
#![no_main]

use etcd_rescue::etcd::compact::{keep_at, resolve_rev, rewrite_db, Rewrite};
use etcd_rescue::etcd::keyspace::Revisions;
use etcd_rescue::etcd::mvcc::TombstoneRule;
use etcd_rescue::formats::bbolt::{self, Db};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(db) = Db::open(data) else { return };
    let Ok(revs) = Revisions::read(&db) else { return };
    for (rev, rule) in [(0, TombstoneRule::V3516), (revs.current - 1, TombstoneRule::Legacy)] {
        let Ok(at) = resolve_rev(&revs, rev) else { continue };
        let Ok(keep) = keep_at(&db, at, rule, &|| {}) else { continue };
        for compact in [Some(&keep), None] {
            let what = Rewrite { compact, disarm: true };
            let Ok((out, _)) = rewrite_db(&db, what, std::io::Cursor::new(Vec::new()), &|| {}) else {
                continue;
            };
            let out = out.into_inner();
            let new = Db::open(&out).expect("the writer's output opens");
            assert!(bbolt::check(&new).findings.is_empty(), "the writer's output is sound");
        }
    }
});
