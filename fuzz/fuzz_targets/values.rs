//! Arbitrary bytes through the value decoder and every renderer `get` uses.
#![no_main]

use etcd_rescue::etcd::values;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let d = values::decode(data);
    let _ = d.kind_name();
    if let values::Decoded::Json(t) = d {
        let _ = values::pretty_json(t);
    }
    if let Some(body) = data.strip_prefix(values::K8S_MAGIC) {
        let _ = values::k8s_envelope(body);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        // The re-indenter must not panic on invalid JSON either.
        let _ = values::pretty_json(s);
    }
    let _ = values::proto_dump(data);
    let _ = values::hexdump(data, 4096);
    let _ = values::base64(data);
    let _ = values::printable(data);
});
