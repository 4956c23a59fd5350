//! `patroni`: Patroni's clusters in an etcd snapshot, db, member dir or data
//! dir: the v2 store (rebuilt as `v2 ls` does) and the v3 keyspace at a
//! revision (as `keys` does) are both read, every scope found is parsed by
//! [`crate::etcd::patroni`], and advisories for recovery are attached.
//!
//! Which stores an input has: a data or member dir has both (the v2 store from
//! `.snap` + WAL, the v3 keyspace from `member/snap/db`); a `.snap` file only
//! the v2 store; any other file (snapshot, db copy) only the v3 keyspace.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::etcd::keyspace::{self, Records};
use crate::etcd::patroni::{self, Advisory, Api, Cluster, Expiry, LeaderLife, RawKey, ScopeKeys};
use crate::etcd::schema;
use crate::etcd::v2replay::V2Node;
use crate::formats::bbolt::Db;
use crate::ops::keys::Opened;
use crate::ops::v2;

/// Options of `patroni`.
#[derive(Debug, Clone, Default)]
pub struct PatroniOptions {
    /// Only this namespace (`/service`); `None`: every namespace.
    pub namespace: Option<String>,
    /// Only this scope; `None`: every scope.
    pub scope: Option<String>,
    /// v3 revision to read at (≤ 0: current).
    pub rev: i64,
    /// Reference time for TTLs, Unix ns.
    pub now_ns: i64,
    /// Also list how the leader key moved through the stored revisions.
    pub leader_history: bool,
}

/// How one store of an input was read.
#[derive(Debug, Clone, Serialize)]
pub struct StoreRead {
    /// `v2` or `v3`.
    pub api: Api,
    /// What was read: the db file, or the `.snap` the v2 store started from.
    pub source: Option<PathBuf>,
    /// v3: the revision read at; v2: the last raft index applied.
    pub at: i64,
    /// v3: the compact revision (older revisions are gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compact_rev: Option<i64>,
    /// v3: the current revision of the db.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_rev: Option<i64>,
    /// Keys read from this store (all of them, Patroni's or not).
    pub keys: u64,
    /// Findings of the loader (v2: WAL, `.snap`, times).
    pub notes: Vec<String>,
}

/// One stretch of the leader key's history: consecutive records naming the
/// same leader (or its absence). Positions are v3 revisions, or for v2 the
/// raft indexes of the WAL entries that changed the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaderSpell {
    /// Leader named, `None` while the key was deleted (or expired by a SYNC).
    pub leader: Option<String>,
    /// First revision (v3) or raft index (v2) of the stretch.
    pub from: i64,
    /// Last change within the stretch (v3: lease keep-alives are not
    /// revisions; v2: Patroni re-sets the key with its TTL every loop).
    pub last: i64,
    /// Changes in the stretch.
    pub changes: u64,
}

fn push_spell(list: &mut Vec<LeaderSpell>, leader: Option<String>, at: i64) {
    match list.last_mut() {
        Some(last) if last.leader == leader => {
            last.last = at;
            last.changes = last.changes.saturating_add(1);
        }
        _ => list.push(LeaderSpell {
            leader,
            from: at,
            last: at,
            changes: 1,
        }),
    }
}

/// One cluster with what `patronictl` would show and the advisories.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterReport {
    /// The keys as parsed.
    pub cluster: Cluster,
    /// Rows of `patronictl list -f json`.
    pub patronictl_list: Vec<Value>,
    /// Rows of `patronictl history -f json`.
    pub patronictl_history: Vec<Value>,
    /// The leader key's life at the reference time.
    pub leader_life: Option<LeaderLife>,
    /// Advisories on this cluster.
    pub advisories: Vec<Advisory>,
    /// `--history`: the leader key through the stored revisions (v3) or the
    /// WAL entries after the `.snap` (v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_history: Option<Vec<LeaderSpell>>,
    /// What `leader_history` positions are: `revision` or `raft_index`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_history_unit: Option<&'static str>,
}

/// One input.
#[derive(Debug, Clone, Serialize)]
pub struct InputReport {
    /// The path given.
    pub path: PathBuf,
    /// Stores read.
    pub stores: Vec<StoreRead>,
    /// Stores that could not be read, with why.
    pub unreadable_stores: Vec<String>,
    /// Clusters found, by API, namespace, scope.
    pub clusters: Vec<ClusterReport>,
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct PatroniReport {
    /// Reference time for TTLs (RFC 3339).
    pub now: String,
    /// Each input.
    pub inputs: Vec<InputReport>,
    /// Advisories across clusters and inputs.
    pub advisories: Vec<Advisory>,
}

impl PatroniReport {
    /// Whether any advisory is a warning or a key was unreadable.
    pub fn has_problems(&self) -> bool {
        let warn = |a: &Advisory| a.level == patroni::Level::Warning;
        self.advisories.iter().any(warn)
            || self
                .inputs
                .iter()
                .flat_map(|i| &i.clusters)
                .flat_map(|c| &c.advisories)
                .any(warn)
    }
}

/// Reads every input. Fails (exit 2) only when an input has no readable store.
pub fn patroni(paths: &[PathBuf], opts: &PatroniOptions) -> Result<PatroniReport> {
    let mut inputs = Vec::new();
    for p in paths {
        inputs.push(read_input(p, opts)?);
    }
    let all: Vec<(String, &Cluster)> = inputs
        .iter()
        .flat_map(|i| {
            i.clusters
                .iter()
                .map(move |c| (i.path.display().to_string(), &c.cluster))
        })
        .collect();
    let advisories = patroni::advise_across(&all);
    Ok(PatroniReport {
        now: crate::etcd::v2replay::format_rfc3339_ns(opts.now_ns),
        inputs,
        advisories,
    })
}

fn read_input(path: &Path, opts: &PatroniOptions) -> Result<InputReport> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("open", path, &e))?;
    let is_snap_file = meta.is_file() && path.extension().is_some_and(|e| e == "snap");
    let want_v2 = meta.is_dir() || is_snap_file;
    let want_v3 = !is_snap_file;
    let mut stores = Vec::new();
    let mut unreadable = Vec::new();
    let mut scopes: Vec<ScopeKeys> = Vec::new();
    let mut first_err = None;
    let mut v3_ctx = None;
    let mut v2_spells: Option<Spells> = None;
    let (mut v3_historical, mut v3_current) = (false, 0i64);
    if want_v2 {
        match read_v2(path) {
            Ok((s, keys)) => {
                stores.push(s);
                let found = patroni::group_scopes(Api::V2, keys);
                if opts.leader_history && meta.is_dir() {
                    let leader_keys: Vec<String> = found.iter().map(leader_key_of).collect();
                    match v2_leader_history(path, &leader_keys) {
                        Ok(sp) => v2_spells = Some(sp),
                        Err(e) => unreadable.push(format!("v2 leader history: {e}")),
                    }
                }
                scopes.extend(found);
            }
            Err(e) => {
                unreadable.push(format!("v2 store: {e}"));
                first_err.get_or_insert(e);
            }
        }
    }
    if want_v3 {
        match Opened::open(path) {
            Ok(input) => match read_v3(&input, opts) {
                Ok((s, keys, spells)) => {
                    v3_historical = s.current_rev.is_some_and(|c| c != s.at);
                    v3_current = s.current_rev.unwrap_or(s.at);
                    stores.push(s);
                    scopes.extend(patroni::group_scopes(Api::V3, keys));
                    v3_ctx = Some(spells);
                }
                Err(e) => {
                    unreadable.push(format!("v3 keyspace: {e}"));
                    first_err.get_or_insert(e);
                }
            },
            Err(e) => {
                unreadable.push(format!("v3 keyspace: {e}"));
                first_err.get_or_insert(e);
            }
        }
    }
    if stores.is_empty() {
        if let Some(e) = first_err {
            return Err(e);
        }
    }
    let ns_filter = opts
        .namespace
        .as_deref()
        .map(|n| n.trim_end_matches('/').to_owned())
        .map(|n| if n.is_empty() { "/".to_owned() } else { n });
    let mut clusters = Vec::new();
    for s in scopes {
        if ns_filter.as_deref().is_some_and(|n| n != s.namespace) {
            continue;
        }
        if opts.scope.as_deref().is_some_and(|sc| sc != s.scope) {
            continue;
        }
        let cluster = patroni::parse(&s);
        let leader_life = cluster
            .leader
            .as_ref()
            .map(|l| patroni::leader_life(l, opts.now_ns));
        let mut advisories = patroni::advise(&cluster, opts.now_ns);
        if s.api == Api::V3 && v3_historical {
            // The lease bucket holds the leases of the current revision only:
            // a lease missing now was revoked (expired) after the revision read.
            for a in &mut advisories {
                if a.code == "patroni.leader.lease-missing" {
                    a.code = "patroni.leader.lease-revoked-later";
                    a.level = patroni::Level::Info;
                    a.detail = format!(
                        "the leader key's lease is gone at the current revision {}: it was revoked (expired) after revision {}",
                        v3_current, opts.rev
                    );
                    a.action =
                        "nothing at this revision: the key was deleted with its lease later; \
                                read without --rev for the state a restore gives"
                            .to_owned();
                }
            }
        }
        let (leader_history, leader_history_unit) = if opts.leader_history {
            let key = leader_key_of(&s);
            match (s.api, &v3_ctx, &v2_spells) {
                (Api::V3, Some(spells), _) => (
                    Some(spells.get(&key).cloned().unwrap_or_default()),
                    Some("revision"),
                ),
                (Api::V2, _, Some(spells)) => (
                    Some(spells.get(&key).cloned().unwrap_or_default()),
                    Some("raft_index"),
                ),
                _ => (None, None),
            }
        } else {
            (None, None)
        };
        clusters.push(ClusterReport {
            patronictl_list: cluster.patronictl_list(),
            patronictl_history: cluster.patronictl_history(),
            cluster,
            leader_life,
            advisories,
            leader_history,
            leader_history_unit,
        });
    }
    Ok(InputReport {
        path: path.to_path_buf(),
        stores,
        unreadable_stores: unreadable,
        clusters,
    })
}

/// The v2 store's keys (not dirs), by user key.
fn read_v2(path: &Path) -> Result<(StoreRead, Vec<(String, RawKey)>)> {
    let loaded = v2::load(path)?;
    let mut keys = Vec::new();
    let mut stack: Vec<&V2Node> = vec![&loaded.store.root];
    while let Some(n) = stack.pop() {
        match &n.children {
            Some(c) => stack.extend(c.values()),
            None => {
                let k = v2::user_key(&n.path);
                // Only user keys (`/1/...`); `/0` holds etcd's membership.
                if k.len() == n.path.len() {
                    continue;
                }
                keys.push((
                    k.to_owned(),
                    RawKey {
                        value: n.value.clone().into_bytes(),
                        modified: i64::try_from(n.modified_index).unwrap_or(i64::MAX),
                        expiry: n
                            .expire_ns
                            .map_or(Expiry::Permanent, |expire_ns| Expiry::At { expire_ns }),
                    },
                ));
            }
        }
    }
    let read = StoreRead {
        api: Api::V2,
        source: loaded.snap.clone(),
        at: i64::try_from(loaded.applied_index).unwrap_or(i64::MAX),
        compact_rev: None,
        current_rev: None,
        keys: crate::bytes::to_u64(keys.len()),
        notes: loaded
            .findings
            .iter()
            .map(|f| format!("{}: {}", f.code, f.message))
            .collect(),
    };
    Ok((read, keys))
}

type Spells = BTreeMap<String, Vec<LeaderSpell>>;

/// What [`read_v3`] returns: the store read, its keys, the leader spells.
type V3Read = (StoreRead, Vec<(String, RawKey)>, Spells);

/// The v3 keys alive at `opts.rev` (UTF-8 keys only: Patroni's are), with
/// their leases' granted TTLs, and (with `leader_history`) every `…/leader`
/// key's records up to that revision.
fn read_v3(input: &Opened, opts: &PatroniOptions) -> Result<V3Read> {
    let db = input.db()?;
    let release = || input.source.release_resident();
    let prefix = opts.namespace.as_deref().unwrap_or("").as_bytes();
    let ks = keyspace::state_at(&db, opts.rev, prefix, &release).map_err(|e| input.locate(e))?;
    let mut ttl_of: BTreeMap<i64, Option<i64>> = BTreeMap::new();
    let mut keys = Vec::new();
    for kv in &ks.kvs {
        let Ok(k) = std::str::from_utf8(kv.key) else {
            continue;
        };
        let expiry = if kv.lease == 0 {
            Expiry::Permanent
        } else {
            let ttl = match ttl_of.get(&kv.lease) {
                Some(t) => *t,
                None => {
                    let t = lease_ttl(&db, kv.lease).map_err(|e| input.locate(e))?;
                    ttl_of.insert(kv.lease, t);
                    t
                }
            };
            Expiry::Lease {
                id: kv.lease,
                granted_ttl: ttl,
            }
        };
        keys.push((
            k.to_owned(),
            RawKey {
                value: kv.value.to_vec(),
                modified: kv.mod_revision,
                expiry,
            },
        ));
    }
    let mut spells = Spells::new();
    if opts.leader_history {
        let leader_suffix = format!("/{}", patroni::key::LEADER);
        for r in Records::new(&db, ks.rev).map_err(|e| input.locate(e))? {
            let r = r.map_err(|e| input.locate(e))?;
            let Ok(k) = std::str::from_utf8(r.kv.key) else {
                continue;
            };
            if !k.ends_with(&leader_suffix)
                || !k.starts_with(std::str::from_utf8(prefix).unwrap_or(""))
            {
                continue;
            }
            let leader = if r.tombstone {
                None
            } else {
                Some(String::from_utf8_lossy(r.kv.value).into_owned())
            };
            push_spell(spells.entry(k.to_owned()).or_default(), leader, r.rev.main);
        }
    }
    let read = StoreRead {
        api: Api::V3,
        source: Some(input.db_path.clone()),
        at: ks.rev,
        compact_rev: Some(ks.revisions.compact),
        current_rev: Some(ks.revisions.current),
        keys: crate::bytes::to_u64(ks.kvs.len()),
        notes: Vec::new(),
    };
    Ok((read, keys, spells))
}

fn leader_key_of(s: &ScopeKeys) -> String {
    let ns = s.namespace.trim_end_matches('/');
    format!("{ns}/{}/{}", s.scope, patroni::key::LEADER)
}

/// The v2 leader keys through the committed WAL entries after the `.snap`:
/// the store is rebuilt as [`v2::load`] does, and each key is looked at after
/// every applied entry. The first spell starts with the `.snap`'s state (at
/// its index): what came before is gone from the WAL.
fn v2_leader_history(path: &Path, leader_keys: &[String]) -> Result<Spells> {
    use crate::etcd::entry::{payload, Payload};
    use crate::etcd::raftlog::{self, WalDir};
    use crate::etcd::v2replay::V2Store;
    use crate::etcd::v2store::Store;

    let member = if path.join("member").is_dir() {
        path.join("member")
    } else {
        path.to_path_buf()
    };
    let wal = WalDir::open(&member.join("wal"))?;
    let snap_dir = member.join("snap");
    let log = raftlog::load(&wal, Some(&snap_dir), false)?;
    let (mut store, start) = match &log.chosen {
        Some(c) => match Store::parse(c.data()) {
            Ok(saved) => (V2Store::from_saved(&saved), c.index()),
            Err(e) => {
                return Err(
                    Error::new(crate::error::ErrorKind::BadV2Store(e.to_string()))
                        .in_file(&snap_dir),
                )
            }
        },
        None => (V2Store::empty(), 0),
    };
    let paths: Vec<(String, String)> = leader_keys
        .iter()
        .map(|k| (k.clone(), v2::store_path(k)))
        .collect();
    let value_of = |store: &V2Store, p: &str| {
        store
            .get(p)
            .filter(|n| !n.is_dir())
            .map(|n| n.value.clone())
    };
    let mut spells = Spells::new();
    let mut current: Vec<Option<String>> = Vec::new();
    let start = i64::try_from(start).unwrap_or(i64::MAX);
    for (k, p) in &paths {
        let v = value_of(&store, p);
        if v.is_some() {
            push_spell(spells.entry(k.clone()).or_default(), v.clone(), start);
        }
        current.push(v);
    }
    for e in log.read.committed() {
        let req = match payload(&e.entry) {
            Payload::V2 { v2 } => Some(*v2),
            Payload::Request { irr, .. } => irr.v2.clone(),
            _ => None,
        };
        let Some(req) = req else { continue };
        // Failed requests change nothing (etcd answers them with an error).
        let ok = store.apply(&req).is_ok();
        let at = i64::try_from(e.entry.index).unwrap_or(i64::MAX);
        for ((k, p), cur) in paths.iter().zip(current.iter_mut()) {
            let v = value_of(&store, p);
            let touched = (ok && req.path == p.as_bytes()) || v != *cur;
            if touched {
                push_spell(spells.entry(k.clone()).or_default(), v.clone(), at);
            }
            *cur = v;
        }
    }
    Ok(spells)
}

/// The granted TTL of lease `id`, `None` when the lease is not stored.
fn lease_ttl(db: &Db<'_>, id: i64) -> Result<Option<i64>> {
    let Some(bucket) = db.bucket(schema::LEASE)? else {
        return Ok(None);
    };
    let key = id.to_be_bytes();
    let Some(e) = bucket.get(db, &key)? else {
        return Ok(None);
    };
    Ok(
        <crate::formats::proto::leasepb::Lease as prost::Message>::decode(e.value)
            .ok()
            .map(|l| l.ttl),
    )
}
