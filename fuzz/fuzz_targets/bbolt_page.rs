//! Arbitrary bytes as one page: every element view and the freelist reader.
#![no_main]

use etcd_rescue::formats::bbolt::{freelist, Bucket, Page};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Page::new(2, data) else { return };
    for e in p.branch_elements() {
        let _ = e;
    }
    for e in p.leaf_elements().flatten() {
        let _ = Bucket::from_value(e.key, e.value);
    }
    let _ = freelist::read_ids(&p);
});
