//! Arbitrary bytes as a whole bbolt db: open, check, status, and a full cursor
//! walk of every bucket. Nothing may panic, loop or read out of bounds.
#![no_main]

use etcd_rescue::etcd::status;
use etcd_rescue::formats::bbolt::{self, CheckReport, Db};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(db) = Db::open(data) else { return };
    let _ = bbolt::check(&db);
    let mut report = CheckReport::default();
    let _ = status::compute(&db, None, &mut report);
    let _ = status::compute(&db, Some(status::Compat::V36), &mut report);
    let root = db.root_bucket();
    for top in root.cursor(&db).take(64) {
        let Ok(e) = top else { break };
        if let Ok(b) = bbolt::Bucket::from_value(e.key, e.value) {
            for kv in b.cursor(&db).take(100_000) {
                if kv.is_err() {
                    break;
                }
            }
            let _ = b.get(&db, b"consistent_index");
        }
    }
});
