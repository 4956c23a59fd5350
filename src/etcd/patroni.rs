//! Patroni's keys in etcd: which scopes a keyspace holds, what each key says,
//! the cluster as `patronictl list` / `history` / `show-config` show it, and
//! recovery advisories. Pure: keys and values come in as plain data (from the
//! v2 store or the v3 keyspace); nothing here reads files.
//!
//! ```text
//! <namespace>/<scope>/            namespace default "/service" (Patroni `namespace`)
//!   initialize        text        PostgreSQL system identifier ("" while bootstrapping)
//!   config            JSON object the dynamic configuration (`patronictl show-config`)
//!   leader            text        leader member's name; TTL (v2) or lease (v3) = Patroni `ttl`
//!   members/<name>    JSON object conn_url, api_url, state, role, timeline, xlog_location,
//!                                 receive_lsn, replay_lsn, replication_state, tags, ...;
//!                                 TTL / lease as the leader key. Legacy: a postgres:// URL.
//!   history           JSON array  [[timeline, lsn, reason, timestamp?, new_leader?], ...]
//!   status            JSON object {"optime": leader LSN, "slots": {...}, "retain_slots": [...]};
//!                                 legacy: a bare integer
//!   optime/leader     text        leader LSN, written by Patroni < 2.1 (read when no status)
//!   failover          JSON object {"leader", "member", "scheduled_at"}; legacy "leader:member"
//!   sync              JSON object {"leader", "sync_standby", "quorum"}
//!   failsafe          JSON object {member name: api_url}
//! ```
//! Source (read for facts, Patroni 4.1.5): `patroni/dcs/__init__.py` (key names,
//! `Member.from_node`, `Status.from_node`, `TimelineHistory.from_node`,
//! `Member.conn_kwargs`), `patroni/utils.py:cluster_as_json` (roles, state, lag),
//! `patroni/ctl.py:output_members`, `history`, `print_output` (the `-f json` rows).
//!
//! Values that are not what Patroni writes are kept raw and reported as a note
//! on the key; nothing is filled in by guessing.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// Patroni's default `namespace`.
pub const DEFAULT_NAMESPACE: &str = "/service";

/// Key names under a scope (Patroni `AbstractDCS._INITIALIZE` etc.).
pub mod key {
    /// PostgreSQL system identifier.
    pub const INITIALIZE: &str = "initialize";
    /// Dynamic configuration.
    pub const CONFIG: &str = "config";
    /// The leader lock.
    pub const LEADER: &str = "leader";
    /// Failover / switchover request.
    pub const FAILOVER: &str = "failover";
    /// Timeline history.
    pub const HISTORY: &str = "history";
    /// Member keys' directory (`members/<name>`).
    pub const MEMBERS_DIR: &str = "members/";
    /// Leader optime and slots.
    pub const STATUS: &str = "status";
    /// Leader optime, Patroni < 2.1.
    pub const LEADER_OPTIME: &str = "optime/leader";
    /// Synchronous replication state.
    pub const SYNC: &str = "sync";
    /// Failsafe members.
    pub const FAILSAFE: &str = "failsafe";
    /// Every fixed key name (member keys aside); `optime/leader` first, so
    /// that its `leader` tail is not taken for a scope's leader key.
    pub const FIXED: [&str; 9] = [
        LEADER_OPTIME,
        INITIALIZE,
        CONFIG,
        LEADER,
        FAILOVER,
        HISTORY,
        STATUS,
        SYNC,
        FAILSAFE,
    ];
}

/// Which etcd API a scope's keys were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// The v2 store (Patroni's `etcd:` driver).
    V2,
    /// The v3 keyspace (Patroni's `etcd3:` driver).
    V3,
}

/// How long a key lives, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expiry {
    /// No TTL, no lease.
    Permanent,
    /// v2: an absolute expire time (Unix ns).
    At {
        /// Expire time, Unix nanoseconds.
        expire_ns: i64,
    },
    /// v3: attached to a lease.
    Lease {
        /// Lease id.
        id: i64,
        /// The lease's granted TTL (seconds), `None` when the lease is not in
        /// the `lease` bucket (revoked: etcd deletes its keys on revoke).
        granted_ttl: Option<i64>,
    },
}

/// One key of a scope as read from etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawKey {
    /// The value bytes.
    pub value: Vec<u8>,
    /// v2 modifiedIndex or v3 mod_revision.
    pub modified: i64,
    /// TTL or lease.
    pub expiry: Expiry,
}

/// Every key of one scope: names relative to `<namespace>/<scope>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeKeys {
    /// API the keys came from.
    pub api: Api,
    /// Namespace, without a trailing `/` (`/service`).
    pub namespace: String,
    /// Scope (cluster name).
    pub scope: String,
    /// Keys by relative name (`leader`, `members/pg1`, ...).
    pub keys: BTreeMap<String, RawKey>,
}

/// Finds Patroni scopes among `(full key, key)` pairs. A prefix `P` is a scope
/// when `P/leader`, `P/config`, `P/initialize` or a `P/members/<name>` exists;
/// its namespace is `P` up to its last `/` (`/` itself when the scope sits at
/// the root). The other fixed key names are attached to a scope found so.
pub fn group_scopes(api: Api, keys: Vec<(String, RawKey)>) -> Vec<ScopeKeys> {
    let mut scopes: BTreeMap<String, BTreeMap<String, RawKey>> = BTreeMap::new();
    let mut strong: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for (full, k) in keys {
        let Some((prefix, rel)) = split_scope_key(&full) else {
            continue;
        };
        if rel == key::LEADER
            || rel == key::CONFIG
            || rel == key::INITIALIZE
            || rel.starts_with(key::MEMBERS_DIR)
        {
            strong.insert(prefix.to_owned());
        }
        scopes
            .entry(prefix.to_owned())
            .or_default()
            .insert(rel.to_owned(), k);
    }
    scopes
        .into_iter()
        .filter(|(p, _)| strong.contains(p))
        .filter_map(|(p, keys)| {
            let (ns, scope) = p.rsplit_once('/')?;
            if scope.is_empty() {
                return None;
            }
            Some(ScopeKeys {
                api,
                namespace: if ns.is_empty() {
                    "/".to_owned()
                } else {
                    ns.to_owned()
                },
                scope: scope.to_owned(),
                keys,
            })
        })
        .collect()
}

/// Splits `/ns/scope/leader` into (`/ns/scope`, `leader`) when the tail is one
/// of Patroni's key names.
fn split_scope_key(full: &str) -> Option<(&str, &str)> {
    // members/<name>: the member name has no '/'.
    if let Some(i) = full.rfind("/members/") {
        let name = full.get(i.checked_add("/members/".len())?..)?;
        if !name.is_empty() && !name.contains('/') {
            let prefix = full.get(..i)?;
            let rel = full.get(i.checked_add(1)?..)?;
            return Some((prefix, rel));
        }
    }
    for k in key::FIXED {
        if let Some(prefix) = full.strip_suffix(k).and_then(|p| p.strip_suffix('/')) {
            if !prefix.is_empty() {
                return Some((prefix, full.get(prefix.len().checked_add(1)?..)?));
            }
        }
    }
    None
}

/// A note on a key whose value is not what Patroni writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// Key relative to the scope.
    pub key: String,
    /// What could not be read.
    pub problem: String,
}

/// One member, as stored and as `patronictl list` derives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    /// Member name (`members/<name>`).
    pub name: String,
    /// `conn_url`.
    pub conn_url: Option<String>,
    /// `api_url`.
    pub api_url: Option<String>,
    /// Host from `conn_kwargs` or `conn_url`.
    pub host: Option<String>,
    /// Port from `conn_kwargs` or `conn_url` (5432 when the URL has none).
    pub port: Option<u16>,
    /// The member's own `role` field (`primary`, `replica`, ...).
    pub stored_role: Option<String>,
    /// `state` (`running`, `streaming`, `stopped`, ...).
    pub state: Option<String>,
    /// `replication_state` (replicas, Patroni ≥ 3.0.3).
    pub replication_state: Option<String>,
    /// `timeline`.
    pub timeline: Option<i64>,
    /// `xlog_location`.
    pub xlog_location: Option<i64>,
    /// `receive_lsn`.
    pub receive_lsn: Option<i64>,
    /// `replay_lsn`.
    pub replay_lsn: Option<i64>,
    /// `version` (Patroni's).
    pub patroni_version: Option<String>,
    /// `tags`, as stored.
    pub tags: Option<Value>,
    /// Every field as stored (JSON object; legacy URL values become
    /// `conn_url`/`api_url`), `None` when the value is not JSON.
    pub data: Option<Value>,
    /// The key's modified index / revision.
    pub modified: i64,
    /// The key's TTL or lease.
    pub expiry: Expiry,
}

/// One line of `history`: `[timeline, lsn, reason, timestamp, new_leader]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryLine {
    /// Timeline that ended.
    pub timeline: Option<i64>,
    /// LSN where it ended.
    pub lsn: Option<i64>,
    /// Reason (from the `.history` file).
    pub reason: Option<String>,
    /// When (ISO 8601, as Patroni wrote it).
    pub timestamp: Option<String>,
    /// Member promoted.
    pub new_leader: Option<String>,
    /// The line as stored.
    pub raw: Value,
}

/// Everything read from one scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cluster {
    /// API the keys came from.
    pub api: Api,
    /// Namespace (`/service`).
    pub namespace: String,
    /// Scope.
    pub scope: String,
    /// `initialize`: PostgreSQL system identifier.
    pub initialize: Option<String>,
    /// Leader member name and its key's expiry.
    pub leader: Option<LeaderKey>,
    /// Members, by name.
    pub members: Vec<Member>,
    /// Timeline history.
    pub history: Option<Vec<HistoryLine>>,
    /// Dynamic configuration, as stored.
    pub config: Option<Value>,
    /// `status` (or legacy `optime/leader`): the leader's last LSN.
    pub last_lsn: Option<i64>,
    /// `status.slots`.
    pub slots: Option<Value>,
    /// `status.retain_slots`.
    pub retain_slots: Option<Value>,
    /// `failover`, as stored.
    pub failover: Option<Value>,
    /// `sync`, as stored.
    pub sync: Option<Value>,
    /// `failsafe`, as stored.
    pub failsafe: Option<Value>,
    /// Keys that could not be read as Patroni writes them.
    pub unreadable: Vec<Unreadable>,
    /// Keys under the scope that Patroni 4 does not write (kept, not read).
    pub other_keys: Vec<String>,
}

/// The leader key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeaderKey {
    /// The member named.
    pub name: String,
    /// Modified index / revision of the key.
    pub modified: i64,
    /// TTL or lease.
    pub expiry: Expiry,
}

fn text(v: &[u8]) -> std::result::Result<&str, String> {
    std::str::from_utf8(v).map_err(|e| format!("not UTF-8 text ({e})"))
}

fn json_of(k: &RawKey) -> std::result::Result<Value, String> {
    let t = text(&k.value)?;
    serde_json::from_str(t).map_err(|e| format!("not JSON ({e})"))
}

/// Patroni's `parse_int` for the forms Patroni writes: an integer, or a
/// string holding one (decimal, or `0x` hex, as strtol with base 0).
fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(f64_to_i64)),
        Value::String(s) => parse_int_str(s),
        _ => None,
    }
}

#[allow(clippy::cast_possible_truncation, clippy::as_conversions)]
fn f64_to_i64(f: f64) -> i64 {
    // Saturating by Rust's float-to-int semantics; only called on integral values.
    f as i64
}

fn parse_int_str(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else {
        body.parse::<i64>().ok()?
    };
    if neg {
        v.checked_neg()
    } else {
        Some(v)
    }
}

fn str_field(o: &Map<String, Value>, f: &str) -> Option<String> {
    o.get(f).and_then(Value::as_str).map(str::to_owned)
}

/// Reads one scope's keys.
pub fn parse(s: &ScopeKeys) -> Cluster {
    let mut c = Cluster {
        api: s.api,
        namespace: s.namespace.clone(),
        scope: s.scope.clone(),
        initialize: None,
        leader: None,
        members: Vec::new(),
        history: None,
        config: None,
        last_lsn: None,
        slots: None,
        retain_slots: None,
        failover: None,
        sync: None,
        failsafe: None,
        unreadable: Vec::new(),
        other_keys: Vec::new(),
    };
    let mut bad = |key: &str, problem: String| {
        c.unreadable.push(Unreadable {
            key: key.to_owned(),
            problem,
        });
    };
    let mut members = Vec::new();
    let mut others = Vec::new();
    let (mut initialize, mut leader, mut history, mut config) = (None, None, None, None);
    let (mut last_lsn, mut slots, mut retain, mut failover, mut sync, mut failsafe) =
        (None, None, None, None, None, None);
    let mut status_read = false;
    for (name, k) in &s.keys {
        match name.as_str() {
            key::INITIALIZE => match text(&k.value) {
                Ok(t) => initialize = Some(t.to_owned()),
                Err(e) => bad(name, e),
            },
            key::LEADER => match text(&k.value) {
                Ok(t) => {
                    leader = Some(LeaderKey {
                        name: t.to_owned(),
                        modified: k.modified,
                        expiry: k.expiry,
                    });
                }
                Err(e) => bad(name, e),
            },
            key::CONFIG => match json_of(k) {
                Ok(v @ Value::Object(_)) => config = Some(v),
                Ok(v) => bad(
                    name,
                    format!("a JSON {} where Patroni writes an object", kind(&v)),
                ),
                Err(e) => bad(name, e),
            },
            key::HISTORY => match json_of(k) {
                Ok(Value::Array(lines)) => {
                    let mut out = Vec::new();
                    for (i, l) in lines.into_iter().enumerate() {
                        let line = history_line(l);
                        if line.timeline.is_none() || line.lsn.is_none() {
                            bad(
                                name,
                                format!("line {i} does not start with [timeline, lsn]"),
                            );
                        }
                        out.push(line);
                    }
                    history = Some(out);
                }
                Ok(v) => bad(
                    name,
                    format!("a JSON {} where Patroni writes an array", kind(&v)),
                ),
                Err(e) => bad(name, e),
            },
            key::STATUS => {
                status_read = true;
                match json_of(k) {
                    Ok(Value::Object(o)) => {
                        match o.get("optime").map(|v| (as_int(v), v)) {
                            Some((Some(n), _)) => last_lsn = Some(n),
                            Some((None, v)) => bad(name, format!("optime {v} is not an integer")),
                            None => bad(name, "no optime field".to_owned()),
                        }
                        slots = o.get("slots").cloned();
                        retain = o.get("retain_slots").cloned();
                    }
                    Ok(v) => match as_int(&v) {
                        Some(n) => last_lsn = Some(n),
                        None => bad(
                            name,
                            format!("a JSON {} where Patroni writes an object", kind(&v)),
                        ),
                    },
                    Err(e) => bad(name, e),
                }
            }
            key::LEADER_OPTIME => {}
            key::FAILOVER => match json_of(k) {
                Ok(v @ Value::Object(_)) => failover = Some(v),
                Ok(v) => bad(
                    name,
                    format!("a JSON {} where Patroni writes an object", kind(&v)),
                ),
                Err(_) => match text(&k.value) {
                    // Legacy "leader:member".
                    Ok(t) if t.contains(':') => {
                        let (l, m) = t.split_once(':').unwrap_or((t, ""));
                        failover = Some(serde_json::json!({"leader": l, "member": m}));
                    }
                    Ok("") => failover = Some(Value::Object(Map::new())),
                    Ok(_) => bad(
                        name,
                        "neither JSON nor the legacy leader:member form".to_owned(),
                    ),
                    Err(e) => bad(name, e),
                },
            },
            key::SYNC => match json_of(k) {
                Ok(v @ Value::Object(_)) => sync = Some(v),
                Ok(v) => bad(
                    name,
                    format!("a JSON {} where Patroni writes an object", kind(&v)),
                ),
                Err(e) => bad(name, e),
            },
            key::FAILSAFE => match json_of(k) {
                Ok(v @ Value::Object(_)) => failsafe = Some(v),
                Ok(v) => bad(
                    name,
                    format!("a JSON {} where Patroni writes an object", kind(&v)),
                ),
                Err(e) => bad(name, e),
            },
            n => match n.strip_prefix(key::MEMBERS_DIR) {
                Some(m) => members.push(member(m, k, &mut bad)),
                None => others.push(n.to_owned()),
            },
        }
    }
    if !status_read {
        if let Some(k) = s.keys.get(key::LEADER_OPTIME) {
            match text(&k.value).ok().and_then(parse_int_str) {
                Some(n) => last_lsn = Some(n),
                None => bad(key::LEADER_OPTIME, "not an integer".to_owned()),
            }
        }
    }
    members.sort_by(|a, b| a.name.cmp(&b.name));
    c.initialize = initialize;
    c.leader = leader;
    c.members = members;
    c.history = history;
    c.config = config;
    c.last_lsn = last_lsn;
    c.slots = slots;
    c.retain_slots = retain;
    c.failover = failover;
    c.sync = sync;
    c.failsafe = failsafe;
    c.other_keys = others;
    c
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn history_line(l: Value) -> HistoryLine {
    let items = l.as_array().cloned().unwrap_or_default();
    let get = |i: usize| items.get(i);
    HistoryLine {
        timeline: get(0).and_then(as_int),
        lsn: get(1).and_then(as_int),
        reason: get(2).and_then(Value::as_str).map(str::to_owned),
        timestamp: get(3).and_then(Value::as_str).map(str::to_owned),
        new_leader: get(4).and_then(Value::as_str).map(str::to_owned),
        raw: l,
    }
}

fn member(name: &str, k: &RawKey, bad: &mut dyn FnMut(&str, String)) -> Member {
    let rel = format!("{}{name}", key::MEMBERS_DIR);
    let mut m = Member {
        name: name.to_owned(),
        conn_url: None,
        api_url: None,
        host: None,
        port: None,
        stored_role: None,
        state: None,
        replication_state: None,
        timeline: None,
        xlog_location: None,
        receive_lsn: None,
        replay_lsn: None,
        patroni_version: None,
        tags: None,
        data: None,
        modified: k.modified,
        expiry: k.expiry,
    };
    let data = match text(&k.value) {
        Ok(t) if t.starts_with("postgres") => {
            // Legacy: "postgres://...?application_name=..&api_url=..." (Patroni
            // `parse_connection_string`): the URL before '?' and api_url after.
            let (url, query) = t.split_once('?').unwrap_or((t, ""));
            let api = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("api_url="))
                .map(str::to_owned);
            let mut o = Map::new();
            o.insert("conn_url".into(), Value::String(url.to_owned()));
            if let Some(a) = api {
                o.insert("api_url".into(), Value::String(a));
            }
            Value::Object(o)
        }
        Ok(t) => match serde_json::from_str::<Value>(t) {
            Ok(v @ Value::Object(_)) => v,
            Ok(v) => {
                bad(
                    &rel,
                    format!("a JSON {} where Patroni writes an object", kind(&v)),
                );
                return m;
            }
            Err(e) => {
                bad(&rel, format!("not JSON ({e})"));
                return m;
            }
        },
        Err(e) => {
            bad(&rel, e);
            return m;
        }
    };
    let Value::Object(o) = &data else {
        return m;
    };
    m.conn_url = str_field(o, "conn_url");
    m.api_url = str_field(o, "api_url");
    m.stored_role = str_field(o, "role");
    m.state = str_field(o, "state");
    m.replication_state = str_field(o, "replication_state");
    m.patroni_version = str_field(o, "version");
    m.tags = o.get("tags").cloned();
    for (field, slot) in [
        ("timeline", &mut m.timeline),
        ("xlog_location", &mut m.xlog_location),
        ("receive_lsn", &mut m.receive_lsn),
        ("replay_lsn", &mut m.replay_lsn),
    ] {
        if let Some(v) = o.get(field) {
            *slot = as_int(v);
            if slot.is_none() && !v.is_null() {
                bad(&rel, format!("{field} {v} is not an integer"));
            }
        }
    }
    // Host and port: conn_kwargs when present, else the URL.
    if let Some(Value::Object(kw)) = o
        .get("conn_kwargs")
        .filter(|v| v.as_object().is_some_and(|x| !x.is_empty()))
    {
        m.host = str_field(kw, "host");
        m.port = kw
            .get("port")
            .and_then(as_int)
            .and_then(|p| u16::try_from(p).ok());
    } else if let Some(url) = &m.conn_url {
        match url_host_port(url) {
            Some((h, p)) => {
                m.host = h;
                m.port = Some(p);
            }
            None => bad(&rel, format!("conn_url {url:?} is not a URL")),
        }
    }
    m.data = Some(data);
    m
}

/// Host and port of a `postgres://user@host:port/db` URL, as Python's
/// `urlparse(...).hostname` (lower-cased, brackets removed) and `.port or 5432`.
fn url_host_port(url: &str) -> Option<(Option<String>, u16)> {
    let (_, rest) = url.split_once("://")?;
    let netloc = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = netloc.rsplit_once('@').map_or(netloc, |(_, h)| h);
    let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
        let (h, tail) = r.split_once(']')?;
        (h, tail.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        Some("") | None => 5432,
        Some(p) => p.parse::<u16>().ok()?,
    };
    let host = (!host.is_empty()).then(|| host.to_lowercase());
    Some((host, port))
}

/// PostgreSQL's LSN text (`format_lsn`): `%X/%X` of the high and low 32 bits.
pub fn format_lsn(lsn: i64) -> String {
    let u = lsn.to_le_bytes();
    let lo = u32::from_le_bytes([u[0], u[1], u[2], u[3]]);
    let hi = u32::from_le_bytes([u[4], u[5], u[6], u[7]]);
    format!("{hi:X}/{lo:X}")
}

/// Python's `round(bytes / 1024 / 1024)`: to the nearest MiB, halves to even.
pub fn lag_mb(bytes: i64) -> i64 {
    let q = bytes.div_euclid(1 << 20);
    let r = bytes.rem_euclid(1 << 20);
    let half = 1 << 19;
    match r.cmp(&half) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q.saturating_add(1),
        std::cmp::Ordering::Equal => {
            if q.rem_euclid(2) == 0 {
                q
            } else {
                q.saturating_add(1)
            }
        }
    }
}

impl Cluster {
    /// The dynamic configuration's flag `name` as Patroni's `global_config`
    /// reads it (`check_mode`: a boolean, or a string true/on/yes/1).
    fn config_flag(&self, name: &str) -> bool {
        match self.config.as_ref().and_then(|c| c.get(name)) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => {
                matches!(s.to_lowercase().as_str(), "on" | "true" | "yes" | "1")
            }
            Some(Value::Number(n)) => n.as_i64().is_some_and(|v| v != 0),
            _ => false,
        }
    }

    fn synchronous_mode(&self) -> Option<String> {
        match self.config.as_ref().and_then(|c| c.get("synchronous_mode")) {
            Some(Value::String(s)) if s.eq_ignore_ascii_case("quorum") => Some("quorum".into()),
            _ if self.config_flag("synchronous_mode") => Some("on".into()),
            _ => None,
        }
    }

    fn is_sync_standby(&self, name: &str) -> bool {
        let Some(Value::Object(s)) = &self.sync else {
            return false;
        };
        match s.get("sync_standby") {
            Some(Value::String(list)) => list.split(',').any(|m| m.trim() == name),
            _ => false,
        }
    }

    /// The rows of `patronictl list -f json`: `Cluster`, `Member`, `Host`,
    /// `Role`, `State`, `TL`, `Receive LSN`, `Receive Lag`, `Replay LSN`,
    /// `Replay Lag` (+ `Pending restart`, `Pending restart reason`,
    /// `Scheduled restart`, `Tags` when any member has them), empty values
    /// left out, as `ctl.py:output_members` and `print_output` build them.
    pub fn patronictl_list(&self) -> Vec<Value> {
        let leader_name = self.leader.as_ref().map(|l| l.name.as_str());
        let standby = self
            .config
            .as_ref()
            .and_then(|c| c.get("standby_cluster"))
            .is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty()));
        let sync_mode = self.synchronous_mode();
        let cluster_lsn = self.last_lsn.unwrap_or(0);
        let with_host: Vec<&Member> = self.members.iter().filter(|m| m.host.is_some()).collect();
        let append_port = with_host.iter().any(|m| m.port.is_some_and(|p| p != 5432)) || {
            let hosts: std::collections::BTreeSet<_> =
                with_host.iter().filter_map(|m| m.host.as_deref()).collect();
            hosts.len() < with_host.len()
        };
        let data_of = |m: &Member, f: &str| -> Option<Value> {
            m.data.as_ref().and_then(|d| d.get(f)).cloned()
        };
        let extra_cols: Vec<(&str, &str)> = [
            ("Pending restart", "pending_restart"),
            ("Pending restart reason", "pending_restart_reason"),
            ("Scheduled restart", "scheduled_restart"),
            ("Tags", "tags"),
        ]
        .into_iter()
        .filter(|(_, f)| {
            with_host
                .iter()
                .any(|m| data_of(m, f).is_some_and(|v| truthy(&v)))
        })
        .collect();
        let mut rows = Vec::new();
        for m in &self.members {
            let role = if Some(m.name.as_str()) == leader_name {
                if standby {
                    "standby_leader"
                } else {
                    "leader"
                }
            } else if sync_mode.is_some() && self.is_sync_standby(&m.name) {
                if sync_mode.as_deref() == Some("quorum") {
                    "quorum_standby"
                } else {
                    "sync_standby"
                }
            } else {
                "replica"
            };
            let state = if role == "leader" {
                m.state.clone().unwrap_or_default()
            } else {
                m.replication_state
                    .clone()
                    .filter(|s| !s.is_empty())
                    .or_else(|| m.state.clone())
                    .unwrap_or_default()
            };
            let mut row = Map::new();
            let mut put = |k: &str, v: Value| {
                // print_output drops values whose str() is empty.
                if !matches!(&v, Value::String(s) if s.is_empty()) {
                    row.insert(k.to_owned(), v);
                }
            };
            put("Cluster", Value::String(self.scope.clone()));
            put("Member", Value::String(m.name.clone()));
            let host = match (&m.host, m.port) {
                (Some(h), Some(p)) if append_port => format!("{h}:{p}"),
                (Some(h), _) => h.clone(),
                (None, _) => String::new(),
            };
            put("Host", Value::String(host));
            put("Role", Value::String(title(role)));
            put("State", Value::String(state.clone()));
            put(
                "TL",
                data_of(m, "timeline").unwrap_or(Value::String(String::new())),
            );
            if Some(m.name.as_str()) != leader_name {
                let loc = |lsn: Option<i64>| -> (Value, Value) {
                    match lsn.filter(|l| *l != 0) {
                        None => (Value::String(String::new()), Value::String(String::new())),
                        Some(l) => {
                            let lag = cluster_lsn.saturating_sub(l).max(0);
                            (Value::String(format_lsn(l)), Value::from(lag_mb(lag)))
                        }
                    }
                };
                let (mut rx_lsn, mut rx_lag) = loc(m.receive_lsn);
                let (mut rp_lsn, mut rp_lag) = loc(m.replay_lsn);
                // Members of Patroni < 3.x: only xlog_location.
                if m.receive_lsn.filter(|l| *l != 0).is_none()
                    && m.replay_lsn.filter(|l| *l != 0).is_none()
                {
                    if let Some(l) = m.xlog_location.filter(|l| *l != 0) {
                        let (lsn, lag) = loc(Some(l));
                        if state == "streaming" {
                            (rx_lsn, rx_lag) = (lsn, lag);
                        } else {
                            (rp_lsn, rp_lag) = (lsn, lag);
                        }
                    }
                }
                put("Receive LSN", rx_lsn);
                put("Receive Lag", rx_lag);
                put("Replay LSN", rp_lsn);
                put("Replay Lag", rp_lag);
            }
            for (col, f) in &extra_cols {
                let v = data_of(m, f).unwrap_or(Value::String(String::new()));
                let v = match (*f, v) {
                    ("pending_restart", v) => Value::String(if truthy(&v) {
                        "*".into()
                    } else {
                        String::new()
                    }),
                    (_, v) => v,
                };
                put(col, v);
            }
            rows.push(Value::Object(row));
        }
        rows
    }

    /// The rows of `patronictl history -f json`: `TL`, `LSN`, `Reason`,
    /// `Timestamp`, `New Leader`, each line padded with `""` to five columns.
    pub fn patronictl_history(&self) -> Vec<Value> {
        const COLS: [&str; 5] = ["TL", "LSN", "Reason", "Timestamp", "New Leader"];
        let mut rows = Vec::new();
        for line in self.history.iter().flatten() {
            let items = line.raw.as_array().cloned().unwrap_or_default();
            let mut row = Map::new();
            for (i, c) in COLS.iter().enumerate() {
                row.insert(
                    (*c).to_owned(),
                    items
                        .get(i)
                        .cloned()
                        .unwrap_or(Value::String(String::new())),
                );
            }
            // Patroni zips columns with the line: items past five are dropped.
            rows.push(Value::Object(row));
        }
        rows
    }

    /// The timeline the history says the cluster is on: last line's + 1, 1
    /// without history.
    pub fn history_timeline(&self) -> Option<i64> {
        match &self.history {
            None => None,
            Some(h) => match h.last() {
                None => Some(1),
                Some(l) => l.timeline.and_then(|t| t.checked_add(1)),
            },
        }
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python's `str.title()` of `role.replace('_', ' ')`.
fn title(role: &str) -> String {
    role.split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f
                    .to_uppercase()
                    .chain(c.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

/// How severe an advisory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Worth knowing before restoring.
    Info,
    /// Restoring this state as it is would mislead Patroni or the operator.
    Warning,
}

/// A recovery advisory: a stable code, what was seen, what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Advisory {
    /// Stable code (`patroni.leader.unregistered`, ...).
    pub code: &'static str,
    /// Level.
    pub level: Level,
    /// Scope (`/service/demo`), or several for cross-scope advisories.
    pub scope: String,
    /// What was seen.
    pub detail: String,
    /// What to do.
    pub action: String,
}

/// The leader key's life as seen at `now_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LeaderLife {
    /// No TTL or lease: it stays until deleted.
    Permanent,
    /// v2: seconds left at `now` (etcd's rounding; ≤ 0 once expired). etcd
    /// deletes it at its first SYNC after the expire time, Patroni also
    /// treats it as gone then.
    Ttl {
        /// Seconds left (negative: expired that long ago).
        seconds_left: i64,
        /// Whether it has expired at `now`.
        expired: bool,
    },
    /// v3: leases are not timed on disk; an etcd started on this data gives
    /// every lease its full TTL again (lessor `Promote`), so the key lives
    /// that long after the restore unless Patroni refreshes it.
    Lease {
        /// The lease's granted TTL, seconds (`None`: lease not stored).
        ttl_after_restore: Option<i64>,
    },
}

/// The leader key's remaining life at `now_ns` (Unix ns).
pub fn leader_life(l: &LeaderKey, now_ns: i64) -> LeaderLife {
    match l.expiry {
        Expiry::Permanent => LeaderLife::Permanent,
        Expiry::At { expire_ns } => {
            let d = i128::from(expire_ns).saturating_sub(i128::from(now_ns));
            // etcd's TTL: truncate toward zero, one more for a positive remainder.
            let mut s = d / 1_000_000_000;
            if d % 1_000_000_000 > 0 {
                s = s.saturating_add(1);
            }
            LeaderLife::Ttl {
                seconds_left: i64::try_from(s).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX }),
                expired: expire_ns <= now_ns,
            }
        }
        Expiry::Lease { granted_ttl, .. } => LeaderLife::Lease {
            ttl_after_restore: granted_ttl,
        },
    }
}

/// Advisories on one cluster read at `now_ns`.
pub fn advise(c: &Cluster, now_ns: i64) -> Vec<Advisory> {
    let scope = format!("{}/{}", c.namespace.trim_end_matches('/'), c.scope);
    let mut out = Vec::new();
    let mut add = |code, level, detail: String, action: &str| {
        out.push(Advisory {
            code,
            level,
            scope: scope.clone(),
            detail,
            action: action.to_owned(),
        });
    };
    if let Some(l) = &c.leader {
        if !c.members.iter().any(|m| m.name == l.name) {
            add(
                "patroni.leader.unregistered",
                Level::Warning,
                format!(
                    "the leader key names {:?}, which has no members/ key",
                    l.name
                ),
                "the leader's member key expired or was never written: that node is likely down. \
                 Before restoring this state, check which PostgreSQL really is the primary; after \
                 a restore Patroni keeps the others replicas until this leader key expires",
            );
        }
        match leader_life(l, now_ns) {
            LeaderLife::Ttl {
                seconds_left,
                expired: false,
            } => add(
                "patroni.leader.live-after-restore",
                Level::Warning,
                format!(
                    "the leader key for {:?} has {seconds_left} s of its TTL left at the reference time",
                    l.name
                ),
                "an etcd started on this data serves this leader key until then: Patroni honours \
                 it and no other member takes over. Start etcd after it has expired, or make sure \
                 the named member is the real primary",
            ),
            LeaderLife::Ttl {
                seconds_left,
                expired: true,
            } => add(
                "patroni.leader.expired",
                Level::Info,
                format!(
                    "the leader key for {:?} expired {} s before the reference time",
                    l.name,
                    seconds_left.saturating_neg()
                ),
                "etcd drops it at its first SYNC after start; the members then race for \
                 leadership (the one with the newest WAL wins, within maximum_lag_on_failover)",
            ),
            LeaderLife::Lease {
                ttl_after_restore: Some(t),
            } => add(
                "patroni.leader.live-after-restore",
                Level::Warning,
                format!(
                    "the leader key for {:?} is on a lease of {t} s; etcd restarts every lease \
                     at its full TTL on start",
                    l.name
                ),
                "after a restore Patroni honours this leader key for that long unless the named \
                 member refreshes it: make sure it is the real primary, or wait it out before \
                 starting the replicas' Patroni",
            ),
            LeaderLife::Lease {
                ttl_after_restore: None,
            } => add(
                "patroni.leader.lease-missing",
                Level::Warning,
                format!("the leader key for {:?} is on a lease that is not stored", l.name),
                "etcd would serve the key with no lease to expire it: delete it after the \
                 restore (etcdctl del <namespace>/<scope>/leader) so Patroni can elect a leader",
            ),
            LeaderLife::Permanent => add(
                "patroni.leader.permanent",
                Level::Warning,
                format!("the leader key for {:?} has no TTL and no lease", l.name),
                "Patroni always writes it with a TTL: it was written by hand or by a restore \
                 tool; delete it if the named member is not the primary",
            ),
        }
    }
    if let Some(expected) = c.history_timeline() {
        let ahead: Vec<String> = c
            .members
            .iter()
            .filter(|m| m.timeline.is_some_and(|t| t > expected))
            .map(|m| format!("{} (TL {})", m.name, m.timeline.unwrap_or_default()))
            .collect();
        if !ahead.is_empty() {
            add(
                "patroni.history.behind-members",
                Level::Warning,
                format!(
                    "members are registered at a timeline above the one the history leads to \
                     (TL {expected}): {}",
                    ahead.join(", ")
                ),
                "the history key is older than the last failover (a snapshot taken between a \
                 promotion and the history update, or keys from different moments): take the \
                 newest timeline from the PostgreSQL servers (pg_controldata) before trusting \
                 this state",
            );
        }
    }
    if c.initialize.as_deref() == Some("") {
        add(
            "patroni.initialize.empty",
            Level::Info,
            "initialize is empty: the cluster was being bootstrapped".to_owned(),
            "a Patroni started on this state waits for the bootstrap to finish or time out",
        );
    }
    if !c.unreadable.is_empty() {
        add(
            "patroni.keys.unreadable",
            Level::Warning,
            format!(
                "{} key(s) hold values Patroni does not write: {}",
                c.unreadable.len(),
                c.unreadable
                    .iter()
                    .map(|u| u.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "they are shown raw; Patroni would ignore or reset them. Check for a truncated or \
             foreign restore, or a different Patroni version",
        );
    }
    out
}

/// Advisories across clusters (from one or several inputs): the same scope
/// under two namespaces or APIs, and `initialize` values that disagree for
/// the same scope.
pub fn advise_across(clusters: &[(String, &Cluster)]) -> Vec<Advisory> {
    let mut out = Vec::new();
    let mut by_scope: BTreeMap<&str, Vec<&(String, &Cluster)>> = BTreeMap::new();
    for c in clusters {
        by_scope.entry(c.1.scope.as_str()).or_default().push(c);
    }
    for (scope, list) in by_scope {
        let places: std::collections::BTreeSet<(String, Api)> = list
            .iter()
            .map(|(_, c)| (c.namespace.clone(), c.api))
            .collect();
        let namespaces: std::collections::BTreeSet<&str> =
            list.iter().map(|(_, c)| c.namespace.as_str()).collect();
        if namespaces.len() > 1 {
            out.push(Advisory {
                code: "patroni.scope.several-namespaces",
                level: Level::Warning,
                scope: scope.to_owned(),
                detail: format!(
                    "scope {scope:?} exists under {} namespaces: {}",
                    namespaces.len(),
                    places
                        .iter()
                        .map(|(n, a)| format!("{n} ({})", api_name(*a)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                action: "only one is the live cluster's (Patroni's `namespace` setting): compare \
                         the leader, members and initialize of each and restore/keep that one; \
                         pass --namespace to look at one"
                    .to_owned(),
            });
        }
        let inits: BTreeMap<&str, Vec<String>> =
            list.iter().fold(BTreeMap::new(), |mut acc, (src, c)| {
                if let Some(i) = c.initialize.as_deref().filter(|i| !i.is_empty()) {
                    acc.entry(i).or_default().push(format!(
                        "{src}: {}/{} ({})",
                        c.namespace.trim_end_matches('/'),
                        c.scope,
                        api_name(c.api)
                    ));
                }
                acc
            });
        if inits.len() > 1 {
            out.push(Advisory {
                code: "patroni.initialize.disagree",
                level: Level::Warning,
                scope: scope.to_owned(),
                detail: format!(
                    "scope {scope:?} has {} different PostgreSQL system identifiers: {}",
                    inits.len(),
                    inits
                        .iter()
                        .map(|(i, w)| format!("{i} in {}", w.join(", ")))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                action: "these are different PostgreSQL clusters (or a snapshot of another \
                         cluster was restored): restore only the state whose initialize equals \
                         the servers' `pg_controldata` 'Database system identifier'; Patroni \
                         refuses to run a node whose identifier differs"
                    .to_owned(),
            });
        }
    }
    out
}

fn api_name(a: Api) -> &'static str {
    match a {
        Api::V2 => "v2",
        Api::V3 => "v3",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(v: &str) -> RawKey {
        RawKey {
            value: v.as_bytes().to_vec(),
            modified: 1,
            expiry: Expiry::Permanent,
        }
    }

    fn scope(keys: &[(&str, &str)]) -> ScopeKeys {
        let all = keys
            .iter()
            .map(|(k, v)| (format!("/service/demo/{k}"), raw(v)))
            .collect();
        group_scopes(Api::V3, all).into_iter().next().unwrap()
    }

    #[test]
    fn scopes_are_found_by_their_keys() {
        let keys = vec![
            ("/service/a/leader".to_owned(), raw("pg1")),
            ("/service/a/members/pg1".to_owned(), raw("{}")),
            ("/other/a/config".to_owned(), raw("{}")),
            ("/x/history".to_owned(), raw("[]")), // no strong key: not a scope
            ("/app/config/thing".to_owned(), raw("1")),
            ("/b/initialize".to_owned(), raw("1")),
        ];
        let s = group_scopes(Api::V2, keys);
        let names: Vec<_> = s
            .iter()
            .map(|s| (s.namespace.as_str(), s.scope.as_str()))
            .collect();
        assert_eq!(names, vec![("/", "b"), ("/other", "a"), ("/service", "a")]);
        assert_eq!(s[2].keys.len(), 2);
    }

    #[test]
    fn list_follows_patronictl() {
        let c = parse(&scope(&[
            ("leader", "pg1"),
            (
                "status",
                r#"{"optime":67108864,"slots":{"pg2":67108864},"retain_slots":["pg1","pg2"]}"#,
            ),
            ("config", r#"{"ttl":20}"#),
            (
                "members/pg1",
                r#"{"conn_url":"postgres://127.0.0.1:5433/postgres","api_url":"http://127.0.0.1:8008/patroni","state":"running","role":"primary","version":"4.1.5","xlog_location":67108864,"timeline":2}"#,
            ),
            (
                "members/pg2",
                r#"{"conn_url":"postgres://127.0.0.1:5434/postgres","api_url":"http://127.0.0.1:8009/patroni","state":"running","role":"replica","version":"4.1.5","replication_state":"streaming","xlog_location":65011712,"receive_lsn":65011712,"replay_lsn":61865984,"timeline":2}"#,
            ),
        ]));
        let rows = c.patronictl_list();
        assert_eq!(
            rows,
            vec![
                json!({"Cluster":"demo","Member":"pg1","Host":"127.0.0.1:5433","Role":"Leader","State":"running","TL":2}),
                json!({"Cluster":"demo","Member":"pg2","Host":"127.0.0.1:5434","Role":"Replica","State":"streaming","TL":2,
                       "Receive LSN":"0/3E00000","Receive Lag":2,"Replay LSN":"0/3B00000","Replay Lag":5}),
            ]
        );
    }

    #[test]
    fn lag_rounds_half_to_even_like_python() {
        assert_eq!(lag_mb(0), 0);
        assert_eq!(lag_mb(1 << 19), 0); // round(0.5) == 0
        assert_eq!(lag_mb(3 << 19), 2); // round(1.5) == 2
        assert_eq!(lag_mb((1 << 19) + 1), 1);
        assert_eq!(format_lsn(0x1_0000_0028), "1/28");
    }

    #[test]
    fn history_rows_are_padded() {
        let c = parse(&scope(&[
            ("leader", "pg1"),
            (
                "history",
                r#"[[1,25165984,"no recovery target specified","2026-12-03T13:00:00+00:00","pg2"],[2,33554592,"x"]]"#,
            ),
        ]));
        assert_eq!(
            c.patronictl_history()[1],
            json!({"TL":2,"LSN":33554592,"Reason":"x","Timestamp":"","New Leader":""})
        );
        assert_eq!(c.history_timeline(), Some(3));
    }

    #[test]
    fn bad_values_are_noted_not_guessed() {
        let c = parse(&scope(&[
            ("leader", "pg1"),
            ("config", r#"{"ttl": 3"#),
            ("history", r#"{"a":1}"#),
            (
                "members/pg1",
                r#"{"conn_url":"postgres://h/postgres","timeline":"two"}"#,
            ),
            ("members/pg2", "\u{1}garbage"),
            ("status", r#"{"slots":{}}"#),
        ]));
        assert!(c.config.is_none());
        assert!(c.history.is_none());
        let keys: Vec<_> = c.unreadable.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(
            keys,
            vec!["config", "history", "members/pg1", "members/pg2", "status"]
        );
        let pg1 = &c.members[0];
        assert_eq!(
            (pg1.host.as_deref(), pg1.port, pg1.timeline),
            (Some("h"), Some(5432), None)
        );
        assert!(c.members[1].data.is_none());
        let adv = advise(&c, 0);
        assert!(adv.iter().any(|a| a.code == "patroni.keys.unreadable"));
    }

    #[test]
    fn advisories() {
        let mut s = scope(&[
            ("leader", "pg9"),
            ("history", r#"[[1,100,"r","t","pg2"]]"#),
            ("members/pg1", r#"{"timeline":3}"#),
        ]);
        s.keys.get_mut("leader").unwrap().expiry = Expiry::At {
            expire_ns: 10_500_000_000,
        };
        let c = parse(&s);
        let codes = |now| {
            advise(&c, now)
                .into_iter()
                .map(|a| a.code)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            codes(0),
            vec![
                "patroni.leader.unregistered",
                "patroni.leader.live-after-restore",
                "patroni.history.behind-members"
            ]
        );
        assert_eq!(codes(20_000_000_000)[1], "patroni.leader.expired");
        assert_eq!(
            leader_life(c.leader.as_ref().unwrap(), 0),
            LeaderLife::Ttl {
                seconds_left: 11,
                expired: false
            }
        );
        let mut other = c.clone();
        other.namespace = "/other".into();
        other.initialize = Some("2".into());
        let mut first = c.clone();
        first.initialize = Some("1".into());
        let across = advise_across(&[("a".into(), &first), ("b".into(), &other)]);
        let codes: Vec<_> = across.iter().map(|a| a.code).collect();
        assert_eq!(
            codes,
            vec![
                "patroni.scope.several-namespaces",
                "patroni.initialize.disagree"
            ]
        );
    }

    #[test]
    fn legacy_forms() {
        let c = parse(&scope(&[
            ("leader", "pg1"),
            ("optime/leader", "1234"),
            ("failover", "pg1:pg2"),
            (
                "members/pg1",
                "postgres://u:p@Host1:5433/postgres?application_name=pg1&api_url=http://h/patroni",
            ),
        ]));
        assert_eq!(c.last_lsn, Some(1234));
        assert_eq!(c.failover, Some(json!({"leader":"pg1","member":"pg2"})));
        assert_eq!(c.members[0].host.as_deref(), Some("host1"));
        assert_eq!(c.members[0].api_url.as_deref(), Some("http://h/patroni"));
        assert!(c.unreadable.is_empty());
    }
}
