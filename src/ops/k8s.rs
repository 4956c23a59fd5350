//! `k8s ls`, `k8s get`, `k8s usage`: Kubernetes objects in an etcd db, read
//! offline at any revision.
//!
//! Each is one streaming pass over the `key` bucket in revision order up to
//! the revision asked for. Per distinct key under the prefix the pass keeps a
//! borrowed slice of the key (no copy) and a few counters; values stay in the
//! memory map, whose resident pages are released as the pass goes.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value as Json;

use crate::error::{ErrorKind, Result};
use crate::etcd::k8s::decode::{
    self, decode_object, parse_rfc3339, set_resource_version, Encoding,
};
use crate::etcd::k8s::encryption::{decrypt, envelope, EncryptionConfig, Envelope};
use crate::etcd::k8s::keys::{self, ObjectKey};
use crate::etcd::keyhash::{hash128, hash64, BuildPreHashed};
use crate::etcd::keyspace::{Records, Revisions, RELEASE_EVERY};
use crate::etcd::values;
use crate::formats::proto::KeyValueRef;

use super::input::Opened;

/// Options every `k8s` command shares.
#[derive(Debug, Clone, Default)]
pub struct K8sOptions {
    /// kube-apiserver's `--etcd-prefix` with the trailing `/`.
    pub prefix: String,
    /// Revision to read at (≤ 0: current).
    pub rev: i64,
    /// Keys to decrypt values encrypted at rest.
    pub encryption: Option<EncryptionConfig>,
}

/// Loads an EncryptionConfiguration file.
pub fn load_encryption_config(path: &Path) -> Result<EncryptionConfig> {
    let text =
        std::fs::read_to_string(path).map_err(|e| crate::error::Error::io("read", path, &e))?;
    EncryptionConfig::parse(&text).map_err(|m| {
        ErrorKind::Usage(format!(
            "{}: not a usable EncryptionConfiguration: {m}",
            path.display()
        ))
        .into()
    })
}

/// What a stored value turned out to be.
#[derive(Debug, Clone, Serialize)]
pub struct Decoded {
    /// The object as kubectl shows it (resourceVersion set), when it decodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<Json>,
    /// How it was stored (`protobuf`, `json`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// The encryption envelope (`plain`, or provider/version/key).
    pub envelope: Envelope,
    /// Why it could not be read (decryption or decoding), if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// `apiVersion`/`kind` from the protobuf envelope, also when undecodable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_meta: Option<String>,
}

/// A stored value made readable: its encryption envelope, the plaintext when
/// it was encrypted, and `apiVersion kind` from the protobuf envelope.
struct Unsealed {
    envelope: Envelope,
    plain: Option<Vec<u8>>,
    type_meta: Option<String>,
}

impl Unsealed {
    /// Decrypts `kv`'s value if needed; `Err`: its envelope and why not
    /// (boxed: the envelope is large and this path is rare).
    fn open(
        opts: &K8sOptions,
        kv: &KeyValueRef<'_>,
    ) -> std::result::Result<Self, Box<(Envelope, String)>> {
        let (envelope, _) = envelope(kv.value);
        let plain = match decrypt(opts.encryption.as_ref(), kv.key, kv.value) {
            Ok(p) => p,
            Err(e) => return Err(Box::new((envelope, e.to_string()))),
        };
        let type_meta = match values::decode(plain.as_deref().unwrap_or(kv.value)) {
            values::Decoded::K8s(o) => Some(format!(
                "{} {}",
                o.api_version.unwrap_or("?"),
                o.kind.unwrap_or("?")
            )),
            _ => None,
        };
        Ok(Unsealed {
            envelope,
            plain,
            type_meta,
        })
    }

    /// The bytes to decode: the plaintext, or `stored` when it was not encrypted.
    fn bytes<'s>(&'s self, stored: &'s [u8]) -> &'s [u8] {
        self.plain.as_deref().unwrap_or(stored)
    }
}

/// Decrypts (if needed) and decodes one stored value.
pub fn decode_value(opts: &K8sOptions, kv: &KeyValueRef<'_>) -> Decoded {
    let u = match Unsealed::open(opts, kv) {
        Ok(u) => u,
        Err(sealed) => {
            let (envelope, problem) = *sealed;
            return Decoded {
                object: None,
                encoding: None,
                envelope,
                problem: Some(problem),
                type_meta: None,
            };
        }
    };
    match decode_object(u.bytes(kv.value)) {
        Ok((mut obj, enc)) => {
            set_resource_version(&mut obj, kv.mod_revision);
            Decoded {
                object: Some(obj),
                encoding: Some(enc),
                envelope: u.envelope,
                problem: None,
                type_meta: u.type_meta,
            }
        }
        Err(e) => Decoded {
            object: None,
            encoding: None,
            envelope: u.envelope,
            problem: Some(e.to_string()),
            type_meta: u.type_meta,
        },
    }
}

/// What `ls` shows of one stored value: [`decode_value`]'s facts, without
/// building the object ([`decode::list_facts`]).
struct Listed {
    envelope: Envelope,
    type_meta: Option<String>,
    created: Option<String>,
    encoding: Option<Encoding>,
    problem: Option<String>,
}

fn list_value(opts: &K8sOptions, kv: &KeyValueRef<'_>) -> Listed {
    let u = match Unsealed::open(opts, kv) {
        Ok(u) => u,
        Err(sealed) => {
            let (envelope, problem) = *sealed;
            return Listed {
                envelope,
                type_meta: None,
                created: None,
                encoding: None,
                problem: Some(problem),
            };
        }
    };
    match decode::list_facts(u.bytes(kv.value)) {
        Ok(f) => Listed {
            envelope: u.envelope,
            type_meta: u.type_meta.or(f.type_meta),
            created: f.creation_timestamp,
            encoding: Some(f.encoding),
            problem: None,
        },
        Err(e) => Listed {
            envelope: u.envelope,
            type_meta: u.type_meta,
            created: None,
            encoding: None,
            problem: Some(e.to_string()),
        },
    }
}

/// Per distinct key: the latest record up to the revision, and counts.
struct KeyState<'a> {
    latest: KeyValueRef<'a>,
    deleted: bool,
    versions: u32,
    bytes: u64,
    latest_bytes: u64,
}

/// One pass over the records under the prefix up to `rev`: calls `each` per
/// record. Returns the revision read at and the db's bounds.
fn pass<'a>(
    input: &'a Opened,
    db: &crate::formats::bbolt::Db<'a>,
    opts: &K8sOptions,
    each: &mut dyn FnMut(&crate::etcd::keyspace::Record<'a>),
) -> Result<(i64, Revisions)> {
    let revisions = Revisions::read(db).map_err(|e| input.locate(e))?;
    let rev = revisions.resolve(opts.rev).map_err(|e| input.locate(e))?;
    let mut n = 0u64;
    for r in Records::new(db, rev).map_err(|e| input.locate(e))? {
        let r = r.map_err(|e| input.locate(e))?;
        n += 1;
        if n % RELEASE_EVERY == 0 {
            input.source.release_resident();
        }
        if r.kv.key.starts_with(opts.prefix.as_bytes()) {
            each(&r);
        }
    }
    Ok((rev, revisions))
}

/// The states of the wanted keys; in key order when `by_key`, else in revision
/// order (no key compares in the mapped pages; `ls` sorts its rows itself).
fn states<'a>(
    input: &'a Opened,
    db: &crate::formats::bbolt::Db<'a>,
    opts: &K8sOptions,
    want: &dyn Fn(&ObjectKey<'_>) -> bool,
    by_key: bool,
) -> Result<(i64, Revisions, Vec<KeyState<'a>>)> {
    // By a 128-bit hash of the key: a lookup then does not compare against the
    // key's earlier record, whose page may have been released from memory.
    let mut map: HashMap<u128, KeyState<'a>, BuildPreHashed> = HashMap::default();
    let prefix = opts.prefix.clone();
    let (rev, revisions) = pass(input, db, opts, &mut |r| {
        let id = hash128(r.kv.key);
        if let Some(st) = map.get_mut(&id) {
            st.versions += 1;
            st.bytes += r.stored_bytes;
            st.latest = r.kv;
            st.latest_bytes = r.stored_bytes;
            st.deleted = r.tombstone;
            return;
        }
        let Some(k) = keys::parse(r.kv.key, &prefix) else {
            return;
        };
        if !want(&k) {
            return;
        }
        map.insert(
            id,
            KeyState {
                latest: r.kv,
                deleted: r.tombstone,
                versions: 1,
                bytes: r.stored_bytes,
                latest_bytes: r.stored_bytes,
            },
        );
    })?;
    let mut v: Vec<KeyState<'a>> = map.into_values().collect();
    if by_key {
        v.sort_by(|a, b| a.latest.key.cmp(b.latest.key));
    } else {
        // Revision order is page order in the key bucket: the values are then
        // read front to back.
        v.sort_by_key(|s| s.latest.mod_revision);
    }
    Ok((rev, revisions, v))
}

/// Which objects `ls` lists.
#[derive(Debug, Clone, Default)]
pub struct LsFilter {
    /// Resource as the user named it (`pods`, `po`, `widgets.example.com`).
    pub resource: Option<String>,
    /// Only this namespace.
    pub namespace: Option<String>,
}

/// One row of `k8s ls`.
#[derive(Debug, Clone, Serialize)]
pub struct LsRow {
    /// The etcd key.
    pub key: String,
    /// Resource (plural, `.group` for resources under a group path).
    pub resource: String,
    /// Namespace (empty: cluster-scoped).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.creationTimestamp`, when the object decodes.
    pub creation_timestamp: Option<String>,
    /// Seconds since the epoch of `creation_timestamp`.
    #[serde(skip)]
    pub created: Option<i64>,
    /// `apiVersion` `kind` of the object, when known.
    pub type_meta: Option<String>,
    /// Bytes of the value in etcd.
    pub size: u64,
    /// The key's mod revision (the object's resourceVersion).
    pub mod_revision: i64,
    /// Records of this key stored in the db up to the revision (history kept).
    pub versions: u32,
    /// Encryption envelope.
    pub envelope: Envelope,
    /// How it was stored.
    pub encoding: Option<Encoding>,
    /// Why it could not be read, when it could not.
    pub problem: Option<String>,
}

/// What `k8s ls` read.
#[derive(Debug, Clone, Serialize)]
pub struct LsReport {
    /// The db read.
    pub db_path: PathBuf,
    /// Revision listed at.
    pub rev: i64,
    /// The db's revision bounds.
    pub revisions: Revisions,
    /// Objects listed.
    pub rows: Vec<LsRow>,
    /// Rows whose value could not be decrypted or decoded.
    pub undecodable: u64,
}

/// Lists the objects live at the revision.
pub fn ls(path: &Path, opts: &K8sOptions, filter: &LsFilter) -> Result<LsReport> {
    let input = Opened::open(path)?;
    let db = input.db()?;
    let want = |k: &ObjectKey<'_>| {
        filter
            .resource
            .as_deref()
            .is_none_or(|r| keys::matches(&k.resource, r))
            && filter.namespace.as_deref().is_none_or(|n| k.namespace == n)
    };
    let (rev, revisions, states) = states(&input, &db, opts, &want, false)?;
    let mut rows = Vec::new();
    let mut undecodable = 0;
    for (i, st) in states.iter().filter(|s| !s.deleted).enumerate() {
        if i % 128 == 127 {
            input.source.release_resident();
        }
        let Some(k) = keys::parse(st.latest.key, &opts.prefix) else {
            continue;
        };
        let d = list_value(opts, &st.latest);
        if d.problem.is_some() {
            undecodable += 1;
        }
        rows.push(LsRow {
            key: String::from_utf8_lossy(st.latest.key).into_owned(),
            resource: k.resource,
            namespace: k.namespace.to_string(),
            name: k.name.to_string(),
            created: d.created.as_deref().and_then(parse_rfc3339),
            creation_timestamp: d.created,
            type_meta: d.type_meta,
            size: crate::bytes::to_u64(st.latest.value.len()),
            mod_revision: st.latest.mod_revision,
            versions: st.versions,
            envelope: d.envelope,
            encoding: d.encoding,
            problem: d.problem,
        });
    }
    rows.sort_by(|a, b| {
        (&a.resource, &a.namespace, &a.name, &a.key).cmp(&(
            &b.resource,
            &b.namespace,
            &b.name,
            &b.key,
        ))
    });
    Ok(LsReport {
        db_path: input.db_path.clone(),
        rev,
        revisions,
        rows,
        undecodable,
    })
}

/// One stored version of an object.
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    /// The record's revision (the resourceVersion of that version).
    pub mod_revision: i64,
    /// Whether this record is the object's deletion.
    pub deleted: bool,
    /// The key's create revision.
    pub create_revision: i64,
    /// The decoded value (absent for a deletion).
    #[serde(flatten)]
    pub value: Option<Decoded>,
    /// Bytes of the value in etcd.
    pub size: u64,
}

/// What `k8s get` found.
#[derive(Debug, Clone, Serialize)]
pub struct GetReport {
    /// The etcd key of the object.
    pub key: Option<String>,
    /// Revision read at.
    pub rev: i64,
    /// The object at the revision (None: absent or deleted at the revision).
    pub current: Option<Version>,
    /// Every stored version up to the revision, oldest first (`--history`).
    pub history: Vec<Version>,
}

/// Finds `resource` `name` in `namespace` (None: `default`, or
/// cluster-scoped) at the revision; `history` keeps every stored version.
pub fn get(
    path: &Path,
    opts: &K8sOptions,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
    history: bool,
) -> Result<GetReport> {
    let input = Opened::open(path)?;
    let db = input.db()?;
    let prefix = opts.prefix.clone();
    let mut found: Option<&[u8]> = None;
    let mut records = Vec::new();
    let (rev, _) = pass(&input, &db, opts, &mut |r| {
        if let Some(k) = found {
            if k == r.kv.key {
                records.push(*r);
            }
            return;
        }
        let Some(ok) = keys::parse(r.kv.key, &prefix) else {
            return;
        };
        let ns_ok = match namespace {
            Some(n) => ok.namespace == n,
            None => ok.namespace.is_empty() || ok.namespace == "default",
        };
        if ok.name == name && ns_ok && keys::matches(&ok.resource, resource) {
            found = Some(r.kv.key);
            records.push(*r);
        }
    })?;
    let version = |r: &crate::etcd::keyspace::Record<'_>| Version {
        mod_revision: r.rev.main,
        deleted: r.tombstone,
        create_revision: r.kv.create_revision,
        value: (!r.tombstone).then(|| decode_value(opts, &r.kv)),
        size: crate::bytes::to_u64(r.kv.value.len()),
    };
    let current = records.last().filter(|r| !r.tombstone).map(&version);
    Ok(GetReport {
        key: found.map(|k| String::from_utf8_lossy(k).into_owned()),
        rev,
        current,
        history: if history {
            records.iter().map(version).collect()
        } else {
            Vec::new()
        },
    })
}

/// How `usage` groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UsageBy {
    /// Per resource.
    #[default]
    Resource,
    /// Per resource and namespace.
    Namespace,
    /// Per object.
    Object,
}

/// One group of `usage`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UsageRow {
    /// Resource (plural[.group]).
    pub resource: String,
    /// Namespace (`--by namespace|object`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Object name (`--by object`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Objects live at the revision.
    pub live_objects: u64,
    /// Bytes of the live versions (revision key + value, as stored).
    pub live_bytes: u64,
    /// Records kept in history (older versions and deletions).
    pub history_records: u64,
    /// Bytes of those records: what a compaction at the revision frees.
    pub history_bytes: u64,
}

impl UsageRow {
    fn total(&self) -> u64 {
        self.live_bytes + self.history_bytes
    }

    fn add(&mut self, o: &UsageRow) {
        self.live_objects += o.live_objects;
        self.live_bytes += o.live_bytes;
        self.history_records += o.history_records;
        self.history_bytes += o.history_bytes;
    }
}

/// An object with many bytes or revisions.
#[derive(Debug, Clone, Serialize)]
pub struct TopObject {
    /// The etcd key.
    pub key: String,
    /// Stored records of it.
    pub versions: u32,
    /// Bytes of all its records.
    pub bytes: u64,
    /// Bytes of its latest value (0 when deleted).
    pub live_value_bytes: u64,
}

/// What `k8s usage` found.
#[derive(Debug, Clone, Serialize)]
pub struct UsageReport {
    /// The db read.
    pub db_path: PathBuf,
    /// Revision read at.
    pub rev: i64,
    /// Grouping.
    pub by: UsageBy,
    /// Groups, largest total first (at most `top` with `--by object`).
    pub rows: Vec<UsageRow>,
    /// All of them.
    pub total: UsageRow,
    /// Keys under the prefix that are not object keys.
    pub other_keys: u64,
    /// Objects with the most bytes over all their versions.
    pub largest: Vec<TopObject>,
    /// Objects with the most versions kept.
    pub most_versions: Vec<TopObject>,
    /// Live values per encryption envelope: identity, each provider and key,
    /// KMS providers with the key ID their EncryptedObject names.
    pub encryption: Vec<EncryptionRow>,
    /// Notes about Events and Leases.
    pub notes: Vec<String>,
}

/// Per distinct key in `usage`'s table: figures only, no key bytes.
#[derive(Debug, Clone, Copy, Default)]
struct UsageSlot {
    versions: u32,
    /// Records met again in pass 2 (the last one is the latest).
    seen: u32,
    bytes: u64,
    latest_bytes: u64,
    deleted: bool,
}

/// The `top` largest of `values`, as a cut: values above it make the list;
/// of those equal to it, `ties` (the smallest keys) do.
fn top_cut(values: impl Iterator<Item = u64>, top: usize) -> Option<(u64, usize)> {
    if top == 0 {
        return None;
    }
    let mut heap: BinaryHeap<Reverse<u64>> = BinaryHeap::with_capacity(top + 1);
    for v in values {
        heap.push(Reverse(v));
        if heap.len() > top {
            heap.pop();
        }
    }
    let Reverse(cut) = *heap.peek()?;
    let above = heap.iter().filter(|Reverse(v)| *v > cut).count();
    Some((cut, top - above))
}

/// Collects a top list in pass 2: the items above the cut, and of those at
/// it the `ties` with the smallest names (bounded either way).
struct TopPick<T> {
    cut: Option<(u64, usize)>,
    above: Vec<(String, u64, T)>,
    tied: BTreeMap<String, T>,
}

impl<T> TopPick<T> {
    fn new(cut: Option<(u64, usize)>) -> TopPick<T> {
        TopPick {
            cut,
            above: Vec::new(),
            tied: BTreeMap::new(),
        }
    }

    fn offer(&mut self, v: u64, name: &dyn Fn() -> String, t: impl FnOnce() -> T) {
        let Some((cut, ties)) = self.cut else {
            return;
        };
        if v > cut {
            self.above.push((name(), v, t()));
        } else if v == cut && ties > 0 {
            let n = name();
            if self.tied.len() < ties || self.tied.last_key_value().is_some_and(|(l, _)| n < *l) {
                self.tied.insert(n, t());
                if self.tied.len() > ties {
                    self.tied.pop_last();
                }
            }
        }
    }

    /// Largest value first, then by name.
    fn finish(self, top: usize) -> Vec<T> {
        let cut = self.cut.map_or(0, |c| c.0);
        let mut v = self.above;
        v.extend(self.tied.into_iter().map(|(n, t)| (n, cut, t)));
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(top);
        v.into_iter().map(|(_, _, t)| t).collect()
    }
}

/// Live values per encryption envelope (provider, key, KMS key ID).
#[derive(Debug, Clone, Default, Serialize)]
pub struct EncryptionRow {
    /// `aescbc`, `aesgcm`, `secretbox`, `kms`, or `identity` (not encrypted).
    pub provider: String,
    /// Transformer version (`v1`, `v2`; empty for identity).
    pub version: String,
    /// Key name, or the KMS provider's name.
    pub key: String,
    /// KMS v2: the `keyID` in the EncryptedObject (read, never decrypted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// Live objects stored so.
    pub live_objects: u64,
    /// Bytes of their values.
    pub live_bytes: u64,
}

/// Counts and bytes per resource / namespace / object, live and in history.
///
/// Two passes, memory flat in the keys' lengths: pass 1 keeps per distinct
/// key a 64-bit hash and counters (no key bytes); then the cut of each top
/// list; pass 2 meets each key's latest record (the last one by the counts)
/// and adds it to its group, its envelope, and the top lists if it makes them.
/// Two keys with the same 64-bit hash would be counted as one (odds about 1
/// in 30 million at a million keys). With `--by object` the groups are the
/// objects: only the `top` largest are kept.
pub fn usage(path: &Path, opts: &K8sOptions, by: UsageBy, top: usize) -> Result<UsageReport> {
    let input = Opened::open(path)?;
    let db = input.db()?;
    let mut slots: HashMap<u64, UsageSlot, BuildPreHashed> = HashMap::default();
    let (rev, _) = pass(&input, &db, opts, &mut |r| {
        let st = slots.entry(hash64(r.kv.key)).or_default();
        st.versions = st.versions.saturating_add(1);
        st.bytes += r.stored_bytes;
        st.latest_bytes = r.stored_bytes;
        st.deleted = r.tombstone;
    })?;
    let live = |st: &UsageSlot| if st.deleted { 0 } else { st.latest_bytes };
    let mut largest = TopPick::new(top_cut(slots.values().map(|s| s.bytes), top));
    let mut most = TopPick::new(top_cut(slots.values().map(|s| u64::from(s.versions)), top));
    // --by object: the groups are objects; keep the `top` largest totals.
    let mut objects = TopPick::new(if by == UsageBy::Object {
        top_cut(slots.values().map(|s| s.bytes), top)
    } else {
        None
    });
    let mut groups: HashMap<(String, String), UsageRow> = HashMap::new();
    let mut enc_rows: BTreeMap<(String, String, String, Option<String>), EncryptionRow> =
        BTreeMap::new();
    let mut per_resource: HashMap<String, UsageRow> = HashMap::new();
    let mut total = UsageRow {
        resource: "(all)".into(),
        ..UsageRow::default()
    };
    let mut other_keys = 0u64;
    let prefix = opts.prefix.clone();
    pass(&input, &db, opts, &mut |r| {
        let Some(st) = slots.get_mut(&hash64(r.kv.key)) else {
            return;
        };
        st.seen += 1;
        if st.seen < st.versions {
            return;
        }
        let st = *st;
        let Some(k) = keys::parse(r.kv.key, &prefix) else {
            other_keys += 1;
            return;
        };
        let live_bytes = live(&st);
        let row = UsageRow {
            resource: k.resource.clone(),
            namespace: (by != UsageBy::Resource).then(|| k.namespace.to_string()),
            name: (by == UsageBy::Object).then(|| k.name.to_string()),
            live_objects: u64::from(!st.deleted),
            live_bytes,
            history_records: u64::from(st.versions) - u64::from(!st.deleted),
            history_bytes: st.bytes - live_bytes,
        };
        total.add(&row);
        let key = || String::from_utf8_lossy(r.kv.key).into_owned();
        let top_object = || TopObject {
            key: key(),
            versions: st.versions,
            bytes: st.bytes,
            live_value_bytes: if st.deleted {
                0
            } else {
                crate::bytes::to_u64(r.kv.value.len())
            },
        };
        largest.offer(st.bytes, &key, top_object);
        most.offer(u64::from(st.versions), &key, top_object);
        per_resource
            .entry(k.resource.clone())
            .or_insert_with(|| UsageRow {
                resource: k.resource.clone(),
                ..UsageRow::default()
            })
            .add(&row);
        if !st.deleted {
            let (provider, version, name, kms_key_id) = match envelope(r.kv.value).0 {
                Envelope::Plain => ("identity".to_string(), String::new(), String::new(), None),
                Envelope::Encrypted {
                    provider,
                    version,
                    key,
                    kms,
                } => (provider, version, key, kms.map(|k| k.key_id)),
            };
            let e = enc_rows
                .entry((
                    provider.clone(),
                    version.clone(),
                    name.clone(),
                    kms_key_id.clone(),
                ))
                .or_insert_with(|| EncryptionRow {
                    provider,
                    version,
                    key: name,
                    kms_key_id,
                    ..EncryptionRow::default()
                });
            e.live_objects += 1;
            e.live_bytes += crate::bytes::to_u64(r.kv.value.len());
        }
        if by == UsageBy::Object {
            objects.offer(st.bytes, &key, || row);
            return;
        }
        let ns = if by == UsageBy::Namespace {
            k.namespace.to_string()
        } else {
            String::new()
        };
        groups
            .entry((k.resource.clone(), ns))
            .or_insert_with(|| UsageRow {
                resource: row.resource.clone(),
                namespace: row.namespace.clone(),
                name: None,
                ..UsageRow::default()
            })
            .add(&row);
    })?;
    let largest = largest.finish(top);
    let most_versions = most.finish(top);
    let encryption: Vec<EncryptionRow> = enc_rows.into_values().collect();
    let mut rows: Vec<UsageRow> = if by == UsageBy::Object {
        objects.finish(top)
    } else {
        let mut rows: Vec<UsageRow> = groups.into_values().collect();
        rows.sort_by(|a, b| b.total().cmp(&a.total()).then(a.resource.cmp(&b.resource)));
        rows
    };
    let mut notes = Vec::new();
    let share = |b: u64| {
        if total.total() == 0 {
            0.0
        } else {
            100.0 * b as f64 / total.total() as f64
        }
    };
    let mut per: HashMap<&str, (u64, u64, u64)> = HashMap::new();
    for r in per_resource.values() {
        if r.resource == "events" || r.resource == "leases" {
            let e = per
                .entry(if r.resource == "events" {
                    "events"
                } else {
                    "leases"
                })
                .or_default();
            e.0 += r.live_objects;
            e.1 += r.total();
            e.2 += r.history_records;
        }
    }
    if let Some((n, b, h)) = per.get("events") {
        notes.push(format!(
            "events: {n} live, {b} bytes ({:.1}% of the objects' bytes), {h} records in history; kube-apiserver deletes Events after --event-ttl (1h by default), and compaction frees their history",
            share(*b)
        ));
    }
    if let Some((n, b, h)) = per.get("leases") {
        notes.push(format!(
            "leases: {n} live, {h} records in history ({:.1}% of the objects' bytes): heartbeats rewrite them every few seconds; compaction frees the history",
            share(*b)
        ));
    }
    rows.truncate(if by == UsageBy::Object {
        top
    } else {
        usize::MAX
    });
    Ok(UsageReport {
        db_path: input.db_path.clone(),
        rev,
        by,
        rows,
        total,
        other_keys,
        largest,
        most_versions,
        encryption,
        notes,
    })
}

/// File format of `k8s dump`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DumpFormat {
    /// `<name>.yaml`.
    Yaml,
    /// `<name>.json`.
    Json,
}

/// What `k8s dump` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct DumpReport {
    /// The directory written.
    pub out: PathBuf,
    /// Revision dumped.
    pub rev: i64,
    /// Objects written.
    pub written: u64,
    /// Objects not written because they could not be read: key and why.
    pub unreadable: Vec<(String, String)>,
}

/// Writes every live object at the revision as
/// `OUT/<resource>/<namespace>/<name>.<yaml|json>` (cluster-scoped objects
/// under `OUT/<resource>/_cluster/`). `out` must not exist or be empty; the
/// tree is written beside it and renamed into place at the end.
pub fn dump(
    path: &Path,
    opts: &K8sOptions,
    filter: &LsFilter,
    out: &Path,
    format: DumpFormat,
) -> Result<DumpReport> {
    let non_empty = std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some());
    if non_empty || out.is_file() {
        return Err(ErrorKind::Refused(format!(
            "--out {} exists and is not an empty directory; name a new one",
            out.display()
        ))
        .into());
    }
    let input = Opened::open(path)?;
    let db = input.db()?;
    let want = |k: &ObjectKey<'_>| {
        filter
            .resource
            .as_deref()
            .is_none_or(|r| keys::matches(&k.resource, r))
            && filter.namespace.as_deref().is_none_or(|n| k.namespace == n)
    };
    let (rev, _, states) = states(&input, &db, opts, &want, true)?;
    let mut tmp = crate::sink::NewDir::beside(out, "k8s-dump")?;
    let mut written = 0u64;
    let mut unreadable = Vec::new();
    for (i, st) in states.iter().filter(|s| !s.deleted).enumerate() {
        if i % 128 == 127 {
            input.source.release_resident();
        }
        let Some(k) = keys::parse(st.latest.key, &opts.prefix) else {
            continue;
        };
        let key = String::from_utf8_lossy(st.latest.key).into_owned();
        let d = decode_value(opts, &st.latest);
        let Some(obj) = d.object else {
            unreadable.push((key, d.problem.unwrap_or_default()));
            continue;
        };
        let safe = |s: &str| -> String {
            if s.is_empty() || s == "." || s == ".." {
                format!("_{s}")
            } else {
                s.replace('/', "_")
            }
        };
        let ns = if k.namespace.is_empty() {
            "_cluster".to_string()
        } else {
            safe(k.namespace)
        };
        let dir = tmp.path().join(safe(&k.resource)).join(ns);
        crate::sink::create_dirs(&dir)?;
        let (text, ext) = match format {
            DumpFormat::Yaml => (serde_yaml_ng::to_string(&obj).unwrap_or_default(), "yaml"),
            DumpFormat::Json => {
                let mut s = serde_json::to_string_pretty(&obj).unwrap_or_default();
                s.push('\n');
                (s, "json")
            }
        };
        let file = dir.join(format!("{}.{ext}", safe(k.name)));
        crate::sink::write_file(&file, text.as_bytes(), None, 0o600)?;
        written += 1;
    }
    tmp.commit(out, true)?;
    Ok(DumpReport {
        out: out.to_path_buf(),
        rev,
        written,
        unreadable,
    })
}

/// One difference between two inputs.
#[derive(Debug, Clone, Serialize)]
pub struct DiffRow {
    /// `added` (only in B), `removed` (only in A), `changed`.
    pub change: &'static str,
    /// Resource.
    pub resource: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// For `changed`: the paths that differ (`spec.replicas`, `data.k`),
    /// resourceVersion aside; `(unreadable)` when either side cannot be read.
    pub fields: Vec<String>,
}

/// What `k8s diff` found.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// Revision read in A.
    pub rev_a: i64,
    /// Revision read in B.
    pub rev_b: i64,
    /// Differences, by key.
    pub rows: Vec<DiffRow>,
}

/// The objects added, removed and changed between A and B (each at its
/// `opts.rev`, B at `rev_b`; 0 or None: current), by
/// resource/namespace/name.
pub fn diff(
    a: &Path,
    b: &Path,
    opts: &K8sOptions,
    rev_b: Option<i64>,
    filter: &LsFilter,
) -> Result<DiffReport> {
    let ia = Opened::open(a)?;
    let ib = Opened::open(b)?;
    let (dba, dbb) = (ia.db()?, ib.db()?);
    let want = |k: &ObjectKey<'_>| {
        filter
            .resource
            .as_deref()
            .is_none_or(|r| keys::matches(&k.resource, r))
            && filter.namespace.as_deref().is_none_or(|n| k.namespace == n)
    };
    let (rev_a, _, sa) = states(&ia, &dba, opts, &want, true)?;
    let opts_b = K8sOptions {
        rev: rev_b.unwrap_or(0),
        ..opts.clone()
    };
    let (rev_b, _, sb) = states(&ib, &dbb, &opts_b, &want, true)?;
    let sa: Vec<KeyState<'_>> = sa.into_iter().filter(|s| !s.deleted).collect();
    let sb: Vec<KeyState<'_>> = sb.into_iter().filter(|s| !s.deleted).collect();
    let mut rows = Vec::new();
    let (mut i, mut j) = (0, 0);
    let row = |change, key: &[u8], fields| {
        let k = keys::parse(key, &opts.prefix);
        DiffRow {
            change,
            resource: k.as_ref().map(|k| k.resource.clone()).unwrap_or_default(),
            namespace: k
                .as_ref()
                .map(|k| k.namespace.to_string())
                .unwrap_or_default(),
            name: k.as_ref().map(|k| k.name.to_string()).unwrap_or_default(),
            fields,
        }
    };
    loop {
        let (x, y) = (sa.get(i), sb.get(j));
        match (x, y) {
            (None, None) => break,
            (Some(x), None) => {
                rows.push(row("removed", x.latest.key, Vec::new()));
                i += 1;
            }
            (None, Some(y)) => {
                rows.push(row("added", y.latest.key, Vec::new()));
                j += 1;
            }
            (Some(x), Some(y)) => match x.latest.key.cmp(y.latest.key) {
                std::cmp::Ordering::Less => {
                    rows.push(row("removed", x.latest.key, Vec::new()));
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    rows.push(row("added", y.latest.key, Vec::new()));
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    if x.latest.value != y.latest.value {
                        let (da, db) =
                            (decode_value(opts, &x.latest), decode_value(opts, &y.latest));
                        let fields = match (da.object, db.object) {
                            (Some(mut oa), Some(mut ob)) => {
                                for o in [&mut oa, &mut ob] {
                                    if let Some(Json::Object(m)) = o.get_mut("metadata") {
                                        m.remove("resourceVersion");
                                    }
                                }
                                let mut f = Vec::new();
                                json_diff(&oa, &ob, "", &mut f);
                                f
                            }
                            _ => vec!["(unreadable)".to_string()],
                        };
                        if !fields.is_empty() {
                            rows.push(row("changed", x.latest.key, fields));
                        }
                    }
                    i += 1;
                    j += 1;
                }
            },
        }
    }
    Ok(DiffReport { rev_a, rev_b, rows })
}

/// The paths where `a` and `b` differ (objects by key, everything else whole).
fn json_diff(a: &Json, b: &Json, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Json::Object(ma), Json::Object(mb)) => {
            let mut keys: Vec<&String> = ma.keys().chain(mb.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (ma.get(k), mb.get(k)) {
                    (Some(x), Some(y)) => json_diff(x, y, &p, out),
                    _ => out.push(p),
                }
            }
        }
        _ if a != b => out.push(if path.is_empty() {
            "(whole object)".into()
        } else {
            path.to_string()
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cut and the second pass give what a full sort would: largest
    /// first, ties by name, at most `top`, whatever order the keys come in.
    #[test]
    fn top_lists_match_a_full_sort() {
        let items: Vec<(String, u64)> = (0..200u64)
            .map(|i| {
                (
                    format!("/k/{:03}", (i * 37) % 200),
                    [5, 9, 9, 1, 9][(i % 5) as usize],
                )
            })
            .collect();
        for top in [0, 1, 3, 39, 40, 41, 120, 500] {
            let mut pick = TopPick::new(top_cut(items.iter().map(|i| i.1), top));
            for (n, v) in &items {
                pick.offer(*v, &|| n.clone(), || n.clone());
            }
            let mut want = items.clone();
            want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let want: Vec<String> = want.into_iter().take(top).map(|i| i.0).collect();
            assert_eq!(pick.finish(top), want, "top {top}");
        }
    }
}
