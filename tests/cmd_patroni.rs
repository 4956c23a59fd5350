//! `patroni` against what `patronictl` showed on a real two-node Patroni 4.1.5
//! cluster (PostgreSQL 15) at four points — bootstrap, switchover, failover,
//! rejoin — on etcd 3.4.23 (v2 API, member dir copies) and etcd 3.5.1 (v3 API,
//! saved snapshots); made by scripts/make-patroni-testdata.sh. Every test here
//! reads that data and is named `golden_*`: scripts/test.sh makes the data again
//! with real Patroni and PostgreSQL and reruns them on it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{run, testdata, InputGuard};

const SCENARIOS: [(&str, &str); 2] = [("v2-etcd-3.4.23", "data"), ("v3-etcd-3.5.1", "snapshot.db")];

fn points(scenario: &str) -> Vec<PathBuf> {
    let dir = testdata().join("patroni").join(scenario).join("points");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn json_file(p: &Path) -> Value {
    let s = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("parse {}: {e}", p.display()))
}

/// The point's save time as RFC 3339 (patronictl ran within seconds of it).
fn now_of(point: &Path) -> String {
    let secs: i64 = std::fs::read_to_string(point.join("now"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Civil-from-days (Howard Hinnant), enough for a test's RFC 3339 string.
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

fn report(input: &Path, extra: &[&str]) -> (Value, i32) {
    let mut args: Vec<&std::ffi::OsStr> = vec!["patroni".as_ref(), input.as_os_str()];
    args.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
    args.extend([std::ffi::OsStr::new("-w"), std::ffi::OsStr::new("json")]);
    let r = run(&args);
    assert!(r.code == 0 || r.code == 1, "{r}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r}"));
    (v, r.code)
}

fn the_cluster(v: &Value) -> &Value {
    let clusters = v["inputs"][0]["clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 1, "one scope expected: {v:#}");
    &clusters[0]
}

#[test]
fn golden_patroni_list_history_config_equal_patronictl_at_every_point() {
    for (scenario, input) in SCENARIOS {
        let pts = points(scenario);
        assert_eq!(pts.len(), 4, "{scenario}: four points");
        for p in pts {
            let input = p.join(input);
            let files: Vec<PathBuf> = walk(&input);
            let guard = InputGuard::new(&files);
            let now = now_of(&p);
            let (v, _) = report(&input, &["--now", &now]);
            let c = the_cluster(&v);
            let exp = p.join("expected");
            let what = format!("{scenario} {}", p.file_name().unwrap().to_string_lossy());
            assert_eq!(
                c["patronictl_list"],
                json_file(&exp.join("patronictl-list.json")),
                "{what}: list"
            );
            assert_eq!(
                c["patronictl_history"],
                json_file(&exp.join("patronictl-history.json")),
                "{what}: history"
            );
            assert_eq!(
                c["cluster"]["config"],
                json_file(&exp.join("patronictl-show-config.json")),
                "{what}: show-config"
            );
            assert_eq!(c["cluster"]["scope"], "demo");
            assert_eq!(c["cluster"]["namespace"], "/service");
            let init = c["cluster"]["initialize"].as_str().unwrap();
            assert!(
                init.len() >= 16 && init.bytes().all(|b| b.is_ascii_digit()),
                "{what}: {init}"
            );
            assert!(
                c["cluster"]["unreadable"].as_array().unwrap().is_empty(),
                "{what}"
            );
            // The leader key names the patronictl leader and is alive at the save time.
            let leader = json_file(&exp.join("patronictl-list.json"))
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["Role"] == "Leader")
                .map(|m| m["Member"].clone())
                .unwrap();
            assert_eq!(c["cluster"]["leader"]["name"], leader, "{what}");
            match c["leader_life"]["kind"].as_str().unwrap() {
                "ttl" => {
                    assert_eq!(c["leader_life"]["expired"], false, "{what}");
                    let left = c["leader_life"]["seconds_left"].as_i64().unwrap();
                    // `now` is the save time floored to a second: up to ttl + 1 left.
                    assert!((1..=21).contains(&left), "{what}: {left}");
                }
                "lease" => assert_eq!(c["leader_life"]["ttl_after_restore"], 20, "{what}"),
                k => panic!("{what}: leader life {k}"),
            }
            guard.check();
        }
    }
}

#[test]
fn golden_patroni_v3_history_shows_who_led_when() {
    let pts = points("v3-etcd-3.5.1");
    let last = pts.last().unwrap().join("snapshot.db");
    let (v, _) = report(&last, &["--history", "--now", "2030-01-01T00:00:00Z"]);
    let spells = the_cluster(&v)["leader_history"]
        .as_array()
        .unwrap()
        .clone();
    let leaders: Vec<Value> = spells.iter().map(|s| s["leader"].clone()).collect();
    // pg1 bootstraps, the switchover hands over to pg2 (the key is deleted and
    // re-created), pg2 is killed and its lease expires, pg1 takes over.
    let named: Vec<&str> = leaders.iter().filter_map(Value::as_str).collect();
    let mut dedup = named.clone();
    dedup.dedup();
    assert_eq!(dedup, vec!["pg1", "pg2", "pg1"], "{spells:?}");
    // At an early revision the first leader is shown.
    let first_rev = spells[0]["from"].as_i64().unwrap();
    let (v, _) = report(&last, &["--rev", &first_rev.to_string()]);
    assert_eq!(the_cluster(&v)["cluster"]["leader"]["name"], "pg1");
}

#[test]
fn golden_patroni_failover_point_advises_about_the_leader_key() {
    // At the failover point of the v2 run pg2's keys are gone and pg1 leads;
    // judged an hour later the leader key has expired.
    let p = &points("v2-etcd-3.4.23")[2];
    let (v, code) = report(&p.join("data"), &["--now", "2099-01-01T00:00:00Z"]);
    let c = the_cluster(&v);
    let codes: Vec<&str> = c["advisories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["patroni.leader.expired"]);
    assert_eq!(code, 0);
    // Two inputs from different runs: different PostgreSQL clusters.
    let v3 = points("v3-etcd-3.5.1")[0].join("snapshot.db");
    let r = run(&[
        "patroni".as_ref(),
        p.join("data").as_os_str(),
        v3.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    r.expect_code(1);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let codes: Vec<&str> = v["advisories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["patroni.initialize.disagree"], "{r}");
}

#[test]
fn golden_patroni_table_output_and_filters() {
    let p = &points("v3-etcd-3.5.1")[1];
    let snap = p.join("snapshot.db");
    let r = run(&[
        "patroni".as_ref(),
        snap.as_os_str(),
        "--now".as_ref(),
        "2030-01-01T00:00:00Z".as_ref(),
    ]);
    assert!(r.code == 0 || r.code == 1, "{r}");
    assert!(r.stdout.contains("Cluster: demo ("), "{r}");
    assert!(r.stdout.contains("| pg2 "), "{r}");
    // A scope or namespace that is not there: nothing found, exit 0.
    for extra in [["--scope", "nope"], ["--namespace", "/other"]] {
        let (v, code) = report(&snap, &extra);
        assert_eq!(code, 0);
        assert!(v["inputs"][0]["clusters"].as_array().unwrap().is_empty());
    }
    let r = run(&[
        "patroni".as_ref(),
        snap.as_os_str(),
        "--now".as_ref(),
        "yesterday".as_ref(),
    ]);
    r.expect_code(2);
}

#[test]
fn golden_patroni_a_single_snap_file_is_read_as_the_v2_store() {
    // (Values that are not what Patroni writes are covered by the unit tests
    // of etcd::patroni: a .snap cannot be edited without breaking its CRC.)
    let p = &points("v2-etcd-3.4.23")[3];
    let snapdir = p.join("data/member/snap");
    let snap = std::fs::read_dir(&snapdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "snap"))
        .unwrap();
    let r = run(&[
        "patroni".as_ref(),
        snap.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
    ]);
    assert!(r.code == 0 || r.code == 1, "{r}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["inputs"][0]["stores"][0]["api"], "v2");
    assert_eq!(the_cluster(&v)["cluster"]["scope"], "demo");
}

fn walk(p: &Path) -> Vec<PathBuf> {
    if p.is_file() {
        return vec![p.to_path_buf()];
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        out.extend(walk(&e.unwrap().path()));
    }
    out
}
