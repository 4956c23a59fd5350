//! Arbitrary bytes as one or two WAL files: decode (strict and raw), ReadAll,
//! and every record's payload as etcd would interpret it.
#![no_main]

use std::path::PathBuf;

use etcd_rescue::etcd::entry;
use etcd_rescue::formats::wal::{self, Segment, SegmentName};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First byte chooses a split point: two files make the CRC chain cross a file.
    let (a, b) = match data.split_first() {
        Some((s, rest)) if *s & 1 == 1 => {
            let at = (usize::from(*s) * rest.len() / 256) & !7;
            rest.split_at(at.min(rest.len()))
        }
        Some((_, rest)) => (rest, &[][..]),
        None => (data, &[][..]),
    };
    let mut segs = vec![Segment { name: SegmentName { seq: 0, index: 0 }, path: PathBuf::from("0.wal"), bytes: a.to_vec().into() }];
    if !b.is_empty() {
        segs.push(Segment { name: SegmentName { seq: 1, index: 1 }, path: PathBuf::from("1.wal"), bytes: b.to_vec().into() });
    }
    for raw in [false, true] {
        let d = wal::decode(&segs, raw);
        let r = wal::read_all(&d, &segs, 0, 0, 0);
        for e in &r.entries {
            let p = entry::payload(&e.entry);
            let _ = p.summary();
        }
        let _ = wal::snapshot_records(&d);
    }
});
