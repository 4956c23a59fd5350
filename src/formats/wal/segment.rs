//! WAL file names, their order, and the sequence rule.
//!
//! ```text
//! %016x-%016x.wal   (seq, index): seq counts files from 0; index is the raft
//!                   index the file's first entry is expected to have
//! ```
//! etcd lists the dir sorted by name, ignores names that do not parse (and
//! `*.tmp` silently), and needs the seqs to be consecutive from the file it
//! starts reading at (`isValidSeq`). It starts at the last file whose index is
//! ≤ the snapshot index (`searchIndex`).
//! Source: etcd v3.5.1 `server/wal/util.go` (`parseWALName`, `checkWalNames`,
//! `isValidSeq`, `searchIndex`), `wal.go` (`selectWALFiles`).

use std::path::PathBuf;

use serde::Serialize;

/// A parsed WAL file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SegmentName {
    /// File sequence number.
    pub seq: u64,
    /// Raft index of the file's first entry.
    pub index: u64,
}

impl SegmentName {
    /// Parses `%016x-%016x.wal` as Go's `Sscanf` does (1 to 16 hex digits each).
    pub fn parse(name: &str) -> Option<SegmentName> {
        let stem = name.strip_suffix(".wal")?;
        let (a, b) = stem.split_once('-')?;
        let hex = |s: &str| {
            if s.is_empty() || s.len() > 16 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
                None
            } else {
                u64::from_str_radix(s, 16).ok()
            }
        };
        Some(SegmentName {
            seq: hex(a)?,
            index: hex(b)?,
        })
    }

    /// The name etcd gives the file.
    pub fn file_name(&self) -> String {
        format!("{:016x}-{:016x}.wal", self.seq, self.index)
    }
}

/// How the names of a WAL dir sort out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// WAL files, sorted by name as etcd sorts them.
    pub segments: Vec<(String, SegmentName)>,
    /// `*.tmp` files (etcd's preallocated next files; ignored).
    pub tmp: Vec<String>,
    /// `*.broken` files (a copy etcd made before repairing a torn tail).
    pub broken: Vec<String>,
    /// Other names etcd ignores (with a warning in its log).
    pub ignored: Vec<String>,
}

impl Listing {
    /// Sorts `names` (the entries of a WAL dir) into segments and leftovers.
    pub fn from_names<I: IntoIterator<Item = String>>(names: I) -> Listing {
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort();
        let mut l = Listing::default();
        for n in names {
            if let Some(s) = SegmentName::parse(&n) {
                l.segments.push((n, s));
            } else if n.ends_with(".tmp") {
                l.tmp.push(n);
            } else if n.ends_with(".broken") {
                l.broken.push(n);
            } else {
                l.ignored.push(n);
            }
        }
        l
    }

    /// Positions `i` (in `segments`) where the seq does not follow the one before.
    pub fn seq_gaps(&self) -> Vec<usize> {
        let mut gaps = Vec::new();
        let mut last: Option<u64> = None;
        for (i, (_, s)) in self.segments.iter().enumerate() {
            // Stricter than etcd's isValidSeq, which skips the check after seq 0.
            if let Some(l) = last {
                if l.checked_add(1) != Some(s.seq) {
                    gaps.push(i);
                }
            }
            last = Some(s.seq);
        }
        gaps
    }

    /// The segment etcd starts reading at for a snapshot at `index`
    /// (`searchIndex`): the last one whose start index is ≤ `index`.
    pub fn start_for(&self, index: u64) -> Option<usize> {
        self.segments.iter().rposition(|(_, s)| s.index <= index)
    }

    /// Paths of the segments under `dir`.
    pub fn paths(&self, dir: &std::path::Path) -> Vec<PathBuf> {
        self.segments.iter().map(|(n, _)| dir.join(n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let s = SegmentName::parse("0000000000000001-00000000000000a2.wal").unwrap();
        assert_eq!((s.seq, s.index), (1, 0xa2));
        assert_eq!(s.file_name(), "0000000000000001-00000000000000a2.wal");
        assert_eq!(SegmentName::parse("0.tmp"), None);
        assert_eq!(SegmentName::parse("x-1.wal"), None);
        assert_eq!(SegmentName::parse("00000000000000001-1.wal"), None);
        assert_eq!(SegmentName::parse("-1.wal"), None);
    }

    #[test]
    fn listing_and_gaps() {
        let l = Listing::from_names(
            [
                "0000000000000002-0000000000000030.wal",
                "0.tmp",
                "0000000000000000-0000000000000000.wal",
                "0000000000000003-0000000000000040.wal",
                "junk",
                "0000000000000000-0000000000000000.wal.broken",
            ]
            .map(String::from),
        );
        assert_eq!(l.segments.len(), 3);
        assert_eq!(l.tmp, ["0.tmp"]);
        assert_eq!(l.ignored, ["junk"]);
        assert_eq!(l.broken.len(), 1);
        // 0 -> 2 is a gap (etcd itself would not notice it after seq 0).
        assert_eq!(l.seq_gaps(), [1]);
        assert_eq!(l.start_for(0x35), Some(1));
        assert_eq!(l.start_for(0), Some(0));
        let l = Listing::from_names(
            [
                "0000000000000001-0000000000000010.wal",
                "0000000000000003-0000000000000040.wal",
            ]
            .map(String::from),
        );
        assert_eq!(l.seq_gaps(), [1]);
    }
}
