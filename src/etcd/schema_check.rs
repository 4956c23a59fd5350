//! Semantic checks of etcd's backend: does every bucket hold what etcd wrote?
//!
//! Runs as a [`Visitor`] of the shared walk (so in the same pass as the bbolt
//! check and the status hash) and reports [`Finding`]s with stable codes:
//!
//! | code | what |
//! |---|---|
//! | `etcd.key.bad-revision-key` | a `key` bucket key is not a 17/18-byte revision key |
//! | `etcd.key.negative-revision` | a revision below 0 (3.6 refuses to start) |
//! | `etcd.key.bad-value` | a value does not decode as `mvccpb.KeyValue` |
//! | `etcd.key.inconsistent` | mod_revision ≠ the key's revision, create > mod, version < 1, empty key |
//! | `etcd.key.bad-tombstone` | a tombstone value holds more than the key |
//! | `etcd.meta.*` | missing or malformed `consistent_index`, `term`, compaction marks, `confState` |
//! | `etcd.members.*`, `etcd.lease.*`, `etcd.auth.*`, `etcd.alarm.*`, `etcd.cluster.*` | undecodable records |
//! | `etcd.alarm.active` | an alarm (NOSPACE, CORRUPT) is raised: it survives a restore |
//!
//! Source: etcd `server/mvcc/kvstore.go` (`restore`), `key_index.go`,
//! `server/etcdserver/api/membership/member.go`, `server/lease/lessor.go`,
//! `server/auth/store.go`, `server/etcdserver/api/v3alarm/alarms.go` (3.5).

use serde::Serialize;

use crate::bytes::{hex, u64_be};
use crate::error::{Finding, Location, Severity};
use crate::formats::bbolt::Visitor;
use crate::formats::proto::wire::{self, Fields, Value};
use crate::formats::proto::KeyValueRef;

use super::revision;
use super::schema::{self, meta_key};
use super::version::Version;

/// Most findings of one code listed; the rest are counted.
const MAX_PER_CODE: usize = 20;

/// Facts gathered while checking (what `inspect` also shows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DbFacts {
    /// meta/consistent_index.
    pub consistent_index: Option<u64>,
    /// meta/term.
    pub term: Option<u64>,
    /// meta/scheduledCompactRev.
    pub scheduled_compact_revision: Option<i64>,
    /// meta/finishedCompactRev.
    pub finished_compact_revision: Option<i64>,
    /// meta/storageVersion.
    pub storage_version: Option<String>,
    /// cluster/clusterVersion.
    pub cluster_version: Option<String>,
    /// First and last main revision in `key`.
    pub first_revision: Option<i64>,
    /// Last main revision in `key`.
    pub last_revision: Option<i64>,
    /// Entries in `key` (all revisions).
    pub key_entries: u64,
    /// Tombstones in `key`.
    pub tombstones: u64,
    /// Leases in `lease`.
    pub leases: u64,
    /// auth/authEnabled.
    pub auth_enabled: Option<bool>,
    /// Active alarms as `ALARM@memberhex`.
    pub alarms: Vec<String>,
    /// Member ids (hex) in `members`.
    pub members: Vec<String>,
    /// Member ids (hex) in `members_removed`.
    pub members_removed: Vec<String>,
}

/// The semantic checker (a walk visitor).
#[derive(Debug, Default)]
pub struct SchemaCheck {
    bucket: BucketKind,
    /// Facts found.
    pub facts: DbFacts,
    /// Findings, in walk order.
    pub findings: Vec<Finding>,
    /// How many findings of each code were not listed.
    pub suppressed: Vec<(&'static str, u64)>,
    counts: Vec<(&'static str, usize)>,
}

fn bucket_name(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The etcd buckets this check understands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum BucketKind {
    Key,
    Meta,
    Members,
    MembersRemoved,
    Lease,
    Alarm,
    Auth,
    AuthUsers,
    AuthRoles,
    Cluster,
    #[default]
    Other,
}

impl BucketKind {
    fn of(name: &[u8]) -> BucketKind {
        match name {
            schema::KEY => BucketKind::Key,
            schema::META => BucketKind::Meta,
            schema::MEMBERS => BucketKind::Members,
            schema::MEMBERS_REMOVED => BucketKind::MembersRemoved,
            schema::LEASE => BucketKind::Lease,
            schema::ALARM => BucketKind::Alarm,
            schema::AUTH => BucketKind::Auth,
            schema::AUTH_USERS => BucketKind::AuthUsers,
            schema::AUTH_ROLES => BucketKind::AuthRoles,
            schema::CLUSTER => BucketKind::Cluster,
            _ => BucketKind::Other,
        }
    }
}

impl SchemaCheck {
    fn find(&mut self, severity: Severity, code: &'static str, message: String) {
        let n = match self.counts.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.counts.push((code, 1));
                1
            }
        };
        if n > MAX_PER_CODE {
            match self.suppressed.iter_mut().find(|(c, _)| *c == code) {
                Some((_, k)) => *k += 1,
                None => self.suppressed.push((code, 1)),
            }
            return;
        }
        self.findings.push(Finding {
            code,
            severity,
            at: Location::default(),
            message,
        });
    }

    fn error(&mut self, code: &'static str, message: String) {
        self.find(Severity::Error, code, message);
    }

    fn key_entry(&mut self, k: &[u8], v: Option<&[u8]>) {
        self.facts.key_entries += 1;
        let rk = match revision::parse(k) {
            Ok(r) => r,
            Err(e) => {
                self.error(
                    "etcd.key.bad-revision-key",
                    format!("key bucket key {}: {e}", hex(k)),
                );
                return;
            }
        };
        let main = rk.rev.main;
        if main < 0 || rk.rev.sub < 0 {
            self.error(
                "etcd.key.negative-revision",
                format!("key bucket key {}: negative revision {}", hex(k), rk.rev),
            );
        }
        if self.facts.first_revision.is_none() {
            self.facts.first_revision = Some(main);
        }
        self.facts.last_revision = Some(main);
        let Some(v) = v else {
            self.error(
                "etcd.key.bad-value",
                format!("revision {}: a nested bucket, not a KeyValue", rk.rev),
            );
            return;
        };
        let kv = match KeyValueRef::decode(v) {
            Ok(kv) => kv,
            Err(e) => {
                self.error(
                    "etcd.key.bad-value",
                    format!("revision {}: value is not a KeyValue: {e}", rk.rev),
                );
                return;
            }
        };
        if rk.tombstone {
            self.facts.tombstones += 1;
            if kv.key.is_empty() || kv.mod_revision != 0 || !kv.value.is_empty() {
                self.error(
                    "etcd.key.bad-tombstone",
                    format!(
                        "revision {}: tombstone value holds more than the key",
                        rk.rev
                    ),
                );
            }
            return;
        }
        if v.is_empty() {
            // The marker `etcdutl snapshot restore --bump-revision` writes: an empty value.
            return;
        }
        let mut problems = Vec::new();
        if kv.key.is_empty() {
            problems.push("empty key".to_string());
        }
        if kv.mod_revision != main {
            problems.push(format!(
                "mod_revision {} is not the key's revision",
                kv.mod_revision
            ));
        }
        if kv.create_revision > kv.mod_revision || kv.create_revision <= 0 {
            problems.push(format!(
                "create_revision {} is not in 1..={}",
                kv.create_revision, kv.mod_revision
            ));
        }
        if kv.version < 1 {
            problems.push(format!("version {} is below 1", kv.version));
        }
        if !problems.is_empty() {
            self.error(
                "etcd.key.inconsistent",
                format!(
                    "revision {} (key {:?}): {}",
                    rk.rev,
                    String::from_utf8_lossy(kv.key),
                    problems.join(", ")
                ),
            );
        }
    }

    fn meta_entry(&mut self, k: &[u8], v: &[u8]) {
        let u64_of = |v: &[u8]| if v.len() == 8 { u64_be(v, 0) } else { None };
        let rev_of = |v: &[u8]| {
            revision::parse(v)
                .ok()
                .filter(|r| !r.tombstone)
                .map(|r| r.rev.main)
        };
        match k {
            meta_key::CONSISTENT_INDEX => match u64_of(v) {
                Some(x) => self.facts.consistent_index = Some(x),
                None => self.error(
                    "etcd.meta.bad-value",
                    format!("meta/consistent_index is {} bytes, not 8", v.len()),
                ),
            },
            meta_key::TERM => match u64_of(v) {
                Some(x) => self.facts.term = Some(x),
                None => self.error(
                    "etcd.meta.bad-value",
                    format!("meta/term is {} bytes, not 8", v.len()),
                ),
            },
            meta_key::SCHEDULED_COMPACT_REV => match rev_of(v) {
                Some(r) => self.facts.scheduled_compact_revision = Some(r),
                None => self.error(
                    "etcd.meta.bad-value",
                    format!("meta/scheduledCompactRev is not a revision: {}", hex(v)),
                ),
            },
            meta_key::FINISHED_COMPACT_REV => match rev_of(v) {
                Some(r) => self.facts.finished_compact_revision = Some(r),
                None => self.error(
                    "etcd.meta.bad-value",
                    format!("meta/finishedCompactRev is not a revision: {}", hex(v)),
                ),
            },
            meta_key::CONF_STATE
                if !serde_json::from_slice::<serde_json::Value>(v).is_ok_and(|j| j.is_object()) =>
            {
                self.error(
                    "etcd.meta.bad-value",
                    "meta/confState is not a JSON object".to_string(),
                );
            }
            meta_key::STORAGE_VERSION => {
                let s = String::from_utf8_lossy(v).into_owned();
                if Version::parse(&s).is_none() {
                    self.error(
                        "etcd.meta.bad-value",
                        format!("meta/storageVersion {s:?} is not a version"),
                    );
                }
                self.facts.storage_version = Some(s);
            }
            _ => {}
        }
    }

    fn member_entry(&mut self, removed: bool, k: &[u8], v: &[u8]) {
        let id_hex = String::from_utf8_lossy(k).into_owned();
        let id = u64::from_str_radix(&id_hex, 16).ok();
        if id.is_none() {
            self.error(
                "etcd.members.bad-id",
                format!("member key {id_hex:?} is not a hex id"),
            );
        }
        if removed {
            self.facts.members_removed.push(id_hex);
            if v != b"removed" {
                self.error(
                    "etcd.members.bad-value",
                    "members_removed value is not \"removed\"".into(),
                );
            }
            return;
        }
        match serde_json::from_slice::<serde_json::Value>(v) {
            Ok(j) => {
                let json_id = j.get("id").and_then(serde_json::Value::as_u64);
                if json_id.is_none() || json_id != id {
                    self.error(
                        "etcd.members.bad-value",
                        format!("member {id_hex}: JSON id {json_id:?} does not match the key"),
                    );
                }
            }
            Err(e) => self.error(
                "etcd.members.bad-value",
                format!("member {id_hex}: not JSON: {e}"),
            ),
        }
        self.facts.members.push(id_hex);
    }

    fn lease_entry(&mut self, k: &[u8], v: &[u8]) {
        self.facts.leases += 1;
        let key_id = if k.len() == 8 { u64_be(k, 0) } else { None };
        let mut id = None;
        let ok = Fields::new(v).all(|f| match f {
            Ok((1, Value::Varint(x))) => {
                id = Some(x);
                true
            }
            Ok((1, _)) | Ok((2, Value::Bytes(_))) | Ok((3, Value::Bytes(_))) | Err(_) => false,
            Ok(_) => true,
        });
        if key_id.is_none() || !ok || id.unwrap_or(0) != key_id.unwrap_or(0) {
            self.error(
                "etcd.lease.bad-record",
                format!(
                    "lease key {}: not an 8-byte id with a matching leasepb.Lease",
                    hex(k)
                ),
            );
        }
    }

    fn alarm_entry(&mut self, k: &[u8]) {
        let (mut member, mut alarm) = (0u64, 0u64);
        for f in Fields::new(k) {
            match f {
                Ok((1, v)) => member = wire::varint(1, v).unwrap_or(0),
                Ok((2, v)) => alarm = wire::varint(2, v).unwrap_or(0),
                Ok(_) => {}
                Err(e) => {
                    self.error(
                        "etcd.alarm.bad-record",
                        format!("alarm key {}: {e}", hex(k)),
                    );
                    return;
                }
            }
        }
        let name = match alarm {
            1 => "NOSPACE",
            2 => "CORRUPT",
            0 => "NONE",
            _ => "UNKNOWN",
        };
        self.facts.alarms.push(format!("{name}@{member:x}"));
        self.find(
            Severity::Warning,
            "etcd.alarm.active",
            format!(
                "alarm {name} raised by member {member:x}: it is kept by a restore; disarm it (etcdctl alarm disarm) once the cause is fixed"
            ),
        );
    }

    /// Whole-db checks after the walk.
    pub fn finish(&mut self, had_key_bucket: bool, had_meta_bucket: bool) {
        if !had_key_bucket {
            self.error(
                "etcd.schema.missing-bucket",
                "no `key` bucket: this is not an etcd v3 backend".into(),
            );
        }
        if !had_meta_bucket {
            self.error(
                "etcd.schema.missing-bucket",
                "no `meta` bucket: this is not an etcd v3 backend".into(),
            );
        }
        if had_meta_bucket && self.facts.consistent_index.is_none() {
            self.find(
                Severity::Warning,
                "etcd.meta.missing",
                "meta/consistent_index is missing: etcd will replay the whole WAL on start".into(),
            );
        }
        let last = self.facts.last_revision.unwrap_or(0);
        if let (Some(s), Some(f)) = (
            self.facts.scheduled_compact_revision,
            self.facts.finished_compact_revision,
        ) {
            if f > s {
                self.error(
                    "etcd.meta.compaction",
                    format!("finishedCompactRev {f} is beyond scheduledCompactRev {s}"),
                );
            } else if s > f {
                self.find(
                    Severity::Info,
                    "etcd.meta.compaction-pending",
                    format!("a compaction at revision {s} was scheduled and not finished (last finished: {f}); etcd finishes it on start"),
                );
            }
        }
        for (name, r) in [
            ("finishedCompactRev", self.facts.finished_compact_revision),
            ("scheduledCompactRev", self.facts.scheduled_compact_revision),
        ] {
            if let Some(r) = r {
                if r > last && self.facts.key_entries > 0 {
                    self.error(
                        "etcd.meta.compaction",
                        format!("{name} {r} is beyond the last revision {last} in the key bucket"),
                    );
                }
            }
        }
    }
}

impl<'a> Visitor<'a> for SchemaCheck {
    fn top_level(&mut self, name: &'a [u8], is_bucket: bool) {
        self.bucket = BucketKind::of(name);
        if !is_bucket {
            self.error(
                "etcd.schema.plain-top-level-key",
                format!("top-level key {:?} is not a bucket", bucket_name(name)),
            );
        }
    }

    fn entry(&mut self, k: &'a [u8], v: Option<&'a [u8]>) {
        let value = v.unwrap_or(&[]);
        match self.bucket {
            BucketKind::Key => self.key_entry(k, v),
            BucketKind::Meta => self.meta_entry(k, value),
            BucketKind::Members => self.member_entry(false, k, value),
            BucketKind::MembersRemoved => self.member_entry(true, k, value),
            BucketKind::Lease => self.lease_entry(k, value),
            BucketKind::Alarm => self.alarm_entry(k),
            BucketKind::Auth => match k {
                b"authEnabled" => match value {
                    [0] => self.facts.auth_enabled = Some(false),
                    [1] => self.facts.auth_enabled = Some(true),
                    _ => self.error(
                        "etcd.auth.bad-value",
                        "auth/authEnabled is not one byte 0 or 1".into(),
                    ),
                },
                b"authRevision" if value.len() != 8 => {
                    self.error(
                        "etcd.auth.bad-value",
                        "auth/authRevision is not 8 bytes".into(),
                    );
                }
                _ => {}
            },
            BucketKind::AuthUsers | BucketKind::AuthRoles => {
                if let Some(Err(e)) = Fields::new(value).find(Result::is_err) {
                    self.error(
                        "etcd.auth.bad-record",
                        format!(
                            "auth record {:?}: not a protobuf record: {e}",
                            String::from_utf8_lossy(k)
                        ),
                    );
                }
            }
            BucketKind::Cluster if k == b"clusterVersion" => {
                let s = String::from_utf8_lossy(value).into_owned();
                if Version::parse(&s).is_none() {
                    self.error(
                        "etcd.cluster.bad-value",
                        format!("cluster/clusterVersion {s:?} is not a version"),
                    );
                }
                self.facts.cluster_version = Some(s);
            }
            BucketKind::Cluster | BucketKind::Other => {}
        }
    }

    fn fork(&self) -> Self {
        SchemaCheck {
            bucket: self.bucket,
            ..SchemaCheck::default()
        }
    }

    fn join(&mut self, later: Self) {
        let f = &mut self.facts;
        let l = later.facts;
        f.consistent_index = l.consistent_index.or(f.consistent_index);
        f.term = l.term.or(f.term);
        f.scheduled_compact_revision = l
            .scheduled_compact_revision
            .or(f.scheduled_compact_revision);
        f.finished_compact_revision = l.finished_compact_revision.or(f.finished_compact_revision);
        f.storage_version = l.storage_version.or(f.storage_version.take());
        f.cluster_version = l.cluster_version.or(f.cluster_version.take());
        f.first_revision = f.first_revision.or(l.first_revision);
        f.last_revision = l.last_revision.or(f.last_revision);
        f.key_entries += l.key_entries;
        f.tombstones += l.tombstones;
        f.leases += l.leases;
        f.auth_enabled = l.auth_enabled.or(f.auth_enabled);
        f.alarms.extend(l.alarms);
        f.members.extend(l.members);
        f.members_removed.extend(l.members_removed);
        for fd in later.findings {
            self.find(fd.severity, fd.code, fd.message);
        }
        for (code, n) in later.suppressed {
            match self.suppressed.iter_mut().find(|(c, _)| *c == code) {
                Some((_, k)) => *k += n,
                None => self.suppressed.push((code, n)),
            }
        }
    }
}
