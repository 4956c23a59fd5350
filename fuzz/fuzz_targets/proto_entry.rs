//! Arbitrary bytes as a raft entry of each type, as entry data, and as the
//! other WAL messages; decoded messages must re-encode to a decodable form.
#![no_main]

use etcd_rescue::etcd::entry;
use etcd_rescue::formats::proto::{etcdserverpb, raftpb, walpb};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = raftpb::Entry::decode(data) {
        let again = raftpb::Entry::decode(e.encode_to_vec().as_slice());
        assert!(again.is_ok_and(|x| x == e));
        let _ = entry::payload(&e).summary();
    }
    for t in 0..3 {
        let e = raftpb::Entry { r#type: t, term: 1, index: 1, data: Some(data.to_vec().into()) };
        let _ = serde_json::to_string(&entry::payload(&e));
    }
    let _ = walpb::Record::decode(data);
    let _ = walpb::Snapshot::decode(data);
    let _ = raftpb::HardState::decode(data);
    let _ = etcdserverpb::Metadata::decode(data);
    let _ = raftpb::Snapshot::decode(data);
});
