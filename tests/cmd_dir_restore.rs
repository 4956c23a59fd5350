//! `snapshot restore DATA_DIR`: a member killed with writes only in its WAL
//! (the backend commits every 10 minutes here, so the db lags), restored by
//! us from its data dir, against real etcd started on a copy of the same dir
//! with `--force-new-cluster` (etcd applies the WAL itself). Both must serve
//! the same keys (values, create/mod revisions, versions, leases), revision,
//! HashKV and leases with their keys.

use std::path::Path;

use serde_json::Value;

use crate::util::{self, copy_tree, EtcdServer, MemberSpec};

/// etcd flags that keep writes in the WAL only: no raft snapshot, no
/// backend commit by time or count.
const WAL_ONLY: &[&str] = &[
    "--snapshot-count",
    "1000000",
    "--backend-batch-interval",
    "10m",
    "--backend-batch-limit",
    "1000000",
];

fn lease_grant(s: &EtcdServer, ttl: &str) -> String {
    // "lease 694d77aa9b4ff40b granted with TTL(1000s)"
    let out = s.ctl(&["lease", "grant", ttl]);
    out.split_whitespace().nth(1).unwrap().to_string()
}

/// Phase A (committed to the db by a snapshot save), phase B (WAL only):
/// puts, overwrites, deletes, txns both ways, leases granted, attached and
/// revoked, a put refused at apply (unknown lease), `--ignore-value`.
fn write_load(s: &EtcdServer, dir: &Path) {
    for i in 0..20 {
        s.ctl(&["put", &format!("a/{i:03}"), &format!("va{i}")]);
    }
    let l1 = lease_grant(s, "1000");
    s.ctl(&["put", "a/leased", "x", &format!("--lease={l1}")]);
    // Forces a backend commit: the db holds phase A.
    s.ctl(&["snapshot", "save", dir.join("phase-a.db").to_str().unwrap()]);

    for i in 0..15 {
        s.ctl(&["put", &format!("b/{i:03}"), &format!("vb{i}")]);
    }
    for i in 0..5 {
        s.ctl(&["put", &format!("a/{i:03}"), &format!("again{i}")]);
    }
    s.ctl(&["del", "a/007"]);
    s.ctl(&["del", "b/01", "--prefix"]);
    s.ctl(&["del", "nothing-here"]);
    let l2 = lease_grant(s, "1200");
    let l3 = lease_grant(s, "900");
    s.ctl(&["put", "b/leased-2", "y", &format!("--lease={l2}")]);
    s.ctl(&["put", "c/leased-3a", "z", &format!("--lease={l3}")]);
    s.ctl(&["put", "c/leased-3b", "z", &format!("--lease={l3}")]);
    s.ctl(&["put", "a/leased", "moved", &format!("--lease={l2}")]);
    s.ctl(&["lease", "revoke", &l3]);
    // Refused at apply (lease not found): in the WAL, no effect.
    let _ = s.etcdctl(&["put", "d/refused", "v", "--lease=123456789abc"]);
    s.ctl(&["put", "a/000", "--ignore-value"]);
    // Txn: success branch, then failure branch.
    s.ctl_stdin(
        &["txn"],
        b"mod(\"a/001\") > \"0\"\nvalue(\"a/002\") = \"again2\"\n\nput t/ok yes\ndel a/003\nput a/001 txn\n\nput t/bad no\n\n",
    );
    s.ctl_stdin(
        &["txn"],
        b"create(\"missing\") > \"0\"\n\nput t/bad2 no\n\nput t/fail-branch yes\ndel b/00 --prefix\n\n",
    );
    s.ctl(&["put", "z/last", "end"]);
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// What a server serves: keys, revision, HashKV, leases and their keys.
#[derive(Debug, PartialEq)]
struct Served {
    kvs: Vec<Value>,
    revision: u64,
    hash: u64,
    compact_revision: i64,
    leases: Vec<(String, i64, Vec<String>)>,
}

fn served(s: &EtcdServer) -> Served {
    let get = json(&s.ctl(&["get", "", "--prefix", "-w", "json"]));
    let revision = get["header"]["revision"].as_u64().unwrap();
    let kvs = get["kvs"].as_array().cloned().unwrap_or_default();
    let status = json(&s.ctl(&["endpoint", "status", "-w", "json"]));
    assert_eq!(
        status[0]["Status"]["header"]["revision"].as_u64(),
        Some(revision),
        "endpoint status revision"
    );
    let hkv = json(&s.ctl(&["endpoint", "hashkv", "-w", "json"]));
    let hash = hkv[0]["HashKV"]["hash"].as_u64().unwrap();
    let compact_revision = hkv[0]["HashKV"]["compact_revision"].as_i64().unwrap_or(0);
    let list = json(&s.ctl(&["lease", "list", "-w", "json"]));
    let mut leases = Vec::new();
    for l in list["leases"].as_array().cloned().unwrap_or_default() {
        let id = l["ID"]
            .as_i64()
            .or_else(|| l["id"].as_i64())
            .unwrap_or_else(|| panic!("lease list: {list}"));
        let hex = format!("{id:x}");
        let ttl = json(&s.ctl(&["lease", "timetolive", &hex, "--keys", "-w", "json"]));
        let mut keys: Vec<String> = ttl["keys"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        keys.sort();
        leases.push((hex, ttl["granted-ttl"].as_i64().unwrap_or(-1), keys));
    }
    leases.sort();
    Served {
        kvs,
        revision,
        hash,
        compact_revision,
        leases,
    }
}

fn ground_truth(version: &str) {
    let Some(_) = util::etcd_bin_dir(version) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let mut s = EtcdServer::start(version, dir, WAL_ONLY).unwrap();
    write_load(&s, dir);
    s.kill9();
    drop(s);

    let copy = dir.join("copy");
    copy_tree(&data, &copy);
    let guard = util::InputGuard::new(&[data.join("member/snap/db")]);

    // Ours, from the data dir.
    let pp = util::free_port();
    let peer = format!("http://127.0.0.1:{pp}");
    let cluster = format!("n1={peer}");
    let restored = dir.join("restored");
    let r = util::run(&[
        "snapshot",
        "restore",
        data.to_str().unwrap(),
        "--name",
        "n1",
        "--initial-cluster",
        &cluster,
        "--initial-advertise-peer-urls",
        &peer,
        "--data-dir",
        restored.to_str().unwrap(),
        "-w",
        "json",
    ]);
    r.expect_code(0);
    guard.check();
    let rep = json(&r.stdout);
    let replay = &rep["replay"];
    // etcd 3.4/3.5 keep all of phase B in the WAL only; 3.6 and 3.7 commit
    // the backend during it (observed: consistent index 57 of 61), so fewer
    // entries are left to replay there.
    let applied = replay["entries_applied"].as_u64().unwrap();
    let old = version.starts_with("3.4") || version.starts_with("3.5");
    assert!(applied > if old { 30 } else { 2 }, "{r}");
    assert!(
        replay["revision_reached"].as_i64() > replay["db_revision"].as_i64(),
        "the WAL held writes the db did not: {r}"
    );
    if old {
        assert_eq!(replay["refused"]["put"].as_u64(), Some(1), "{r}");
    }

    // Real etcd on the copy, applying the WAL itself.
    let mut truth = EtcdServer::start_on(
        version,
        &copy,
        &dir.join("truth.log"),
        None,
        &["--force-new-cluster"],
    )
    .unwrap();
    let want = served(&truth);
    truth.stop();

    let log = dir.join("ours.log");
    let mut ours = EtcdServer::start_existing(
        version,
        &MemberSpec {
            name: "n1",
            data_dir: &restored,
            peer_url: &peer,
            initial_cluster: &cluster,
            token: etcd_rescue::etcd::member::DEFAULT_TOKEN,
            log: &log,
        },
    )
    .unwrap();
    ours.wait_healthy(30, &log);
    let got = served(&ours);
    ours.stop();
    assert_eq!(
        got.revision,
        u64::try_from(replay["revision_reached"].as_i64().unwrap()).unwrap(),
        "{r}"
    );
    assert_eq!(got.kvs, want.kvs, "keys differ");
    assert_eq!(got.revision, want.revision);
    assert_eq!(got.hash, want.hash, "hashkv");
    assert_eq!(got.compact_revision, want.compact_revision);
    assert_eq!(got.leases, want.leases, "leases");
    assert!(!want.leases.is_empty());
}

#[test]
fn dir_restore_equals_force_new_cluster_3_5() {
    ground_truth("3.5.1");
}

#[test]
fn dir_restore_equals_force_new_cluster_3_4() {
    ground_truth("3.4.23");
}

#[test]
fn dir_restore_equals_force_new_cluster_3_6() {
    ground_truth("3.6.17");
}

#[test]
fn dir_restore_equals_force_new_cluster_3_7() {
    ground_truth("3.7.3");
}
