//! `migrate`: the storage version written into a new data dir, against
//! `etcdutl migrate` 3.6.17 / 3.7.3 on a copy (db bucket by bucket), and the
//! target version's etcd started on our output serving the live `get-all`
//! goldens of the upgrade scenarios.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use etcd_rescue::formats::bbolt::{Bucket, Db};

use crate::util::{copy_tree, etcd_bin_dir, free_port, repo, run, testdata, InputGuard};

type Buckets = BTreeMap<Vec<u8>, (u64, BTreeMap<Vec<u8>, Vec<u8>>)>;

const DB: &str = "member/snap/db";

/// (scenario dir, step, its storage version) of the upgrade scenarios.
const STEPS: [(&str, &str, &str); 4] = [
    ("etcd-3.6.17/upgrade-3.5-3.6", "step1-3.5.36", "3.5"),
    ("etcd-3.6.17/upgrade-3.5-3.6", "step2-3.6.17", "3.6"),
    ("etcd-3.7.3/upgrade-3.6-3.7", "step1-3.6.17", "3.6"),
    ("etcd-3.7.3/upgrade-3.6-3.7", "step2-3.7.3", "3.7"),
];

fn data(scenario: &str, step: &str) -> PathBuf {
    testdata().join(scenario).join("data").join(step)
}

fn buckets(db: &Path) -> Buckets {
    let bytes = std::fs::read(db).unwrap();
    let db = Db::open(&bytes).unwrap();
    let mut out = Buckets::new();
    for top in db.root_bucket().cursor(&db) {
        let top = top.unwrap();
        let b = Bucket::from_value(top.key, top.value).unwrap();
        let mut kv = BTreeMap::new();
        for e in b.cursor(&db) {
            let e = e.unwrap();
            kv.insert(e.key.to_vec(), e.value.to_vec());
        }
        out.insert(top.key.to_vec(), (b.sequence, kv));
    }
    out
}

fn storage_version(b: &Buckets) -> Option<String> {
    b[&b"meta".to_vec()]
        .1
        .get(b"storageVersion".as_slice())
        .map(|v| String::from_utf8(v.clone()).unwrap())
}

fn ours(dir: &Path, target: &str, out: &Path, extra: &[&str]) -> crate::util::Run {
    let mut a: Vec<std::ffi::OsString> = vec!["migrate".into(), dir.into()];
    a.extend([
        "--target-version".into(),
        target.into(),
        "--out".into(),
        out.into(),
    ]);
    a.extend(extra.iter().map(Into::into));
    run(&a)
}

/// Every step to every target: the storage version written, everything else
/// of the db kept, the WAL copied byte for byte; a downgrade passes the WAL
/// check without --force; a non-empty --out and an unknown target are
/// refused.
#[test]
fn golden_migrate_every_step_and_target() {
    let t = tempfile::tempdir().unwrap();
    for (i, (scenario, step, from)) in STEPS.iter().enumerate() {
        let dir = data(scenario, step);
        let guard = InputGuard::new(&[dir.join(DB)]);
        let before = buckets(&dir.join(DB));
        let expect_from = if *from == "3.5" {
            None
        } else {
            Some(format!("{from}.0"))
        };
        assert_eq!(storage_version(&before), expect_from, "{scenario} {step}");
        for target in ["3.5", "3.6", "3.7"] {
            let out = t.path().join(format!("{i}-{target}"));
            // A downgrade passes etcdutl's WAL check on these dirs (no
            // entry needs a newer etcd), so no --force is needed, as with
            // etcdutl (matches_etcdutl below runs it without --force).
            let r = ours(&dir, target, &out, &["-w", "json"]);
            r.expect_code(0);
            let rep: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            assert_eq!(rep["from"], *from, "{r}");
            assert_eq!(rep["forced"], false, "{r}");
            let got = buckets(&out.join(DB));
            let want_sv = (target != "3.5").then(|| format!("{target}.0"));
            assert_eq!(storage_version(&got), want_sv, "{step} -> {target}");
            let strip = |mut b: Buckets| {
                b.get_mut(b"meta".as_slice())
                    .unwrap()
                    .1
                    .remove(b"storageVersion".as_slice());
                b
            };
            assert_eq!(
                strip(got),
                strip(before.clone()),
                "{step} -> {target}: other content"
            );
            let wal = "member/wal/0000000000000000-0000000000000000.wal";
            assert!(
                std::fs::read(out.join(wal)).unwrap() == std::fs::read(dir.join(wal)).unwrap(),
                "WAL copied"
            );
        }
        guard.check();
    }
    let r = ours(
        &data(STEPS[0].0, STEPS[0].1),
        "3.6",
        &t.path().join("0-3.5"),
        &[],
    );
    r.expect_code(2);
    assert!(r.stderr.contains("not empty"), "{r}");
    let r = ours(
        &data(STEPS[0].0, STEPS[0].1),
        "3.8",
        &t.path().join("new"),
        &[],
    );
    r.expect_code(2);
}

/// `--wal-dir`: the WAL read from there, written into the output's member/wal.
#[test]
fn golden_migrate_wal_dir() {
    let t = tempfile::tempdir().unwrap();
    let src = data(STEPS[1].0, STEPS[1].1);
    let copy = t.path().join("copy");
    copy_tree(&src, &copy);
    let wal = t.path().join("wal-elsewhere");
    std::fs::rename(copy.join("member/wal"), &wal).unwrap();
    let out = t.path().join("out");
    let r = ours(&copy, "3.5", &out, &[]);
    r.expect_code(2);
    assert!(r.stderr.contains("--wal-dir"), "{r}");
    ours(
        &copy,
        "3.5",
        &out,
        &["--force", "--wal-dir", wal.to_str().unwrap()],
    )
    .expect_code(0);
    let name = "0000000000000000-0000000000000000.wal";
    assert!(
        std::fs::read(out.join("member/wal").join(name)).unwrap()
            == std::fs::read(wal.join(name)).unwrap()
    );
}

/// A downgrade needs etcdutl's WAL check; a WAL that cannot be read (here
/// overwritten with bytes that are no WAL record) refuses it unless --force,
/// which then says it forced. An upgrade needs no WAL check.
#[test]
fn golden_migrate_downgrade_with_unreadable_wal() {
    let t = tempfile::tempdir().unwrap();
    let copy = t.path().join("copy");
    copy_tree(&data(STEPS[3].0, STEPS[3].1), &copy);
    let seg = copy.join("member/wal/0000000000000000-0000000000000000.wal");
    std::fs::write(&seg, [0x5a_u8; 200]).unwrap();
    let out = t.path().join("out");
    let r = ours(&copy, "3.6", &out, &[]);
    r.expect_code(2);
    assert!(
        r.stderr.contains("damaged record") && r.stderr.contains("--force"),
        "{r}"
    );
    assert!(!out.exists());
    let r = ours(&copy, "3.6", &out, &["--force", "-w", "json"]);
    r.expect_code(0);
    let rep: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rep["forced"], true, "{r}");
    let up = t.path().join("up");
    let copy2 = t.path().join("copy2");
    copy_tree(&data(STEPS[2].0, STEPS[2].1), &copy2);
    std::fs::write(
        copy2.join("member/wal/0000000000000000-0000000000000000.wal"),
        [0x5a_u8; 200],
    )
    .unwrap();
    ours(&copy2, "3.7", &up, &[]).expect_code(0);
}

/// A real WAL entry that needs etcd 3.6 (a DowngradeVersionTestRequest
/// appended by etcd's own wal package: scripts/make-wal-newer-data.sh, since
/// no released etcd writes one) after the last snapshot. etcdutl 3.6.17
/// refuses `migrate --target-version 3.5` on it (recorded); so do we, naming
/// the entry, and `--force` writes the dir anyway. `wal dump` decodes it.
#[test]
fn downgrade_refused_as_etcdutl_refuses_a_newer_wal_entry() {
    let base = repo().join("testdata/upgrade-check/wal-newer-entry");
    let theirs =
        std::fs::read_to_string(base.join("expected/etcdutl-3.6.17-migrate-3.5.txt")).unwrap();
    assert!(theirs.starts_with("exit=1"), "{theirs}");
    assert!(
        theirs.contains("WAL contains newer entries")
            && theirs.contains("lower than the version (3.6.0) detected from WAL"),
        "{theirs}"
    );
    let dir = base.join("data/n1");
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let r = ours(&dir, "3.5", &out, &[]);
    r.expect_code(2);
    assert!(
        r.stderr.contains("need etcd 3.6.0")
            && r.stderr.contains("DowngradeVersionTestRequest")
            && r.stderr.contains("--force"),
        "{r}"
    );
    assert!(!out.exists());
    let r = ours(&dir, "3.5", &out, &["--force", "-w", "json"]);
    r.expect_code(0);
    let rep: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rep["forced"], true, "{r}");
    // Upgrading is not affected: 3.6 is ready, and 3.7 understands the entry.
    let r = run(&[
        "upgrade-check".as_ref(),
        dir.as_os_str(),
        "--to".as_ref(),
        "3.7".as_ref(),
    ]);
    r.expect_code(0);
    let d = run(&["wal".as_ref(), "dump".as_ref(), dir.as_os_str()]);
    d.expect_code(0);
    assert!(d.stdout.contains("downgrade_version_test"), "{d}");
}

/// `etcdutl migrate` of `util` on a copy of `dir` equals ours, bucket by bucket.
fn matches_etcdutl(util: &str, dir: &Path, target: &str) {
    let Some(bin) = etcd_bin_dir(util) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let copy = t.path().join("copy");
    copy_tree(dir, &copy);
    let out = Command::new(bin.join("etcdutl"))
        .args(["migrate", "--data-dir"])
        .arg(&copy)
        .args(["--target-version", target])
        .output()
        .unwrap();
    assert!(out.status.success(), "etcdutl {util} migrate: {out:?}");
    let ours_dir = t.path().join("ours");
    ours(dir, target, &ours_dir, &[]).expect_code(0);
    assert_eq!(
        buckets(&ours_dir.join(DB)),
        buckets(&copy.join(DB)),
        "{} -> {target} against etcdutl {util}",
        dir.display()
    );
}

#[test]
fn migrate_matches_etcdutl_3617() {
    matches_etcdutl("3.6.17", &data(STEPS[0].0, STEPS[0].1), "3.6");
    matches_etcdutl("3.6.17", &data(STEPS[1].0, STEPS[1].1), "3.5");
}

#[test]
fn migrate_matches_etcdutl_373() {
    matches_etcdutl("3.7.3", &data(STEPS[2].0, STEPS[2].1), "3.7");
    matches_etcdutl("3.7.3", &data(STEPS[3].0, STEPS[3].1), "3.6");
}

/// (key, value) base64 pairs of an etcdctl `get -w json` answer.
fn kvs(v: &serde_json::Value) -> Vec<(String, String)> {
    v["kvs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| {
            (
                kv["key"].as_str().unwrap().to_string(),
                kv["value"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// What etcd did on a data dir: served these keys, or exited with this
/// fatal/panic message.
#[derive(Debug, PartialEq)]
enum Outcome {
    Served(Vec<(String, String)>),
    Exited(String),
}

/// Starts etcd `serve` on `dir` (member n1, advertised as the scenarios
/// recorded it), waits at most 30 s for health or exit.
fn outcome(serve: &str, bin: &Path, dir: &Path, log_path: &Path) -> Outcome {
    let client = format!("http://127.0.0.1:{}", free_port());
    let peer = format!("http://127.0.0.1:{}", free_port());
    let log = std::fs::File::create(log_path).unwrap();
    let child = Command::new(bin.join("etcd"))
        .args(["--name", "n1", "--data-dir"])
        .arg(dir)
        .args([
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
        ])
        .args(["--listen-peer-urls", &peer])
        .args(["--initial-advertise-peer-urls", "http://127.0.0.1:2380"])
        .args(["--initial-cluster", "n1=http://127.0.0.1:2380"])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    // Held by PID and stopped on every path (tests/util's EtcdServer is not
    // built here: its fields differ between branches).
    let mut etcd = Stopper(child);
    let ctl = |args: &[&str]| {
        Command::new(bin.join("etcdctl"))
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &client, "--command-timeout", "10s"])
            .args(args)
            .output()
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Ok(Some(_)) = etcd.0.try_wait() {
            let text = std::fs::read_to_string(log_path).unwrap();
            let msg = text
                .lines()
                .filter(|l| l.contains("\"level\":\"fatal\"") || l.contains("\"level\":\"panic\""))
                .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .map(|v| v["msg"].as_str().unwrap_or("").to_string())
                .unwrap_or_default();
            return Outcome::Exited(msg);
        }
        if ctl(&["endpoint", "health"]).status.success() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "etcd {serve} neither served nor exited in 30 s on {}",
            dir.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let got = ctl(&["get", "", "--prefix", "-w", "json"]);
    assert!(got.status.success(), "{got:?}");
    let got: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
    etcd.stop();
    Outcome::Served(kvs(&got))
}

/// A started etcd, stopped by its PID (SIGTERM, SIGKILL after 10 s) when
/// dropped.
struct Stopper(std::process::Child);

impl Stopper {
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Stopper {
    fn drop(&mut self) {
        self.stop();
    }
}

/// etcd `serve` started on our migration of step `i` to `target` does what
/// it does on etcdutl `util`'s migration of a copy: serves the step's live
/// `get-all` golden, or exits with the same message. Returns the outcome.
fn golden_served_after_migrate(i: usize, target: &str, util: &str, serve: &str) -> Option<Outcome> {
    let bin = etcd_bin_dir(serve)?;
    let util_bin = etcd_bin_dir(util)?;
    let (scenario, step, _) = STEPS[i];
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    ours(&data(scenario, step), target, &out, &["--force"]).expect_code(0);
    let copy = t.path().join("etcdutl");
    copy_tree(&data(scenario, step), &copy);
    let r = Command::new(util_bin.join("etcdutl"))
        .args(["migrate", "--data-dir"])
        .arg(&copy)
        .args(["--target-version", target])
        .output()
        .unwrap();
    assert!(r.status.success(), "etcdutl {util} migrate: {r:?}");
    let got = outcome(serve, &bin, &out, &t.path().join("ours.log"));
    let reference = outcome(serve, &bin, &copy, &t.path().join("etcdutl.log"));
    assert_eq!(
        got, reference,
        "etcd {serve} on ours vs etcdutl {util}'s {step} -> {target}"
    );
    if let Outcome::Served(kv) = &got {
        let want_path = testdata()
            .join(scenario)
            .join("expected")
            .join(format!("{step}.get-all.json"));
        let want: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(want_path).unwrap()).unwrap();
        assert_eq!(kv, &kvs(&want), "etcd {serve} on {step} -> {target}");
    }
    Some(got)
}

/// A storage downgrade alone does not make a data dir startable by the
/// older etcd: its cluster version is still the newer one (etcd wants
/// `etcdctl downgrade enable` first). Ours and etcdutl's are refused alike.
#[test]
fn golden_real_etcd_3536_on_36_downgraded() {
    if let Some(o) = golden_served_after_migrate(1, "3.5", "3.6.17", "3.5.36") {
        assert!(
            matches!(o, Outcome::Exited(ref m) if m.contains("invalid downgrade")),
            "{o:?}"
        );
    }
}

#[test]
fn golden_real_etcd_3617_on_37_downgraded() {
    if let Some(o) = golden_served_after_migrate(3, "3.6", "3.7.3", "3.6.17") {
        assert!(
            matches!(o, Outcome::Exited(ref m) if m.contains("invalid downgrade")),
            "{o:?}"
        );
    }
}

#[test]
fn golden_real_etcd_373_on_36_upgraded() {
    if let Some(o) = golden_served_after_migrate(2, "3.7", "3.7.3", "3.7.3") {
        assert!(matches!(o, Outcome::Served(_)), "{o:?}");
    }
}

#[test]
fn golden_real_etcd_3617_on_35_upgraded() {
    if let Some(o) = golden_served_after_migrate(0, "3.6", "3.6.17", "3.6.17") {
        assert!(matches!(o, Outcome::Served(_)), "{o:?}");
    }
}
