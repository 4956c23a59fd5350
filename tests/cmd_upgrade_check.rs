//! `upgrade-check` against what real etcd did on the same files: 3.6.17
//! refusing v2 custom content and a 3.7 storage version, 3.7.3 panicking on a
//! 3.5.36 dir (recorded by scripts/make-upgrade-check-data.sh and in
//! testdata/upgrade-check/), and ready on every healthy 3.6/3.7 dir; and
//! a learner promoted on a real 3.5.1 cluster (etcd #19557), which real
//! 3.6.17 repairs when it starts; and real zombie members (etcd #20967): a
//! three-member snapshot restored by etcdctl 3.4.23, which leaves the old
//! members in the db's members bucket, that real 3.6.17 then brings back.

use std::path::Path;

use serde_json::Value;

use crate::util::{
    copy_tree, free_port, repo, run, spawn_etcd, testdata, EtcdServer, InputGuard, Launch,
    MemberSpec,
};

fn upgrade_check(paths: &[&Path], to: &str, code: i32) -> Value {
    let guard = InputGuard::new(paths);
    let mut args: Vec<&std::ffi::OsStr> = vec!["upgrade-check".as_ref()];
    args.extend(paths.iter().map(|p| p.as_os_str()));
    for a in ["--to", to, "-w", "json"] {
        args.push(std::ffi::OsStr::new(a));
    }
    let r = run(&args);
    r.expect_code(code);
    guard.check();
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("bad JSON ({e})\n{r}"))
}

fn codes(r: &Value) -> Vec<String> {
    r["members"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["blockers"].as_array().unwrap().iter())
        .map(|b| b["code"].as_str().unwrap().to_string())
        .collect()
}

fn recorded(rel: &str) -> String {
    let p = repo().join("testdata").join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn v2_custom_content_blocks_3_6_as_real_etcd_refused() {
    // Not made by make-testdata.sh: always the committed copy.
    let dir = repo().join("testdata/etcd-3.5.36/v2-content");
    let refusal = recorded("etcd-3.5.36/v2-content/expected/etcd-3.6.17-start.txt");
    assert!(refusal.starts_with("exit=1"), "{refusal}");
    assert!(
        refusal.contains("detected disallowed custom content in v2store"),
        "{refusal}"
    );
    let r = upgrade_check(&[&dir.join("data/n1")], "3.6", 1);
    assert_eq!(r["verdict"], "blocked");
    assert_eq!(codes(&r), ["upgrade.v2-custom-content"]);
    let manifest = std::fs::read_to_string(dir.join("manifest.txt")).unwrap();
    assert!(manifest.contains("etcd_3.6.17_start=1"), "{manifest}");
}

#[test]
fn golden_storage_version_newer_than_target_blocks() {
    let refusal = recorded("upgrade-check/etcd-3.6.17-start-on-3.7.3-single-node.txt");
    assert!(
        refusal.contains("version \\\"3.7.0\\\" is not supported"),
        "{refusal}"
    );
    let d = testdata().join("etcd-3.7.3/single-node/data/n1");
    let r = upgrade_check(&[&d], "3.6", 1);
    assert_eq!(codes(&r), ["upgrade.storage-newer"]);
}

#[test]
fn golden_skipping_a_minor_blocks() {
    let panic = recorded("upgrade-check/etcd-3.7.3-start-on-3.5.36-dir.txt");
    assert!(panic.contains("unmarshal should never fail"), "{panic}");
    let d = testdata().join("etcd-3.6.17/upgrade-3.5-3.6/data/step1-3.5.36");
    assert_eq!(
        codes(&upgrade_check(&[&d], "3.7", 1)),
        ["upgrade.skips-minor"]
    );
    // The same dir is ready for 3.6 (real 3.6.17 started on it: step2-3.6.17).
    assert_eq!(upgrade_check(&[&d], "3.6", 0)["verdict"], "ready");
}

#[test]
fn golden_healthy_v3x_dirs_are_ready() {
    for (v, to) in [("etcd-3.7.3", "3.7"), ("etcd-3.6.17", "3.6")] {
        let base = testdata().join(v).join("cluster3-mixed/data");
        let (a, b, c) = (base.join("n1"), base.join("n2"), base.join("n3"));
        let r = upgrade_check(&[&a, &b, &c], to, 0);
        assert_eq!(r["verdict"], "ready", "{v}: {r}");
    }
    for s in [
        "cluster3/data/n1",
        "single-node/data/n1",
        "wal-ahead/data/n1",
        "upgrade-3.5-3.6/data/step2-3.6.17",
    ] {
        let d = testdata().join("etcd-3.6.17").join(s);
        assert_eq!(upgrade_check(&[&d], "3.7", 0)["verdict"], "ready", "{s}");
    }
}

#[test]
fn bad_target_is_usage_error() {
    let d = testdata().join("etcd-3.7.3/single-node/data/n1");
    run(&[
        "upgrade-check".as_ref(),
        d.as_os_str(),
        "--to".as_ref(),
        "3.5".as_ref(),
    ])
    .expect_code(2);
}

/// A two-member etcd 3.5.1 cluster whose second member was added as a
/// learner and promoted: 3.5.1-3.5.19 leave it a learner in the db's members
/// bucket (#19557) while the raft log (WAL, and .snap when one was taken)
/// says voter. Returns the two data dirs, stopped.
fn promoted_learner_cluster(
    dir: &Path,
    snapshot_count: Option<&str>,
) -> Option<([std::path::PathBuf; 2], [String; 2])> {
    let mut extra = vec![];
    if let Some(n) = snapshot_count {
        extra = vec!["--snapshot-count", n];
    }
    let n1_dir = dir.join("n1");
    let mut n1 = EtcdServer::start_on("3.5.1", &n1_dir, &dir.join("n1.log"), None, &extra)?;
    let p1 = format!("http://127.0.0.1:{}", n1.ports.1);
    n1.ctl(&["put", "a", "1"]);
    let (c2, pp2) = (free_port(), free_port());
    let p2 = format!("http://127.0.0.1:{pp2}");
    n1.ctl(&["member", "add", "n2", "--learner", "--peer-urls", &p2]);
    let n2_dir = dir.join("n2");
    let initial = format!("n1={p1},n2={p2}");
    let mut n2_extra = vec!["--initial-cluster-state", "existing"];
    n2_extra.extend(&extra);
    let log2 = dir.join("n2.log");
    let child = spawn_etcd(
        &n1.bin,
        &Launch {
            name: "n2",
            data_dir: &n2_dir,
            client_port: c2,
            peer_url: &p2,
            initial_cluster: Some(&initial),
            token: None,
            state_new: false,
            log: &log2,
            extra: &n2_extra,
        },
    );
    let mut n2 = EtcdServer {
        child,
        bin: n1.bin.clone(),
        data_dir: n2_dir.clone(),
        client_url: format!("http://127.0.0.1:{c2}"),
        ports: (c2, pp2),
        log: log2.clone(),
    };
    // No health wait: 3.5's `endpoint health` is a linearizable read, which
    // a learner refuses. The promotion below waits for it to catch up.
    let list: Value = serde_json::from_str(&n1.ctl(&["member", "list", "-w", "json"])).unwrap();
    let id = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["isLearner"] == true)
        .map(|m| format!("{:x}", m["ID"].as_u64().unwrap()))
        .unwrap();
    // A learner is promoted only once it has caught up: retry, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !n1.etcdctl(&["member", "promote", &id]).status.success() {
        assert!(
            std::time::Instant::now() < deadline,
            "promote {id} failed; n2 log:\n{}",
            crate::util::log_tail(&log2, 20)
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    for i in 0..12 {
        n1.ctl(&["put", "b", &i.to_string()]);
    }
    n2.stop();
    n1.stop();
    Some(([n1_dir, n2_dir], [p1, p2]))
}

/// Both forms of the real #19557 damage (a promotion held in a .snap, and
/// one only in the WAL): `upgrade-check --to 3.6` is ready with a note, as
/// real 3.6.17 started on copies corrects the bucket ("Syncing member in
/// v3store" / "Forcibly apply member promotion"); `--to 3.7` blocks, and is
/// ready once 3.6 has run. `inspect` reports the disagreement.
#[test]
fn real_3_5_1_learner_promotion_is_repaired_by_3_6() {
    if crate::util::etcd_bin_dir("3.6.17").is_none() {
        return;
    }
    for snapshot_count in [Some("5"), None] {
        let tmp = tempfile::tempdir().unwrap();
        let Some(([n1, n2], [p1, p2])) = promoted_learner_cluster(tmp.path(), snapshot_count)
        else {
            return;
        };
        let has_snap = std::fs::read_dir(n1.join("member/snap"))
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".snap"));
        assert_eq!(has_snap, snapshot_count.is_some());
        let insp = run(&[
            "inspect".as_ref(),
            n1.as_os_str(),
            "-w".as_ref(),
            "json".as_ref(),
        ]);
        let insp: Value = serde_json::from_str(&insp.stdout).unwrap();
        let db_members = insp["membership"]["db"]["members"].as_array().unwrap();
        assert!(
            db_members.iter().any(|m| m["is_learner"] == true),
            "3.5.1 no longer shows #19557? {db_members:?}"
        );
        assert!(
            insp["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["code"] == "membership.disagree"),
            "{insp}"
        );
        let r = upgrade_check(&[&n1, &n2], "3.6", 0);
        for m in r["members"].as_array().unwrap() {
            let notes = m["notes"].as_array().unwrap();
            assert!(
                notes.iter().any(|n| n.as_str().unwrap().contains("#19557")),
                "{r}"
            );
        }
        let r = upgrade_check(&[&n1], "3.7", 1);
        assert!(
            codes(&r).contains(&"upgrade.learner-mismatch".to_string()),
            "{r}"
        );

        // Real 3.6.17 on copies: both members come up as voters.
        let up = tmp.path().join("on-3.6.17");
        let (c1, c2) = (up.join("n1"), up.join("n2"));
        copy_tree(&n1, &c1);
        copy_tree(&n2, &c2);
        let initial = format!("n1={p1},n2={p2}");
        let (l1, l2) = (up.join("n1.log"), up.join("n2.log"));
        let spec = |name, data_dir, peer_url, log| MemberSpec {
            name,
            data_dir,
            peer_url,
            initial_cluster: &initial,
            token: "etcd-cluster",
            log,
        };
        let mut s1 = EtcdServer::start_existing("3.6.17", &spec("n1", &c1, &p1, &l1)).unwrap();
        let mut s2 = EtcdServer::start_existing("3.6.17", &spec("n2", &c2, &p2, &l2)).unwrap();
        s1.wait_healthy(30, &l1);
        s2.wait_healthy(30, &l2);
        let list: Value = serde_json::from_str(&s1.ctl(&["member", "list", "-w", "json"])).unwrap();
        let members = list["members"].as_array().unwrap();
        assert_eq!(members.len(), 2);
        assert!(
            members
                .iter()
                .all(|m| m.get("isLearner").is_none_or(|l| l == false)),
            "{list}"
        );
        assert_eq!(s1.ctl(&["get", "b", "--print-value-only"]).trim(), "11");
        s2.stop();
        s1.stop();
        let log = std::fs::read_to_string(&l1).unwrap();
        assert!(
            log.contains("Syncing member in v3store")
                || log.contains("Forcibly apply member promotion request in v3store"),
            "{}",
            crate::util::log_tail(&l1, 40)
        );
        // What 3.6 left is ready for 3.7.
        let r = upgrade_check(&[&c1, &c2], "3.7", 0);
        assert_eq!(r["verdict"], "ready", "{r}");
    }
}

/// Real zombie members (etcd #20967). etcdctl 3.4 `snapshot restore` does not
/// empty the db's members bucket (etcdutl 3.5+ does), so a one-member restore
/// of a three-member snapshot keeps the three old members there while the v2
/// store holds only the new one; etcd 3.4.23 and 3.5.1 run on it as if
/// nothing were wrong. upgrade-check --to 3.6 names exactly the three old
/// members as blockers, and real etcd 3.6.17, which reads membership from the
/// db, logs each of them as "only in v3store" and lists them as members.
#[test]
fn golden_real_zombie_members_from_a_3_4_restore_block_3_6() {
    let Some(bin34) = crate::util::etcd_bin_dir("3.4.23") else {
        return crate::util::skip("etcd 3.4.23 not installed");
    };
    let t = tempfile::tempdir().unwrap();
    let src = testdata().join("etcd-3.5.1/cluster3");
    let db = t.path().join("n1.db");
    std::fs::copy(src.join("data/n1/member/snap/db"), &db).unwrap();
    let list: Value = serde_json::from_str(
        &std::fs::read_to_string(src.join("expected/member-list.json")).unwrap(),
    )
    .unwrap();
    let mut old: Vec<String> = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{:016x}", m["ID"].as_u64().unwrap()))
        .collect();
    old.sort();
    assert_eq!(old.len(), 3);
    let (cp, pp) = (free_port(), free_port());
    let peer = format!("http://127.0.0.1:{pp}");
    let data = t.path().join("solo");
    let out = std::process::Command::new(bin34.join("etcdctl"))
        .env("ETCDCTL_API", "3")
        .args(["snapshot", "restore"])
        .arg(&db)
        .args(["--skip-hash-check", "--name", "n1", "--initial-cluster"])
        .arg(format!("n1={peer}"))
        .args(["--initial-advertise-peer-urls", &peer, "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = t.path().join("etcd.log");
    for v in ["3.4.23", "3.5.1"] {
        let Some(mut s) = EtcdServer::start_on(v, &data, &log, Some((cp, pp)), &[]) else {
            return crate::util::skip(&format!("etcd {v} not installed"));
        };
        s.ctl(&["put", &format!("written-by-{v}"), "x"]);
        // Both serve one member: nothing shows the stale bucket.
        let members: Value =
            serde_json::from_str(&s.ctl(&["member", "list", "-w", "json"])).unwrap();
        assert_eq!(members["members"].as_array().unwrap().len(), 1, "{v}");
        s.stop();
    }
    let r = upgrade_check(&[&data], "3.6", 1);
    let blockers = r["members"][0]["blockers"].as_array().unwrap();
    let mut zombies: Vec<String> = blockers
        .iter()
        .filter(|b| b["code"] == "upgrade.member-only-in-v3")
        .map(|b| {
            let m = b["message"].as_str().unwrap();
            m.split_whitespace().nth(1).unwrap().to_string()
        })
        .collect();
    zombies.sort();
    assert_eq!(zombies, old, "{r}");
    assert!(
        blockers
            .iter()
            .all(|b| b["action"].as_str().unwrap().contains("#20967")
                || b["code"] != "upgrade.member-only-in-v3"),
        "{r}"
    );
    // Real etcd 3.6.17 on a copy: the zombies come back.
    let copy = t.path().join("solo-36");
    copy_tree(&data, &copy);
    let log36 = t.path().join("etcd-3.6.17.log");
    let Some(mut s) = EtcdServer::start_on("3.6.17", &copy, &log36, Some((cp, pp)), &[]) else {
        return crate::util::skip("etcd 3.6.17 not installed");
    };
    let members: Value = serde_json::from_str(&s.ctl(&["member", "list", "-w", "json"])).unwrap();
    s.stop();
    let mut listed: Vec<String> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{:016x}", m["ID"].as_u64().unwrap()))
        .collect();
    listed.sort();
    for z in &old {
        assert!(listed.contains(z), "3.6.17 lists {listed:?}");
    }
    assert_eq!(listed.len(), 4, "{listed:?}");
    let text = std::fs::read_to_string(&log36).unwrap();
    let detected = text
        .lines()
        .filter(|l| l.contains("Detected member only in v3store but missing in v2store"))
        .count();
    assert_eq!(detected, 3, "{}", crate::util::log_tail(&log36, 40));
}
