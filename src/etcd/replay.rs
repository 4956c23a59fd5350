//! What replaying committed WAL entries would do to a db: the revision the
//! member reaches. A small model of etcd's MVCC apply: the live keys (with
//! create/mod revision, version, value, lease) and leases are loaded from the
//! db; each v3 request is applied as etcd 3.5 applies it, and every write txn
//! that changes something raises the revision by one (puts always; deletes
//! only when a key was deleted; a txn when its chosen branch changed
//! something; a lease revoke when keys were attached).
//!
//! Approximations (stated in reports): auth permission checks are not
//! evaluated (requests are assumed allowed), and a put to a lease unknown to
//! the model is rejected as etcd rejects it (`lease not found`).
//! Source: etcd v3.5.1 `server/etcdserver/apply.go` (`Put`, `DeleteRange`,
//! `Txn`, `applyCompare`, `LeaseRevoke`), `server/mvcc/kvstore.go` `restore`.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Result;
use crate::formats::bbolt::Db;
use crate::formats::proto::etcdserverpb::{
    Compare, DeleteRangeRequest, InternalRaftRequest, PutRequest, RequestOp, Request_, TargetUnion,
    TxnRequest,
};
use crate::formats::proto::leasepb::Lease;
use crate::formats::proto::KeyValueRef;

use super::revision::{is_tombstone, main_of};
use super::schema;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Kv {
    create: i64,
    modr: i64,
    version: i64,
    value: Vec<u8>,
    lease: i64,
}

/// The model.
#[derive(Debug, Clone, Default)]
pub struct Model {
    keys: BTreeMap<Vec<u8>, Kv>,
    leases: BTreeSet<i64>,
    /// The current revision.
    pub revision: i64,
    /// Writes applied (requests that raised the revision).
    pub writes: u64,
}

impl Model {
    /// Loads live keys, leases and the current revision from `db`.
    pub fn from_db(db: &Db<'_>, compact_revs: &[Option<i64>]) -> Result<Model> {
        let mut m = Model::default();
        if let Some(b) = db.bucket(schema::KEY)? {
            for e in b.cursor(db) {
                let e = e?;
                if let Some(main) = main_of(e.key) {
                    m.revision = m.revision.max(main);
                }
                let Ok(kv) = KeyValueRef::decode(e.value) else {
                    continue;
                };
                if is_tombstone(e.key) {
                    m.keys.remove(kv.key);
                } else {
                    m.keys.insert(
                        kv.key.to_vec(),
                        Kv {
                            create: kv.create_revision,
                            modr: kv.mod_revision,
                            version: kv.version,
                            value: kv.value.to_vec(),
                            lease: kv.lease,
                        },
                    );
                }
            }
        }
        if let Some(b) = db.bucket(schema::LEASE)? {
            use prost::Message;
            for e in b.cursor(db) {
                let e = e?;
                if let Ok(l) = Lease::decode(e.value) {
                    m.leases.insert(l.id);
                }
            }
        }
        for r in compact_revs.iter().flatten() {
            m.revision = m.revision.max(*r);
        }
        Ok(m)
    }

    /// Live keys.
    pub fn key_count(&self) -> u64 {
        crate::bytes::to_u64(self.keys.len())
    }

    fn range_keys(&self, key: &[u8], end: &[u8]) -> Vec<Vec<u8>> {
        if end.is_empty() {
            return self
                .keys
                .get_key_value(key)
                .map(|(k, _)| vec![k.clone()])
                .unwrap_or_default();
        }
        if end == [0] {
            return self
                .keys
                .range(key.to_vec()..)
                .map(|(k, _)| k.clone())
                .collect();
        }
        if key >= end {
            return Vec::new();
        }
        self.keys
            .range(key.to_vec()..end.to_vec())
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn compare(&self, c: &Compare) -> bool {
        let ks = self.range_keys(&c.key, &c.range_end);
        if ks.is_empty() {
            if c.target == 3 {
                return false;
            }
            return compare_kv(c, &Kv::default());
        }
        ks.iter()
            .all(|k| self.keys.get(k).is_some_and(|kv| compare_kv(c, kv)))
    }

    fn put_ok(&self, p: &PutRequest) -> bool {
        let cur = self.keys.get(&p.key);
        if (p.ignore_value || p.ignore_lease) && cur.is_none() {
            return false;
        }
        let lease = if p.ignore_lease { 0 } else { p.lease };
        lease == 0 || self.leases.contains(&lease)
    }

    fn put(&mut self, p: &PutRequest, rev: i64) {
        let cur = self.keys.get(&p.key).cloned();
        let value = match (&cur, p.ignore_value) {
            (Some(c), true) => c.value.clone(),
            _ => p.value.clone(),
        };
        let lease = match (&cur, p.ignore_lease) {
            (Some(c), true) => c.lease,
            _ => p.lease,
        };
        let (create, version) = match &cur {
            Some(c) => (c.create, c.version.saturating_add(1)),
            None => (rev, 1),
        };
        self.keys.insert(
            p.key.clone(),
            Kv {
                create,
                modr: rev,
                version,
                value,
                lease,
            },
        );
    }

    fn delete(&mut self, d: &DeleteRangeRequest) -> bool {
        let ks = self.range_keys(&d.key, &d.range_end);
        for k in &ks {
            self.keys.remove(k);
        }
        !ks.is_empty()
    }

    fn ops_ok(&self, ops: &[RequestOp], depth: u32) -> bool {
        ops.iter().all(|op| match &op.request {
            Some(Request_::RequestPut(p)) => self.put_ok(p),
            Some(Request_::RequestTxn(t)) => depth < 64 && self.txn_ok(t, depth + 1),
            _ => true,
        })
    }

    fn txn_ok(&self, t: &TxnRequest, depth: u32) -> bool {
        self.ops_ok(&t.success, depth) && self.ops_ok(&t.failure, depth)
    }

    /// Applies a txn's chosen branch; returns whether anything changed.
    fn txn(&mut self, t: &TxnRequest, rev: i64, depth: u32) -> bool {
        let ok = t.compare.iter().all(|c| self.compare(c));
        let ops = if ok { &t.success } else { &t.failure };
        let mut changed = false;
        for op in ops {
            match &op.request {
                Some(Request_::RequestPut(p)) => {
                    self.put(p, rev);
                    changed = true;
                }
                Some(Request_::RequestDeleteRange(d)) => changed |= self.delete(d),
                Some(Request_::RequestTxn(inner)) if depth < 64 => {
                    changed |= self.txn(inner, rev, depth + 1);
                }
                _ => {}
            }
        }
        changed
    }

    /// Applies one request; returns whether the revision went up.
    pub fn apply(&mut self, irr: &InternalRaftRequest) -> bool {
        let next = self.revision.saturating_add(1);
        let changed = if let Some(p) = &irr.put {
            if self.put_ok(p) {
                self.put(p, next);
                true
            } else {
                false
            }
        } else if let Some(d) = &irr.delete_range {
            self.delete(d)
        } else if let Some(t) = &irr.txn {
            if self.txn_ok(t, 0) {
                self.txn(t, next, 0)
            } else {
                false
            }
        } else if let Some(g) = &irr.lease_grant {
            self.leases.insert(g.id);
            false
        } else if let Some(r) = &irr.lease_revoke {
            self.leases.remove(&r.id);
            let attached: Vec<Vec<u8>> = self
                .keys
                .iter()
                .filter(|(_, v)| v.lease == r.id)
                .map(|(k, _)| k.clone())
                .collect();
            for k in &attached {
                self.keys.remove(k);
            }
            !attached.is_empty()
        } else {
            false
        };
        if changed {
            self.revision = next;
            self.writes = self.writes.saturating_add(1);
        }
        changed
    }
}

fn compare_kv(c: &Compare, kv: &Kv) -> bool {
    use std::cmp::Ordering;
    let ord = match (&c.target_union, c.target) {
        (Some(TargetUnion::Value(v)), _) => kv.value.as_slice().cmp(v.as_slice()),
        (Some(TargetUnion::CreateRevision(v)), _) => kv.create.cmp(v),
        (Some(TargetUnion::ModRevision(v)), _) => kv.modr.cmp(v),
        (Some(TargetUnion::Version(v)), _) => kv.version.cmp(v),
        (Some(TargetUnion::Lease(v)), _) => kv.lease.cmp(v),
        (None, 0) => kv.version.cmp(&0),
        (None, 1) => kv.create.cmp(&0),
        (None, 2) => kv.modr.cmp(&0),
        (None, 3) => kv.value.as_slice().cmp(&[][..]),
        (None, 4) => kv.lease.cmp(&0),
        (None, _) => return false,
    };
    match c.result {
        0 => ord == Ordering::Equal,
        1 => ord == Ordering::Greater,
        2 => ord == Ordering::Less,
        3 => ord != Ordering::Equal,
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn put(k: &str) -> InternalRaftRequest {
        InternalRaftRequest {
            put: Some(PutRequest {
                key: k.into(),
                value: b"v".to_vec(),
                ..PutRequest::default()
            }),
            ..InternalRaftRequest::default()
        }
    }

    #[test]
    fn revisions_follow_etcd() {
        let mut m = Model {
            revision: 10,
            ..Model::default()
        };
        assert!(m.apply(&put("a")));
        assert!(m.apply(&put("a")));
        assert_eq!(m.revision, 12);
        let del = |k: &str| InternalRaftRequest {
            delete_range: Some(DeleteRangeRequest {
                key: k.into(),
                ..DeleteRangeRequest::default()
            }),
            ..InternalRaftRequest::default()
        };
        assert!(!m.apply(&del("zz")));
        assert!(m.apply(&del("a")));
        assert_eq!(m.revision, 13);
        // txn: mod("b") > 0 fails on a missing key (mod 0), failure branch empty.
        let txn = InternalRaftRequest {
            txn: Some(TxnRequest {
                compare: vec![Compare {
                    result: 1,
                    target: 2,
                    key: b"b".to_vec(),
                    target_union: Some(TargetUnion::ModRevision(0)),
                    range_end: Vec::new(),
                }],
                success: vec![RequestOp {
                    request: Some(Request_::RequestPut(PutRequest {
                        key: b"b".to_vec(),
                        ..PutRequest::default()
                    })),
                }],
                failure: Vec::new(),
            }),
            ..InternalRaftRequest::default()
        };
        assert!(!m.apply(&txn));
        assert!(m.apply(&put("b")));
        assert!(m.apply(&txn));
        assert_eq!(m.revision, 15);
        let lput = InternalRaftRequest {
            put: Some(PutRequest {
                key: b"l".to_vec(),
                lease: 7,
                ..PutRequest::default()
            }),
            ..InternalRaftRequest::default()
        };
        assert!(!m.apply(&lput)); // lease 7 unknown
    }
}
