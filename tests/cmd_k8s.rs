//! `k8s`: Kubernetes objects written by the k8s-oracle (k8s.io/api types,
//! apimachinery's serializers, apiserver's encryption transformers) through
//! real etcd 3.5.1 (`testdata/k8s/`, `scripts/make-k8s-testdata.sh`).

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;

use etcd_rescue::etcd::k8s::decode::{decode_object, set_resource_version};
use etcd_rescue::etcd::k8s::encryption::{
    decrypt, envelope, DecryptError, EncryptionConfig, Envelope,
};
use etcd_rescue::etcd::keyspace::Records;
use etcd_rescue::ops::input::Opened;

fn k8s_dir() -> PathBuf {
    crate::util::testdata().join("k8s")
}

/// Every put of the oracle: (key, revision) -> record.
fn golden_puts() -> Vec<Value> {
    let text = std::fs::read_to_string(k8s_dir().join("objects.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["op"] == "put")
        .collect()
}

/// Decoding every stored version of every object (decrypted with the
/// EncryptionConfiguration the oracle wrote) gives exactly the JSON Go's
/// encoding/json renders for the typed object.
#[test]
fn golden_k8s_every_stored_object_decodes_to_the_go_json() {
    let cfg = EncryptionConfig::parse(
        &std::fs::read_to_string(k8s_dir().join("encryption-config.yaml")).unwrap(),
    )
    .unwrap();
    let input = Opened::open(&k8s_dir().join("snapshot.db")).unwrap();
    let db = input.db().unwrap();
    let mut stored: HashMap<(Vec<u8>, i64), Vec<u8>> = HashMap::new();
    for r in Records::new(&db, i64::MAX).unwrap() {
        let r = r.unwrap();
        if !r.tombstone {
            stored.insert((r.kv.key.to_vec(), r.rev.main), r.kv.value.to_vec());
        }
    }
    let (mut compared, mut mismatched) = (0, Vec::new());
    let mut encrypted = HashMap::new();
    for g in golden_puts() {
        let key = g["key"].as_str().unwrap().as_bytes().to_vec();
        let rev = g["revision"].as_i64().unwrap();
        let Some(v) = stored.get(&(key.clone(), rev)) else {
            continue; // compacted away
        };
        assert_eq!(v.len() as u64, g["stored_size"].as_u64().unwrap());
        if g["encryption"] == "kms" {
            // Written by apiserver's KMS v2 envelope transformer: reported with
            // the provider and the EncryptedObject's keyID, never decrypted.
            let want_id = g["kms_key_id"].as_str().unwrap().to_string();
            assert_eq!(
                decrypt(Some(&cfg), &key, v),
                Err(DecryptError::Kms {
                    version: "v2".into(),
                    key: "kms-test".into(),
                    key_id: Some(want_id.clone()),
                })
            );
            let Envelope::Encrypted { kms: Some(k), .. } = envelope(v).0 else {
                panic!("{g}");
            };
            assert_eq!(k.key_id, want_id);
            assert_eq!(Value::from(k.annotations.clone()), g["kms_annotations"]);
            *encrypted.entry("kms".to_string()).or_insert(0) += 1;
            continue;
        }
        let plain = decrypt(Some(&cfg), &key, v).unwrap();
        if let Some(enc) = g["encryption"].as_str() {
            assert!(plain.is_some(), "{g}");
            *encrypted.entry(enc.to_string()).or_insert(0) += 1;
        }
        let bytes = plain.as_deref().unwrap_or(v);
        let (mut obj, _) = decode_object(bytes).unwrap();
        set_resource_version(&mut obj, rev);
        compared += 1;
        if obj != g["object"] {
            mismatched.push(format!(
                "{} @{rev}\n  ours: {}\n  go:   {}",
                g["key"], obj, g["object"]
            ));
        }
    }
    assert!(compared >= 60, "{compared}");
    assert_eq!(encrypted.len(), 4, "{encrypted:?}");
    assert!(
        mismatched.is_empty(),
        "{} of {compared} differ:\n{}",
        mismatched.len(),
        mismatched.join("\n")
    );
}

fn snapshot() -> std::ffi::OsString {
    k8s_dir().join("snapshot.db").into_os_string()
}

fn cfg(name: &str) -> std::ffi::OsString {
    k8s_dir().join(name).into_os_string()
}

fn k8s(args: &[&str], extra: &[std::ffi::OsString]) -> crate::util::Run {
    let mut v: Vec<std::ffi::OsString> = vec!["k8s".into(), args[0].into(), snapshot()];
    v.extend(args[1..].iter().map(std::ffi::OsString::from));
    v.extend(extra.iter().cloned());
    crate::util::run(&v)
}

/// `k8s ls -w json` lists exactly the live objects of the oracle's listing
/// golden: key, resource, namespace, name, creationTimestamp, size, mod revision.
#[test]
fn golden_k8s_ls_lists_the_live_objects() {
    let golden: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(k8s_dir().join("listing.json")).unwrap())
            .unwrap();
    let r = k8s(
        &["ls", "-w", "json", "--encryption-config"],
        &[cfg("encryption-config.yaml")],
    );
    r.expect_code(0);
    let mut rows: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    rows.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
    assert_eq!(rows.len(), golden.len(), "{r}");
    for (ours, g) in rows.iter().zip(&golden) {
        assert_eq!(ours["key"], g["key"]);
        let resource = g["resource"].as_str().unwrap();
        // The oracle names CRDs without their group; we name them as kubectl does.
        assert!(
            ours["resource"] == resource
                || ours["resource"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{resource}.")),
            "{ours} {g}"
        );
        assert_eq!(
            ours["namespace"],
            g.get("namespace").cloned().unwrap_or(Value::from(""))
        );
        assert_eq!(ours["name"], g["name"]);
        assert_eq!(ours["size"], g["size"]);
        assert_eq!(ours["mod_revision"], g["mod_revision"]);
        if ours["envelope"]["provider"] == "kms" {
            // Not decrypted: no timestamp, a problem that says KMS.
            assert!(ours["creation_timestamp"].is_null(), "{ours}");
            assert!(ours["problem"].as_str().unwrap().contains("KMS"), "{ours}");
            continue;
        }
        assert_eq!(ours["creation_timestamp"], g["creationTimestamp"], "{ours}");
        assert!(ours["problem"].is_null(), "{ours}");
    }
    // Filters: resource aliases, namespace; encrypted values without a config
    // are listed, counted and said to be unreadable, never dropped.
    let r = k8s(&["ls", "secrets", "-n", "shop", "-w", "json"], &[]);
    r.expect_code(0);
    assert_eq!(r.stdout.lines().count(), 5, "{r}");
    assert!(r.stdout.contains("pass --encryption-config"), "{r}");
    let r = k8s(&["ls", "po", "-n", "shop"], &[]);
    assert!(
        r.stdout.contains("web-6d4cf56db6-pqrst") && !r.stdout.contains("coredns"),
        "{r}"
    );
    assert!(r.stdout.contains("3 objects at revision"), "{r}");
}

/// `k8s get` at the current revision, at an older one, and `--history`;
/// secrets decrypted per provider; a wrong key names provider and key.
#[test]
fn golden_k8s_get_decodes_decrypts_and_follows_history() {
    let puts = golden_puts();
    let last = |key: &str| puts.iter().rev().find(|p| p["key"] == key).unwrap().clone();
    let r = k8s(
        &["get", "deployments", "web", "-n", "shop", "-o", "json"],
        &[],
    );
    r.expect_code(0);
    let obj: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(obj, last("/registry/deployments/shop/web")["object"]);

    for (name, provider) in [
        ("db-password", "aescbc"),
        ("api-token", "aesgcm"),
        ("rotated", "secretbox"),
    ] {
        let r = k8s(
            &[
                "get",
                "secret",
                name,
                "-n",
                "shop",
                "-o",
                "json",
                "--encryption-config",
            ],
            &[cfg("encryption-config.yaml")],
        );
        r.expect_code(0);
        let obj: Value = serde_json::from_str(&r.stdout).unwrap();
        let g = last(&format!("/registry/secrets/shop/{name}"));
        assert_eq!(g["encryption"], provider);
        assert_eq!(obj, g["object"], "{name}");
        let r = k8s(
            &["get", "secret", name, "-n", "shop", "--encryption-config"],
            &[cfg("encryption-config-wrong.yaml")],
        );
        r.expect_code(1);
        assert!(
            r.stderr.contains(provider) && r.stderr.contains("does not decrypt"),
            "{r}"
        );
    }
    // Without a config: the envelope facts, exit 1.
    let r = k8s(&["get", "secret", "api-token", "-n", "shop"], &[]);
    r.expect_code(1);
    assert!(r.stderr.contains("aesgcm key \"gcm-2026\""), "{r}");

    // History: every stored version of the config map, oldest first.
    let r = k8s(
        &[
            "get",
            "cm",
            "web-config",
            "-n",
            "shop",
            "--history",
            "-o",
            "json",
        ],
        &[],
    );
    r.expect_code(0);
    let versions: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(versions.len(), 3, "{r}");
    for v in &versions {
        let g = puts
            .iter()
            .find(|p| {
                p["key"] == "/registry/configmaps/shop/web-config"
                    && p["revision"] == v["mod_revision"]
            })
            .unwrap();
        assert_eq!(v["object"], g["object"]);
    }
    // --rev: the version before the last edit; a deleted pod at its revision.
    let older = versions[1]["mod_revision"].as_i64().unwrap();
    let r = k8s(
        &[
            "get",
            "cm",
            "web-config",
            "-n",
            "shop",
            "-o",
            "json",
            "--rev",
            &older.to_string(),
        ],
        &[],
    );
    r.expect_code(0);
    let obj: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(obj, versions[1]["object"]);
    let r = k8s(&["get", "pod", "web-6d4cf56db6-fghij", "-n", "shop"], &[]);
    r.expect_code(1);
    assert!(r.stderr.contains("deleted"), "{r}");
    // YAML, cluster-scoped objects without -n, custom resources.
    let r = k8s(&["get", "crd", "widgets.example.com"], &[]);
    r.expect_code(0);
    assert!(r.stdout.contains("kind: CustomResourceDefinition"), "{r}");
    let r = k8s(
        &["get", "widgets", "widget-2", "-n", "shop", "-o", "json"],
        &[],
    );
    r.expect_code(0);
    let obj: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        obj,
        last("/registry/example.com/widgets/shop/widget-2")["object"]
    );
}

/// `k8s usage`: counts per resource equal the live objects of the golden;
/// history records equal what `keys --history` shows minus the live ones.
#[test]
fn golden_k8s_usage_counts_every_object() {
    let golden: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(k8s_dir().join("listing.json")).unwrap())
            .unwrap();
    let r = k8s(&["usage", "-w", "json"], &[]);
    r.expect_code(0);
    let rep: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        rep["total"]["live_objects"].as_u64().unwrap() as usize,
        golden.len()
    );
    let pods = rep["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "pods")
        .unwrap();
    assert_eq!(pods["live_objects"], 4);
    // One pod deleted after the compaction: its put and its delete are history.
    assert_eq!(pods["history_records"], 2);
    let hist = crate::util::run(&[
        std::ffi::OsString::from("keys"),
        snapshot(),
        "--prefix".into(),
        "/registry/".into(),
        "--history".into(),
        "-w".into(),
        "json".into(),
    ]);
    hist.expect_code(0);
    let records = hist.stdout.lines().count() as u64;
    assert_eq!(
        rep["total"]["live_objects"].as_u64().unwrap()
            + rep["total"]["history_records"].as_u64().unwrap(),
        records
    );
    assert!(rep["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().starts_with("events:")));
    let r = k8s(&["usage", "--by", "object", "--top", "2"], &[]);
    r.expect_code(0);
    assert!(r.stdout.contains("grafana-dashboards"), "{r}");
}

/// Values that are not objects (a truncated protobuf, an unknown type, bytes)
/// are reported with their envelope facts, never a panic.
#[test]
fn undecodable_values_are_reported() {
    use etcd_rescue::etcd::k8s::decode::Undecodable;
    let input = Opened::open(&k8s_dir().join("snapshot.db")).unwrap();
    let db = input.db().unwrap();
    let mut pod = None;
    for r in Records::new(&db, i64::MAX).unwrap() {
        let r = r.unwrap();
        if r.kv.key.starts_with(b"/registry/pods/") && !r.tombstone {
            pod = Some(r.kv.value.to_vec());
        }
    }
    let pod = pod.unwrap();
    for cut in [5, 20, pod.len() / 2, pod.len() - 1] {
        assert!(decode_object(&pod[..cut]).is_err(), "cut at {cut}");
    }
    let renamed = String::from_utf8_lossy(&pod).replace("Pod", "Pxd");
    let e = decode_object(renamed.as_bytes()).unwrap_err();
    assert!(
        matches!(
            e,
            Undecodable::UnknownType { .. } | Undecodable::BadEnvelope
        ),
        "{e}"
    );
}

/// `k8s dump`: every live object as a file, each equal to the Go JSON; a
/// non-empty target is refused and left alone.
#[test]
fn golden_k8s_dump_writes_every_object() {
    let golden: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(k8s_dir().join("listing.json")).unwrap())
            .unwrap();
    let puts = golden_puts();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dump");
    let r = k8s(
        &["dump", "-o", "json", "--encryption-config"],
        &[
            cfg("encryption-config.yaml"),
            "--out".into(),
            out.clone().into_os_string(),
        ],
    );
    // The KMS-encrypted Secret cannot be written (no plugin): exit 1, said so.
    r.expect_code(1);
    assert!(
        r.stderr
            .contains("not written: /registry/secrets/shop/kms-sealed")
            && r.stderr.contains("KMS"),
        "{r}"
    );
    let mut files = 0;
    for g in &golden {
        if g["name"] == "kms-sealed" {
            continue;
        }
        let resource = g["resource"].as_str().unwrap();
        let resource = if resource == "customresourcedefinitions" {
            "customresourcedefinitions.apiextensions.k8s.io"
        } else {
            resource
        };
        let ns = g["namespace"].as_str().unwrap_or("_cluster");
        let f = out
            .join(resource)
            .join(ns)
            .join(format!("{}.json", g["name"].as_str().unwrap()));
        let obj: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let want = puts
            .iter()
            .find(|p| p["key"] == g["key"] && p["revision"] == g["mod_revision"])
            .unwrap();
        assert_eq!(obj, want["object"], "{}", f.display());
        files += 1;
    }
    assert_eq!(files, golden.len() - 1);
    // Not empty now: refused, exit 2, nothing changed.
    let r = k8s(&["dump"], &["--out".into(), out.into_os_string()]);
    r.expect_code(2);
    assert!(r.stderr.contains("not an empty directory"), "{r}");
    // Without the keys the encrypted Secrets are not written, and said so.
    let out2 = tmp.path().join("dump2");
    let r = k8s(
        &["dump", "secrets"],
        &["--out".into(), out2.into_os_string()],
    );
    r.expect_code(1);
    assert!(
        r.stderr
            .contains("not written: /registry/secrets/shop/api-token"),
        "{r}"
    );
}

/// `k8s diff`: the same snapshot at the compaction and at the end: the
/// changes the oracle made after compacting, by object and field.
#[test]
fn golden_k8s_diff_between_revisions() {
    let text = std::fs::read_to_string(k8s_dir().join("objects.jsonl")).unwrap();
    let compact = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["op"] == "compact")
        .unwrap()["revision"]
        .as_i64()
        .unwrap();
    let r = crate::util::run(&[
        std::ffi::OsString::from("k8s"),
        "diff".into(),
        snapshot(),
        snapshot(),
        "--rev".into(),
        compact.to_string().into(),
        "--encryption-config".into(),
        cfg("encryption-config.yaml"),
        "-w".into(),
        "json".into(),
    ]);
    r.expect_code(1);
    let rows: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |change: &str, name: &str| {
        rows.iter()
            .find(|r| r["change"] == change && r["name"] == name)
            .unwrap_or_else(|| panic!("{change} {name}: {r}"))
    };
    find("removed", "web-6d4cf56db6-fghij");
    find("added", "web-6d4cf56db6-pqrst");
    find("removed", "widget-1");
    // Edited twice back to the same content: only the managed fields' time would
    // differ, and the oracle keeps it, so no change is reported for web-config.
    assert!(!rows.iter().any(|r| r["name"] == "web-config"), "{r}");
    let rotated = find("changed", "rotated");
    assert_eq!(rotated["fields"], serde_json::json!(["data.k"]));
    let same = crate::util::run(&[
        std::ffi::OsString::from("k8s"),
        "diff".into(),
        snapshot(),
        snapshot(),
    ]);
    same.expect_code(0);
}

/// `diff A B --k8s` is `k8s diff A B` (issue #17 asks `diff` to learn
/// `--k8s`): against an empty etcd 3.5.1 snapshot every live object of the
/// oracle's snapshot is removed, byte for byte the rows of `k8s diff`; the
/// namespace filter and `--rev` (both sides) are passed on.
#[test]
fn golden_diff_k8s_is_k8s_diff() {
    let empty = crate::util::testdata()
        .join("etcd-3.5.1/empty/snapshot.db")
        .into_os_string();
    let run = |args: &[std::ffi::OsString]| crate::util::run(args);
    let os = |s: &str| std::ffi::OsString::from(s);
    let enc = [os("--encryption-config"), cfg("encryption-config.yaml")];
    let mut ours = vec![
        os("diff"),
        snapshot(),
        empty.clone(),
        os("--k8s"),
        os("-w"),
        os("json"),
    ];
    ours.extend(enc.iter().cloned());
    let mut theirs = vec![
        os("k8s"),
        os("diff"),
        snapshot(),
        empty.clone(),
        os("-w"),
        os("json"),
    ];
    theirs.extend(enc.iter().cloned());
    let (a, b) = (run(&ours), run(&theirs));
    a.expect_code(1);
    b.expect_code(1);
    assert_eq!(a.stdout, b.stdout);
    let rows: Vec<Value> = a
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let listing: Vec<Value> = serde_json::from_str::<Value>(
        &std::fs::read_to_string(k8s_dir().join("listing.json")).unwrap(),
    )
    .map(|v| match v {
        Value::Array(a) => a,
        other => other["items"].as_array().cloned().unwrap_or_default(),
    })
    .unwrap();
    assert!(!listing.is_empty());
    assert_eq!(rows.len(), listing.len(), "{a}");
    assert!(rows.iter().all(|r| r["change"] == "removed"), "{a}");
    // -n and --resource narrow it as k8s diff's do.
    let r = run(&[
        os("diff"),
        snapshot(),
        empty.clone(),
        os("--k8s"),
        os("-n"),
        os("shop"),
        os("--resource"),
        os("deployments"),
        os("-w"),
        os("json"),
    ]);
    r.expect_code(1);
    assert!(!r.stdout.is_empty());
    for l in r.stdout.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(
            (v["namespace"].as_str(), v["resource"].as_str()),
            (Some("shop"), Some("deployments")),
            "{r}"
        );
    }
    // The same file at one revision: no differences, exit 0 (table says so).
    let r = run(&[os("diff"), snapshot(), snapshot(), os("--k8s")]);
    r.expect_code(0);
    assert!(r.stdout.contains("0 differences"), "{r}");
    // --k8s options without --k8s, and --ignore-revisions with it, are usage errors.
    run(&[os("diff"), snapshot(), empty.clone(), os("-n"), os("shop")]).expect_code(2);
    run(&[
        os("diff"),
        snapshot(),
        empty,
        os("--k8s"),
        os("--ignore-revisions"),
    ])
    .expect_code(2);
}

/// `k8s ls` reads only the envelope and metadata of a protobuf object
/// (`decode::list_facts`): on every stored value of the oracle's snapshot,
/// decrypted where the config opens it, and on every cut of a few of them,
/// it says what the full decode says (creationTimestamp, encoding, error).
#[test]
fn golden_ls_facts_equal_the_full_decode() {
    use etcd_rescue::etcd::k8s::decode::{decode_object, list_facts};
    use etcd_rescue::etcd::k8s::encryption::decrypt;
    use etcd_rescue::etcd::keyspace::Records;
    use etcd_rescue::formats::bbolt::Db;
    let bytes = std::fs::read(k8s_dir().join("snapshot.db")).unwrap();
    let db = Db::open(&bytes).unwrap();
    let cfg =
        etcd_rescue::ops::k8s::load_encryption_config(&k8s_dir().join("encryption-config.yaml"))
            .unwrap();
    let same = |v: &[u8]| {
        let full = decode_object(v).map(|(obj, enc)| {
            let created = obj
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .map(str::to_string);
            (created, enc)
        });
        let fast = list_facts(v).map(|f| (f.creation_timestamp, f.encoding));
        assert_eq!(fast, full, "{:?}", String::from_utf8_lossy(v));
        full.is_ok()
    };
    let (mut decoded, mut cut_values) = (0, 0);
    for r in Records::new(&db, i64::MAX).unwrap() {
        let r = r.unwrap();
        if r.tombstone {
            continue;
        }
        let plain = decrypt(Some(&cfg), r.kv.key, r.kv.value).ok().flatten();
        let v = plain.as_deref().unwrap_or(r.kv.value);
        if same(v) {
            decoded += 1;
            if v.starts_with(b"k8s\0") && cut_values < 12 {
                cut_values += 1;
                for n in 0..v.len() {
                    same(&v[..n]);
                }
            }
        }
    }
    assert!(decoded > 50, "{decoded}");
    assert_eq!(cut_values, 12);
}

/// A Secret written by kube-apiserver's KMS v2 envelope transformer (the
/// oracle's fake plugin behind an EncryptionConfiguration `kms` provider,
/// apiVersion v2, name `kms-test`): `get`, `ls` and `usage` say it is
/// KMS-encrypted, with the provider name and the keyID of its EncryptedObject,
/// with or without `--encryption-config`, and never show a decoded object.
#[test]
fn golden_k8s_kms_value_is_reported_never_decoded() {
    let puts = golden_puts();
    let g = puts
        .iter()
        .find(|p| p["encryption"] == "kms")
        .expect("the oracle writes one KMS v2 Secret");
    let key_id = g["kms_key_id"].as_str().unwrap();
    assert!(!key_id.is_empty());
    let with_cfg = [
        std::ffi::OsString::from("--encryption-config"),
        cfg("encryption-config.yaml"),
    ];
    for extra in [&with_cfg[..], &[]] {
        let r = k8s(&["get", "secrets", "kms-sealed", "-n", "shop"], extra);
        r.expect_code(1);
        assert!(r.stdout.is_empty(), "{r}");
        assert!(
            r.stderr.contains("KMS v2 provider \"kms-test\"") && r.stderr.contains(key_id),
            "{r}"
        );
        assert!(!r.stderr.contains("sealed-by-kms"), "{r}");
        let r = k8s(&["ls", "secrets", "-n", "shop"], extra);
        r.expect_code(0);
        let line = r.stdout.lines().find(|l| l.contains("kms-sealed")).unwrap();
        assert!(
            line.contains("KMS-encrypted (kms:kms-test key ID") && line.contains(key_id),
            "{r}"
        );
        let r = k8s(&["ls", "secrets", "-n", "shop", "-w", "json"], extra);
        let row: Value = r
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|v| v["name"] == "kms-sealed")
            .unwrap();
        assert_eq!(row["envelope"]["provider"], "kms");
        assert_eq!(row["envelope"]["version"], "v2");
        assert_eq!(row["envelope"]["key"], "kms-test");
        assert_eq!(row["envelope"]["kms"]["key_id"], key_id);
        assert_eq!(row["envelope"]["kms"]["annotations"], g["kms_annotations"]);
        assert!(
            row["object"].is_null() && row["type_meta"].is_null(),
            "{row}"
        );
    }
    let r = k8s(&["usage", "-w", "json"], &[]);
    r.expect_code(0);
    let rep: Value = serde_json::from_str(&r.stdout).unwrap();
    let kms: Vec<&Value> = rep["encryption"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["provider"] == "kms")
        .collect();
    assert_eq!(kms.len(), 1, "{rep}");
    assert_eq!(kms[0]["key"], "kms-test");
    assert_eq!(kms[0]["kms_key_id"], key_id);
    assert_eq!(kms[0]["live_objects"], 1);
    assert_eq!(kms[0]["live_bytes"], g["stored_size"]);
    let r = k8s(&["usage"], &[]);
    assert!(
        r.stdout.contains("Encrypted at rest") && r.stdout.contains(key_id),
        "{r}"
    );
}
