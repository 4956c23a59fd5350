//! What replaying committed WAL entries does to a db, as etcd 3.5's apply
//! loop does it: the revision the member reaches and, when recording, the
//! backend records the replay writes.
//!
//! The model holds the live keys (create/mod revision, version, value,
//! lease), the leases (TTL, remaining TTL), the alarms and the compact
//! revision, loaded from the db. Keys and values stay views into the db's
//! mapping: the heap grows with the number of live keys (about 130 bytes
//! each with the map's nodes), not with their values; only what the replay
//! puts is copied. Each v3 request is applied as etcd applies it; every
//! write txn that changes something raises the revision by one (puts
//! always; deletes only when a key was deleted; a txn when its chosen branch
//! changed something; a lease revoke when keys were attached).
//!
//! What a recorded replay yields ([`Changes`]), in backend terms:
//! ```text
//! key      | main (8, BE) | '_' | sub (8, BE) | ['t'] |  →  mvccpb.KeyValue
//!          put: KeyValue{key, create, mod, version, value, lease}
//!          delete: the 18-byte key with 't', value KeyValue{key}
//!          sub = index of the change inside its txn (puts and deleted keys)
//!          compaction at R: every record with main ≤ R removed except, per
//!          user key, its newest record ≤ R when that is a put
//! lease    int64 id (8, BE)  →  leasepb.Lease{ID, TTL, RemainingTTL};
//!          grant puts (TTL raised to the minimum 2 s), revoke deletes,
//!          checkpoint rewrites RemainingTTL only when the cluster version
//!          is 3.6 or newer (etcd's `shouldPersistCheckpoints`)
//! meta     scheduledCompactRev = finishedCompactRev = {R, 0} after a compaction
//! alarm    AlarmMember bytes → "" (activate puts, deactivate deletes)
//! cluster  clusterVersion = the version set
//! authUsers name → authpb.User{name, password (the request's base64
//!          bcrypt hash, decoded; from etcd < 3.5, the request's password
//!          hashed here), roles (sorted), options}
//! authRoles name → authpb.Role{name, keyPermission (sorted by key)}
//! auth     authRevision (u64 BE) + 1 per auth change that changed something
//! ```
//! Rules followed: a txn's compares (nested ones too) are evaluated before
//! any of its ops, and only the chosen branches are checked (`checkRequests`:
//! a put needing a missing key or lease, a range at a future or compacted
//! revision fails the whole txn); lease revoke deletes the attached keys in
//! key order in one txn; a NOSPACE alarm refuses puts, lease grants and txns
//! with a put (`applierV3Capped`), a CORRUPT alarm refuses every write.
//!
//! Auth: user add/delete, password change, role add/delete, grant and revoke
//! of roles and permissions are applied as etcd 3.5's auth store does
//! (`UserAdd`, `UserDelete`, `UserChangePassword`, `UserGrantRole`,
//! `UserRevokeRole`, `RoleAdd`, `RoleDelete` (which also revokes the role from
//! every user), `RoleGrantPermission`, `RoleRevokePermission`,
//! `commitRevision`), with the same refusals (missing user or role, nothing
//! to revoke, root while auth is enabled).
//! A user added or a password changed by etcd < 3.5 carries the password,
//! which etcd bcrypt-hashes at apply with a random salt: hashed here the same
//! way (counted in [`Changes::passwords_hashed`]).
//! Auth enable (root user with the root role required) and disable as
//! `AuthEnable`/`AuthDisable` (etcd commits the backend on them, so they are
//! rarely past the db).
//! Not modelled (counted in [`Changes::not_applied`]): downgrade info; auth permission checks are not evaluated (requests are
//! assumed allowed). Membership changes and
//! v2 requests are left out on purpose: restore writes a new membership.
//! Source: etcd v3.5.36 `server/etcdserver/apply.go` (`Put`, `DeleteRange`,
//! `Txn`, `compareToPath`, `checkRequests`, `applyCompare`, `Compaction`,
//! `LeaseGrant`, `LeaseCheckpoint`), `server/lease/lessor.go` (`Grant`,
//! `Revoke`, `Checkpoint`, `persistTo`), `server/mvcc/kvstore.go`
//! (`restore`, `updateCompactRev`), `kvstore_txn.go` (`put`, `delete`),
//! `kvstore_compaction.go`, `key_index.go` (`compact`), `apply.go`
//! `applierV3Capped`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use prost::Message;

use crate::error::Result;
use crate::formats::bbolt::Db;
use crate::formats::proto::authpb::{Permission, Role, User};
use crate::formats::proto::etcdserverpb::{
    AlarmMember, Compare, DeleteRangeRequest, InternalRaftRequest, PutRequest, RequestOp, Request_,
    TargetUnion, TxnRequest,
};
use crate::formats::proto::leasepb::Lease;
use crate::formats::proto::KeyValueRef;

use super::restore::{BucketEdits, Overlay};
use super::revision::{self, is_tombstone, main_of, Revision};
use super::schema;

/// The root user and role, which auth protects while enabled.
const ROOT: &str = "root";
/// etcd's default `--bcrypt-cost` (Go's `bcrypt.DefaultCost`).
const BCRYPT_COST: u32 = 10;

/// etcd's `lease.MaxLeaseTTL` (seconds).
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;
/// etcd's minimum lease TTL with the default `--election-timeout 1000`
/// and `--heartbeat-interval 100`: ceil(3 × 10 ticks / 2 × 100 ms) = 2 s.
pub const MIN_LEASE_TTL: i64 = 2;
/// `AlarmType_NOSPACE`.
const ALARM_NOSPACE: i32 = 1;
/// `AlarmType_CORRUPT`.
const ALARM_CORRUPT: i32 = 2;
/// Nested txns deeper than this are not applied (etcd has no such txns:
/// prost's own decoding limit is 100).
const MAX_TXN_DEPTH: u32 = 64;

/// A live key's state. The value is a view into the db's mapping for keys
/// loaded from the db, owned only for what the replay puts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Kv<'db> {
    create: i64,
    modr: i64,
    version: i64,
    value: Cow<'db, [u8]>,
    lease: i64,
}

/// The backend records a recorded replay writes, to lay over the db's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// New `key` bucket records in revision order: (revision key, KeyValue bytes).
    pub key_records: Vec<(Vec<u8>, Vec<u8>)>,
    /// Leases granted or changed (`Some`, the `lease` bucket value) and
    /// revoked (`None`), by id.
    pub leases: BTreeMap<i64, Option<Vec<u8>>>,
    /// The newest compaction applied, if any.
    pub compaction: Option<i64>,
    /// Alarm keys activated (`true`) or deactivated (`false`).
    pub alarms: BTreeMap<Vec<u8>, bool>,
    /// `cluster` bucket keys set.
    pub cluster: BTreeMap<Vec<u8>, Vec<u8>>,
    /// `auth`, `authUsers`, `authRoles` keys set (`Some`) or deleted
    /// (`None`), by bucket.
    pub auth: BTreeMap<&'static [u8], BucketEdits>,
    /// Requests the model does not apply, by kind.
    pub not_applied: BTreeMap<&'static str, u64>,
    /// Passwords sent by etcd < 3.5 and bcrypt-hashed here, as etcd does at
    /// apply (a fresh salt: another hash of the same password).
    pub passwords_hashed: u64,
    /// Requests etcd refuses at apply (lease not found, future revision,
    /// NOSPACE, ...): applied as no-ops, as etcd does, by kind.
    pub refused: BTreeMap<&'static str, u64>,
}

/// The model. Keys and values loaded from the db are views into its
/// mapping (`'db`): the heap holds per live key its revisions, version,
/// lease and two slices, never the key or value bytes; only what the replay
/// puts is owned.
#[derive(Debug, Clone, Default)]
pub struct Model<'db> {
    keys: BTreeMap<Cow<'db, [u8]>, Kv<'db>>,
    leases: BTreeMap<i64, Lease>,
    /// Active alarms: (member, type).
    alarms: BTreeMap<(u64, i32), ()>,
    /// The current revision.
    pub revision: i64,
    /// `compactMainRev`: the newest compaction scheduled (-1 for none).
    pub compact_revision: i64,
    /// Writes applied (requests that raised the revision).
    pub writes: u64,
    /// Lease checkpoints are persisted (cluster version 3.6 or newer).
    pub persist_checkpoints: bool,
    /// `auth/authEnabled`: as the db holds it, then as replayed entries set it.
    pub auth_enabled: bool,
    /// Auth was enabled at some point (in the db or by a replayed entry):
    /// the permission checks etcd makes while it is on were not evaluated.
    pub auth_was_enabled: bool,
    /// `auth/authRevision`.
    auth_revision: u64,
    users: BTreeMap<Vec<u8>, User>,
    roles: BTreeMap<Vec<u8>, Role>,
    changes: Option<Changes>,
}

/// One write txn: its revision and the changes made so far.
struct Tx {
    rev: i64,
    sub: i64,
}

fn encode_kv(key: &[u8], kv: &Kv<'_>) -> Vec<u8> {
    use prost::encoding::{encode_key, encode_varint, int64, WireType};
    // prost's `bytes::encode`, from a slice: no copy of the key or value.
    fn bytes_field(tag: u32, v: &[u8], b: &mut Vec<u8>) {
        encode_key(tag, WireType::LengthDelimited, b);
        encode_varint(crate::bytes::to_u64(v.len()), b);
        b.extend_from_slice(v);
    }
    let mut b = Vec::with_capacity(key.len() + kv.value.len() + 24);
    if !key.is_empty() {
        bytes_field(1, key, &mut b);
    }
    for (tag, v) in [(2u32, kv.create), (3, kv.modr), (4, kv.version)] {
        if v != 0 {
            int64::encode(tag, &v, &mut b);
        }
    }
    if !kv.value.is_empty() {
        bytes_field(5, &kv.value, &mut b);
    }
    if kv.lease != 0 {
        int64::encode(6, &kv.lease, &mut b);
    }
    b
}

/// The `lease` bucket key of lease `id`.
pub fn lease_key(id: i64) -> [u8; 8] {
    id.to_be_bytes()
}

impl<'db> Model<'db> {
    /// Loads live keys, leases, alarms, the compact revision and the current
    /// revision from `db`. `compact_revs`: the scheduled and finished compact
    /// revisions (`meta`), when known. Keys and values stay views into `db`.
    pub fn from_db(db: &Db<'db>, compact_revs: &[Option<i64>]) -> Result<Model<'db>> {
        let mut m = Model {
            compact_revision: -1,
            ..Model::default()
        };
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
                        Cow::Borrowed(kv.key),
                        Kv {
                            create: kv.create_revision,
                            modr: kv.mod_revision,
                            version: kv.version,
                            value: Cow::Borrowed(kv.value),
                            lease: kv.lease,
                        },
                    );
                }
            }
        }
        if let Some(b) = db.bucket(schema::LEASE)? {
            for e in b.cursor(db) {
                let e = e?;
                if let Ok(l) = Lease::decode(e.value) {
                    m.leases.insert(l.id, l);
                }
            }
        }
        if let Some(b) = db.bucket(schema::ALARM)? {
            for e in b.cursor(db) {
                let e = e?;
                if let Ok(a) = AlarmMember::decode(e.key) {
                    m.alarms.insert((a.member_id, a.alarm), ());
                }
            }
        }
        if let Some(b) = db.bucket(schema::CLUSTER)? {
            if let Some(v) = b.get(db, b"clusterVersion")? {
                m.persist_checkpoints = at_least_3_6(v.value);
            }
        }
        if let Some(b) = db.bucket(schema::AUTH)? {
            m.auth_enabled = b.get(db, b"authEnabled")?.is_some_and(|e| e.value == [1]);
            m.auth_was_enabled = m.auth_enabled;
            if let Some(e) = b.get(db, b"authRevision")? {
                m.auth_revision = crate::bytes::u64_be(e.value, 0).unwrap_or(0);
            }
        }
        if let Some(b) = db.bucket(schema::AUTH_USERS)? {
            for e in b.cursor(db) {
                let e = e?;
                if let Ok(u) = User::decode(e.value) {
                    m.users.insert(e.key.to_vec(), u);
                }
            }
        }
        if let Some(b) = db.bucket(schema::AUTH_ROLES)? {
            for e in b.cursor(db) {
                let e = e?;
                if let Ok(r) = Role::decode(e.value) {
                    m.roles.insert(e.key.to_vec(), r);
                }
            }
        }
        for r in compact_revs.iter().flatten() {
            m.compact_revision = m.compact_revision.max(*r);
            m.revision = m.revision.max(*r);
        }
        Ok(m)
    }

    /// From now on, collect the backend records the replay writes.
    pub fn record(&mut self) {
        self.changes.get_or_insert_with(Changes::default);
    }

    /// The records collected since [`Model::record`].
    pub fn take_changes(&mut self) -> Changes {
        self.changes.take().unwrap_or_default()
    }

    /// Live keys.
    pub fn key_count(&self) -> u64 {
        crate::bytes::to_u64(self.keys.len())
    }

    /// Live leases.
    pub fn lease_count(&self) -> u64 {
        crate::bytes::to_u64(self.leases.len())
    }

    /// The live keys in [key, end) as etcd reads a range: `end` empty is
    /// `key` alone, `[0]` is every key from `key` on.
    fn range<'s>(
        &'s self,
        key: &'s [u8],
        end: &'s [u8],
    ) -> impl Iterator<Item = (&'s Cow<'db, [u8]>, &'s Kv<'db>)> + 's {
        let bounds = if end.is_empty() {
            Some((Bound::Included(key), Bound::Included(key)))
        } else if end == [0] {
            Some((Bound::Included(key), Bound::Unbounded))
        } else if key >= end {
            None
        } else {
            Some((Bound::Included(key), Bound::Excluded(end)))
        };
        bounds
            .into_iter()
            .flat_map(move |b| self.keys.range::<[u8], _>(b))
    }

    fn compare(&self, c: &Compare) -> bool {
        let mut any = false;
        let all = self.range(&c.key, &c.range_end).all(|(_, kv)| {
            any = true;
            compare_kv(c, kv)
        });
        if any {
            return all;
        }
        if c.target == 3 {
            return false;
        }
        compare_kv(c, &Kv::default())
    }

    fn put_ok(&self, p: &PutRequest) -> bool {
        let cur = self.keys.get(p.key.as_slice());
        if (p.ignore_value || p.ignore_lease) && cur.is_none() {
            return false;
        }
        p.lease == 0 || self.leases.contains_key(&p.lease)
    }

    fn note(&mut self, refused: bool, kind: &'static str) {
        if let Some(c) = self.changes.as_mut() {
            let map = if refused {
                &mut c.refused
            } else {
                &mut c.not_applied
            };
            *map.entry(kind).or_insert(0) += 1;
        }
    }

    fn put(&mut self, p: &PutRequest, tx: &mut Tx) {
        let rev = Revision {
            main: tx.rev,
            sub: tx.sub,
        };
        tx.sub = tx.sub.saturating_add(1);
        let fresh = || Kv {
            create: tx.rev,
            modr: tx.rev,
            version: 1,
            value: Cow::Owned(p.value.clone()),
            lease: p.lease,
        };
        // A key already there keeps its map key (a view into the db when it
        // came from there); only the value the request sends is owned.
        let kv = match self.keys.get_mut(p.key.as_slice()) {
            Some(cur) => {
                cur.modr = tx.rev;
                cur.version = cur.version.saturating_add(1);
                if !p.ignore_value {
                    cur.value = Cow::Owned(p.value.clone());
                }
                if !p.ignore_lease {
                    cur.lease = p.lease;
                }
                &*cur
            }
            None => self
                .keys
                .entry(Cow::Owned(p.key.clone()))
                .or_insert_with(fresh),
        };
        if let Some(c) = self.changes.as_mut() {
            c.key_records
                .push((rev.to_key().to_vec(), encode_kv(&p.key, kv)));
        }
    }

    fn delete_keys(&mut self, ks: &[Cow<'db, [u8]>], tx: &mut Tx) {
        for k in ks {
            if self.keys.remove(k.as_ref()).is_none() {
                continue;
            }
            let rev = Revision {
                main: tx.rev,
                sub: tx.sub,
            };
            tx.sub = tx.sub.saturating_add(1);
            if let Some(c) = self.changes.as_mut() {
                let mut rk = rev.to_key().to_vec();
                rk.push(b't');
                c.key_records.push((rk, encode_kv(k, &Kv::default())));
            }
        }
    }

    fn delete(&mut self, d: &DeleteRangeRequest, tx: &mut Tx) {
        // Views into the db stay views; only keys the replay put are copied.
        let ks: Vec<Cow<'db, [u8]>> = self
            .range(&d.key, &d.range_end)
            .map(|(k, _)| k.clone())
            .collect();
        self.delete_keys(&ks, tx);
    }

    /// etcd's `compareToPath`: every compare of the chosen branches, against
    /// the state before the txn. `None` past [`MAX_TXN_DEPTH`].
    fn txn_path(&self, t: &TxnRequest, depth: u32, path: &mut Vec<bool>) -> Option<()> {
        if depth > MAX_TXN_DEPTH {
            return None;
        }
        let ok = t.compare.iter().all(|c| self.compare(c));
        path.push(ok);
        let ops = if ok { &t.success } else { &t.failure };
        for op in ops {
            if let Some(Request_::RequestTxn(inner)) = &op.request {
                self.txn_path(inner, depth + 1, path)?;
            }
        }
        Some(())
    }

    /// etcd's `checkRequests` with both checks (put, then range) along
    /// `path`; returns the txns consumed, `None` when a check fails.
    fn txn_check(&self, t: &TxnRequest, path: &[bool]) -> Option<usize> {
        let ops = branch(t, path)?;
        let mut used = 0usize;
        for op in ops {
            match &op.request {
                Some(Request_::RequestTxn(inner)) => {
                    let n = self.txn_check(inner, path.get(used.saturating_add(1)..)?)?;
                    used = used.saturating_add(n).saturating_add(1);
                }
                Some(Request_::RequestPut(p)) if !self.put_ok(p) => return None,
                Some(Request_::RequestRange(r))
                    if r.revision != 0
                        && (r.revision > self.revision || r.revision < self.compact_revision) =>
                {
                    return None
                }
                _ => {}
            }
        }
        Some(used)
    }

    /// etcd's `applyTxn` along `path`; returns the txns consumed.
    fn txn_apply(&mut self, t: &TxnRequest, path: &[bool], tx: &mut Tx) -> usize {
        let Some(ops) = branch(t, path) else {
            return 0;
        };
        let mut used = 0usize;
        for op in ops {
            match &op.request {
                Some(Request_::RequestPut(p)) => self.put(p, tx),
                Some(Request_::RequestDeleteRange(d)) => self.delete(d, tx),
                Some(Request_::RequestTxn(inner)) => {
                    let rest = path.get(used.saturating_add(1)..).unwrap_or_default();
                    let n = self.txn_apply(inner, rest, tx);
                    used = used.saturating_add(n).saturating_add(1);
                }
                _ => {}
            }
        }
        used
    }

    fn nospace(&self) -> bool {
        self.alarms.keys().any(|(_, a)| *a == ALARM_NOSPACE)
    }

    fn corrupt(&self) -> bool {
        self.alarms.keys().any(|(_, a)| *a == ALARM_CORRUPT)
    }

    fn apply_txn(&mut self, t: &TxnRequest, tx: &mut Tx) {
        let mut path = Vec::new();
        if self.txn_path(t, 0, &mut path).is_none() || self.txn_check(t, &path).is_none() {
            self.note(true, "txn");
            return;
        }
        self.txn_apply(t, &path, tx);
    }

    fn lease_grant(&mut self, id: i64, ttl: i64) {
        if id == 0 || ttl > MAX_LEASE_TTL || self.leases.contains_key(&id) {
            self.note(true, "lease_grant");
            return;
        }
        let l = Lease {
            id,
            ttl: ttl.max(MIN_LEASE_TTL),
            remaining_ttl: 0,
        };
        self.leases.insert(id, l);
        if let Some(c) = self.changes.as_mut() {
            c.leases.insert(id, Some(l.encode_to_vec()));
        }
    }

    fn lease_revoke(&mut self, id: i64, tx: &mut Tx) {
        if self.leases.remove(&id).is_none() {
            self.note(true, "lease_revoke");
            return;
        }
        // BTreeMap order is the byte order etcd sorts the keys in.
        let attached: Vec<Cow<'db, [u8]>> = self
            .keys
            .iter()
            .filter(|(_, v)| v.lease == id)
            .map(|(k, _)| k.clone())
            .collect();
        self.delete_keys(&attached, tx);
        if let Some(c) = self.changes.as_mut() {
            c.leases.insert(id, None);
        }
    }

    fn lease_checkpoint(&mut self, id: i64, remaining: i64) {
        let persist = self.persist_checkpoints;
        if let Some(l) = self.leases.get_mut(&id) {
            l.remaining_ttl = remaining;
            let bytes = l.encode_to_vec();
            if let (true, Some(c)) = (persist, self.changes.as_mut()) {
                c.leases.insert(id, Some(bytes));
            }
        }
    }

    fn compaction(&mut self, rev: i64) {
        if rev <= self.compact_revision || rev > self.revision {
            self.note(true, "compaction");
            return;
        }
        self.compact_revision = rev;
        if let Some(c) = self.changes.as_mut() {
            c.compaction = Some(rev);
        }
    }

    fn alarm(&mut self, action: i32, member_id: u64, alarm: i32) {
        let key = AlarmMember { member_id, alarm }.encode_to_vec();
        let set = match action {
            1 => {
                if alarm == 0 || self.alarms.insert((member_id, alarm), ()).is_some() {
                    return;
                }
                true
            }
            2 => {
                if self.alarms.remove(&(member_id, alarm)).is_none() {
                    return;
                }
                false
            }
            _ => return,
        };
        if let Some(c) = self.changes.as_mut() {
            c.alarms.insert(key, set);
        }
    }

    /// `commitRevision`: the auth revision goes up with every auth change.
    fn auth_commit(&mut self) {
        self.auth_revision = self.auth_revision.saturating_add(1);
        let rev = self.auth_revision.to_be_bytes().to_vec();
        if let Some(c) = self.changes.as_mut() {
            c.auth
                .entry(schema::AUTH)
                .or_default()
                .insert(b"authRevision".to_vec(), Some(rev));
        }
    }

    /// Records `key` in an auth bucket set to `value`, or deleted (`None`).
    fn put_auth(&mut self, bucket: &'static [u8], key: &[u8], value: Option<Vec<u8>>) {
        if let Some(c) = self.changes.as_mut() {
            c.auth
                .entry(bucket)
                .or_default()
                .insert(key.to_vec(), value);
        }
    }

    /// Stores `u` (model and changes).
    fn put_user(&mut self, u: User) {
        let bytes = u.encode_to_vec();
        self.put_auth(schema::AUTH_USERS, &u.name, Some(bytes));
        self.users.insert(u.name.clone(), u);
    }

    /// Stores `r` (model and changes).
    fn put_role(&mut self, r: Role) {
        let bytes = r.encode_to_vec();
        self.put_auth(schema::AUTH_ROLES, &r.name, Some(bytes));
        self.roles.insert(r.name.clone(), r);
    }

    /// etcd's `selectPassword`: an etcd 3.5+ request carries the bcrypt hash
    /// (base64; undecodable: refused, `Err(true)`); an etcd < 3.5 request
    /// carries the password, which etcd hashes at apply with a random salt
    /// and `--bcrypt-cost` (default 10): so do we, with the default cost
    /// (the hash differs from the one the old member made, the password it
    /// accepts is the same). Not recording (inspect's replay), the hash is
    /// not needed and not made. `Err(false)`: no randomness for the salt.
    fn select_password(
        &mut self,
        password: &str,
        hashed: &str,
    ) -> std::result::Result<Vec<u8>, bool> {
        if password.is_empty() || !hashed.is_empty() {
            return super::values::base64_decode(hashed).ok_or(true);
        }
        let Some(c) = self.changes.as_mut() else {
            return Ok(Vec::new());
        };
        let parts = bcrypt::hash_with_result(password, BCRYPT_COST).map_err(|_| false)?;
        c.passwords_hashed = c.passwords_hashed.saturating_add(1);
        Ok(parts.format_for_version(bcrypt::Version::TwoA).into_bytes())
    }

    /// `AuthEnable`: needs the root user holding the root role (refused
    /// otherwise); enabling does not raise the auth revision. Already
    /// enabled: nothing happens.
    fn auth_enable(&mut self) {
        if self.auth_enabled {
            return;
        }
        let root_ok = self
            .users
            .get(ROOT.as_bytes())
            .is_some_and(|u| u.roles.iter().any(|r| r == ROOT));
        if !root_ok {
            self.note(true, "auth_enable");
            return;
        }
        self.auth_enabled = true;
        self.auth_was_enabled = true;
        self.put_auth(schema::AUTH, b"authEnabled", Some(vec![1]));
    }

    /// `AuthDisable`: raises the auth revision; already disabled: nothing.
    fn auth_disable(&mut self) {
        if !self.auth_enabled {
            return;
        }
        self.auth_enabled = false;
        self.put_auth(schema::AUTH, b"authEnabled", Some(vec![0]));
        self.auth_commit();
    }

    /// `UserDelete`: refused for `root` while auth is enabled, or a missing user.
    fn user_delete(&mut self, name: &str) {
        let root = self.auth_enabled && name == ROOT;
        if root || self.users.remove(name.as_bytes()).is_none() {
            self.note(true, "auth_user_delete");
            return;
        }
        self.put_auth(schema::AUTH_USERS, name.as_bytes(), None);
        self.auth_commit();
    }

    /// `UserChangePassword`: as `UserAdd`, the new password by
    /// [`Model::select_password`].
    fn user_change_password(
        &mut self,
        r: &crate::formats::proto::etcdserverpb::AuthUserChangePasswordRequest,
    ) {
        let Some(mut u) = self.users.get(r.name.as_bytes()).cloned() else {
            self.note(true, "auth_user_change_password");
            return;
        };
        u.password = if u.options.is_some_and(|o| o.no_password) {
            Vec::new()
        } else {
            match self.select_password(&r.password, &r.hashed_password) {
                Ok(p) => p,
                Err(refused) => return self.note(refused, "auth_user_change_password"),
            }
        };
        self.put_user(u);
        self.auth_commit();
    }

    /// `UserRevokeRole`: refused for root/root while auth is enabled, a
    /// missing user, or a role the user does not have.
    fn user_revoke_role(&mut self, name: &str, role: &str) {
        let root = self.auth_enabled && name == ROOT && role == ROOT;
        let Some(mut u) = self.users.get(name.as_bytes()).filter(|_| !root).cloned() else {
            self.note(true, "auth_user_revoke_role");
            return;
        };
        let before = u.roles.len();
        u.roles.retain(|r| r != role);
        if u.roles.len() == before {
            self.note(true, "auth_user_revoke_role");
            return;
        }
        self.put_user(u);
        self.auth_commit();
    }

    /// `RoleDelete`: also revokes the role from every user holding it (one
    /// auth revision for all); refused for `root` while auth is enabled.
    fn role_delete(&mut self, name: &str) {
        let root = self.auth_enabled && name == ROOT;
        if root || self.roles.remove(name.as_bytes()).is_none() {
            self.note(true, "auth_role_delete");
            return;
        }
        self.put_auth(schema::AUTH_ROLES, name.as_bytes(), None);
        let holders: Vec<User> = self
            .users
            .values()
            .filter(|u| u.roles.iter().any(|r| r == name))
            .cloned()
            .collect();
        for mut u in holders {
            u.roles.retain(|r| r != name);
            self.put_user(u);
        }
        self.auth_commit();
    }

    /// `RoleRevokePermission`: removes the permissions on exactly
    /// [key, range_end); refused for a missing role or no such permission.
    fn role_revoke_permission(&mut self, name: &str, key: &[u8], range_end: &[u8]) {
        let Some(mut r) = self.roles.get(name.as_bytes()).cloned() else {
            self.note(true, "auth_role_revoke_permission");
            return;
        };
        let before = r.key_permission.len();
        r.key_permission
            .retain(|p| p.key != key || p.range_end != range_end);
        if r.key_permission.len() == before {
            self.note(true, "auth_role_revoke_permission");
            return;
        }
        self.put_role(r);
        self.auth_commit();
    }

    fn role_add(&mut self, name: &str) {
        if name.is_empty() || self.roles.contains_key(name.as_bytes()) {
            self.note(true, "auth_role_add");
            return;
        }
        self.put_role(Role {
            name: name.as_bytes().to_vec(),
            key_permission: Vec::new(),
        });
        self.auth_commit();
    }

    fn user_add(&mut self, r: &crate::formats::proto::etcdserverpb::AuthUserAddRequest) {
        if r.name.is_empty() || self.users.contains_key(r.name.as_bytes()) {
            self.note(true, "auth_user_add");
            return;
        }
        let options = r.options.unwrap_or_default();
        let password = if options.no_password {
            Vec::new()
        } else {
            match self.select_password(&r.password, &r.hashed_password) {
                Ok(p) => p,
                Err(refused) => return self.note(refused, "auth_user_add"),
            }
        };
        self.put_user(User {
            name: r.name.as_bytes().to_vec(),
            password,
            roles: Vec::new(),
            options: Some(options),
        });
        self.auth_commit();
    }

    fn user_grant_role(&mut self, user: &str, role: &str) {
        let role_ok = role == ROOT || self.roles.contains_key(role.as_bytes());
        let Some(mut u) = self.users.get(user.as_bytes()).filter(|_| role_ok).cloned() else {
            self.note(true, "auth_user_grant_role");
            return;
        };
        let Err(at) = u.roles.binary_search_by(|r| r.as_str().cmp(role)) else {
            return; // already granted: no change, no new auth revision
        };
        u.roles.insert(at, role.to_string());
        self.put_user(u);
        self.auth_commit();
    }

    fn role_grant_permission(&mut self, name: &str, perm: Option<&Permission>) {
        let valid = |p: &&Permission| {
            !p.key.is_empty()
                && (p.range_end.is_empty() || p.range_end == [0] || p.key < p.range_end)
        };
        let (Some(perm), Some(mut role)) =
            (perm.filter(valid), self.roles.get(name.as_bytes()).cloned())
        else {
            self.note(true, "auth_role_grant_permission");
            return;
        };
        let at = role.key_permission.partition_point(|p| p.key < perm.key);
        match role.key_permission.get_mut(at) {
            Some(p) if p.key == perm.key && p.range_end == perm.range_end => {
                p.perm_type = perm.perm_type;
            }
            _ => {
                role.key_permission.push(perm.clone());
                role.key_permission.sort_by(|a, b| a.key.cmp(&b.key));
            }
        }
        self.put_role(role);
        self.auth_commit();
    }

    /// Applies one request; returns whether the revision went up.
    pub fn apply(&mut self, irr: &InternalRaftRequest) -> bool {
        let mut tx = Tx {
            rev: self.revision.saturating_add(1),
            sub: 0,
        };
        let write = irr.put.is_some()
            || irr.delete_range.is_some()
            || irr.txn.is_some()
            || irr.lease_grant.is_some()
            || irr.lease_revoke.is_some()
            || irr.compaction.is_some();
        if write && self.corrupt() {
            self.note(true, irr.kind());
        } else if let Some(p) = &irr.put {
            if !self.nospace() && self.put_ok(p) {
                self.put(p, &mut tx);
            } else {
                self.note(true, "put");
            }
        } else if let Some(d) = &irr.delete_range {
            self.delete(d, &mut tx);
        } else if let Some(t) = &irr.txn {
            if self.nospace() && has_put(t) {
                self.note(true, "txn");
            } else {
                self.apply_txn(t, &mut tx);
            }
        } else if let Some(g) = &irr.lease_grant {
            if self.nospace() {
                self.note(true, "lease_grant");
            } else {
                self.lease_grant(g.id, g.ttl);
            }
        } else if let Some(r) = &irr.lease_revoke {
            self.lease_revoke(r.id, &mut tx);
        } else if let Some(c) = &irr.lease_checkpoint {
            for cp in &c.checkpoints {
                self.lease_checkpoint(cp.id, cp.remaining_ttl);
            }
        } else if let Some(c) = &irr.compaction {
            self.compaction(c.revision);
        } else if let Some(a) = &irr.alarm {
            self.alarm(a.action, a.member_id, a.alarm);
        } else if let Some(v) = &irr.cluster_version_set {
            if let Some(c) = self.changes.as_mut() {
                c.cluster
                    .insert(b"clusterVersion".to_vec(), v.ver.as_bytes().to_vec());
            }
            self.persist_checkpoints = at_least_3_6(v.ver.as_bytes());
        } else if let Some(r) = &irr.auth_role_add {
            self.role_add(&r.name);
        } else if let Some(r) = &irr.auth_user_add {
            self.user_add(r);
        } else if let Some(r) = &irr.auth_user_grant_role {
            self.user_grant_role(&r.user, &r.role);
        } else if let Some(r) = &irr.auth_role_grant_permission {
            self.role_grant_permission(&r.name, r.perm.as_ref());
        } else if let Some(r) = &irr.auth_user_delete {
            self.user_delete(&r.name);
        } else if let Some(r) = &irr.auth_user_change_password {
            self.user_change_password(r);
        } else if let Some(r) = &irr.auth_user_revoke_role {
            self.user_revoke_role(&r.user, &r.role);
        } else if let Some(r) = &irr.auth_role_delete {
            self.role_delete(&r.name);
        } else if let Some(r) = &irr.auth_role_revoke_permission {
            self.role_revoke_permission(&r.role, &r.key, &r.range_end);
        } else if irr.auth_enable.is_some() {
            self.auth_enable();
        } else if irr.auth_disable.is_some() {
            self.auth_disable();
        } else if irr.downgrade_info_set.is_some() {
            self.note(false, irr.kind());
        }
        let changed = tx.sub > 0;
        if changed {
            self.revision = tx.rev;
            self.writes = self.writes.saturating_add(1);
        }
        changed
    }

    /// The revision keys a recorded compaction at `rev` removes from the db's
    /// `key` bucket (the records `changes` holds are filtered in place): per
    /// user key its newest record at or below `rev` stays when it is a put;
    /// every other record at or below `rev` goes (etcd's `keyIndex.compact`
    /// and `scheduleCompaction`).
    pub fn compaction_removals(
        db: &Db<'_>,
        rev: i64,
        changes: &mut Changes,
    ) -> Result<Vec<Vec<u8>>> {
        let Some(b) = db.bucket(schema::KEY)? else {
            changes
                .key_records
                .retain(|(k, _)| main_of(k).is_none_or(|m| m > rev));
            return Ok(Vec::new());
        };
        // Newest record ≤ rev per user key, from the db then the replay.
        let mut newest: HashMap<Vec<u8>, (Revision, bool)> = HashMap::new();
        let mut note = |rk: &[u8], value: &[u8]| {
            let Ok(parsed) = revision::parse(rk) else {
                return;
            };
            if parsed.rev.main > rev {
                return;
            }
            if let Ok(kv) = KeyValueRef::decode(value) {
                newest.insert(kv.key.to_vec(), (parsed.rev, parsed.tombstone));
            }
        };
        for e in b.cursor(db) {
            let e = e?;
            note(e.key, e.value);
        }
        for (k, v) in &changes.key_records {
            note(k, v);
        }
        let keep: std::collections::HashSet<Revision> = newest
            .into_values()
            .filter(|(_, tomb)| !tomb)
            .map(|(r, _)| r)
            .collect();
        let goes = |rk: &[u8]| {
            revision::parse(rk).is_ok_and(|p| p.rev.main <= rev && !keep.contains(&p.rev))
        };
        let mut removals = Vec::new();
        for e in b.cursor(db) {
            let e = e?;
            if goes(e.key) {
                removals.push(e.key.to_vec());
            }
        }
        changes.key_records.retain(|(k, _)| !goes(k));
        Ok(removals)
    }
}

impl Changes {
    /// The changes as restore's [`Overlay`], with `removals` (the `key`
    /// records a compaction removes from the db) deleted.
    pub fn into_overlay(self, removals: Vec<Vec<u8>>) -> Overlay {
        let mut o = Overlay::new();
        let mut key: BTreeMap<Vec<u8>, Option<Vec<u8>>> =
            removals.into_iter().map(|k| (k, None)).collect();
        key.extend(self.key_records.into_iter().map(|(k, v)| (k, Some(v))));
        let lease: BTreeMap<Vec<u8>, Option<Vec<u8>>> = self
            .leases
            .into_iter()
            .map(|(id, v)| (lease_key(id).to_vec(), v))
            .collect();
        let mut meta = BTreeMap::new();
        if let Some(r) = self.compaction {
            let k = Revision { main: r, sub: 0 }.to_key().to_vec();
            meta.insert(
                schema::meta_key::SCHEDULED_COMPACT_REV.to_vec(),
                Some(k.clone()),
            );
            meta.insert(schema::meta_key::FINISHED_COMPACT_REV.to_vec(), Some(k));
        }
        let alarm: BTreeMap<Vec<u8>, Option<Vec<u8>>> = self
            .alarms
            .into_iter()
            .map(|(k, on)| (k, on.then(Vec::new)))
            .collect();
        let cluster: BTreeMap<Vec<u8>, Option<Vec<u8>>> = self
            .cluster
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
        for (bucket, edits) in self.auth {
            o.insert(bucket.to_vec(), edits);
        }
        for (name, edits) in [
            (schema::KEY, key),
            (schema::LEASE, lease),
            (schema::META, meta),
            (schema::ALARM, alarm),
            (schema::CLUSTER, cluster),
        ] {
            if !edits.is_empty() {
                o.insert(name.to_vec(), edits);
            }
        }
        o
    }
}

/// The chosen branch of `t` per `path`'s first element.
fn branch<'t>(t: &'t TxnRequest, path: &[bool]) -> Option<&'t [RequestOp]> {
    Some(if *path.first()? {
        &t.success
    } else {
        &t.failure
    })
}

/// `applierV3Capped`: a txn costs quota when a branch puts (nested txns
/// included, `costTxn`).
fn has_put(t: &TxnRequest) -> bool {
    has_put_at(t, 0)
}

fn has_put_at(t: &TxnRequest, depth: u32) -> bool {
    t.success
        .iter()
        .chain(&t.failure)
        .any(|op| match &op.request {
            Some(Request_::RequestPut(_)) => true,
            Some(Request_::RequestTxn(inner)) => {
                depth < MAX_TXN_DEPTH && has_put_at(inner, depth + 1)
            }
            _ => false,
        })
}

/// A cluster version string of 3.6 or newer.
fn at_least_3_6(v: &[u8]) -> bool {
    let s = String::from_utf8_lossy(v);
    let mut it = s.split('.').map(|p| p.parse::<u64>().ok());
    match (it.next().flatten(), it.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (3, 6),
        _ => false,
    }
}

fn compare_kv(c: &Compare, kv: &Kv<'_>) -> bool {
    use std::cmp::Ordering;
    let ord = match (&c.target_union, c.target) {
        (Some(TargetUnion::Value(v)), _) => kv.value.as_ref().cmp(v.as_slice()),
        (Some(TargetUnion::CreateRevision(v)), _) => kv.create.cmp(v),
        (Some(TargetUnion::ModRevision(v)), _) => kv.modr.cmp(v),
        (Some(TargetUnion::Version(v)), _) => kv.version.cmp(v),
        (Some(TargetUnion::Lease(v)), _) => kv.lease.cmp(v),
        (None, 0) => kv.version.cmp(&0),
        (None, 1) => kv.create.cmp(&0),
        (None, 2) => kv.modr.cmp(&0),
        (None, 3) => kv.value.as_ref().cmp(&[][..]),
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

    fn op_put(k: &str, v: &str) -> RequestOp {
        RequestOp {
            request: Some(Request_::RequestPut(PutRequest {
                key: k.into(),
                value: v.into(),
                ..PutRequest::default()
            })),
        }
    }

    fn op_del(k: &str, end: &str) -> RequestOp {
        RequestOp {
            request: Some(Request_::RequestDeleteRange(DeleteRangeRequest {
                key: k.into(),
                range_end: end.into(),
                ..DeleteRangeRequest::default()
            })),
        }
    }

    fn txn(compare: Vec<Compare>, success: Vec<RequestOp>, failure: Vec<RequestOp>) -> TxnRequest {
        TxnRequest {
            compare,
            success,
            failure,
        }
    }

    fn irr_txn(t: TxnRequest) -> InternalRaftRequest {
        InternalRaftRequest {
            txn: Some(t),
            ..InternalRaftRequest::default()
        }
    }

    fn decode(rec: &(Vec<u8>, Vec<u8>)) -> (i64, i64, bool, String, i64, i64, i64, String, i64) {
        let r = revision::parse(&rec.0).unwrap();
        let kv = KeyValueRef::decode(&rec.1).unwrap();
        (
            r.rev.main,
            r.rev.sub,
            r.tombstone,
            String::from_utf8_lossy(kv.key).into_owned(),
            kv.create_revision,
            kv.mod_revision,
            kv.version,
            String::from_utf8_lossy(kv.value).into_owned(),
            kv.lease,
        )
    }

    /// Keys and values loaded from the db stay views into it; a put owns
    /// its value only (the map key stays the db's), and `ignore_value`
    /// keeps the db's view.
    #[test]
    fn keys_and_values_from_the_db_stay_views() {
        let rk = |main| Revision { main, sub: 0 }.to_key().to_vec();
        let kv = |create, modr, version, value: &'static [u8]| Kv {
            create,
            modr,
            version,
            value: Cow::Borrowed(value),
            lease: 0,
        };
        let bytes = {
            let mut w = crate::formats::bbolt::write::DbWriter::new(
                std::io::Cursor::new(Vec::new()),
                crate::formats::bbolt::write::WriterOptions::default(),
            )
            .unwrap();
            w.begin_bucket(b"key").unwrap();
            w.put(&rk(2), &encode_kv(b"a", &kv(2, 2, 1, b"1"))).unwrap();
            w.put(&rk(3), &encode_kv(b"b", &kv(3, 3, 1, b"2"))).unwrap();
            w.put(&rk(4), &encode_kv(b"a", &kv(2, 4, 2, b"3"))).unwrap();
            w.finish().unwrap().0.into_inner()
        };
        let db = Db::open(&bytes).unwrap();
        let mut m = Model::from_db(&db, &[None, None]).unwrap();
        assert_eq!(m.revision, 4);
        let views = |m: &Model<'_>, k: &[u8]| {
            let (k, v) = m.keys.get_key_value(k).unwrap();
            (
                matches!(k, Cow::Borrowed(_)),
                matches!(v.value, Cow::Borrowed(_)),
                v.value.to_vec(),
                v.version,
            )
        };
        assert_eq!(views(&m, b"a"), (true, true, b"3".to_vec(), 2));
        assert_eq!(views(&m, b"b"), (true, true, b"2".to_vec(), 1));
        assert!(m.apply(&put("a")));
        assert!(m.apply(&InternalRaftRequest {
            put: Some(PutRequest {
                key: b"b".to_vec(),
                ignore_value: true,
                ..PutRequest::default()
            }),
            ..InternalRaftRequest::default()
        }));
        assert!(m.apply(&put("c")));
        assert_eq!(views(&m, b"a"), (true, false, b"v".to_vec(), 3));
        assert_eq!(views(&m, b"b"), (true, true, b"2".to_vec(), 2));
        assert_eq!(views(&m, b"c"), (false, false, b"v".to_vec(), 1));
    }

    /// Sub revisions count the puts and deleted keys of one txn; tombstones
    /// are 18-byte keys holding KeyValue{key}; a txn's nested compares see
    /// the state before the txn.
    #[test]
    fn records_what_etcd_writes() {
        let mut m = Model {
            revision: 1,
            compact_revision: -1,
            ..Model::default()
        };
        m.record();
        assert!(m.apply(&put("a")));
        assert!(m.apply(&put("b")));
        // Success branch: put c, delete [a, c) (a, b), nested txn whose
        // compare (c exists) is evaluated before the put of c: fails.
        let nested = txn(
            vec![Compare {
                result: 1,
                target: 1,
                key: b"c".to_vec(),
                target_union: Some(TargetUnion::CreateRevision(0)),
                range_end: Vec::new(),
            }],
            vec![op_put("n", "yes")],
            vec![op_put("n", "no")],
        );
        let t = txn(
            Vec::new(),
            vec![
                op_put("c", "1"),
                op_del("a", "c"),
                RequestOp {
                    request: Some(Request_::RequestTxn(nested)),
                },
            ],
            Vec::new(),
        );
        assert!(m.apply(&irr_txn(t)));
        assert_eq!(m.revision, 4);
        let c = m.take_changes();
        let got: Vec<_> = c.key_records.iter().map(decode).collect();
        assert_eq!(
            got,
            vec![
                (2, 0, false, "a".into(), 2, 2, 1, "v".into(), 0),
                (3, 0, false, "b".into(), 3, 3, 1, "v".into(), 0),
                (4, 0, false, "c".into(), 4, 4, 1, "1".into(), 0),
                (4, 1, true, "a".into(), 0, 0, 0, String::new(), 0),
                (4, 2, true, "b".into(), 0, 0, 0, String::new(), 0),
                (4, 3, false, "n".into(), 4, 4, 1, "no".into(), 0),
            ]
        );
        assert_eq!(c.key_records[3].0.len(), 18);
        assert_eq!(c.key_records[3].1, b"\x0a\x01a");
    }

    /// Auth as etcd 3.5's store: role delete revokes the role from every
    /// user in one auth revision; revokes of what is not there, deletes of
    /// what is missing and root while auth is enabled are refused; a 3.4
    /// password is hashed as etcd 3.4 hashes it at apply.
    #[test]
    fn auth_follows_the_auth_store() {
        use crate::formats::proto::etcdserverpb::{
            AuthRoleRevokePermissionRequest, AuthUserAddRequest, AuthUserChangePasswordRequest,
            NameRequest, UserRoleRequest,
        };
        let name = |n: &str| NameRequest { name: n.into() };
        let user_role = |u: &str, r: &str| UserRoleRequest {
            user: u.into(),
            role: r.into(),
        };
        let hashed = |h: &str| AuthUserAddRequest {
            name: String::new(),
            password: String::new(),
            options: None,
            hashed_password: h.into(),
        };
        let mut m = Model::default();
        m.record();
        let reqs = [
            InternalRaftRequest {
                auth_role_add: Some(name("r1")),
                ..Default::default()
            },
            InternalRaftRequest {
                auth_role_add: Some(name("r2")),
                ..Default::default()
            },
            InternalRaftRequest {
                auth_user_add: Some(AuthUserAddRequest {
                    name: "u".into(),
                    ..hashed("YWJj")
                }),
                ..Default::default()
            },
            InternalRaftRequest {
                auth_user_grant_role: Some(user_role("u", "r1")),
                ..Default::default()
            },
            InternalRaftRequest {
                auth_user_grant_role: Some(user_role("u", "r2")),
                ..Default::default()
            },
            InternalRaftRequest {
                auth_role_grant_permission: Some(
                    crate::formats::proto::etcdserverpb::AuthRoleGrantPermissionRequest {
                        name: "r1".into(),
                        perm: Some(Permission {
                            perm_type: 0,
                            key: b"k".to_vec(),
                            range_end: Vec::new(),
                        }),
                    },
                ),
                ..Default::default()
            },
            // Refused: r3 missing, the permission on "x" was never granted.
            InternalRaftRequest {
                auth_role_delete: Some(name("r3")),
                ..Default::default()
            },
            InternalRaftRequest {
                auth_role_revoke_permission: Some(AuthRoleRevokePermissionRequest {
                    role: "r1".into(),
                    key: b"x".to_vec(),
                    range_end: Vec::new(),
                }),
                ..Default::default()
            },
            InternalRaftRequest {
                auth_role_delete: Some(name("r2")),
                ..Default::default()
            },
            InternalRaftRequest {
                auth_user_change_password: Some(AuthUserChangePasswordRequest {
                    name: "u".into(),
                    password: String::new(),
                    hashed_password: "eHl6".into(),
                }),
                ..Default::default()
            },
            // etcd < 3.5: the password itself.
            InternalRaftRequest {
                auth_user_change_password: Some(AuthUserChangePasswordRequest {
                    name: "u".into(),
                    password: "pw".into(),
                    hashed_password: String::new(),
                }),
                ..Default::default()
            },
            InternalRaftRequest {
                auth_user_revoke_role: Some(user_role("u", "r2")),
                ..Default::default()
            },
        ];
        for r in &reqs {
            assert!(!m.apply(r), "auth changes do not raise the revision");
        }
        let u = m.users.get(&b"u"[..]).unwrap();
        assert_eq!(u.roles, vec!["r1".to_string()]);
        // The 3.4 request's password, hashed as etcd 3.4 does at apply.
        let hash = std::str::from_utf8(&u.password).unwrap();
        assert!(hash.starts_with("$2a$10$"), "{hash}");
        assert!(bcrypt::verify("pw", hash).unwrap());
        assert!(!m.roles.contains_key(&b"r2"[..]));
        // 9 changes: 2 role adds, user add, 2 grants, permission, role
        // delete (with its revoke from u), 2 passwords.
        assert_eq!(m.auth_revision, 9);
        let c = m.take_changes();
        assert_eq!(c.auth[schema::AUTH_ROLES].get(&b"r2"[..]), Some(&None));
        assert_eq!(c.refused.get("auth_role_delete"), Some(&1));
        assert_eq!(c.refused.get("auth_role_revoke_permission"), Some(&1));
        assert_eq!(c.refused.get("auth_user_revoke_role"), Some(&1));
        assert!(c.not_applied.is_empty(), "{:?}", c.not_applied);
        assert_eq!(c.passwords_hashed, 1);

        // Root is protected while auth is enabled.
        let mut m = Model {
            auth_enabled: true,
            ..Model::default()
        };
        m.users.insert(
            b"root".to_vec(),
            User {
                name: b"root".to_vec(),
                roles: vec!["root".into()],
                ..User::default()
            },
        );
        m.roles.insert(
            b"root".to_vec(),
            Role {
                name: b"root".to_vec(),
                key_permission: Vec::new(),
            },
        );
        m.record();
        m.apply(&InternalRaftRequest {
            auth_user_delete: Some(name("root")),
            ..Default::default()
        });
        m.apply(&InternalRaftRequest {
            auth_role_delete: Some(name("root")),
            ..Default::default()
        });
        m.apply(&InternalRaftRequest {
            auth_user_revoke_role: Some(user_role("root", "root")),
            ..Default::default()
        });
        assert_eq!(m.auth_revision, 0);
        assert!(m.users.contains_key(&b"root"[..]) && m.roles.contains_key(&b"root"[..]));
    }

    /// Auth enable needs root with the root role and leaves the auth
    /// revision; disable raises it; either is a no-op when already so.
    #[test]
    fn auth_enable_and_disable() {
        let enable = InternalRaftRequest {
            auth_enable: Some(Default::default()),
            ..Default::default()
        };
        let disable = InternalRaftRequest {
            auth_disable: Some(Default::default()),
            ..Default::default()
        };
        let mut m = Model::default();
        m.record();
        m.apply(&disable);
        m.apply(&enable);
        assert!(!m.auth_enabled, "no root user: refused");
        m.users.insert(
            b"root".to_vec(),
            User {
                name: b"root".to_vec(),
                roles: vec!["root".into()],
                ..User::default()
            },
        );
        m.apply(&enable);
        m.apply(&enable);
        assert!(m.auth_enabled && m.auth_was_enabled);
        assert_eq!(m.auth_revision, 0);
        m.apply(&disable);
        assert!(!m.auth_enabled && m.auth_was_enabled);
        assert_eq!(m.auth_revision, 1);
        let c = m.take_changes();
        assert_eq!(c.refused.get("auth_enable"), Some(&1));
        assert!(c.not_applied.is_empty());
        assert_eq!(
            c.auth[schema::AUTH].get(&b"authEnabled"[..]),
            Some(&Some(vec![0]))
        );
    }

    /// A txn whose chosen branch puts to an unknown lease fails whole; the
    /// other branch is not checked. Lease grant raises the TTL to the
    /// minimum; revoke deletes the attached keys in key order in one txn.
    #[test]
    fn leases_follow_the_lessor() {
        let mut m = Model {
            revision: 1,
            compact_revision: -1,
            ..Model::default()
        };
        m.record();
        let grant = |id, ttl| InternalRaftRequest {
            lease_grant: Some(crate::formats::proto::etcdserverpb::LeaseGrantRequest { ttl, id }),
            ..InternalRaftRequest::default()
        };
        assert!(!m.apply(&grant(7, 1)));
        assert!(!m.apply(&grant(7, 100))); // exists: refused
        let leased = |k: &str, lease| RequestOp {
            request: Some(Request_::RequestPut(PutRequest {
                key: k.into(),
                value: b"l".to_vec(),
                lease,
                ..PutRequest::default()
            })),
        };
        // Failure branch is unchecked: lease 9 is unknown but not chosen.
        assert!(m.apply(&irr_txn(txn(
            Vec::new(),
            vec![leased("y", 7), leased("x", 7)],
            vec![leased("z", 9)]
        ))));
        // Chosen branch with the unknown lease: the whole txn fails.
        assert!(!m.apply(&irr_txn(txn(
            Vec::new(),
            vec![op_put("q", "1"), leased("z", 9)],
            Vec::new()
        ))));
        let revoke = InternalRaftRequest {
            lease_revoke: Some(crate::formats::proto::etcdserverpb::LeaseRevokeRequest { id: 7 }),
            ..InternalRaftRequest::default()
        };
        assert!(m.apply(&revoke));
        assert_eq!(m.revision, 3);
        let c = m.take_changes();
        let got: Vec<_> = c.key_records.iter().map(decode).collect();
        assert_eq!(got[2], (3, 0, true, "x".into(), 0, 0, 0, String::new(), 0));
        assert_eq!(got[3], (3, 1, true, "y".into(), 0, 0, 0, String::new(), 0));
        assert_eq!(c.leases.get(&7), Some(&None));
        assert_eq!(c.refused.get("lease_grant"), Some(&1));
        assert_eq!(c.refused.get("txn"), Some(&1));
        let mut m2 = Model::default();
        m2.record();
        m2.apply(&grant(8, 1));
        let l = Lease::decode(m2.take_changes().leases[&8].as_deref().unwrap()).unwrap();
        assert_eq!((l.id, l.ttl, l.remaining_ttl), (8, MIN_LEASE_TTL, 0));
    }

    /// Compaction keeps per key the newest record at or below the revision
    /// when it is a put, and drops tombstones at or below it.
    #[test]
    fn compaction_keeps_what_etcd_keeps() {
        let mut m = Model {
            revision: 1,
            compact_revision: -1,
            ..Model::default()
        };
        m.record();
        m.apply(&put("a")); // 2
        m.apply(&put("a")); // 3
        m.apply(&put("b")); // 4
        m.apply(&irr_txn(txn(Vec::new(), vec![op_del("b", "")], Vec::new()))); // 5
        m.apply(&put("a")); // 6
        let compact = |revision| InternalRaftRequest {
            compaction: Some(crate::formats::proto::etcdserverpb::CompactionRequest {
                revision,
                physical: false,
            }),
            ..InternalRaftRequest::default()
        };
        m.apply(&compact(99)); // future: refused
        m.apply(&compact(5));
        m.apply(&compact(4)); // already compacted: refused
        let mut c = m.take_changes();
        assert_eq!(c.compaction, Some(5));
        assert_eq!(c.refused.get("compaction"), Some(&2));
        let bytes = {
            let mut w = crate::formats::bbolt::write::DbWriter::new(
                std::io::Cursor::new(Vec::new()),
                crate::formats::bbolt::write::WriterOptions::default(),
            )
            .unwrap();
            w.begin_bucket(b"key").unwrap();
            w.finish().unwrap().0.into_inner()
        };
        let db = Db::open(&bytes).unwrap();
        let removed = Model::compaction_removals(&db, 5, &mut c).unwrap();
        assert!(removed.is_empty());
        let left: Vec<(i64, bool)> = c
            .key_records
            .iter()
            .map(|r| {
                let p = revision::parse(&r.0).unwrap();
                (p.rev.main, p.tombstone)
            })
            .collect();
        assert_eq!(left, vec![(3, false), (6, false)]);
    }

    use proptest::prelude::*;

    /// One request over a small key and lease alphabet.
    fn arb_irr() -> impl Strategy<Value = InternalRaftRequest> {
        let key = prop::sample::select(vec!["a", "b", "c", "d"]);
        let lease = prop::sample::select(vec![0i64, 7, 8]);
        let op =
            (0u8..3, key.clone(), key.clone(), lease.clone()).prop_map(
                |(kind, k, e, l)| match kind {
                    0 => RequestOp {
                        request: Some(Request_::RequestPut(PutRequest {
                            key: k.into(),
                            value: e.into(),
                            lease: l,
                            ..PutRequest::default()
                        })),
                    },
                    1 => op_del(k, if e > k { e } else { "" }),
                    _ => op_del(k, "\0"),
                },
            );
        let cmp = (key.clone(), 0i32..4, 0i64..6).prop_map(|(k, result, v)| Compare {
            result,
            target: 2,
            key: k.into(),
            target_union: Some(TargetUnion::ModRevision(v)),
            range_end: Vec::new(),
        });
        prop_oneof![
            (key.clone(), lease.clone()).prop_map(|(k, l)| InternalRaftRequest {
                put: Some(PutRequest {
                    key: k.into(),
                    value: b"p".to_vec(),
                    lease: l,
                    ..PutRequest::default()
                }),
                ..InternalRaftRequest::default()
            }),
            (
                prop::collection::vec(cmp, 0..2),
                prop::collection::vec(op.clone(), 0..3),
                prop::collection::vec(op, 0..3)
            )
                .prop_map(|(c, s, f)| irr_txn(txn(c, s, f))),
            lease.clone().prop_map(|id| InternalRaftRequest {
                lease_grant: Some(crate::formats::proto::etcdserverpb::LeaseGrantRequest {
                    ttl: 30,
                    id
                }),
                ..InternalRaftRequest::default()
            }),
            lease.prop_map(|id| InternalRaftRequest {
                lease_revoke: Some(crate::formats::proto::etcdserverpb::LeaseRevokeRequest { id }),
                ..InternalRaftRequest::default()
            }),
            (0i64..12).prop_map(|revision| InternalRaftRequest {
                compaction: Some(crate::formats::proto::etcdserverpb::CompactionRequest {
                    revision,
                    physical: false,
                }),
                ..InternalRaftRequest::default()
            }),
        ]
    }

    fn written(db: &Db<'_>, c: Changes) -> Vec<u8> {
        let mut c = c;
        let removals = match c.compaction {
            Some(r) => Model::compaction_removals(db, r, &mut c).unwrap(),
            None => Vec::new(),
        };
        let cluster = crate::etcd::member::Cluster::from_initial_cluster(
            "default=http://localhost:2380",
            crate::etcd::member::DEFAULT_TOKEN,
        )
        .unwrap();
        let (out, _) = crate::etcd::restore::rewrite_db_over(
            db,
            &cluster,
            0,
            c.into_overlay(removals),
            std::io::Cursor::new(Vec::new()),
        )
        .unwrap();
        out.into_inner()
    }

    fn empty_db() -> Vec<u8> {
        let mut w = crate::formats::bbolt::write::DbWriter::new(
            std::io::Cursor::new(Vec::new()),
            crate::formats::bbolt::write::WriterOptions::default(),
        )
        .unwrap();
        for b in ["key", "lease", "meta"] {
            w.begin_bucket(b.as_bytes()).unwrap();
        }
        w.finish().unwrap().0.into_inner()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// The records a replay writes are the state it reached: the db
        /// written from them, loaded again, has the same live keys, leases,
        /// revision and compact revision, and passes `check`; replaying in
        /// two halves (the first half written, then reloaded) gives the same
        /// db as one replay.
        #[test]
        fn records_round_trip(reqs in prop::collection::vec(arb_irr(), 0..40), cut in 0usize..40) {
            let base = empty_db();
            let db = Db::open(&base).unwrap();
            let mut m = Model::from_db(&db, &[None, None]).unwrap();
            m.record();
            for r in &reqs {
                m.apply(r);
            }
            let out = written(&db, m.take_changes());
            let odb = Db::open(&out).unwrap();
            prop_assert!(crate::formats::bbolt::check(&odb).findings.is_empty());
            let (s, f) = crate::etcd::mvcc::compact_revisions(&odb).unwrap();
            let again = Model::from_db(&odb, &[s, f]).unwrap();
            prop_assert_eq!(&again.keys, &m.keys);
            prop_assert_eq!(&again.leases, &m.leases);
            prop_assert_eq!(again.revision, m.revision);
            prop_assert_eq!(again.compact_revision, m.compact_revision);

            // In two steps.
            let cut = cut.min(reqs.len());
            let mut a = Model::from_db(&db, &[None, None]).unwrap();
            a.record();
            for r in &reqs[..cut] {
                a.apply(r);
            }
            let mid = written(&db, a.take_changes());
            let mdb = Db::open(&mid).unwrap();
            let (s, f) = crate::etcd::mvcc::compact_revisions(&mdb).unwrap();
            let mut b = Model::from_db(&mdb, &[s, f]).unwrap();
            b.record();
            for r in &reqs[cut..] {
                b.apply(r);
            }
            let out2 = written(&mdb, b.take_changes());
            let key_bucket = |bytes: &[u8]| -> Vec<(Vec<u8>, Vec<u8>)> {
                let d = Db::open(bytes).unwrap();
                let bk = d.bucket(b"key").unwrap().unwrap();
                bk.cursor(&d).map(|e| { let e = e.unwrap(); (e.key.to_vec(), e.value.to_vec()) }).collect()
            };
            prop_assert_eq!(key_bucket(&out2), key_bucket(&out));
        }
    }
}
