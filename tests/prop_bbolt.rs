//! Property tests for the bbolt engine's invariants on mutated real files
//! (random bytes alone stop at `Db::open`): opening, checking, walking and
//! status never panic and always end;
//! a mutation either leaves a readable db or gives an error; meta and
//! revision encodings round-trip.

use etcd_rescue::etcd::revision::{self, Revision};
use etcd_rescue::etcd::status::{self, Compat};
use etcd_rescue::formats::bbolt::{self, meta::Meta, Bucket, CheckReport, Db, Page};
use proptest::prelude::*;

fn walk_everything(data: &[u8]) {
    let Ok(db) = Db::open(data) else { return };
    let report = bbolt::check(&db);
    let mut r = CheckReport::default();
    let st = status::compute(&db, Some(Compat::V35), &mut r);
    // Status succeeds exactly when the check found nothing (and the schema allows it).
    if st.is_ok() {
        assert!(report.findings.is_empty());
    }
    let _ = status::compute(&db, Some(Compat::V36), &mut r);
    let mut buckets = 0;
    for top in db.root_bucket().cursor(&db) {
        let Ok(top) = top else { break };
        buckets += 1;
        if buckets > 64 {
            break;
        }
        if let Ok(b) = Bucket::from_value(top.key, top.value) {
            let mut prev: Option<Vec<u8>> = None;
            for e in b.cursor(&db) {
                let Ok(e) = e else { break };
                // Keys from a cursor rise whenever the check found no order problem.
                if report.findings.is_empty() {
                    if let Some(p) = &prev {
                        assert!(p.as_slice() < e.key);
                    }
                }
                prev = Some(e.key.to_vec());
            }
        }
    }
}

fn real_db() -> Vec<u8> {
    let p = etcd_rescue_testdata().join("etcd-3.5.1/basic/raw.db");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn etcd_rescue_testdata() -> std::path::PathBuf {
    crate::util::testdata()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// One page of a real db (never a meta page, so the db still opens and
    /// the walk reaches the page) replaced by random bytes under a header
    /// of a random page kind: random bytes alone never get past `Db::open`.
    #[test]
    fn random_page_in_a_real_db_never_panics(
        page in any::<prop::sample::Index>(),
        kind in prop::sample::select(vec![0x01u16, 0x02, 0x04, 0x10, 0x00, 0x03]),
        count in any::<u16>(),
        overflow in prop::sample::select(vec![0u32, 1, 2, 1_000_000]),
        body in proptest::collection::vec(any::<u8>(), 4096 - 16),
    ) {
        let mut data = real_db();
        let ps = 4096;
        let pages = data.len() / ps;
        let id = 2 + page.index(pages - 2);
        let at = id * ps;
        data[at..at + 8].copy_from_slice(&(id as u64).to_le_bytes());
        data[at + 8..at + 10].copy_from_slice(&kind.to_le_bytes());
        data[at + 10..at + 12].copy_from_slice(&count.to_le_bytes());
        data[at + 12..at + 16].copy_from_slice(&overflow.to_le_bytes());
        data[at + 16..at + ps].copy_from_slice(&body);
        prop_assert!(Db::open(&data).is_ok(), "metas untouched: the db must open");
        walk_everything(&data);
    }

    /// A few bytes of a real db's pages beyond the metas changed: the db
    /// opens, and everything after is exercised.
    #[test]
    fn mutated_real_db_pages_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let mut data = real_db();
        let body = data.len() - 2 * 4096;
        for (i, b) in edits {
            let at = 2 * 4096 + i.index(body);
            data[at] = b;
        }
        prop_assert!(Db::open(&data).is_ok());
        walk_everything(&data);
    }

    #[test]
    fn arbitrary_page_never_panics(data in proptest::collection::vec(any::<u8>(), 0..5_000)) {
        if let Ok(p) = Page::new(7, &data) {
            for e in p.branch_elements() { let _ = e; }
            for e in p.leaf_elements() { let _ = e; }
            let _ = bbolt::freelist::read_ids(&p);
        }
    }

    #[test]
    fn mutated_real_db_is_read_or_refused(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let mut data = real_db();
        for (i, b) in edits {
            let at = i.index(data.len());
            data[at] = b;
        }
        walk_everything(&data);
    }

    #[test]
    fn truncated_real_db_is_read_or_refused(cut in any::<prop::sample::Index>()) {
        let data = real_db();
        let at = cut.index(data.len());
        walk_everything(&data[..at]);
    }

    #[test]
    fn meta_round_trips(page_size in prop::sample::select(vec![4096u32, 16384, 65536]),
                        root in 3u64..1<<40, pgid in 4u64..1<<40, txid: u64, freelist: u64) {
        let m = Meta { magic: bbolt::meta::MAGIC, version: 2, page_size, flags: 0, root,
                       root_sequence: 0, freelist, pgid, txid, checksum: 0 };
        let mut page = vec![0u8; 4096];
        page[16..80].copy_from_slice(&m.to_bytes());
        let back = Meta::parse(&page).unwrap();
        prop_assert!(back.validate().is_ok());
        prop_assert_eq!(back.txid, txid);
        prop_assert_eq!(back.checksum, m.compute_checksum());
    }

    #[test]
    fn revision_keys_round_trip_and_sort(a_main in 0i64..i64::MAX, a_sub in 0i64..i64::MAX,
                                         b_main in 0i64..i64::MAX, b_sub in 0i64..i64::MAX) {
        let a = Revision { main: a_main, sub: a_sub };
        let b = Revision { main: b_main, sub: b_sub };
        prop_assert_eq!(revision::parse(&a.to_key()).unwrap().rev, a);
        // Byte order of keys is revision order.
        prop_assert_eq!(a.to_key().cmp(&b.to_key()), a.cmp(&b));
    }
}
