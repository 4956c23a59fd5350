//! `space`: totals, `--top`/`--depth` against the `keys` listings, and a
//! real NOSPACE alarm with the live server's db sizes.

use std::collections::BTreeMap;
use std::ffi::OsString;

use serde_json::Value;

use crate::cmd_keys::{basic, bytes_of, int};
use crate::util::{run, testdata};

#[test]
fn space_totals_add_up() {
    let large = testdata().join("etcd-3.5.1/large/snapshot.db");
    let r = run(&[
        OsString::from("space"),
        large.clone().into(),
        "-w".into(),
        "json".into(),
    ]);
    r.expect_code(0);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let total = &v["total"];
    let sum: i64 = v["prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| int(p, "bytes"))
        .sum();
    assert!(sum <= int(total, "bytes"));
    assert!(int(total, "bytes") <= int(&v, "db_size"));
    assert!(int(&v, "free_bytes") < int(&v, "db_size"));
    assert_eq!(int(&v, "check_problems"), 0);
    assert_eq!(v["alarms"], serde_json::json!([]));
    assert_eq!(
        v["largest"].as_array().unwrap().len().min(10),
        v["largest"].as_array().unwrap().len()
    );
    let r = run(&[OsString::from("space"), basic().into()]);
    r.expect_code(0);
    assert!(r.stdout.contains("Largest keys"), "{r}");
}

/// `space --top N --depth D`: per-prefix key, live-key and revision counts
/// equal those computed from the `keys` and `keys --history` listings, and
/// `--top` keeps the first N rows of each ranking.
#[test]
fn golden_space_top_and_depth_match_the_listings() {
    let db = testdata().join("etcd-3.5.1/large/raw.db");
    let lines = |args: &[&str]| -> Vec<Value> {
        let mut a: Vec<OsString> = args.iter().map(OsString::from).collect();
        a.insert(1, db.clone().into());
        let r = run(&a);
        r.expect_code(0);
        r.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let live = lines(&["keys", "-w", "json"]);
    let history = lines(&["keys", "--history", "-w", "json"]);
    let space = |extra: &[&str]| -> Value {
        let mut a = vec!["space", "-w", "json"];
        a.extend_from_slice(extra);
        lines(&a).remove(0)
    };
    let full = space(&["--top", "1000"]);
    for depth in [1usize, 2] {
        let v = space(&["--depth", &depth.to_string(), "--top", "1000"]);
        // (distinct keys, live keys, revisions incl. deletes) per prefix.
        let mut want: BTreeMap<Vec<u8>, (u64, u64, u64)> = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for h in &history {
            let k = bytes_of(h, "key").unwrap();
            let p = etcd_rescue::ops::space::prefix_of(&k, depth).to_vec();
            let e = want.entry(p).or_default();
            e.2 += 1;
            if seen.insert(k) {
                e.0 += 1;
            }
        }
        for l in &live {
            let k = bytes_of(l, "key").unwrap();
            want.entry(etcd_rescue::ops::space::prefix_of(&k, depth).to_vec())
                .or_default()
                .1 += 1;
        }
        let got: BTreeMap<Vec<u8>, (u64, u64, u64)> = v["prefixes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let n = |f: &str| p[f].as_u64().unwrap();
                (
                    bytes_of(p, "key").unwrap(),
                    (n("keys"), n("live_keys"), n("revisions")),
                )
            })
            .collect();
        assert_eq!(got, want, "depth {depth}");
    }
    assert_eq!(
        full["total"]["live_keys"].as_u64().unwrap(),
        live.len() as u64
    );
    let top = space(&["--top", "2"]);
    for list in ["largest", "most_revisions", "prefixes"] {
        let all = full[list].as_array().unwrap();
        let two = top[list].as_array().unwrap();
        assert_eq!(two.len(), 2.min(all.len()), "{list}");
        assert_eq!(two[..], all[..two.len()], "{list}");
    }
}

/// A real NOSPACE alarm: etcd 3.5.1 with a 1 MiB quota written past it;
/// `space` on its data dir reports the alarm for that member, and the db
/// size etcd reported (the file only grows after that).
#[test]
fn space_reports_a_real_nospace_alarm() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut etcd) =
        crate::util::EtcdServer::start("3.5.1", tmp.path(), &["--quota-backend-bytes", "1048576"])
    else {
        return;
    };
    let big = "x".repeat(100_000);
    let mut hit = false;
    for i in 0..40 {
        let out = etcd.etcdctl(&["put", &format!("big/{i}"), &big]);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("database space exceeded"), "{err}");
            hit = true;
            break;
        }
    }
    assert!(hit, "1 MiB quota never exceeded");
    let alarms = String::from_utf8_lossy(&etcd.etcdctl(&["alarm", "list"]).stdout).into_owned();
    assert!(alarms.contains("alarm:NOSPACE"), "{alarms}");
    let st: Value =
        serde_json::from_slice(&etcd.etcdctl(&["endpoint", "status", "-w", "json"]).stdout)
            .unwrap();
    let st = &st[0]["Status"];
    // `%x`, as etcd prints member IDs (no leading zeros).
    let member = format!("{:x}", st["header"]["member_id"].as_u64().unwrap());
    etcd.stop();
    let r = run(&[
        OsString::from("space"),
        etcd.data_dir.clone().into(),
        "-w".into(),
        "json".into(),
    ]);
    r.expect_code(0);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v["alarms"],
        serde_json::json!([format!("NOSPACE@{member}")]),
        "{r}"
    );
    assert!(v["db_size"].as_u64() >= st["dbSize"].as_u64(), "{r}\n{st}");
    // In use: etcd counts free pages of its freelist without the ones the
    // last transaction freed (still pending); read offline, those are free
    // too. Measured: 720,896 here vs 724,992 live (one pending page).
    let in_use = v["db_size"].as_u64().unwrap() - v["free_bytes"].as_u64().unwrap();
    assert!(in_use <= st["dbSizeInUse"].as_u64().unwrap(), "{r}\n{st}");
    assert!(in_use > 0);
    // The table names the alarm too.
    let r = run(&[OsString::from("space"), etcd.data_dir.clone().into()]);
    r.expect_code(0);
    assert!(r.stdout.contains("NOSPACE"), "{r}");
}
