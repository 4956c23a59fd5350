//! Arbitrary bytes as a v2 store JSON followed by v2 requests: parse, replay
//! (etcd's apply rules, SYNC expiry), list and look up; nothing may panic.
//! Layout: u16 LE length of the JSON, the JSON, then requests each as
//! u16 LE length + protobuf `etcdserverpb.Request`.
#![no_main]

use etcd_rescue::etcd::v2replay::{self, V2Store};
use etcd_rescue::etcd::v2store::Store;
use etcd_rescue::formats::proto::etcdserverpb::Request;
use etcd_rescue::ops::v2::V2Loaded;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn take<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, rest) = data.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_le_bytes(*len));
    let (part, rest) = (rest.get(..len)?, rest.get(len..)?);
    *data = rest;
    Some(part)
}

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let json = take(&mut rest).unwrap_or(&[]);
    let mut store = match Store::parse(json) {
        Ok(s) => V2Store::from_saved(&s),
        Err(_) => V2Store::empty(),
    };
    if let Ok(t) = std::str::from_utf8(json) {
        if let Some(ns) = v2replay::parse_rfc3339_ns(t) {
            let _ = v2replay::format_rfc3339_ns(ns);
        }
    }
    while let Some(req) = take(&mut rest) {
        if let Ok(r) = Request::decode(req) {
            let _ = store.apply(&r);
        }
    }
    let loaded = V2Loaded {
        snap: None,
        snap_index: 0,
        applied_index: 0,
        requests: 0,
        failed: 0,
        store,
        findings: Vec::new(),
        storage_version: None,
    };
    let _ = loaded.ls("/", true).map(|v| v.len());
    let _ = loaded.lookup("/a/b");
});
