//! Arbitrary bytes as mvccpb.KeyValue and as a revision key.
#![no_main]

use etcd_rescue::etcd::revision;
use etcd_rescue::formats::proto::KeyValueRef;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = KeyValueRef::decode(data);
    let _ = revision::parse(data);
    let _ = revision::main_of(data);
});
