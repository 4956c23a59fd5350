//! `check` against the bbolt CLI 1.4.3 / 1.5.0 (`bbolt check`, the bbolt of
//! etcd 3.6 / 3.7) on damaged copies of a real etcd 3.7.3 db. bbolt 1.4+
//! checks key order (1.3.6's `tx.Check()` does not: it says OK on these files);
//! `check` reports the same key and page under `bbolt.key.order`.
//! On an etcd db (no stored freelist) the 1.4/1.5 CLI computes the free pages
//! with the check at open and panics on the first finding; its panic text is
//! what is compared.

use std::path::PathBuf;
use std::process::Command;

use crate::util::{real_etcd_required, repo, run};

fn bbolt_cli(version: &str) -> Option<PathBuf> {
    let root = std::env::var_os("ETCD_RESCUE_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".etcd-bin"));
    let p = root.join(format!("bbolt-{version}/bbolt"));
    if p.is_file() {
        return Some(p);
    }
    assert!(
        !real_etcd_required(),
        "bbolt CLI {version} required but missing at {}",
        p.display()
    );
    eprintln!(
        "SKIPPED: bbolt CLI {version} not installed at {}",
        p.display()
    );
    None
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// A copy of `raw.db` whose first leaf page with 5+ elements has the first byte
/// of its second key set to 0xff, so that key sorts after the third.
fn key_order_damage() -> (tempfile::TempDir, PathBuf, u64) {
    // The committed file (not ETCD_RESCUE_TESTDATA): its page layout is known,
    // the first such leaf is a reachable one (in a fresh file it can be a freed copy).
    let src = repo().join("testdata/etcd-3.7.3/basic/raw.db");
    let mut b = std::fs::read(&src).unwrap();
    let ps = 4096usize;
    let page = (2..b.len() / ps)
        .find(|&i| {
            let at = i * ps;
            u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) == i as u64
                && u16_at(&b, at + 8) == 0x02
                && u16_at(&b, at + 10) >= 5
        })
        .expect("a leaf page with 5+ elements");
    // Leaf element i: flags u32, pos u32 (from the element), ksize u32, vsize u32.
    let elem = page * ps + 16 + 16;
    let pos = u32_at(&b, elem + 4) as usize;
    b[elem + pos] = 0xff;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("key-order.db");
    std::fs::write(&db, &b).unwrap();
    (dir, db, page as u64)
}

#[test]
fn key_order_finding_matches_bbolt_1_4_and_1_5() {
    let (dir, db, page) = key_order_damage();
    let ours = run(&[
        "check",
        db.to_str().unwrap(),
        "--skip-hash-check",
        "-w",
        "json",
    ]);
    ours.expect_code(1);
    let v: serde_json::Value = serde_json::from_str(&ours.stdout).unwrap();
    let findings = v["inputs"][0]["findings"].as_array().unwrap();
    let key_order: Vec<&str> = findings
        .iter()
        .filter(|f| f["code"] == "bbolt.key.order")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(key_order.len(), 1, "{ours}");
    let ours_msg = key_order[0];
    assert!(ours_msg.contains(&format!("page {page}:")), "{ours_msg}");
    for version in ["1.4.3", "1.5.0"] {
        let Some(cli) = bbolt_cli(version) else {
            continue;
        };
        // The CLI opens read-write: run it on its own copy.
        let copy = dir.path().join(format!("copy-{version}.db"));
        std::fs::copy(&db, &copy).unwrap();
        let out = Command::new(&cli).arg("check").arg(&copy).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // "key[2]=(hex)<k> on leaf page(2) needs to be > (found <) than previous element (hex)<p>"
        let theirs = text
            .split("key[")
            .nth(1)
            .unwrap_or_else(|| panic!("bbolt {version} found no key-order problem:\n{text}"));
        let index = theirs.split(']').next().unwrap();
        let key_hex = theirs
            .split("=(hex)")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let prev_hex = theirs
            .split("previous element (hex)")
            .nth(1)
            .unwrap()
            .split(['.', ' '])
            .next()
            .unwrap();
        assert!(
            theirs.contains(&format!("leaf page({page})")),
            "{version}: {text}"
        );
        assert!(
            ours_msg.contains(&format!("key[{index}]")),
            "{version}: {ours_msg} vs {text}"
        );
        assert!(
            ours_msg.contains(key_hex) && ours_msg.contains(prev_hex),
            "{version}: {ours_msg} vs {text}"
        );
    }
    // bbolt 1.3.6 (etcd 3.5's `tx.Check()`) does not look at key order.
    if let Some(dir36) = std::env::var_os("ETCD_RESCUE_BIN_DIR").map(PathBuf::from) {
        let bc = dir36.join("bbolt-check");
        if bc.is_file() {
            let copy = dir.path().join("copy-1.3.6.db");
            std::fs::copy(&db, &copy).unwrap();
            let out = Command::new(&bc).arg(&copy).output().unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
        }
    }
}
