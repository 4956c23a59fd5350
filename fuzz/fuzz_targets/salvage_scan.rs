//! Arbitrary bytes through salvage's raw page scan and keyspace recovery.
#![no_main]

use etcd_rescue::etcd::salvage::scan_keyspace;
use etcd_rescue::formats::bbolt::scan::guess_page_size;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ps = guess_page_size(data);
    let _ = scan_keyspace(data, ps);
    let _ = scan_keyspace(data, 1024);
});
