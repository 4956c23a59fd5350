//! Hashes of user keys for tables that hold a hash instead of the key, so
//! their memory does not grow with key length (`compact`'s pass 1, `space`'s
//! per-key accounting). SipHash-1-3 with fixed keys: the same in every run.

use std::hash::{BuildHasherDefault, Hasher};

/// 64 bits of hash of a user key.
pub fn hash64(key: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write(key);
    h.finish()
}

/// 128 bits of hash of a user key: [`hash64`] and a second digest over the
/// key behind a marker byte.
pub fn hash128(key: &[u8]) -> u128 {
    let mut b = std::hash::DefaultHasher::new();
    b.write_u8(0xa5);
    b.write(key);
    (u128::from(hash64(key)) << 64) | u128::from(b.finish())
}

/// The hasher of a table keyed by such a hash: the key is a hash already
/// (of a `u128`, its low 64 bits are used).
#[derive(Debug, Default, Clone, Copy)]
pub struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }

    #[allow(clippy::cast_possible_truncation)]
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

/// `BuildHasher` of [`PreHashed`].
pub type BuildPreHashed = BuildHasherDefault<PreHashed>;
