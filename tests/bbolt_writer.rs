//! The bbolt writer (`formats::bbolt::write`): files it writes are read back by
//! us, pass Go bbolt's `tx.Check()` (the `bbolt-check` oracle built by
//! scripts/get-etcd.sh), and `etcdutl snapshot status` (3.5.1) prints the same
//! hash, revision and key count as our status.

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;

use etcd_rescue::formats::bbolt::write::{copy_db, DbWriter, WriterOptions};
use etcd_rescue::formats::bbolt::{check, Db};

use crate::util::{etcd_bin_dir, run, testdata, InputGuard};

/// Go bbolt's structural check, if installed.
#[track_caller]
fn oracle() -> Option<PathBuf> {
    crate::util::bbolt_check_bin()
}

fn go_check(oracle: &Path, db: &Path) {
    let out = Command::new(oracle)
        .arg(db)
        .output()
        .expect("run bbolt-check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "OK",
        "bbolt-check {}: exit {:?}\n{stdout}\n{}",
        db.display(),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[derive(Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    hash: u32,
    revision: i64,
    total_key: u64,
    total_size: u64,
}

fn our_status(db: &Path) -> Status {
    our_status_as(db, "auto")
}

/// Our status with `--compat` set, e.g. "3.5" to compare with etcdutl 3.5.1
/// on files written by 3.6+ (whose TOTAL KEYS etcdutl 3.5 counts its own way).
fn our_status_as(db: &Path, compat: &str) -> Status {
    let r = run(&[
        "snapshot".as_ref(),
        "status".as_ref(),
        db.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
        "--compat".as_ref(),
        compat.as_ref(),
    ]);
    r.expect_code(0);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{r}"))
}

fn etcdutl_status(etcdutl: &Path, db: &Path) -> Status {
    let out = Command::new(etcdutl)
        .args(["snapshot", "status", "-w", "json"])
        .arg(db)
        .output()
        .expect("run etcdutl");
    assert!(
        out.status.success(),
        "etcdutl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("etcdutl json")
}

fn rewrite(src: &Path, dst: &Path, opts: WriterOptions) {
    let src = etcd_rescue::source::Source::open(src).unwrap();
    let db = Db::open(src.bytes()).unwrap();
    let out = BufWriter::with_capacity(1 << 20, std::fs::File::create(dst).unwrap());
    let (_out, summary) = copy_db(&db, out, opts).unwrap();
    assert_eq!(std::fs::metadata(dst).unwrap().len(), summary.file_len);
}

fn dbs_in_testdata() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(versions) = std::fs::read_dir(testdata()) else {
        return out;
    };
    for v in versions.flatten() {
        let Ok(scenarios) = std::fs::read_dir(v.path()) else {
            continue;
        };
        for s in scenarios.flatten() {
            for name in ["snapshot.db", "raw.db"] {
                let p = s.path().join(name);
                if p.is_file() {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

/// Every db made by real etcd, rewritten, keeps etcdutl's figures (size aside:
/// the rewrite is compact), passes Go's check, and etcdutl agrees with us.
#[test]
fn rewritten_real_dbs_keep_status() {
    let dbs = dbs_in_testdata();
    assert!(
        !dbs.is_empty(),
        "no testdata under {}",
        testdata().display()
    );
    let guard = InputGuard::new(&dbs);
    let tmp = tempfile::tempdir().unwrap();
    let oracle = oracle();
    let etcdutl = etcd_bin_dir("3.5.1").map(|d| d.join("etcdutl"));
    for (i, src) in dbs.iter().enumerate() {
        let dst = tmp.path().join(format!("rewrite-{i}.db"));
        rewrite(src, &dst, WriterOptions::default());
        let (a, b) = (our_status(src), our_status(&dst));
        assert_eq!(
            (a.hash, a.revision, a.total_key),
            (b.hash, b.revision, b.total_key),
            "{}",
            src.display()
        );
        assert!(
            b.total_size <= a.total_size.max(16384),
            "{}: {a:?} vs {b:?}",
            src.display()
        );
        if let Some(o) = &oracle {
            go_check(o, &dst);
        }
        if let Some(u) = &etcdutl {
            let ours_35 = our_status_as(&dst, "3.5");
            assert_eq!(etcdutl_status(u, &dst), ours_35, "{}", src.display());
        }
    }
    guard.check();
}

/// Minimal proto3 `mvccpb.KeyValue` encoder for test data.
fn kv_proto(key: &[u8], create: u64, rev: u64, version: u64, value: &[u8]) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut out = Vec::new();
    for (tag, bytes) in [(0x0a, key), (0x2a, value)] {
        if bytes.is_empty() {
            continue;
        }
        if tag == 0x2a {
            for (t, v) in [(0x10, create), (0x18, rev), (0x20, version)] {
                out.push(t);
                varint(&mut out, v);
            }
        }
        out.push(tag);
        varint(&mut out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }
    out
}

/// Writes an etcd-shaped db: `key` with `n` revisions (some values large
/// enough for overflow pages), `members` (inline), `meta`.
fn write_etcd_like(path: &Path, n: u64, opts: WriterOptions) {
    let out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut w = DbWriter::new(out, opts).unwrap();
    w.begin_bucket(b"cluster").unwrap();
    w.put(b"clusterVersion", b"3.5.0").unwrap();
    w.begin_bucket(b"key").unwrap();
    let mut value = Vec::new();
    for rev in 2..n + 2 {
        let mut k = [0u8; 17];
        k[..8].copy_from_slice(&rev.to_be_bytes());
        k[8] = b'_';
        let user_key = format!("/registry/pods/ns{}/pod-{}", rev % 7, rev % 1000);
        value.clear();
        let len = if rev % 97 == 0 {
            100_000
        } else {
            (rev % 300) as usize
        };
        value.resize(len, b'v');
        w.put(&k, &kv_proto(user_key.as_bytes(), rev, rev, 1, &value))
            .unwrap();
    }
    w.begin_bucket(b"members").unwrap();
    w.put(
        b"8e9e05c52164694d",
        br#"{"id":10276657743932975437,"peerURLs":["http://localhost:2380"],"name":"default"}"#,
    )
    .unwrap();
    w.begin_bucket(b"meta").unwrap();
    w.put(b"consistent_index", &(n + 5).to_be_bytes()).unwrap();
    w.put(b"term", &2u64.to_be_bytes()).unwrap();
    w.finish().unwrap();
}

/// Generated dbs at several page sizes: Go's check is clean and etcdutl's
/// status equals ours.
#[test]
fn generated_dbs_pass_go_check_and_etcdutl() {
    let tmp = tempfile::tempdir().unwrap();
    let oracle = oracle();
    let etcdutl = etcd_bin_dir("3.5.1").map(|d| d.join("etcdutl"));
    for (i, (ps, n)) in [(4096u32, 5000u64), (16384, 3000), (65536, 800), (4096, 1)]
        .into_iter()
        .enumerate()
    {
        let p = tmp.path().join(format!("gen-{i}.db"));
        let opts = WriterOptions {
            page_size: ps,
            ..WriterOptions::default()
        };
        write_etcd_like(&p, n, opts);
        let bytes = std::fs::read(&p).unwrap();
        let db = Db::open(&bytes).unwrap();
        assert!(check(&db).findings.is_empty());
        let ours = our_status(&p);
        assert_eq!(ours.revision, i64::try_from(n + 1).unwrap());
        assert_eq!(ours.total_key, n + 4);
        if let Some(o) = &oracle {
            go_check(o, &p);
        }
        if let Some(u) = &etcdutl {
            assert_eq!(etcdutl_status(u, &p), ours, "page size {ps}");
        }
    }
}

/// Throughput: generate a large etcd-shaped db (ETCD_RESCUE_PERF_MIB, default
/// 1024) and rewrite it with `copy_db`. Run in release:
/// `cargo test --release --test integration bbolt_writer::perf -- --ignored --nocapture`
#[test]
#[ignore = "perf measurement; writes ~2x the size in a temp dir"]
fn perf_rewrite_large_db() {
    let mib: u64 = std::env::var("ETCD_RESCUE_PERF_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("big.db");
    // ~1.3 KB per revision on disk (values average ~1 KB with the 100 KB ones).
    let n = mib * 1024 * 1024 / 1300;
    let t = std::time::Instant::now();
    write_etcd_like(&src, n, WriterOptions::default());
    let gen = t.elapsed();
    let len = std::fs::metadata(&src).unwrap().len();
    if std::env::var_os("ETCD_RESCUE_PERF_GEN_ONLY").is_some() {
        // For measuring the writer's own memory (no source map in the process).
        eprintln!(
            "PERF: generated {n} revisions, {:.1} MiB in {gen:.2?}",
            len as f64 / 1_048_576.0
        );
        return;
    }
    // A read-only pass over every entry, for comparison.
    let t = std::time::Instant::now();
    let src_map = etcd_rescue::source::Source::open(&src).unwrap();
    let db = Db::open(src_map.bytes()).unwrap();
    let mut bytes_seen = 0usize;
    for top in db.root_bucket().cursor(&db) {
        let top = top.unwrap();
        let b = etcd_rescue::formats::bbolt::Bucket::from_value(top.key, top.value).unwrap();
        for e in b.cursor(&db) {
            let e = e.unwrap();
            bytes_seen += e.key.len() + e.value.len();
        }
    }
    let read = t.elapsed();
    let t = std::time::Instant::now();
    let h = etcd_rescue::etcd::mvcc::hash_kv(&db, 0, etcd_rescue::etcd::mvcc::TombstoneRule::V3516)
        .unwrap();
    eprintln!(
        "PERF: hashkv (two passes, {} kept keys): {:.2?}",
        h.keep_len,
        t.elapsed()
    );
    eprintln!("PERF: read-only cursor pass over {bytes_seen} key+value bytes: {read:.2?}");
    let dst = tmp.path().join("rewrite.db");
    let t = std::time::Instant::now();
    rewrite(&src, &dst, WriterOptions::default());
    let rw = t.elapsed();
    let secs = rw.as_secs_f64();
    eprintln!(
        "PERF: generated {n} revisions, {:.1} MiB in {:.2?}; rewrite (mmap read + write) {:.2?} = {:.0} MiB/s",
        len as f64 / 1048576.0,
        gen,
        rw,
        len as f64 / 1048576.0 / secs
    );
    if let Some(o) = oracle() {
        go_check(&o, &dst);
    }
}
