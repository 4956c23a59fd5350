//! `v2 ls` / `v2 get` against `ETCDCTL_API=2 etcdctl` goldens taken from a live
//! etcd 3.4.23 (Patroni-like layout with TTL keys), and a gated live run that
//! compares values and indexes with a live server before stopping it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{etcd_bin_dir, run, testdata, EtcdServer, InputGuard};

fn patroni() -> PathBuf {
    testdata().join("etcd-3.4.23/v2-patroni")
}

fn golden(name: &str) -> String {
    let p = patroni().join("expected").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

#[test]
fn golden_v2_ls_recursive_equals_etcdctl() {
    let data = patroni().join("data/n1");
    let guard = InputGuard::new(&[&data]);
    // Data dir and member dir give the same answer.
    for p in [data.clone(), data.join("member")] {
        let r = run(&[
            "v2".as_ref(),
            "ls".as_ref(),
            p.as_os_str(),
            "--recursive".as_ref(),
        ]);
        r.expect_code(0);
        assert_eq!(r.stdout, golden("v2-ls-recursive.txt"), "{r}");
    }
    // The TTL keys (leader, members/node1) expire without a SYNC: once past
    // their expiration (on the committed files, long ago; on files made a
    // minute ago, not yet) they are still listed, and counted on stderr.
    let r = run(&[
        "v2".as_ref(),
        "ls".as_ref(),
        data.as_os_str(),
        "-r".as_ref(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    r.expect_code(0);
    let expired = r
        .stdout
        .lines()
        .filter(|l| l.contains("\"expired\":true"))
        .count();
    let ttl_keys = r.stdout.lines().filter(|l| l.contains("\"ttl\":")).count();
    assert_eq!(ttl_keys, 2, "{r}");
    let r = run(&[
        "v2".as_ref(),
        "ls".as_ref(),
        data.as_os_str(),
        "-r".as_ref(),
    ]);
    if expired > 0 {
        assert!(
            r.stderr
                .contains(&format!("{expired} listed key(s) have expired")),
            "{r}"
        );
    } else {
        assert!(!r.stderr.contains("have expired"), "{r}");
    }
    guard.check();
}

#[test]
fn golden_v2_get_equals_etcdctl() {
    let data = patroni().join("data/n1");
    // Every `v2-get-<name>.txt` golden: make-testdata.sh names it after the
    // key under /service/pg/ with `/` written as `-`.
    let mut names: Vec<String> = std::fs::read_dir(patroni().join("expected"))
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            Some(n.strip_prefix("v2-get-")?.strip_suffix(".txt")?.to_string())
        })
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no v2-get-*.txt goldens");
    for name in &names {
        let key = format!("/service/pg/{}", name.replace('-', "/"));
        let r = run(&[
            "v2".as_ref(),
            "get".as_ref(),
            data.as_os_str(),
            key.as_ref(),
        ]);
        r.expect_code(0);
        assert_eq!(r.stdout, golden(&format!("v2-get-{name}.txt")), "{r}");
    }
}

#[test]
fn ls_levels_json_and_errors() {
    let data = patroni().join("data/n1");
    let d = data.as_os_str();
    let r = run(&["v2".as_ref(), "ls".as_ref(), d]);
    r.expect_code(0);
    assert_eq!(r.stdout, "/service\n");
    let r = run(&[
        "v2".as_ref(),
        "ls".as_ref(),
        d,
        "/service/pg".as_ref(),
        "-p".as_ref(),
    ]);
    r.expect_code(0);
    assert_eq!(
        r.stdout,
        "/service/pg/config\n/service/pg/history\n/service/pg/initialize\n/service/pg/leader\n/service/pg/members/\n/service/pg/optime/\n"
    );
    // A key lists as itself.
    let r = run(&[
        "v2".as_ref(),
        "ls".as_ref(),
        d,
        "service/pg/leader".as_ref(),
    ]);
    assert_eq!(r.expect_code(0).stdout, "/service/pg/leader\n");
    // --hide-expired drops the expired TTL keys.
    let r = run(&[
        "v2".as_ref(),
        "ls".as_ref(),
        d,
        "-r".as_ref(),
        "--hide-expired".as_ref(),
    ]);
    r.expect_code(0);
    assert!(!r.stdout.contains("/service/pg/leader\n"), "{r}");
    assert!(r.stdout.contains("/service/pg/config\n"), "{r}");
    // JSON lines: metadata, expiry marked.
    let r = run(&[
        "v2".as_ref(),
        "ls".as_ref(),
        d,
        "-r".as_ref(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    r.expect_code(0);
    let rows: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 10);
    let leader = rows
        .iter()
        .find(|v| v["key"] == "/service/pg/leader")
        .unwrap();
    assert_eq!(leader["value"], "node1");
    assert_eq!(leader["expired"], true);
    assert!(leader["ttl"].as_i64().unwrap() < 0);
    assert!(leader["expiration"].as_str().unwrap().ends_with('Z'));
    assert!(leader["modifiedIndex"].as_u64() > leader["createdIndex"].as_u64());
    let init = rows
        .iter()
        .find(|v| v["key"] == "/service/pg/initialize")
        .unwrap();
    assert!(init.get("ttl").is_none() && init.get("expired").is_none());
    // Not found, a dir, a path through a key.
    let r = run(&[
        "v2".as_ref(),
        "get".as_ref(),
        d,
        "/service/pg/nope".as_ref(),
    ]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("100: Key not found (/service/pg/nope)"),
        "{r}"
    );
    let r = run(&["v2".as_ref(), "get".as_ref(), d, "/service/pg".as_ref()]);
    r.expect_code(1);
    assert!(r.stderr.contains("/service/pg: is a directory"), "{r}");
    let r = run(&[
        "v2".as_ref(),
        "ls".as_ref(),
        d,
        "/service/pg/leader/x".as_ref(),
    ]);
    r.expect_code(1);
    let r = run(&["v2", "ls", "/nonexistent/dir"]);
    r.expect_code(2);
    // A single .snap (no replay): an older state, still readable.
    let oldest = crate::util::snap_names(&data.join("member/snap"));
    assert!(
        oldest.len() >= 2,
        "v2-patroni has several .snap files: {oldest:?}"
    );
    let snap = data.join("member/snap").join(&oldest[0]);
    let r = run(&[
        "v2".as_ref(),
        "ls".as_ref(),
        snap.as_os_str(),
        "-r".as_ref(),
    ]);
    r.expect_code(0);
    assert!(r.stdout.starts_with("/service\n/service/pg\n"), "{r}");
}

#[test]
fn damaged_snap_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("0000000000000001-0000000000000001.snap");
    std::fs::write(&p, b"\x08\x01garbage").unwrap();
    let r = run(&["v2".as_ref(), "ls".as_ref(), p.as_os_str()]);
    r.expect_code(2);
    assert_eq!(r.stderr.lines().count(), 1, "{r}");
    assert!(r.stderr.contains(&p.display().to_string()), "{r}");
}

fn etcdctl2(bin: &Path, url: &str, args: &[&str]) -> std::process::Output {
    Command::new(bin.join("etcdctl"))
        .env("ETCDCTL_API", "2")
        .args(["--no-sync", "--endpoints", url])
        .args(args)
        .output()
        .expect("run etcdctl")
}

#[track_caller]
fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "etcdctl failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Live: v2 writes of every kind (create, set, update, CAS, CAD, delete, rmdir,
/// in-order POST, TTLs, hidden keys) on 3.4.23 with snapshots every 10 entries,
/// then `etcdctl ls --sort -r` and `-o json get` of every key, compared after a
/// clean stop with what we rebuild from .snap + WAL (values and indexes).
fn live_v2(version: &str, extra: &[&str]) {
    let Some(bin) = etcd_bin_dir(version) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["--enable-v2", "--snapshot-count", "10"];
    args.extend_from_slice(extra);
    let Some(mut srv) = EtcdServer::start(version, tmp.path(), &args) else {
        return;
    };
    let url = srv.client_url.clone();
    let c = |a: &[&str]| ok(&etcdctl2(&bin, &url, a));
    c(&["mk", "/service/pg/initialize", "7012345678901234567"]);
    c(&["set", "/service/pg/config", r#"{"ttl":30}"#]);
    c(&["mk", "--ttl", "3600", "/service/pg/leader", "node1"]);
    c(&["set", "--ttl", "3600", "/service/pg/members/node1", "m1"]);
    c(&["set", "--ttl", "3600", "/service/pg/members/node2", "m2"]);
    c(&["mk", "/service/pg/failover", "x"]);
    c(&["rm", "/service/pg/failover"]);
    c(&["set", "--ttl", "1", "/service/pg/members/expiring", "e"]);
    c(&["mkdir", "/empty"]);
    c(&["mkdir", "/gone"]);
    c(&["rmdir", "/gone"]);
    c(&["mk", "/_hidden/k", "h"]);
    c(&["mk", "/service/pg/_hidden", "h"]);
    c(&["mk", "--in-order", "/queue", "q1"]);
    c(&["mk", "--in-order", "/queue", "q2"]);
    c(&["set", "/tree/a/b/c", "deep"]);
    c(&["rm", "--recursive", "/tree/a"]);
    for i in 0..12 {
        c(&[
            "set",
            "--ttl",
            "3600",
            "--swap-with-value",
            "node1",
            "/service/pg/leader",
            "node1",
        ]);
        c(&[
            "set",
            "/service/pg/optime/leader",
            &format!("{}", 50_000_000 + i),
        ]);
        c(&["update", "/service/pg/config", &format!(r#"{{"ttl":{i}}}"#)]);
    }
    c(&["update", "--ttl", "0", "/service/pg/members/node2", "m2b"]);
    // A failed compare-and-delete (changes nothing), then one that succeeds.
    let failed = etcdctl2(
        &bin,
        &url,
        &["rm", "--with-value", "x", "/service/pg/members/node1"],
    );
    assert!(!failed.status.success());
    c(&["set", "/service/pg/members/node3", "m3"]);
    c(&["rm", "--with-value", "m3", "/service/pg/members/node3"]);
    // Wait (bounded) for the leader's SYNC to expire the 1 s key, then write
    // once more: its index counts the expire.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while c(&["ls", "/service/pg/members"]).contains("expiring") {
        assert!(
            std::time::Instant::now() < deadline,
            "the TTL key did not expire in 20 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    c(&["set", "/after-expiry", "v"]);
    let ls = c(&["ls", "--sort", "--recursive", "/"]);
    assert!(
        !ls.contains("expiring") && ls.contains("/after-expiry"),
        "{ls}"
    );
    let mut expected = Vec::new();
    for key in ls.lines() {
        // Dirs: etcdctl get fails with "is a directory".
        let o = etcdctl2(&bin, &url, &["-o", "json", "get", key]);
        let j: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
        expected.push((key.to_owned(), j));
    }
    srv.stop();
    let data = &srv.data_dir;
    let r = run(&[
        "v2".as_ref(),
        "ls".as_ref(),
        data.as_os_str(),
        "-r".as_ref(),
    ]);
    r.expect_code(0);
    assert_eq!(r.stdout, ls, "{r}");
    let r = run(&[
        "v2".as_ref(),
        "ls".as_ref(),
        data.as_os_str(),
        "-r".as_ref(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    r.expect_code(0);
    let ours: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (key, live) in &expected {
        let o = ours.iter().find(|v| v["key"] == key.as_str()).unwrap();
        if o["dir"] == true {
            assert!(live.is_null(), "{key}: a dir for us, not for etcd: {live}");
            continue;
        }
        let n = &live["node"];
        assert_eq!(o["value"], n["value"], "{key}: {o} vs {live}");
        assert_eq!(o["createdIndex"], n["createdIndex"], "{key}: {o} vs {live}");
        assert_eq!(
            o["modifiedIndex"], n["modifiedIndex"],
            "{key}: {o} vs {live}"
        );
        assert_eq!(
            o.get("expiration"),
            n.get("expiration"),
            "{key}: {o} vs {live}"
        );
    }
    let snaps = std::fs::read_dir(data.join("member/snap"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".snap"))
        })
        .count();
    assert!(
        snaps > 0,
        "no .snap was written; the test would not cover the .snap path"
    );
}

#[test]
fn live_v2_etcd_3_4_23() {
    live_v2("3.4.23", &[]);
}

#[test]
fn live_v2_etcd_3_5_1() {
    live_v2("3.5.1", &[]);
}

#[test]
fn without_wal_the_newest_snap_is_used_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("member/snap");
    std::fs::create_dir_all(&snap).unwrap();
    let src = patroni().join("data/n1/member/snap");
    let names = crate::util::snap_names(&src);
    assert!(
        names.len() >= 2,
        "v2-patroni has several .snap files: {names:?}"
    );
    for n in &names {
        std::fs::copy(src.join(n), snap.join(n)).unwrap();
    }
    let newest = names.last().unwrap();
    let r = run(&[
        "v2".as_ref(),
        "ls".as_ref(),
        tmp.path().as_os_str(),
        "-r".as_ref(),
    ]);
    r.expect_code(0);
    assert!(r.stderr.contains("no WAL could be read"), "{r}");
    assert!(r.stderr.contains(newest.as_str()), "{r}");
    assert!(r.stdout.contains("/service/pg/leader\n"), "{r}");
    // Neither WAL nor .snap: exit 2.
    std::fs::remove_dir_all(&snap).unwrap();
    std::fs::create_dir_all(&snap).unwrap();
    let r = run(&["v2".as_ref(), "ls".as_ref(), tmp.path().as_os_str()]);
    r.expect_code(2);
}
