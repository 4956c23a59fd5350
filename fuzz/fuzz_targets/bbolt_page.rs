//! Arbitrary bytes as one page: every element view and the freelist reader.
#![no_main]

use etcd_rescue::formats::bbolt::{freelist, Bucket, Page};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Page::new(2, data) else { return };
    // Past (len - 16) / 16 elements every index is out of the page: one more
    // than that exercises the error, the rest (up to 65,535 under ASan) only
    // slowed the target to a few hundred runs a second.
    let reachable = data.len().saturating_sub(16) / 16 + 1;
    for e in p.branch_elements().take(reachable) {
        let _ = e;
    }
    for e in p.leaf_elements().take(reachable).flatten() {
        let _ = Bucket::from_value(e.key, e.value);
    }
    let _ = freelist::read_ids(&p);
});
