//! Structured fuzzing of the bbolt writer: arbitrary bucket/key/value sets
//! (bounded sizes, power-of-two page size 4–64 KiB, arbitrary fill and inline
//! choice) are sorted into a BTreeMap model, written by `DbWriter`, read back
//! with our reader, compared with the model, and passed through `check`.
#![no_main]

use std::collections::BTreeMap;
use std::io::Cursor;

use arbitrary::Arbitrary;
use etcd_rescue::formats::bbolt::write::{DbWriter, WriterOptions};
use etcd_rescue::formats::bbolt::{check, Bucket, Db};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    page_shift: u8,
    fill: u8,
    inline: bool,
    txid: u16,
    buckets: Vec<(Vec<u8>, Vec<(Vec<u8>, Vec<u8>, u16)>)>,
}

type Model = BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>>;

fuzz_target!(|input: Input| {
    let mut model = Model::new();
    for (name, kvs) in input.buckets.into_iter().take(8) {
        if name.is_empty() || name.len() > 64 {
            continue;
        }
        let b = model.entry(name).or_default();
        for (k, mut v, pad) in kvs.into_iter().take(2000) {
            if k.is_empty() || k.len() > 32768 {
                continue;
            }
            // Occasionally blow a value up past several pages (overflow pages).
            if pad > 60000 {
                v.resize(usize::from(pad) * 2, 0x5a);
            }
            b.insert(k, v);
        }
    }
    let opts = WriterOptions {
        page_size: 4096 << (input.page_shift % 5),
        fill: f64::from(input.fill) / 255.0,
        inline_buckets: input.inline,
        txid: u64::from(input.txid).max(1),
    };
    let mut w = DbWriter::new(Cursor::new(Vec::new()), opts).unwrap();
    for (name, kvs) in &model {
        w.begin_bucket(name).unwrap();
        for (k, v) in kvs {
            w.put(k, v).unwrap();
        }
    }
    let (out, _summary) = w.finish().unwrap();
    let bytes = out.into_inner();
    let db = Db::open(&bytes).unwrap();
    let report = check(&db);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    let mut back = Model::new();
    for top in db.root_bucket().cursor(&db) {
        let top = top.unwrap();
        let b = Bucket::from_value(top.key, top.value).unwrap();
        let kvs = back.entry(top.key.to_vec()).or_default();
        for e in b.cursor(&db) {
            let e = e.unwrap();
            kvs.insert(e.key.to_vec(), e.value.to_vec());
        }
    }
    assert_eq!(back, model);
});
