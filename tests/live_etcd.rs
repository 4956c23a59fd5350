//! Against a running etcd: reading its live data dir never waits on its lock
//! (etcdutl blocks forever), never changes a byte, and says the file is live.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{run, sha256_file, EtcdServer};

#[test]
fn live_data_dir_is_read_without_lock_wait_or_change() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut etcd) = EtcdServer::start("3.5.1", tmp.path(), &[]) else {
        return;
    };
    for i in 0..50 {
        let out = etcd.etcdctl(&["put", &format!("/live/k{i:03}"), &format!("value {i}")]);
        assert!(out.status.success(), "{out:?}");
    }
    // Let the backend commit (its batch interval is 100 ms), then go idle.
    std::thread::sleep(Duration::from_millis(500));
    let db = etcd.data_dir.join("member/snap/db");
    let before = sha256_file(&db);

    let started = Instant::now();
    let r = run(&[
        "snapshot".as_ref(),
        "status".as_ref(),
        etcd.data_dir.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    r.expect_code(0);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "status waited: {r}"
    );
    assert!(
        r.stderr.contains("the file is live (locked by process"),
        "{r}"
    );
    let live: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(live["revision"].as_i64().unwrap() >= 51);

    let r = run(&[
        "check".as_ref(),
        etcd.data_dir.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    r.expect_code(0);
    assert!(r.stdout.contains("\"file.live\""), "{r}");
    // The WAL files etcd holds locked are read into memory, not mapped (a
    // running etcd may truncate a tail): the raft state is still all there.
    let r = run(&[
        "inspect".as_ref(),
        etcd.data_dir.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    // Exit 1 exactly when the verdict is damaged (an error-severity warning
    // or an unreadable part; a live WAL tail may or may not be torn at the
    // moment of reading), else 0 (sound, or sound with notes); never 2.
    let damaged = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["severity"] == "error")
        || !v["unreadable"].as_array().unwrap().is_empty();
    assert_eq!(r.code, i32::from(damaged), "{r}");
    assert_eq!(
        v["verdict"] == "damaged" || v["verdict"] == "unusable",
        damaged,
        "{r}"
    );
    assert!(
        v["raft"]["hard_state"]["commit"].as_u64().unwrap() >= 51,
        "{r}"
    );
    assert_eq!(
        sha256_file(&db),
        before,
        "the live db changed under our reads"
    );

    // etcdutl on the same live file waits on the flock: still running after 3 s.
    let mut etcdutl = Command::new(etcd.bin.join("etcdutl"))
        .args(["snapshot", "status"])
        .arg(&db)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let blocked = matches!(etcdutl.try_wait(), Ok(None));
    let _ = etcdutl.kill();
    let _ = etcdutl.wait();
    assert!(
        blocked,
        "etcdutl was expected to block on the live db's flock"
    );

    etcd.stop();
    // Stopped: our figures equal etcdutl's on the same file.
    let ours = run(&[
        "snapshot".as_ref(),
        "status".as_ref(),
        db.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    ours.expect_code(0);
    assert!(!ours.stderr.contains("live"), "{ours}");
    let theirs = Command::new(etcd.bin.join("etcdutl"))
        .args(["snapshot", "status", "-w", "json"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(ours.stdout, String::from_utf8_lossy(&theirs.stdout));
}
