//! `check`: real files are sound; each kind of damage gives its finding code
//! and exit 1; unreadable inputs exit 2; inputs are never changed.

use std::path::{Path, PathBuf};

use etcd_rescue::formats::bbolt::Db;

use crate::util::{self, run, InputGuard};

fn json(r: &util::Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{r}"))
}

fn codes(v: &serde_json::Value, i: usize) -> Vec<String> {
    v["inputs"][i]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

fn all_real_dbs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for ver in ["etcd-3.5.1", "etcd-3.4.23"] {
        for sc in ["basic", "auth", "large", "empty"] {
            for f in ["snapshot.db", "raw.db"] {
                let p = util::testdata().join(ver).join(sc).join(f);
                if p.exists() {
                    v.push(p);
                }
            }
        }
    }
    assert!(v.len() >= 12, "real test files missing");
    v
}

#[test]
fn golden_check_real_files_are_sound() {
    let files = all_real_dbs();
    let guard = InputGuard::new(&files);
    let mut args = vec!["check".to_string(), "-w".into(), "json".into()];
    args.extend(files.iter().map(|p| p.display().to_string()));
    let r = run(&args);
    r.expect_code(0);
    let v = json(&r);
    assert_eq!(v["sound"], true);
    for (i, f) in files.iter().enumerate() {
        let input = &v["inputs"][i];
        let want_kind = if f.ends_with("snapshot.db") {
            "saved-snapshot"
        } else {
            "raw-db-copy"
        };
        assert_eq!(input["file_kind"], want_kind, "{}", f.display());
        if want_kind == "saved-snapshot" {
            assert_eq!(input["trailer"]["state"], "valid");
        }
        assert!(input["status"]["hash"].is_u64());
        assert!(input["facts"]["consistent_index"].is_u64());
    }
    guard.check();
}

fn copy_with(dir: &Path, name: &str, src: &Path, f: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut b = std::fs::read(src).unwrap();
    f(&mut b);
    let p = dir.join(name);
    std::fs::write(&p, b).unwrap();
    p
}

/// Byte offset in `data` of the value of the first `key` bucket entry.
fn first_key_value_offset(data: &[u8]) -> usize {
    let db = Db::open(data).unwrap();
    let key = db.bucket(b"key").unwrap().unwrap();
    let e = key.cursor(&db).next().unwrap().unwrap();
    e.value.as_ptr() as usize - data.as_ptr() as usize
}

#[test]
fn damage_is_found_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let snap = util::testdata().join("etcd-3.5.1/basic/snapshot.db");
    let guard = InputGuard::new(&[&snap]);
    let bytes = std::fs::read(&snap).unwrap();
    let voff = first_key_value_offset(&bytes);

    // A KeyValue whose key field has the wrong wire type: schema finding, and the
    // trailer no longer matches.
    let bad_kv = copy_with(d, "bad-kv.db", &snap, |b| b[voff] = 0x08);
    let r = run(&[
        "check".as_ref(),
        bad_kv.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    r.expect_code(1);
    let c = codes(&json(&r), 0);
    assert!(c.contains(&"etcd.key.bad-value".to_string()), "{c:?}");
    assert!(
        c.contains(&"snapshot.trailer.mismatch".to_string()),
        "{c:?}"
    );

    // Cut at a page boundary: truncated, no trailer.
    let cut = copy_with(d, "cut.db", &snap, |b| b.truncate(4096 * 5));
    let r = run(&[
        "check".as_ref(),
        cut.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    // Readable as far as it goes: exit 1 (problems), not 2 (unreadable),
    // with the cut named first and what it makes unreadable after it.
    r.expect_code(1);
    let v = json(&r);
    assert_eq!(v["inputs"][0]["file_kind"], "truncated");
    assert_eq!(v["inputs"][0]["trailer"]["state"], "absent");
    assert_eq!(
        codes(&v, 0),
        [
            "file.truncated",
            "etcd.meta.unreadable",
            "etcd.schema.missing-bucket",
            "etcd.schema.missing-bucket"
        ],
        "{v:#}"
    );

    // Structural damage: the key bucket root turned into a freelist page.
    let db = Db::open(&bytes).unwrap();
    let root = match db.bucket(b"key").unwrap().unwrap().root {
        etcd_rescue::formats::bbolt::BucketRoot::Paged(id) => id as usize,
        _ => panic!(),
    };
    let typed = copy_with(d, "type.db", &snap, |b| b[root * 4096 + 8] = 0x10);
    let r = run(&[
        "check".as_ref(),
        typed.as_os_str(),
        "--skip-hash-check".as_ref(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    r.expect_code(1);
    assert!(codes(&json(&r), 0).contains(&"bbolt.page.invalid-type".to_string()));
    let r = run(&["check".as_ref(), typed.as_os_str()]);
    r.expect_code(1);
    assert!(
        r.stdout
            .contains(&format!("page {root}: invalid type: freelist")),
        "{r}"
    );
    assert!(r.stdout.contains("PROBLEMS FOUND"), "{r}");

    // One sound, one unreadable: exit 2, both reported.
    let junk = d.join("junk.db");
    std::fs::write(&junk, vec![1u8; 10000]).unwrap();
    let r = run(&[
        "check".as_ref(),
        snap.as_os_str(),
        junk.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    r.expect_code(2);
    let v = json(&r);
    assert_eq!(v["inputs"][0]["sound"], true);
    assert!(v["inputs"][1]["error"]
        .as_str()
        .unwrap()
        .contains("not a bbolt database"));
    guard.check();
}

/// Every data dir written by real etcd (3.4.23 and 3.5.1): sound, WAL and
/// .snap included.
#[test]
fn golden_check_real_data_dirs_are_sound() {
    let mut dirs = Vec::new();
    for (ver, sc) in [
        ("etcd-3.5.1", "single-node"),
        ("etcd-3.5.1", "cluster3"),
        ("etcd-3.5.1", "wal-ahead"),
        ("etcd-3.4.23", "v2-patroni"),
    ] {
        let data = util::testdata().join(ver).join(sc).join("data");
        for e in std::fs::read_dir(&data).unwrap() {
            dirs.push(e.unwrap().path());
        }
    }
    dirs.sort();
    assert!(dirs.len() >= 6);
    let guard = InputGuard::new(&dirs);
    let mut args = vec!["check".to_string(), "-w".into(), "json".into()];
    args.extend(dirs.iter().map(|p| p.display().to_string()));
    let r = run(&args);
    r.expect_code(0);
    let v = json(&r);
    for (i, d) in dirs.iter().enumerate() {
        for f in v["inputs"][i]["findings"].as_array().unwrap() {
            assert_ne!(f["severity"], "error", "{}: {f}", d.display());
        }
    }
    // wal-ahead: the committed entries past the db are reported (info).
    let ahead = dirs
        .iter()
        .position(|d| d.to_string_lossy().contains("wal-ahead"))
        .unwrap();
    assert!(
        codes(&v, ahead).contains(&"wal.ahead-of-db".to_string()),
        "{v:#}"
    );
    guard.check();
}

/// A data dir whose WAL or .snap is damaged: `check` reads them too, names
/// the file and offset, and exits 1.
#[test]
fn damaged_wal_and_snap_in_a_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    // WAL: one byte of an entry record flipped (CRC chain breaks).
    let src = util::testdata().join("etcd-3.5.1/wal-ahead/data/n1");
    let dir = tmp.path().join("wal-bad");
    util::copy_tree(&src, &dir);
    let wal = dir.join("member/wal/0000000000000000-0000000000000000.wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&wal, &bytes).unwrap();
    let r = run(&["check", "-w", "json", dir.to_str().unwrap()]);
    r.expect_code(1);
    let v = json(&r);
    assert_eq!(v["sound"], false);
    let findings = v["inputs"][0]["findings"].as_array().unwrap().clone();
    let crc = findings
        .iter()
        .find(|f| f["code"] == "wal.crc.mismatch" || f["code"] == "wal.record.unmarshal")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(crc["severity"], "error");
    assert!(
        crc["at"]["file"].as_str().unwrap().ends_with(".wal"),
        "{crc}"
    );
    assert!(crc["at"]["offset"].is_u64(), "{crc}");

    // .snap: the newest .snap's body damaged; etcd would fall back.
    let src = util::testdata().join("etcd-3.5.1/single-node/data/n1");
    let dir = tmp.path().join("snap-bad");
    util::copy_tree(&src, &dir);
    let mut snaps: Vec<PathBuf> = std::fs::read_dir(dir.join("member/snap"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "snap"))
        .collect();
    snaps.sort();
    let newest = snaps.last().expect("single-node has a .snap").clone();
    let mut bytes = std::fs::read(&newest).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&newest, &bytes).unwrap();
    let r = run(&["check", "-w", "json", dir.to_str().unwrap()]);
    // etcd falls back to the older .snap: a warning, and the dir is sound (0).
    r.expect_code(0);
    let v = json(&r);
    assert_eq!(codes(&v, 0), ["snap.unreadable"], "{v:#}");
    assert_eq!(v["inputs"][0]["findings"][0]["severity"], "warning");
}
