//! What a raft entry carries, the way etcd's apply loop and etcd-dump-logs
//! tell it: `EntryConfChange` → `raftpb.ConfChange`; `EntryConfChangeV2` →
//! `raftpb.ConfChangeV2`; `EntryNormal` with no data → leader no-op; else an
//! `InternalRaftRequest` if it decodes strictly, else a v2 `Request`, else
//! unknown. (A v2 request never decodes as an IRR: its always-written `Path`,
//! field 3, starts with `/`, an invalid wire type for IRR's `range`.)
//! Source: etcd v3.5.1 `server/etcdserver/server.go` `applyEntryNormal`,
//! `tools/etcd-dump-logs/main.go`.

use prost::Message;
use serde::Serialize;

use crate::formats::proto::etcdserverpb::{InternalRaftRequest, Request};
use crate::formats::proto::raftpb::{self, entry_type};

/// The decoded payload of an entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    /// Empty normal entry: a new leader's no-op.
    Noop,
    /// A membership change.
    ConfChange {
        /// `ConfChangeAddNode`, ...
        change: String,
        /// The member concerned.
        #[serde(serialize_with = "crate::formats::proto::text::hex_id")]
        member_id: u64,
        /// Proposal id.
        id: u64,
        /// Context: member JSON, parsed when it is JSON.
        #[serde(skip_serializing_if = "Option::is_none")]
        context: Option<serde_json::Value>,
    },
    /// A joint-consensus change (etcd does not propose these).
    ConfChangeV2 {
        /// Transition.
        transition: i32,
        /// The changes: (type name, member id hex).
        changes: Vec<(String, String)>,
    },
    /// An `InternalRaftRequest` (v3 API and etcd's own requests).
    Request {
        /// Which request (`put`, `txn`, `lease_grant`, ...).
        request: &'static str,
        /// The request id.
        request_id: u64,
        /// The whole request.
        irr: Box<InternalRaftRequest>,
    },
    /// A v2 store request, not wrapped (3.4/3.5 write them raw).
    V2 {
        /// The request.
        v2: Box<Request>,
    },
    /// Not decodable as anything etcd writes.
    Unknown {
        /// Why.
        reason: String,
        /// The bytes, hex.
        data_hex: String,
    },
}

impl Payload {
    /// Short kind name used by filters: `noop`, `conf_change`, `put`, `v2`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Noop => "noop",
            Payload::ConfChange { .. } => "conf_change",
            Payload::ConfChangeV2 { .. } => "conf_change_v2",
            Payload::Request { request, .. } => request,
            Payload::V2 { .. } => "v2",
            Payload::Unknown { .. } => "unknown",
        }
    }

    /// One line for people, close to etcd-dump-logs.
    pub fn summary(&self) -> String {
        use crate::formats::proto::text::display;
        match self {
            Payload::Noop => "noop".into(),
            Payload::ConfChange {
                change, member_id, ..
            } => format!("conf method={change} id={member_id:016x}"),
            Payload::ConfChangeV2 { changes, .. } => format!("conf-v2 {changes:?}"),
            Payload::Request {
                request,
                request_id,
                irr,
            } => {
                let detail = match (
                    &irr.put,
                    &irr.delete_range,
                    &irr.compaction,
                    &irr.lease_grant,
                ) {
                    (Some(p), _, _, _) => format!(
                        " key={} value={}{}",
                        display(&p.key),
                        display(&p.value),
                        if p.lease != 0 {
                            format!(" lease={:x}", p.lease)
                        } else {
                            String::new()
                        }
                    ),
                    (_, Some(d), _, _) => format!(
                        " key={}{}",
                        display(&d.key),
                        if d.range_end.is_empty() {
                            String::new()
                        } else {
                            format!(" range_end={}", display(&d.range_end))
                        }
                    ),
                    (_, _, Some(c), _) => format!(" revision={}", c.revision),
                    (_, _, _, Some(l)) => format!(" id={:x} ttl={}", l.id, l.ttl),
                    _ => match &irr.txn {
                        Some(t) => format!(
                            " compare={} success={} failure={}",
                            t.compare.len(),
                            t.success.len(),
                            t.failure.len()
                        ),
                        None => String::new(),
                    },
                };
                format!("norm {request} id={request_id:x}{detail}")
            }
            Payload::V2 { v2 } => {
                let m = display(&v2.method);
                match m.as_str() {
                    "" => "noop".into(),
                    "SYNC" => format!("method=SYNC time={}", v2.time),
                    "QGET" | "DELETE" => format!("method={m} path={}", display(&v2.path)),
                    _ => {
                        let mut t = format!(
                            "method={m} path={} val={}",
                            display(&v2.path),
                            display(&v2.val)
                        );
                        if v2.dir {
                            t.push_str(" dir=true");
                        }
                        if let Some(p) = v2.prev_exist {
                            t.push_str(&format!(" prevExist={p}"));
                        }
                        if !v2.prev_value.is_empty() {
                            t.push_str(&format!(" prevValue={}", display(&v2.prev_value)));
                        }
                        if v2.prev_index != 0 {
                            t.push_str(&format!(" prevIndex={}", v2.prev_index));
                        }
                        if v2.expiration != 0 {
                            t.push_str(&format!(" expiration={}", v2.expiration));
                        }
                        if v2.refresh == Some(true) {
                            t.push_str(" refresh=true");
                        }
                        t
                    }
                }
            }
            Payload::Unknown { reason, .. } => format!("??? ({reason})"),
        }
    }
}

/// Decodes what `e` carries.
pub fn payload(e: &raftpb::Entry) -> Payload {
    let data = e.data.as_deref().unwrap_or(&[]);
    match e.r#type {
        entry_type::CONF_CHANGE => match raftpb::ConfChange::decode(data) {
            Ok(cc) => Payload::ConfChange {
                change: raftpb::conf_change_type_name(cc.r#type),
                member_id: cc.node_id,
                id: cc.id,
                context: cc.context.as_deref().filter(|c| !c.is_empty()).map(|c| {
                    serde_json::from_slice(c).unwrap_or_else(|_| {
                        serde_json::Value::String(String::from_utf8_lossy(c).into_owned())
                    })
                }),
            },
            Err(err) => unknown(format!("ConfChange does not decode: {err}"), data),
        },
        entry_type::CONF_CHANGE_V2 => match raftpb::ConfChangeV2::decode(data) {
            Ok(cc) => Payload::ConfChangeV2 {
                transition: cc.transition,
                changes: cc
                    .changes
                    .iter()
                    .map(|c| {
                        (
                            raftpb::conf_change_type_name(c.r#type),
                            format!("{:016x}", c.node_id),
                        )
                    })
                    .collect(),
            },
            Err(err) => unknown(format!("ConfChangeV2 does not decode: {err}"), data),
        },
        entry_type::NORMAL => {
            if data.is_empty() {
                return Payload::Noop;
            }
            if let Ok(irr) = InternalRaftRequest::decode(data) {
                return Payload::Request {
                    request: irr.kind(),
                    request_id: irr.request_id(),
                    irr: Box::new(irr),
                };
            }
            match Request::decode(data) {
                Ok(r) => Payload::V2 { v2: Box::new(r) },
                Err(err) => unknown(
                    format!("neither an InternalRaftRequest nor a v2 Request: {err}"),
                    data,
                ),
            }
        }
        other => unknown(format!("entry type {other} is unknown"), data),
    }
}

fn unknown(reason: String, data: &[u8]) -> Payload {
    Payload::Unknown {
        reason,
        data_hex: crate::bytes::hex(data),
    }
}

/// The newest etcd version `entries` need, when above 3.5: what etcd's
/// `wal.MinimalEtcdVersion` (3.6+, `storage/wal/version.go`) reports above
/// 3.5. Every message, field and enum value etcd writes into a WAL entry is
/// annotated 3.5 or older except `DowngradeVersionTestRequest`, whose own
/// `ver` is taken as the version it needs (a test-only request).
pub fn newest_version_needed<'a>(
    entries: impl Iterator<Item = &'a raftpb::Entry>,
) -> Option<String> {
    let mut best: Option<(super::version::Version, String)> = None;
    for e in entries {
        if let Payload::Request { irr, .. } = payload(e) {
            if let Some(d) = &irr.downgrade_version_test {
                let s = d.name.clone();
                let v = super::version::Version::parse(&s).unwrap_or(super::version::Version {
                    major: 3,
                    minor: 6,
                    patch: 0,
                    pre: String::new(),
                    meta: String::new(),
                });
                if best
                    .as_ref()
                    .is_none_or(|(b, _)| (v.major, v.minor, v.patch) > (b.major, b.minor, b.patch))
                {
                    best = Some((v, s));
                }
            }
        }
    }
    best.map(|(_, s)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(data: Vec<u8>) -> raftpb::Entry {
        raftpb::Entry {
            r#type: entry_type::NORMAL,
            term: 1,
            index: 1,
            data: Some(data.into()),
        }
    }

    #[test]
    fn v2_requests_are_not_taken_for_irrs() {
        let r = Request {
            method: b"PUT".to_vec(),
            path: b"/0/version".to_vec(),
            val: b"3.5.0".to_vec(),
            ..Request::default()
        };
        let p = payload(&normal(r.encode_to_vec()));
        assert_eq!(p.kind(), "v2");
        assert_eq!(p.summary(), "method=PUT path=/0/version val=3.5.0");
        assert_eq!(payload(&normal(Vec::new())), Payload::Noop);
        assert_eq!(payload(&normal(vec![0xff])).kind(), "unknown");
    }

    #[test]
    fn only_the_downgrade_test_request_needs_more_than_3_5() {
        use crate::formats::proto::etcdserverpb::NameRequest;
        let irr = |ver: Option<&str>| {
            let mut r = InternalRaftRequest {
                downgrade_version_test: ver.map(|v| NameRequest { name: v.into() }),
                ..InternalRaftRequest::default()
            };
            if ver.is_none() {
                r.compaction = Some(Default::default());
            }
            normal(r.encode_to_vec())
        };
        let plain = [irr(None), irr(None)];
        assert_eq!(newest_version_needed(plain.iter()), None);
        let tested = [
            irr(None),
            irr(Some("3.6.0")),
            irr(Some("3.7.1")),
            irr(Some("3.6.9")),
        ];
        assert_eq!(
            newest_version_needed(tested.iter()).as_deref(),
            Some("3.7.1")
        );
    }
}
