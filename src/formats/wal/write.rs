//! Writing a new WAL: frames with the CRC chain and padding, and the
//! preallocated 64,000,000-byte segment image (used by `snapshot restore`;
//! the file itself is written by `sink::write_segment_file`, above `formats`).
//!
//! The encoder does what etcd's `encoder.encode` does: for every record,
//! including crc records (whose data is empty), `crc = crc32c_append(running,
//! data)`; the record `{type, crc, data}` is marshalled with gogo's field
//! rules; the frame is the length word (with `0x80|pad` in its top byte when
//! padded), the record, and `pad` zeros. A segment file is these frames
//! followed by zeros to [`SEGMENT_SIZE`] bytes, like a fallocated file.
//! Source: etcd v3.5.1 `server/wal/encoder.go`, `wal.go` (`Create`, `saveCrc`).

use prost::Message;

use super::frame::{encode_len_word, SEGMENT_SIZE};
use super::reader::RecordType;
use crate::error::{Error, ErrorKind, Result};
use crate::formats::proto::{etcdserverpb, walpb};

/// Builds the bytes of a WAL file.
#[derive(Debug, Clone, Default)]
pub struct Encoder {
    buf: Vec<u8>,
    crc: u32,
}

impl Encoder {
    /// An encoder whose chain continues from `prev_crc` (0 for the first file).
    pub fn new(prev_crc: u32) -> Encoder {
        Encoder {
            buf: Vec::new(),
            crc: prev_crc,
        }
    }

    /// The start of a new member's first file, as etcd's `wal.Create` writes
    /// it: the crc record, the metadata naming the member and cluster, and
    /// an empty snapshot record.
    pub fn created(node_id: u64, cluster_id: u64) -> Encoder {
        let mut e = Encoder::new(0);
        e.crc_record();
        e.message(
            RecordType::Metadata,
            &etcdserverpb::Metadata {
                node_id,
                cluster_id,
            },
        );
        e.message(RecordType::Snapshot, &walpb::Snapshot::default());
        e
    }

    /// Appends a record of type `rtype` with `data` (`None`: no data field).
    pub fn record(&mut self, rtype: RecordType, data: Option<&[u8]>) {
        self.crc = crc32c::crc32c_append(self.crc, data.unwrap_or(&[]));
        let rec = walpb::Record {
            r#type: rtype.number(),
            crc: self.crc,
            data: data.map(bytes::Bytes::copy_from_slice),
        };
        let body = rec.encode_to_vec();
        let (word, pad) = encode_len_word(crate::bytes::to_u64(body.len()));
        self.buf.extend_from_slice(&word.to_le_bytes());
        self.buf.extend_from_slice(&body);
        for _ in 0..pad {
            self.buf.push(0);
        }
    }

    /// Appends the crc record that starts every file.
    pub fn crc_record(&mut self) {
        self.record(RecordType::Crc, None);
    }

    /// Appends a record holding a marshalled message.
    pub fn message<M: Message>(&mut self, rtype: RecordType, m: &M) {
        self.record(rtype, Some(&m.encode_to_vec()));
    }

    /// The running CRC.
    pub fn crc(&self) -> u32 {
        self.crc
    }

    /// The frames written so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The frames, zero-extended to a full segment (as etcd preallocates).
    pub fn into_segment(self) -> Result<Vec<u8>> {
        let mut v = self.buf;
        let size = crate::bytes::to_usize(SEGMENT_SIZE).unwrap_or(usize::MAX);
        if v.len() > size {
            return Err(Error::new(ErrorKind::Usage(format!(
                "WAL records take {} bytes, more than one segment ({SEGMENT_SIZE})",
                v.len()
            ))));
        }
        v.resize(size, 0);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_frames_match_the_checked_restore_vector() {
        let e = Encoder::created(0x8e9e_05c5_2164_694d, 0xcdf8_1819_4e3a_8c32);
        let b = e.bytes();
        let want_start: &[u8] = &[
            0x04, 0, 0, 0, 0, 0, 0, 0x84, 0x08, 0x04, 0x10, 0x00, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0,
            0, 0, 0x08, 0x01, 0x10, 0xbb, 0x81, 0xc7, 0xfc, 0x05, 0x1a, 0x16,
        ];
        assert_eq!(&b[..want_start.len()], want_start);
        // CRCs of the checked vector: 00000000, 5f91c0bb, edb1dd94.
        assert_eq!(e.crc(), 0xedb1_dd94);
    }
}
