//! The WAL replay over arbitrary entries: bytes are cut into length-prefixed
//! `InternalRaftRequest`s applied by `etcd::replay::Model` to a small db
//! (keys with history, a tombstone, a lease); the recorded records, with a
//! compaction's removals, are laid over the db by restore's writer. Checks:
//! no panic, the revision rises by one exactly when `apply` says so, the new
//! `key` records are in strictly increasing revision order, and the written
//! db passes `check`.
#![no_main]

use std::io::Cursor;
use std::sync::OnceLock;

use etcd_rescue::etcd::member::{Cluster, DEFAULT_TOKEN};
use etcd_rescue::etcd::replay::Model;
use etcd_rescue::etcd::restore::rewrite_db_over;
use etcd_rescue::etcd::revision::Revision;
use etcd_rescue::formats::bbolt::write::{DbWriter, WriterOptions};
use etcd_rescue::formats::bbolt::{check, Db};
use etcd_rescue::formats::proto::etcdserverpb::InternalRaftRequest;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn kv(key: &[u8], create: i64, modr: i64, version: i64, value: &[u8], lease: i64) -> Vec<u8> {
    use prost::encoding::{bytes, int64};
    let mut b = Vec::new();
    bytes::encode(1, &key.to_vec(), &mut b);
    for (t, v) in [(2u32, create), (3, modr), (4, version), (6, lease)] {
        if v != 0 {
            int64::encode(t, &v, &mut b);
        }
    }
    if !value.is_empty() {
        bytes::encode(5, &value.to_vec(), &mut b);
    }
    b
}

fn base() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut w = DbWriter::new(Cursor::new(Vec::new()), WriterOptions::default()).unwrap();
        w.begin_bucket(b"alarm").unwrap();
        w.begin_bucket(b"cluster").unwrap();
        w.begin_bucket(b"key").unwrap();
        let rk = |main, sub| Revision { main, sub }.to_key().to_vec();
        w.put(&rk(2, 0), &kv(b"a", 2, 2, 1, b"1", 0)).unwrap();
        w.put(&rk(3, 0), &kv(b"b", 3, 3, 1, b"2", 5)).unwrap();
        w.put(&rk(4, 0), &kv(b"a", 2, 4, 2, b"3", 0)).unwrap();
        let mut tomb = rk(5, 0);
        tomb.push(b't');
        w.put(&tomb, &kv(b"c", 0, 0, 0, b"", 0)).unwrap();
        w.begin_bucket(b"lease").unwrap();
        let lease = etcd_rescue::formats::proto::leasepb::Lease { id: 5, ttl: 60, remaining_ttl: 0 };
        w.put(&5i64.to_be_bytes(), &lease.encode_to_vec()).unwrap();
        w.begin_bucket(b"meta").unwrap();
        w.put(b"consistent_index", &10u64.to_be_bytes()).unwrap();
        w.finish().unwrap().0.into_inner()
    })
}

fuzz_target!(|data: &[u8]| {
    let db = Db::open(base()).unwrap();
    let mut m = Model::from_db(&db, &[None, None]).unwrap();
    m.record();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (msg, tail) = tail.split_at(n);
        rest = tail;
        if let Ok(irr) = InternalRaftRequest::decode(msg) {
            let before = m.revision;
            let up = m.apply(&irr);
            assert_eq!(m.revision, before + i64::from(up));
        }
    }
    let mut c = m.take_changes();
    for w in c.key_records.windows(2) {
        assert!(w[0].0 < w[1].0, "records out of order");
    }
    let removals = match c.compaction {
        Some(r) => Model::compaction_removals(&db, r, &mut c).unwrap(),
        None => Vec::new(),
    };
    let overlay = c.into_overlay(removals);
    let cluster =
        Cluster::from_initial_cluster("default=http://localhost:2380", DEFAULT_TOKEN).unwrap();
    let (out, _) = rewrite_db_over(&db, &cluster, 0, overlay, Cursor::new(Vec::new())).unwrap();
    let bytes = out.into_inner();
    let written = Db::open(&bytes).unwrap();
    assert!(check(&written).findings.is_empty());
});
