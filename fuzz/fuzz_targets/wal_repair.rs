//! Arbitrary bytes as one or two WAL files through `repair wal`'s damage
//! finder: it must not panic, and a WAL cut where it says (its tail damage
//! cut off, as `repair wal` writes it) must decode cleanly to its end with
//! every record read before the damage.
#![no_main]

use std::path::PathBuf;

use etcd_rescue::formats::wal::{self, Segment, SegmentName, Stop};
use etcd_rescue::ops::repair::wal::find_damage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First byte chooses a split point (two files: the CRC chain crosses a
    // file) and whether the files are shorter on disk than their bytes say.
    let (a, b, short) = match data.split_first() {
        Some((s, rest)) if *s & 1 == 1 => {
            let at = (usize::from(*s) * rest.len() / 256) & !7;
            let (a, b) = rest.split_at(at.min(rest.len()));
            (a, b, *s & 2 == 2)
        }
        Some((s, rest)) => (rest, &[][..], *s & 2 == 2),
        None => (data, &[][..], false),
    };
    let seg = |i: u64, bytes: &[u8]| Segment {
        name: SegmentName { seq: i, index: i },
        path: PathBuf::from(format!("{i}.wal")),
        bytes: bytes.to_vec().into(),
    };
    let mut segs = vec![seg(0, a)];
    if !b.is_empty() {
        segs.push(seg(1, b));
    }
    let sizes: Vec<u64> = segs
        .iter()
        .map(|s| (s.bytes.len() as u64).saturating_sub(u64::from(short) * 3))
        .collect();
    let (decoded, found) = find_damage(&segs, &sizes);
    let Some((damage, _lost)) = found else {
        assert_eq!(decoded.stop, Stop::Eof);
        return;
    };
    if !damage.tail {
        return;
    }
    // Cut the damaged file at the damage, as repair wal writes it.
    let mut cut = segs.clone();
    let last = cut.len() - 1;
    let keep = usize::try_from(damage.offset).unwrap_or(usize::MAX);
    let bytes = cut[last].bytes.slice(..keep.min(cut[last].bytes.len()));
    cut[last].bytes = bytes;
    let again = wal::decode(&cut, false);
    assert_eq!(again.stop, Stop::Eof, "{damage:?}");
    assert_eq!(again.records.len(), decoded.records.len());
});
