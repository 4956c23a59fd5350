//! `snapshot restore`: refusals (flags, trailer, damage, non-empty targets),
//! the output against `etcdutl snapshot restore` (db bucket by bucket, WAL and
//! `.snap` bytes), Go bbolt's `tx.Check()` on every db written, and real etcd
//! 3.5 started on the restored dirs (one member, three members together).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use etcd_rescue::etcd::member::Cluster;
use etcd_rescue::formats::bbolt::{Bucket, Db};

use crate::util::{
    etcd_bin_dir, free_port, run, testdata, EtcdServer, InputGuard, MemberSpec, ETCD_35_NEWEST,
};

type Buckets = BTreeMap<Vec<u8>, (u64, BTreeMap<Vec<u8>, Vec<u8>>)>;

const WAL: &str = "member/wal/0000000000000000-0000000000000000.wal";

fn snapshot(scenario: &str) -> PathBuf {
    testdata().join(format!("etcd-3.5.1/{scenario}/snapshot.db"))
}

/// Every bucket (with its sequence) and its entries, read with our reader.
fn buckets(db: &Path) -> Buckets {
    let bytes = std::fs::read(db).unwrap();
    let db = Db::open(&bytes).unwrap();
    let mut out = Buckets::new();
    for top in db.root_bucket().cursor(&db) {
        let top = top.unwrap();
        let b = Bucket::from_value(top.key, top.value).unwrap();
        let mut kv = BTreeMap::new();
        for e in b.cursor(&db) {
            let e = e.unwrap();
            kv.insert(e.key.to_vec(), e.value.to_vec());
        }
        out.insert(top.key.to_vec(), (b.sequence, kv));
    }
    out
}

/// Go bbolt's `tx.Check()` on `db`, when the oracle is installed.
fn bbolt_check(db: &Path) {
    let Some(oracle) = crate::util::bbolt_check_bin() else {
        return;
    };
    let out = Command::new(&oracle).arg(db).output().unwrap();
    assert!(
        out.status.success(),
        "bbolt-check {}: {}{}",
        db.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn etcdutl_restore(version: &str, snap: &Path, args: &[&str], data: &Path) -> bool {
    let Some(bin) = etcd_bin_dir(version) else {
        return false;
    };
    let out = Command::new(bin.join("etcdutl"))
        .args(["snapshot", "restore"])
        .arg(snap)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "etcdutl {version} restore {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

fn ours(snap: &Path, args: &[&str]) -> crate::util::Run {
    let mut a: Vec<std::ffi::OsString> = vec!["snapshot".into(), "restore".into(), snap.into()];
    a.extend(args.iter().map(Into::into));
    run(&a)
}

/// Nothing but the named entries in `dir` (no temporary dirs left behind).
fn assert_only(dir: &Path, names: &[&str]) {
    let mut got: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    got.sort();
    let mut want: Vec<String> = names.iter().map(|s| (*s).to_string()).collect();
    want.sort();
    assert_eq!(got, want, "entries of {}", dir.display());
}

#[test]
fn flag_and_input_refusals() {
    let snap = snapshot("basic");
    let raw = testdata().join("etcd-3.5.1/basic/raw.db");
    let guard = InputGuard::new(&[&snap, &raw]);
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    let d_s = d.to_str().unwrap();

    // The bump pair, named right, both ways round.
    for args in [
        vec!["--data-dir", d_s, "--bump-revision", "10"],
        vec!["--data-dir", d_s, "--mark-compacted"],
    ] {
        let r = ours(&snap, &args);
        r.expect_code(2);
        assert!(
            r.stderr
                .contains("--bump-revision and --mark-compacted must be used together"),
            "{r}"
        );
    }
    // --name not in the cluster; advertised URLs that differ.
    let r = ours(&snap, &["--data-dir", d_s, "--name", "x"]);
    r.expect_code(2);
    assert!(
        r.stderr
            .contains("--name \"x\" is not in --initial-cluster"),
        "{r}"
    );
    let r = ours(
        &snap,
        &[
            "--data-dir",
            d_s,
            "--initial-advertise-peer-urls",
            "http://localhost:2381",
        ],
    );
    r.expect_code(2);
    assert!(r.stderr.contains("--initial-advertise-peer-urls"), "{r}");

    // A raw db copy needs --skip-hash-check, and says so.
    let r = ours(&raw, &["--data-dir", d_s]);
    r.expect_code(1);
    assert!(r.stderr.contains("raw db copy"), "{r}");
    assert!(r.stderr.contains("use --skip-hash-check"), "{r}");
    ours(&raw, &["--data-dir", d_s, "--skip-hash-check"]).expect_code(0);
    bbolt_check(&d.join("member/snap/db"));

    // A non-empty target is refused and left alone.
    let r = ours(&snap, &["--data-dir", d_s]);
    r.expect_code(2);
    assert!(r.stderr.contains("is not empty"), "{r}");

    // A modified snapshot: both digests in hex.
    let bytes = std::fs::read(&snap).unwrap();
    let mut modified = bytes.clone();
    modified[9000] ^= 0x55;
    let m = t.path().join("modified.db");
    std::fs::write(&m, &modified).unwrap();
    let e = t.path().join("e");
    let e_s = e.to_str().unwrap();
    let r = ours(&m, &["--data-dir", e_s]);
    r.expect_code(1);
    let stored: String = bytes[bytes.len() - 32..]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(r.stderr.contains("sha256 mismatch"), "{r}");
    assert!(r.stderr.contains(&stored), "{r}");
    assert!(r.stderr.contains("modified or damaged"), "{r}");

    // A truncated download (not 32 mod 512).
    let cut = t.path().join("cut.db");
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 100]).unwrap();
    let r = ours(&cut, &["--data-dir", e_s]);
    r.expect_code(1);
    assert!(r.stderr.contains("truncated"), "{r}");

    // Structural damage is refused even without the hash check: the root
    // page's header id (both metas' roots) overwritten in a raw copy.
    let mut rawb = std::fs::read(&raw).unwrap();
    for meta in [0usize, 4096] {
        let root = u64::from_le_bytes(rawb[meta + 32..meta + 40].try_into().unwrap()) as usize;
        rawb[root * 4096..root * 4096 + 8].copy_from_slice(&77u64.to_le_bytes());
    }
    let dmg = t.path().join("damaged.db");
    std::fs::write(&dmg, &rawb).unwrap();
    let r = ours(&dmg, &["--data-dir", e_s, "--skip-hash-check"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("refusing to restore a damaged snapshot"),
        "{r}"
    );

    // Nothing was written for the refused runs, no temporary dir is left.
    assert!(!e.exists());
    assert_only(t.path(), &["d", "modified.db", "cut.db", "damaged.db"]);
    guard.check();
}

/// Ours and etcdutl 3.5.1 on the same flags: same db contents, same WAL and
/// `.snap` bytes, for 1 and 3 members; 3 members also through --out-dir.
#[test]
fn matches_etcdutl_351() {
    if etcd_bin_dir("3.5.1").is_none() {
        return;
    }
    for scenario in ["basic", "auth", "large"] {
        let snap = snapshot(scenario);
        let guard = InputGuard::new(&[&snap]);
        for members in [1usize, 3] {
            let t = tempfile::tempdir().unwrap();
            let names = ["n1", "n2", "n3"];
            let peers: Vec<String> = (0..members)
                .map(|i| format!("http://127.0.0.1:{}", 12380 + i))
                .collect();
            let cluster: String = (0..members)
                .map(|i| format!("{}={}", names[i], peers[i]))
                .collect::<Vec<_>>()
                .join(",");
            let me = members - 1;
            let args = [
                "--name",
                names[me],
                "--initial-cluster",
                &cluster,
                "--initial-cluster-token",
                "tok",
                "--initial-advertise-peer-urls",
                &peers[me],
            ];
            let ref_dir = t.path().join("ref");
            assert!(etcdutl_restore("3.5.1", &snap, &args, &ref_dir));
            let our_dir = t.path().join("ours");
            let mut a = args.to_vec();
            a.extend(["--data-dir", our_dir.to_str().unwrap()]);
            ours(&snap, &a).expect_code(0);
            let snap_name = format!("member/snap/0000000000000001-{members:016x}.snap");
            assert_eq!(
                std::fs::read(our_dir.join(WAL)).unwrap(),
                std::fs::read(ref_dir.join(WAL)).unwrap(),
                "{scenario}: WAL differs ({members} members)"
            );
            assert_eq!(
                std::fs::read(our_dir.join(&snap_name)).unwrap(),
                std::fs::read(ref_dir.join(&snap_name)).unwrap(),
                "{scenario}: .snap differs ({members} members)"
            );
            let want = buckets(&ref_dir.join("member/snap/db"));
            assert_eq!(
                buckets(&our_dir.join("member/snap/db")),
                want,
                "{scenario}: db differs ({members} members)"
            );
            bbolt_check(&our_dir.join("member/snap/db"));

            // --out-dir: every member at once; each WAL as etcdutl writes it
            // for that member.
            if members == 3 {
                let all = t.path().join("all");
                let r = ours(
                    &snap,
                    &[
                        "--initial-cluster",
                        &cluster,
                        "--initial-cluster-token",
                        "tok",
                        "--out-dir",
                        all.to_str().unwrap(),
                        "-w",
                        "json",
                    ],
                );
                r.expect_code(0);
                let rep: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
                let c = Cluster::from_initial_cluster(&cluster, "tok").unwrap();
                assert_eq!(rep["cluster_id"].as_u64(), Some(c.id));
                assert_eq!(rep["members"].as_array().unwrap().len(), 3);
                for (i, n) in names.iter().enumerate() {
                    let mine = all.join(format!("{n}.etcd"));
                    let other = t.path().join(format!("ref-{n}"));
                    let mut a = args.to_vec();
                    a[1] = n;
                    a[7] = &peers[i];
                    assert!(etcdutl_restore("3.5.1", &snap, &a, &other));
                    assert_eq!(
                        std::fs::read(mine.join(WAL)).unwrap(),
                        std::fs::read(other.join(WAL)).unwrap(),
                        "--out-dir WAL of {n}"
                    );
                    assert_eq!(buckets(&mine.join("member/snap/db")), want);
                }
                assert_only(&all, &["n1.etcd", "n2.etcd", "n3.etcd"]);
            }
        }
        guard.check();
    }
}

/// The bump against etcdutl of the newest 3.5 (3.5.16 was the first with the flags).
#[test]
fn bump_matches_etcdutl_35_newest() {
    if etcd_bin_dir(ETCD_35_NEWEST).is_none() {
        return;
    }
    // The empty snapshot takes the streaming rewrite (inline `key` bucket).
    {
        let snap = snapshot("empty");
        let t = tempfile::tempdir().unwrap();
        let args = ["--bump-revision", "1000", "--mark-compacted"];
        let ref_dir = t.path().join("ref");
        assert!(etcdutl_restore(ETCD_35_NEWEST, &snap, &args, &ref_dir));
        let our_dir = t.path().join("ours");
        let mut a = args.to_vec();
        a.extend(["--data-dir", our_dir.to_str().unwrap()]);
        ours(&snap, &a).expect_code(0);
        assert_eq!(
            buckets(&our_dir.join("member/snap/db")),
            buckets(&ref_dir.join("member/snap/db"))
        );
    }
    let snap = snapshot("basic");
    let guard = InputGuard::new(&[&snap]);
    let t = tempfile::tempdir().unwrap();
    let args = ["--bump-revision", "1000", "--mark-compacted"];
    let ref_dir = t.path().join("ref");
    assert!(etcdutl_restore(ETCD_35_NEWEST, &snap, &args, &ref_dir));
    let our_dir = t.path().join("ours");
    let mut a = args.to_vec();
    a.extend(["--data-dir", our_dir.to_str().unwrap()]);
    ours(&snap, &a).expect_code(0);
    let got = buckets(&our_dir.join("member/snap/db"));
    assert_eq!(got, buckets(&ref_dir.join("member/snap/db")));
    let meta = &got[&b"meta".to_vec()].1;
    let sched = &meta[&b"scheduledCompactRev".to_vec()];
    assert_eq!(
        i64::from_be_bytes(sched[..8].try_into().unwrap()),
        crate::util::manifest_u64(snap.parent().unwrap(), "snapshot.db.status.revision") as i64
            + 1000
    );
    assert_eq!(
        std::fs::read(our_dir.join(WAL)).unwrap(),
        std::fs::read(ref_dir.join(WAL)).unwrap()
    );
    bbolt_check(&our_dir.join("member/snap/db"));
    guard.check();
}

/// `get "" --prefix -w json` key/values (base64 as etcdctl prints them).
fn all_kvs(etcd: &EtcdServer, rev: Option<i64>) -> Vec<(String, String)> {
    let mut args = vec!["get", "", "--prefix", "-w", "json"];
    let rev_s = rev.map(|r| r.to_string());
    if let Some(r) = &rev_s {
        args.extend(["--rev", r]);
    }
    let out = etcd.etcdctl(&args);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["kvs"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|kv| {
                    (
                        kv["key"].as_str().unwrap().to_string(),
                        kv["value"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn header(etcd: &EtcdServer) -> (u64, i64) {
    let out = etcd.etcdctl(&["get", "x", "-w", "json"]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["header"]["cluster_id"].as_u64().unwrap(),
        v["header"]["revision"].as_i64().unwrap(),
    )
}

fn member_ids(etcd: &EtcdServer) -> Vec<u64> {
    let out = etcd.etcdctl(&["member", "list", "-w", "json"]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut ids: Vec<u64> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ID"].as_u64().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

/// Starts one member per (name, dir) of `cluster`, waits for all.
fn start_cluster(
    version: &str,
    t: &Path,
    dirs: &[(String, String, PathBuf)],
    initial: &str,
    token: &str,
) -> Option<Vec<EtcdServer>> {
    let mut servers = Vec::new();
    for (name, peer, dir) in dirs {
        let log = t.join(format!("{name}-{version}.log"));
        let spec = MemberSpec {
            name,
            data_dir: dir,
            peer_url: peer,
            initial_cluster: initial,
            token,
            log: &log,
        };
        servers.push(EtcdServer::start_existing(version, &spec)?);
    }
    for (s, (name, _, _)) in servers.iter_mut().zip(dirs) {
        s.wait_healthy(30, &t.join(format!("{name}-{version}.log")));
    }
    Some(servers)
}

/// The source's keys and values, from etcd started on etcdutl's restore.
fn source_kvs(version: &str, snap: &Path, t: &Path) -> Option<(Vec<(String, String)>, i64)> {
    let peer = format!("http://127.0.0.1:{}", free_port());
    let initial = format!("src={peer}");
    let dir = t.join("src");
    if !etcdutl_restore(
        "3.5.1",
        snap,
        &[
            "--name",
            "src",
            "--initial-cluster",
            &initial,
            "--initial-advertise-peer-urls",
            &peer,
        ],
        &dir,
    ) {
        return None;
    }
    let mut s = start_cluster(
        version,
        t,
        &[("src".into(), peer, dir)],
        &initial,
        "etcd-cluster",
    )?;
    let kvs = all_kvs(&s[0], None);
    let (_, rev) = header(&s[0]);
    s[0].stop();
    Some((kvs, rev))
}

fn real_etcd_on_restored(version: &str, members: usize) {
    real_etcd_on_restored_from(version, members, &snapshot("large"));
}

/// Restores `snap` with ours (bumped, marked compacted) for `members`
/// members, starts etcd `version` on the result, and compares with etcd
/// started on etcdutl 3.5.1's plain restore of the same file.
fn real_etcd_on_restored_from(version: &str, members: usize, snap: &Path) {
    if etcd_bin_dir(version).is_none() || etcd_bin_dir("3.5.1").is_none() {
        return;
    }
    let snap = snap.to_path_buf();
    let guard = InputGuard::new(&[&snap]);
    let t = tempfile::tempdir().unwrap();
    let Some((want, src_rev)) = source_kvs(version, &snap, t.path()) else {
        return;
    };
    // An empty store reports revision 1 but holds no revision key: etcdutl
    // bumps from the latest stored revision, 0.
    let latest = if want.is_empty() { 0 } else { src_rev };
    let names: Vec<String> = (1..=members).map(|i| format!("m{i}")).collect();
    let peers: Vec<String> = names
        .iter()
        .map(|_| format!("http://127.0.0.1:{}", free_port()))
        .collect();
    let initial: String = names
        .iter()
        .zip(&peers)
        .map(|(n, p)| format!("{n}={p}"))
        .collect::<Vec<_>>()
        .join(",");
    let token = "restore-test";
    let bump = 5000i64;
    let out = t.path().join("out");
    let bump_s = bump.to_string();
    let mut args = vec![
        "--initial-cluster",
        &initial,
        "--initial-cluster-token",
        token,
        "--bump-revision",
        &bump_s,
        "--mark-compacted",
    ];
    let dirs: Vec<(String, String, PathBuf)> = if members == 1 {
        let d = out.join("single");
        args.extend([
            "--name",
            &names[0],
            "--initial-advertise-peer-urls",
            &peers[0],
            "--data-dir",
            d.to_str().unwrap(),
        ]);
        ours(&snap, &args).expect_code(0);
        vec![(names[0].clone(), peers[0].clone(), d)]
    } else {
        args.extend(["--out-dir", out.to_str().unwrap()]);
        let r = ours(&snap, &args);
        r.expect_code(0);
        assert!(r.stdout.contains("cluster id:"), "{r}");
        names
            .iter()
            .zip(&peers)
            .map(|(n, p)| (n.clone(), p.clone(), out.join(format!("{n}.etcd"))))
            .collect()
    };
    for (_, _, d) in &dirs {
        bbolt_check(&d.join("member/snap/db"));
    }
    let cluster = Cluster::from_initial_cluster(&initial, token).unwrap();
    let Some(mut servers) = start_cluster(version, t.path(), &dirs, &initial, token) else {
        return;
    };
    let want_ids: Vec<u64> = cluster.members.iter().map(|m| m.id).collect();
    for s in &servers {
        assert_eq!(
            member_ids(s),
            want_ids,
            "member list on {}",
            s.data_dir.display()
        );
        let (cid, rev) = header(s);
        assert_eq!(cid, cluster.id, "cluster id");
        assert!(rev >= latest + bump, "revision {rev} < {}", latest + bump);
        assert_eq!(
            all_kvs(s, None),
            want,
            "keys and values on {}",
            s.data_dir.display()
        );
        // Older revisions were marked compacted.
        let out = s.etcdctl(&["get", "", "--prefix", "--rev", &src_rev.to_string()]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("required revision has been compacted"),
            "{err}"
        );
    }
    // The cluster takes writes.
    let out = servers[0].etcdctl(&["put", "/after/restore", "ok"]);
    assert!(out.status.success(), "{out:?}");
    for s in &mut servers {
        s.stop();
    }
    guard.check();
}

#[test]
fn real_etcd_351_one_member() {
    real_etcd_on_restored("3.5.1", 1);
}

/// A snapshot written by etcd 3.4 (etcdctl 3.4.23 `snapshot save`: no
/// `meta/term`, 3.4 buckets), restored by us and served by etcd 3.5.1.
#[test]
fn real_etcd_351_on_a_34_written_snapshot() {
    let snap = testdata().join("etcd-3.4.23/large/snapshot.db");
    assert!(snap.is_file(), "{} missing", snap.display());
    real_etcd_on_restored_from("3.5.1", 1, &snap);
}

/// The streaming, compacting rewrite (taken when the copy-on-write patch does
/// not apply: here a bump on an inline `key` bucket, the empty scenario),
/// end to end: a smaller file than any patched copy, Go's check, etcd serves it.
#[test]
fn real_etcd_351_on_the_streaming_rewrite() {
    let snap = snapshot("empty");
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("probe");
    let r = ours(
        &snap,
        &[
            "--bump-revision",
            "5000",
            "--mark-compacted",
            "--data-dir",
            d.to_str().unwrap(),
            "-w",
            "json",
        ],
    );
    r.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    // A patched copy keeps every source page and adds new ones; the rewrite
    // packs the live data into fewer pages than the source has.
    let src_pgid = crate::util::manifest_u64(snap.parent().unwrap(), "snapshot.db.high_water_pgid");
    let written = v["db"]["written"]["pgid"].as_u64().unwrap();
    assert!(
        written < src_pgid,
        "not the rewrite: {written} pages vs source {src_pgid}: {r}"
    );
    assert_eq!(v["db"]["bumped_revision"], 5000, "{r}");
    bbolt_check(&d.join("member/snap/db"));
    real_etcd_on_restored_from("3.5.1", 1, &snap);
}

#[test]
fn real_etcd_351_three_members() {
    real_etcd_on_restored("3.5.1", 3);
}

#[test]
fn real_etcd_35_newest_three_members() {
    real_etcd_on_restored(ETCD_35_NEWEST, 3);
}

/// `--wal-dir` puts the WAL there (and refuses an existing one); the data dir
/// then has no `member/wal`.
#[test]
fn explicit_wal_dir() {
    let snap = snapshot("basic");
    let guard = InputGuard::new(&[&snap]);
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    let w = t.path().join("wal");
    let args = [
        "--data-dir",
        d.to_str().unwrap(),
        "--wal-dir",
        w.to_str().unwrap(),
        "--initial-memory-map-size",
        "1048576",
    ];
    ours(&snap, &args).expect_code(0);
    assert_eq!(
        std::fs::metadata(w.join("0000000000000000-0000000000000000.wal"))
            .unwrap()
            .len(),
        64_000_000
    );
    assert!(!d.join("member/wal").exists());
    assert!(d.join("member/snap/db").is_file());
    let d2 = t.path().join("d2");
    let r = ours(
        &snap,
        &[
            "--data-dir",
            d2.to_str().unwrap(),
            "--wal-dir",
            w.to_str().unwrap(),
        ],
    );
    r.expect_code(2);
    assert!(r.stderr.contains("exists"), "{r}");
    assert_only(t.path(), &["d", "wal"]);
    guard.check();
}
