//! `snapshot status` and `hashkv` on etcd 3.6.17 / 3.7.3 files, against the
//! goldens that version's own etcdutl/etcdctl printed (testdata/README.md,
//! "etcd 3.6.17 and 3.7.3"). Golden kinds read here: `*.status.<fmt>`,
//! `*.hashkv[-revN].<fmt>`, `*.hashkv[-revN].error`, `live.hashkv*.json`,
//! `[<m>.]hashkv.json`, `<step>.hashkv.json` under `etcd-3.6.17/` and
//! `etcd-3.7.3/`. Every test honours `ETCD_RESCUE_TESTDATA` (freshly generated data).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::util::{manifest_field, run, testdata, InputGuard};

const VERSIONS: [&str; 2] = ["etcd-3.6.17", "etcd-3.7.3"];

/// One golden file of a 3.6/3.7 scenario, with the db it describes.
struct Golden {
    path: PathBuf,
    /// The db the golden was taken on.
    db: PathBuf,
    /// The name part before `.status.` / `.hashkv` (`snapshot.db`, `n1.db`, `db`, …).
    subject: String,
    /// `status` / `hashkv` / `hashkv-rev26` … and the format (`json`, `error`, …).
    kind: String,
    fmt: String,
    /// Version of the etcdutl that printed it (e.g. `3.6.17`).
    etcdutl: String,
}

/// The db a golden subject names: `snapshot.db`/`raw.db` next to `expected/`,
/// `db` the only member of `data/`, `<m>.db` = `data/<m>/member/snap/db`.
fn db_of(scenario: &Path, subject: &str) -> Option<PathBuf> {
    match subject {
        "snapshot.db" | "raw.db" => Some(scenario.join(subject)),
        "db" => {
            let mut members: Vec<PathBuf> = std::fs::read_dir(scenario.join("data"))
                .ok()?
                .flatten()
                .map(|e| e.path())
                .collect();
            members.sort();
            Some(members.first()?.join("member/snap/db"))
        }
        m => Some(
            scenario
                .join("data")
                .join(m.strip_suffix(".db")?)
                .join("member/snap/db"),
        ),
    }
}

/// Which etcdutl printed the goldens of `member` (manifest `<m>.etcdutl_for_goldens`,
/// the version in an upgrade step's name, or the scenario's default).
fn etcdutl_of(scenario: &Path, member: &str) -> String {
    if let Some(v) = manifest_field(scenario, &format!("{member}.etcdutl_for_goldens")) {
        return v;
    }
    if member.starts_with("step") {
        if let Some((_, v)) = member.rsplit_once('-') {
            return v.to_string();
        }
    }
    manifest_field(scenario, "etcdutl_for_goldens").unwrap_or_else(|| {
        panic!(
            "no etcdutl_for_goldens in {}/manifest.txt",
            scenario.display()
        )
    })
}

/// `3.6.17` → `3.6`.
fn minor(v: &str) -> String {
    let mut p = v.split('.');
    format!("{}.{}", p.next().unwrap_or(""), p.next().unwrap_or(""))
}

fn goldens(marker: &str) -> Vec<Golden> {
    let root = testdata();
    let mut out = Vec::new();
    for v in VERSIONS {
        let Ok(scenarios) = std::fs::read_dir(root.join(v)) else {
            panic!("no {v} test data under {}", root.display());
        };
        for s in scenarios.flatten() {
            let Ok(files) = std::fs::read_dir(s.path().join("expected")) else {
                continue;
            };
            for f in files.flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                let Some((subject, rest)) = name.split_once(marker) else {
                    continue;
                };
                let Some((kind_tail, fmt)) = rest.rsplit_once('.') else {
                    continue;
                };
                let Some(db) = db_of(&s.path(), subject) else {
                    continue;
                };
                let member = subject.strip_suffix(".db").unwrap_or(subject);
                out.push(Golden {
                    path: f.path(),
                    db,
                    subject: subject.to_string(),
                    kind: format!("{}{kind_tail}", marker.trim_matches('.')),
                    fmt: fmt.to_string(),
                    etcdutl: etcdutl_of(&s.path(), member),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// `meta/storageVersion` of a db as `snapshot status -w json --compat 3.6` reports it.
fn storage_version(db: &Path) -> String {
    let r = run(&[
        "snapshot".as_ref(),
        "status".as_ref(),
        db.as_os_str(),
        "-w".as_ref(),
        "json".as_ref(),
        "--compat".as_ref(),
        "3.6".as_ref(),
    ]);
    r.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    v["version"].as_str().unwrap().to_string()
}

/// Whether `--compat auto` must give the golden's etcdutl output: the file's
/// storage version is that etcdutl's own minor (3.5 etcdutl: no storage version).
/// Otherwise (a 3.6/3.7 member of a cluster still at the older version, or
/// `wal-ahead`, whose db never got a storage version) auto follows the file and
/// the golden is reproduced with `--compat <etcdutl minor>`.
fn auto_applies(db: &Path, etcdutl: &str) -> bool {
    let sv = storage_version(db);
    let m = minor(etcdutl);
    if m == "3.5" {
        sv.is_empty()
    } else {
        minor(&sv) == m
    }
}

#[test]
fn golden_v3x_status_equals_etcdutl_of_the_writer() {
    let cases = goldens(".status");
    assert!(
        cases.len() >= 120,
        "found only {} status goldens",
        cases.len()
    );
    let dbs: Vec<&PathBuf> = cases.iter().map(|c| &c.db).collect();
    let guard = InputGuard::new(&dbs);
    let mut failures = Vec::new();
    let mut auto_checked = 0;
    for g in &cases {
        let want = std::fs::read_to_string(&g.path).unwrap();
        let compat = minor(&g.etcdutl);
        let mut variants = vec![compat.as_str()];
        if auto_applies(&g.db, &g.etcdutl) {
            variants.push("auto");
            auto_checked += 1;
        }
        for c in variants {
            let r = run(&[
                "snapshot".as_ref(),
                "status".as_ref(),
                g.db.as_os_str(),
                "-w".as_ref(),
                g.fmt.as_ref(),
                "--compat".as_ref(),
                c.as_ref(),
            ]);
            if r.code != 0 || r.stdout != want {
                failures.push(format!(
                    "{} (etcdutl {}):\n{r}\n--- want ---\n{want}",
                    g.path.display(),
                    g.etcdutl
                ));
            }
        }
    }
    guard.check();
    assert!(
        failures.is_empty(),
        "{} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        auto_checked >= 100,
        "auto checked on only {auto_checked} goldens"
    );
}

/// Files without a storage version (3.5 files, 3.6 members of a cluster still
/// at 3.5, `wal-ahead`) get etcdutl 3.5's output under `auto`; storage version
/// 3.6 gets 3.6's, 3.7 gets 3.7's Unicode table.
#[test]
fn golden_v3x_status_auto_follows_storage_version() {
    let root = testdata();
    let cases = [
        ("etcd-3.6.17/wal-ahead/data/n1/member/snap/db", "", "3.5"),
        (
            "etcd-3.6.17/cluster3-mixed/data/n1/member/snap/db",
            "",
            "3.5",
        ),
        (
            "etcd-3.6.17/upgrade-3.5-3.6/data/step1-3.5.36/member/snap/db",
            "",
            "3.5",
        ),
        (
            "etcd-3.6.17/upgrade-3.5-3.6/data/step2-3.6.17/member/snap/db",
            "3.6.0",
            "3.6",
        ),
        (
            "etcd-3.7.3/cluster3-mixed/data/n1/member/snap/db",
            "3.6.0",
            "3.6",
        ),
        (
            "etcd-3.7.3/upgrade-3.6-3.7/data/step2-3.7.3/member/snap/db",
            "3.7.0",
            "3.7",
        ),
        ("etcd-3.7.3/basic/snapshot.db", "3.7.0", "3.7"),
    ];
    for (rel, sv, compat) in cases {
        let db = root.join(rel);
        assert_eq!(storage_version(&db), sv, "{rel}");
        for fmt in ["simple", "table", "json", "fields"] {
            let auto = run(&["snapshot", "status", db.to_str().unwrap(), "-w", fmt]);
            let forced = run(&[
                "snapshot",
                "status",
                db.to_str().unwrap(),
                "-w",
                fmt,
                "--compat",
                compat,
            ]);
            auto.expect_code(0);
            assert_eq!(auto.stdout, forced.stdout, "{rel} -w {fmt}");
        }
    }
}

fn hashkv_args<'a>(db: &'a Path, kind: &'a str) -> Vec<&'a OsStr> {
    let mut args: Vec<&OsStr> = vec![OsStr::new("hashkv"), db.as_os_str()];
    if let Some(rev) = kind.strip_prefix("hashkv-rev") {
        args.push(OsStr::new("--rev"));
        args.push(OsStr::new(rev));
    }
    args
}

#[test]
fn golden_v3x_hashkv_equals_etcdutl() {
    let cases: Vec<Golden> = goldens(".hashkv")
        .into_iter()
        .filter(|g| g.subject.ends_with("db") && g.fmt != "error")
        .collect();
    assert!(
        cases.len() >= 80,
        "found only {} hashkv goldens",
        cases.len()
    );
    let dbs: Vec<&PathBuf> = cases.iter().map(|c| &c.db).collect();
    let guard = InputGuard::new(&dbs);
    let mut failures = Vec::new();
    for g in &cases {
        let want = std::fs::read_to_string(&g.path).unwrap();
        let compat = minor(&g.etcdutl);
        let mut variants = vec![compat.as_str()];
        if auto_applies(&g.db, &g.etcdutl) {
            variants.push("auto");
        }
        for c in variants {
            let mut args = hashkv_args(&g.db, &g.kind);
            args.extend([
                OsStr::new("-w"),
                OsStr::new(&g.fmt),
                OsStr::new("--compat"),
                OsStr::new(c),
            ]);
            let r = run(&args);
            if r.code != 0 || r.stdout != want {
                failures.push(format!("{}:\n{r}\n--- want ---\n{want}", g.path.display()));
            }
        }
    }
    guard.check();
    assert!(
        failures.is_empty(),
        "{} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// (hash, compact revision, hash revision) of `etcdctl endpoint hashkv -w json`.
fn parse_live(path: &Path) -> (u64, i64, i64) {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let h = &v[0]["HashKV"];
    (
        h["hash"].as_u64().unwrap(),
        h["compact_revision"].as_i64().unwrap(),
        h["hash_revision"].as_i64().unwrap(),
    )
}

fn ours_json(db: &Path, kind: &str) -> (u64, i64, i64) {
    let mut args = hashkv_args(db, kind);
    args.extend([OsStr::new("-w"), OsStr::new("json")]);
    let r = run(&args);
    r.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    (
        v["hash"].as_u64().unwrap(),
        v["compactRevision"].as_i64().unwrap(),
        v["hashRevision"].as_i64().unwrap(),
    )
}

/// The live golden (`etcdctl endpoint hashkv` on the member before it stopped)
/// that describes a db subject, if one does: `live.hashkv[-revN].json` for the
/// snapshot scenarios, `<m>.hashkv.json` / `hashkv.json` for data dirs. None for
/// `wal-ahead`, whose db is behind the live member by design.
fn live_golden(g: &Golden) -> Option<PathBuf> {
    let expected = g.path.parent()?;
    let scenario = expected.parent()?;
    if scenario.ends_with("wal-ahead") || scenario.ends_with("restore-ref") {
        return None;
    }
    let rev = g.kind.strip_prefix("hashkv").unwrap_or("");
    let candidates = match g.subject.as_str() {
        "snapshot.db" | "raw.db" => vec![format!("live.hashkv{rev}.json")],
        "db" => vec![format!("hashkv{rev}.json")],
        m => vec![format!("{}.hashkv{rev}.json", m.strip_suffix(".db")?)],
    };
    candidates
        .into_iter()
        .map(|c| expected.join(c))
        .find(|p| p.is_file())
}

/// etcdctl 3.6/3.7 `endpoint hashkv` on the live member equals our hashkv of
/// the db it left, at the current revision and after the compaction (`-rev26`),
/// including where etcdutl 3.6.17 panics (`*.hashkv.error`: leased keys).
#[test]
fn golden_v3x_hashkv_equals_live_member() {
    let all = goldens(".hashkv");
    let mut checked = 0;
    let mut errors_covered = 0;
    for g in all.iter().filter(|g| g.fmt == "json" || g.fmt == "error") {
        if g.fmt == "error" {
            let text = std::fs::read_to_string(&g.path).unwrap();
            assert!(
                text.contains("no lessor to attach lease"),
                "{}: {text}",
                g.path.display()
            );
        }
        let Some(live) = live_golden(g) else { continue };
        let guard = InputGuard::new(&[&g.db]);
        assert_eq!(
            ours_json(&g.db, &g.kind),
            parse_live(&live),
            "{} vs {}",
            g.db.display(),
            live.display()
        );
        guard.check();
        checked += 1;
        if g.fmt == "error" {
            errors_covered += 1;
        }
    }
    assert!(checked >= 30, "checked only {checked}");
    assert!(
        errors_covered >= 10,
        "covered only {errors_covered} etcdutl 3.6.17 panics"
    );
}

/// Where etcdutl 3.6.17 panics, 3.7.3's etcdutl on the same scenario's file
/// prints the value we print (same writes, same HashKV in both versions).
#[test]
fn golden_v3x_hashkv_where_etcdutl_3_6_panics_equals_3_7() {
    let root = testdata();
    for (scenario, subject) in [
        ("basic", "snapshot.db"),
        ("basic", "raw.db"),
        ("auth", "raw.db"),
    ] {
        let panic = root.join(format!(
            "etcd-3.6.17/{scenario}/expected/{subject}.hashkv.error"
        ));
        if !panic.is_file() {
            continue;
        }
        let want = std::fs::read_to_string(root.join(format!(
            "etcd-3.7.3/{scenario}/expected/{subject}.hashkv.json"
        )))
        .unwrap();
        let db = root.join(format!("etcd-3.6.17/{scenario}/{subject}"));
        let r = run(&["hashkv", db.to_str().unwrap(), "-w", "json"]);
        r.expect_code(0);
        assert_eq!(r.stdout, want, "{}", db.display());
    }
}

/// A db whose `meta/storageVersion` names an etcd newer than 3.7 (a real 3.7.3
/// db with the stored version changed to 3.8.0): the figures follow 3.7, and
/// stderr says which etcd wrote it and what that means, for status and hashkv.
#[test]
fn newer_storage_version_is_said_plainly() {
    let src = testdata().join("etcd-3.7.3/basic/raw.db");
    let mut bytes = std::fs::read(&src).unwrap();
    let (from, to) = (b"storageVersion3.7.0", b"storageVersion3.8.0");
    let mut n = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + to.len()].copy_from_slice(to);
            n += 1;
        }
        i += 1;
    }
    assert!(n > 0, "no storageVersion 3.7.0 in {}", src.display());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("from-3.8.db");
    std::fs::write(&db, &bytes).unwrap();
    let p = db.to_str().unwrap();

    let r = run(&["snapshot", "status", p, "-w", "json"]);
    r.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["version"], "3.8.0", "{r}");
    assert_eq!(v["totalKey"], 14, "{r}");
    assert!(r.stderr.contains("written by etcd 3.8.0"), "{r}");
    assert!(
        r.stderr.contains("newer than any etcd this tool knows"),
        "{r}"
    );
    let t = run(&["snapshot", "status", p, "-w", "table"]);
    assert!(t.stdout.starts_with('┌'), "{t}");

    let h = run(&["hashkv", p, "-w", "json"]);
    h.expect_code(0);
    assert!(h.stderr.contains("written by etcd 3.8.0"), "{h}");
    let want =
        std::fs::read_to_string(testdata().join("etcd-3.7.3/basic/expected/raw.db.hashkv.json"))
            .unwrap();
    assert_eq!(h.stdout, want);

    // check and inspect say it as a note: the verdict stays sound.
    let c = run(&["check", p, "-w", "json"]);
    c.expect_code(0);
    let cj: serde_json::Value = serde_json::from_str(&c.stdout).unwrap();
    let note = cj["inputs"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "db.version.newer")
        .unwrap_or_else(|| panic!("no db.version.newer in {c}"));
    assert_eq!(note["severity"], "info", "{c}");
    assert!(
        note["message"].as_str().unwrap().contains("etcd 3.8.0"),
        "{c}"
    );
    let i = run(&["inspect", p, "-w", "json"]);
    i.expect_code(0);
    let ij: serde_json::Value = serde_json::from_str(&i.stdout).unwrap();
    assert!(
        ij["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "db.version.newer"),
        "{i}"
    );

    // Known versions get no such note.
    let k = run(&["snapshot", "status", src.to_str().unwrap()]);
    assert!(!k.stderr.contains("newer than"), "{k}");
    let kc = run(&["check", src.to_str().unwrap()]);
    assert!(!kc.stdout.contains("db.version.newer"), "{kc}");
}
