//! WAL frames: the 8-byte length word, padding, and the torn-write test.
//!
//! ```text
//! offset 0  u64 LE  length word: n = word & 0x00ff_ffff_ffff_ffff
//!                   word top byte 0x80|pad if pad > 0 (pad = word>>56 & 7)
//! offset 8  n bytes walpb.Record
//!           pad     zero bytes, so the next frame starts 8-byte aligned
//! ```
//! Torn write (`isTornEntry`): the record bytes plus padding are split at
//! 512-byte boundaries of the *file*; if any chunk is all zero, the frame was
//! only partly written.
//! Source: etcd v3.5.1 `server/wal/decoder.go` (`decodeRecord`,
//! `decodeFrameSize`, `isTornEntry`), `encoder.go` (`encodeFrameSize`).

use std::borrow::Cow;

/// Size etcd preallocates each WAL file to (`SegmentSizeBytes`; decimal, not MiB).
pub const SEGMENT_SIZE: u64 = 64 * 1000 * 1000;
/// The sector size of the torn-write test (`minSectorSize`).
pub const SECTOR_SIZE: u64 = 512;
/// Bytes of the length word.
pub const LEN_WORD: u64 = 8;
/// Largest record etcd 3.5 reads (`maxWALEntrySizeLimit`, 10 MiB).
pub const MAX_RECORD: u64 = 10 * 1024 * 1024;
/// Most bytes a frame may lack at EOF and still be read zero-extended. A copy
/// trimmed after its last non-zero byte only loses the zeros that end the last
/// record and its padding; a frame missing more than this is cut short
/// (and a tiny file cannot make us allocate megabytes of zeros).
pub const MAX_ZERO_EXTENSION: u64 = 64 * 1024;

/// Splits a length word into record bytes and padding bytes.
pub fn decode_len_word(word: u64) -> (u64, u64) {
    let rec = word & !(0xffu64 << 56);
    let pad = if word >> 63 == 1 { (word >> 56) & 7 } else { 0 };
    (rec, pad)
}

/// The length word and padding etcd writes for a record of `n` bytes.
pub fn encode_len_word(n: u64) -> (u64, u64) {
    let pad = (8 - n % 8) % 8;
    if pad == 0 {
        (n, 0)
    } else {
        (n | ((0x80 | pad) << 56), pad)
    }
}

/// What was found at an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// The file ends here: EOF, or a zero length word.
    End {
        /// True when a zero length word (preallocated space) ended it.
        zero_word: bool,
    },
    /// A complete frame.
    Record {
        /// Record bytes.
        len: u64,
        /// Padding bytes.
        pad: u64,
        /// The record followed by its padding; zero-extended past EOF.
        bytes: Cow<'a, [u8]>,
        /// Part of the frame lay past the end of the file (read as zeros).
        past_eof: bool,
    },
    /// The length word exceeds what etcd reads (`ErrMaxWALEntrySizeLimitExceeded`).
    TooLarge {
        /// Record bytes claimed.
        len: u64,
    },
    /// The frame runs past the preallocated segment size (`io.ErrUnexpectedEOF`).
    PastEnd {
        /// Record bytes claimed.
        len: u64,
    },
}

/// `len` bytes at `at`, with bytes past the end of `file` read as zero.
fn zero_extended(file: &[u8], at: u64, len: u64) -> Option<(Cow<'_, [u8]>, bool)> {
    let start = crate::bytes::to_usize(at)?;
    let n = crate::bytes::to_usize(len)?;
    let end = start.checked_add(n)?;
    if let Some(s) = file.get(start..end) {
        return Some((Cow::Borrowed(s), false));
    }
    let have = file.get(start..).unwrap_or(&[]);
    let mut v = Vec::with_capacity(n);
    v.extend_from_slice(have);
    v.resize(n, 0);
    Some((Cow::Owned(v), true))
}

/// Reads the frame at `at` of a file whose bytes are `file`.
pub fn read_frame(file: &[u8], at: u64) -> Frame<'_> {
    let flen = crate::bytes::to_u64(file.len());
    let virtual_len = flen.max(SEGMENT_SIZE);
    if at >= flen || at.saturating_add(LEN_WORD) > virtual_len {
        return Frame::End { zero_word: false };
    }
    let Some((word_bytes, _)) = zero_extended(file, at, LEN_WORD) else {
        return Frame::End { zero_word: false };
    };
    let word = crate::bytes::u64_le(&word_bytes, 0).unwrap_or(0);
    if word == 0 {
        return Frame::End { zero_word: true };
    }
    let (len, pad) = decode_len_word(word);
    if len >= MAX_RECORD.saturating_sub(pad) {
        return Frame::TooLarge { len };
    }
    let body_at = at.saturating_add(LEN_WORD);
    let total = len.saturating_add(pad);
    if body_at.saturating_add(total) > virtual_len
        || body_at.saturating_add(total) > flen.saturating_add(MAX_ZERO_EXTENSION)
    {
        return Frame::PastEnd { len };
    }
    match zero_extended(file, body_at, total) {
        Some((bytes, past_eof)) => Frame::Record {
            len,
            pad,
            bytes,
            past_eof,
        },
        None => Frame::PastEnd { len },
    }
}

/// etcd's torn-write test: is some sector-aligned chunk of the frame body
/// (record plus padding, starting at file offset `body_at`) all zero?
pub fn is_torn(body: &[u8], body_at: u64) -> bool {
    let mut off = body_at;
    let mut rest = body;
    while !rest.is_empty() {
        let room = SECTOR_SIZE - off % SECTOR_SIZE;
        let take = crate::bytes::to_usize(room)
            .unwrap_or(rest.len())
            .min(rest.len());
        let (chunk, tail) = rest.split_at(take);
        if chunk.iter().all(|b| *b == 0) {
            return true;
        }
        off = off.saturating_add(crate::bytes::to_u64(take));
        rest = tail;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_words() {
        // Checked frames of a 3.5.1 restore: a 4-byte crc record and a 32-byte metadata record.
        assert_eq!(encode_len_word(4), (0x8400_0000_0000_0004, 4));
        assert_eq!(encode_len_word(32), (32, 0));
        assert_eq!(decode_len_word(0x8400_0000_0000_0004), (4, 4));
        assert_eq!(decode_len_word(32), (32, 0));
    }

    #[test]
    fn frames_and_ends() {
        let mut f = vec![0x04, 0, 0, 0, 0, 0, 0, 0x84, 8, 4, 16, 0, 0, 0, 0, 0];
        match read_frame(&f, 0) {
            Frame::Record {
                len,
                pad,
                bytes,
                past_eof,
            } => {
                assert_eq!((len, pad, past_eof), (4, 4, false));
                assert_eq!(&bytes[..], &[8, 4, 16, 0, 0, 0, 0, 0]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(read_frame(&f, 16), Frame::End { zero_word: false });
        f.truncate(12); // trimmed after the last non-zero byte
        assert!(matches!(
            read_frame(&f, 0),
            Frame::Record { past_eof: true, .. }
        ));
        f.extend_from_slice(&[0; 12]);
        assert_eq!(read_frame(&f, 16), Frame::End { zero_word: true });
        let big = (MAX_RECORD).to_le_bytes();
        assert!(matches!(read_frame(&big, 0), Frame::TooLarge { .. }));
    }

    #[test]
    fn torn_chunks_follow_file_sectors() {
        let mut body = vec![1u8; 600];
        assert!(!is_torn(&body, 8));
        // bytes 504..600 of the body are file offsets 512..608: one whole chunk.
        for b in body.iter_mut().skip(504) {
            *b = 0;
        }
        assert!(is_torn(&body, 8));
        assert!(!is_torn(&body, 100)); // chunks 0..412 and 412..600 both hold ones
    }
}
