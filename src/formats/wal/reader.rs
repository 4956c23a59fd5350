//! Reading WAL records with the CRC chain, and etcd's `ReadAll` on top.
//!
//! [`decode`] walks the files in order like etcd's decoder: frames until a
//! zero length word or EOF, then the next file; every non-crc record extends
//! the running CRC-32C with its data and must carry the result; a crc record
//! must carry the running value (unless it is 0, a fresh chain) and reseeds
//! it. It stops at the first failure, as etcd does, and reports why in
//! [`Stop`]; a torn last record is not an error (etcd's read-only mode drops
//! it). With `raw`, it goes on past damaged frames and reports each one.
//!
//! [`read_all`] then applies `ReadAll`: entries after the start snapshot,
//! where a later entry at an index ≤ the last one overwrites it and drops
//! everything after it; the last HardState; metadata that must be equal in
//! every file; and whether a snapshot record matches the start.
//! Source: etcd v3.5.1 `server/wal/decoder.go` `decodeRecord`, `wal.go`
//! `ReadAll`, `ValidSnapshotEntries`.

use std::path::PathBuf;

use bytes::Bytes;
use prost::Message;
use serde::Serialize;

use super::frame::{is_torn, read_frame, Frame, LEN_WORD};
use super::segment::SegmentName;
use crate::error::{Finding, Location};
use crate::formats::proto::{etcdserverpb, raftpb, walpb};

/// One WAL file to read.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Parsed name (seq, index).
    pub name: SegmentName,
    /// Path, for findings.
    pub path: PathBuf,
    /// The file's bytes. Shared, so records and entries decoded from it are
    /// views into it rather than copies (a WAL dir is often hundreds of MiB).
    pub bytes: Bytes,
}

/// WAL record types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordType {
    /// 1: `etcdserverpb.Metadata`.
    Metadata,
    /// 2: `raftpb.Entry`.
    Entry,
    /// 3: `raftpb.HardState`.
    State,
    /// 4: CRC seed.
    Crc,
    /// 5: `walpb.Snapshot`.
    Snapshot,
    /// Anything else.
    Unknown,
}

impl RecordType {
    /// Type of a record's `type` field.
    pub fn of(t: i64) -> RecordType {
        match t {
            1 => RecordType::Metadata,
            2 => RecordType::Entry,
            3 => RecordType::State,
            4 => RecordType::Crc,
            5 => RecordType::Snapshot,
            _ => RecordType::Unknown,
        }
    }

    /// The raw type number etcd writes.
    pub fn number(self) -> i64 {
        match self {
            RecordType::Metadata => 1,
            RecordType::Entry => 2,
            RecordType::State => 3,
            RecordType::Crc => 4,
            RecordType::Snapshot => 5,
            RecordType::Unknown => -1,
        }
    }
}

/// A record and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordAt {
    /// Index of the file in the slice given to [`decode`].
    pub segment: usize,
    /// Offset of the frame's length word in the file.
    pub offset: u64,
    /// Record bytes (without the length word and padding).
    pub len: u64,
    /// The record's `type`.
    pub rtype: i64,
    /// The stored CRC.
    pub crc: u32,
    /// The record's data (a view into the file's bytes).
    pub data: Bytes,
    /// Whether the stored CRC matched the chain (only `false` in raw mode).
    pub crc_ok: bool,
}

/// Why decoding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Stop {
    /// The last file ended normally.
    Eof,
    /// The last record of the last file was torn (partly zero); dropped.
    TornTail {
        /// File index.
        segment: usize,
        /// Frame offset.
        offset: u64,
    },
    /// A frame ran past the end of its file (etcd: `io.ErrUnexpectedEOF`).
    UnexpectedEof {
        /// File index.
        segment: usize,
        /// Frame offset.
        offset: u64,
    },
    /// Corruption: bad CRC, undecodable record, oversized frame.
    Corrupt {
        /// File index.
        segment: usize,
        /// Frame offset.
        offset: u64,
    },
}

impl Stop {
    /// Whether etcd (read-only) would accept how the log ended.
    pub fn is_clean(self) -> bool {
        matches!(
            self,
            Stop::Eof | Stop::TornTail { .. } | Stop::UnexpectedEof { .. }
        )
    }
}

/// The records of a WAL, in order.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Every record read.
    pub records: Vec<RecordAt>,
    /// Why reading stopped (in raw mode: the first problem, if any).
    pub stop: Stop,
    /// Problems found.
    pub findings: Vec<Finding>,
    /// Files in which a frame lay partly past EOF and was read as zero-extended.
    pub zero_extended: Vec<usize>,
}

fn loc(seg: &Segment, offset: u64) -> Location {
    Location {
        file: Some(seg.path.clone()),
        page: None,
        offset: Some(offset),
    }
}

/// Decodes every record of `segments` (in order). With `raw`, damaged frames
/// are reported and skipped instead of ending the read.
pub fn decode(segments: &[Segment], raw: bool) -> Decoded {
    let mut out = Decoded {
        records: Vec::new(),
        stop: Stop::Eof,
        findings: Vec::new(),
        zero_extended: Vec::new(),
    };
    let mut running: u32 = 0;
    let last_index = segments.len().saturating_sub(1);
    let mut stopped = false;
    // Every stop comes with the finding that explains it; the first stop wins.
    let mut stop_at = |out: &mut Decoded, f: Finding, s: Stop| {
        out.findings.push(f);
        if !stopped {
            out.stop = s;
            stopped = true;
        }
    };
    'files: for (si, seg) in segments.iter().enumerate() {
        let is_last = si == last_index;
        let mut off: u64 = 0;
        loop {
            let frame = read_frame(&seg.bytes, off);
            let (len, pad, bytes, past_eof) = match frame {
                Frame::End { zero_word } => {
                    if zero_word {
                        let rest = crate::bytes::to_usize(off)
                            .and_then(|o| seg.bytes.get(o..))
                            .unwrap_or(&[]);
                        if let Some(p) = rest.iter().position(|b| *b != 0) {
                            out.findings.push(Finding::warning(
                                "wal.tail.data-after-end",
                                loc(seg, off.saturating_add(crate::bytes::to_u64(p))),
                                format!(
                                    "non-zero bytes after the end of the log at offset {off}; etcd ignores them (and zeroes them when it opens the WAL for writing)"
                                ),
                            ));
                        }
                    }
                    continue 'files;
                }
                Frame::TooLarge { len } => {
                    stop_at(
                        &mut out,
                        Finding::error(
                            "wal.frame.too-large",
                            loc(seg, off),
                            format!(
                                "frame claims a {len}-byte record, more than etcd reads (10 MiB)"
                            ),
                        ),
                        Stop::Corrupt {
                            segment: si,
                            offset: off,
                        },
                    );
                    if raw {
                        continue 'files;
                    }
                    break 'files;
                }
                Frame::PastEnd { len } => {
                    stop_at(&mut out, Finding::warning(
                        "wal.frame.past-end",
                        loc(seg, off),
                        format!("frame claims a {len}-byte record that runs past the end of the file; reading stops here (etcd: unexpected EOF)"),
                    ), Stop::UnexpectedEof { segment: si, offset: off });
                    if raw {
                        continue 'files;
                    }
                    break 'files;
                }
                Frame::Record {
                    len,
                    pad,
                    bytes,
                    past_eof,
                } => (len, pad, bytes, past_eof),
            };
            let body_at = off.saturating_add(LEN_WORD);
            let next = body_at.saturating_add(len).saturating_add(pad);
            // The record as a view into the file when it lies inside it; a
            // zero-extended frame is copied.
            let rec_bytes = match &bytes {
                std::borrow::Cow::Borrowed(_) => crate::bytes::to_usize(body_at)
                    .zip(crate::bytes::to_usize(len))
                    .and_then(|(a, n)| Some(a..a.checked_add(n)?))
                    .filter(|r| r.end <= seg.bytes.len())
                    .map(|r| seg.bytes.slice(r))
                    .unwrap_or_default(),
                std::borrow::Cow::Owned(v) => crate::bytes::to_usize(len)
                    .and_then(|n| v.get(..n))
                    .map(Bytes::copy_from_slice)
                    .unwrap_or_default(),
            };
            let torn = || is_last && is_torn(&bytes, body_at);
            let rec = match walpb::Record::decode(rec_bytes) {
                Ok(r) => r,
                Err(e) => {
                    if torn() {
                        stop_at(
                            &mut out,
                            torn_finding(seg, off),
                            Stop::TornTail {
                                segment: si,
                                offset: off,
                            },
                        );
                    } else {
                        stop_at(
                            &mut out,
                            Finding::error(
                                "wal.record.unmarshal",
                                loc(seg, off),
                                format!("record of {len} bytes does not decode: {e}"),
                            ),
                            Stop::Corrupt {
                                segment: si,
                                offset: off,
                            },
                        );
                    }
                    if raw {
                        off = next;
                        continue;
                    }
                    break 'files;
                }
            };
            let data = rec.data.unwrap_or_default();
            let mut crc_ok = true;
            if rec.r#type == RecordType::Crc.number() {
                if running != 0 && rec.crc != running {
                    stop_at(&mut out, Finding::error(
                        "wal.crc.seed-mismatch",
                        loc(seg, off),
                        format!(
                            "crc record holds {:08x} but the previous file ended at {running:08x}: a file is missing, replaced or out of order",
                            rec.crc
                        ),
                    ), Stop::Corrupt { segment: si, offset: off });
                    if !raw {
                        break 'files;
                    }
                    crc_ok = false;
                }
                running = rec.crc;
            } else {
                let want = crc32c::crc32c_append(running, &data);
                if rec.crc == want {
                    running = want;
                } else if torn() {
                    stop_at(
                        &mut out,
                        torn_finding(seg, off),
                        Stop::TornTail {
                            segment: si,
                            offset: off,
                        },
                    );
                    if raw {
                        off = next;
                        continue;
                    }
                    break 'files;
                } else {
                    stop_at(&mut out, Finding::error(
                        "wal.crc.mismatch",
                        loc(seg, off),
                        format!(
                            "CRC mismatch: record (type {}) stores {:08x}, the chain gives {want:08x}",
                            rec.r#type, rec.crc
                        ),
                    ), Stop::Corrupt { segment: si, offset: off });
                    if !raw {
                        break 'files;
                    }
                    crc_ok = false;
                    running = rec.crc;
                }
            }
            if past_eof && out.zero_extended.last() != Some(&si) {
                out.zero_extended.push(si);
            }
            out.records.push(RecordAt {
                segment: si,
                offset: off,
                len,
                rtype: rec.r#type,
                crc: rec.crc,
                data,
                crc_ok,
            });
            off = next;
        }
    }
    out
}

fn torn_finding(seg: &Segment, off: u64) -> Finding {
    Finding::warning(
        "wal.tail.torn",
        loc(seg, off),
        "the last record was only partly written (torn write, a zeroed sector); etcd drops it, as does this reader".into(),
    )
}

/// An entry and where its record was.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryAt {
    /// The entry.
    pub entry: raftpb::Entry,
    /// File index.
    pub segment: usize,
    /// Frame offset.
    pub offset: u64,
}

/// A snapshot record and where it was.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotAt {
    /// The record.
    pub snap: walpb::Snapshot,
    /// File index.
    pub segment: usize,
    /// Frame offset.
    pub offset: u64,
}

/// What `ReadAll` returns, plus what it drops silently.
#[derive(Debug, Clone, Default)]
pub struct ReadAll {
    /// The last metadata record.
    pub metadata: Option<etcdserverpb::Metadata>,
    /// The last HardState.
    pub state: Option<raftpb::HardState>,
    /// Entries after the start snapshot, after overwrites.
    pub entries: Vec<EntryAt>,
    /// Entries replaced or dropped by a later record at the same or a lower index.
    pub overwritten: Vec<EntryAt>,
    /// Every snapshot record read (from the start file on).
    pub snapshots: Vec<SnapshotAt>,
    /// A snapshot record with the start index (and its term) exists.
    pub snapshot_matched: bool,
    /// Problems found (metadata conflict, entry gap, bad payloads).
    pub findings: Vec<Finding>,
    /// `ReadAll` would fail (etcd would not start from this WAL).
    pub failed: bool,
}

impl ReadAll {
    /// Entries with index ≤ the HardState's commit.
    pub fn committed(&self) -> impl Iterator<Item = &EntryAt> {
        let commit = self.state.map_or(0, |s| s.commit);
        self.entries.iter().filter(move |e| e.entry.index <= commit)
    }

    /// (index, term) of the last entry.
    pub fn last(&self) -> Option<(u64, u64)> {
        self.entries.last().map(|e| (e.entry.index, e.entry.term))
    }
}

/// `ReadAll` over the records of `decoded` from file `from_segment` on,
/// starting after the snapshot `(start_index, start_term)`.
pub fn read_all(
    decoded: &Decoded,
    segments: &[Segment],
    from_segment: usize,
    start_index: u64,
    start_term: u64,
) -> ReadAll {
    let mut r = ReadAll::default();
    let mut metadata_raw: Option<&[u8]> = None;
    let at = |rec: &RecordAt| Location {
        file: segments.get(rec.segment).map(|s| s.path.clone()),
        page: None,
        offset: Some(rec.offset),
    };
    for rec in decoded.records.iter().filter(|r| r.segment >= from_segment) {
        match RecordType::of(rec.rtype) {
            RecordType::Entry => {
                let e = match raftpb::Entry::decode(rec.data.clone()) {
                    Ok(e) => e,
                    Err(err) => {
                        r.findings.push(Finding::error(
                            "wal.entry.unmarshal",
                            at(rec),
                            format!("entry record does not decode ({err}); etcd would panic here"),
                        ));
                        r.failed = true;
                        continue;
                    }
                };
                if e.index > start_index {
                    let up = e.index - start_index - 1;
                    let len = crate::bytes::to_u64(r.entries.len());
                    if up > len {
                        r.findings.push(Finding::error(
                            "wal.entry.gap",
                            at(rec),
                            format!(
                                "entry {} follows entry {}: entries are missing (etcd: slice out of range)",
                                e.index,
                                r.entries.last().map_or(start_index, |x| x.entry.index)
                            ),
                        ));
                        r.failed = true;
                        break;
                    }
                    let keep = crate::bytes::to_usize(up).unwrap_or(r.entries.len());
                    let dropped = r.entries.split_off(keep.min(r.entries.len()));
                    r.overwritten.extend(dropped);
                    r.entries.push(EntryAt {
                        entry: e,
                        segment: rec.segment,
                        offset: rec.offset,
                    });
                }
            }
            RecordType::State => match raftpb::HardState::decode(&rec.data[..]) {
                Ok(s) => r.state = Some(s),
                Err(err) => {
                    r.findings.push(Finding::error(
                        "wal.state.unmarshal",
                        at(rec),
                        format!("state record does not decode ({err}); etcd would panic here"),
                    ));
                    r.failed = true;
                }
            },
            RecordType::Metadata => {
                if let Some(m) = metadata_raw {
                    if m != &rec.data[..] {
                        r.findings.push(Finding::error(
                            "wal.metadata.conflict",
                            at(rec),
                            "metadata differs from the earlier files' (another member's or cluster's WAL file mixed in?)".into(),
                        ));
                        r.failed = true;
                        r.state = None;
                        break;
                    }
                }
                metadata_raw = Some(&rec.data[..]);
                match etcdserverpb::Metadata::decode(&rec.data[..]) {
                    Ok(m) => r.metadata = Some(m),
                    Err(err) => r.findings.push(Finding::error(
                        "wal.metadata.unmarshal",
                        at(rec),
                        format!("metadata record does not decode: {err}"),
                    )),
                }
            }
            RecordType::Crc => {}
            RecordType::Snapshot => match walpb::Snapshot::decode(&rec.data[..]) {
                Ok(s) => {
                    if s.index == start_index {
                        if s.term != start_term {
                            r.findings.push(Finding::error(
                                "wal.snapshot.term-mismatch",
                                at(rec),
                                format!(
                                    "snapshot record at index {} has term {}, the snapshot has term {start_term}",
                                    s.index, s.term
                                ),
                            ));
                            r.failed = true;
                        } else {
                            r.snapshot_matched = true;
                        }
                    }
                    r.snapshots.push(SnapshotAt {
                        snap: s,
                        segment: rec.segment,
                        offset: rec.offset,
                    });
                }
                Err(err) => {
                    r.findings.push(Finding::error(
                        "wal.snapshot.unmarshal",
                        at(rec),
                        format!("snapshot record does not decode ({err}); etcd would panic here"),
                    ));
                    r.failed = true;
                }
            },
            RecordType::Unknown => {
                r.findings.push(Finding::error(
                    "wal.record.unknown-type",
                    at(rec),
                    format!(
                        "record type {} is unknown (etcd: unexpected block type)",
                        rec.rtype
                    ),
                ));
                r.failed = true;
                break;
            }
        }
    }
    if !r.snapshot_matched && !r.failed {
        r.findings.push(Finding::error(
            "wal.snapshot.not-found",
            Location::default(),
            format!("no snapshot record for index {start_index} (term {start_term}) in the WAL; etcd would not start from this snapshot"),
        ));
    }
    r
}

/// Every snapshot record and the last HardState across all records, as
/// `ValidSnapshotEntries` collects them (before its commit filter).
pub fn snapshot_records(decoded: &Decoded) -> (Vec<walpb::Snapshot>, Option<raftpb::HardState>) {
    let mut snaps = Vec::new();
    let mut state = None;
    for rec in &decoded.records {
        match RecordType::of(rec.rtype) {
            RecordType::Snapshot => {
                if let Ok(s) = walpb::Snapshot::decode(&rec.data[..]) {
                    snaps.push(s);
                }
            }
            RecordType::State => {
                if let Ok(s) = raftpb::HardState::decode(&rec.data[..]) {
                    state = Some(s);
                }
            }
            _ => {}
        }
    }
    (snaps, state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::wal::write::Encoder;

    fn entry(e: &mut Encoder, term: u64, index: u64) {
        e.message(
            RecordType::Entry,
            &raftpb::Entry {
                r#type: 0,
                term,
                index,
                data: Some(vec![1, 2, 3].into()),
            },
        );
    }

    fn seg(bytes: &[u8]) -> Segment {
        Segment {
            name: SegmentName { seq: 0, index: 0 },
            path: PathBuf::from("w"),
            bytes: Bytes::copy_from_slice(bytes),
        }
    }

    fn base() -> Encoder {
        Encoder::created(1, 2)
    }

    #[test]
    fn overwrite_truncates_and_state_is_last() {
        let mut e = base();
        for i in 1..=5 {
            entry(&mut e, 1, i);
        }
        e.message(
            RecordType::State,
            &raftpb::HardState {
                term: 1,
                vote: 1,
                commit: 3,
            },
        );
        entry(&mut e, 2, 3);
        let b = e.bytes().to_vec();
        let s = [seg(&b)];
        let d = decode(&s, false);
        assert_eq!(d.stop, Stop::Eof);
        let r = read_all(&d, &s, 0, 0, 0);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert!(r.snapshot_matched);
        let idx: Vec<(u64, u64)> = r
            .entries
            .iter()
            .map(|e| (e.entry.index, e.entry.term))
            .collect();
        assert_eq!(idx, [(1, 1), (2, 1), (3, 2)]);
        assert_eq!(r.overwritten.len(), 3);
        assert_eq!(r.committed().count(), 3);
        assert_eq!(r.state.unwrap().commit, 3);
    }

    #[test]
    fn gap_is_an_error_and_crc_flip_stops() {
        let mut e = base();
        entry(&mut e, 1, 1);
        entry(&mut e, 1, 3);
        let b = e.bytes().to_vec();
        let s = [seg(&b)];
        let r = read_all(&decode(&s, false), &s, 0, 0, 0);
        assert!(r.failed);
        assert_eq!(r.findings[0].code, "wal.entry.gap");
        // Flip a data byte of the entry record at index 1 (its last byte).
        let mut bad = b.clone();
        let d = decode(&s, false);
        let rec = &d.records[3];
        let at = usize::try_from(rec.offset + 8 + rec.len - 1).unwrap();
        bad[at] ^= 1;
        let s2 = [seg(&bad)];
        let d2 = decode(&s2, false);
        assert_eq!(
            d2.stop,
            Stop::Corrupt {
                segment: 0,
                offset: rec.offset
            }
        );
        assert_eq!(d2.findings[0].code, "wal.crc.mismatch");
        assert_eq!(d2.records.len(), 3);
        let d3 = decode(&s2, true);
        assert_eq!(d3.records.len(), 5);
        assert!(!d3.records[3].crc_ok);
        assert!(d3.records[4].crc_ok);
    }

    #[test]
    fn torn_last_record_only_in_the_last_file() {
        let mut e = base();
        entry(&mut e, 1, 1);
        let mut b = e.bytes().to_vec();
        let off = b.len();
        // A 600-byte record whose second sector chunk never reached the disk.
        e.record(RecordType::Entry, Some(&[7u8; 600]));
        b.extend_from_slice(&e.bytes()[off..]);
        let body = off + 8;
        let cut = (body / 512 + 1) * 512;
        for x in &mut b[cut..] {
            *x = 0;
        }
        let s = [seg(&b)];
        let d = decode(&s, false);
        assert_eq!(
            d.stop,
            Stop::TornTail {
                segment: 0,
                offset: u64::try_from(off).unwrap()
            }
        );
        assert_eq!(d.records.len(), 4);
        // The same bytes in a file that is not the last one are corruption.
        let e2 = Encoder::new(d.records.last().unwrap().crc);
        let mut e2 = e2;
        e2.crc_record();
        let b2 = e2.bytes().to_vec();
        let s2 = [seg(&b), seg(&b2)];
        let d2 = decode(&s2, false);
        assert!(matches!(d2.stop, Stop::Corrupt { .. }));
    }

    #[test]
    fn metadata_conflict_and_unknown_type() {
        let mut e = base();
        e.message(
            RecordType::Metadata,
            &etcdserverpb::Metadata {
                node_id: 9,
                cluster_id: 2,
            },
        );
        let b = e.bytes().to_vec();
        let s = [seg(&b)];
        let r = read_all(&decode(&s, false), &s, 0, 0, 0);
        assert_eq!(r.findings[0].code, "wal.metadata.conflict");
        let mut e = base();
        e.record(RecordType::Unknown, Some(b"x"));
        let b = e.bytes().to_vec();
        let s = [seg(&b)];
        let r = read_all(&decode(&s, false), &s, 0, 0, 0);
        assert_eq!(r.findings[0].code, "wal.record.unknown-type");
    }
}
