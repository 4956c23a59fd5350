//! The v2 store rebuilt offline: the tree of the chosen `.snap` plus the
//! committed v2 requests after it, applied by etcd's rules.
//!
//! Rules (facts from etcd v3.4.23 `etcdserver/apply_v2.go` and
//! `etcdserver/api/v2store/{store,node}.go`; v3.5.1 `membership/cluster.go`):
//! * PUT: PrevExist=true → Update (no PrevIndex/PrevValue) or CompareAndSwap;
//!   PrevExist=false → Create; PrevIndex>0 or PrevValue≠"" → CompareAndSwap;
//!   else Set (`/0/members/<id>/attributes` only while the member exists).
//! * POST: Create with a unique name `path/%020d(CurrentIndex+1)`.
//! * DELETE: CompareAndDelete with PrevIndex/PrevValue, else Delete.
//! * SYNC: every node whose ExpireTime ≤ Time is removed; each removal
//!   (a node not already removed with an ancestor) bumps CurrentIndex.
//! * QGET and unknown methods change nothing.
//! * `/`, `/0`, `/1` cannot be written (except by CompareAndDelete, as in etcd).
//! * Missing parent dirs are created with index CurrentIndex+1, even when the
//!   write itself then fails. Failed writes leave CurrentIndex unchanged.
//! * Create/Set ignore ExpireTimes before 2000-01-01 (permanent);
//!   Update/CompareAndSwap take the time as given; Expiration 0 = permanent.
//! * Refresh keeps the old value.
//!
//! Membership changes (ConfChange entries, 3.5 IRR cluster version / member
//! attributes) also write to `/0`, which moves CurrentIndex; they are applied
//! so that indexes of later `/1` writes come out right.
//!
//! [`V2Store::save_json`] writes the store back as etcd's `store.Save()`
//! does (what `repair wal` puts into a rebuilt `.snap`); its `CurrentIndex`
//! is the store's own write counter, not the raft index (etcd's `Clone`
//! copies it as it is: the testdata `.snap` at raft index 63 says 60).
//! [`V2Store::set_membership`] sets `/0` from the db's membership.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

use super::entry::{payload, Payload};
use super::gojson::{go_json_list, go_json_string};
use super::member::Member;
use super::membership::{ConfChangeContext, MemberJson};
use super::v2store::{Node, Store};
use crate::formats::proto::etcdserverpb::Request;
use crate::formats::proto::raftpb;

/// 2000-01-01T00:00:00Z in Unix nanoseconds: earlier expiry times mean "none".
pub const MIN_EXPIRE_NS: i64 = 946_684_800_000_000_000;

/// One node of the rebuilt tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Node {
    /// Full store path (`/1/service/pg/leader`).
    pub path: String,
    /// Index of creation.
    pub created_index: u64,
    /// Index of the last change.
    pub modified_index: u64,
    /// Absolute expiry, Unix nanoseconds; `None` = permanent.
    pub expire_ns: Option<i64>,
    /// Value (keys; dirs normally "").
    pub value: String,
    /// Children by name (`Some` for dirs).
    pub children: Option<BTreeMap<String, V2Node>>,
}

impl V2Node {
    fn dir(path: String, index: u64, expire_ns: Option<i64>) -> Self {
        V2Node {
            path,
            created_index: index,
            modified_index: index,
            expire_ns,
            value: String::new(),
            children: Some(BTreeMap::new()),
        }
    }

    /// Whether this is a dir.
    pub fn is_dir(&self) -> bool {
        self.children.is_some()
    }

    /// The node at `parts` below this one.
    pub fn get(&self, parts: &[String]) -> Option<&V2Node> {
        let mut n = self;
        for p in parts {
            n = n.children.as_ref()?.get(p)?;
        }
        Some(n)
    }

    fn get_mut(&mut self, parts: &[String]) -> Option<&mut V2Node> {
        let mut n = self;
        for p in parts {
            n = n.children.as_mut()?.get_mut(p)?;
        }
        Some(n)
    }

    /// Hidden nodes (name starting with `_`) are left out of listings by etcd.
    pub fn is_hidden(&self) -> bool {
        self.path
            .rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with('_'))
    }

    fn from_saved(n: &Node, bad_times: &mut u64) -> V2Node {
        // Iterative conversion would need parent links; the JSON parser has
        // already bounded the nesting depth (serde_json: 128), so recursion is safe.
        let expire_ns = match parse_rfc3339_ns(&n.expire_time) {
            Some(t) if t == GO_ZERO_TIME_NS => None,
            Some(t) => Some(t),
            None => {
                if !n.expire_time.is_empty() {
                    *bad_times = bad_times.saturating_add(1);
                }
                None
            }
        };
        V2Node {
            path: n.path.clone(),
            created_index: n.created_index,
            modified_index: n.modified_index,
            expire_ns,
            value: n.value.clone(),
            children: n.children.as_ref().map(|c| {
                c.iter()
                    .map(|(k, v)| (k.clone(), V2Node::from_saved(v, bad_times)))
                    .collect()
            }),
        }
    }
}

/// Why a request did not change the store (etcd answers the client with the
/// same v2 error code and applies nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyError {
    /// 100 Key not found.
    KeyNotFound,
    /// 101 Compare failed.
    TestFailed,
    /// 102 Not a file.
    NotFile,
    /// 104 Not a directory.
    NotDir,
    /// 105 Key already exists.
    NodeExist,
    /// 107 Root is read only.
    RootReadOnly,
    /// 108 Directory not empty.
    DirNotEmpty,
    /// Not etcd's: a path deeper than [`MAX_DEPTH`] is not applied (it would
    /// only come from a forged WAL, and the tree is dropped recursively).
    TooDeep,
}

/// Deepest path applied from the WAL (etcd has no limit; real keys are far shallower).
pub const MAX_DEPTH: usize = 512;

/// The rebuilt v2 store.
#[derive(Debug, Clone)]
pub struct V2Store {
    /// The root (`/`).
    pub root: V2Node,
    /// etcd's index after the last applied change.
    pub current_index: u64,
    /// ExpireTimes in the snapshot that did not parse (taken as permanent).
    pub bad_times: u64,
    /// A lower bound of every ExpireTime in the tree (`None`: no TTL node), so
    /// that a SYNC with nothing due does not walk the tree.
    expire_floor: Option<i64>,
}

/// Go's zero `time.Time` (`0001-01-01T00:00:00Z`) in Unix nanoseconds (saturated).
const GO_ZERO_TIME_NS: i64 = i64::MIN;

/// Parses RFC 3339 (with optional fraction and a `Z` or `±hh:mm` offset) to
/// Unix nanoseconds; years before 1678 saturate to `i64::MIN`.
pub fn parse_rfc3339_ns(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from.checked_add(len)?)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let year = num(0, 4)?;
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    let hour = num(11, 2)?;
    let min = num(14, 2)?;
    let sec = num(17, 2)?;
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't'))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let mut i = 19;
    let mut frac_ns: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = s.get(start..i)?;
        if digits.is_empty() {
            return None;
        }
        let mut d: String = digits.chars().take(9).collect();
        while d.len() < 9 {
            d.push('0');
        }
        frac_ns = d.parse().ok()?;
    }
    let offset_s: i64 = match b.get(i) {
        Some(b'Z' | b'z') if b.len() == i + 1 => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && b.get(i + 3) == Some(&b':') => {
            let h = num(i + 1, 2)?;
            let m = num(i + 4, 2)?;
            let o = h * 3600 + m * 60;
            if *sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    // Days from civil (proleptic Gregorian), 1970-01-01 = 0.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_s;
    Some(
        secs.checked_mul(1_000_000_000)
            .and_then(|n| n.checked_add(frac_ns))
            .unwrap_or(if secs < 0 { i64::MIN } else { i64::MAX }),
    )
}

/// Unix nanoseconds as RFC 3339 in UTC with the fraction trimmed (Go's `RFC3339Nano`).
pub fn format_rfc3339_ns(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil from days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    if frac != 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Go's `path.Clean(path.Join("/", p))`, as components.
pub fn clean(p: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            x => out.push(x.to_owned()),
        }
    }
    out
}

fn join(parts: &[String]) -> String {
    if parts.is_empty() {
        "/".into()
    } else {
        let mut s = String::new();
        for p in parts {
            s.push('/');
            s.push_str(p);
        }
        s
    }
}

fn is_read_only(parts: &[String]) -> bool {
    match parts {
        [] => true,
        [one] => one == "0" || one == "1",
        _ => false,
    }
}

/// The cleaned path of a node a request may change (not the root, nor the
/// read-only `/0` and `/1`).
fn writable(path: &str) -> Result<Vec<String>, ApplyError> {
    let parts = clean(path);
    if is_read_only(&parts) {
        return Err(ApplyError::RootReadOnly);
    }
    Ok(parts)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `Expiration` of a request: 0 means none.
fn expiration(r: &Request) -> Option<i64> {
    (r.expiration != 0).then_some(r.expiration)
}

fn compare(n: &V2Node, prev_value: &str, prev_index: u64) -> bool {
    (prev_index == 0 || n.modified_index == prev_index)
        && (prev_value.is_empty() || n.value == prev_value)
}

/// A stored `raftAttributes` value (only the learner flag is read).
#[derive(Deserialize, Default)]
struct StoredRaftAttributes {
    #[serde(rename = "isLearner", default)]
    is_learner: bool,
}

impl V2Store {
    /// An empty store as etcd starts it: `/`, `/0`, `/1` at index 0.
    pub fn empty() -> Self {
        let mut root = V2Node::dir("/".into(), 0, None);
        if let Some(c) = root.children.as_mut() {
            c.insert("0".into(), V2Node::dir("/0".into(), 0, None));
            c.insert("1".into(), V2Node::dir("/1".into(), 0, None));
        }
        V2Store {
            root,
            current_index: 0,
            bad_times: 0,
            expire_floor: None,
        }
    }

    /// The store of a `.snap`.
    pub fn from_saved(s: &Store) -> Self {
        let mut bad_times = 0;
        let root = V2Node::from_saved(&s.root, &mut bad_times);
        let mut st = V2Store {
            root,
            current_index: s.current_index,
            bad_times,
            expire_floor: None,
        };
        st.expire_floor = st.min_expire();
        st
    }

    /// The node at a store path.
    pub fn get(&self, path: &str) -> Option<&V2Node> {
        self.root.get(&clean(path))
    }

    fn lookup(&self, parts: &[String]) -> Result<&V2Node, ApplyError> {
        let mut n = &self.root;
        for p in parts {
            let c = n.children.as_ref().ok_or(ApplyError::NotDir)?;
            n = c.get(p).ok_or(ApplyError::KeyNotFound)?;
        }
        Ok(n)
    }

    fn lookup_mut(&mut self, parts: &[String]) -> Result<&mut V2Node, ApplyError> {
        let mut n = &mut self.root;
        for p in parts {
            let c = n.children.as_mut().ok_or(ApplyError::NotDir)?;
            n = c.get_mut(p).ok_or(ApplyError::KeyNotFound)?;
        }
        Ok(n)
    }

    /// Applies one v2 request as etcd's apply loop does.
    pub fn apply(&mut self, r: &Request) -> Result<(), ApplyError> {
        let path = text(&r.path);
        let val = text(&r.val);
        let prev_value = text(&r.prev_value);
        let refresh = r.refresh == Some(true);
        match r.method.as_slice() {
            b"POST" => self.create(&path, r.dir, val, true, expiration(r)),
            b"PUT" => match r.prev_exist {
                Some(true) if r.prev_index == 0 && prev_value.is_empty() => {
                    self.update(&path, val, expiration(r), refresh)
                }
                Some(true) => self.compare_and_swap(
                    &path,
                    &prev_value,
                    r.prev_index,
                    val,
                    expiration(r),
                    refresh,
                ),
                Some(false) => self.create(&path, r.dir, val, false, expiration(r)),
                None if r.prev_index > 0 || !prev_value.is_empty() => self.compare_and_swap(
                    &path,
                    &prev_value,
                    r.prev_index,
                    val,
                    expiration(r),
                    refresh,
                ),
                None => {
                    let parts = clean(&path);
                    if let Some(id) = member_attributes_id(&path) {
                        // UpdateAttributes: only a current member's attributes are stored.
                        let member = ["0".to_owned(), "members".to_owned(), id.to_owned()];
                        if self.root.get(&member).is_none() {
                            return Ok(());
                        }
                        return self.set(&path, false, val, None, false);
                    }
                    if parts == ["0", "version"] {
                        return self.set(&path, false, val, None, false);
                    }
                    self.set(&path, r.dir, val, expiration(r), refresh)
                }
            },
            b"DELETE" => {
                if r.prev_index > 0 || !prev_value.is_empty() {
                    self.compare_and_delete(&path, &prev_value, r.prev_index)
                } else {
                    self.delete(&path, r.dir, r.recursive)
                }
            }
            b"SYNC" => {
                self.delete_expired(r.time);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A ConfChange's effect on `/0` (type: AddNode=0, RemoveNode=1, UpdateNode=2, AddLearnerNode=3).
    pub fn apply_conf_change(&mut self, change_type: i32, node_id: u64, context: Option<&[u8]>) {
        let member = format!("/0/members/{node_id:x}");
        let removed = format!("/0/removed_members/{node_id:x}");
        let ctx = context
            .and_then(ConfChangeContext::parse)
            .unwrap_or_default();
        let m = &ctx.member;
        let raft_attrs = |learner: bool, peer_urls: &[String]| {
            let mut v = serde_json::json!({ "peerURLs": peer_urls });
            if learner {
                if let Some(o) = v.as_object_mut() {
                    o.insert("isLearner".into(), serde_json::Value::Bool(true));
                }
            }
            v.to_string()
        };
        let exists = self.get(&member).is_some();
        let was_removed = self.get(&removed).is_some();
        // A promotion's context carries only the id: etcd rewrites the
        // member's own attributes with the learner flag cleared.
        let stored_peer_urls = || {
            self.get(&format!("{member}/raftAttributes"))
                .and_then(|n| serde_json::from_str::<MemberJson>(&n.value).ok())
                .map(|a| a.peer_urls)
                .unwrap_or_default()
        };
        let _ = match change_type {
            0 if ctx.is_promote && exists => {
                let urls = stored_peer_urls();
                self.update(
                    &format!("{member}/raftAttributes"),
                    raft_attrs(false, &urls),
                    None,
                    false,
                )
            }
            0 | 3 if !exists && !was_removed => self.create(
                &format!("{member}/raftAttributes"),
                false,
                raft_attrs(change_type == 3 || m.is_learner, &m.peer_urls),
                false,
                None,
            ),
            1 if exists => self
                .delete(&member, true, true)
                .and_then(|()| self.create(&removed, false, String::new(), false, None)),
            2 if exists => {
                let learner = self
                    .get(&format!("{member}/raftAttributes"))
                    .and_then(|n| serde_json::from_str::<StoredRaftAttributes>(&n.value).ok())
                    .is_some_and(|a| a.is_learner);
                self.update(
                    &format!("{member}/raftAttributes"),
                    raft_attrs(learner, &m.peer_urls),
                    None,
                    false,
                )
            }
            _ => Ok(()),
        };
    }

    /// 3.5 `ClusterVersionSet`: `/0/version`.
    pub fn apply_cluster_version(&mut self, ver: &str) {
        let _ = self.set("/0/version", false, ver.to_owned(), None, false);
    }

    /// 3.5 `ClusterMemberAttrSet`: `/0/members/<id>/attributes`, while the member exists.
    pub fn apply_member_attributes(&mut self, id: u64, name: &str, client_urls: &[String]) {
        let member = format!("/0/members/{id:x}");
        if self.get(&member).is_none() {
            return;
        }
        // Go's `Attributes`: `clientURLs` is omitempty.
        let mut v = serde_json::json!({ "name": name });
        if !client_urls.is_empty() {
            if let Some(o) = v.as_object_mut() {
                o.insert("clientURLs".into(), serde_json::json!(client_urls));
            }
        }
        let v = v.to_string();
        let _ = self.set(&format!("{member}/attributes"), false, v, None, false);
    }

    fn create(
        &mut self,
        path: &str,
        dir: bool,
        value: String,
        unique: bool,
        expire: Option<i64>,
    ) -> Result<(), ApplyError> {
        self.internal_create(path, dir, value, unique, false, expire)
    }

    fn internal_create(
        &mut self,
        path: &str,
        dir: bool,
        value: String,
        unique: bool,
        replace: bool,
        expire: Option<i64>,
    ) -> Result<(), ApplyError> {
        let next = self.current_index.saturating_add(1);
        let full = if unique {
            format!("{path}/{next:020}")
        } else {
            path.to_owned()
        };
        let parts = clean(&full);
        if is_read_only(&parts) {
            return Err(ApplyError::RootReadOnly);
        }
        if parts.len() > MAX_DEPTH {
            return Err(ApplyError::TooDeep);
        }
        let expire = expire.filter(|t| *t >= MIN_EXPIRE_NS);
        let Some((name, parent_parts)) = parts.split_last() else {
            return Err(ApplyError::RootReadOnly);
        };
        // Walk the parents, creating missing dirs (kept even if the write fails).
        let mut d = &mut self.root;
        for p in parent_parts {
            let dpath = d.path.clone();
            let children = d.children.as_mut().ok_or(ApplyError::NotDir)?;
            let child = children.entry(p.clone()).or_insert_with(|| {
                let path = if dpath == "/" {
                    format!("/{p}")
                } else {
                    format!("{dpath}/{p}")
                };
                V2Node::dir(path, next, None)
            });
            if !child.is_dir() {
                return Err(ApplyError::NotDir);
            }
            d = child;
        }
        let children = d.children.as_mut().ok_or(ApplyError::NotDir)?;
        if let Some(existing) = children.get(name) {
            if !replace {
                return Err(ApplyError::NodeExist);
            }
            if existing.is_dir() {
                return Err(ApplyError::NotFile);
            }
        }
        let node_path = join(&parts);
        let node = if dir {
            V2Node::dir(node_path, next, expire)
        } else {
            V2Node {
                path: node_path,
                created_index: next,
                modified_index: next,
                expire_ns: expire,
                value,
                children: None,
            }
        };
        children.insert(name.clone(), node);
        self.current_index = next;
        self.note_expire(expire);
        Ok(())
    }

    fn set(
        &mut self,
        path: &str,
        dir: bool,
        value: String,
        expire: Option<i64>,
        refresh: bool,
    ) -> Result<(), ApplyError> {
        let parts = clean(path);
        let existing = match self.lookup(&parts) {
            Ok(n) => Some(n.value.clone()),
            Err(ApplyError::KeyNotFound) => None,
            Err(e) => return Err(e),
        };
        let value = if refresh {
            existing.ok_or(ApplyError::KeyNotFound)?
        } else {
            value
        };
        self.internal_create(path, dir, value, false, true, expire)
    }

    fn update(
        &mut self,
        path: &str,
        value: String,
        expire: Option<i64>,
        refresh: bool,
    ) -> Result<(), ApplyError> {
        self.set_file(path, value, expire, refresh, None)
    }

    fn compare_and_swap(
        &mut self,
        path: &str,
        prev_value: &str,
        prev_index: u64,
        value: String,
        expire: Option<i64>,
        refresh: bool,
    ) -> Result<(), ApplyError> {
        self.set_file(path, value, expire, refresh, Some((prev_value, prev_index)))
    }

    /// Update and compare-and-swap: a node's new value (unless `refresh`) and
    /// expiry, after the compare when `test` holds `(prev_value, prev_index)`.
    fn set_file(
        &mut self,
        path: &str,
        value: String,
        expire: Option<i64>,
        refresh: bool,
        test: Option<(&str, u64)>,
    ) -> Result<(), ApplyError> {
        let parts = writable(path)?;
        let next = self.current_index.saturating_add(1);
        let n = self.lookup_mut(&parts)?;
        match test {
            // Update sets a dir's TTL, but never gives it a value.
            None if n.is_dir() && !value.is_empty() => return Err(ApplyError::NotFile),
            None => {}
            Some(_) if n.is_dir() => return Err(ApplyError::NotFile),
            Some((prev_value, prev_index)) if !compare(n, prev_value, prev_index) => {
                return Err(ApplyError::TestFailed)
            }
            Some(_) => {}
        }
        if !refresh {
            n.value = value;
        }
        n.modified_index = next;
        n.expire_ns = expire;
        self.note_expire(expire);
        self.current_index = next;
        Ok(())
    }

    fn remove(&mut self, parts: &[String]) {
        if let Some((name, parent)) = parts.split_last() {
            if let Some(c) = self.root.get_mut(parent).and_then(|p| p.children.as_mut()) {
                c.remove(name);
            }
        }
    }

    fn delete(&mut self, path: &str, dir: bool, recursive: bool) -> Result<(), ApplyError> {
        let parts = writable(path)?;
        let dir = dir || recursive;
        let n = self.lookup(&parts)?;
        if let Some(c) = &n.children {
            if !dir {
                return Err(ApplyError::NotFile);
            }
            if !c.is_empty() && !recursive {
                return Err(ApplyError::DirNotEmpty);
            }
        }
        self.remove(&parts);
        self.current_index = self.current_index.saturating_add(1);
        Ok(())
    }

    fn compare_and_delete(
        &mut self,
        path: &str,
        prev_value: &str,
        prev_index: u64,
    ) -> Result<(), ApplyError> {
        let parts = clean(path);
        let n = self.lookup(&parts)?;
        if n.is_dir() {
            return Err(ApplyError::NotFile);
        }
        if !compare(n, prev_value, prev_index) {
            return Err(ApplyError::TestFailed);
        }
        self.current_index = self.current_index.saturating_add(1);
        self.remove(&parts);
        Ok(())
    }

    fn note_expire(&mut self, t: Option<i64>) {
        if let Some(t) = t {
            self.expire_floor = Some(self.expire_floor.map_or(t, |f| f.min(t)));
        }
    }

    /// The earliest ExpireTime in the tree.
    fn min_expire(&self) -> Option<i64> {
        let mut min: Option<i64> = None;
        let mut stack = vec![&self.root];
        while let Some(n) = stack.pop() {
            if let Some(t) = n.expire_ns {
                min = Some(min.map_or(t, |m| m.min(t)));
            }
            if let Some(c) = &n.children {
                stack.extend(c.values());
            }
        }
        min
    }

    /// SYNC: removes every node with ExpireTime ≤ `cutoff_ns`, earliest first.
    pub fn delete_expired(&mut self, cutoff_ns: i64) {
        if self.expire_floor.is_none_or(|f| f > cutoff_ns) {
            return;
        }
        let mut due: Vec<(i64, Vec<String>)> = Vec::new();
        let mut stack: Vec<(&V2Node, Vec<String>)> = vec![(&self.root, Vec::new())];
        while let Some((n, parts)) = stack.pop() {
            if let Some(t) = n.expire_ns {
                if t <= cutoff_ns && !parts.is_empty() {
                    due.push((t, parts.clone()));
                }
            }
            if let Some(c) = &n.children {
                for (name, child) in c {
                    let mut p = parts.clone();
                    p.push(name.clone());
                    stack.push((child, p));
                }
            }
        }
        due.sort();
        for (_, parts) in due {
            if self.root.get(&parts).is_some() {
                self.current_index = self.current_index.saturating_add(1);
                self.remove(&parts);
            }
        }
        self.expire_floor = self.min_expire();
    }
}

/// What one raft entry did to the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntryEffect {
    /// It carried a v2 request (raw, or in a 3.5 `InternalRaftRequest`).
    pub v2_request: bool,
    /// etcd answered that request with an error (nothing changed).
    pub failed: bool,
    /// The request came from a v2 API client, not from etcd itself (its own
    /// writes are the membership under `/0`).
    pub client: bool,
}

/// Whether a v2 request is a client's: anything but etcd's `/0` writes. A
/// SYNC (no path) counts: the leader only sends one while TTL keys exist,
/// and only clients make those.
pub fn is_client_request(r: &Request) -> bool {
    clean(&text(&r.path)).first().map(String::as_str) != Some("0")
}

/// The v2 request an entry carries, if any.
pub fn entry_v2_request(e: &raftpb::Entry) -> Option<Request> {
    match payload(e) {
        Payload::V2 { v2 } => Some(*v2),
        Payload::Request { irr, .. } => irr.v2,
        _ => None,
    }
}

impl V2Store {
    /// Applies one committed raft entry as etcd 3.4/3.5's apply loop does to
    /// the v2 store: v2 requests, conf changes, and the 3.5 cluster version
    /// and member attributes requests.
    pub fn apply_entry(&mut self, e: &raftpb::Entry) -> EntryEffect {
        let mut fx = EntryEffect::default();
        match payload(e) {
            Payload::V2 { v2 } => {
                fx.v2_request = true;
                fx.client = is_client_request(&v2);
                fx.failed = self.apply(&v2).is_err();
            }
            Payload::Request { irr, .. } => {
                if let Some(v2) = &irr.v2 {
                    fx.v2_request = true;
                    fx.client = is_client_request(v2);
                    fx.failed = self.apply(v2).is_err();
                }
                if let Some(v) = &irr.cluster_version_set {
                    self.apply_cluster_version(&v.ver);
                }
                if let Some(a) = &irr.cluster_member_attr_set {
                    if let Some(attrs) = &a.member_attributes {
                        self.apply_member_attributes(a.member_id, &attrs.name, &attrs.client_urls);
                    }
                }
            }
            Payload::ConfChange { .. } => {
                if let Some(cc) = e
                    .data
                    .as_deref()
                    .and_then(|d| <raftpb::ConfChange as prost::Message>::decode(d).ok())
                {
                    self.apply_conf_change(cc.r#type, cc.node_id, cc.context.as_deref());
                }
            }
            _ => {}
        }
        fx
    }

    /// Makes `/0` say what `members`, `removed` and `cluster_version` say,
    /// with the writes etcd's membership code makes (`mustSaveMemberToStore`
    /// = Create, `mustUpdateMemberInStore` = Update, attributes and version =
    /// Set, removal = Delete + Create of `/0/removed_members/<id>`). A node
    /// that already says the same is left as it is, indexes and all; each
    /// write moves CurrentIndex as it would in etcd. `cluster_version`
    /// `None` leaves `/0/version` alone.
    pub fn set_membership(
        &mut self,
        members: &[Member],
        removed: &[u64],
        cluster_version: Option<&str>,
    ) {
        let stored: Vec<u64> = self
            .get("/0/members")
            .and_then(|n| n.children.as_ref())
            .map(|c| {
                c.keys()
                    .filter_map(|k| u64::from_str_radix(k, 16).ok())
                    .collect()
            })
            .unwrap_or_default();
        for id in stored {
            if !members.iter().any(|m| m.id == id) {
                let _ = self.delete(&format!("/0/members/{id:x}"), true, true);
            }
        }
        for id in removed {
            let key = format!("/0/removed_members/{id:x}");
            if self.get(&key).is_none() {
                let _ = self.create(&key, false, String::new(), false, None);
            }
        }
        for m in members {
            let dir = format!("/0/members/{:x}", m.id);
            let ra_key = format!("{dir}/raftAttributes");
            let ra = raft_attributes_json(m);
            match self.get(&ra_key).map(|n| same_raft_attributes(&n.value, m)) {
                Some(true) => {}
                Some(false) => {
                    let _ = self.update(&ra_key, ra, None, false);
                }
                None => {
                    // A key left where the member's dir belongs would block it.
                    if self.get(&dir).is_some_and(|n| !n.is_dir()) {
                        let _ = self.delete(&dir, false, false);
                    }
                    let _ = self.create(&ra_key, false, ra, false, None);
                }
            }
            // A member that never published its attributes has none in the store.
            if m.name.is_empty() && m.client_urls.is_empty() {
                continue;
            }
            let at_key = format!("{dir}/attributes");
            if !self
                .get(&at_key)
                .is_some_and(|n| same_attributes(&n.value, m))
            {
                let _ = self.set(&at_key, false, attributes_json(m), None, false);
            }
        }
        if let Some(v) = cluster_version {
            if self.get("/0/version").map(|n| n.value.as_str()) != Some(v) {
                let _ = self.set("/0/version", false, v.to_owned(), None, false);
            }
        }
    }

    /// The store as etcd's `store.Save()` writes it into a `.snap`: `Root`
    /// (nodes: `Path`, `CreatedIndex`, `ModifiedIndex`, `ExpireTime` (RFC 3339
    /// in UTC, Go's zero time when permanent), `Value`, `Children`: `null` for
    /// a key, an object by name for a dir), `WatcherHub`, `CurrentIndex`
    /// (the store's own write counter, not the raft index), `Stats`,
    /// `CurrentVersion` 2.
    ///
    /// The event history is not rebuilt: it is written empty with
    /// `StartIndex` = CurrentIndex + 1 and `LastIndex` = CurrentIndex, so a
    /// v2 watch from an index up to CurrentIndex gets etcd's "the requested
    /// history has been cleared" (401: read again, then watch) instead of
    /// waiting for events it would never see; etcd's `scan` reads no event
    /// while `StartIndex` > `LastIndex`, and its first new event sets both.
    /// The counters in `Stats` start at zero.
    pub fn save_json(&self) -> String {
        let mut s = String::with_capacity(16 * 1024);
        s.push_str("{\"Root\":");
        save_node(&mut s, &self.root);
        s.push_str(",\"WatcherHub\":{\"EventHistory\":{\"Queue\":{\"Events\":[");
        for i in 0..EVENT_CAPACITY {
            if i > 0 {
                s.push(',');
            }
            s.push_str("null");
        }
        let ci = self.current_index;
        let _ = write!(
            s,
            "],\"Size\":0,\"Front\":0,\"Back\":0,\"Capacity\":{EVENT_CAPACITY}}},\"StartIndex\":{},\"LastIndex\":{ci}}}}},\"CurrentIndex\":{ci}",
            ci.saturating_add(1)
        );
        s.push_str(",\"Stats\":{\"getsSuccess\":0,\"getsFail\":0,\"setsSuccess\":0,\"setsFail\":0,\"deleteSuccess\":0,\"deleteFail\":0,\"updateSuccess\":0,\"updateFail\":0,\"createSuccess\":0,\"createFail\":0,\"compareAndSwapSuccess\":0,\"compareAndSwapFail\":0,\"compareAndDeleteSuccess\":0,\"compareAndDeleteFail\":0,\"expireCount\":0,\"watchers\":0},\"CurrentVersion\":2}");
        s
    }
}

/// Capacity of etcd's v2 event history (`newEventHistory(1000)`): the saved
/// queue must hold that many slots, or etcd's first insert indexes past it.
const EVENT_CAPACITY: usize = 1000;

const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// One node and its children, as Go's `json.Marshal(node)` (children by
/// name in byte order, as Go sorts map keys). Recursive: the tree's depth is
/// bounded by the JSON it was parsed from and by [`MAX_DEPTH`] for applied paths.
fn save_node(out: &mut String, n: &V2Node) {
    out.push_str("{\"Path\":");
    go_json_string(out, &n.path);
    let _ = write!(
        out,
        ",\"CreatedIndex\":{},\"ModifiedIndex\":{},\"ExpireTime\":",
        n.created_index, n.modified_index
    );
    match n.expire_ns {
        Some(t) => go_json_string(out, &format_rfc3339_ns(t)),
        None => go_json_string(out, GO_ZERO_TIME),
    }
    out.push_str(",\"Value\":");
    go_json_string(out, &n.value);
    out.push_str(",\"Children\":");
    match &n.children {
        None => out.push_str("null"),
        Some(c) => {
            out.push('{');
            for (i, (name, child)) in c.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_string(out, name);
                out.push(':');
                save_node(out, child);
            }
            out.push('}');
        }
    }
    out.push('}');
}

/// `raftAttributes` as etcd stores it (`json.Marshal(RaftAttributes)`):
/// `{"peerURLs":[…]}`, `"isLearner":true` only for a learner (omitempty).
pub fn raft_attributes_json(m: &Member) -> String {
    let mut s = String::from("{\"peerURLs\":");
    go_json_list(&mut s, &m.peer_urls);
    if m.is_learner {
        s.push_str(",\"isLearner\":true");
    }
    s.push('}');
    s
}

/// `attributes` as etcd stores it (`json.Marshal(Attributes)`):
/// `{"name":…,"clientURLs":[…]}`, `clientURLs` omitempty.
fn attributes_json(m: &Member) -> String {
    let mut s = String::from("{\"name\":");
    go_json_string(&mut s, &m.name);
    if !m.client_urls.is_empty() {
        s.push_str(",\"clientURLs\":");
        go_json_list(&mut s, &m.client_urls);
    }
    s.push('}');
    s
}

fn same_raft_attributes(stored: &str, m: &Member) -> bool {
    serde_json::from_str::<MemberJson>(stored)
        .is_ok_and(|a| a.peer_urls == m.peer_urls && a.is_learner == m.is_learner)
}

fn same_attributes(stored: &str, m: &Member) -> bool {
    serde_json::from_str::<MemberJson>(stored)
        .is_ok_and(|a| a.name == m.name && a.client_urls == m.client_urls)
}

/// The member id (hex) of `/0/members/<id>/attributes` (`[[:xdigit:]]{1,16}`).
fn member_attributes_id(path: &str) -> Option<&str> {
    let id = path
        .strip_prefix("/0/members/")?
        .strip_suffix("/attributes")?;
    (!id.is_empty() && id.len() <= 16 && id.bytes().all(|c| c.is_ascii_hexdigit())).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(path: &str, val: &str) -> Request {
        Request {
            method: b"PUT".to_vec(),
            path: path.as_bytes().to_vec(),
            val: val.as_bytes().to_vec(),
            ..Request::default()
        }
    }

    #[test]
    fn times() {
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ns("2000-01-01T00:00:00Z"),
            Some(MIN_EXPIRE_NS)
        );
        assert_eq!(
            parse_rfc3339_ns("2000-01-01T01:00:00.5+01:00"),
            Some(MIN_EXPIRE_NS + 500_000_000)
        );
        assert_eq!(
            parse_rfc3339_ns("0001-01-01T00:00:00Z"),
            Some(GO_ZERO_TIME_NS)
        );
        let t = parse_rfc3339_ns("2026-11-21T19:19:42.950966693Z").unwrap();
        assert_eq!(format_rfc3339_ns(t), "2026-11-21T19:19:42.950966693Z");
        assert_eq!(format_rfc3339_ns(MIN_EXPIRE_NS), "2000-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339_ns("2026-11-21"), None);
        assert_eq!(parse_rfc3339_ns("2026-11-21T19:19:42.Z"), None);
    }

    #[test]
    fn apply_rules() {
        let mut s = V2Store::empty();
        s.apply(&put("/1/a/b", "1")).unwrap();
        assert_eq!(s.current_index, 1);
        let a = s.get("/1/a").unwrap();
        assert!(a.is_dir());
        assert_eq!(a.created_index, 1);
        // Create on an existing key fails and changes nothing.
        let mut c = put("/1/a/b", "2");
        c.prev_exist = Some(false);
        assert_eq!(s.apply(&c), Err(ApplyError::NodeExist));
        assert_eq!(s.current_index, 1);
        // CAS.
        let mut cas = put("/1/a/b", "3");
        cas.prev_value = b"1".to_vec();
        cas.expiration = MIN_EXPIRE_NS + 10;
        s.apply(&cas).unwrap();
        let b = s.get("/1/a/b").unwrap();
        assert_eq!(
            (b.value.as_str(), b.modified_index, b.created_index),
            ("3", 2, 1)
        );
        assert_eq!(b.expire_ns, Some(MIN_EXPIRE_NS + 10));
        // SYNC removes it.
        let sync = Request {
            method: b"SYNC".to_vec(),
            time: MIN_EXPIRE_NS + 10,
            ..Request::default()
        };
        s.apply(&sync).unwrap();
        assert!(s.get("/1/a/b").is_none());
        assert_eq!(s.current_index, 3);
        // POST: unique name.
        let post = Request {
            method: b"POST".to_vec(),
            path: b"/1/q".to_vec(),
            val: b"x".to_vec(),
            ..Request::default()
        };
        s.apply(&post).unwrap();
        assert!(s.get("/1/q/00000000000000000004").is_some());
        // Root is read-only; a dir needs dir=true to delete.
        let del = Request {
            method: b"DELETE".to_vec(),
            path: b"/1/q".to_vec(),
            ..Request::default()
        };
        assert_eq!(s.apply(&del), Err(ApplyError::NotFile));
        assert_eq!(s.apply(&put("/1", "x")), Err(ApplyError::RootReadOnly));
        // Set over a dir fails.
        assert_eq!(s.apply(&put("/1/q", "x")), Err(ApplyError::NotFile));
    }

    fn patroni_snap() -> Store {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "testdata/etcd-3.4.23/v2-patroni/data/n1/member/snap/0000000000000002-000000000000003f.snap",
        );
        let f = crate::formats::snap::decode(&std::fs::read(p).unwrap()).unwrap();
        Store::parse(f.data()).unwrap()
    }

    /// The tree etcd 3.4.23 saved (keys, dirs, TTLs, escapes) comes out
    /// byte for byte as etcd wrote it, and the whole store parses back to
    /// the same tree and CurrentIndex.
    #[test]
    fn save_json_is_etcds_layout_and_round_trips() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "testdata/etcd-3.4.23/v2-patroni/data/n1/member/snap/0000000000000002-000000000000003f.snap",
        );
        let f = crate::formats::snap::decode(&std::fs::read(p).unwrap()).unwrap();
        let etcd = std::str::from_utf8(f.data()).unwrap();
        let st = V2Store::from_saved(&patroni_snap());
        let ours = st.save_json();
        let root = |j: &str| j[..j.find(",\"WatcherHub\"").unwrap()].to_owned();
        assert_eq!(root(&ours), root(etcd));
        let back = V2Store::from_saved(&Store::parse(ours.as_bytes()).unwrap());
        assert_eq!(back.root, st.root);
        assert_eq!(back.current_index, 60);
        assert_eq!(back.bad_times, 0);
        // The event history etcd reads back: 1000 slots, empty, cleared up to CurrentIndex.
        let v: serde_json::Value = serde_json::from_str(&ours).unwrap();
        let eh = &v["WatcherHub"]["EventHistory"];
        assert_eq!(eh["Queue"]["Events"].as_array().unwrap().len(), 1000);
        assert_eq!(eh["Queue"]["Capacity"], 1000);
        assert_eq!(eh["Queue"]["Size"], 0);
        assert_eq!(
            (eh["StartIndex"].as_u64(), eh["LastIndex"].as_u64()),
            (Some(61), Some(60))
        );
        assert_eq!(v["CurrentIndex"], 60);
        assert_eq!(v["CurrentVersion"], 2);
        // Escapes and a fractional expiry survive.
        let mut s = V2Store::empty();
        let mut r = put("/1/a<&>/k", "v\"\n\u{2028}é");
        r.expiration = MIN_EXPIRE_NS + 123_456_789;
        s.apply(&r).unwrap();
        let j = s.save_json();
        assert!(j.contains("\\u003c\\u0026\\u003e"), "{j}");
        let back = V2Store::from_saved(&Store::parse(j.as_bytes()).unwrap());
        assert_eq!(back.root, s.root);
        assert_eq!(back.current_index, s.current_index);
    }

    /// `/0` from the db: a member whose node already says the same keeps its
    /// indexes; a changed one is updated, a new one created, a gone one
    /// deleted and listed as removed, a learner keeps its flag; CurrentIndex
    /// moves once per write.
    #[test]
    fn set_membership_writes_only_what_differs() {
        let mut st = V2Store::from_saved(&patroni_snap());
        let before = st.get("/0/members/553675570e2ad01").unwrap().clone();
        let n1 = Member {
            id: 0x0553_6755_70e2_ad01,
            name: "n1".into(),
            peer_urls: vec!["http://127.0.0.1:2380".into()],
            client_urls: vec!["http://127.0.0.1:2379".into()],
            is_learner: false,
        };
        st.set_membership(std::slice::from_ref(&n1), &[], Some("3.4.0"));
        assert_eq!(st.current_index, 60);
        assert_eq!(st.get("/0/members/553675570e2ad01").unwrap(), &before);
        let l = Member {
            id: 0xabc,
            name: String::new(),
            peer_urls: vec!["http://127.0.0.1:2390".into()],
            client_urls: Vec::new(),
            is_learner: true,
        };
        st.set_membership(&[l], &[n1.id, 0x77], Some("3.5.0"));
        assert!(st.get("/0/members/553675570e2ad01").is_none());
        assert!(st.get("/0/removed_members/553675570e2ad01").is_some());
        assert!(st.get("/0/removed_members/77").is_some());
        let ra = st.get("/0/members/abc/raftAttributes").unwrap();
        assert_eq!(
            ra.value,
            r#"{"peerURLs":["http://127.0.0.1:2390"],"isLearner":true}"#
        );
        assert!(st.get("/0/members/abc/attributes").is_none());
        assert_eq!(st.get("/0/version").unwrap().value, "3.5.0");
        // delete, 2 removed creates, raftAttributes create, version set.
        assert_eq!(st.current_index, 65);
        let back = V2Store::from_saved(&Store::parse(st.save_json().as_bytes()).unwrap());
        assert_eq!(back.root, st.root);
        let saved = Store::parse(st.save_json().as_bytes()).unwrap();
        assert_eq!(saved.removed(), [0x77, n1.id]);
        assert!(saved.members()[0].is_learner);
    }

    #[test]
    fn expiry_of_a_ttl_dir_and_its_children() {
        let mut s = V2Store::empty();
        // A TTL dir (expires at +20) holding a key expiring earlier (+10) and a permanent one.
        let mut d = put("/1/d", "");
        d.dir = true;
        d.expiration = MIN_EXPIRE_NS + 20;
        s.apply(&d).unwrap();
        let mut k = put("/1/d/early", "v");
        k.expiration = MIN_EXPIRE_NS + 10;
        s.apply(&k).unwrap();
        s.apply(&put("/1/d/perm", "p")).unwrap();
        assert_eq!(s.current_index, 3);
        let sync = |t| Request {
            method: b"SYNC".to_vec(),
            time: t,
            ..Request::default()
        };
        // Nothing due: no change.
        s.apply(&sync(MIN_EXPIRE_NS + 9)).unwrap();
        assert_eq!(s.current_index, 3);
        // The key first, then the dir with what is left: one index each.
        s.apply(&sync(MIN_EXPIRE_NS + 30)).unwrap();
        assert_eq!(s.current_index, 5);
        assert!(s.get("/1/d").is_none());
        // Set over a TTL key makes a new, permanent node.
        let mut t = put("/1/t", "a");
        t.expiration = MIN_EXPIRE_NS + 100;
        s.apply(&t).unwrap();
        s.apply(&put("/1/t", "b")).unwrap();
        let n = s.get("/1/t").unwrap();
        assert_eq!((n.created_index, n.expire_ns), (7, None));
        s.apply(&sync(MIN_EXPIRE_NS + 200)).unwrap();
        assert_eq!(s.current_index, 7);
        // Expiry times before 2000 are permanent on create.
        let mut old = put("/1/old", "x");
        old.expiration = 1;
        s.apply(&old).unwrap();
        assert_eq!(s.get("/1/old").unwrap().expire_ns, None);
    }
}
