//! The v2 store saved in a `.snap` (etcd 3.4/3.5): nodes, membership, and
//! whether it holds anything besides etcd's own data.
//!
//! ```text
//! {"Root":NODE,"WatcherHub":{...},"CurrentIndex":n,"Stats":{...},"CurrentVersion":2}
//! NODE = {"Path","CreatedIndex","ModifiedIndex","ExpireTime","Value","Children":{name:NODE}|null}
//! /0/members/<hex id>/raftAttributes  {"peerURLs":[...],"isLearner":true?}
//! /0/members/<hex id>/attributes      {"name":"...","clientURLs":[...]}
//! /0/removed_members/<hex id>         ""
//! /0/version                          "3.5.0"
//! /1/...                              v2 API keys (user data)
//! /2/...                              v2 auth (users, roles, enabled)
//! ```
//! Custom content (refused by 3.6 with the default `--v2-deprecation`): a root
//! child other than `/0` that has children, except `/2` whose children are all
//! childless (`/2/enabled`, empty `/2/users`, `/2/roles`).
//! Source: etcd v3.5.1 `server/etcdserver/api/v2store/{store,node}.go`;
//! v3.6 `server/etcdserver/api/membership/storev2.go` `IsMetaStoreOnly`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One node of the v2 tree.
#[derive(Debug, Clone, Deserialize)]
pub struct Node {
    /// Full path.
    #[serde(rename = "Path", default)]
    pub path: String,
    /// Index of creation.
    #[serde(rename = "CreatedIndex", default)]
    pub created_index: u64,
    /// Index of the last change.
    #[serde(rename = "ModifiedIndex", default)]
    pub modified_index: u64,
    /// RFC 3339 expiry (`0001-01-01T00:00:00Z`: never).
    #[serde(rename = "ExpireTime", default)]
    pub expire_time: String,
    /// Value (keys only).
    #[serde(rename = "Value", default)]
    pub value: String,
    /// Children (dirs only; `null` for keys).
    #[serde(rename = "Children", default)]
    pub children: Option<BTreeMap<String, Node>>,
}

impl Node {
    /// Whether this is a dir.
    pub fn is_dir(&self) -> bool {
        self.children.is_some()
    }

    fn child(&self, name: &str) -> Option<&Node> {
        self.children.as_ref()?.get(name)
    }

    fn has_children(&self) -> bool {
        self.children.as_ref().is_some_and(|c| !c.is_empty())
    }

    /// The node at `path` (`/0/version`).
    pub fn get(&self, path: &str) -> Option<&Node> {
        let mut n = self;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            n = n.child(part)?;
        }
        Some(n)
    }

    /// Number of keys (non-dir nodes) below this node.
    pub fn count_keys(&self) -> u64 {
        // Iterative walk: the JSON nesting already bounds the depth, but no recursion is needed.
        let mut stack = vec![self];
        let mut n = 0u64;
        while let Some(x) = stack.pop() {
            match &x.children {
                Some(c) => stack.extend(c.values()),
                None => n = n.saturating_add(1),
            }
        }
        n
    }
}

/// The saved v2 store.
#[derive(Debug, Clone, Deserialize)]
pub struct Store {
    /// The tree.
    #[serde(rename = "Root")]
    pub root: Node,
    /// Index of the last change.
    #[serde(rename = "CurrentIndex", default)]
    pub current_index: u64,
    /// Store format version (2).
    #[serde(rename = "CurrentVersion", default)]
    pub current_version: u64,
}

/// A member as the v2 store records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V2Member {
    /// Member id.
    pub id: u64,
    /// Name (from `attributes`).
    pub name: String,
    /// Peer URLs.
    pub peer_urls: Vec<String>,
    /// Client URLs.
    pub client_urls: Vec<String>,
    /// Learner.
    pub is_learner: bool,
}

#[derive(Deserialize, Default)]
struct RaftAttrs {
    #[serde(rename = "peerURLs", default)]
    peer_urls: Vec<String>,
    #[serde(rename = "isLearner", default)]
    is_learner: bool,
}

#[derive(Deserialize, Default)]
struct Attrs {
    #[serde(default)]
    name: String,
    #[serde(rename = "clientURLs", default)]
    client_urls: Vec<String>,
}

impl Store {
    /// Parses the JSON of a `.snap`'s data.
    pub fn parse(json: &[u8]) -> Result<Store, serde_json::Error> {
        serde_json::from_slice(json)
    }

    /// Members under `/0/members` (ids that do not parse as hex are skipped).
    pub fn members(&self) -> Vec<V2Member> {
        let mut out = Vec::new();
        let Some(dir) = self
            .root
            .get("/0/members")
            .and_then(|n| n.children.as_ref())
        else {
            return out;
        };
        for (name, node) in dir {
            let Ok(id) = u64::from_str_radix(name, 16) else {
                continue;
            };
            let ra: RaftAttrs = node
                .child("raftAttributes")
                .and_then(|n| serde_json::from_str(&n.value).ok())
                .unwrap_or_default();
            let at: Attrs = node
                .child("attributes")
                .and_then(|n| serde_json::from_str(&n.value).ok())
                .unwrap_or_default();
            out.push(V2Member {
                id,
                name: at.name,
                peer_urls: ra.peer_urls,
                client_urls: at.client_urls,
                is_learner: ra.is_learner,
            });
        }
        out.sort_by_key(|m| m.id);
        out
    }

    /// Ids under `/0/removed_members`.
    pub fn removed(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .root
            .get("/0/removed_members")
            .and_then(|n| n.children.as_ref())
            .map(|c| {
                c.keys()
                    .filter_map(|k| u64::from_str_radix(k, 16).ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// `/0/version`, the cluster version.
    pub fn cluster_version(&self) -> Option<&str> {
        self.root.get("/0/version").map(|n| n.value.as_str())
    }

    /// Whether the store holds more than etcd's own data (`IsMetaStoreOnly` is false).
    pub fn has_custom_content(&self) -> bool {
        let Some(children) = &self.root.children else {
            return false;
        };
        children.iter().any(|(name, n)| match name.as_str() {
            "0" => false,
            "2" => n
                .children
                .as_ref()
                .is_some_and(|c| c.values().any(Node::has_children)),
            _ => n.has_children(),
        })
    }

    /// Keys under `/1` (v2 API user keys).
    pub fn user_keys(&self) -> u64 {
        self.root.get("/1").map_or(0, Node::count_keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{"Root":{"Path":"/","CreatedIndex":0,"ModifiedIndex":0,"ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{"0":{"Path":"/0","CreatedIndex":0,"ModifiedIndex":0,"ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{"members":{"Path":"/0/members","CreatedIndex":1,"ModifiedIndex":1,"ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{"8e9e05c52164694d":{"Path":"/0/members/8e9e05c52164694d","CreatedIndex":1,"ModifiedIndex":1,"ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{"raftAttributes":{"Path":"/0/members/8e9e05c52164694d/raftAttributes","CreatedIndex":1,"ModifiedIndex":1,"ExpireTime":"0001-01-01T00:00:00Z","Value":"{\"peerURLs\":[\"http://localhost:2380\"]}","Children":null}}}}}}},"1":{"Path":"/1","CreatedIndex":0,"ModifiedIndex":0,"ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{}}}},"CurrentIndex":1,"CurrentVersion":2}"#;

    #[test]
    fn members_and_content() {
        let s = Store::parse(SMALL.as_bytes()).unwrap();
        let m = s.members();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].id, 0x8e9e_05c5_2164_694d);
        assert_eq!(m[0].peer_urls, ["http://localhost:2380"]);
        assert!(!s.has_custom_content());
        assert_eq!(s.user_keys(), 0);
        let custom = SMALL.replace(
            r#""Children":{}}}}"#,
            r#""Children":{"k":{"Path":"/1/k","Value":"v","Children":null}}}}}"#,
        );
        let s = Store::parse(custom.as_bytes()).unwrap();
        assert!(s.has_custom_content());
        assert_eq!(s.user_keys(), 1);
    }
}
