//! The key space at a revision, in key order, and the first keys where two
//! key spaces differ (what `compare --keys` lists).
//!
//! ```text
//! key bucket (revision order) ──fold, main ≤ R──▶ user key → latest KeyValue ≤ R
//!   put        → the key maps to this KeyValue
//!   tombstone  → the key is removed
//! ```
//! Compaction keeps, for every key, its newest revision ≤ the compact revision
//! (tombstones excepted), so for R ≥ the compact revision the fold gives the
//! key space etcd serves at R. Memory: one entry per distinct live key, keys
//! borrowed from the map.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::formats::bbolt::Db;
use crate::formats::proto::KeyValueRef;

use super::revision::{is_tombstone, main_of};
use super::schema;

/// A live key at a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAt {
    /// Its mod revision.
    pub mod_revision: i64,
    /// CRC-32C of the stored KeyValue (value, versions, lease).
    pub crc: u32,
}

/// The live keys at `rev`, in key order.
pub fn state_at<'a>(db: &Db<'a>, rev: i64) -> Result<BTreeMap<&'a [u8], KeyAt>> {
    let mut out = BTreeMap::new();
    let Some(bucket) = db.bucket(schema::KEY)? else {
        return Ok(out);
    };
    for e in bucket.cursor(db) {
        let e = e?;
        let Some(main) = main_of(e.key) else {
            return Err(Error::new(ErrorKind::Schema(format!(
                "key bucket: key {} is not a revision key",
                crate::bytes::hex(e.key)
            ))));
        };
        if main > rev {
            // Revisions only grow along the bucket.
            break;
        }
        let kv = KeyValueRef::decode(e.value).map_err(|w| {
            Error::new(ErrorKind::Schema(format!(
                "key bucket: value of revision {main} is not a KeyValue: {w}"
            )))
        })?;
        if is_tombstone(e.key) {
            out.remove(kv.key);
        } else {
            out.insert(
                kv.key,
                KeyAt {
                    mod_revision: kv.mod_revision,
                    crc: crc32c::crc32c(e.value),
                },
            );
        }
    }
    Ok(out)
}

/// One key where two key spaces differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyDifference {
    /// The user key (lossy UTF-8).
    pub key: String,
    /// Its mod revision on the first side, absent if the key is not there.
    pub a_mod_revision: Option<i64>,
    /// Its mod revision on the second side.
    pub b_mod_revision: Option<i64>,
}

/// The first `limit` keys where `a` and `b` differ, in key order, and whether
/// there were more.
pub fn first_differences(
    a: &BTreeMap<&[u8], KeyAt>,
    b: &BTreeMap<&[u8], KeyAt>,
    limit: usize,
) -> (Vec<KeyDifference>, bool) {
    let mut out = Vec::new();
    let mut ia = a.iter().peekable();
    let mut ib = b.iter().peekable();
    loop {
        let d = match (ia.peek(), ib.peek()) {
            (None, None) => return (out, false),
            (Some((ka, va)), None) => {
                let d = diff(ka, Some(va), None);
                ia.next();
                d
            }
            (None, Some((kb, vb))) => {
                let d = diff(kb, None, Some(vb));
                ib.next();
                d
            }
            (Some((ka, va)), Some((kb, vb))) => match ka.cmp(kb) {
                std::cmp::Ordering::Less => {
                    let d = diff(ka, Some(va), None);
                    ia.next();
                    d
                }
                std::cmp::Ordering::Greater => {
                    let d = diff(kb, None, Some(vb));
                    ib.next();
                    d
                }
                std::cmp::Ordering::Equal => {
                    let d = (va != vb).then(|| diff(ka, Some(va), Some(vb)));
                    ia.next();
                    ib.next();
                    match d {
                        Some(d) => d,
                        None => continue,
                    }
                }
            },
        };
        if out.len() >= limit {
            return (out, true);
        }
        out.push(d);
    }
}

fn diff(k: &[u8], a: Option<&KeyAt>, b: Option<&KeyAt>) -> KeyDifference {
    KeyDifference {
        key: String::from_utf8_lossy(k).into_owned(),
        a_mod_revision: a.map(|x| x.mod_revision),
        b_mod_revision: b.map(|x| x.mod_revision),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(m: i64, c: u32) -> KeyAt {
        KeyAt {
            mod_revision: m,
            crc: c,
        }
    }

    #[test]
    fn merge_walk() {
        let a: BTreeMap<&[u8], KeyAt> =
            [(&b"a"[..], at(1, 1)), (b"b", at(2, 2)), (b"d", at(4, 4))].into();
        let b: BTreeMap<&[u8], KeyAt> =
            [(&b"a"[..], at(1, 1)), (b"b", at(3, 3)), (b"c", at(5, 5))].into();
        let (d, more) = first_differences(&a, &b, 10);
        assert!(!more);
        let keys: Vec<_> = d.iter().map(|x| x.key.as_str()).collect();
        assert_eq!(keys, ["b", "c", "d"]);
        assert_eq!(d.first().unwrap().b_mod_revision, Some(3));
        let (d, more) = first_differences(&a, &b, 2);
        assert!(more && d.len() == 2);
        let (d, more) = first_differences(&a, &a, 2);
        assert!(!more && d.is_empty());
    }
}
