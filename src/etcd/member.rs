//! The one model of an etcd cluster member, its JSON, and the cluster built
//! from `--initial-cluster`.
//!
//! ```text
//! member JSON (bucket `members`, ConfChange contexts), keys in this order:
//!   {"id":<u64 decimal>,"peerURLs":[…],"isLearner":true?,"name":"…"?,"clientURLs":[…]?}
//!   (`?` = omitted when false / empty, Go's omitempty)
//! members bucket key: the id as unpadded lowercase hex
//! ```
//! Source: etcd `server/etcdserver/api/membership/member.go` (`Member`,
//! `RaftAttributes`, `Attributes`), `cluster.go:NewClusterFromURLsMap`
//! (v3.5.1). Checked against the `members` bucket written by `etcdutl
//! snapshot restore` (3.5.1).

use serde::{Deserialize, Serialize};

use crate::error::Result;

use super::gojson::{go_json_list, go_json_string};
use super::ids::{cluster_id, member_id, ser_id};
use super::urls::{parse_initial_cluster, usage};

/// etcd's default `--initial-cluster-token`.
pub const DEFAULT_TOKEN: &str = "etcd-cluster";

/// A cluster member, whatever the source (db, v2 store, WAL, flags).
/// Serialized in reports with the id as hex under `member_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Member {
    /// Member id.
    #[serde(rename = "member_id", serialize_with = "ser_id")]
    pub id: u64,
    /// Name ("" until the member published it).
    pub name: String,
    /// Peer URLs (normalised, sorted when built from flags).
    pub peer_urls: Vec<String>,
    /// Client URLs (empty until the member published them).
    pub client_urls: Vec<String>,
    /// Learner.
    pub is_learner: bool,
}

/// Member JSON as read from the `members` bucket and conf-change contexts
/// (written by [`Member::to_json`]).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MemberJson {
    /// Id (decimal JSON number).
    #[serde(default)]
    pub id: u64,
    /// Peer URLs (`null` in a promotion's context, which carries only the id).
    #[serde(rename = "peerURLs", default, deserialize_with = "null_as_empty")]
    pub peer_urls: Vec<String>,
    /// Learner.
    #[serde(rename = "isLearner", default)]
    pub is_learner: bool,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Client URLs.
    #[serde(rename = "clientURLs", default, deserialize_with = "null_as_empty")]
    pub client_urls: Vec<String>,
}

/// Go marshals a nil slice as `null`.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

impl From<MemberJson> for Member {
    fn from(m: MemberJson) -> Member {
        Member {
            id: m.id,
            name: m.name,
            peer_urls: m.peer_urls,
            client_urls: m.client_urls,
            is_learner: m.is_learner,
        }
    }
}

impl Member {
    /// A new member as bootstrap/restore makes it: id from the URLs and token.
    pub fn new(name: &str, peer_urls: Vec<String>, token: &str) -> Member {
        Member {
            id: member_id(&peer_urls, token),
            peer_urls,
            is_learner: false,
            name: name.to_string(),
            client_urls: Vec::new(),
        }
    }

    /// The JSON etcd writes into the `members` bucket and ConfChange contexts
    /// (`json.Marshal(Member)`), byte for byte.
    pub fn to_json(&self) -> String {
        let mut out = format!("{{\"id\":{},\"peerURLs\":", self.id);
        go_json_list(&mut out, &self.peer_urls);
        if self.is_learner {
            out.push_str(",\"isLearner\":true");
        }
        if !self.name.is_empty() {
            out.push_str(",\"name\":");
            go_json_string(&mut out, &self.name);
        }
        if !self.client_urls.is_empty() {
            out.push_str(",\"clientURLs\":");
            go_json_list(&mut out, &self.client_urls);
        }
        out.push('}');
        out
    }

    /// The `members` bucket key: lower-case hex without padding.
    pub fn bucket_key(&self) -> String {
        format!("{:x}", self.id)
    }
}

/// A cluster built from `--initial-cluster`: members sorted by id, and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Cluster id.
    pub id: u64,
    /// Members in ascending id order (etcd's `Members()` order).
    pub members: Vec<Member>,
}

impl Cluster {
    /// `NewClusterFromURLsMap(token, NewURLsMap(initial_cluster))`.
    pub fn from_initial_cluster(initial_cluster: &str, token: &str) -> Result<Cluster> {
        let map = parse_initial_cluster(initial_cluster)?;
        let mut members: Vec<Member> = Vec::new();
        for (name, urls) in map {
            let m = Member::new(&name, urls, token);
            if m.id == 0 {
                return Err(usage("cannot use 0 as member id".into()));
            }
            if let Some(other) = members.iter().find(|o| o.id == m.id) {
                return Err(usage(format!(
                    "member exists with identical ID {:x} ({} and {})",
                    m.id, other.name, m.name
                )));
            }
            members.push(m);
        }
        members.sort_by_key(|m| m.id);
        let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
        Ok(Cluster {
            id: cluster_id(&ids),
            members,
        })
    }

    /// The member called `name`.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_vector() {
        let c =
            Cluster::from_initial_cluster("default=http://localhost:2380", DEFAULT_TOKEN).unwrap();
        let m = c.member("default").unwrap();
        assert_eq!(m.id, 0x8e9e_05c5_2164_694d);
        assert_eq!(m.id, 10_276_657_743_932_975_437);
        assert_eq!(c.id, 0xcdf8_1819_4e3a_8c32);
        assert_eq!(m.bucket_key(), "8e9e05c52164694d");
        assert_eq!(
            m.to_json(),
            r#"{"id":10276657743932975437,"peerURLs":["http://localhost:2380"],"name":"default"}"#
        );
    }

    #[test]
    fn json_matches_go() {
        let m = Member {
            id: 9_372_538_179_322_589_801,
            peer_urls: vec!["http://127.0.0.1:12380".into()],
            is_learner: false,
            name: "infra1".into(),
            client_urls: vec!["http://127.0.0.1:2379".into()],
        };
        assert_eq!(
            m.to_json(),
            r#"{"id":9372538179322589801,"peerURLs":["http://127.0.0.1:12380"],"name":"infra1","clientURLs":["http://127.0.0.1:2379"]}"#
        );
        let l = Member {
            is_learner: true,
            name: "a<b>&\"\n\u{1}".into(),
            client_urls: vec![],
            ..m
        };
        assert_eq!(
            l.to_json(),
            r#"{"id":9372538179322589801,"peerURLs":["http://127.0.0.1:12380"],"isLearner":true,"name":"a\u003cb\u003e\u0026\"\n\u0001"}"#
        );
    }

    #[test]
    fn initial_cluster_accumulates_names() {
        let m =
            parse_initial_cluster("a=http://h2:2380,b=http://h3:2380,,a=http://h1:2380").unwrap();
        assert_eq!(m["a"], vec!["http://h1:2380", "http://h2:2380"]);
        assert_eq!(m["b"], vec!["http://h3:2380"]);
        assert!(parse_initial_cluster("a").is_err());
        // Same URLs under two names: same id.
        assert!(Cluster::from_initial_cluster("a=http://h:1,b=http://h:1", "t").is_err());
        // URL order does not change the id.
        assert_eq!(
            member_id(&["http://b:1", "http://a:1"], "t"),
            member_id(&["http://a:1", "http://b:1"], "t")
        );
    }
}
