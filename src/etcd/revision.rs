//! Revision keys of etcd's `key` bucket.
//!
//! ```text
//! | main (i64, big-endian, 8 bytes) | '_' | sub (i64, big-endian, 8 bytes) | ['t'] |
//!   0                                 8     9                                 17
//! ```
//! 17 bytes for a put, 18 with the `t` mark for a tombstone (delete). Keys sort
//! by (main, sub): revision order. Source: etcd `server/mvcc/revision.go` (3.5),
//! `server/storage/mvcc/revision.go` (3.6; `BytesToBucketKey` validates the
//! length, the `_` and non-negative revisions; 3.5 does not validate).

use std::fmt;

use serde::Serialize;

use crate::bytes::u64_be;

/// Length of a revision key.
pub const REV_KEY_LEN: usize = 17;
/// Length of a tombstone revision key.
pub const TOMBSTONE_KEY_LEN: usize = 18;

/// A revision: the store revision of a txn and the change's index in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct Revision {
    /// Main revision.
    pub main: i64,
    /// Index of the change inside the txn.
    pub sub: i64,
}

impl Revision {
    /// The 17-byte key for this revision.
    pub fn to_key(self) -> [u8; REV_KEY_LEN] {
        let mut k = [0u8; REV_KEY_LEN];
        k[..8].copy_from_slice(&self.main.to_be_bytes());
        k[8] = b'_';
        k[9..].copy_from_slice(&self.sub.to_be_bytes());
        k
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}, {}}}", self.main, self.sub)
    }
}

/// A decoded revision key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RevKey {
    /// The revision.
    pub rev: Revision,
    /// Whether the key carries the tombstone mark.
    pub tombstone: bool,
}

/// Why a `key` bucket key is not a revision key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevKeyError {
    /// Not 17 or 18 bytes.
    BadLength(usize),
    /// Byte 8 is not `_`.
    BadSeparator(u8),
    /// 18 bytes but the mark is not `t`.
    BadMark(u8),
}

impl fmt::Display for RevKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevKeyError::BadLength(n) => write!(f, "revision key is {n} bytes, expected 17 or 18"),
            RevKeyError::BadSeparator(b) => {
                write!(f, "revision key byte 8 is {b:#04x}, expected '_'")
            }
            RevKeyError::BadMark(b) => write!(f, "revision key byte 17 is {b:#04x}, expected 't'"),
        }
    }
}

/// Main revision from the first 8 bytes, as etcd 3.5's `bytesToRev(k).main`
/// (which does not validate the rest). `None` if shorter than 8 bytes.
#[allow(clippy::cast_possible_wrap)]
pub fn main_of(key: &[u8]) -> Option<i64> {
    u64_be(key, 0).map(|v| v as i64)
}

/// Whether etcd's `isTombstone` says so: 18 bytes ending in `t`.
pub fn is_tombstone(key: &[u8]) -> bool {
    key.len() == TOMBSTONE_KEY_LEN && key.last() == Some(&b't')
}

/// Strict decode (3.6's `BytesToBucketKey` rules).
#[allow(clippy::cast_possible_wrap)]
pub fn parse(key: &[u8]) -> Result<RevKey, RevKeyError> {
    if key.len() != REV_KEY_LEN && key.len() != TOMBSTONE_KEY_LEN {
        return Err(RevKeyError::BadLength(key.len()));
    }
    match key.get(8) {
        Some(b'_') => {}
        Some(b) => return Err(RevKeyError::BadSeparator(*b)),
        None => return Err(RevKeyError::BadLength(key.len())),
    }
    let tombstone = match key.get(17) {
        None => false,
        Some(b't') => true,
        Some(b) => return Err(RevKeyError::BadMark(*b)),
    };
    let (Some(main), Some(sub)) = (u64_be(key, 0), u64_be(key, 9)) else {
        return Err(RevKeyError::BadLength(key.len()));
    };
    Ok(RevKey {
        rev: Revision {
            main: main as i64,
            sub: sub as i64,
        },
        tombstone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = Revision { main: 37, sub: 2 };
        let k = r.to_key();
        assert_eq!(
            parse(&k).unwrap(),
            RevKey {
                rev: r,
                tombstone: false
            }
        );
        let mut t = k.to_vec();
        t.push(b't');
        assert!(parse(&t).unwrap().tombstone);
        assert!(is_tombstone(&t));
        assert_eq!(main_of(&k), Some(37));
        assert!(parse(&k[..10]).is_err());
    }
}
