//! `inspect` on data dirs made by real etcd, compared with what the live
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
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

fn scenario(v: &str, s: &str) -> Option<PathBuf> {
    let p = testdata().join(format!("etcd-{v}")).join(s);
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("SKIPPED: {} missing", p.display());
        None
    }
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
fn single_node_matches_live_status() {
    let Some(s) = scenario("3.5.1", "single-node") else {
        return;
    };
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
fn cluster3_members_match_member_list() {
    let Some(s) = scenario("3.5.1", "cluster3") else {
        return;
    };
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
fn wal_ahead_replay_reaches_the_live_revision() {
    let Some(s) = scenario("3.5.1", "wal-ahead") else {
        return;
    };
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
fn v2_patroni_34_snapshot_and_custom_content() {
    let Some(s) = scenario("3.4.23", "v2-patroni") else {
        return;
    };
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
    assert_eq!(r["raft"]["snap_files"].as_array().unwrap().len(), 3);
    assert_eq!(
        r["db"]["status"]["revision"],
        st[0]["Status"]["header"]["revision"]
    );
    assert_eq!(
        r["membership"]["snap"]["members"][0]["member_id"],
        r["identity"]["member_id"]
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// A copy of the single-node data dir in a temp dir.
pub fn damaged_copy() -> Option<(tempfile::TempDir, PathBuf)> {
    let s = scenario("3.5.1", "single-node")?;
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    copy_dir(&s.join("data/n1"), &d);
    Some((t, d))
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
    let Some((_t, d)) = damaged_copy() else {
        return;
    };
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
    let r = inspect_json(&d, 1);
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
    let Some((_t, d)) = damaged_copy() else {
        return;
    };
    std::fs::remove_dir_all(d.join("member/wal")).unwrap();
    let r = inspect_json(&d, 1);
    assert!(r["identity"].is_null());
    assert!(r["db"]["status"]["revision"].as_i64().unwrap() > 0);
    assert!(codes(&r).contains(&"wal.missing".to_string()));
    assert!(!r["unreadable"].as_array().unwrap().is_empty());
}

#[test]
fn crc_mismatch_and_unparsable_names_are_reported() {
    let Some((_t, d)) = damaged_copy() else {
        return;
    };
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
    let Some(s) = scenario("3.5.1", "basic") else {
        return;
    };
    let r = inspect_json(&s.join("snapshot.db"), 0);
    assert_eq!(r["input"], "db-file");
    assert_eq!(r["file"]["trailer"]["state"], "valid");
    assert!(r["file"]["kind"]
        .as_str()
        .unwrap()
        .starts_with("saved snapshot"));
    assert!(r["db"]["consistent_index"].as_u64().is_some());
    if let Some(a) = scenario("3.5.1", "auth") {
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

/// Kills the child on drop, so a failing test leaves no etcd behind.
struct Etcd(std::process::Child);

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Live: etcd 3.5.1 with backend commits held back, SIGKILL after writes; the
/// WAL then holds committed entries beyond the db, and the replayed revision
/// must equal what the server reported just before the kill.
#[test]
fn live_kill9_wal_ahead_matches_server() {
    for v in ["3.5.1", "3.4.23", "3.5.30"] {
        live_kill9(v);
    }
}

fn live_kill9(version: &str) {
    let Some(bin) = crate::util::etcd_bin_dir(version) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    let (cp, pp) = (free_port(), free_port());
    let curl = format!("http://127.0.0.1:{cp}");
    let purl = format!("http://127.0.0.1:{pp}");
    let child = std::process::Command::new(bin.join("etcd"))
        .args(["--name", "live", "--data-dir"])
        .arg(&data)
        .args([
            "--listen-client-urls",
            &curl,
            "--advertise-client-urls",
            &curl,
        ])
        .args([
            "--listen-peer-urls",
            &purl,
            "--initial-advertise-peer-urls",
            &purl,
        ])
        .args(["--initial-cluster", &format!("live={purl}")])
        .args([
            "--backend-batch-interval",
            "10m",
            "--backend-batch-limit",
            "1000000",
            "--snapshot-count",
            "10",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut etcd = Etcd(child);
    let ctl = |args: &[&str]| {
        std::process::Command::new(bin.join("etcdctl"))
            .arg(format!("--endpoints={curl}"))
            .args(args)
            .output()
            .unwrap()
    };
    let mut up = false;
    for _ in 0..100 {
        if ctl(&["endpoint", "health"]).status.success() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(up, "etcd {version} did not come up");
    for i in 0..12 {
        assert!(ctl(&["put", &format!("k{i}"), "v"]).status.success());
    }
    ctl(&["del", "k3"]);
    ctl(&["del", "nope"]);
    let out = ctl(&["endpoint", "status", "-w", "json"]);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let _ = etcd.0.kill();
    let _ = etcd.0.wait();
    drop(etcd);
    let r = inspect_json(&data, 0);
    let st = &status[0]["Status"];
    assert_eq!(r["identity"]["member_id"], hex(&st["header"]["member_id"]));
    assert_eq!(
        r["identity"]["cluster_id"],
        hex(&st["header"]["cluster_id"])
    );
    assert_eq!(r["identity"]["name"], "live");
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
