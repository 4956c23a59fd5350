//! Membership as each source records it: the db's `members` and
//! `members_removed` buckets (member JSON), the v2 store of a `.snap`, and
//! the WAL's conf-change entries.
//!
//! ```text
//! members bucket   key: id as unpadded lowercase hex   value: member JSON
//!                  (its layout: see `member.rs`)
//! members_removed  key: hex id                          value: "removed"
//! ConfChange       AddNode/AddLearnerNode/UpdateNode: context = member JSON
//!                  (promotion: AddNode whose context is `ConfigChangeContext`, the
//!                  member's fields inline plus "isPromote":true, e.g.
//!                  {"id":..,"peerURLs":null,"isPromote":true}); RemoveNode: no context
//! ```
//! Source: etcd v3.5.1 `server/etcdserver/api/membership/{member,cluster,store}.go`,
//! `server.go` `applyConfChange`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::formats::bbolt::Db;
use crate::formats::proto::raftpb::{self, conf_change_type};

use super::schema;

// The member model and the id serializers have their own homes; these names
// stay importable from here for the commands that use them with membership.
pub use super::ids::{id_hex, ser_id, ser_ids};
pub use super::member::{Member, MemberJson};

/// The flag of a conf change's context (`ConfigChangeContext`: an embedded
/// `Member`, so its fields sit beside this one). Checked on a real etcd 3.5.1
/// `member promote`.
#[derive(Debug, Deserialize)]
struct PromoteFlag {
    #[serde(rename = "isPromote", default)]
    is_promote: bool,
}

/// A conf change's context: the member JSON, and whether it promotes a
/// learner (only an AddNode can). The one reading of it, for the membership
/// views here and the v2 store replay.
#[derive(Debug, Clone, Default)]
pub struct ConfChangeContext {
    /// The member's fields (a promotion carries only the id; `peerURLs` null).
    pub member: MemberJson,
    /// `isPromote`.
    pub is_promote: bool,
}

impl ConfChangeContext {
    /// Reads `ctx`; `None` when it is not member JSON.
    pub fn parse(ctx: &[u8]) -> Option<ConfChangeContext> {
        let member = serde_json::from_slice::<MemberJson>(ctx).ok()?;
        let is_promote = serde_json::from_slice::<PromoteFlag>(ctx).is_ok_and(|f| f.is_promote);
        Some(ConfChangeContext { member, is_promote })
    }
}

/// Membership from one source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Membership {
    /// Members, by id.
    pub members: Vec<Member>,
    /// Removed member ids.
    #[serde(serialize_with = "ser_ids")]
    pub removed: Vec<u64>,
}

impl Membership {
    /// Member ids, sorted.
    pub fn ids(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.members.iter().map(|m| m.id).collect();
        v.sort_unstable();
        v
    }

    /// The member with `id`.
    pub fn get(&self, id: u64) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }
}

/// Problems reading membership from the db (kept, not fatal).
pub type Problems = Vec<String>;

/// Membership from the `members` and `members_removed` buckets.
pub fn from_db(db: &Db<'_>) -> Result<(Option<Membership>, Problems)> {
    let mut problems = Vec::new();
    let Some(b) = db.bucket(schema::MEMBERS)? else {
        return Ok((None, problems));
    };
    let mut m = Membership::default();
    for e in b.cursor(db) {
        let e = e?;
        let key = String::from_utf8_lossy(e.key).into_owned();
        match serde_json::from_slice::<MemberJson>(e.value) {
            Ok(j) => {
                if u64::from_str_radix(&key, 16).ok() != Some(j.id) {
                    problems.push(format!(
                        "members bucket key {key} holds member id {:x}",
                        j.id
                    ));
                }
                m.members.push(j.into());
            }
            Err(err) => problems.push(format!("members bucket key {key}: not member JSON: {err}")),
        }
    }
    if let Some(r) = db.bucket(schema::MEMBERS_REMOVED)? {
        for e in r.cursor(db) {
            let e = e?;
            match std::str::from_utf8(e.key)
                .ok()
                .and_then(|k| u64::from_str_radix(k, 16).ok())
            {
                Some(id) => m.removed.push(id),
                None => problems.push(format!(
                    "members_removed key {} is not a hex id",
                    crate::bytes::hex(e.key)
                )),
            }
        }
    }
    m.members.sort_by_key(|x| x.id);
    m.removed.sort_unstable();
    Ok((Some(m), problems))
}

/// Membership from a v2 store.
pub fn from_v2(store: &super::v2store::Store) -> Membership {
    Membership {
        members: store
            .members()
            .into_iter()
            .map(|m| Member {
                id: m.id,
                name: m.name,
                peer_urls: m.peer_urls,
                client_urls: m.client_urls,
                is_learner: m.is_learner,
            })
            .collect(),
        removed: store.removed(),
    }
}

/// One membership change recorded in the WAL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfChangeEvent {
    /// Raft index.
    pub index: u64,
    /// Raft term.
    pub term: u64,
    /// `ConfChangeAddNode`, ...
    pub change: String,
    /// Member concerned.
    #[serde(serialize_with = "ser_id")]
    pub member_id: u64,
    /// Learner promotion.
    pub promote: bool,
    /// Committed (index ≤ HardState commit).
    pub committed: bool,
}

/// Applies conf-change entries in order to `start` (the membership before
/// the first entry). Returns the membership and the events seen.
pub fn apply_conf_changes<'e, I>(
    start: Membership,
    entries: I,
    commit: u64,
) -> (Membership, Vec<ConfChangeEvent>)
where
    I: IntoIterator<Item = &'e raftpb::Entry>,
{
    use prost::Message;
    let mut members: BTreeMap<u64, Member> = start.members.into_iter().map(|m| (m.id, m)).collect();
    let mut removed = start.removed;
    let mut events = Vec::new();
    for e in entries {
        if e.r#type != raftpb::entry_type::CONF_CHANGE || e.index > commit {
            if e.r#type == raftpb::entry_type::CONF_CHANGE {
                if let Ok(cc) = raftpb::ConfChange::decode(e.data.as_deref().unwrap_or(&[])) {
                    events.push(event(e, &cc, false, false));
                }
            }
            continue;
        }
        let Ok(cc) = raftpb::ConfChange::decode(e.data.as_deref().unwrap_or(&[])) else {
            continue;
        };
        let ctx = cc.context.as_deref().unwrap_or(&[]);
        let mut promote = false;
        match cc.r#type {
            conf_change_type::ADD_NODE
            | conf_change_type::ADD_LEARNER_NODE
            | conf_change_type::UPDATE_NODE => {
                let parsed = ConfChangeContext::parse(ctx);
                promote = cc.r#type == conf_change_type::ADD_NODE
                    && parsed.as_ref().is_some_and(|c| c.is_promote);
                let parsed = parsed.map(|c| c.member);
                let entry = members.entry(cc.node_id).or_insert_with(|| Member {
                    id: cc.node_id,
                    ..Member::default()
                });
                if let Some(j) = parsed {
                    if promote {
                        entry.is_learner = false;
                    } else {
                        entry.peer_urls = j.peer_urls;
                        if cc.r#type != conf_change_type::UPDATE_NODE {
                            entry.is_learner =
                                j.is_learner || cc.r#type == conf_change_type::ADD_LEARNER_NODE;
                        }
                        if !j.name.is_empty() {
                            entry.name = j.name;
                        }
                        if !j.client_urls.is_empty() {
                            entry.client_urls = j.client_urls;
                        }
                    }
                }
            }
            conf_change_type::REMOVE_NODE => {
                members.remove(&cc.node_id);
                if !removed.contains(&cc.node_id) {
                    removed.push(cc.node_id);
                }
            }
            _ => {}
        }
        events.push(event(e, &cc, promote, true));
    }
    removed.sort_unstable();
    (
        Membership {
            members: members.into_values().collect(),
            removed,
        },
        events,
    )
}

fn event(
    e: &raftpb::Entry,
    cc: &raftpb::ConfChange,
    promote: bool,
    committed: bool,
) -> ConfChangeEvent {
    ConfChangeEvent {
        index: e.index,
        term: e.term,
        change: raftpb::conf_change_type_name(cc.r#type),
        member_id: cc.node_id,
        promote,
        committed,
    }
}

/// Sets names and client URLs published through the WAL (v2
/// `PUT /0/members/<id>/attributes` or `cluster_member_attr_set`).
pub fn apply_attributes<'e, I>(m: &mut Membership, entries: I, commit: u64)
where
    I: IntoIterator<Item = &'e raftpb::Entry>,
{
    use super::entry::{payload, Payload};
    for e in entries {
        if e.index > commit {
            continue;
        }
        match payload(e) {
            Payload::V2 { v2 } => {
                let path = String::from_utf8_lossy(&v2.path);
                let Some(rest) = path.strip_prefix("/0/members/") else {
                    continue;
                };
                let Some(hex) = rest.strip_suffix("/attributes") else {
                    continue;
                };
                let Ok(id) = u64::from_str_radix(hex, 16) else {
                    continue;
                };
                if let (Some(mem), Ok(a)) = (
                    m.members.iter_mut().find(|x| x.id == id),
                    serde_json::from_slice::<MemberJson>(&v2.val),
                ) {
                    mem.name = a.name;
                    mem.client_urls = a.client_urls;
                }
            }
            Payload::Request { irr, .. } => {
                if let Some(s) = &irr.cluster_member_attr_set {
                    if let (Some(mem), Some(a)) = (
                        m.members.iter_mut().find(|x| x.id == s.member_id),
                        &s.member_attributes,
                    ) {
                        mem.name.clone_from(&a.name);
                        mem.client_urls.clone_from(&a.client_urls);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn cc(index: u64, t: i32, id: u64, ctx: Option<&str>) -> raftpb::Entry {
        raftpb::Entry {
            r#type: raftpb::entry_type::CONF_CHANGE,
            term: 1,
            index,
            data: Some(
                raftpb::ConfChange {
                    id: 0,
                    r#type: t,
                    node_id: id,
                    context: ctx.map(|c| c.as_bytes().to_vec()),
                }
                .encode_to_vec()
                .into(),
            ),
        }
    }

    #[test]
    fn conf_changes_add_promote_remove() {
        let ents = [
            cc(
                1,
                0,
                1,
                Some(r#"{"id":1,"peerURLs":["http://a:2380"],"name":"a"}"#),
            ),
            cc(
                2,
                3,
                2,
                Some(r#"{"id":2,"peerURLs":["http://b:2380"],"isLearner":true}"#),
            ),
            cc(
                3,
                0,
                2,
                // As real etcd 3.5.1 `member promote` writes it.
                Some(r#"{"id":2,"peerURLs":null,"isPromote":true}"#),
            ),
            cc(4, 1, 1, None),
            cc(5, 0, 9, Some(r#"{"id":9,"peerURLs":["http://c:2380"]}"#)),
        ];
        let (m, ev) = apply_conf_changes(Membership::default(), &ents, 4);
        assert_eq!(m.ids(), [2]);
        assert!(!m.get(2).unwrap().is_learner);
        assert_eq!(m.removed, [1]);
        assert_eq!(ev.len(), 5);
        assert!(ev[2].promote);
        assert!(!ev[4].committed);
        assert_eq!(id_hex(0x8e9e_05c5_2164_694d), "8e9e05c52164694d");
    }
}
