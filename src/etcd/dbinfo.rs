//! Facts from the backend db beyond `snapshot status`: the `meta` keys
//! (consistent index and term, compaction revisions, confState, storage
//! version), cluster version, downgrade info, lease count, auth, alarms.
//!
//! ```text
//! meta/consistent_index      u64 BE    meta/term                u64 BE (3.5+)
//! meta/scheduledCompactRev   17-byte revision key {main, '_', sub}
//! meta/finishedCompactRev    17-byte revision key
//! meta/confState             JSON raftpb.ConfState (3.5+)
//! meta/storageVersion        "3.6.0" (3.6+)
//! cluster/clusterVersion     "3.5.0"   cluster/downgrade  JSON
//! auth/authEnabled           0x01 | 0x00
//! alarm/<AlarmMember proto>  empty value
//! lease/<id u64 BE>          leasepb.Lease
//! ```
//! Source: etcd v3.5.1 `server/mvcc/buckets/bucket.go`, `server/etcdserver/cindex`,
//! `server/mvcc/kvstore.go`, `server/auth/store.go`, `server/etcdserver/api/v3alarm`.

use prost::Message;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::formats::bbolt::Db;
use crate::formats::proto::etcdserverpb::{alarm_name, AlarmMember};

use super::revision::main_of;
use super::schema::{self, meta_key};

/// ConfState as etcd stores it in `meta/confState` (JSON, ids as numbers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct ConfStateJson {
    /// Voters.
    #[serde(default, serialize_with = "super::membership::ser_ids")]
    pub voters: Vec<u64>,
    /// Learners.
    #[serde(default, serialize_with = "super::membership::ser_ids")]
    pub learners: Vec<u64>,
    /// Outgoing voters.
    #[serde(default, serialize_with = "super::membership::ser_ids")]
    pub voters_outgoing: Vec<u64>,
    /// Next learners.
    #[serde(default, serialize_with = "super::membership::ser_ids")]
    pub learners_next: Vec<u64>,
    /// Auto leave.
    #[serde(default)]
    pub auto_leave: Option<bool>,
}

/// An active alarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alarm {
    /// The member that raised it.
    #[serde(serialize_with = "super::membership::ser_id")]
    pub member_id: u64,
    /// `NOSPACE`, `CORRUPT`, ...
    pub alarm: String,
}

/// The facts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DbFacts {
    /// Raft index of the last applied entry.
    pub consistent_index: Option<u64>,
    /// Raft term of the last applied entry (3.5+).
    pub term: Option<u64>,
    /// Compaction scheduled at this revision.
    pub scheduled_compact_revision: Option<i64>,
    /// Compaction finished at this revision.
    pub finished_compact_revision: Option<i64>,
    /// ConfState (3.5+).
    pub conf_state: Option<ConfStateJson>,
    /// Storage version (3.6+).
    pub storage_version: Option<String>,
    /// Cluster version.
    pub cluster_version: Option<String>,
    /// Downgrade info JSON.
    pub downgrade: Option<String>,
    /// Number of leases.
    pub lease_count: u64,
    /// Auth enabled.
    pub auth_enabled: bool,
    /// Auth revision.
    pub auth_revision: Option<u64>,
    /// Number of users.
    pub auth_users: u64,
    /// Number of roles.
    pub auth_roles: u64,
    /// Active alarms.
    pub alarms: Vec<Alarm>,
    /// Values that do not have etcd's encoding.
    pub problems: Vec<String>,
}

fn get<'a>(db: &Db<'a>, bucket: &[u8], key: &[u8]) -> Result<Option<&'a [u8]>> {
    let Some(b) = db.bucket(bucket)? else {
        return Ok(None);
    };
    Ok(b.get(db, key)?.map(|e| e.value))
}

fn count(db: &Db<'_>, bucket: &[u8]) -> Result<u64> {
    let Some(b) = db.bucket(bucket)? else {
        return Ok(0);
    };
    let mut n = 0u64;
    for e in b.cursor(db) {
        e?;
        n = n.saturating_add(1);
    }
    Ok(n)
}

fn u64_be(v: &[u8], what: &str, problems: &mut Vec<String>) -> Option<u64> {
    if v.len() == 8 {
        crate::bytes::u64_be(v, 0)
    } else {
        problems.push(format!("{what} is {} bytes, not 8", v.len()));
        None
    }
}

/// Reads the facts from `db`.
pub fn read(db: &Db<'_>) -> Result<DbFacts> {
    let mut f = DbFacts::default();
    let mut p = Vec::new();
    if let Some(v) = get(db, schema::META, meta_key::CONSISTENT_INDEX)? {
        f.consistent_index = u64_be(v, "meta/consistent_index", &mut p);
    }
    if let Some(v) = get(db, schema::META, meta_key::TERM)? {
        f.term = u64_be(v, "meta/term", &mut p);
    }
    if let Some(v) = get(db, schema::META, meta_key::SCHEDULED_COMPACT_REV)? {
        f.scheduled_compact_revision = main_of(v);
    }
    if let Some(v) = get(db, schema::META, meta_key::FINISHED_COMPACT_REV)? {
        f.finished_compact_revision = main_of(v);
    }
    if let Some(v) = get(db, schema::META, meta_key::CONF_STATE)? {
        match serde_json::from_slice(v) {
            Ok(c) => f.conf_state = Some(c),
            Err(e) => p.push(format!("meta/confState is not ConfState JSON: {e}")),
        }
    }
    if let Some(v) = get(db, schema::META, meta_key::STORAGE_VERSION)? {
        f.storage_version = Some(String::from_utf8_lossy(v).into_owned());
    }
    if let Some(v) = get(db, schema::CLUSTER, b"clusterVersion")? {
        f.cluster_version = Some(String::from_utf8_lossy(v).into_owned());
    }
    if let Some(v) = get(db, schema::CLUSTER, b"downgrade")? {
        f.downgrade = Some(String::from_utf8_lossy(v).into_owned());
    }
    if let Some(v) = get(db, schema::AUTH, b"authEnabled")? {
        f.auth_enabled = v == [1];
    }
    if let Some(v) = get(db, schema::AUTH, b"authRevision")? {
        f.auth_revision = u64_be(v, "auth/authRevision", &mut p);
    }
    f.lease_count = count(db, schema::LEASE)?;
    f.auth_users = count(db, schema::AUTH_USERS)?;
    f.auth_roles = count(db, schema::AUTH_ROLES)?;
    if let Some(b) = db.bucket(schema::ALARM)? {
        for e in b.cursor(db) {
            let e = e?;
            match AlarmMember::decode(e.key) {
                Ok(a) => f.alarms.push(Alarm {
                    member_id: a.member_id,
                    alarm: alarm_name(a.alarm),
                }),
                Err(err) => p.push(format!(
                    "alarm key {} does not decode: {err}",
                    crate::bytes::hex(e.key)
                )),
            }
        }
    }
    f.problems = p;
    Ok(f)
}
