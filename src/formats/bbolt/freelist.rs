//! Freelist pages, and the free set rebuilt by reachability.
//!
//! ```text
//! Freelist page (flags 0x10)
//! <-------------------------- 8 bytes -------------------------->
//! | page header: id, flags=0x10, count, overflow                 |
//! count < 0xFFFF:  ids start at page offset 16, `count` of them
//! count = 0xFFFF:  | real count (u64) |, ids start at offset 24
//! | page id (u64) | page id (u64) | ...   sorted on write          |
//! ```
//! Little-endian. etcd on Linux never writes one (`NoFreelistSync`: meta.freelist
//! is 0xFFFF_FFFF_FFFF_FFFF); then the free set is every page in `[2, pgid)` that
//! no bucket reaches, which the check computes while it walks. Source: bbolt
//! `freelist.go` `read`, `page.go` (v1.3.6); `internal/freelist/shared.go` (v1.4).

use crate::bytes::{to_u64, to_usize, u64_le};
use crate::error::ErrorKind;

use super::page::{type_name, Page, FREELIST, PAGE_HEADER_SIZE};

/// The count value that means "the real count is in the first u64".
pub const LONG_COUNT: u16 = 0xFFFF;

/// Reads the page ids of a freelist page, sorted (as bbolt sorts them on read).
pub fn read_ids(page: &Page<'_>) -> Result<Vec<u64>, ErrorKind> {
    if page.header.flags & FREELIST == 0 {
        return Err(ErrorKind::BadPageType {
            expected: "freelist",
            found: page.header.flags,
            found_name: type_name(page.header.flags),
        });
    }
    let (count, start) = if page.header.count == LONG_COUNT {
        let n = u64_le(page.bytes, PAGE_HEADER_SIZE).ok_or(ErrorKind::ElementOutOfPage {
            index: 0,
            count: u32::from(LONG_COUNT),
            end: 24,
            len: to_u64(page.bytes.len()),
        })?;
        (n, PAGE_HEADER_SIZE + 8)
    } else {
        (u64::from(page.header.count), PAGE_HEADER_SIZE)
    };
    // Check the ids fit in the page before allocating for them.
    let room = to_u64(page.bytes.len().saturating_sub(start)) / 8;
    if count > room {
        return Err(ErrorKind::ElementOutOfPage {
            index: u32::try_from(room).unwrap_or(u32::MAX),
            count: u32::try_from(count).unwrap_or(u32::MAX),
            end: to_u64(start).saturating_add(count.saturating_mul(8)),
            len: to_u64(page.bytes.len()),
        });
    }
    let n = to_usize(count).unwrap_or(0);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        if let Some(id) = u64_le(page.bytes, start + i * 8) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_forms() {
        let mut p = vec![0u8; 4096];
        p[8..10].copy_from_slice(&FREELIST.to_le_bytes());
        p[10..12].copy_from_slice(&2u16.to_le_bytes());
        p[16..24].copy_from_slice(&9u64.to_le_bytes());
        p[24..32].copy_from_slice(&5u64.to_le_bytes());
        let page = Page::new(2, &p).unwrap();
        assert_eq!(read_ids(&page).unwrap(), vec![5, 9]);

        p[10..12].copy_from_slice(&LONG_COUNT.to_le_bytes());
        p[16..24].copy_from_slice(&1u64.to_le_bytes());
        p[24..32].copy_from_slice(&77u64.to_le_bytes());
        let page = Page::new(2, &p).unwrap();
        assert_eq!(read_ids(&page).unwrap(), vec![77]);

        p[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        let page = Page::new(2, &p).unwrap();
        assert!(read_ids(&page).is_err());
    }
}
