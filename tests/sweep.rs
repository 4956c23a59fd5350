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
        for flip in [0xffu8] {
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
