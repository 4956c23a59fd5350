//! The SHA-256 integrity trailer of `etcdctl snapshot save` files.
//!
//! ```text
//! snapshot file = db bytes (pgid * page_size) | sha256(db bytes) (32 bytes)
//! ```
//! etcd decides "has a trailer" only by `file size % 512 == 32`; there is no
//! magic. A raw `member/snap/db` copy is a multiple of the page size (≡ 0 mod
//! 512) and has none. Source: etcd `client/v3/snapshot` `Save`, `etcdutl/snapshot`
//! `copyAndVerifyDB` (3.5; same in 3.6, 3.7). Checked on etcd 3.5.1 output.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::bytes::{hex, to_u64};

/// Trailer length.
pub const TRAILER_LEN: usize = 32;

/// Whether etcd would treat a file of this length as having a trailer.
pub fn has_trailer(file_len: u64) -> bool {
    file_len % 512 == 32
}

/// The result of looking for and verifying a trailer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Trailer {
    /// No trailer (length not ≡ 32 mod 512): a raw db copy, or a damaged file.
    Absent,
    /// Present and not verified (verification not asked for).
    Unverified {
        /// The stored digest, hex.
        stored: String,
    },
    /// Present and equal to the SHA-256 of the bytes before it.
    Valid {
        /// The digest, hex.
        sha256: String,
    },
    /// Present but different from the SHA-256 of the bytes before it.
    Mismatch {
        /// The stored digest, hex.
        stored: String,
        /// The digest of the bytes before it, hex.
        computed: String,
    },
}

impl Trailer {
    /// Looks at the last 32 bytes of `file`; hashes the rest when `verify`.
    pub fn inspect(file: &[u8], verify: bool) -> Trailer {
        if !has_trailer(to_u64(file.len())) {
            return Trailer::Absent;
        }
        let split = file.len().saturating_sub(TRAILER_LEN);
        let (body, stored) = file.split_at(split);
        if !verify {
            return Trailer::Unverified {
                stored: hex(stored),
            };
        }
        Trailer::from_digests(stored, &Sha256::digest(body))
    }

    /// The verdict for a `stored` trailer and the `computed` SHA-256 of the
    /// bytes before it (taken elsewhere, e.g. beside a walk).
    pub fn from_digests(stored: &[u8], computed: &[u8]) -> Trailer {
        let (stored, computed) = (hex(stored), hex(computed));
        if computed == stored {
            Trailer::Valid { sha256: computed }
        } else {
            Trailer::Mismatch { stored, computed }
        }
    }

    /// The bytes before the trailer (the whole file when there is none).
    pub fn body(file: &[u8]) -> &[u8] {
        if has_trailer(to_u64(file.len())) {
            file.get(..file.len().saturating_sub(TRAILER_LEN))
                .unwrap_or(file)
        } else {
            file
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_and_verifies() {
        let mut f = vec![7u8; 512];
        assert_eq!(Trailer::inspect(&f, true), Trailer::Absent);
        let d = Sha256::digest(&f);
        f.extend_from_slice(&d);
        assert!(matches!(Trailer::inspect(&f, true), Trailer::Valid { .. }));
        assert_eq!(Trailer::body(&f).len(), 512);
        f[3] = 0;
        assert!(matches!(
            Trailer::inspect(&f, true),
            Trailer::Mismatch { .. }
        ));
    }
}
