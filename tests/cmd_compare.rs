//! `compare`: committed data (real etcd 3.5.1 data dirs), and gated live runs
//! that build every failure class with real etcd 3.5.1 and etcdutl.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{self, copy_tree, run, EtcdCluster, InputGuard};

fn td(p: &str) -> PathBuf {
    util::testdata().join("etcd-3.5.1").join(p)
}

/// Runs `compare -w json` on `paths`; returns the exit code and the report.
#[track_caller]
fn compare(paths: &[&Path], extra: &[&str]) -> (i32, Value) {
    let mut args: Vec<String> = vec!["compare".into(), "-w".into(), "json".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let r = run(&args);
    assert!(r.code == 0 || r.code == 1, "{r}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{r}"));
    (r.code, v)
}

fn kinds(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect();
    k.sort();
    k.dedup();
    k
}

fn finding<'v>(v: &'v Value, kind: &str) -> &'v Value {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} finding in {v:#}"))
}

/// The members a finding names, as the last path component(s).
fn names(f: &Value) -> Vec<String> {
    let mut n: Vec<String> = f["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            Path::new(m.as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    n.sort();
    n
}

fn golden_json(p: &Path) -> Value {
    let t = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&t).unwrap()
}

#[test]
fn golden_compare_cluster3_members() {
    let dirs = [
        td("cluster3/data/n1"),
        td("cluster3/data/n2"),
        td("cluster3/data/n3"),
    ];
    let guard = InputGuard::new(&dirs);
    let paths: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let (code, v) = compare(&paths, &[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["verdict"], "consistent");
    assert!(v["findings"].as_array().unwrap().is_empty(), "{v:#}");
    // Facts the live members reported when make-testdata.sh wrote these dirs; the
    // cluster ID depends on the free peer ports, so it differs between fresh runs.
    let scenario = td("cluster3");
    let field = |k: &str| -> u64 {
        util::manifest_field(&scenario, k)
            .unwrap_or_else(|| panic!("{k} missing from manifest"))
            .parse()
            .unwrap()
    };
    let (rev, commit, hash) = (
        field("n1.live_revision"),
        field("n1.live_raft_index"),
        field("n1.live_hashkv"),
    );
    assert_eq!(v["hash_revision"], rev);
    for m in v["members"].as_array().unwrap() {
        assert_eq!(m["hash_kv"], hash, "{m:#}");
        assert_eq!(m["cluster_id"], format!("{:016x}", field("cluster_id")));
        assert_eq!(m["membership"].as_array().unwrap().len(), 3);
        assert_eq!(m["raft_commit"], commit);
    }
    assert!(v["best_seed"]["member"].is_string());
    assert_eq!(v["bump"]["highest_revision"], rev);
    // The documented margin, max(1000, highest / 100), from the live revision.
    assert_eq!(v["bump"]["margin"], 1000.max(rev / 100));
    // The table names the columns and the verdict.
    let r = run(&[
        "compare".to_string(),
        dirs[0].display().to_string(),
        dirs[1].display().to_string(),
    ]);
    r.expect_code(0);
    assert!(
        r.stdout.contains(&format!("HASHKV AT REV {rev}"))
            && r.stdout.contains("verdict: consistent"),
        "{r}"
    );
    guard.check();
}

#[test]
fn other_cluster_is_reported() {
    let (a, b) = (td("cluster3/data/n1"), td("single-node/data/n1"));
    let (code, v) = compare(&[&a, &b], &["--keys", "--max-keys", "2"]);
    assert_eq!(code, 1);
    assert_eq!(v["verdict"], "divergent");
    let k = kinds(&v);
    for want in [
        "cluster-id-mismatch",
        "different-data",
        "membership-mismatch",
    ] {
        assert!(k.contains(&want.to_string()), "{want} missing: {v:#}");
    }
    // Different clusters: not "stale" (that is for one cluster's old dirs).
    assert!(!k.contains(&"stale-member".to_string()), "{v:#}");
    let dd = finding(&v, "different-data");
    assert_eq!(dd["groups"].as_array().unwrap().len(), 2);
    let keys = &dd["keys"][0];
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    assert_eq!(keys["truncated"], true);
}

#[test]
fn same_member_id_twice_and_lagging_wal() {
    // single-node and wal-ahead were made with the same --name, URLs and token.
    let (a, b) = (td("single-node/data/n1"), td("wal-ahead/data/n1"));
    let (code, v) = compare(&[&a, &b], &[]);
    assert_eq!(code, 1);
    assert!(kinds(&v).contains(&"duplicate-member".to_string()), "{v:#}");
    let rows = v["members"].as_array().unwrap();
    // wal-ahead: db at 52, the WAL replays to 84 (testdata README).
    assert_eq!(rows[1]["revision"], 52);
    assert_eq!(rows[1]["revision_after_replay"], 84);
}

#[test]
fn empty_dir_beside_members_with_data() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("n3");
    std::fs::create_dir(&empty).unwrap();
    let (a, b) = (td("cluster3/data/n1"), td("cluster3/data/n2"));
    let (code, v) = compare(&[&a, &b, &empty], &[]);
    assert_eq!(code, 1);
    assert_eq!(kinds(&v), ["empty-member"]);
    assert_eq!(names(finding(&v, "empty-member")), ["n3"]);
}

#[test]
fn snapshot_bump_advice_and_unreadable_path() {
    let (a, snap) = (td("single-node/data/n1"), td("basic/snapshot.db"));
    let (code, v) = compare(&[&a, &snap], &[]);
    // Two different key spaces: divergent, and that is the only finding.
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(kinds(&v), ["different-data"], "{v:#}");
    let rf = v["bump"]["restore_from"].as_array().unwrap();
    let s = rf
        .iter()
        .find(|x| x["from"].as_str().unwrap().ends_with("snapshot.db"))
        .unwrap();
    // From the inputs: the data dir's live revision is the highest reached,
    // the snapshot's revision is etcdutl's; margin max(1000, highest / 100).
    let highest = util::manifest_u64(&td("single-node"), "live_revision");
    let snap_rev = util::manifest_u64(&td("basic"), "snapshot.db.status.revision");
    assert_eq!(v["bump"]["highest_revision"], highest);
    assert_eq!(s["revision"], snap_rev);
    assert_eq!(
        s["bump_revision"].as_u64().unwrap(),
        highest - snap_rev + 1000.max(highest / 100)
    );
    let r = run(&["compare", "/nonexistent/etcd-a", &a.display().to_string()]);
    r.expect_code(2);
    assert!(r.stderr.contains("/nonexistent/etcd-a"), "{r}");
}

// ---- live: every failure class built with real etcd 3.5.1 -------------------

fn etcdutl(bin: &Path, args: &[&str]) {
    let out = Command::new(bin.join("etcdutl"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "etcdutl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `etcdutl snapshot restore` of `snap` into `dir/<sub>` as member `name`.
fn restore(bin: &Path, snap: &Path, dir: &Path, name: &str, cluster: &str, token: &str) -> PathBuf {
    let out = dir.join(name);
    restore_into(bin, snap, &out, name, cluster, token);
    out
}

fn restore_into(bin: &Path, snap: &Path, out: &Path, name: &str, cluster: &str, token: &str) {
    let url = cluster
        .split(',')
        .find_map(|m| m.strip_prefix(&format!("{name}=")))
        .unwrap();
    etcdutl(
        bin,
        &[
            "snapshot",
            "restore",
            &snap.display().to_string(),
            "--data-dir",
            &out.display().to_string(),
            "--name",
            name,
            "--initial-cluster",
            cluster,
            "--initial-cluster-token",
            token,
            "--initial-advertise-peer-urls",
            url,
        ],
    );
}

#[test]
fn live_failure_classes() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let Some(mut c) = EtcdCluster::start("3.5.1", &live, 3, "cmp-token") else {
        return;
    };
    let bin = c.bin.clone();
    for i in 0..40 {
        c.ctl(0, &["put", &format!("k/{i:03}"), &format!("v{i}")]);
    }
    let snap1 = tmp.path().join("snap1.db");
    c.ctl(0, &["snapshot", "save", &snap1.display().to_string()]);
    for i in 0..25 {
        c.ctl(1, &["put", &format!("later/{i:03}"), "x"]);
    }
    c.ctl(0, &["del", "k/007"]);
    let snap2 = tmp.path().join("snap2.db");
    c.ctl(0, &["snapshot", "save", &snap2.display().to_string()]);
    c.wait_same_revision();

    // Control 1: a healthy cluster, stopped.
    c.stop_all();
    let healthy = tmp.path().join("healthy");
    for m in &c.members {
        copy_tree(&m.data_dir, &healthy.join(&m.name));
    }
    let h: Vec<PathBuf> = ["n1", "n2", "n3"].iter().map(|n| healthy.join(n)).collect();
    let guard = InputGuard::new(&h);
    let (code, v) = compare(&[&h[0], &h[1], &h[2]], &[]);
    assert_eq!((code, kinds(&v)), (0, vec![]), "healthy: {v:#}");
    guard.check();

    // Lagging: n3 stopped while the others take more writes.
    c.launch(0);
    c.launch(1);
    c.wait_healthy(0);
    for i in 0..10 {
        c.ctl(0, &["put", &format!("after-n3-stopped/{i}"), "y"]);
    }
    c.wait_same_revision();
    c.stop(0);
    c.stop(1);
    let lag = tmp.path().join("lag");
    for m in &c.members {
        copy_tree(&m.data_dir, &lag.join(&m.name));
    }
    let (code, v) = compare(&[&lag.join("n1"), &lag.join("n2"), &lag.join("n3")], &[]);
    assert_eq!(
        (code, kinds(&v)),
        (0, vec!["lagging".to_string()]),
        "lagging: {v:#}"
    );
    assert_eq!(names(finding(&v, "lagging")), ["n3"]);
    assert_eq!(v["verdict"], "consistent");

    // Stale member: n3 removed and added back under a new id; its old dir reused.
    c.launch(0);
    c.launch(1);
    c.wait_healthy(0);
    let old_n3 = c.member_id_hex(0, "n3");
    c.ctl(0, &["member", "remove", &old_n3]);
    let new_peer = format!("http://127.0.0.1:{}", util::free_port());
    // etcd refuses a member add until the leader has been connected to every
    // member for 5 s (`etcdserver: unhealthy cluster`): retry, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !c
        .etcdctl(0, &["member", "add", "n3", "--peer-urls", &new_peer])
        .status
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "member add kept failing"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    c.ctl(0, &["put", "after-member-add", "z"]);
    c.stop(0);
    c.stop(1);
    let (a, b, old) = (
        &c.members[0].data_dir,
        &c.members[1].data_dir,
        &c.members[2].data_dir,
    );
    let (code, v) = compare(&[a, b, old], &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["verdict"], "divergent");
    assert!(
        kinds(&v).contains(&"stale-member".to_string()),
        "stale: {v:#}"
    );
    assert!(
        kinds(&v).contains(&"membership-mismatch".to_string()),
        "stale: {v:#}"
    );
    assert_eq!(names(finding(&v, "stale-member")), ["n3"]);
    drop(c);

    // Restores with etcdutl: the control and each wrong-flag class.
    let peers: Vec<String> = (0..4)
        .map(|_| format!("http://127.0.0.1:{}", util::free_port()))
        .collect();
    let cluster = format!("n1={},n2={},n3={}", peers[0], peers[1], peers[2]);
    let tok = "restored";
    let set = |name: &str| tmp.path().join(name);
    // Control 2: a correct restore.
    let ok = set("ok");
    let ok_dirs: Vec<PathBuf> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| restore(&bin, &snap2, &ok, n, &cluster, tok))
        .collect();
    let (code, v) = compare(&[&ok_dirs[0], &ok_dirs[1], &ok_dirs[2], &snap2], &[]);
    assert_eq!((code, kinds(&v)), (0, vec![]), "correct restore: {v:#}");
    assert_eq!(v["hash_revision"], v["members"][3]["revision"]);

    // Different snapshots: n3 from the older one.
    let diff = set("diff");
    let n1 = restore(&bin, &snap2, &diff, "n1", &cluster, tok);
    let n2 = restore(&bin, &snap2, &diff, "n2", &cluster, tok);
    let n3 = restore(&bin, &snap1, &diff, "n3", &cluster, tok);
    let (code, v) = compare(&[&n1, &n2, &n3], &["--keys"]);
    assert_eq!(
        (code, kinds(&v)),
        (1, vec!["different-data".to_string()]),
        "{v:#}"
    );
    let best = v["best_seed"]["member"].as_str().unwrap();
    assert!(best.ends_with("n1") || best.ends_with("n2"), "{best}");

    // Only one member restored, the others left empty.
    let one = set("one");
    let n1 = restore(&bin, &snap2, &one, "n1", &cluster, tok);
    std::fs::create_dir_all(one.join("n2")).unwrap();
    std::fs::create_dir_all(one.join("n3")).unwrap();
    let (code, v) = compare(&[&n1, &one.join("n2"), &one.join("n3")], &[]);
    assert_eq!(
        (code, kinds(&v)),
        (1, vec!["empty-member".to_string()]),
        "{v:#}"
    );
    assert_eq!(names(finding(&v, "empty-member")), ["n2", "n3"]);

    // One member with another token.
    let tk = set("token");
    let n1 = restore(&bin, &snap2, &tk, "n1", &cluster, tok);
    let n2 = restore(&bin, &snap2, &tk, "n2", &cluster, tok);
    let n3 = restore(&bin, &snap2, &tk, "n3", &cluster, "another-token");
    let (code, v) = compare(&[&n1, &n2, &n3], &[]);
    assert_eq!(code, 1);
    assert!(
        kinds(&v).contains(&"cluster-id-mismatch".to_string()),
        "{v:#}"
    );

    // One member with another --initial-cluster (n3 believes n2 has another URL).
    let ic = set("initial-cluster");
    let other = format!("n1={},n2={},n3={}", peers[0], peers[3], peers[2]);
    let n1 = restore(&bin, &snap2, &ic, "n1", &cluster, tok);
    let n2 = restore(&bin, &snap2, &ic, "n2", &cluster, tok);
    let n3 = restore(&bin, &snap2, &ic, "n3", &other, tok);
    let (code, v) = compare(&[&n1, &n2, &n3], &[]);
    assert_eq!(code, 1);
    let k = kinds(&v);
    assert!(k.contains(&"cluster-id-mismatch".to_string()), "{v:#}");
    assert!(k.contains(&"membership-mismatch".to_string()), "{v:#}");

    // The same --name used twice.
    let dup = set("dup");
    let n1 = restore(&bin, &snap2, &dup, "n1", &cluster, tok);
    let n2 = restore(&bin, &snap2, &dup, "n2", &cluster, tok);
    let n3 = dup.join("n3");
    restore_into(&bin, &snap2, &n3, "n2", &cluster, tok);
    let (code, v) = compare(&[&n1, &n2, &n3], &[]);
    assert_eq!(
        (code, kinds(&v)),
        (1, vec!["duplicate-member".to_string()]),
        "{v:#}"
    );
    assert_eq!(names(finding(&v, "duplicate-member")), ["n2", "n3"]);
}

#[test]
fn golden_compare_compacted_snapshot_and_raw_db() {
    // The live server's `endpoint hashkv` before the snapshot and the copy.
    let live = golden_json(&td("basic/expected/live.hashkv.json"));
    let h = &live[0]["HashKV"];
    let (a, b) = (td("basic/snapshot.db"), td("basic/raw.db"));
    let (code, v) = compare(&[&a, &b], &[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(
        (&v["hash_revision"], &v["compact_revision"]),
        (&h["header"]["revision"], &h["compact_revision"])
    );
    for m in v["members"].as_array().unwrap() {
        assert_eq!(m["hash_kv"], h["hash"]);
        assert_eq!(m["input"], "snapshot");
    }
}
