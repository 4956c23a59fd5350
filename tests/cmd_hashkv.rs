//! `hashkv` against etcd's own HashKV: live etcd 3.5.1 / 3.5.36 / 3.4.23
//! started here (gated on the binaries) before and after a compaction,
//! including the case where the two tombstone rules differ. (The goldens
//! recorded from live etcd are compared by golden::golden_hashkv_equals_live.)

use std::path::{Path, PathBuf};

use crate::util::{run, testdata, EtcdServer, InputGuard};

#[derive(Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Ours {
    hash: u32,
    hash_revision: i64,
    compact_revision: i64,
}

fn ours(path: &Path, rev: Option<i64>, rule: &str) -> Ours {
    let mut args: Vec<String> = vec![
        "hashkv".into(),
        path.display().to_string(),
        "-w".into(),
        "json".into(),
    ];
    if let Some(r) = rev {
        args.extend(["--rev".into(), r.to_string()]);
    }
    args.extend(["--tombstone-rule".into(), rule.into()]);
    let r = run(&args);
    r.expect_code(0);
    assert!(r.stderr.contains("note: tombstone rule"), "{r}");
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{r}"))
}

/// (hash, compact revision, header revision) from `etcdctl endpoint hashkv -w json`.
fn parse_etcdctl(json: &str) -> (u32, i64, i64) {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let h = &v[0]["HashKV"];
    (
        u32::try_from(h["hash"].as_u64().unwrap()).unwrap(),
        h["compact_revision"].as_i64().unwrap(),
        h["header"]["revision"].as_i64().unwrap(),
    )
}

#[test]
fn compacted_and_future_revisions_are_errors() {
    let p = testdata().join("etcd-3.5.1/basic/snapshot.db");
    let r = run(&[
        "hashkv".as_ref(),
        p.as_os_str(),
        "--rev".as_ref(),
        "10".as_ref(),
    ]);
    r.expect_code(2);
    assert!(
        r.stderr.contains("required revision has been compacted"),
        "{r}"
    );
    assert_eq!(r.stderr.lines().count(), 1, "{r}");
    let r = run(&[
        "hashkv".as_ref(),
        p.as_os_str(),
        "--rev".as_ref(),
        "1000".as_ref(),
    ]);
    r.expect_code(2);
    assert!(r.stderr.contains("future revision"), "{r}");
    // rev == compact revision: allowed by the 3.5.16 rule, refused by legacy (3.5.1).
    run(&[
        "hashkv".as_ref(),
        p.as_os_str(),
        "--rev".as_ref(),
        "25".as_ref(),
    ])
    .expect_code(0);
    let r = run(&[
        "hashkv".as_ref(),
        p.as_os_str(),
        "--rev".as_ref(),
        "25".as_ref(),
        "--tombstone-rule".as_ref(),
        "legacy".as_ref(),
    ]);
    r.expect_code(2);
    let r = run(&[
        "hashkv".as_ref(),
        p.as_os_str(),
        "-w".as_ref(),
        "table".as_ref(),
    ]);
    r.expect_code(0);
    assert!(
        r.stdout
            .contains("| HASH | HASH REVISION | COMPACT REVISION |")
            || r.stdout.contains("HASH REVISION"),
        "{r}"
    );
}

/// (hash, compact revision, header revision) of `endpoint hashkv` at `rev`
/// (None = current).
fn live_hashkv(live: &EtcdServer, rev: Option<i64>) -> (u32, i64, i64) {
    let rev = rev.map(|r| format!("--rev={r}"));
    let mut args = vec!["endpoint", "hashkv", "-w", "json"];
    if let Some(r) = &rev {
        args.push(r);
    }
    parse_etcdctl(&live.ctl(&args))
}

/// Records `etcdctl endpoint hashkv` at several points and compares each with
/// our value on the snapshot saved at that point (and, at the end, on the data
/// dir after etcd stopped). `rule` is what that etcd follows.
/// (input, --rev, etcdctl's (hash, compact revision, header revision)).
type Check = (PathBuf, Option<i64>, (u32, i64, i64));

fn live_scenario(version: &str, rule: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let log = tmp.path().join("etcd.log");
    let Some(mut live) = EtcdServer::start_on(version, &data, &log, None, &[]) else {
        return;
    };
    let mut checks: Vec<Check> = Vec::new();
    let save = |live: &EtcdServer, name: &str| {
        let p = tmp.path().join(name);
        live.ctl(&["snapshot", "save", p.to_str().unwrap()]);
        p
    };

    // Phase 1: puts, overwrites, deletes, a multi-op txn; no compaction.
    for (k, v) in [("a", "1"), ("b", "2"), ("a", "3"), ("c", "4")] {
        live.ctl(&["put", k, v]);
    }
    live.ctl(&["del", "a"]);
    live.ctl_stdin(&["txn"], b"\nput x 1\nput y 2\ndel b\n\n\n");
    live.ctl(&["put", "a", "again"]);
    let (_, _, cur1) = live_hashkv(&live, None);
    let s1 = save(&live, "s1.db");
    checks.push((s1.clone(), None, live_hashkv(&live, None)));
    checks.push((
        s1.clone(),
        Some(cur1 - 3),
        live_hashkv(&live, Some(cur1 - 3)),
    ));

    // Phase 2: delete every key, the last delete at the compact revision, so
    // keep() is empty and only the tombstone rule decides.
    live.ctl(&["del", "", "--from-key"]);
    let (_, _, c) = live_hashkv(&live, None);
    live.ctl(&["compact", &c.to_string(), "--physical"]);
    let s2 = save(&live, "s2.db");
    checks.push((s2.clone(), None, live_hashkv(&live, None)));

    // Phase 3: more writes after the compaction; hash at current and at an
    // older revision above the compact revision.
    for i in 0..5 {
        live.ctl(&["put", &format!("k{i}"), "v"]);
    }
    live.ctl(&["del", "k1"]);
    let (_, _, cur3) = live_hashkv(&live, None);
    checks.push((data.clone(), None, live_hashkv(&live, None)));
    checks.push((
        data.clone(),
        Some(cur3 - 2),
        live_hashkv(&live, Some(cur3 - 2)),
    ));
    if rule == "3.5.16" {
        // At exactly the compact revision, the etcd that compacted answers from
        // its in-memory compaction hash (compact revision = the previous one);
        // a restarted etcd, like us, hashes the db. Ask a restarted one.
        let ports = live.ports;
        live.stop();
        let mut live = EtcdServer::start_on(version, &data, &log, Some(ports), &[]).unwrap();
        checks.push((data.clone(), Some(c), live_hashkv(&live, Some(c))));
        checks.push((data.clone(), None, live_hashkv(&live, None)));
        live.stop();
    } else {
        let out = live.etcdctl(&["endpoint", "hashkv", &format!("--rev={c}")]);
        assert!(
            !out.status.success(),
            "etcd {version} hashed at the compact revision"
        );
        live.stop();
    }

    let guard = InputGuard::new(&[&data, &s1, &s2]);
    for (path, rev, (hash, compact, header_rev)) in &checks {
        let want = Ours {
            hash: *hash,
            hash_revision: rev.unwrap_or(*header_rev),
            compact_revision: *compact,
        };
        for r in ["auto", rule] {
            assert_eq!(
                ours(path, *rev, r),
                want,
                "etcd {version}, {} at {rev:?}, rule {r}",
                path.display()
            );
        }
    }
    if rule == "legacy" {
        let r = run(&[
            "hashkv".as_ref(),
            data.as_os_str(),
            format!("--rev={c}").as_ref(),
            "--tombstone-rule=legacy".as_ref(),
        ]);
        r.expect_code(2);
    } else {
        // The two rules really differ on s2 (etcd 3.5.16+ keeps the tombstone).
        let legacy = ours(&s2, None, "legacy");
        assert_ne!(legacy.hash, checks[2].2 .0, "rules should differ on s2");
    }
    guard.check();
}

#[test]
fn live_etcd_3_5_1() {
    live_scenario("3.5.1", "legacy");
}

#[test]
fn live_etcd_35_newest() {
    live_scenario(crate::util::ETCD_35_NEWEST, "3.5.16");
}

#[test]
fn live_etcd_3_4_23() {
    live_scenario("3.4.23", "legacy");
}
