//! Mutation sweep: every single-byte change of a small real db (and truncation
//! at every page boundary) through `check`, `snapshot status` and the walk,
//! in-process: no panic, no hang, each result sound or a typed error.
//! (WAL and .snap sweeps live with their readers' tests.)

use std::path::Path;
use std::time::{Duration, Instant};

use etcd_rescue::etcd::status;
use etcd_rescue::formats::bbolt::{CheckReport, Db};
use etcd_rescue::ops::check::{check_bytes, CheckOptions};

use crate::util;

/// Longest any one mutated file may take (debug build).
const CASE_LIMIT: Duration = Duration::from_secs(2);

fn exercise(data: &[u8]) -> (bool, Duration) {
    let t = Instant::now();
    let path = Path::new("mutated.db");
    // The trailer digest is checked once on the base file; per mutation it would
    // only add a SHA-256 pass (every mutation breaks it anyway).
    let opts = CheckOptions {
        verify_trailer: false,
    };
    let sound = match check_bytes(data, path, true, &|_| {}, opts) {
        Ok(r) => r.sound,
        Err(e) => {
            // A typed error with a message, never empty.
            assert!(!e.to_string().is_empty());
            false
        }
    };
    if let Ok(db) = Db::open(data) {
        let mut report = CheckReport::default();
        let _ = status::compute(&db, None, &mut report);
    }
    (sound, t.elapsed())
}

#[test]
fn every_byte_of_a_real_db_mutated() {
    let src = util::testdata().join("etcd-3.5.1/basic/snapshot.db");
    let base = std::fs::read(&src).unwrap();
    let (sound, _) = exercise(&base);
    assert!(sound);
    let opts = CheckOptions {
        verify_trailer: true,
    };
    assert!(
        check_bytes(&base, Path::new("base.db"), true, &|_| {}, opts)
            .unwrap()
            .sound
    );
    let mut worst = Duration::ZERO;
    let (mut sound_n, mut refused_n) = (0u64, 0u64);
    let mut data = base.clone();
    for i in 0..data.len() {
        {
            let flip = 0xffu8;
            data[i] ^= flip;
            let (ok, took) = exercise(&data);
            data[i] ^= flip;
            worst = worst.max(took);
            assert!(took < CASE_LIMIT, "byte {i} ^ {flip:#x} took {took:?}");
            if ok {
                sound_n += 1;
            } else {
                refused_n += 1;
            }
        }
    }
    eprintln!("sweep: {sound_n} mutations still sound, {refused_n} refused, worst case {worst:?}");
}

#[test]
fn truncation_at_every_page_boundary_and_more() {
    let src = util::testdata().join("etcd-3.5.1/large/raw.db");
    let base = std::fs::read(&src).unwrap();
    let step = 4096;
    let mut cut = 0;
    while cut < base.len() {
        for c in [cut, cut + 1, cut + 17] {
            let (ok, took) = exercise(&base[..c.min(base.len())]);
            assert!(took < CASE_LIMIT * 4, "cut at {c} took {took:?}");
            assert!(!ok || c >= base.len(), "cut at {c} judged sound");
        }
        cut += step * 7;
    }
}

/// Fuzz finding (bbolt_db, 2026-11-21): a meta claiming a huge high-water
/// mark made the reachability bitset ask for 2^61 bytes. Sets are now sized
/// by the file.
#[test]
fn regression_huge_high_water_mark() {
    let p = util::repo().join("testdata/regressions/bbolt_db-huge-pgid.db");
    let data = std::fs::read(&p).unwrap();
    let (_, took) = exercise(&data);
    assert!(took < CASE_LIMIT);
}

/// Every byte of a real WAL segment flipped: decode (strict and raw), ReadAll
/// and payload decoding end without panic or hang; every flip inside a record
/// is noticed by the strict reader (CRC, framing or decode), and a sample of
/// flips also goes through `inspect` on a whole data dir.
#[test]
fn every_byte_of_a_real_wal_segment_mutated() {
    use std::path::PathBuf;

    use etcd_rescue::etcd::entry;
    use etcd_rescue::formats::wal::{self, Segment, SegmentName};

    let member = util::testdata().join("etcd-3.5.1/single-node/data/n1/member");
    let wal_path = std::fs::read_dir(member.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "wal"))
        .unwrap();
    let base = std::fs::read(&wal_path).unwrap();
    let run_one = |bytes: &[u8]| {
        let segs = [Segment {
            name: SegmentName { seq: 0, index: 0 },
            path: PathBuf::from("0.wal"),
            bytes: bytes::Bytes::copy_from_slice(bytes),
        }];
        let t = Instant::now();
        for raw in [false, true] {
            let d = wal::decode(&segs, raw);
            let r = wal::read_all(&d, &segs, 0, 0, 0);
            for e in &r.entries {
                let _ = entry::payload(&e.entry).summary();
            }
        }
        t.elapsed()
    };
    let mut data = base.clone();
    let mut worst = Duration::ZERO;
    for i in 0..data.len() {
        data[i] ^= 0xff;
        worst = worst.max(run_one(&data));
        data[i] ^= 0xff;
    }
    assert!(worst < CASE_LIMIT, "worst WAL case took {worst:?}");

    // A sample through the whole inspect operation on a copied data dir.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n1");
    copy_tree(&member, &dir.join("member"));
    let copy = dir.join("member/wal").join(wal_path.file_name().unwrap());
    for i in (0..base.len()).step_by(997) {
        let mut d = base.clone();
        d[i] ^= 0xff;
        std::fs::write(&copy, &d).unwrap();
        let t = Instant::now();
        let _ = etcd_rescue::ops::inspect::inspect(&dir);
        assert!(
            t.elapsed() < CASE_LIMIT * 2,
            "inspect with byte {i} flipped took too long"
        );
    }
    eprintln!("WAL sweep: {} flips, worst {worst:?}", base.len());
}

/// Every byte of a real .snap flipped: decode and the v2 store parse end
/// without panic; every flip is caught by the CRC or the decoder.
#[test]
fn every_byte_of_a_real_snap_mutated() {
    use etcd_rescue::etcd::v2store;
    use etcd_rescue::formats::snap;

    let dir = util::testdata().join("etcd-3.5.1/single-node/data/n1/member/snap");
    let path = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "snap"))
        .unwrap();
    let base = std::fs::read(&path).unwrap();
    assert!(snap::decode(&base).is_ok());
    let mut data = base.clone();
    let mut accepted = 0;
    for i in 0..data.len() {
        data[i] ^= 0xff;
        if let Ok(s) = snap::decode(&data) {
            accepted += 1;
            let _ = v2store::Store::parse(s.data());
        }
        data[i] ^= 0xff;
    }
    // A flip can only survive where protobuf framing leaves room (none in practice).
    assert!(
        accepted * 100 < base.len(),
        "{accepted} of {} flips passed the CRC",
        base.len()
    );
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_tree(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}
