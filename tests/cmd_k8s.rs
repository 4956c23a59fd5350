//! `k8s`: Kubernetes objects written by the k8s-oracle (k8s.io/api types,
//! apimachinery's serializers, apiserver's encryption transformers) through
//! real etcd 3.5.1 (`testdata/k8s/`, `scripts/make-k8s-testdata.sh`).

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;

use etcd_rescue::etcd::k8s::decode::{decode_object, set_resource_version};
use etcd_rescue::etcd::k8s::encryption::{decrypt, EncryptionConfig};
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
fn every_stored_object_decodes_to_the_go_json() {
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
    assert_eq!(encrypted.len(), 3, "{encrypted:?}");
    assert!(
        mismatched.is_empty(),
        "{} of {compared} differ:\n{}",
        mismatched.len(),
        mismatched.join("\n")
    );
}
