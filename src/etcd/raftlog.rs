//! The raft log of a member as etcd would load it: the WAL files of
//! `member/wal`, the `.snap` files of `member/snap`, the snapshot etcd would
//! choose, and the entries it would replay.
//!
//! Steps (etcd v3.5.1 `etcdserver/storage.go`, `bootstrap`):
//! 1. decode every WAL file in name order (the CRC chain runs across files);
//! 2. collect the WAL snapshot records with index ≤ the last HardState commit
//!    (`ValidSnapshotEntries`) and pick the newest `.snap` that loads and
//!    matches one of them (`LoadNewestAvailable`);
//! 3. start at the last WAL file whose first index ≤ the snapshot index
//!    (`selectWALFiles`, seqs consecutive from there) and `ReadAll` after the
//!    snapshot.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Finding, Location, Result};
use crate::formats::snap::{self, SnapFile, SnapProblem};
use crate::formats::wal::{self, Decoded, Listing, ReadAll, Segment};
use crate::source::Source;

/// The WAL files of a dir, opened.
#[derive(Debug)]
pub struct WalDir {
    /// The dir.
    pub dir: PathBuf,
    /// How its names sort out.
    pub listing: Listing,
    /// One file per segment in `listing.segments`.
    pub files: Vec<WalFile>,
}

/// A WAL file's bytes, without its trailing zeros.
///
/// A WAL file that no process holds a lock on (etcd locks every WAL file it
/// has open) is mapped read-only, so a WAL dir costs no heap. One a running
/// etcd holds is read into memory instead: etcd truncates a file's tail when
/// it repairs it, and a mapped page that disappears raises SIGBUS. The
/// trailing zeros (usually most of the 64,000,000 bytes) are left out; the
/// decoder reads bytes past the end as zeros, so nothing changes.
#[derive(Debug)]
pub struct WalFile {
    /// The path.
    pub path: PathBuf,
    /// The bytes up to the last non-zero byte (shared with the records and
    /// entries decoded from them).
    pub bytes: bytes::Bytes,
    /// The file's size on disk.
    pub size: u64,
}

impl WalFile {
    /// Reads `path`.
    pub fn read(path: &Path) -> Result<WalFile> {
        if crate::source::lock_holder(path).is_none() {
            let mapped = Source::open(path)?.into_shared_bytes();
            let size = crate::bytes::to_u64(mapped.len());
            let keep = Self::data_len(&mapped, size);
            return Ok(WalFile {
                path: path.to_path_buf(),
                bytes: mapped.slice(..keep),
                size,
            });
        }
        let mut bytes = std::fs::read(path).map_err(|e| Error::io("read", path, &e))?;
        let size = crate::bytes::to_u64(bytes.len());
        let keep = Self::data_len(&bytes, size);
        bytes.truncate(keep);
        bytes.shrink_to_fit();
        Ok(WalFile {
            path: path.to_path_buf(),
            bytes: bytes.into(),
            size,
        })
    }

    /// How many of a file's `size` bytes to keep: up to the last non-zero
    /// byte of a preallocated segment, all of a longer file.
    fn data_len(bytes: &[u8], size: u64) -> usize {
        // Only the preallocated area of a segment is zeros. A file that grew
        // past the segment size ends exactly at its last frame, whose padding
        // may be zeros: cutting those would make that frame run "past the end"
        // of the shortened file (seen on a real 3.5.1 WAL of 64,009,432 bytes).
        if size <= crate::formats::wal::SEGMENT_SIZE {
            bytes
                .iter()
                .rposition(|b| *b != 0)
                .map_or(0, |i| i.saturating_add(1))
        } else {
            bytes.len()
        }
    }
}

impl WalDir {
    /// Lists and opens the WAL files in `dir`. Fails when the dir cannot be
    /// read or holds no WAL file.
    pub fn open(dir: &Path) -> Result<WalDir> {
        let names = list_names(dir)?;
        let listing = Listing::from_names(names);
        if listing.segments.is_empty() {
            return Err(Error::new(ErrorKind::NoWalFiles).in_file(dir));
        }
        let mut files = Vec::new();
        for p in listing.paths(dir) {
            files.push(WalFile::read(&p)?);
        }
        Ok(WalDir {
            dir: dir.to_path_buf(),
            listing,
            files,
        })
    }

    /// A single WAL file given by path (its name must parse).
    pub fn open_file(path: &Path) -> Result<WalDir> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let listing = Listing::from_names([name]);
        if listing.segments.is_empty() {
            return Err(Error::new(ErrorKind::BadPath(
                "not a WAL file name (<seq>-<index>.wal, 16 hex digits each)".into(),
            ))
            .in_file(path));
        }
        Ok(WalDir {
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            listing,
            files: vec![WalFile::read(path)?],
        })
    }

    /// The segments, ready for [`wal::decode`].
    pub fn segments(&self) -> Vec<Segment> {
        self.listing
            .segments
            .iter()
            .zip(&self.files)
            .map(|((_, name), f)| Segment {
                name: *name,
                path: f.path.clone(),
                bytes: f.bytes.clone(),
            })
            .collect()
    }

    /// Findings about the names: sequence gaps, ignored files.
    pub fn name_findings(&self) -> Vec<Finding> {
        let mut f = Vec::new();
        for i in self.listing.seq_gaps() {
            if let Some((name, _)) = self.listing.segments.get(i) {
                f.push(Finding::error(
                    "wal.seq.gap",
                    at_file(&self.dir.join(name)),
                    format!("WAL file {name} does not follow the previous file's sequence number: a file is missing"),
                ));
            }
        }
        for name in &self.listing.ignored {
            f.push(Finding::warning(
                "wal.name.unparsable",
                at_file(&self.dir.join(name)),
                format!("{name} is not a WAL file name; etcd ignores it"),
            ));
        }
        f
    }
}

fn at_file(p: &Path) -> Location {
    Location {
        file: Some(p.to_path_buf()),
        page: None,
        offset: None,
    }
}

/// Names of the entries of `dir` (lossy UTF-8).
pub fn list_names(dir: &Path) -> Result<Vec<String>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("read dir", dir, &e))?;
    let mut names = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io("read dir", dir, &e))?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// One `.snap` file and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct SnapEntry {
    /// File name.
    pub name: String,
    /// (term, index) from the name, if it parses.
    #[serde(skip)]
    pub named: Option<(u64, u64)>,
    /// Bytes.
    pub size: u64,
    /// Term from the snapshot metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,
    /// Index from the snapshot metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// Why it does not load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<SnapProblem>,
    /// A WAL snapshot record with its (term, index) exists.
    pub in_wal: bool,
    /// Older than the first WAL file kept: its record was in a WAL file etcd
    /// has since purged (`--max-wals`), so "no record" is expected, not a crash.
    pub wal_purged: bool,
    /// This is the snapshot etcd would load.
    pub selected: bool,
}

/// The `.snap` files of a snap dir, decoded.
pub fn load_snaps(snap_dir: &Path) -> Result<(Vec<SnapEntry>, Vec<Option<SnapFile>>)> {
    let mut entries = Vec::new();
    let mut files = Vec::new();
    for name in list_names(snap_dir)? {
        if !name.ends_with(".snap") {
            continue;
        }
        let path = snap_dir.join(&name);
        let src = Source::open(&path)?;
        let res = snap::decode(src.bytes());
        let (term, index, problem, file) = match res {
            Ok(f) => (Some(f.term()), Some(f.index()), None, Some(f)),
            Err(p) => (None, None, Some(p), None),
        };
        entries.push(SnapEntry {
            named: snap::parse_name(&name),
            name,
            size: crate::bytes::to_u64(src.bytes().len()),
            term,
            index,
            problem,
            in_wal: false,
            wal_purged: false,
            selected: false,
        });
        files.push(file);
    }
    Ok((entries, files))
}

/// The raft log as etcd would load it.
#[derive(Debug)]
pub struct RaftLog {
    /// Every WAL record (whole history on disk).
    pub decoded: Decoded,
    /// `ReadAll` from the chosen snapshot.
    pub read: ReadAll,
    /// WAL snapshot records (term, index), all of them.
    pub wal_snaps: Vec<(u64, u64)>,
    /// The last HardState across all files.
    pub last_state: Option<crate::formats::proto::raftpb::HardState>,
    /// The `.snap` files.
    pub snaps: Vec<SnapEntry>,
    /// The chosen snapshot, if any.
    pub chosen: Option<SnapFile>,
    /// The WAL file ReadAll starts at.
    pub start_segment: usize,
    /// (index, term) ReadAll starts after.
    pub start: (u64, u64),
    /// Findings of every step.
    pub findings: Vec<Finding>,
}

/// Loads the raft log of a member from its WAL dir and (optional) snap dir.
pub fn load(wal: &WalDir, snap_dir: Option<&Path>, raw: bool) -> Result<RaftLog> {
    let segments = wal.segments();
    let decoded = wal::decode(&segments, raw);
    let mut findings = wal.name_findings();
    findings.extend(decoded.findings.iter().cloned());
    let (snap_recs, last_state) = wal::snapshot_records(&decoded);
    let wal_snaps: Vec<(u64, u64)> = snap_recs.iter().map(|s| (s.term, s.index)).collect();
    let commit = last_state.map_or(0, |s| s.commit);
    let (mut snaps, files) = match snap_dir {
        Some(d) if d.is_dir() => load_snaps(d)?,
        _ => (Vec::new(), Vec::new()),
    };
    let first_kept = wal.listing.segments.first().map(|(_, n)| n.index);
    for s in &mut snaps {
        if let (Some(t), Some(i)) = (s.term, s.index) {
            s.in_wal = wal_snaps.contains(&(t, i));
            s.wal_purged = !s.in_wal && first_kept.is_some_and(|f| i < f);
        }
    }
    let candidates: Vec<(String, Option<(u64, u64)>)> = snaps
        .iter()
        .map(|s| (s.name.clone(), s.term.zip(s.index)))
        .collect();
    let chosen_i = snap::select(&candidates, &wal_snaps, commit);
    let mut chosen = None;
    if let Some(i) = chosen_i {
        if let Some(s) = snaps.get_mut(i) {
            s.selected = true;
        }
        chosen = files.get(i).cloned().flatten();
    }
    for (s, dir) in snaps.iter().zip(std::iter::repeat(snap_dir)) {
        let path = dir.map(|d| d.join(&s.name)).unwrap_or_default();
        if let Some(p) = &s.problem {
            findings.push(Finding::warning(
                "snap.unreadable",
                at_file(&path),
                format!("{}: {p}; etcd renames such a file to {}.broken and falls back to an older snapshot", s.name, s.name),
            ));
        } else if !s.in_wal && !s.wal_purged {
            findings.push(Finding::warning(
                "snap.orphan",
                at_file(&path),
                format!("{} has no matching snapshot record in the WAL (written just before a crash?); etcd ignores it", s.name),
            ));
        } else if let (Some((nt, ni)), Some(t), Some(i)) = (s.named, s.term, s.index) {
            if (nt, ni) != (t, i) {
                findings.push(Finding::warning(
                    "snap.name-mismatch",
                    at_file(&path),
                    format!(
                        "{} holds the snapshot at term {t} index {i}, not what its name says",
                        s.name
                    ),
                ));
            }
        }
    }
    let (start_index, start_term) = chosen.as_ref().map_or((0, 0), |c| (c.index(), c.term()));
    let start_segment = wal.listing.start_for(start_index).unwrap_or(0);
    if wal.listing.start_for(start_index).is_none() {
        findings.push(Finding::error(
            "wal.start.missing",
            at_file(&wal.dir),
            format!("no WAL file starts at or before index {start_index}: the files etcd needs after the snapshot were removed"),
        ));
    }
    let read = wal::read_all(&decoded, &segments, start_segment, start_index, start_term);
    findings.extend(read.findings.iter().cloned());
    Ok(RaftLog {
        decoded,
        read,
        wal_snaps,
        last_state,
        snaps,
        chosen,
        start_segment,
        start: (start_index, start_term),
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::proto::{etcdserverpb, raftpb, walpb};
    use crate::formats::wal::{write::Encoder, RecordType};

    fn snap_at(index: u64) -> Vec<u8> {
        snap::encode(&crate::formats::snap::tests::snap(2, index))
    }

    /// A .snap older than the first WAL file kept lost its record to WAL
    /// purging (`--max-wals`): not an orphan. One newer than that with no
    /// record is.
    #[test]
    fn snap_older_than_the_wal_kept_is_not_an_orphan() {
        let root = tempfile::tempdir().unwrap();
        let (wal_dir, snap_dir) = (root.path().join("wal"), root.path().join("snap"));
        std::fs::create_dir_all(&wal_dir).unwrap();
        std::fs::create_dir_all(&snap_dir).unwrap();
        // One WAL file starting at index 100 (seq 5: earlier ones purged).
        let mut enc = Encoder::new(0);
        enc.crc_record();
        let meta = etcdserverpb::Metadata {
            node_id: 1,
            cluster_id: 2,
        };
        enc.message(RecordType::Metadata, &meta);
        enc.message(
            RecordType::Snapshot,
            &walpb::Snapshot {
                index: 100,
                term: 2,
                conf_state: None,
            },
        );
        enc.message(
            RecordType::State,
            &raftpb::HardState {
                term: 2,
                vote: 1,
                commit: 100,
            },
        );
        std::fs::write(
            wal_dir.join("0000000000000005-0000000000000064.wal"),
            enc.bytes(),
        )
        .unwrap();
        for i in [50u64, 100, 150] {
            std::fs::write(snap_dir.join(snap::file_name(2, i)), snap_at(i)).unwrap();
        }
        let wal = WalDir::open(&wal_dir).unwrap();
        let log = load(&wal, Some(&snap_dir), false).unwrap();
        let by_index = |i: u64| log.snaps.iter().find(|s| s.index == Some(i)).unwrap();
        assert!(by_index(50).wal_purged && !by_index(50).in_wal);
        assert!(by_index(100).in_wal && by_index(100).selected);
        assert!(!by_index(150).in_wal && !by_index(150).wal_purged);
        let orphans: Vec<_> = log
            .findings
            .iter()
            .filter(|f| f.code == "snap.orphan")
            .collect();
        assert_eq!(orphans.len(), 1, "{:?}", log.findings);
    }
}
