//! kube-apiserver's encryption at rest: the EncryptionConfiguration file and
//! the values it writes.
//!
//! ```text
//! "k8s:enc:aescbc:v1:<key>:"    IV (16) | AES-CBC ciphertext, PKCS#7 padding (no MAC)
//! "k8s:enc:aesgcm:v1:<key>:"    nonce (12) | AES-GCM ciphertext+tag; additional data = the etcd key
//! "k8s:enc:secretbox:v1:<key>:" nonce (24) | XSalsa20-Poly1305 box (NaCl secretbox)
//! "k8s:enc:kms:v1:<name>:" / "k8s:enc:kms:v2:<name>:"   envelope encryption by a KMS plugin:
//!                                                       reported, never decrypted
//! kms v2: after the prefix, a protobuf EncryptedObject (apiserver
//!   `envelope/kmsv2/v2/api.proto`): 1 encryptedData bytes, 2 keyID string,
//!   3 encryptedDEKSource bytes, 4 annotations map<string,bytes>,
//!   5 encryptedDEKSourceType enum (0 AES_GCM_KEY, 1 HKDF_SHA256_XNONCE_AES_GCM_SEED)
//! anything else                 identity (stored as written)
//! ```
//! Keys are the base64 `secret`s of the EncryptionConfiguration
//! (`apiserver.config.k8s.io/v1`); AES keys are 16, 24 or 32 bytes, secretbox
//! keys 32. Layouts read from k8s.io/apiserver's value transformers
//! (`pkg/storage/value/encrypt/{aes,secretbox}`, `pkg/server/options/encryptionconfig`).

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use aes_gcm::aead::{consts::U12, Aead, KeyInit, Payload};
use serde::{Deserialize, Serialize};

use crate::etcd::values::K8S_ENC_PREFIX;

/// One usable key of the configuration.
#[derive(Debug, Clone)]
pub struct Key {
    /// `aescbc`, `aesgcm` or `secretbox`.
    pub provider: String,
    /// The key's `name`.
    pub name: String,
    /// The decoded `secret`.
    secret: Vec<u8>,
    /// The `resources` of the entry the key is listed under.
    pub resources: Vec<String>,
}

/// The keys of an EncryptionConfiguration, and what it says about KMS.
#[derive(Debug, Clone, Default)]
pub struct EncryptionConfig {
    /// Every aescbc/aesgcm/secretbox key, in file order.
    pub keys: Vec<Key>,
    /// KMS providers named (provider name), which are never decrypted here.
    pub kms: Vec<String>,
}

#[derive(Deserialize)]
struct FileConfig {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    resources: Vec<ResourceConfig>,
}

#[derive(Deserialize)]
struct ResourceConfig {
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    providers: Vec<ProviderConfig>,
}

#[derive(Deserialize)]
struct ProviderConfig {
    aescbc: Option<KeysConfig>,
    aesgcm: Option<KeysConfig>,
    secretbox: Option<KeysConfig>,
    kms: Option<KmsConfig>,
}

#[derive(Deserialize)]
struct KeysConfig {
    #[serde(default)]
    keys: Vec<KeyConfig>,
}

#[derive(Deserialize)]
struct KeyConfig {
    name: String,
    secret: String,
}

#[derive(Deserialize)]
struct KmsConfig {
    #[serde(default)]
    name: String,
}

impl EncryptionConfig {
    /// Parses the YAML (or JSON) text of an EncryptionConfiguration.
    pub fn parse(text: &str) -> Result<EncryptionConfig, String> {
        let f: FileConfig = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        if !f.kind.is_empty() && f.kind != "EncryptionConfiguration" {
            return Err(format!("kind is {:?}, not EncryptionConfiguration", f.kind));
        }
        let mut out = EncryptionConfig::default();
        for r in f.resources {
            for p in r.providers {
                for (provider, keys) in [
                    ("aescbc", p.aescbc),
                    ("aesgcm", p.aesgcm),
                    ("secretbox", p.secretbox),
                ] {
                    for k in keys.map(|k| k.keys).unwrap_or_default() {
                        let secret = base64_decode(k.secret.trim()).ok_or_else(|| {
                            format!("{provider} key {:?}: secret is not base64", k.name)
                        })?;
                        let ok = match provider {
                            "secretbox" => secret.len() == 32,
                            _ => matches!(secret.len(), 16 | 24 | 32),
                        };
                        if !ok {
                            return Err(format!(
                                "{provider} key {:?}: secret is {} bytes, which {provider} cannot use",
                                k.name,
                                secret.len()
                            ));
                        }
                        out.keys.push(Key {
                            provider: provider.to_string(),
                            name: k.name,
                            secret,
                            resources: r.resources.clone(),
                        });
                    }
                }
                if let Some(k) = p.kms {
                    out.kms.push(k.name);
                }
            }
        }
        Ok(out)
    }
}

/// What a stored value is, as far as encryption goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Envelope {
    /// Not encrypted (identity).
    Plain,
    /// Encrypted by `provider` with key `key`.
    Encrypted {
        /// `aescbc`, `aesgcm`, `secretbox`, `kms`, ...
        provider: String,
        /// Transformer version (`v1`, `v2`).
        version: String,
        /// Key (or KMS provider) name.
        key: String,
        /// KMS v2: what the EncryptedObject says (key ID, annotations).
        #[serde(skip_serializing_if = "Option::is_none")]
        kms: Option<KmsFacts>,
    },
}

/// The readable facts of a KMS v2 EncryptedObject (nothing is decrypted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KmsFacts {
    /// `keyID`: the KMS key the DEK source was wrapped with.
    pub key_id: String,
    /// Names of the plugin's `annotations`.
    pub annotations: Vec<String>,
    /// `encryptedDEKSourceType`: `AES_GCM_KEY` or `HKDF_SHA256_XNONCE_AES_GCM_SEED`.
    pub dek_source_type: String,
    /// Bytes of `encryptedData`.
    pub data_bytes: u64,
}

/// apiserver's kmsv2 `EncryptedObject` (field numbers from its api.proto).
#[derive(Clone, PartialEq, prost::Message)]
struct EncryptedObject {
    #[prost(bytes = "vec", tag = "1")]
    encrypted_data: Vec<u8>,
    #[prost(string, tag = "2")]
    key_id: String,
    #[prost(bytes = "vec", tag = "3")]
    encrypted_dek_source: Vec<u8>,
    #[prost(btree_map = "string, bytes", tag = "4")]
    annotations: std::collections::BTreeMap<String, Vec<u8>>,
    #[prost(int32, tag = "5")]
    encrypted_dek_source_type: i32,
}

/// Reads the EncryptedObject after a `k8s:enc:kms:v2:<name>:` prefix; None
/// when it does not parse or has no key ID (apiserver requires one).
pub fn kms_v2_facts(data: &[u8]) -> Option<KmsFacts> {
    let o = <EncryptedObject as prost::Message>::decode(data).ok()?;
    if o.key_id.is_empty() {
        return None;
    }
    Some(KmsFacts {
        key_id: o.key_id,
        annotations: o.annotations.into_keys().collect(),
        dek_source_type: match o.encrypted_dek_source_type {
            0 => "AES_GCM_KEY".into(),
            1 => "HKDF_SHA256_XNONCE_AES_GCM_SEED".into(),
            n => format!("unknown ({n})"),
        },
        data_bytes: crate::bytes::to_u64(o.encrypted_data.len()),
    })
}

/// Reads the `k8s:enc:<provider>:<version>:<key>:` prefix; returns the
/// envelope and the offset of the ciphertext.
pub fn envelope(v: &[u8]) -> (Envelope, usize) {
    let Some(rest) = v.strip_prefix(K8S_ENC_PREFIX) else {
        return (Envelope::Plain, 0);
    };
    let mut at = K8S_ENC_PREFIX.len();
    let mut parts = Vec::with_capacity(3);
    let mut rest = rest;
    for _ in 0..3 {
        let Some(i) = rest.iter().position(|b| *b == b':') else {
            return (Envelope::Plain, 0);
        };
        let (p, tail) = rest.split_at(i);
        parts.push(String::from_utf8_lossy(p).into_owned());
        rest = tail.get(1..).unwrap_or(&[]);
        at += i + 1;
    }
    let mut it = parts.into_iter();
    let (provider, version, key) = (
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
    );
    let kms = (provider == "kms" && version == "v2")
        .then(|| kms_v2_facts(rest))
        .flatten();
    (
        Envelope::Encrypted {
            provider,
            version,
            key,
            kms,
        },
        at,
    )
}

/// Why an encrypted value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum DecryptError {
    /// No `--encryption-config` given.
    #[error("encrypted with {provider} key {key:?}; pass --encryption-config to decrypt")]
    NoConfig {
        /// Provider.
        provider: String,
        /// Key name.
        key: String,
    },
    /// A KMS value: the data key is wrapped by an external KMS.
    #[error(
        "encrypted by KMS {version} provider {key:?}{}: needs the KMS plugin, not decrypted here",
        key_id.as_ref().map(|k| format!(" with key ID {k:?}")).unwrap_or_default()
    )]
    Kms {
        /// `v1` or `v2`.
        version: String,
        /// The KMS provider name.
        key: String,
        /// KMS v2: the EncryptedObject's `keyID`.
        #[serde(skip_serializing_if = "Option::is_none")]
        key_id: Option<String>,
    },
    /// The configuration has no key of that provider and name.
    #[error("encrypted with {provider} key {key:?}, which the encryption config does not have")]
    NoKey {
        /// Provider.
        provider: String,
        /// Key name.
        key: String,
    },
    /// The key of that name does not open the value.
    #[error("{provider} key {key:?} does not decrypt this value (wrong key secret?): {detail}")]
    WrongKey {
        /// Provider.
        provider: String,
        /// Key name.
        key: String,
        /// What failed.
        detail: String,
    },
    /// A provider this tool does not know.
    #[error("unknown encryption provider {provider:?} (key {key:?})")]
    UnknownProvider {
        /// Provider.
        provider: String,
        /// Key name.
        key: String,
    },
}

/// Decrypts `v` stored at `etcd_key` (the additional data of aesgcm).
/// Plain values come back unchanged.
pub fn decrypt(
    cfg: Option<&EncryptionConfig>,
    etcd_key: &[u8],
    v: &[u8],
) -> Result<Option<Vec<u8>>, DecryptError> {
    let (env, at) = envelope(v);
    let Envelope::Encrypted {
        provider,
        version,
        key,
        kms,
    } = env
    else {
        return Ok(None);
    };
    let data = v.get(at..).unwrap_or(&[]);
    if provider == "kms" {
        return Err(DecryptError::Kms {
            version,
            key,
            key_id: kms.map(|k| k.key_id),
        });
    }
    if !matches!(provider.as_str(), "aescbc" | "aesgcm" | "secretbox") {
        return Err(DecryptError::UnknownProvider { provider, key });
    }
    let Some(cfg) = cfg else {
        return Err(DecryptError::NoConfig { provider, key });
    };
    let candidates: Vec<&Key> = cfg
        .keys
        .iter()
        .filter(|k| k.provider == provider && k.name == key)
        .collect();
    if candidates.is_empty() {
        return Err(DecryptError::NoKey { provider, key });
    }
    let mut last = String::new();
    for k in candidates {
        match open(k, etcd_key, data) {
            Ok(p) => return Ok(Some(p)),
            Err(e) => last = e,
        }
    }
    Err(DecryptError::WrongKey {
        provider,
        key,
        detail: last,
    })
}

fn open(k: &Key, etcd_key: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    match k.provider.as_str() {
        "aescbc" => {
            if data.len() < 16 {
                return Err("shorter than the 16-byte IV".into());
            }
            let (iv, ct) = data.split_at(16);
            if ct.len() % 16 != 0 {
                return Err(format!(
                    "ciphertext of {} bytes is not whole AES blocks",
                    ct.len()
                ));
            }
            let mut buf = ct.to_vec();
            let plain = match k.secret.len() {
                16 => cbc_open::<aes::Aes128>(&k.secret, iv, &mut buf),
                24 => cbc_open::<aes::Aes192>(&k.secret, iv, &mut buf),
                _ => cbc_open::<aes::Aes256>(&k.secret, iv, &mut buf),
            }?;
            // CBC has no MAC: a wrong key shows as bad padding or as bytes
            // that are no Kubernetes object.
            if !(plain.starts_with(crate::etcd::values::K8S_MAGIC) || plain.first() == Some(&b'{'))
            {
                return Err("the plaintext is not a Kubernetes object (aescbc has no MAC)".into());
            }
            Ok(plain)
        }
        "aesgcm" => {
            if data.len() < 12 {
                return Err("shorter than the 12-byte nonce".into());
            }
            let (nonce, ct) = data.split_at(12);
            let payload = Payload {
                msg: ct,
                aad: etcd_key,
            };
            let r = match k.secret.len() {
                16 => gcm_open::<aes::Aes128>(&k.secret, nonce, payload),
                24 => gcm_open::<aes::Aes192>(&k.secret, nonce, payload),
                _ => gcm_open::<aes::Aes256>(&k.secret, nonce, payload),
            };
            r.ok_or_else(|| "authentication failed (AES-GCM tag, key as additional data)".into())
        }
        _ => {
            use crypto_secretbox::XSalsa20Poly1305;
            if data.len() < 24 + 16 {
                return Err("shorter than nonce and tag".into());
            }
            let (nonce, ct) = data.split_at(24);
            let c = XSalsa20Poly1305::new_from_slice(&k.secret).map_err(|e| e.to_string())?;
            c.decrypt(crypto_secretbox::Nonce::from_slice(nonce), ct)
                .map_err(|_| "authentication failed (secretbox Poly1305 tag)".to_string())
        }
    }
}

fn cbc_open<C>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<Vec<u8>, String>
where
    C: aes::cipher::BlockDecrypt + aes::cipher::BlockCipher + aes::cipher::KeyInit,
{
    let d = cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|e| e.to_string())?;
    d.decrypt_padded_mut::<Pkcs7>(buf)
        .map(<[u8]>::to_vec)
        .map_err(|_| "bad PKCS#7 padding".to_string())
}

fn gcm_open<C>(key: &[u8], nonce: &[u8], payload: Payload<'_, '_>) -> Option<Vec<u8>>
where
    C: aes::cipher::BlockCipher
        + aes::cipher::BlockSizeUser<BlockSize = aes::cipher::consts::U16>
        + aes::cipher::BlockEncrypt
        + aes::cipher::KeyInit,
{
    let c = aes_gcm::AesGcm::<C, U12>::new_from_slice(key).ok()?;
    c.decrypt(aes_gcm::Nonce::from_slice(nonce), payload).ok()
}

/// Standard base64 with padding (as the EncryptionConfiguration holds keys).
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_prefix() {
        let (e, at) = envelope(b"k8s:enc:aesgcm:v1:gcm-2026:\x01\x02");
        assert_eq!(
            e,
            Envelope::Encrypted {
                provider: "aesgcm".into(),
                version: "v1".into(),
                key: "gcm-2026".into(),
                kms: None
            }
        );
        assert_eq!(at, 27);
        assert_eq!(envelope(b"k8s\0abc").0, Envelope::Plain);
        assert_eq!(base64_decode("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
    }

    #[test]
    fn kms_and_missing_config_are_reported() {
        assert!(matches!(
            decrypt(None, b"/k", b"k8s:enc:kms:v2:my-kms:\x0a\x01"),
            Err(DecryptError::Kms { .. })
        ));
        assert!(matches!(
            decrypt(None, b"/k", b"k8s:enc:aescbc:v1:key1:0123456789abcdef"),
            Err(DecryptError::NoConfig { .. })
        ));
        assert_eq!(decrypt(None, b"/k", b"k8s\0x"), Ok(None));
    }
}
