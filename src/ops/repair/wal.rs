//! `repair wal`: a copy of a member whose WAL etcd starts from.
//!
//! 1. Find the first damage as etcd's decoder does ([`find_damage`]): a torn
//!    last record, a frame running past the end of the last file (truncated
//!    segment), a record that fails its CRC or does not decode. Damage at the
//!    tail (in the last file, no record readable after it) is cut, as etcd's
//!    `wal.Repair` does for an unexpected EOF: the file is cut at the frame's
//!    offset and the whole original is kept beside it as `<name>.broken`.
//!    Damage with readable records after it (in the middle of the log) is
//!    only cut with `force`; the later files are then kept as `.broken` too.
//!    Source: etcd v3.5.36 `server/wal/repair.go` (`Repair`: last file,
//!    `io.ErrUnexpectedEOF` only, `.broken` copy, truncate to the last good
//!    offset).
//! 2. Check the cut WAL against the db ([`startable`]): it must read cleanly,
//!    its HardState commit must not pass its last entry, the db's consistent
//!    index must not pass it either (else etcd skips that many new entries as
//!    "already applied"), and it must still hold the membership (a snapshot or
//!    the conf-change entries), else the member never elects itself.
//! 3. When it cannot start etcd, rebuild the WAL from the db: the old files
//!    become `.broken`, a new WAL holds a snapshot record at the db's
//!    consistent index and term with the db's members as voters and learners
//!    (same member and cluster IDs, from the WAL metadata), and a `.snap` at
//!    that position holds the v2 store (what etcd 3.4/3.5 read membership
//!    and `--enable-v2` keys from). A learner must stay one: counted as a
//!    voter, it would take part in the quorum it cannot give.
//! 4. The v2 store carried into that `.snap` ([`carry_v2`]): the input's
//!    newest `.snap` at or below the consistent index whose store parses,
//!    plus the readable WAL entries after it (contiguous, up to the damage and
//!    at most the consistent index), replayed as the `v2` command does; then
//!    `/0` is made to say what the db says (members with their raft
//!    attributes and attributes, `members_removed` as
//!    `/0/removed_members/<id>`, the cluster version). When the replay stops
//!    below the consistent index, the v2 writes in between are unknown: they
//!    are reported lost (`rebuilt.v2_lost_after`) unless the member cannot
//!    have any (etcd 3.6+ applies no v2 requests; a store with no v2 API data
//!    and no v2 client request in any readable WAL record).
//!
//! Everything is written into a temporary dir beside the target, checked by
//! loading it as etcd would, and renamed into place; the input is only read.

use std::path::{Path, PathBuf};

use prost::Message;
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result, Severity};
use crate::etcd::datadir::Input;
use crate::etcd::member::Cluster;
use crate::etcd::raftlog::{self, RaftLog, WalDir};
use crate::etcd::restore::{rebuilt_wal_frames, snap_file_with_store, OutputVersion};
use crate::etcd::v2replay::{entry_v2_request, is_client_request, V2Store};
use crate::etcd::{dbinfo, membership, status};
use crate::formats::bbolt::Db;
use crate::formats::proto::{etcdserverpb, raftpb};
use crate::formats::wal::{self, Decoded, RecordType, Segment, Stop};
use crate::ops::check::CheckOptions;
use crate::sink::{self, NewDir};
use crate::source::Source;

/// What kind of damage ends the readable log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DamageKind {
    /// The last record was partly written (a zero sector).
    Torn,
    /// A frame runs past the end of its file (a truncated file).
    UnexpectedEof,
    /// A record fails its CRC or does not decode.
    Corrupt,
}

/// Where the readable log ends, and what follows.
#[derive(Debug, Clone, Serialize)]
pub struct Damage {
    /// What it is.
    pub kind: DamageKind,
    /// Index of the file in the WAL dir's order.
    #[serde(skip)]
    pub segment: usize,
    /// The file's name.
    pub file: String,
    /// Offset of the damaged frame: the file is cut here.
    pub offset: u64,
    /// At the tail: in the last file with nothing readable after it.
    pub tail: bool,
    /// Records (decodable, CRC-valid or not) after the damage, in any file.
    pub records_after: u64,
    /// What the decoder said.
    pub message: String,
}

/// Entry indexes of the records at and after the damage (in raw reading).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Lost {
    /// Entries readable at or after the cut.
    pub entries: u64,
    /// Lowest index among them.
    pub first_index: Option<u64>,
    /// Highest index among them.
    pub last_index: Option<u64>,
    /// Index of the last entry kept before the cut (everything the input
    /// held after it is lost from the WAL, readable or not).
    pub kept_last_index: Option<u64>,
}

/// Finds the first damage in `segments` (in order) and what is readable
/// after it. `None` when the WAL decodes cleanly to its end. `sizes`: each
/// file's size on disk (the segments' bytes may leave out trailing zeros),
/// so that a frame cut short by the end of the file is told from one whose
/// bytes are wrong.
pub fn find_damage(segments: &[Segment], sizes: &[u64]) -> (Decoded, Option<(Damage, Lost)>) {
    let decoded = wal::decode(segments, false);
    let (segment, offset, mut kind) = match decoded.stop {
        Stop::Eof => return (decoded, None),
        Stop::TornTail { segment, offset } => (segment, offset, DamageKind::Torn),
        Stop::UnexpectedEof { segment, offset } => (segment, offset, DamageKind::UnexpectedEof),
        Stop::Corrupt { segment, offset } => (segment, offset, DamageKind::Corrupt),
    };
    let raw = wal::decode(segments, true);
    let after = |r: &wal::RecordAt| (r.segment, r.offset) >= (segment, offset);
    let records_after = raw
        .records
        .iter()
        .filter(|r| (r.segment, r.offset) > (segment, offset))
        .count();
    let mut lost = Lost::default();
    for r in raw.records.iter().filter(|r| after(r)) {
        if RecordType::of(r.rtype) != RecordType::Entry {
            continue;
        }
        if let Ok(e) = raftpb::Entry::decode(r.data.clone()) {
            lost.entries = lost.entries.saturating_add(1);
            lost.first_index = Some(lost.first_index.map_or(e.index, |f| f.min(e.index)));
            lost.last_index = Some(lost.last_index.map_or(e.index, |l| l.max(e.index)));
        }
    }
    let mut cut_short = None;
    // A frame that reaches past the end of its file was cut short (the
    // decoder read the missing bytes as zeros and then failed the CRC).
    let frame_end = segments.get(segment).and_then(|s| {
        let at = crate::bytes::to_usize(offset)?;
        let word = crate::bytes::u64_le(&s.bytes, at).unwrap_or(0);
        let (len, pad) = wal::frame::decode_len_word(word);
        Some(
            offset
                .saturating_add(8)
                .saturating_add(len)
                .saturating_add(pad),
        )
    });
    if let (Some(end), Some(size)) = (frame_end, sizes.get(segment)) {
        if kind != DamageKind::UnexpectedEof && end > *size {
            kind = DamageKind::UnexpectedEof;
            cut_short = Some(format!(
                "the frame needs bytes up to offset {end} but the file ends at {size}: it was cut short"
            ));
        }
    }
    lost.kept_last_index = decoded
        .records
        .iter()
        .rev()
        .filter(|r| RecordType::of(r.rtype) == RecordType::Entry)
        .find_map(|r| raftpb::Entry::decode(r.data.clone()).ok())
        .map(|e| e.index);
    let is_last = segment.saturating_add(1) == segments.len();
    let tail = is_last && records_after == 0;
    let message = cut_short.unwrap_or_else(|| {
        decoded
            .findings
            .iter()
            .rev()
            .find(|f| f.at.offset == Some(offset))
            .map_or_else(String::new, |f| f.message.clone())
    });
    let file = segments
        .get(segment)
        .map(|s| s.name.file_name())
        .unwrap_or_default();
    let damage = Damage {
        kind,
        segment,
        file,
        offset,
        tail,
        records_after: crate::bytes::to_u64(records_after),
        message,
    };
    (decoded, Some((damage, lost)))
}

/// Why a member's raft log (as loaded) and db cannot start etcd; `None` when
/// they can. `ci`: the db's consistent index.
pub fn startable(log: &RaftLog, ci: Option<u64>) -> Option<String> {
    if !log.decoded.stop.is_clean() || log.read.failed {
        let first = log
            .findings
            .iter()
            .find(|f| f.severity == Severity::Error)
            .map_or_else(String::new, |f| format!(": {}", f.message));
        return Some(format!("the WAL does not read cleanly{first}"));
    }
    if log.findings.iter().any(|f| f.code == "wal.start.missing") {
        return Some("no WAL file starts at or before the snapshot etcd would load".into());
    }
    let (snap_index, _) = log.start;
    let last = log
        .read
        .last()
        .map_or(snap_index, |(i, _)| i.max(snap_index));
    let commit = log.read.state.map_or(0, |s| s.commit);
    if commit > last {
        return Some(format!(
            "the last HardState commits index {commit} but the WAL ends at {last} (raft refuses: commit out of range)"
        ));
    }
    if let Some(ci) = ci {
        if ci > last {
            return Some(format!(
                "the WAL ends at index {last}, below the db's consistent index {ci}: etcd would take the next {} entries for already applied and drop them",
                ci - last
            ));
        }
    }
    let has_conf = log.read.entries.iter().any(|e| {
        e.entry.index <= commit
            && matches!(
                e.entry.r#type,
                raftpb::entry_type::CONF_CHANGE | raftpb::entry_type::CONF_CHANGE_V2
            )
    });
    if snap_index == 0 && !has_conf {
        return Some(
            "the WAL holds no membership (no snapshot, no committed conf change): the member would never elect itself"
                .into(),
        );
    }
    None
}

/// The WAL rebuilt from the db.
#[derive(Debug, Clone, Serialize)]
pub struct Rebuilt {
    /// Why the cut WAL could not be used.
    pub reason: String,
    /// The snapshot record's index (the db's consistent index).
    pub index: u64,
    /// Its term.
    pub term: u64,
    /// Member ID (from the WAL metadata), hex.
    pub member_id: String,
    /// Cluster ID (from the WAL metadata), hex.
    pub cluster_id: String,
    /// Voters, hex, from the db's `members` bucket.
    pub voters: Vec<String>,
    /// Learners, hex, from the db's `members` bucket.
    pub learners: Vec<String>,
    /// The `.snap` written.
    pub snap_file: String,
    /// Committed WAL entries above the consistent index that the rebuilt WAL
    /// no longer holds (left in the `.broken` files).
    pub entries_dropped: u64,
    /// The input `.snap` whose v2 store was carried (`null`: none, the
    /// store was replayed from empty, or not carried at all).
    pub v2_snap: Option<String>,
    /// The raft index the carried v2 store reflects: that `.snap`'s index
    /// plus the WAL entries replayed after it. `null`: no v2 store could be
    /// read, the rebuilt `.snap` holds only the membership.
    pub v2_store_index: Option<u64>,
    /// WAL entries replayed onto the `.snap`'s store.
    pub v2_entries_applied: u64,
    /// v2 API keys (`--enable-v2`, e.g. Patroni's; under the store's `/1`)
    /// in the rebuilt `.snap`.
    pub v2_keys: u64,
    /// The input shows v2 API use: v2 keys or auth data in the carried
    /// `.snap`, or a v2 client request in a readable WAL record.
    pub v2_in_use: bool,
    /// v2 writes after this index (up to `index`) were in the damaged part
    /// of the WAL and are not in the rebuilt `.snap`; `null` when none can
    /// be missing (the store reaches `index`, or the member shows no v2 use,
    /// or its etcd (3.6+) applies no v2 requests).
    pub v2_lost_after: Option<u64>,
    /// Only when no v2 store could be read: the v2 keys of the newest
    /// `.snap` that parses at all (one above `index`), else `null`.
    pub v2_keys_not_carried: Option<u64>,
}

/// What `repair wal` did.
#[derive(Debug, Clone, Serialize)]
pub struct WalRepairReport {
    /// The dir given.
    pub input: PathBuf,
    /// The dir written (`None` when nothing needed repair).
    pub output: Option<PathBuf>,
    /// `none`, `cut` or `rebuilt`.
    pub action: &'static str,
    /// The damage found, if any.
    pub damage: Option<Damage>,
    /// Entries lost by the cut (readable at or after the damage).
    pub lost: Lost,
    /// The db's consistent index.
    pub db_consistent_index: Option<u64>,
    /// The db's term.
    pub db_term: Option<u64>,
    /// Every lost entry is at or below the db's consistent index (the db
    /// already holds what they did); `None` when no entry was readable.
    pub db_holds_lost: Option<bool>,
    /// Files kept as `.broken` in the output's WAL dir.
    pub broken_files: Vec<String>,
    /// The WAL rebuilt from the db, when the cut one could not start etcd.
    pub rebuilt: Option<Rebuilt>,
    /// The output's last WAL index and commit, as etcd loads it.
    pub last_index: Option<u64>,
    /// See `last_index`.
    pub commit: Option<u64>,
    /// What to do next.
    pub next_steps: Vec<String>,
}

impl WalRepairReport {
    /// A loss the db does not cover.
    pub fn lossy(&self) -> bool {
        self.db_holds_lost == Some(false)
            || self
                .rebuilt
                .as_ref()
                .is_some_and(|r| r.entries_dropped > 0 || r.v2_lost_after.is_some())
    }
}

fn refuse_existing_dir(out: &Path) -> Result<()> {
    if let Ok(meta) = std::fs::metadata(out) {
        let empty_dir =
            meta.is_dir() && std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_none());
        if !empty_dir {
            return Err(Error::new(ErrorKind::Usage(format!(
                "--out {} exists and is not an empty dir: name a new dir",
                out.display()
            ))));
        }
    }
    Ok(())
}

/// The db's consistent index, term, membership and storage version.
struct DbSide {
    ci: Option<u64>,
    term: Option<u64>,
    members: Option<membership::Membership>,
    version: OutputVersion,
    cluster_version: Option<String>,
}

fn read_db(db_path: &Path) -> Result<DbSide> {
    let src = Source::open(db_path)?;
    let db = Db::open(src.bytes()).map_err(|e| e.in_file(db_path))?;
    let facts = dbinfo::read(&db).map_err(|e| e.in_file(db_path))?;
    let (members, _) = membership::from_db(&db).map_err(|e| e.in_file(db_path))?;
    let sv = status::storage_version(&db).ok().flatten();
    Ok(DbSide {
        ci: facts.consistent_index,
        term: facts.term,
        members,
        version: OutputVersion::from_storage_version(sv.as_ref()),
        cluster_version: facts.cluster_version,
    })
}

/// Repairs the WAL of the member at `input` (data dir or member dir) into
/// the new dir `out`. `force`: cut damage in the middle of the log too.
pub fn repair_wal(input: &Path, out: &Path, force: bool) -> Result<WalRepairReport> {
    refuse_existing_dir(out)?;
    let resolved = Input::resolve(input)?;
    let Some(member) = resolved.member_dir.clone() else {
        return Err(Error::new(ErrorKind::Usage(
            "repair wal needs a data dir or member dir (the WAL and the db beside it)".into(),
        ))
        .in_file(input));
    };
    if out.starts_with(input) {
        return Err(Error::new(ErrorKind::Usage(
            "--out lies inside the input: the input is never changed; name a dir outside it".into(),
        )));
    }
    let wal_dir = member.join("wal");
    let snap_dir = member.join("snap");
    let db_path = resolved.db_path()?;
    let db = read_db(&db_path)?;
    let wd = WalDir::open(&wal_dir)?;
    let segments = wd.segments();
    let sizes: Vec<u64> = wd.files.iter().map(|f| f.size).collect();
    let (_, found) = find_damage(&segments, &sizes);
    let (damage, lost) = match found {
        Some((d, l)) => (Some(d), l),
        None => (None, Lost::default()),
    };
    let db_holds_lost = lost.last_index.map(|l| db.ci.is_some_and(|ci| l <= ci));
    if let Some(d) = &damage {
        if !d.tail && !force {
            return Err(Error::new(ErrorKind::Refused(format!(
                "nothing written: the WAL is damaged in the middle, not at its tail ({} at offset {} of {}: {}; {} records follow it). Cutting there loses {} readable entries{}{}; rerun with --force to cut there anyway (the WAL is then rebuilt from the db if what is left cannot start etcd), or use another member",
                kind_name(d.kind),
                d.offset,
                d.file,
                d.message,
                d.records_after,
                lost.entries,
                match (lost.first_index, lost.last_index) {
                    (Some(a), Some(b)) => format!(" (indexes {a}..{b})"),
                    _ => String::new(),
                },
                match (db_holds_lost, db.ci) {
                    (Some(true), Some(ci)) => format!(", all at or below the db's consistent index {ci}: the db already holds them"),
                    (Some(false), Some(ci)) => format!(", some above the db's consistent index {ci}: those writes are lost"),
                    _ => String::new(),
                }
            )))
            .in_file(&wal_dir.join(&d.file)));
        }
    }
    // Does the WAL as it is (or as cut) start etcd?
    let in_log = raftlog::load(&wd, Some(&snap_dir), false)?;
    if damage.is_none() && startable(&in_log, db.ci).is_none() {
        return Ok(WalRepairReport {
            input: input.to_path_buf(),
            output: None,
            action: "none",
            damage: None,
            lost,
            db_consistent_index: db.ci,
            db_term: db.term,
            db_holds_lost: None,
            broken_files: Vec::new(),
            rebuilt: None,
            last_index: in_log.read.last().map(|(i, _)| i),
            commit: in_log.read.state.map(|s| s.commit),
            next_steps: vec![
                "the WAL reads cleanly and etcd starts from it: nothing to repair, nothing written"
                    .into(),
            ],
        });
    }
    let metadata = in_log
        .read
        .metadata
        .or_else(|| first_metadata(&in_log.decoded));

    // The copy, in a temporary dir beside the target.
    let tmp = NewDir::beside(out, "repair")?;
    let rel_member = member
        .strip_prefix(input)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let wal_rel = rel_member.join("wal");
    let cut_names: Vec<String> = match &damage {
        Some(d) => wd
            .listing
            .segments
            .iter()
            .skip(d.segment)
            .map(|(n, _)| n.clone())
            .collect(),
        None => Vec::new(),
    };
    let skip = |r: &Path| {
        r.parent() == Some(wal_rel.as_path())
            && r.file_name()
                .is_some_and(|n| cut_names.iter().any(|c| c.as_str() == n))
    };
    sink::copy_tree(input, tmp.path(), &skip)?;
    let out_wal = tmp.path().join(&wal_rel);
    let out_snap = tmp.path().join(rel_member.join("snap"));
    let mut broken_files = Vec::new();
    if let Some(d) = &damage {
        for (i, name) in cut_names.iter().enumerate() {
            let broken = format!("{name}.broken");
            sink::copy_file(&wal_dir.join(name), &out_wal.join(&broken))?;
            if i == 0 {
                sink::copy_prefix(&wal_dir.join(name), &out_wal.join(name), d.offset)?;
            }
            broken_files.push(broken);
        }
        sink::sync_dir(&out_wal);
    }

    // Check the cut WAL; rebuild from the db when it cannot start etcd.
    let cut_wd = WalDir::open(&out_wal)?;
    let cut_log = raftlog::load(&cut_wd, Some(&out_snap), false)?;
    let mut rebuilt = None;
    let mut final_log = cut_log;
    if let Some(reason) = startable(&final_log, db.ci) {
        let seen = terms_seen(&segments, db.ci.unwrap_or(0));
        let r = rebuild(
            &db,
            metadata,
            seen,
            &final_log,
            (&out_wal, &out_snap),
            reason,
            &mut broken_files,
        )?;
        let wd2 = WalDir::open(&out_wal)?;
        final_log = raftlog::load(&wd2, Some(&out_snap), false)?;
        if let Some(still) = startable(&final_log, db.ci) {
            return Err(Error::new(ErrorKind::Refused(format!(
                "nothing written: the WAL rebuilt from the db still cannot start etcd ({still}); use another member or a snapshot"
            ))));
        }
        rebuilt = Some(r);
    }
    // The output as `check` sees it: no error, or nothing is written.
    let checked = crate::ops::check::check_path(tmp.path(), CheckOptions::default())?;
    let errors: Vec<String> = checked
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{}: {}", f.code, f.message))
        .collect();
    if !errors.is_empty() {
        return Err(Error::new(ErrorKind::Refused(format!(
            "nothing written: the repaired copy still fails the check ({}); if the db is damaged, `repair db` or `salvage` it first",
            errors.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
        ))));
    }
    let action = if rebuilt.is_some() { "rebuilt" } else { "cut" };
    let mut tmp = tmp;
    tmp.commit(out, true)?;

    let mut next_steps = Vec::new();
    if let Some(r) = &rebuilt {
        if let Some(after) = r.v2_lost_after {
            next_steps.push(match r.v2_store_index {
                Some(at) => format!(
                    "the rebuilt .snap carries the v2 store (--enable-v2) as of index {at}{}: any v2 writes after index {after} up to {} were in the damaged part of the WAL and are lost; compare `etcd-rescue v2 ls -r` on the output with what the v2 clients (e.g. Patroni) expect, and have them write again",
                    r.v2_snap.as_ref().map_or_else(String::new, |s| format!(" ({s} plus {} WAL entries)", r.v2_entries_applied)),
                    r.index
                ),
                None => format!(
                    "no v2 store could be read from the input's .snap files: the rebuilt .snap holds only the membership, {} v2 keys (--enable-v2) are not carried over; read what is left with `etcd-rescue v2 ls -r` on the input",
                    r.v2_keys_not_carried.map_or_else(|| "its".to_owned(), |n| format!("the {n}"))
                ),
            });
        }
    }
    match (&rebuilt, db_holds_lost) {
        (Some(r), _) => next_steps.push(format!(
            "start etcd on {} (same member and cluster IDs): it starts from the db at index {} and, in a cluster, catches up from the leader{}",
            out.display(),
            r.index,
            if r.entries_dropped > 0 {
                format!("; {} committed WAL entries above the db's consistent index are only in the .broken files", r.entries_dropped)
            } else {
                String::new()
            }
        )),
        (None, Some(false)) => next_steps.push(format!(
            "start etcd on {}; the lost entries above the db's consistent index are gone from this member: in a cluster the leader sends them again, alone they are lost",
            out.display()
        )),
        (None, _) => next_steps.push(format!(
            "start etcd on {}: nothing the db lacks was lost",
            out.display()
        )),
    }
    Ok(WalRepairReport {
        input: input.to_path_buf(),
        output: Some(out.to_path_buf()),
        action,
        damage,
        lost,
        db_consistent_index: db.ci,
        db_term: db.term,
        db_holds_lost,
        broken_files,
        rebuilt,
        last_index: final_log
            .read
            .last()
            .map(|(i, _)| i)
            .or(Some(final_log.start.0)),
        commit: final_log.read.state.map(|s| s.commit),
        next_steps,
    })
}

fn kind_name(k: DamageKind) -> &'static str {
    match k {
        DamageKind::Torn => "a torn record",
        DamageKind::UnexpectedEof => "a frame running past the end of the file",
        DamageKind::Corrupt => "a corrupt record",
    }
}

/// Terms the input WAL shows in CRC-valid records, read past any damage.
#[derive(Debug, Clone, Copy, Default)]
struct TermsSeen {
    /// The highest term of any entry or HardState.
    max: u64,
    /// The term of the entry at the db's consistent index, if readable.
    at_ci: Option<u64>,
    /// Some entry carries a v2 client request (`--enable-v2` in use), read
    /// past the damage too: the first such write may lie in the lost part.
    v2_client: bool,
}

fn terms_seen(segments: &[Segment], ci: u64) -> TermsSeen {
    let raw = wal::decode(segments, true);
    let mut t = TermsSeen::default();
    for r in raw.records.iter().filter(|r| r.crc_ok) {
        match RecordType::of(r.rtype) {
            RecordType::Entry => {
                if let Ok(e) = raftpb::Entry::decode(r.data.clone()) {
                    t.max = t.max.max(e.term);
                    if e.index == ci {
                        t.at_ci = Some(e.term);
                    }
                    if !t.v2_client {
                        t.v2_client = entry_v2_request(&e).is_some_and(|r| is_client_request(&r));
                    }
                }
            }
            RecordType::State => {
                if let Ok(h) = raftpb::HardState::decode(r.data.clone()) {
                    t.max = t.max.max(h.term);
                }
            }
            _ => {}
        }
    }
    t
}

fn first_metadata(d: &Decoded) -> Option<etcdserverpb::Metadata> {
    d.records
        .iter()
        .filter(|r| RecordType::of(r.rtype) == RecordType::Metadata)
        .find_map(|r| etcdserverpb::Metadata::decode(r.data.clone()).ok())
}

/// Replaces the WAL in `out_wal` by one rebuilt from the db, and writes the
/// matching `.snap` into `out_snap`.
fn rebuild(
    db: &DbSide,
    metadata: Option<etcdserverpb::Metadata>,
    seen: TermsSeen,
    cut: &RaftLog,
    (out_wal, out_snap): (&Path, &Path),
    reason: String,
    broken_files: &mut Vec<String>,
) -> Result<Rebuilt> {
    let refuse = |why: String| {
        Err(Error::new(ErrorKind::Refused(format!(
            "nothing written: the WAL cannot start etcd ({reason}) and cannot be rebuilt from the db: {why}; use another member or a snapshot (`snapshot restore`)"
        ))))
    };
    let Some(meta) = metadata else {
        return refuse("no WAL metadata record names the member and cluster IDs".into());
    };
    let Some(ci) = db.ci.filter(|c| *c > 0) else {
        return refuse("the db has no consistent index".into());
    };
    let Some(members) = db.members.as_ref().filter(|m| !m.members.is_empty()) else {
        return refuse("the db's members bucket is empty".into());
    };
    if members.get(meta.node_id).is_none() {
        return refuse(format!(
            "member {:x} (the WAL's) is not in the db's members bucket",
            meta.node_id
        ));
    }
    let mut ms = members.members.clone();
    ms.sort_by_key(|m| m.id);
    let cluster = Cluster {
        id: meta.cluster_id,
        members: ms,
    };
    // The snapshot's term is the term of the entry at the consistent index:
    // the db's `meta/term` (3.5+), else that entry's in the input WAL (any
    // CRC-valid record, before or after the damage), else the last
    // HardState's. The HardState's term never goes below any term the input
    // WAL shows, and keeps its vote in that term, so the member cannot vote
    // twice in a term.
    let hs = cut.read.state.or(cut.last_state).unwrap_or_default();
    let term = db
        .term
        .or(seen.at_ci)
        .unwrap_or(hs.term.max(seen.max))
        .max(1);
    let state_term = term.max(hs.term).max(seen.max);
    let state = raftpb::HardState {
        term: state_term,
        vote: if hs.term == state_term { hs.vote } else { 0 },
        commit: ci,
    };
    let entries_dropped =
        crate::bytes::to_u64(cut.read.committed().filter(|e| e.entry.index > ci).count());
    // Old WAL files become .broken.
    for name in raftlog::list_names(out_wal)? {
        if name.ends_with(".wal") {
            let broken = format!("{name}.broken");
            let to = out_wal.join(&broken);
            if !to.exists() {
                sink::rename(&out_wal.join(&name), &to)?;
                broken_files.push(broken);
            } else {
                sink::remove_file(&out_wal.join(&name))?;
            }
        }
    }
    let frames = rebuilt_wal_frames(&cluster, meta.node_id, ci, term, state, db.version);
    sink::write_segment_in(
        out_wal,
        &wal::SegmentName { seq: 0, index: 0 }.file_name(),
        &frames,
    )?;
    // Read the input's .snap files (copied into out_snap) before the new one
    // may replace one of the same name.
    let v2 = carry_v2(out_snap, cut, ci, db, members, &cluster, seen.v2_client);
    let (snap_name, snap_bytes) = snap_file_with_store(
        &cluster,
        db.version,
        ci,
        term,
        v2.store.save_json().into_bytes(),
    );
    sink::create_dirs(out_snap)?;
    let snap_path = out_snap.join(&snap_name);
    if snap_path.exists() {
        sink::remove_file(&snap_path)?;
    }
    sink::write_file(&snap_path, &snap_bytes, None, 0o600)?;
    sink::sync_dir(out_snap);
    Ok(Rebuilt {
        reason,
        index: ci,
        term,
        member_id: format!("{:016x}", meta.node_id),
        cluster_id: format!("{:016x}", meta.cluster_id),
        voters: hex_ids(&cluster, false),
        learners: hex_ids(&cluster, true),
        snap_file: snap_name,
        entries_dropped,
        v2_snap: v2.snap,
        v2_store_index: v2.index,
        v2_entries_applied: v2.applied,
        v2_keys: v2.store.get("/1").map_or(0, count_keys),
        v2_in_use: v2.in_use,
        v2_lost_after: v2.lost_after,
        v2_keys_not_carried: v2.keys_not_carried,
    })
}

/// Keys (not dirs) below a node.
fn count_keys(n: &crate::etcd::v2replay::V2Node) -> u64 {
    let mut stack = vec![n];
    let mut k = 0u64;
    while let Some(x) = stack.pop() {
        match &x.children {
            Some(c) => stack.extend(c.values()),
            None => k = k.saturating_add(1),
        }
    }
    k
}

/// The v2 store carried into a rebuilt `.snap`, and what it misses.
struct V2Carry {
    /// With `/0` set from the db; only that when `index` is `None`.
    store: V2Store,
    snap: Option<String>,
    index: Option<u64>,
    applied: u64,
    in_use: bool,
    lost_after: Option<u64>,
    keys_not_carried: Option<u64>,
}

/// The v2 store as of the db's consistent index `ci`, as far as the input
/// holds it (see the module docs, step 4), with `/0` set from the db.
/// `snap_dir`: the input's `.snap` files; `cut`: the WAL as cut (every entry
/// in it is before the damage, CRC-valid); `wal_v2_client`: a v2 client
/// request was seen in some CRC-valid WAL record.
fn carry_v2(
    snap_dir: &Path,
    cut: &RaftLog,
    ci: u64,
    db: &DbSide,
    members: &membership::Membership,
    cluster: &Cluster,
    wal_v2_client: bool,
) -> V2Carry {
    use crate::etcd::v2store::Store;
    let (names, files) = raftlog::load_snaps(snap_dir).unwrap_or_default();
    let mut parsed: Vec<(u64, String, Store)> = names
        .iter()
        .zip(files)
        .filter_map(|(n, f)| {
            let f = f?;
            let st = Store::parse(f.data()).ok()?;
            Some((f.index(), n.name.clone(), st))
        })
        .collect();
    parsed.sort_by_key(|p| p.0);
    // etcd 3.6+ neither serves nor applies v2 requests: nothing can be lost.
    let no_v2_apply = db.version >= OutputVersion::V3_6;
    let first_entry = cut.read.entries.first().map(|e| e.entry.index);
    // The base: the newest parsed .snap at or below ci (one above holds
    // writes past the db's state); else the empty store etcd starts with,
    // valid only when no .snap was ever taken or the WAL still starts at 1.
    let base = parsed.iter().rev().find(|p| p.0 <= ci);
    let (mut store, base_index, snap, custom) = match base {
        Some((i, n, st)) => (
            V2Store::from_saved(st),
            *i,
            Some(n.clone()),
            st.has_custom_content(),
        ),
        None if names.is_empty() || first_entry == Some(1) => (V2Store::empty(), 0, None, false),
        None => {
            let keys = parsed.last().map(|p| p.2.user_keys());
            let in_use = wal_v2_client || keys.is_some_and(|k| k > 0);
            let mut store = V2Store::empty();
            store.set_membership(
                &cluster.members,
                &members.removed,
                db.cluster_version.as_deref(),
            );
            return V2Carry {
                store,
                snap: None,
                index: None,
                applied: 0,
                in_use,
                lost_after: (!no_v2_apply).then_some(0),
                keys_not_carried: keys,
            };
        }
    };
    // Entries up to ci are committed (the db applied them), so a HardState
    // cut short by the damage does not hold them back; they must follow on
    // from the base without a gap.
    let mut at = base_index;
    let mut applied = 0u64;
    let mut client = false;
    for e in cut
        .read
        .entries
        .iter()
        .filter(|e| e.entry.index > base_index)
    {
        if e.entry.index != at.saturating_add(1) || e.entry.index > ci {
            break;
        }
        client |= store.apply_entry(&e.entry).client;
        at = e.entry.index;
        applied = applied.saturating_add(1);
    }
    store.set_membership(
        &cluster.members,
        &members.removed,
        db.cluster_version.as_deref(),
    );
    let in_use = custom || client || wal_v2_client;
    let lost_after = (at < ci && in_use && !no_v2_apply).then_some(at);
    V2Carry {
        store,
        snap,
        index: Some(at),
        applied,
        in_use,
        lost_after,
        keys_not_carried: None,
    }
}

/// The IDs, hex, of `cluster`'s learners (`true`) or voters (`false`).
fn hex_ids(cluster: &Cluster, learners: bool) -> Vec<String> {
    cluster
        .members
        .iter()
        .filter(|m| m.is_learner == learners)
        .map(|m| format!("{:016x}", m.id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::wal::write::Encoder;
    use crate::formats::wal::SegmentName;

    fn small_wal() -> Vec<u8> {
        let mut e = Encoder::created(1, 2);
        for i in 1..=4u64 {
            e.message(
                RecordType::Entry,
                &raftpb::Entry {
                    r#type: 0,
                    term: 1,
                    index: i,
                    data: Some(vec![u8::try_from(i).unwrap(); 20].into()),
                },
            );
            e.message(
                RecordType::State,
                &raftpb::HardState {
                    term: 1,
                    vote: 1,
                    commit: i,
                },
            );
        }
        e.bytes().to_vec()
    }

    fn seg(b: &[u8]) -> Segment {
        Segment {
            name: SegmentName { seq: 0, index: 0 },
            path: PathBuf::from("w"),
            bytes: b.to_vec().into(),
        }
    }

    /// Checks the cut invariant for one damaged file: tail damage cut at its
    /// offset leaves a WAL that decodes cleanly with every record before it.
    fn cut_is_clean(b: &[u8], size: u64) -> Option<Damage> {
        let s = [seg(b)];
        let (decoded, found) = find_damage(&s, &[size]);
        let (d, lost) = found?;
        if d.tail {
            let cut = [seg(&b[..usize::try_from(d.offset).unwrap().min(b.len())])];
            let again = wal::decode(&cut, false);
            assert_eq!(again.stop, Stop::Eof, "{d:?}");
            assert_eq!(again.records.len(), decoded.records.len());
            if let (Some(k), Some(f)) = (lost.kept_last_index, lost.first_index) {
                assert!(
                    f > k || d.kind != DamageKind::UnexpectedEof,
                    "{d:?} {lost:?}"
                );
            }
        }
        Some(d)
    }

    /// Every truncation of a small WAL is tail damage (or clean at a frame
    /// boundary), cut cleanly; a cut inside a frame is an unexpected EOF.
    #[test]
    fn every_truncation_cuts_cleanly() {
        let b = small_wal();
        for len in 0..b.len() {
            let d = cut_is_clean(&b[..len], crate::bytes::to_u64(len));
            if let Some(d) = d {
                assert!(d.tail, "len {len}: {d:?}");
                assert_eq!(d.kind, DamageKind::UnexpectedEof, "len {len}: {d:?}");
            }
        }
    }

    /// Every single-byte flip is found; in the last record it is tail
    /// damage, earlier it is in the middle (records follow it).
    #[test]
    fn every_flip_is_found_and_placed() {
        let b = small_wal();
        let clean = wal::decode(&[seg(&b)], false);
        let last_off = usize::try_from(clean.records.last().unwrap().offset).unwrap();
        for at in 0..b.len() {
            let mut x = b.clone();
            x[at] ^= 0x40;
            let size = crate::bytes::to_u64(x.len());
            let Some(d) = cut_is_clean(&x, size) else {
                continue;
            };
            if at < last_off {
                assert!(
                    !d.tail || d.offset <= crate::bytes::to_u64(at),
                    "flip at {at}: {d:?}"
                );
            } else {
                assert!(d.tail, "flip at {at}: {d:?}");
            }
        }
    }
}
