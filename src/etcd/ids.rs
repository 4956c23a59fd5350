//! Member and cluster IDs: how etcd computes them, and how reports show them.
//!
//! ```text
//! member id  = BE u64 of sha1( join("", sort(peer URL strings)) ‖ token )[..8]
//! cluster id = BE u64 of sha1( id_1 ‖ id_2 ‖ … as 8-byte BE, ids sorted )[..8]
//! shown as   16 lowercase hex digits (names, JSON reports: JSON numbers lose
//!            ids above 2^53); `members` bucket keys are unpadded hex
//! ```
//! Serde helpers for report fields: [`ser_id`] (one id), [`ser_ids`] (a list),
//! [`ser_opt_id`] and [`ser_opt_ids`] (optional ones, `None` as null).
//! Source: etcd `server/etcdserver/api/membership/member.go:computeMemberId`,
//! `cluster.go:genID` (v3.5.1). Checked against the default vector.

use sha1::{Digest, Sha1};

fn first8_be(digest: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    for (d, s) in b.iter_mut().zip(digest) {
        *d = *s;
    }
    u64::from_be_bytes(b)
}

/// `computeMemberId` with `now = nil` (bootstrap and restore).
pub fn member_id<S: AsRef<str>>(peer_urls: &[S], token: &str) -> u64 {
    let mut urls: Vec<&str> = peer_urls.iter().map(AsRef::as_ref).collect();
    urls.sort_unstable();
    let mut h = Sha1::new();
    for u in urls {
        h.update(u.as_bytes());
    }
    h.update(token.as_bytes());
    first8_be(&h.finalize())
}

/// `genID`: sha1 over the sorted member ids as 8-byte big-endian values.
pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let mut h = Sha1::new();
    for id in ids {
        h.update(id.to_be_bytes());
    }
    first8_be(&h.finalize())
}

/// An id as etcd shows it in names and JSON reports: 16 lowercase hex digits.
pub fn id_hex(id: u64) -> String {
    format!("{id:016x}")
}

/// An id as etcd prints it for people (`types.ID.String()`, `%x`: no
/// leading zeros), in `etcdctl member list`, `endpoint status` tables and
/// etcd's logs, so it can be matched by eye. JSON keeps [`id_hex`].
pub fn id_x(id: u64) -> String {
    format!("{id:x}")
}

/// Serializes an id with [`id_hex`] (`#[serde(serialize_with = "ser_id")]`).
#[allow(clippy::trivially_copy_pass_by_ref)]
pub fn ser_id<S: serde::Serializer>(id: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id_hex(*id))
}

/// Serializes a list of ids with [`id_hex`].
pub fn ser_ids<S: serde::Serializer>(ids: &[u64], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(ids.len()))?;
    for id in ids {
        seq.serialize_element(&id_hex(*id))?;
    }
    seq.end()
}

/// Serializes an optional id with [`id_hex`] (`None`: null).
#[allow(clippy::ref_option, clippy::trivially_copy_pass_by_ref)]
pub fn ser_opt_id<S: serde::Serializer>(id: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(i) => s.serialize_str(&id_hex(*i)),
        None => s.serialize_none(),
    }
}

/// Serializes an optional list of ids with [`id_hex`] (`None`: null).
#[allow(clippy::ref_option)]
pub fn ser_opt_ids<S: serde::Serializer>(ids: &Option<Vec<u64>>, s: S) -> Result<S::Ok, S::Error> {
    match ids {
        Some(v) => ser_ids(v, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Row {
        #[serde(serialize_with = "ser_id")]
        id: u64,
        #[serde(serialize_with = "ser_ids")]
        ids: Vec<u64>,
        #[serde(serialize_with = "ser_opt_id")]
        opt: Option<u64>,
        #[serde(serialize_with = "ser_opt_ids")]
        opts: Option<Vec<u64>>,
    }

    #[test]
    fn ids_serialize_as_padded_hex() {
        let r = Row {
            id: 0x8e9e_05c5_2164_694d,
            ids: vec![1],
            opt: None,
            opts: Some(vec![0xab]),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"id":"8e9e05c52164694d","ids":["0000000000000001"],"opt":null,"opts":["00000000000000ab"]}"#
        );
    }
}
