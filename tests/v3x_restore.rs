//! `snapshot restore` for etcd 3.6 and 3.7: the output against etcdutl
//! 3.6.17 / 3.7.3 (`restore-ref` goldens: WAL and one-member `.snap` bytes,
//! three-member `.snap` and db by content; and live etcdutl runs with the same
//! flags, bump included), real etcd 3.6.17 / 3.7.3 started on our output (one
//! member; three together) serving the snapshot's keys with etcdutl's IDs, and
//! the cross-version cases as real etcd allows them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use etcd_rescue::formats::bbolt::{Bucket, Db};

use crate::util::{etcd_bin_dir, free_port, run, testdata, EtcdServer, InputGuard, MemberSpec};

type Buckets = BTreeMap<Vec<u8>, (u64, BTreeMap<Vec<u8>, Vec<u8>>)>;

const WAL: &str = "member/wal/0000000000000000-0000000000000000.wal";
const VERSIONS: [&str; 2] = ["3.6.17", "3.7.3"];
const REF_TOKEN: &str = "etcd-rescue-testdata";
const REF_PEER: &str = "http://127.0.0.1:2380";
const REF_THREE: &str =
    "n1=http://127.0.0.1:2380,n2=http://127.0.0.1:2381,n3=http://127.0.0.1:2382";

fn basic(version: &str) -> PathBuf {
    testdata().join(format!("etcd-{version}/basic/snapshot.db"))
}

fn ref_dir(version: &str, which: &str) -> PathBuf {
    testdata().join(format!("etcd-{version}/restore-ref/data/{which}"))
}

/// Every bucket (with its sequence) and its entries.
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

fn ours(snap: &Path, args: &[&str]) -> crate::util::Run {
    let mut a: Vec<std::ffi::OsString> = vec!["snapshot".into(), "restore".into(), snap.into()];
    a.extend(args.iter().map(Into::into));
    run(&a)
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

/// The WAL equals the reference's frames, and only zeros follow (the
/// committed references are trimmed after their last frame).
fn assert_wal_equal(ours: &Path, reference: &Path, what: &str) {
    let a = std::fs::read(ours).unwrap();
    let b = std::fs::read(reference).unwrap();
    assert!(a.len() >= b.len(), "{what}: our WAL is shorter");
    assert!(a[..b.len()] == b[..], "{what}: WAL frames differ");
    assert!(
        a[b.len()..].iter().all(|&x| x == 0),
        "{what}: non-zero bytes after the frames"
    );
}

/// A `.snap` by content: its metadata, and its v2 store with every node's
/// path and value, every event's key and value, the counters, but not the
/// indexes that follow the order members were added in (Go map order).
fn snap_content(p: &Path) -> (String, BTreeSet<(String, String)>, BTreeSet<String>, String) {
    let bytes = std::fs::read(p).unwrap();
    let f = etcd_rescue::formats::snap::decode(&bytes).unwrap();
    let meta = format!(
        "index {} term {} {:?}",
        f.index(),
        f.term(),
        f.snapshot.metadata.conf_state
    );
    let v: serde_json::Value = serde_json::from_slice(f.data()).unwrap();
    let mut nodes = BTreeSet::new();
    let mut stack = vec![&v["Root"]];
    while let Some(n) = stack.pop() {
        nodes.insert((
            n["Path"].as_str().unwrap().to_string(),
            n["Value"].as_str().unwrap_or("").to_string(),
        ));
        if let Some(c) = n["Children"].as_object() {
            stack.extend(c.values());
        }
    }
    let events = v["WatcherHub"]["EventHistory"]["Queue"]["Events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e.is_null())
        .map(|e| {
            format!(
                "{} {} {}",
                e["action"], e["node"]["key"], e["node"]["value"]
            )
        })
        .collect();
    let counters = format!("{} {}", v["CurrentIndex"], v["Stats"]);
    (meta, nodes, events, counters)
}

fn restore_ref_args(three: bool) -> Vec<&'static str> {
    vec![
        "--name",
        "n1",
        "--initial-cluster",
        if three {
            REF_THREE
        } else {
            "n1=http://127.0.0.1:2380"
        },
        "--initial-cluster-token",
        REF_TOKEN,
        "--initial-advertise-peer-urls",
        REF_PEER,
    ]
}

/// Our restore of each version's `basic` snapshot with the flags etcdutl got
/// for `restore-ref`: WAL bytes (1 and 3 members), one-member `.snap` bytes,
/// three-member `.snap` by content, db bucket by bucket, and the output
/// version chosen from the snapshot's storage version.
#[test]
fn golden_restore_ref_3x() {
    for version in VERSIONS {
        let snap = basic(version);
        let guard = InputGuard::new(&[&snap]);
        let t = tempfile::tempdir().unwrap();
        for (which, three) in [("single", false), ("three-n1", true)] {
            let reference = ref_dir(version, which);
            let dir = t.path().join(which);
            let mut args = restore_ref_args(three);
            args.extend(["--data-dir", dir.to_str().unwrap(), "-w", "json"]);
            let r = ours(&snap, &args);
            r.expect_code(0);
            let rep: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            let minor = &version[..3];
            assert_eq!(rep["output"]["version"], minor, "{r}");
            assert_eq!(rep["output"]["forced"], false);
            let what = format!("{version} {which}");
            assert_wal_equal(&dir.join(WAL), &reference.join(WAL), &what);
            let snap_name = if three {
                "0000000000000001-0000000000000003.snap"
            } else {
                "0000000000000001-0000000000000001.snap"
            };
            let ours_snap = dir.join("member/snap").join(snap_name);
            let ref_snap = reference.join("member/snap").join(snap_name);
            if three {
                assert_eq!(snap_content(&ours_snap), snap_content(&ref_snap), "{what}");
            } else {
                assert!(
                    std::fs::read(&ours_snap).unwrap() == std::fs::read(&ref_snap).unwrap(),
                    "{what}: .snap bytes differ"
                );
            }
            assert_eq!(
                buckets(&dir.join("member/snap/db")),
                buckets(&reference.join("member/snap/db")),
                "{what}: db buckets"
            );
        }
        guard.check();
    }
}

/// `--output-version` writes another etcdutl's encoding: 3.5's bytes for a
/// 3.6 snapshot equal the default 3.5 output's, 3.7's for a 3.6 snapshot the
/// 3.7.3 reference's WAL; 3.6 for a 3.7 snapshot is refused with the reason.
#[test]
fn golden_output_version_flag() {
    let t = tempfile::tempdir().unwrap();
    let snap36 = basic("3.6.17");
    let snap37 = basic("3.7.3");
    let guard = InputGuard::new(&[&snap36, &snap37]);
    // 3.6.17 snapshot written as 3.7.3 would: the WAL is the 3.7.3
    // reference's (the WAL does not depend on the db).
    let d = t.path().join("as37");
    let mut args = restore_ref_args(true);
    args.extend(["--data-dir", d.to_str().unwrap(), "--output-version", "3.7"]);
    ours(&snap36, &args).expect_code(0);
    assert_wal_equal(
        &d.join(WAL),
        &ref_dir("3.7.3", "three-n1").join(WAL),
        "3.6 snapshot as 3.7",
    );
    // 3.7 snapshot for etcd 3.6: refused before anything is written.
    let d = t.path().join("as36");
    let mut args = restore_ref_args(false);
    args.extend(["--data-dir", d.to_str().unwrap(), "--output-version", "3.6"]);
    let r = ours(&snap37, &args);
    r.expect_code(2);
    assert!(r.stderr.contains("storage version is 3.7.0"), "{r}");
    assert!(r.stderr.contains("--output-version 3.7"), "{r}");
    assert!(!d.exists());
    // Unknown version: usage error.
    let r = ours(&snap37, &["--output-version", "3.8"]);
    r.expect_code(2);
    guard.check();
}

/// `--bump-revision --mark-compacted` against etcdutl 3.6.17 / 3.7.3 with the
/// same flags: db bucket by bucket, WAL bytes, one-member `.snap` bytes.
#[test]
fn bump_matches_etcdutl_3x() {
    for version in VERSIONS {
        let snap = basic(version);
        let t = tempfile::tempdir().unwrap();
        let mut args = restore_ref_args(false);
        args.extend(["--bump-revision", "1000", "--mark-compacted"]);
        let ref_dir = t.path().join("ref");
        if !etcdutl_restore(version, &snap, &args, &ref_dir) {
            return;
        }
        let our_dir = t.path().join("ours");
        args.extend(["--data-dir", our_dir.to_str().unwrap()]);
        ours(&snap, &args).expect_code(0);
        let got = buckets(&our_dir.join("member/snap/db"));
        assert_eq!(got, buckets(&ref_dir.join("member/snap/db")), "{version}");
        let sched = &got[&b"meta".to_vec()].1[&b"scheduledCompactRev".to_vec()];
        assert_eq!(
            i64::from_be_bytes(sched[..8].try_into().unwrap()),
            31 + 1000
        );
        assert_wal_equal(&our_dir.join(WAL), &ref_dir.join(WAL), version);
        let s = "member/snap/0000000000000001-0000000000000001.snap";
        assert!(
            std::fs::read(our_dir.join(s)).unwrap() == std::fs::read(ref_dir.join(s)).unwrap(),
            "{version}: .snap"
        );
    }
}

/// `get "" --prefix -w json` keys and values (base64 as etcdctl prints them).
fn all_kvs(etcd: &EtcdServer) -> Vec<(String, String)> {
    let out = etcd.etcdctl(&["get", "", "--prefix", "-w", "json"]);
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

/// Starts one member per (name, peer URL, dir), waits for all.
fn start_all(
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

/// The member ids in etcdutl's `members` bucket.
fn bucket_member_ids(db: &Path) -> Vec<u64> {
    let b = buckets(db);
    let mut ids: Vec<u64> = b[&b"members".to_vec()]
        .1
        .keys()
        .map(|k| u64::from_str_radix(std::str::from_utf8(k).unwrap(), 16).unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

/// Keys and values etcd `serve` serves from `etcdutl` `util`'s one-member
/// restore of `snap` (the ground truth for what the snapshot holds).
fn etcdutl_served(util: &str, serve: &str, snap: &Path, t: &Path) -> Option<Vec<(String, String)>> {
    let peer = format!("http://127.0.0.1:{}", free_port());
    let initial = format!("src={peer}");
    let dir = t.join(format!("src-{util}"));
    let args = [
        "--name",
        "src",
        "--initial-cluster",
        &initial,
        "--initial-advertise-peer-urls",
        &peer,
    ];
    if !etcdutl_restore(util, snap, &args, &dir) {
        return None;
    }
    let mut s = start_all(
        serve,
        t,
        &[("src".into(), peer, dir)],
        &initial,
        "etcd-cluster",
    )?;
    let kvs = all_kvs(&s[0]);
    s[0].stop();
    Some(kvs)
}

/// Restores `snap_version`'s `basic` snapshot with our tool (`extra` flags)
/// for `members` members, starts real etcd `serve` on the result, and checks
/// keys and values against etcd on etcdutl `util`'s restore, the member ids
/// against etcdutl `util`'s `members` bucket for the same flags, and the
/// cluster id against ours.
fn real_etcd_on_ours(snap_version: &str, util: &str, serve: &str, members: usize, extra: &[&str]) {
    if etcd_bin_dir(serve).is_none() || etcd_bin_dir(util).is_none() {
        return;
    }
    let snap = basic(snap_version);
    let guard = InputGuard::new(&[&snap]);
    let t = tempfile::tempdir().unwrap();
    let Some(want) = etcdutl_served(util, serve, &snap, t.path()) else {
        return;
    };
    assert!(want.len() >= 10, "{want:?}");
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
    let token = "v3x-restore-test";
    let common = vec![
        "--initial-cluster",
        &initial,
        "--initial-cluster-token",
        token,
    ];
    // etcdutl's restore of the first member with the same flags: its ids.
    let util_dir = t.path().join("etcdutl-m1");
    let mut a = common.clone();
    a.extend([
        "--name",
        &names[0],
        "--initial-advertise-peer-urls",
        &peers[0],
    ]);
    assert!(etcdutl_restore(util, &snap, &a, &util_dir));
    let want_ids = bucket_member_ids(&util_dir.join("member/snap/db"));
    let out = t.path().join("out");
    let mut args = common.clone();
    args.extend(extra);
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
        ours(&snap, &args).expect_code(0);
        names
            .iter()
            .zip(&peers)
            .map(|(n, p)| (n.clone(), p.clone(), out.join(format!("{n}.etcd"))))
            .collect()
    };
    let cluster =
        etcd_rescue::etcd::member::Cluster::from_initial_cluster(&initial, token).unwrap();
    let Some(mut servers) = start_all(serve, t.path(), &dirs, &initial, token) else {
        return;
    };
    for s in &servers {
        let at = s.data_dir.display().to_string();
        assert_eq!(member_ids(s), want_ids, "member ids on {at} (etcd {serve})");
        assert_eq!(header(s).0, cluster.id, "cluster id on {at}");
        assert_eq!(all_kvs(s), want, "keys and values on {at} (etcd {serve})");
    }
    let out = servers[0].etcdctl(&["put", "/after/restore", "ok"]);
    assert!(out.status.success(), "{out:?}");
    for s in &mut servers {
        s.stop();
    }
    guard.check();
}

#[test]
fn real_etcd_3617_one_member() {
    real_etcd_on_ours("3.6.17", "3.6.17", "3.6.17", 1, &[]);
}

#[test]
fn real_etcd_3617_three_members() {
    real_etcd_on_ours("3.6.17", "3.6.17", "3.6.17", 3, &[]);
}

#[test]
fn real_etcd_373_one_member() {
    real_etcd_on_ours("3.7.3", "3.7.3", "3.7.3", 1, &[]);
}

#[test]
fn real_etcd_373_three_members() {
    real_etcd_on_ours("3.7.3", "3.7.3", "3.7.3", 3, &[]);
}

/// Bumped and compacted, three members of 3.7.3: served, the old revision
/// compacted.
#[test]
fn real_etcd_373_three_members_bumped() {
    real_etcd_on_ours(
        "3.7.3",
        "3.7.3",
        "3.7.3",
        3,
        &["--bump-revision", "1000", "--mark-compacted"],
    );
}

/// Cross-version, as real etcd allows: a 3.6 snapshot written for an etcd
/// 3.5 cluster (`--output-version 3.5`; etcd 3.5 ignores the storage
/// version), and a 3.5 snapshot written in 3.6's format for etcd 3.6 (its
/// upgrade path).
#[test]
fn real_etcd_cross_36_snapshot_on_3536() {
    real_etcd_on_ours(
        "3.6.17",
        "3.5.36",
        "3.5.36",
        1,
        &["--output-version", "3.5"],
    );
}

#[test]
fn real_etcd_cross_35_snapshot_on_3617() {
    real_etcd_on_ours("3.5.1", "3.6.17", "3.6.17", 1, &["--output-version", "3.6"]);
}
