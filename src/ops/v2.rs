//! `v2 ls` / `v2 get`: the v2 store (etcd 3.4/3.5 `--enable-v2` keys) rebuilt
//! offline from the newest usable `.snap` plus the committed v2 requests after
//! it in the WAL, listed the way `ETCDCTL_API=2 etcdctl ls` / `get` would.
//!
//! Keys are shown without the store's internal `/1` prefix, as the v2 API
//! does. Expired keys stay until a SYNC entry removes them (etcd's Get does not
//! look at the clock), so they are listed; callers mark them.

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Finding, Result};
use crate::etcd::raftlog::{self, WalDir};
use crate::etcd::v2replay::{clean, V2Node, V2Store};
use crate::etcd::v2store::Store;
use crate::etcd::version::Version;
use crate::formats::snap;
use crate::source::Source;

/// The rebuilt store and where it came from.
#[derive(Debug, Clone)]
pub struct V2Loaded {
    /// The `.snap` the store started from (`None`: empty store).
    pub snap: Option<PathBuf>,
    /// Raft index of that snapshot.
    pub snap_index: u64,
    /// Last raft index applied (the snapshot's when nothing followed).
    pub applied_index: u64,
    /// v2 requests applied (successful or not, as etcd applies them).
    pub requests: u64,
    /// Of those, how many etcd answered with an error (nothing changed).
    pub failed: u64,
    /// The store.
    pub store: V2Store,
    /// Problems met while loading (WAL, `.snap`, times).
    pub findings: Vec<Finding>,
    /// `meta/storageVersion` of the member's db (`member/snap/db`), when a data
    /// or member dir was given and the db has one (etcd 3.6+). From 3.6 on the
    /// v2 store keeps only membership; 3.7 writes it but never reads it.
    pub storage_version: Option<Version>,
}

/// What the v2 store can hold, by the etcd that wrote the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V2Era {
    /// Not known (a single `.snap` file, or no readable db): 3.4/3.5 rules.
    Unknown,
    /// etcd 3.6: membership only (`/0`); v2 requests are neither served nor
    /// applied, other content makes etcd refuse to start; etcd loads the
    /// membership from the `.snap` at start-up.
    V36(Version),
    /// etcd 3.7 or newer: as 3.6, and etcd no longer reads the v2 store at all
    /// (membership comes from the db's `members` bucket).
    V37(Version),
}

impl V2Loaded {
    /// What the v2 store means for the etcd that wrote these files.
    pub fn era(&self) -> V2Era {
        match &self.storage_version {
            Some(v) if v.at_least(3, 7) => V2Era::V37(v.clone()),
            Some(v) if v.at_least(3, 6) => V2Era::V36(v.clone()),
            _ => V2Era::Unknown,
        }
    }
}

/// `meta/storageVersion` of the db under a data or member dir, if any can be read.
fn db_storage_version(member: &Path) -> Option<Version> {
    let input = super::input::Opened::open_db_file(&member.join("snap").join("db")).ok()?;
    let db = input.db().ok()?;
    crate::etcd::status::storage_version(&db).ok().flatten()
}

/// One node as the v2 API shows it.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'s> {
    /// The node.
    pub node: &'s V2Node,
    /// Its key without the `/1` prefix.
    pub key: &'s str,
}

impl Shown<'_> {
    /// Whether its ExpireTime is at or before `now_ns`.
    pub fn expired(&self, now_ns: i64) -> bool {
        self.node.expire_ns.is_some_and(|t| t <= now_ns)
    }
}

/// The user key of a store path under `/1` (`/1/a/b` → `/a/b`, `/1` → `/`).
pub fn user_key(store_path: &str) -> &str {
    match store_path.strip_prefix("/1") {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => store_path,
    }
}

/// The store path of a user key (`a/b` → `/1/a/b`).
pub fn store_path(key: &str) -> String {
    let mut s = String::from("/1");
    for p in clean(key) {
        s.push('/');
        s.push_str(&p);
    }
    s
}

/// Loads the v2 store of a data dir, member dir or single `.snap` file.
pub fn load(path: &Path) -> Result<V2Loaded> {
    load_path(path).map_err(|e| {
        e.with_path_hint(
            "give a data dir or member dir (the v2 store is rebuilt from its .snap and WAL files), or one .snap file",
        )
    })
}

fn load_path(path: &Path) -> Result<V2Loaded> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("open", path, &e))?;
    if meta.is_file() {
        return load_snap_file(path);
    }
    let member = if path.join("member").is_dir() {
        path.join("member")
    } else if path.join("wal").is_dir() || path.join("snap").is_dir() {
        path.to_path_buf()
    } else {
        return Err(Error::new(ErrorKind::BadPath(
            "directory holds neither member/ (a data dir) nor snap/ or wal/ (a member dir)".into(),
        ))
        .in_file(path));
    };
    let wal_dir = member.join("wal");
    let snap_dir = member.join("snap");
    let wal = match WalDir::open(&wal_dir) {
        Ok(w) => w,
        Err(e) => {
            return newest_snap_only(&snap_dir, e).map(|mut l| {
                l.storage_version = db_storage_version(&member);
                l
            })
        }
    };
    let log = raftlog::load(&wal, Some(&snap_dir), false)?;
    let mut findings = log.findings.clone();
    let (mut store, snap, snap_index) = match &log.chosen {
        Some(c) => {
            let name = snap::file_name(c.term(), c.index());
            let snap_path = log
                .snaps
                .iter()
                .find(|s| s.selected)
                .map_or_else(|| snap_dir.join(&name), |s| snap_dir.join(&s.name));
            let saved = Store::parse(c.data()).map_err(|e| {
                Error::new(ErrorKind::BadV2Store(e.to_string())).in_file(&snap_path)
            })?;
            (V2Store::from_saved(&saved), Some(snap_path), c.index())
        }
        None => (V2Store::empty(), None, 0),
    };
    let mut applied_index = snap_index;
    let mut requests = 0u64;
    let mut failed = 0u64;
    for e in log.read.committed() {
        applied_index = e.entry.index;
        let fx = store.apply_entry(&e.entry);
        if fx.v2_request {
            requests = requests.saturating_add(1);
            failed = failed.saturating_add(u64::from(fx.failed));
        }
    }
    time_findings(&store, snap.as_deref(), &mut findings);
    Ok(V2Loaded {
        snap,
        snap_index,
        applied_index,
        requests,
        failed,
        store,
        findings,
        storage_version: db_storage_version(&member),
    })
}

/// Without WAL files: the newest `.snap` that loads, with a warning that later
/// changes are missing. Fails with the WAL error when no `.snap` loads either.
fn newest_snap_only(snap_dir: &Path, wal_err: Error) -> Result<V2Loaded> {
    let Ok(names) = raftlog::list_names(snap_dir) else {
        return Err(wal_err);
    };
    for name in names.iter().rev().filter(|n| n.ends_with(".snap")) {
        let p = snap_dir.join(name);
        if let Ok(mut l) = load_snap_file(&p) {
            l.findings.insert(
                0,
                Finding::warning(
                    "v2.wal.missing",
                    crate::error::Location {
                        file: Some(p.clone()),
                        page: None,
                        offset: None,
                    },
                    format!(
                        "no WAL could be read ({wal_err}); showing the v2 store as of this snapshot (index {}), without the changes after it",
                        l.snap_index
                    ),
                ),
            );
            return Ok(l);
        }
    }
    Err(wal_err)
}

fn load_snap_file(path: &Path) -> Result<V2Loaded> {
    let src = Source::open(path)?;
    let file = snap::decode(src.bytes()).map_err(|p| {
        Error::new(ErrorKind::BadPath(format!(
            "not a readable .snap file: {p}; give the data dir to rebuild the v2 store from the WAL as well"
        )))
        .in_file(path)
    })?;
    let saved = Store::parse(file.data())
        .map_err(|e| Error::new(ErrorKind::BadV2Store(e.to_string())).in_file(path))?;
    let store = V2Store::from_saved(&saved);
    let mut findings = Vec::new();
    time_findings(&store, Some(path), &mut findings);
    Ok(V2Loaded {
        snap: Some(path.to_path_buf()),
        snap_index: file.index(),
        applied_index: file.index(),
        requests: 0,
        failed: 0,
        store,
        findings,
        storage_version: None,
    })
}

fn time_findings(store: &V2Store, snap: Option<&Path>, out: &mut Vec<Finding>) {
    if store.bad_times > 0 {
        out.push(Finding::warning(
            "v2.expire-time.unparsable",
            crate::error::Location {
                file: snap.map(Path::to_path_buf),
                page: None,
                offset: None,
            },
            format!(
                "{} ExpireTime values in the v2 store do not parse as RFC 3339; those nodes are shown as permanent",
                store.bad_times
            ),
        ));
    }
}

/// What a key lookup found.
#[derive(Debug)]
pub enum Lookup<'s> {
    /// The node.
    Found(Shown<'s>),
    /// No such key (etcd: `100: Key not found`).
    NotFound,
    /// A path component is a key, not a dir (etcd: `104: Not a directory`).
    NotDir(String),
}

impl V2Loaded {
    /// The node at user key `key`.
    pub fn lookup(&self, key: &str) -> Lookup<'_> {
        let parts = clean(&store_path(key));
        let mut n = &self.store.root;
        for p in &parts {
            let Some(children) = &n.children else {
                return Lookup::NotDir(user_key(&n.path).to_owned());
            };
            match children.get(p) {
                Some(c) => n = c,
                None => return Lookup::NotFound,
            }
        }
        Lookup::Found(Shown {
            node: n,
            key: user_key(&n.path),
        })
    }

    /// What `etcdctl ls [--recursive] KEY` prints, in `--sort` order: the key
    /// itself when it is a key, else its (non-hidden) children, depth first.
    pub fn ls(
        &self,
        key: &str,
        recursive: bool,
    ) -> std::result::Result<Vec<Shown<'_>>, Lookup<'_>> {
        let top = match self.lookup(key) {
            Lookup::Found(s) => s,
            other => return Err(other),
        };
        let mut out = Vec::new();
        let Some(children) = &top.node.children else {
            out.push(top);
            return Ok(out);
        };
        // Depth-first, children in name order (etcd sorts by full key, the same).
        let mut stack: Vec<&V2Node> = children.values().rev().collect();
        while let Some(n) = stack.pop() {
            if n.is_hidden() {
                continue;
            }
            out.push(Shown {
                node: n,
                key: user_key(&n.path),
            });
            if recursive {
                if let Some(c) = &n.children {
                    stack.extend(c.values().rev());
                }
            }
        }
        Ok(out)
    }
}

/// Now, Unix nanoseconds.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// etcd's TTL: ceil((expire - now) / 1 s); negative once expired.
pub fn ttl_seconds(expire_ns: i64, now_ns: i64) -> i64 {
    let d = i128::from(expire_ns) - i128::from(now_ns);
    // Go: truncate toward zero, then one more for a positive remainder.
    let mut s = d / 1_000_000_000;
    if d % 1_000_000_000 > 0 {
        s += 1;
    }
    i64::try_from(s).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX })
}
