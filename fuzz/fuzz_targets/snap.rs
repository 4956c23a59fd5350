//! Arbitrary bytes as a .snap file, and its data as the v2 store JSON.
#![no_main]

use etcd_rescue::etcd::{membership, v2store};
use etcd_rescue::formats::snap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = snap::decode(data) {
        let _ = snap::encode(&s.snapshot);
        if let Ok(st) = v2store::Store::parse(s.data()) {
            let _ = membership::from_v2(&st);
            let _ = st.has_custom_content();
            let _ = st.user_keys();
        }
    }
    // The raw bytes as v2 JSON too (most inputs never pass the CRC).
    if let Ok(st) = v2store::Store::parse(data) {
        let _ = membership::from_v2(&st);
        let _ = st.has_custom_content();
        let _ = st.user_keys();
    }
    if let Ok(name) = std::str::from_utf8(data) {
        let _ = snap::parse_name(name);
    }
});
