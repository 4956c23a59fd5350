//! `hashkv` against etcd's own HashKV: the goldens recorded from live etcd in
//! testdata/*/expected/live.hashkv*.json, and live etcd 3.5.1 / 3.5.30 started
//! here (gated on the binaries) before and after a compaction, including the
//! case where the two tombstone rules differ.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{etcd_bin_dir, run, testdata, InputGuard};

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
fn matches_live_goldens() {
    let mut checked = 0;
    let root = testdata();
    let Ok(versions) = std::fs::read_dir(&root) else {
        panic!("no testdata at {}", root.display())
    };
    for v in versions.flatten() {
        let Ok(scenarios) = std::fs::read_dir(v.path()) else {
            continue;
        };
        for s in scenarios.flatten() {
            let Ok(expected) = std::fs::read_dir(s.path().join("expected")) else {
                continue;
            };
            for g in expected.flatten() {
                let name = g.file_name().to_string_lossy().into_owned();
                let Some(rest) = name
                    .strip_prefix("live.hashkv")
                    .and_then(|r| r.strip_suffix(".json"))
                else {
                    continue;
                };
                let rev = rest.strip_prefix("-rev").map(|r| r.parse::<i64>().unwrap());
                let (hash, compact, header_rev) =
                    parse_etcdctl(&std::fs::read_to_string(g.path()).unwrap());
                for db in ["raw.db", "snapshot.db"] {
                    let p = s.path().join(db);
                    if !p.is_file() {
                        continue;
                    }
                    let guard = InputGuard::new(&[&p]);
                    for rule in ["auto", "legacy"] {
                        let got = ours(&p, rev, rule);
                        let want = Ours {
                            hash,
                            hash_revision: rev.unwrap_or(header_rev),
                            compact_revision: compact,
                        };
                        assert_eq!(got, want, "{} vs {}", p.display(), g.path().display());
                    }
                    guard.check();
                    checked += 1;
                }
            }
        }
    }
    assert!(
        checked > 0,
        "no live.hashkv goldens under {}",
        root.display()
    );
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A live single-member etcd, stopped (by PID) when dropped.
pub(crate) struct Live {
    child: Child,
    bin: PathBuf,
    endpoint: String,
    pub(crate) ports: (u16, u16),
}

impl Live {
    /// Starts etcd on `data`, on the given (client, peer) ports or free ones.
    pub(crate) fn start(bin: &Path, data: &Path, ports: Option<(u16, u16)>) -> Live {
        let (c, p) = ports.unwrap_or_else(|| (free_port(), free_port()));
        let curl = format!("http://127.0.0.1:{c}");
        let purl = format!("http://127.0.0.1:{p}");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.with_extension("log"))
            .unwrap();
        let child = Command::new(bin.join("etcd"))
            .arg("--name=n1")
            .arg(format!("--data-dir={}", data.display()))
            .arg(format!("--listen-client-urls={curl}"))
            .arg(format!("--advertise-client-urls={curl}"))
            .arg(format!("--listen-peer-urls={purl}"))
            .arg(format!("--initial-advertise-peer-urls={purl}"))
            .arg(format!("--initial-cluster=n1={purl}"))
            .arg("--listen-metrics-urls=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let live = Live {
            child,
            bin: bin.to_path_buf(),
            endpoint: curl,
            ports: (c, p),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = live.ctl_raw(&["endpoint", "health"]);
            if out.status.success() {
                break;
            }
            assert!(Instant::now() < deadline, "etcd did not become healthy");
            std::thread::sleep(Duration::from_millis(200));
        }
        live
    }

    fn ctl_raw(&self, args: &[&str]) -> std::process::Output {
        Command::new(self.bin.join("etcdctl"))
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint))
            .arg("--command-timeout=10s")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub(crate) fn ctl(&self, args: &[&str]) -> String {
        let out = self.ctl_raw(args);
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn txn(&self, ops: &str) {
        let mut child = Command::new(self.bin.join("etcdctl"))
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint))
            .arg("txn")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("\n{ops}\n\n\n").as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    }

    /// (hash, compact revision, header revision) at `rev` (None = current).
    fn hashkv(&self, rev: Option<i64>) -> (u32, i64, i64) {
        let rev = rev.map(|r| format!("--rev={r}"));
        let mut args = vec!["endpoint", "hashkv", "-w", "json"];
        if let Some(r) = &rev {
            args.push(r);
        }
        parse_etcdctl(&self.ctl(&args))
    }

    pub(crate) fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Records `etcdctl endpoint hashkv` at several points and compares each with
/// our value on the snapshot saved at that point (and, at the end, on the data
/// dir after etcd stopped). `rule` is what that etcd follows.
/// (input, --rev, etcdctl's (hash, compact revision, header revision)).
type Check = (PathBuf, Option<i64>, (u32, i64, i64));

fn live_scenario(version: &str, rule: &str) {
    let Some(bin) = etcd_bin_dir(version) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let live = Live::start(&bin, &data, None);
    let mut checks: Vec<Check> = Vec::new();
    let save = |live: &Live, name: &str| {
        let p = tmp.path().join(name);
        live.ctl(&["snapshot", "save", p.to_str().unwrap()]);
        p
    };

    // Phase 1: puts, overwrites, deletes, a multi-op txn; no compaction.
    for (k, v) in [("a", "1"), ("b", "2"), ("a", "3"), ("c", "4")] {
        live.ctl(&["put", k, v]);
    }
    live.ctl(&["del", "a"]);
    live.txn("put x 1\nput y 2\ndel b");
    live.ctl(&["put", "a", "again"]);
    let (_, _, cur1) = live.hashkv(None);
    let s1 = save(&live, "s1.db");
    checks.push((s1.clone(), None, live.hashkv(None)));
    checks.push((s1.clone(), Some(cur1 - 3), live.hashkv(Some(cur1 - 3))));

    // Phase 2: delete every key, the last delete at the compact revision, so
    // keep() is empty and only the tombstone rule decides.
    live.ctl(&["del", "", "--from-key"]);
    let (_, _, c) = live.hashkv(None);
    live.ctl(&["compact", &c.to_string(), "--physical"]);
    let s2 = save(&live, "s2.db");
    checks.push((s2.clone(), None, live.hashkv(None)));

    // Phase 3: more writes after the compaction; hash at current and at an
    // older revision above the compact revision.
    for i in 0..5 {
        live.ctl(&["put", &format!("k{i}"), "v"]);
    }
    live.ctl(&["del", "k1"]);
    let (_, _, cur3) = live.hashkv(None);
    checks.push((data.clone(), None, live.hashkv(None)));
    checks.push((data.clone(), Some(cur3 - 2), live.hashkv(Some(cur3 - 2))));
    if rule == "3.5.16" {
        // At exactly the compact revision, the etcd that compacted answers from
        // its in-memory compaction hash (compact revision = the previous one);
        // a restarted etcd, like us, hashes the db. Ask a restarted one.
        let ports = live.ports;
        live.stop();
        let live = Live::start(&bin, &data, Some(ports));
        checks.push((data.clone(), Some(c), live.hashkv(Some(c))));
        checks.push((data.clone(), None, live.hashkv(None)));
        live.stop();
    } else {
        let out = live.ctl_raw(&["endpoint", "hashkv", &format!("--rev={c}")]);
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
fn live_etcd_3_5_30() {
    live_scenario("3.5.30", "3.5.16");
}

#[test]
fn live_etcd_3_4_23() {
    live_scenario("3.4.23", "legacy");
}
