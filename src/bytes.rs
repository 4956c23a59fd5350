//! The one door from offsets to bytes: every read is bounds-checked and returns
//! `None` past the end, never panics. Callers turn `None` into a located error.
//!
//! bbolt writes integers in the host's byte order; every etcd file we know of was
//! written on a little-endian host (amd64, arm64), so the readers here decode
//! little-endian explicitly. etcd's own keys (revisions, lease ids, meta values)
//! are big-endian and have their own helpers.

/// `len` bytes at `off`, if they are all inside `buf`.
#[inline]
pub fn slice(buf: &[u8], off: usize, len: usize) -> Option<&[u8]> {
    buf.get(off..off.checked_add(len)?)
}

/// A fixed-size array at `off`.
#[inline]
pub fn array<const N: usize>(buf: &[u8], off: usize) -> Option<[u8; N]> {
    slice(buf, off, N)?.try_into().ok()
}

/// Little-endian u16 at `off`.
#[inline]
pub fn u16_le(buf: &[u8], off: usize) -> Option<u16> {
    array(buf, off).map(u16::from_le_bytes)
}

/// Little-endian u32 at `off`.
#[inline]
pub fn u32_le(buf: &[u8], off: usize) -> Option<u32> {
    array(buf, off).map(u32::from_le_bytes)
}

/// Little-endian u64 at `off`.
#[inline]
pub fn u64_le(buf: &[u8], off: usize) -> Option<u64> {
    array(buf, off).map(u64::from_le_bytes)
}

/// Big-endian u64 at `off`.
#[inline]
pub fn u64_be(buf: &[u8], off: usize) -> Option<u64> {
    array(buf, off).map(u64::from_be_bytes)
}

/// Converts a file-derived `u64` to `usize`; `None` if it does not fit.
#[inline]
pub fn to_usize(v: u64) -> Option<usize> {
    usize::try_from(v).ok()
}

/// Converts a `usize` length to `u64` (always fits on the 32/64-bit targets we build for).
#[inline]
pub fn to_u64(v: usize) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// Hex of bytes, lowercase, no separators.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_the_end() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(u32_le(&b, 4), Some(0x0807_0605));
        assert_eq!(u32_le(&b, 5), None);
        assert_eq!(u64_le(&b, 0), Some(0x0807_0605_0403_0201));
        assert_eq!(u64_be(&b, 0), Some(0x0102_0304_0506_0708));
        assert_eq!(slice(&b, usize::MAX, 2), None);
        assert_eq!(slice(&b, 8, 0), Some(&[][..]));
    }
}
