//! `salvage`: a real db with one damaged leaf page of the key bucket gives
//! back every key except those whose newest version was on that page; the
//! result passes our check and Go's, and restores and starts in real etcd.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use etcd_rescue::etcd::revision;
use etcd_rescue::formats::bbolt::{BucketRoot, Db};
use etcd_rescue::formats::proto::KeyValueRef;

use crate::util::{self, run, InputGuard};

/// Newest state per user key: (revision key, value, page id holding it).
fn latest(data: &[u8]) -> HashMap<Vec<u8>, (Vec<u8>, Vec<u8>, bool)> {
    let db = Db::open(data).unwrap();
    let key = db.bucket(b"key").unwrap().unwrap();
    let mut m = HashMap::new();
    for e in key.cursor(&db) {
        let e = e.unwrap();
        let rk = revision::parse(e.key).unwrap();
        let kv = KeyValueRef::decode(e.value).unwrap();
        m.insert(
            kv.key.to_vec(),
            (e.key.to_vec(), e.value.to_vec(), rk.tombstone),
        );
    }
    m
}

/// A leaf page of the key bucket (with its revision keys), chosen mid-tree.
fn a_key_leaf(data: &[u8]) -> (usize, Vec<Vec<u8>>) {
    let db = Db::open(data).unwrap();
    let BucketRoot::Paged(root) = db.bucket(b"key").unwrap().unwrap().root else {
        panic!()
    };
    let mut stack = vec![root];
    let mut leaves = Vec::new();
    while let Some(id) = stack.pop() {
        let p = db.page(id).unwrap();
        if p.header.is_branch() {
            for e in p.branch_elements() {
                stack.push(e.unwrap().child);
            }
        } else {
            leaves.push(id);
        }
    }
    leaves.sort();
    let id = leaves[leaves.len() / 2];
    let p = db.page(id).unwrap();
    let keys = p.leaf_elements().map(|e| e.unwrap().key.to_vec()).collect();
    (id as usize, keys)
}

#[test]
fn salvage_recovers_all_but_the_damaged_page() {
    let tmp = tempfile::tempdir().unwrap();
    let src = util::testdata().join("etcd-3.5.1/large/raw.db");
    let orig = std::fs::read(&src).unwrap();
    let (leaf, lost_revs) = a_key_leaf(&orig);
    let mut damaged = orig.clone();
    let ps = 4096;
    for b in &mut damaged[leaf * ps + 16..(leaf + 1) * ps] {
        *b = 0xde;
    }
    let input = tmp.path().join("damaged.db");
    std::fs::write(&input, &damaged).unwrap();
    let guard = InputGuard::new(&[&input]);
    let out = tmp.path().join("salvaged.db");
    let r = run(&[
        "salvage".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    r.expect_code(1); // written, with damage reported
    guard.check();
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(report["scan"]["unreadable_elements"].as_u64().unwrap() > 0);

    // Every live key whose newest version was not on the damaged page is back, byte for byte.
    let want = latest(&orig);
    let got_bytes = std::fs::read(&out).unwrap();
    let got = latest(&got_bytes);
    let mut expected_live = 0;
    for (k, (rk, v, dead)) in &want {
        if *dead || lost_revs.contains(rk) {
            continue;
        }
        expected_live += 1;
        let (grk, gv, gdead) = got
            .get(k)
            .unwrap_or_else(|| panic!("key {:?} lost", String::from_utf8_lossy(k)));
        assert!(!gdead);
        assert_eq!(
            (grk, gv),
            (rk, v),
            "key {:?} differs",
            String::from_utf8_lossy(k)
        );
    }
    let on_page = want
        .values()
        .filter(|(rk, _, dead)| !dead && lost_revs.contains(rk))
        .count();
    assert!(
        got.len() >= expected_live && got.len() <= expected_live + on_page,
        "{} vs {expected_live}+{on_page}",
        got.len()
    );

    // The new db is sound for us and for Go's bbolt.
    run(&["check".as_ref(), out.as_os_str()]).expect_code(0);
    if let Some(bin) = util::etcd_bin_dir("3.5.1") {
        if let Some(oracle) = util::bbolt_check_bin() {
            let o = Command::new(&oracle).arg(&out).output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
        }
        restore_and_start(&bin, &out, tmp.path(), expected_live);
    }
}

/// `etcdutl snapshot restore --skip-hash-check` of the salvaged db, then etcd
/// starts on it and serves the recovered keys.
fn restore_and_start(bin: &Path, db: &Path, dir: &Path, at_least: usize) {
    let data = dir.join("restored");
    let (cp, pp) = (util::free_port(), util::free_port());
    let peer = format!("http://127.0.0.1:{pp}");
    let o = Command::new(bin.join("etcdutl"))
        .args(["snapshot", "restore", "--skip-hash-check", "--name", "n1"])
        .arg(db)
        .arg("--data-dir")
        .arg(&data)
        .args([
            "--initial-cluster",
            &format!("n1={peer}"),
            "--initial-advertise-peer-urls",
            &peer,
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "etcdutl restore: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let log = dir.join("etcd.log");
    let mut etcd = util::EtcdServer::start_on("3.5.1", &data, &log, Some((cp, pp)), &[])
        .expect("3.5.1 present: the restore above used it");
    let count = etcd.etcdctl(&["get", "", "--prefix", "--count-only", "-w", "fields"]);
    etcd.stop();
    let text = String::from_utf8_lossy(&count.stdout);
    let n: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("\"Count\" : "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count in {text}"));
    assert!(
        n >= at_least,
        "etcd serves {n} keys, expected at least {at_least}"
    );
}
