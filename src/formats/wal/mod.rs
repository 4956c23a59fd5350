//! etcd's write-ahead log (`member/wal/*.wal`).
//!
//! ```text
//! <seq %016x>-<first index %016x>.wal, preallocated to 64,000,000 bytes
//!
//! file  = frame* (zero length word | EOF) zeros...
//! frame (8-byte aligned):
//! <------------------------------ 8 bytes ------------------------------>
//! | length word, u64 LE: low 56 bits = record bytes n;                  |
//! |   top byte = 0x80 | pad when n % 8 != 0, pad = 8 - n % 8            |
//! | walpb.Record (n bytes) ... | pad zero bytes (0..7)                  |
//!
//! walpb.Record { 1 type int64, 2 crc uint32, 3 data bytes }
//!   type 1 metadata  etcdserverpb.Metadata {NodeID, ClusterID}; same in every file
//!        2 entry     raftpb.Entry
//!        3 state     raftpb.HardState
//!        4 crc       no data; crc = running CRC at the end of the previous file
//!        5 snapshot  walpb.Snapshot {index, term, conf_state}
//! crc of a non-crc record = CRC-32C(all data since the start of the history),
//!   i.e. crc32c_append(previous crc, data); a crc record reseeds the chain.
//! ```
//! Each file starts with `crc`, `metadata` and (after a cut) the last `state`.
//! A length word of 0 or the end of the file ends the file. A frame whose
//! record fails to decode or to match the CRC is a *torn write* when it is in
//! the last file and one of its 512-byte sector chunks is all zero; etcd in
//! read-only mode then stops reading as if at the end. Any other failure is
//! corruption. Bytes past the end of a file read as zeros (the files of a
//! trimmed copy end after their last non-zero byte).
//!
//! Modules: [`segment`] (names, order, sequence), [`frame`] (length words,
//! padding, torn tails), [`reader`] (records with the CRC chain; `ReadAll`
//! semantics), [`write`] (encoder for a new WAL).
//! Source: etcd v3.5.1 `server/wal/{wal,decoder,encoder,util}.go`.

pub mod frame;
pub mod reader;
pub mod segment;
pub mod write;

pub use frame::{SECTOR_SIZE, SEGMENT_SIZE};
pub use reader::{
    decode, read_all, snapshot_records, Decoded, EntryAt, ReadAll, RecordAt, RecordType, Segment,
    SnapshotAt, Stop,
};
pub use segment::{Listing, SegmentName};
pub use write::Encoder;
