//! `compact` and `defrag` against etcd's own: a live etcd (3.5.1, 3.5.36, 3.6.17)
//! gets a workload, snapshot A is saved, the live server runs
//! `etcdctl compact R --physical` and `etcdctl defrag`, snapshot B is saved.
//! Our `compact A --rev R` must give what B holds: the keyspace at every
//! revision from R to the current one, the stored history, the compact
//! revision and HashKV (equal to `etcdctl endpoint hashkv`); and real etcd
//! started on a data dir restored from our file serves the same keys and
//! hash. `--disarm` is checked on a real NOSPACE alarm; `defrag` and the
//! refusals on committed real-etcd files.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{free_port, run, testdata, EtcdServer, InputGuard, Run};

fn ours<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let r = run(args);
    r.expect_code(0);
    r
}

fn os(p: &Path) -> OsString {
    p.as_os_str().to_owned()
}

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{r}"))
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

/// Our `keys` listing (JSON lines) of `db` at `rev`, or the whole history.
fn keys_at(db: &Path, rev: i64, history: bool) -> String {
    let mut args = vec![
        OsString::from("keys"),
        os(db),
        "--rev".into(),
        rev.to_string().into(),
        "-w".into(),
        "json".into(),
    ];
    if history {
        args.push("--history".into());
    }
    ours(&args).stdout
}

/// Our HashKV at the current revision: (hash, compact revision, hash revision).
fn our_hashkv(db: &Path) -> (u64, i64, i64) {
    let v = json(&ours(&[
        OsString::from("hashkv"),
        os(db),
        "-w".into(),
        "json".into(),
    ]));
    (
        v["hash"].as_u64().unwrap(),
        v["compactRevision"].as_i64().unwrap(),
        v["hashRevision"].as_i64().unwrap(),
    )
}

/// `etcdctl endpoint hashkv` at the current revision: (hash, compact revision, revision).
fn live_hashkv(live: &EtcdServer) -> (u64, i64, i64) {
    let v: Value = serde_json::from_str(&live.ctl(&["endpoint", "hashkv", "-w", "json"])).unwrap();
    let h = &v[0]["HashKV"];
    (
        h["hash"].as_u64().unwrap(),
        h["compact_revision"].as_i64().unwrap(),
        h["header"]["revision"].as_i64().unwrap(),
    )
}

/// `etcdctl get "" --prefix -w json`: (header revision, kvs).
fn live_keys(live: &EtcdServer) -> (i64, Value) {
    let v: Value = serde_json::from_str(&live.ctl(&["get", "", "--prefix", "-w", "json"])).unwrap();
    (v["header"]["revision"].as_i64().unwrap(), v["kvs"].clone())
}

fn revision_of(live: &EtcdServer) -> i64 {
    live_hashkv(live).2
}

/// Restores `db` with our `snapshot restore --skip-hash-check` and starts
/// etcd `version` on the result.
fn restore_and_start(version: &str, db: &Path, dir: &Path) -> Option<EtcdServer> {
    restore_and_launch(version, db, dir, true)
}

/// [`restore_and_start`]; without `healthy`, waits only until etcd answers
/// `alarm list` (a member with an active alarm never reports healthy).
fn restore_and_launch(version: &str, db: &Path, dir: &Path, healthy: bool) -> Option<EtcdServer> {
    let data = dir.join("restored");
    let (cp, pp) = (free_port(), free_port());
    let peer = format!("http://127.0.0.1:{pp}");
    ours(&[
        OsString::from("snapshot"),
        "restore".into(),
        os(db),
        "--skip-hash-check".into(),
        "--name".into(),
        "n1".into(),
        "--initial-cluster".into(),
        format!("n1={peer}").into(),
        "--initial-advertise-peer-urls".into(),
        peer.clone().into(),
        "--data-dir".into(),
        os(&data),
    ]);
    let log = dir.join("restored.log");
    if healthy {
        return EtcdServer::start_on(version, &data, &log, Some((cp, pp)), &[]);
    }
    let initial = format!("n1={peer}");
    let etcd = EtcdServer::start_existing(
        version,
        &crate::util::MemberSpec {
            name: "n1",
            data_dir: &data,
            peer_url: &peer,
            initial_cluster: &initial,
            token: "etcd-cluster",
            log: &log,
        },
    )?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !etcd.etcdctl(&["alarm", "list"]).status.success() {
        assert!(
            std::time::Instant::now() < deadline,
            "etcd on {} does not answer; log:\n{}",
            data.display(),
            crate::util::log_tail(&log, 30)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Some(etcd)
}

/// The workload: overwrites, deletes, re-creates, a leased key, a txn; the
/// last write before R is a delete (so a tombstone sits at exactly R), and
/// more writes follow R. Returns R.
fn workload(live: &EtcdServer) -> i64 {
    // Bulk: 8 txns overwriting the same 100 keys with 2 KB values (one main
    // revision each, 100 sub revisions), so that sizes mean something.
    for round in 0..8 {
        let mut txn = String::from("\n");
        for i in 0..100 {
            txn.push_str(&format!(
                "put bulk/{i:03} {}\n",
                format!("{round}-{i}-").repeat(700).get(..2000).unwrap()
            ));
        }
        txn.push_str("\n\n");
        live.ctl_stdin(&["txn"], txn.as_bytes());
    }
    live.ctl(&["del", "bulk/050"]);
    for i in 0..30 {
        live.ctl(&["put", &format!("k{}", i % 6), &format!("v{i}")]);
    }
    live.ctl(&["del", "k1"]);
    live.ctl(&["put", "k1", "again"]);
    live.ctl(&["del", "k2"]);
    live.ctl(&["put", "gone", "soon"]);
    live.ctl(&["del", "gone"]);
    let lease = live.ctl(&["lease", "grant", "3600"]);
    let id = lease.split_whitespace().nth(1).unwrap().to_string();
    live.ctl(&["put", "leased", "l1", &format!("--lease={id}")]);
    live.ctl(&["put", "leased", "l2", &format!("--lease={id}")]);
    live.ctl_stdin(&["txn"], b"\nput t1 a\nput t2 b\ndel k3\n\n\n");
    live.ctl(&["put", "k4", "last-before"]);
    live.ctl(&["del", "k4"]);
    let r = revision_of(live);
    live.ctl(&["put", "k0", "after"]);
    live.ctl(&["put", "k4", "recreated"]);
    live.ctl(&["del", "k1"]);
    live.ctl(&["put", "k2", "back"]);
    live.ctl(&["put", "leased", "l3", &format!("--lease={id}")]);
    live.ctl_stdin(&["txn"], b"\nput t1 c\ndel t2\n\n\n");
    r
}

/// `rule`: the tombstone rule of `version`'s compaction.
fn ground_truth(version: &str, rule: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let Some(mut live) = EtcdServer::start(version, dir, &[]) else {
        return;
    };
    let r = workload(&live);
    let a = dir.join("a.db");
    live.ctl(&["snapshot", "save", a.to_str().unwrap()]);
    let current = revision_of(&live);
    assert!(r + 5 < current);

    live.ctl(&["compact", &r.to_string(), "--physical"]);
    live.ctl(&["defrag"]);
    let b = dir.join("b.db");
    live.ctl(&["snapshot", "save", b.to_str().unwrap()]);
    let etcd_db = live.data_dir.join("member/snap/db");
    let etcd_defrag_size = file_len(&etcd_db);
    let live_hash = live_hashkv(&live);
    let live_kvs = live_keys(&live);
    live.stop();

    let guard = InputGuard::new(&[&a]);
    let compact = |out: &Path, rule: &str| {
        json(&ours(&[
            OsString::from("compact"),
            os(&a),
            "--rev".into(),
            r.to_string().into(),
            "--out".into(),
            os(out),
            "--tombstone-rule".into(),
            rule.into(),
            "-w".into(),
            "json".into(),
        ]))
    };
    let c = dir.join("c.db");
    let rep = compact(&c, rule);
    guard.check();
    assert_eq!(rep["compact_revision"].as_i64(), Some(r), "{rep}");
    assert_eq!(rep["tombstone_rule"], rule, "{rep}");
    assert_eq!(rep["check"]["verdict"], "sound", "{rep}");
    assert!(rep["records_dropped"].as_u64().unwrap() > 20, "{rep}");
    // The delete at exactly R: kept by etcd 3.5.16+, dropped before.
    let tombstone_at_r = u64::from(rule == "3.5.16");
    assert_eq!(
        rep["kept"]["tombstones_kept"].as_u64(),
        Some(tombstone_at_r),
        "{rep}"
    );
    assert_eq!(rep["sizes"]["output_file"].as_u64(), Some(file_len(&c)));
    // The other rule gives the same keyspace at every revision from R, with
    // one stored record more or less.
    let other_rule = if rule == "legacy" { "3.5.16" } else { "legacy" };
    let other = dir.join("other.db");
    let rep_other = compact(&other, other_rule);
    assert_eq!(
        rep_other["records_after"].as_i64().unwrap() - rep["records_after"].as_i64().unwrap(),
        if rule == "legacy" { 1 } else { -1 }
    );
    for rev in r..=current {
        assert_eq!(keys_at(&other, rev, false), keys_at(&c, rev, false));
    }

    // The keyspace at every revision from R to the current one.
    for rev in r..=current {
        assert_eq!(
            keys_at(&c, rev, false),
            keys_at(&b, rev, false),
            "etcd {version}: keys at revision {rev}"
        );
    }
    // Every stored record (what etcd's compaction left in the key bucket).
    assert_eq!(keys_at(&c, current, true), keys_at(&b, current, true));
    // Below R: refused as etcd refuses it.
    run(&[
        OsString::from("keys"),
        os(&c),
        "--rev".into(),
        (r - 1).to_string().into(),
    ])
    .expect_code(2);
    // Compact revision and HashKV: ours on C = ours on B = the live server's.
    assert_eq!(our_hashkv(&c), live_hash, "etcd {version}: hashkv");
    assert_eq!(our_hashkv(&b), live_hash);
    assert_eq!(live_hash.1, r);

    // Real etcd on a data dir restored from C serves the same.
    let Some(mut restored) = restore_and_start(version, &c, dir) else {
        return;
    };
    let got = live_keys(&restored);
    let hash = live_hashkv(&restored);
    restored.stop();
    assert_eq!(got, live_kvs, "etcd {version}: served keys");
    assert_eq!(hash, live_hash, "etcd {version}: served hashkv");

    eprintln!(
        "etcd {version}: sizes: A {} bytes, ours {} bytes, etcd's defragged member db {} bytes, B (its snapshot) {} bytes",
        file_len(&a),
        file_len(&c),
        etcd_defrag_size,
        file_len(&b)
    );
}

#[test]
fn compact_equals_etcd_3_5_1() {
    ground_truth("3.5.1", "legacy");
}

/// etcd 3.5.16+ keeps the delete at exactly R, as 3.6 does.
#[test]
fn compact_equals_etcd_35_newest() {
    ground_truth(crate::util::ETCD_35_NEWEST, "3.5.16");
}

#[test]
fn compact_equals_etcd_3_6_17() {
    ground_truth("3.6.17", "3.5.16");
}

/// A real NOSPACE alarm: without `--disarm` a member restored from the
/// compacted db comes up with the alarm (writes refused); with it, none.
#[test]
fn disarm_removes_a_real_nospace_alarm() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let Some(mut etcd) = EtcdServer::start("3.5.1", dir, &["--quota-backend-bytes", "1048576"])
    else {
        return;
    };
    let big = "x".repeat(100_000);
    for i in 0..40 {
        if !etcd
            .etcdctl(&["put", &format!("big/{}", i % 3), &big])
            .status
            .success()
        {
            break;
        }
    }
    let alarms = etcd.ctl(&["alarm", "list"]);
    assert!(alarms.contains("alarm:NOSPACE"), "{alarms}");
    etcd.stop();
    let data = etcd.data_dir.clone();
    let guard = InputGuard::new(&[&data]);
    for (disarm, name) in [(true, "disarmed"), (false, "armed")] {
        let out = dir.join(format!("{name}.db"));
        let mut args = vec![
            OsString::from("compact"),
            os(&data),
            "--rev".into(),
            "0".into(),
            "--out".into(),
            os(&out),
            "-w".into(),
            "json".into(),
        ];
        if disarm {
            args.push("--disarm".into());
        }
        let r = ours(&args);
        let v = json(&r);
        assert_eq!(
            v["alarms_removed"].as_array().unwrap().len(),
            usize::from(disarm),
            "{r}"
        );
        assert!(
            file_len(&out) < file_len(&data.join("member/snap/db")),
            "{r}"
        );
        let sub = dir.join(name);
        std::fs::create_dir(&sub).unwrap();
        let Some(mut restored) = restore_and_launch("3.5.1", &out, &sub, disarm) else {
            return;
        };
        let alarms = restored.ctl(&["alarm", "list"]);
        let put = restored.etcdctl(&["put", "after", "restore"]);
        restored.stop();
        if disarm {
            assert_eq!(alarms.trim(), "", "{r}");
            assert!(
                put.status.success(),
                "{}",
                String::from_utf8_lossy(&put.stderr)
            );
        } else {
            assert!(alarms.contains("alarm:NOSPACE"), "{alarms}");
            assert!(!put.status.success());
        }
    }
    guard.check();
}

fn large() -> PathBuf {
    testdata().join("etcd-3.5.1/large/snapshot.db")
}

/// `defrag` keeps everything but the layout; `compact` on a committed
/// real-etcd snapshot; refusals leave nothing behind.
#[test]
fn defrag_keeps_everything_and_refusals_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = large();
    let guard = InputGuard::new(&[&src]);
    let d = tmp.path().join("d.db");
    let v = json(&ours(&[
        OsString::from("defrag"),
        os(&src),
        "--out".into(),
        os(&d),
        "-w".into(),
        "json".into(),
    ]));
    assert_eq!(v["records_dropped"], 0, "{v}");
    assert_eq!(v["command"], "defrag");
    let cur = v["before"]["current"].as_i64().unwrap();
    assert_eq!(keys_at(&d, cur, true), keys_at(&src, cur, true));
    assert_eq!(our_hashkv(&d), our_hashkv(&src));
    // Every bucket equal: `diff` sees no change and `snapshot status` the same
    // revision and key count (the hash covers bucket contents).
    let st = |p: &Path| {
        json(&ours(&[
            OsString::from("snapshot"),
            "status".into(),
            os(p),
            "-w".into(),
            "json".into(),
        ]))
    };
    let (s0, s1) = (st(&src), st(&d));
    assert_eq!(s0["hash"], s1["hash"]);
    assert_eq!(s0["revision"], s1["revision"]);
    assert_eq!(s0["totalKey"], s1["totalKey"]);
    ours(&[OsString::from("check"), os(&d)]);

    // Compact at the current revision: the keyspace at it is unchanged.
    let c = tmp.path().join("c.db");
    let v = json(&ours(&[
        OsString::from("compact"),
        os(&src),
        "--rev".into(),
        "0".into(),
        "--out".into(),
        os(&c),
        "-w".into(),
        "json".into(),
    ]));
    assert_eq!(v["compact_revision"].as_i64(), Some(cur));
    assert_eq!(keys_at(&c, cur, false), keys_at(&src, cur, false));
    assert!(file_len(&c) <= file_len(&d));
    // Compacting again at the same revision is refused as etcd refuses it.
    let again = tmp.path().join("again.db");
    for (rev, msg) in [
        (cur, "has been compacted"),
        (cur + 1, "is a future revision"),
    ] {
        let r = run(&[
            OsString::from("compact"),
            os(if rev == cur { &c } else { &src }),
            "--rev".into(),
            rev.to_string().into(),
            "--out".into(),
            os(&again),
        ]);
        r.expect_code(2);
        assert!(r.stderr.contains(msg), "{r}");
        assert!(!again.exists());
    }
    // A non-empty --out is refused and left alone.
    let r = run(&[OsString::from("defrag"), os(&src), "--out".into(), os(&c)]);
    r.expect_code(2);
    // A damaged input (leaf pages whose element count runs past the page) is
    // refused with the way out, and nothing is written.
    let mut bad = std::fs::read(testdata().join("etcd-3.5.1/large/raw.db")).unwrap();
    let mut hit = 0;
    for page in bad.chunks_mut(4096).skip(2) {
        if page[8] == 0x02 {
            page[10..12].copy_from_slice(&0x7fffu16.to_le_bytes());
            hit += 1;
        }
    }
    assert!(hit > 10);
    let bad_path = tmp.path().join("bad.db");
    std::fs::write(&bad_path, &bad).unwrap();
    for cmd in ["compact", "defrag"] {
        let mut args = vec![
            OsString::from(cmd),
            os(&bad_path),
            "--out".into(),
            os(&again),
        ];
        if cmd == "compact" {
            args.extend(["--rev".into(), "0".into()]);
        }
        let r = run(&args);
        r.expect_code(2);
        assert!(
            r.stderr.contains("salvage") && r.stderr.contains("nothing was written"),
            "{r}"
        );
        assert!(!again.exists());
    }
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            n.starts_with('.').then_some(n)
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    guard.check();
}
