//! `inspect` on data dirs made by real etcd, compared with what the live
//! server reported (`etcdctl endpoint status`, `member list`), and on
//! damaged copies.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{run, testdata, InputGuard};

fn inspect_json(path: &Path, code: i32) -> Value {
    let guard = InputGuard::new(&[path]);
    let r = run(&[
        "inspect".as_ref(),
        path.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    r.expect_code(code);
    guard.check();
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("bad JSON ({e})\n{r}"))
}

fn golden(p: &Path) -> Value {
    let s = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&s).unwrap()
}

fn hex(v: &Value) -> String {
    format!("{:016x}", v.as_u64().unwrap())
}

/// Member and cluster IDs, HardState, revisions as the live server reported them.
fn check_against_status(r: &Value, status: &Value, clean: bool) {
    let st = &status[0]["Status"];
    assert_eq!(r["identity"]["member_id"], hex(&st["header"]["member_id"]));
    assert_eq!(
        r["identity"]["cluster_id"],
        hex(&st["header"]["cluster_id"])
    );
    assert_eq!(r["raft"]["hard_state"]["term"], st["raftTerm"]);
    if clean {
        assert_eq!(r["raft"]["hard_state"]["commit"], st["raftIndex"]);
        assert_eq!(r["db"]["status"]["revision"], st["header"]["revision"]);
        assert_eq!(
            r["wal_db"]["revision_after_replay"],
            st["header"]["revision"]
        );
        assert_eq!(r["wal_db"]["committed_beyond_db"], 0);
    }
}

/// A committed scenario dir; missing is a failure, not a skip.
#[track_caller]
fn scenario(v: &str, s: &str) -> PathBuf {
    let p = testdata().join(format!("etcd-{v}")).join(s);
    assert!(
        p.is_dir(),
        "{} missing (scripts/make-testdata.sh)",
        p.display()
    );
    p
}

/// The newest .snap whose name is ≤ the commit (what etcd picks on a clean dir).
fn newest_snap(dir: &Path, commit: u64) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("member/snap"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".snap"))
        .filter(|n| u64::from_str_radix(&n[17..33], 16).unwrap() <= commit)
        .collect();
    names.sort();
    names.pop()
}

#[test]
fn golden_inspect_single_node() {
    let s = scenario("3.5.1", "single-node");
    let dir = s.join("data/n1");
    let r = inspect_json(&dir, 0);
    check_against_status(&r, &golden(&s.join("expected/endpoint-status.json")), true);
    let ml = golden(&s.join("expected/member-list.json"));
    let m0 = &ml["members"][0];
    assert_eq!(r["identity"]["name"], m0["name"]);
    assert_eq!(
        r["membership"]["db"]["members"][0]["member_id"],
        hex(&m0["ID"])
    );
    assert_eq!(
        r["membership"]["db"]["members"][0]["peer_urls"],
        m0["peerURLs"]
    );
    let commit = r["raft"]["hard_state"]["commit"].as_u64().unwrap();
    let want = newest_snap(&dir, commit).unwrap();
    assert_eq!(r["raft"]["snapshot"]["name"], want.as_str());
    assert_eq!(
        r["raft"]["snapshot"]["index"].as_u64().unwrap(),
        u64::from_str_radix(&want[17..33], 16).unwrap()
    );
    assert_eq!(
        r["raft"]["snapshot"]["term"].as_u64().unwrap(),
        u64::from_str_radix(&want[..16], 16).unwrap()
    );
    assert_eq!(r["raft"]["first_index"], 1);
    assert_eq!(r["raft"]["last_index"], r["raft"]["hard_state"]["commit"]);
    assert_eq!(
        r["db"]["status"]["hash"],
        golden(&s.join("expected/db.status.json"))["hash"]
    );
}

#[test]
fn golden_inspect_cluster3_members() {
    let s = scenario("3.5.1", "cluster3");
    let ml = golden(&s.join("expected/member-list.json"));
    let mut want: Vec<(String, String)> = ml["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (hex(&m["ID"]), m["name"].as_str().unwrap().to_string()))
        .collect();
    want.sort();
    for n in ["n1", "n2", "n3"] {
        let r = inspect_json(&s.join("data").join(n), 0);
        let st = golden(&s.join(format!("expected/{n}.endpoint-status.json")));
        check_against_status(&r, &st, true);
        assert_eq!(r["identity"]["name"], n);
        let got: Vec<(String, String)> = r["membership"]["db"]["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["member_id"].as_str().unwrap().to_string(),
                    m["name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(got, want, "{n}");
        assert_eq!(
            r["membership"]["wal_conf_changes"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert!(
            !r["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["code"] == "membership.disagree"),
            "{n}: {:#}",
            r["warnings"]
        );
    }
}

#[test]
fn golden_inspect_wal_ahead_replay() {
    let s = scenario("3.5.1", "wal-ahead");
    let r = inspect_json(&s.join("data/n1"), 0);
    let live = golden(&s.join("expected/live.endpoint-status.json"));
    let committed = golden(&s.join("expected/committed.endpoint-status.json"));
    check_against_status(&r, &live, false);
    let lst = &live[0]["Status"];
    let cst = &committed[0]["Status"];
    assert_eq!(r["raft"]["hard_state"]["commit"], lst["raftIndex"]);
    assert_eq!(r["db"]["status"]["revision"], cst["header"]["revision"]);
    assert_eq!(r["wal_db"]["consistent_index"], cst["raftIndex"]);
    assert_eq!(
        r["wal_db"]["revision_after_replay"],
        lst["header"]["revision"]
    );
    assert_eq!(r["wal_db"]["replay_complete"], true);
    let beyond = lst["raftIndex"].as_u64().unwrap() - cst["raftIndex"].as_u64().unwrap();
    assert_eq!(r["wal_db"]["committed_beyond_db"], beyond);
    assert!(r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["code"] == "wal.ahead-of-db"));
}

#[test]
fn golden_inspect_v2_patroni() {
    let s = scenario("3.4.23", "v2-patroni");
    let dir = s.join("data/n1");
    let r = inspect_json(&dir, 0);
    let st = golden(&s.join("expected/endpoint-status.json"));
    check_against_status(&r, &st, false);
    let commit = r["raft"]["hard_state"]["commit"].as_u64().unwrap();
    assert_eq!(
        r["raft"]["snapshot"]["name"],
        newest_snap(&dir, commit).unwrap().as_str()
    );
    assert_eq!(r["raft"]["snapshot"]["v2_custom_content"], true);
    // Every .snap file (how many depends on timing: the manifest counted them).
    assert_eq!(
        r["raft"]["snap_files"].as_array().unwrap().len() as u64,
        crate::util::manifest_u64(&s, "data/n1.snap_files")
    );
    // The member etcdctl listed, from the v2 store of the .snap (3.4 has no
    // members bucket) and from the WAL's conf change.
    let ml = golden(&s.join("expected/member-list.json"));
    let m0 = &ml["members"][0];
    assert_eq!(ml["members"].as_array().unwrap().len(), 1);
    assert_eq!(r["identity"]["name"], m0["name"]);
    assert_eq!(r["identity"]["member_id"], hex(&m0["ID"]));
    assert_eq!(
        r["membership"]["snap"]["members"][0]["peer_urls"],
        m0["peerURLs"]
    );
    assert_eq!(
        r["db"]["status"]["revision"],
        st[0]["Status"]["header"]["revision"]
    );
    assert_eq!(
        r["membership"]["snap"]["members"][0]["member_id"],
        r["identity"]["member_id"]
    );
}

/// A copy of the single-node data dir in a temp dir.
pub fn damaged_copy() -> (tempfile::TempDir, PathBuf) {
    let s = scenario("3.5.1", "single-node");
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    crate::util::copy_tree(&s.join("data/n1"), &d);
    (t, d)
}

fn codes(r: &Value) -> Vec<String> {
    r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn broken_newest_snap_falls_back_to_the_older_one() {
    let (_t, d) = damaged_copy();
    let snap_dir = d.join("member/snap");
    let mut names: Vec<_> = std::fs::read_dir(&snap_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".snap"))
        .collect();
    names.sort();
    let newest = snap_dir.join(names.last().unwrap());
    let mut b = std::fs::read(&newest).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x01;
    std::fs::write(&newest, &b).unwrap();
    // etcd falls back to the older .snap: usable as it is, a note (the
    // verdict `check` gives too), exit 0.
    let r = inspect_json(&d, 0);
    assert_eq!(r["verdict"], "sound-with-notes");
    assert!(
        codes(&r).contains(&"snap.unreadable".to_string()),
        "{:#}",
        r["warnings"]
    );
    assert_eq!(
        r["raft"]["snapshot"]["name"],
        names[names.len() - 2].as_str()
    );
    let bad = r["raft"]["snap_files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == names.last().unwrap().as_str())
        .unwrap()
        .clone();
    assert_eq!(bad["problem"]["problem"], "crc-mismatch");
}

#[test]
fn missing_wal_dir_still_reports_the_db() {
    let (_t, d) = damaged_copy();
    std::fs::remove_dir_all(d.join("member/wal")).unwrap();
    let r = inspect_json(&d, 1);
    assert!(r["identity"].is_null());
    assert!(r["db"]["status"]["revision"].as_i64().unwrap() > 0);
    assert!(codes(&r).contains(&"wal.missing".to_string()));
    assert!(!r["unreadable"].as_array().unwrap().is_empty());
}

#[test]
fn crc_mismatch_and_unparsable_names_are_reported() {
    let (_t, d) = damaged_copy();
    let wal = d.join("member/wal/0000000000000000-0000000000000000.wal");
    let mut b = std::fs::read(&wal).unwrap();
    let off = crate::cmd_wal::middle_entry_offset(&wal);
    b[off as usize + 8 + 12] ^= 0x40;
    std::fs::write(&wal, &b).unwrap();
    std::fs::write(d.join("member/wal/junk.wal"), b"x").unwrap();
    let r = inspect_json(&d, 1);
    let w = r["warnings"].as_array().unwrap();
    let crc = w
        .iter()
        .find(|w| w["code"] == "wal.crc.mismatch")
        .unwrap_or_else(|| panic!("{w:#?}"));
    assert_eq!(crc["offset"], off);
    assert!(crc["file"]
        .as_str()
        .unwrap()
        .ends_with("0000000000000000-0000000000000000.wal"));
    assert!(w.iter().any(|w| w["code"] == "wal.name.unparsable"));
}

#[test]
fn snapshot_file_kinds() {
    let s = scenario("3.5.1", "basic");
    let r = inspect_json(&s.join("snapshot.db"), 0);
    assert_eq!(r["input"], "db-file");
    assert_eq!(r["file"]["trailer"]["state"], "valid");
    assert!(r["file"]["kind"]
        .as_str()
        .unwrap()
        .starts_with("saved snapshot"));
    assert!(r["db"]["consistent_index"].as_u64().is_some());
    {
        let a = scenario("3.5.1", "auth");
        let r = inspect_json(&a.join("snapshot.db"), 0);
        assert_eq!(r["db"]["auth_enabled"], true);
        assert_eq!(r["db"]["auth_users"], 2);
        assert_eq!(r["format_version"], 1);
    }
    let r = inspect_json(&s.join("raw.db"), 0);
    assert_eq!(r["file"]["trailer"]["state"], "absent");
    assert!(r["file"]["kind"]
        .as_str()
        .unwrap()
        .starts_with("raw db copy"));
    // A truncated download.
    let t = tempfile::tempdir().unwrap();
    let cut = t.path().join("cut.db");
    let b = std::fs::read(s.join("snapshot.db")).unwrap();
    std::fs::write(&cut, &b[..b.len() / 2 / 4096 * 4096]).unwrap();
    let r = inspect_json(&cut, 1);
    assert!(
        r["file"]["kind"].as_str().unwrap().contains("truncated"),
        "{:#}",
        r["file"]
    );
}

#[test]
fn unreadable_path_exits_2() {
    run(&["inspect", "/nonexistent/etcd-rescue"]).expect_code(2);
}

/// Live: etcd 3.5.1 with backend commits held back, SIGKILL after writes; the
/// WAL then holds committed entries beyond the db, and the replayed revision
/// must equal what the server reported just before the kill.
#[test]
fn live_kill9_wal_ahead_matches_server() {
    for v in ["3.5.1", "3.4.23", crate::util::ETCD_35_NEWEST] {
        live_kill9(v);
    }
}

fn live_kill9(version: &str) {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    let extra = [
        "--backend-batch-interval",
        "10m",
        "--backend-batch-limit",
        "1000000",
        "--snapshot-count",
        "10",
    ];
    let log = t.path().join("etcd.log");
    let Some(mut etcd) = crate::util::EtcdServer::start_on(version, &data, &log, None, &extra)
    else {
        return;
    };
    for i in 0..12 {
        etcd.ctl(&["put", &format!("k{i}"), "v"]);
    }
    etcd.ctl(&["del", "k3"]);
    etcd.ctl(&["del", "nope"]);
    let status: Value =
        serde_json::from_str(&etcd.ctl(&["endpoint", "status", "-w", "json"])).unwrap();
    etcd.kill9();
    drop(etcd);
    let r = inspect_json(&data, 0);
    let st = &status[0]["Status"];
    assert_eq!(r["identity"]["member_id"], hex(&st["header"]["member_id"]));
    assert_eq!(
        r["identity"]["cluster_id"],
        hex(&st["header"]["cluster_id"])
    );
    assert_eq!(r["identity"]["name"], "n1");
    assert_eq!(r["raft"]["hard_state"]["commit"], st["raftIndex"]);
    assert_eq!(r["raft"]["hard_state"]["term"], st["raftTerm"]);
    assert_eq!(
        r["wal_db"]["revision_after_replay"],
        st["header"]["revision"]
    );
    assert!(
        r["wal_db"]["committed_beyond_db"].as_u64().unwrap() > 0,
        "{:#}",
        r["wal_db"]
    );
}

/// `inspect` of a WAL dir alone, of one `.snap` file, of several paths at
/// once, and the table output, against the live member list and status.
#[test]
fn golden_inspect_wal_dir_snap_file_several_paths_and_table() {
    let s = scenario("3.5.1", "single-node");
    let dir = s.join("data/n1");
    let ml = golden(&s.join("expected/member-list.json"));
    let st = golden(&s.join("expected/endpoint-status.json"));
    let m0 = &ml["members"][0];
    let member = hex(&m0["ID"]);
    let cluster = hex(&ml["header"]["cluster_id"]);

    // The WAL dir: identity and membership from the WAL alone.
    let r = inspect_json(&dir.join("member/wal"), 0);
    assert_eq!(r["input"], "wal-dir");
    assert_eq!(r["identity"]["member_id"], member.as_str());
    assert_eq!(r["identity"]["cluster_id"], cluster.as_str());
    let wal_members = r["membership"]["wal"]["members"].as_array().unwrap();
    assert_eq!(wal_members.len(), 1);
    assert_eq!(wal_members[0]["member_id"], member.as_str());
    assert_eq!(wal_members[0]["peer_urls"], m0["peerURLs"]);
    assert_eq!(
        r["raft"]["hard_state"]["commit"],
        st[0]["Status"]["raftIndex"]
    );
    assert!(r["db"].is_null(), "no db in a WAL dir: {:#}", r["db"]);

    // One .snap file: the membership in its v2 store.
    let snaps = crate::util::snap_names(&dir.join("member/snap"));
    let snap = dir.join("member/snap").join(snaps.last().unwrap());
    let r = inspect_json(&snap, 0);
    assert_eq!(r["input"], "snap-file");
    let snap_members = r["membership"]["snap"]["members"].as_array().unwrap();
    assert_eq!(snap_members.len(), 1);
    assert_eq!(snap_members[0]["member_id"], member.as_str());

    // Several paths: one JSON array, in the order given.
    let basic = testdata().join("etcd-3.5.1/basic/snapshot.db");
    let r = run(&[
        "inspect".as_ref(),
        basic.as_os_str(),
        dir.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    r.expect_code(0);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let paths: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, [basic.to_str().unwrap(), dir.to_str().unwrap()]);
    // An unreadable path among them: the others still reported, exit 2.
    let r = run(&[
        "inspect".as_ref(),
        basic.as_os_str(),
        "/nonexistent/x".as_ref(),
    ]);
    r.expect_code(2);
    assert!(r.stdout.contains(basic.to_str().unwrap()), "{r}");
    assert!(r.stderr.contains("/nonexistent/x"), "{r}");

    // The table: the live member, cluster and revision figures.
    let r = run(&["inspect".as_ref(), dir.as_os_str()]);
    r.expect_code(0);
    let rev = st[0]["Status"]["header"]["revision"].as_u64().unwrap();
    // IDs as etcd prints them (`%x`), not JSON's 16 digits.
    let unpadded = |x: &Value| format!("{:x}", x.as_u64().unwrap());
    for needle in [
        unpadded(&m0["ID"]),
        unpadded(&ml["header"]["cluster_id"]),
        format!("revision={rev}"),
    ] {
        assert!(r.stdout.contains(&needle), "table lacks {needle}:\n{r}");
    }
}
