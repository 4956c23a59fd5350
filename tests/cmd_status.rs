//! `snapshot status`: byte-for-byte against etcdutl's goldens, and every kind
//! of bad input ends in a one-line error with exit 2, never a panic.

use std::path::{Path, PathBuf};

use etcd_rescue::formats::bbolt::{Db, Visitor};

use crate::util::{self, run, InputGuard};

/// A small real db to damage: the raw `member/snap/db` of the 3.5.1 `basic` scenario.
fn base_db() -> PathBuf {
    util::testdata().join("etcd-3.5.1/basic/raw.db")
}

fn large_db() -> PathBuf {
    util::testdata().join("etcd-3.5.1/large/raw.db")
}

#[test]
fn data_dir_and_member_dir_use_member_snap_db() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("data/member/snap");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::copy(base_db(), snap.join("db")).unwrap();
    let want = run(&[
        "snapshot".as_ref(),
        "status".as_ref(),
        base_db().as_os_str(),
    ]);
    want.expect_code(0);
    for p in [tmp.path().join("data"), tmp.path().join("data/member")] {
        let r = run(&["snapshot".as_ref(), "status".as_ref(), p.as_os_str()]);
        r.expect_code(0);
        assert_eq!(r.stdout, want.stdout);
    }
}

/// Writes a damaged copy of `src` and returns its path.
fn damaged(dir: &Path, name: &str, src: &Path, f: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut b = std::fs::read(src).unwrap();
    f(&mut b);
    let p = dir.join(name);
    std::fs::write(&p, b).unwrap();
    p
}

/// Status on a bad file: exit 2, an `Error:` naming the file, no panic.
#[track_caller]
fn assert_refused(p: &Path, needle: &str) {
    let r = run(&["snapshot".as_ref(), "status".as_ref(), p.as_os_str()]);
    assert_eq!(r.code, 2, "{r}");
    assert!(!r.stderr.contains("panicked"), "{r}");
    assert!(r.stdout.is_empty(), "{r}");
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("Error: "), "{r}");
    assert!(
        first.contains(&p.display().to_string()),
        "error must name the file: {r}"
    );
    assert!(r.stderr.contains(needle), "want {needle:?} in:\n{r}");
}

fn page_size_and_root(b: &[u8]) -> (usize, u64) {
    let db = Db::open(b).unwrap();
    (db.page_size() as usize, db.meta().root)
}

/// Page id of the `key` bucket's root page.
fn key_bucket_root(b: &[u8]) -> u64 {
    let db = Db::open(b).unwrap();
    match db.bucket(b"key").unwrap().unwrap().root {
        etcd_rescue::formats::bbolt::BucketRoot::Paged(id) => id,
        etcd_rescue::formats::bbolt::BucketRoot::Inline(_) => panic!("key bucket inline"),
    }
}

/// The `key` bucket's root page, a branch in the large scenario (its exact
/// depth is checked by golden::golden_db_facts_equal_the_manifest).
fn a_branch_page(b: &[u8]) -> u64 {
    let id = key_bucket_root(b);
    let db = Db::open(b).unwrap();
    let p = db.page(id).unwrap();
    assert!(
        p.header.is_branch(),
        "key bucket root of the large db should be a branch"
    );
    id
}

fn set_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
fn set_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn set_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let base = base_db();
    let guard = InputGuard::new(&[&base]);
    let bytes = std::fs::read(&base).unwrap();
    let (ps, _root) = page_size_and_root(&bytes);

    let empty = damaged(d, "empty.db", &base, |b| b.clear());
    assert_refused(&empty, "file is empty");

    let text = d.join("notes.txt");
    std::fs::write(&text, "this is not a database\n".repeat(400)).unwrap();
    assert_refused(&text, "not a bbolt database");

    let both = damaged(d, "both-metas.db", &base, |b| {
        b[16] ^= 0xff;
        b[ps + 16] ^= 0xff;
    });
    assert_refused(&both, "not a bbolt database");

    let short = damaged(d, "short.db", &base, |b| b.truncate(ps + 100));
    assert_refused(&short, "truncated");

    let kroot = key_bucket_root(&bytes) as usize;
    let mismatch = damaged(d, "id-mismatch.db", &base, |b| set_u64(b, kroot * ps, 9999));
    assert_refused(&mismatch, &format!("page {kroot}: header says page 9999"));

    let wrong_type = damaged(d, "wrong-type.db", &base, |b| {
        set_u16(b, kroot * ps + 8, 0x10)
    });
    assert_refused(
        &wrong_type,
        &format!("page {kroot}: invalid type: freelist"),
    );

    let elem = damaged(d, "element.db", &base, |b| {
        set_u32(b, kroot * ps + 16 + 4, 60_000)
    });
    assert_refused(&elem, &format!("page {kroot}"));

    let overflow = damaged(d, "overflow.db", &base, |b| {
        set_u32(b, kroot * ps + 12, 1_000_000)
    });
    assert_refused(&overflow, "truncated");

    let dir = d.join("emptydir");
    std::fs::create_dir(&dir).unwrap();
    assert_refused(&dir, "neither member/");
    let datadir = d.join("datadir");
    std::fs::create_dir_all(datadir.join("member/wal")).unwrap();
    assert_refused(&datadir, "no db in this data dir");

    let missing = d.join("no-such-file.db");
    assert_refused(&missing, "No such file");

    guard.check();
}

#[test]
fn cycles_and_shared_pages_end_in_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let src = large_db();
    let bytes = std::fs::read(&src).unwrap();
    let (ps, _) = page_size_and_root(&bytes);
    let br = a_branch_page(&bytes) as usize;
    // Point the branch's second child at the branch itself: a cycle.
    let cycle = damaged(tmp.path(), "cycle.db", &src, |b| {
        set_u64(b, br * ps + 16 + 16 + 8, br as u64)
    });
    assert_refused(&cycle, &format!("page {br}: multiple references"));
    // Point the second child at the first: a page reached twice.
    let first_child = u64::from_le_bytes(bytes[br * ps + 24..br * ps + 32].try_into().unwrap());
    let shared = damaged(tmp.path(), "shared.db", &src, |b| {
        set_u64(b, br * ps + 16 + 16 + 8, first_child)
    });
    assert_refused(&shared, "multiple references");
}

#[test]
fn one_bad_meta_uses_the_other_and_warns() {
    let tmp = tempfile::tempdir().unwrap();
    let base = base_db();
    let want = run(&["snapshot".as_ref(), "status".as_ref(), base.as_os_str()]);
    want.expect_code(0);
    let bytes = std::fs::read(&base).unwrap();
    let (ps, _) = page_size_and_root(&bytes);
    let db = Db::open(&bytes).unwrap();
    let chosen = db.meta_choice().chosen as usize;
    // Break the meta in use: the older one is read (same tree in a clean db).
    let p = damaged(tmp.path(), "meta.db", &base, |b| {
        b[chosen * ps + 16 + 50] ^= 0x01
    });
    let r = run(&["snapshot".as_ref(), "status".as_ref(), p.as_os_str()]);
    r.expect_code(0);
    assert!(
        r.stderr.contains(&format!("meta page {chosen} is invalid")),
        "{r}"
    );
    assert!(r.stderr.contains("checksum mismatch"), "{r}");
}

#[test]
fn truncation_at_every_page_boundary_never_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let base = base_db();
    let bytes = std::fs::read(&base).unwrap();
    let (ps, _) = page_size_and_root(&bytes);
    let mut cuts: Vec<usize> = (0..=bytes.len() / ps).map(|i| i * ps).collect();
    cuts.extend([1, 15, 79, 80, ps + 17, bytes.len().saturating_sub(1)]);
    for cut in cuts {
        let p = tmp.path().join(format!("cut-{cut}.db"));
        std::fs::write(&p, &bytes[..cut.min(bytes.len())]).unwrap();
        let r = run(&["snapshot".as_ref(), "status".as_ref(), p.as_os_str()]);
        assert!(r.code == 0 || r.code == 2, "cut at {cut}: {r}");
        assert!(!r.stderr.contains("panicked"), "cut at {cut}: {r}");
        if r.code == 0 && cut < bytes.len() {
            assert!(
                r.stderr.contains("truncated"),
                "cut at {cut} must warn: {r}"
            );
        }
    }
}

#[test]
fn total_keys_meaning_follows_the_flag() {
    let base = base_db();
    let r35 = run(&[
        "snapshot".as_ref(),
        "status".as_ref(),
        base.as_os_str(),
        "--compat".as_ref(),
        "3.5".as_ref(),
    ]);
    let r36 = run(&[
        "snapshot".as_ref(),
        "status".as_ref(),
        base.as_os_str(),
        "--compat".as_ref(),
        "3.6".as_ref(),
    ]);
    r35.expect_code(0);
    r36.expect_code(0);
    // Same hash, revision and size; 3.6 counts live keys and adds the (empty) version column.
    let a: Vec<&str> = r35.stdout.trim_end().split(", ").collect();
    let b: Vec<&str> = r36.stdout.trim_end_matches('\n').split(", ").collect();
    assert_eq!(a.len(), 4);
    assert_eq!(b.len(), 5);
    assert_eq!((a[0], a[1], a[3]), (b[0], b[1], b[3]));
    assert_eq!(b[4], "");

    // Count live keys independently through the library's cursor.
    let bytes = std::fs::read(&base).unwrap();
    let db = Db::open(&bytes).unwrap();
    let key = db.bucket(b"key").unwrap().unwrap();
    let mut live = std::collections::BTreeSet::new();
    for e in key.cursor(&db) {
        let e = e.unwrap();
        let kv = etcd_rescue::formats::proto::KeyValueRef::decode(e.value).unwrap();
        if etcd_rescue::etcd::revision::is_tombstone(e.key) {
            live.remove(kv.key);
        } else {
            live.insert(kv.key);
        }
    }
    assert_eq!(b[2], live.len().to_string());
}

/// Counts the entries of every top-level bucket via the visitor, to cross-check
/// the 3.5 TOTAL KEYS against an independent cursor walk.
#[test]
fn visitor_and_cursor_agree() {
    struct Count(u64);
    impl<'a> Visitor<'a> for Count {
        fn entry(&mut self, _k: &'a [u8], _v: Option<&'a [u8]>) {
            self.0 += 1;
        }
        fn fork(&self) -> Self {
            Count(0)
        }
        fn join(&mut self, later: Self) {
            self.0 += later.0;
        }
    }
    for p in [base_db(), large_db()] {
        let bytes = std::fs::read(&p).unwrap();
        let db = Db::open(&bytes).unwrap();
        let mut c = Count(0);
        let report = etcd_rescue::formats::bbolt::walk(&db, &mut c);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        let mut n = 0;
        for top in db.root_bucket().cursor(&db) {
            let top = top.unwrap();
            let b = etcd_rescue::formats::bbolt::Bucket::from_value(top.key, top.value).unwrap();
            n += b.cursor(&db).inspect(|e| assert!(e.is_ok())).count() as u64;
        }
        assert_eq!(c.0, n);
    }
}

/// `--verify-trailer`: a saved snapshot's sha256 trailer checked; a flipped
/// trailer byte leaves etcdutl's stdout unchanged and warns on stderr, and
/// only when asked.
#[test]
fn verify_trailer_checks_the_sha256() {
    let snap = util::testdata().join("etcd-3.5.1/basic/snapshot.db");
    let want =
        std::fs::read_to_string(snap.with_file_name("expected/snapshot.db.status.simple")).unwrap();
    let r = run(&[
        "snapshot".as_ref(),
        "status".as_ref(),
        snap.as_os_str(),
        "--verify-trailer".as_ref(),
    ]);
    r.expect_code(0);
    assert_eq!(r.stdout, want, "{r}");
    assert!(r.stderr.is_empty(), "{r}");
    let tmp = tempfile::tempdir().unwrap();
    let bad = damaged(tmp.path(), "trailer.db", &snap, |b| {
        let last = b.len() - 1;
        b[last] ^= 1;
    });
    let r = run(&[
        "snapshot".as_ref(),
        "status".as_ref(),
        bad.as_os_str(),
        "--verify-trailer".as_ref(),
    ]);
    r.expect_code(0);
    assert_eq!(r.stdout, want, "{r}");
    assert!(r.stderr.contains("sha256 trailer does not match"), "{r}");
    let r = run(&["snapshot".as_ref(), "status".as_ref(), bad.as_os_str()]);
    r.expect_code(0);
    assert!(
        r.stderr.is_empty(),
        "without the flag the trailer is not read: {r}"
    );
}
