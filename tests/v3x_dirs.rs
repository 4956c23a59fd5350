//! `inspect`, `check` and `compare` on the data dirs real etcd 3.6.17 and
//! 3.7.3 wrote (issue #14): no false warnings, the storage version and the
//! etcd that last wrote the dir shown, where 3.7 starts, mid-upgrade clusters
//! consistent.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{copy_tree, run, testdata, InputGuard};

/// Every `testdata/etcd-{3.6.17,3.7.3}/<scenario>/data/<member>` with a `member` dir.
fn v3x_data_dirs() -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for v in ["etcd-3.6.17", "etcd-3.7.3"] {
        let Ok(scens) = std::fs::read_dir(testdata().join(v)) else {
            continue;
        };
        for s in scens.flatten() {
            let Ok(members) = std::fs::read_dir(s.path().join("data")) else {
                continue;
            };
            for m in members.flatten() {
                if m.path().join("member").is_dir() {
                    out.push((s.path(), m.path()));
                }
            }
        }
    }
    out.sort();
    assert!(
        out.len() >= 20,
        "expected the 3.6.17/3.7.3 data dirs under {}",
        testdata().display()
    );
    out
}

fn json(args: &[&std::ffi::OsStr], code: i32) -> Value {
    let r = run(args);
    r.expect_code(code);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("bad JSON ({e})\n{r}"))
}

fn inspect_json(p: &Path) -> Value {
    let guard = InputGuard::new(&[p]);
    let v = json(
        &[
            "inspect".as_ref(),
            p.as_os_str(),
            "-w".as_ref(),
            "json".as_ref(),
        ],
        0,
    );
    guard.check();
    v
}

/// The live `endpoint status` storageVersion recorded for this member, if any.
fn live_storage_version(scenario: &Path, member: &Path) -> Option<String> {
    let name = member.file_name()?.to_string_lossy().into_owned();
    let exp = scenario.join("expected");
    let p = [
        format!("{name}.endpoint-status.json"),
        "endpoint-status.json".into(),
    ]
    .into_iter()
    .map(|f| exp.join(f))
    .find(|p| p.is_file())?;
    let v: Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
    v[0]["Status"]["storageVersion"]
        .as_str()
        .map(str::to_string)
}

#[test]
fn golden_v3x_inspect_has_no_false_warnings_and_shows_versions() {
    for (scen, d) in v3x_data_dirs() {
        let r = inspect_json(&d);
        let bad: Vec<&Value> = r["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["severity"] != "info")
            .collect();
        assert!(bad.is_empty(), "{}: warnings {bad:?}", d.display());
        let v = &r["versions"];
        let sv = v["storage_version"].as_str();
        assert_eq!(sv, r["db"]["storage_version"].as_str(), "{}", d.display());
        // The live server reported 3.5.0 where nothing was written yet, else the db's value.
        if let Some(live) = live_storage_version(&scen, &d) {
            if live == "3.5.0" {
                assert_eq!(sv, None, "{}", d.display());
            } else {
                assert_eq!(sv, Some(live.as_str()), "{}", d.display());
            }
        }
        let w = v["written_by_at_least"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no writer version", d.display()));
        assert!(["3.5", "3.6", "3.7"].contains(&w), "{}: {w}", d.display());
        if let Some(sv) = sv {
            assert!(
                sv.starts_with(w),
                "{}: storage {sv}, writer {w}",
                d.display()
            );
            assert_eq!(v["written_by_source"], "db meta/storageVersion");
        }
        // Dirs of a step run by 3.5.36, or 3.6.17 members of a 3.5 cluster: 3.5.
        let in_35_cluster = d.to_string_lossy().contains("step1-3.5.36")
            || (d.to_string_lossy().contains("etcd-3.6.17/cluster3-mixed"));
        assert_eq!(in_35_cluster, w == "3.5", "{}: {w}", d.display());
        // check agrees: sound.
        let c = run(&["check".as_ref(), d.as_os_str()]);
        c.expect_code(0);
    }
}

#[test]
fn golden_v3x_3_7_starts_from_the_last_wal_snapshot_record() {
    let d = testdata().join("etcd-3.7.3/snapshotted/data/n1");
    let r = inspect_json(&d);
    // 3.7.3 still writes .snap files in step with WAL snapshot records (6 here, the newest at 0x25e).
    assert_eq!(r["versions"]["start_3_7"]["index"], 0x25e);
    assert_eq!(r["raft"]["snapshot"]["index"], 0x25e);
    let text = run(&["inspect".as_ref(), d.as_os_str()]);
    text.expect_code(0);
    assert!(
        text.stdout
            .contains("3.7 starts at  WAL snapshot record index=606 term=2"),
        "{text}"
    );
    assert!(text.stdout.contains("(not read by etcd 3.7)"), "{text}");
}

#[test]
fn golden_v3x_3_7_dir_without_snap_files_is_normal() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("n1");
    copy_tree(&testdata().join("etcd-3.7.3/snapshotted/data/n1"), &d);
    for e in std::fs::read_dir(d.join("member/snap")).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "snap") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let r = inspect_json(&d);
    assert!(r["warnings"].as_array().unwrap().is_empty(), "{r}");
    assert_eq!(r["versions"]["start_3_7"]["index"], 606);
    let t = run(&["inspect".as_ref(), d.as_os_str()]);
    assert!(
        t.stdout
            .contains("no .snap loaded: etcd 3.7 starts from the WAL snapshot record index=606"),
        "{t}"
    );
    run(&["check".as_ref(), d.as_os_str()]).expect_code(0);
}

#[test]
fn golden_v3x_older_snap_files_are_marked_stale() {
    let d = testdata().join("etcd-3.6.17/single-node/data/n1");
    let t = run(&["inspect".as_ref(), d.as_os_str()]);
    t.expect_code(0);
    assert!(
        t.stdout.contains(" stale (older than the selected one"),
        "{t}"
    );
}

#[test]
fn golden_v3x_compare_mid_upgrade_is_consistent() {
    for v in ["etcd-3.6.17", "etcd-3.7.3"] {
        let base = testdata().join(v).join("cluster3-mixed/data");
        let (n1, n2, n3) = (base.join("n1"), base.join("n2"), base.join("n3"));
        let r = json(
            &[
                "compare".as_ref(),
                n1.as_os_str(),
                n2.as_os_str(),
                n3.as_os_str(),
                "-w".as_ref(),
                "json".as_ref(),
            ],
            0,
        );
        assert_eq!(r["verdict"], "consistent", "{v}: {r}");
    }
}
