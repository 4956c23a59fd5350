//! `upgrade-check` against what real etcd did on the same files: 3.6.17
//! refusing v2 custom content and a 3.7 storage version, 3.7.3 panicking on a
//! 3.5.36 dir (recorded by scripts/make-upgrade-check-data.sh and in
//! testdata/upgrade-check/), and ready on every healthy 3.6/3.7 dir.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;

use serde_json::Value;

use crate::util::{repo, run, testdata, InputGuard};

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
