//! Arbitrary bytes as a Kubernetes value stored in etcd: the encryption
//! envelope, decryption with a fixed configuration (every provider), and the
//! object decoder (k8s protobuf envelope against the real schemas, or JSON).
//! Nothing may panic, loop or allocate without bound.
#![no_main]

use std::sync::OnceLock;

use etcd_rescue::etcd::k8s::decode::decode_object;
use etcd_rescue::etcd::k8s::encryption::{decrypt, envelope, EncryptionConfig};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aescbc: {keys: [{name: k, secret: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=}]}
      - aesgcm: {keys: [{name: k, secret: AAECAwQFBgcICQoLDA0ODw==}]}
      - secretbox: {keys: [{name: k, secret: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=}]}
      - identity: {}
";

fn config() -> &'static EncryptionConfig {
    static C: OnceLock<EncryptionConfig> = OnceLock::new();
    C.get_or_init(|| EncryptionConfig::parse(CONFIG).unwrap_or_default())
}

fuzz_target!(|data: &[u8]| {
    let _ = envelope(data);
    let plain = decrypt(Some(config()), b"/registry/secrets/ns/name", data);
    if let Ok(Some(p)) = plain {
        let _ = decode_object(&p);
    }
    let _ = decode_object(data);
    // The same bytes behind the k8s protobuf magic, as the raw of a Pod.
    let mut v = b"k8s\0".to_vec();
    v.extend_from_slice(data);
    let _ = decode_object(&v);
    let _ = etcd_rescue::etcd::k8s::decode::decode_proto("v1", "Pod", data);
    let _ = etcd_rescue::etcd::k8s::decode::decode_proto("apiextensions.k8s.io/v1", "CustomResourceDefinition", data);
});
