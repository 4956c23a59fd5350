//! `inspect`: everything that can be learned about a data dir, member dir,
//! WAL dir or snapshot file without running etcd, and what disagrees.
//!
//! Each part is read on its own; a part that cannot be read is listed in
//! `unreadable` and the rest is still reported. Warnings carry a stable code,
//! a sentence and what to do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Finding, Result, Severity};
use crate::etcd::dbinfo::{self, DbFacts};
use crate::etcd::entry::{self, Payload};
use crate::etcd::membership::{self, ser_id, Member, Membership};
use crate::etcd::raftlog::{self, RaftLog, SnapEntry, WalDir};
use crate::etcd::replay::Model;
use crate::etcd::status::{self, DbStatus};
use crate::etcd::v2store;
use crate::formats::bbolt::{CheckReport, Db};
use crate::formats::proto::raftpb;
use crate::formats::snap;
use crate::formats::trailer::Trailer;
use crate::formats::wal::{self, Stop};
use crate::source::Source;

/// A warning for people: what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Stable code (`wal.crc.mismatch`, `membership.disagree`, ...).
    pub code: &'static str,
    /// info, warning or error.
    pub severity: Severity,
    /// File, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Byte offset, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// What was found.
    pub message: String,
    /// What to do.
    pub action: String,
}

impl Warning {
    fn new(code: &'static str, severity: Severity, message: String, action: &str) -> Warning {
        Warning {
            code,
            severity,
            file: None,
            offset: None,
            message,
            action: action.into(),
        }
    }

    fn from_finding(f: &Finding) -> Warning {
        Warning {
            code: f.code,
            severity: f.severity,
            file: f.at.file.clone(),
            offset: f.at.offset,
            message: f.message.clone(),
            action: action_for(f.code).into(),
        }
    }
}

fn action_for(code: &str) -> &'static str {
    match code {
        "wal.tail.torn" | "wal.frame.past-end" => {
            "nothing to do: etcd drops the incomplete last record when it starts (it keeps a copy as <file>.broken)"
        }
        "wal.tail.data-after-end" => "nothing to do unless entries are missing; etcd zeroes these bytes when it opens the WAL",
        "wal.crc.mismatch" | "wal.record.unmarshal" | "wal.frame.too-large" | "wal.crc.seed-mismatch" => {
            "etcd will refuse to start from this WAL; keep a copy of the dir, then run `etcd-rescue wal dump --raw` to see what is readable, or restore the member from a snapshot of a healthy member"
        }
        "wal.seq.gap" | "wal.entry.gap" | "wal.start.missing" => {
            "WAL files are missing; recover them from a backup, or remove this member and add it back so it copies a snapshot from the leader"
        }
        "wal.metadata.conflict" => "a WAL file from another member or cluster was mixed in; move the file that differs out of the dir",
        "wal.snapshot.not-found" | "wal.snapshot.term-mismatch" => {
            "the chosen .snap has no matching WAL record; etcd will fail to start; restore from a snapshot"
        }
        "wal.name.unparsable" => "move the file out of the WAL dir if it does not belong there",
        "snap.unreadable" => "etcd renames this file to .broken and uses an older snapshot; nothing to do if another snapshot is chosen",
        "snap.orphan" => "nothing to do: etcd ignores a .snap without a WAL record (usually written just before a crash)",
        "snap.name-mismatch" => "the file was renamed or copied over; check where it came from",
        _ => "",
    }
}

/// Who the member is.
#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    /// Member id (WAL metadata).
    #[serde(serialize_with = "ser_id")]
    pub member_id: u64,
    /// Cluster id (WAL metadata).
    #[serde(serialize_with = "ser_id")]
    pub cluster_id: u64,
    /// Member name, when a source records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Membership as each source records it.
#[derive(Debug, Clone, Serialize)]
pub struct MembershipReport {
    /// The db's `members` / `members_removed` buckets.
    pub db: Option<Membership>,
    /// The v2 store of the chosen `.snap`.
    pub snap: Option<Membership>,
    /// The chosen `.snap`'s membership plus the committed conf changes after it
    /// (what etcd 3.5 would have after replaying the WAL).
    pub snap_plus_wal: Option<Membership>,
    /// From the WAL alone; only when the WAL holds the whole history (from index 1).
    pub wal: Option<Membership>,
    /// The conf-change entries in the WAL.
    pub wal_conf_changes: Vec<membership::ConfChangeEvent>,
}

/// Raft state.
#[derive(Debug, Clone, Serialize)]
pub struct RaftReport {
    /// The WAL dir.
    pub wal_dir: PathBuf,
    /// WAL file names, in order.
    pub wal_files: Vec<String>,
    /// The last HardState.
    pub hard_state: Option<HardStateJson>,
    /// Index of the first entry in the WAL.
    pub first_index: Option<u64>,
    /// Term of the first entry.
    pub first_term: Option<u64>,
    /// Index of the last entry (after overwrites).
    pub last_index: Option<u64>,
    /// Term of the last entry.
    pub last_term: Option<u64>,
    /// Entries after the chosen snapshot.
    pub entries_after_snapshot: u64,
    /// Of those, committed.
    pub committed_after_snapshot: u64,
    /// Entries after the HardState commit (may still be overwritten or lost).
    pub uncommitted: u64,
    /// Entries replaced by a later record at the same or a lower index.
    pub overwritten: u64,
    /// How reading ended.
    pub stop: Stop,
    /// WAL snapshot records.
    pub wal_snapshots: Vec<TermIndex>,
    /// The snapshot etcd would load.
    pub snapshot: Option<ChosenSnap>,
    /// Every `.snap` file.
    pub snap_files: Vec<SnapEntry>,
    /// `*.snap.db` files (dbs received from a leader).
    pub snap_db_files: Vec<String>,
    /// Leftover `.tmp` / `.broken` files (wal and snap dirs).
    pub leftovers: Vec<String>,
}

/// A (term, index) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TermIndex {
    /// Raft term.
    pub term: u64,
    /// Raft index.
    pub index: u64,
}

/// A HardState with the vote as a hex id.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct HardStateJson {
    /// Term.
    pub term: u64,
    /// Voted for.
    #[serde(serialize_with = "ser_id")]
    pub vote: u64,
    /// Commit index.
    pub commit: u64,
}

impl From<raftpb::HardState> for HardStateJson {
    fn from(h: raftpb::HardState) -> Self {
        HardStateJson {
            term: h.term,
            vote: h.vote,
            commit: h.commit,
        }
    }
}

/// The chosen snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct ChosenSnap {
    /// File name.
    pub name: String,
    /// Term.
    pub term: u64,
    /// Index.
    pub index: u64,
    /// Voters.
    #[serde(serialize_with = "membership::ser_ids")]
    pub voters: Vec<u64>,
    /// Learners.
    #[serde(serialize_with = "membership::ser_ids")]
    pub learners: Vec<u64>,
    /// The v2 store has content besides etcd's own (blocks 3.6).
    pub v2_custom_content: Option<bool>,
    /// Keys under /1.
    pub v2_user_keys: Option<u64>,
    /// /0/version.
    pub v2_cluster_version: Option<String>,
}

/// The backend db.
#[derive(Debug, Clone, Serialize)]
pub struct DbReport {
    /// The file.
    pub path: PathBuf,
    /// File size.
    pub file_size: u64,
    /// `snapshot status` figures (absent if the structural check failed).
    pub status: Option<DbStatus>,
    /// The structural check's problems.
    pub check_errors: Vec<String>,
    /// Meta and other facts.
    #[serde(flatten)]
    pub facts: DbFacts,
}

/// How the WAL and the db relate.
#[derive(Debug, Clone, Serialize)]
pub struct WalDbReport {
    /// The db's consistent index.
    pub consistent_index: u64,
    /// The HardState commit.
    pub commit: u64,
    /// Committed entries with index > consistent index (lost with a copy of the db alone).
    pub committed_beyond_db: u64,
    /// Those entries by kind (`put`, `txn`, `noop`, `v2`, `conf_change`, ...).
    pub beyond_db_by_kind: BTreeMap<String, u64>,
    /// The WAL holds every entry from consistent index + 1 to commit.
    pub replay_complete: bool,
    /// The db's current revision.
    pub db_revision: i64,
    /// The revision after replaying the committed entries (when complete).
    pub revision_after_replay: Option<i64>,
    /// The snapshot index is above the consistent index: etcd needs `<index>.snap.db`.
    pub needs_snap_db: bool,
}

/// A single file given as input.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// What the file is.
    pub kind: String,
    /// The sha256 trailer.
    pub trailer: Trailer,
    /// File size.
    pub size: u64,
}

/// Everything `inspect` learned.
#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    /// Version of this JSON schema (1); raised only on incompatible changes.
    pub format_version: u32,
    /// The path given.
    pub path: PathBuf,
    /// data-dir, member-dir, wal-dir, db-file, snap-file or wal-file.
    pub input: &'static str,
    /// Who.
    pub identity: Option<Identity>,
    /// Membership by source.
    pub membership: Option<MembershipReport>,
    /// Raft state.
    pub raft: Option<RaftReport>,
    /// The db.
    pub db: Option<DbReport>,
    /// WAL versus db.
    pub wal_db: Option<WalDbReport>,
    /// For a single file.
    pub file: Option<FileReport>,
    /// Warnings, each with what to do.
    pub warnings: Vec<Warning>,
    /// Parts that could not be read, with why.
    pub unreadable: Vec<String>,
}

impl InspectReport {
    /// Whether any warning is of warning or error severity.
    pub fn has_problems(&self) -> bool {
        self.warnings
            .iter()
            .any(|w| w.severity >= Severity::Warning)
            || !self.unreadable.is_empty()
    }
}

struct Dirs {
    wal: Option<PathBuf>,
    snap: Option<PathBuf>,
}

/// How much `inspect` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InspectOptions {
    /// Walk the whole db for `snapshot status` and the structural check. Without
    /// it `db.status` is absent and the db revision comes from the last key
    /// (for callers, like `compare`, that walk the db themselves).
    pub status_walk: bool,
}

impl Default for InspectOptions {
    fn default() -> Self {
        InspectOptions { status_walk: true }
    }
}

/// Runs `inspect` on one path.
pub fn inspect(path: &Path) -> Result<InspectReport> {
    inspect_with(path, InspectOptions::default())
}

/// [`inspect`] with options.
pub fn inspect_with(path: &Path, opts: InspectOptions) -> Result<InspectReport> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("open", path, &e))?;
    let mut r = InspectReport {
        format_version: 1,
        path: path.to_path_buf(),
        input: "data-dir",
        identity: None,
        membership: None,
        raft: None,
        db: None,
        wal_db: None,
        file: None,
        warnings: Vec::new(),
        unreadable: Vec::new(),
    };
    if meta.is_file() {
        inspect_file(path, &mut r, opts)?;
        return Ok(r);
    }
    let dirs = if path.join("member").is_dir() {
        let m = path.join("member");
        Dirs {
            wal: Some(m.join("wal")),
            snap: Some(m.join("snap")),
        }
    } else if path.join("wal").is_dir() || path.join("snap").is_dir() {
        r.input = "member-dir";
        Dirs {
            wal: Some(path.join("wal")),
            snap: Some(path.join("snap")),
        }
    } else {
        r.input = "wal-dir";
        // Neither a data dir nor a member dir: it must hold WAL files, or there is nothing to read.
        WalDir::open(path)?;
        Dirs {
            wal: Some(path.to_path_buf()),
            snap: None,
        }
    };
    inspect_dirs(&dirs, &mut r, opts)?;
    Ok(r)
}

fn inspect_file(path: &Path, r: &mut InspectReport, opts: InspectOptions) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if wal::SegmentName::parse(&name).is_some() {
        r.input = "wal-file";
        let w = WalDir::open_file(path)?;
        raft_part(&w, None, r);
        return Ok(());
    }
    let src = Source::open(path)?;
    let size = crate::bytes::to_u64(src.bytes().len());
    if name.ends_with(".snap") {
        r.input = "snap-file";
        match snap::decode(src.bytes()) {
            Ok(s) => {
                let chosen = chosen_snap(&name, &s);
                let store = v2store::Store::parse(s.data()).ok();
                r.membership = Some(MembershipReport {
                    db: None,
                    snap: store.as_ref().map(membership::from_v2),
                    snap_plus_wal: None,
                    wal: None,
                    wal_conf_changes: Vec::new(),
                });
                r.file = Some(FileReport {
                    kind: format!(
                        "raft snapshot (.snap) at term {} index {}",
                        s.term(),
                        s.index()
                    ),
                    trailer: Trailer::Absent,
                    size,
                });
                r.raft = Some(RaftReport {
                    wal_dir: PathBuf::new(),
                    wal_files: Vec::new(),
                    hard_state: None,
                    first_index: None,
                    first_term: None,
                    last_index: None,
                    last_term: None,
                    entries_after_snapshot: 0,
                    committed_after_snapshot: 0,
                    uncommitted: 0,
                    overwritten: 0,
                    stop: Stop::Eof,
                    wal_snapshots: Vec::new(),
                    snapshot: Some(chosen),
                    snap_files: Vec::new(),
                    snap_db_files: Vec::new(),
                    leftovers: Vec::new(),
                });
            }
            Err(p) => {
                let mut w = Warning::new(
                    "snap.unreadable",
                    Severity::Error,
                    format!("{name}: {p}"),
                    action_for("snap.unreadable"),
                );
                w.file = Some(path.to_path_buf());
                r.warnings.push(w);
                r.file = Some(FileReport {
                    kind: "damaged raft snapshot (.snap)".into(),
                    trailer: Trailer::Absent,
                    size,
                });
            }
        }
        return Ok(());
    }
    r.input = "db-file";
    let trailer = Trailer::inspect(src.bytes(), true);
    let body = Trailer::body(src.bytes());
    let db_res = Db::open(body);
    let kind = match (&trailer, &db_res) {
        (_, Err(e)) if matches!(e.kind, ErrorKind::Truncated { .. } | ErrorKind::Empty) => {
            "truncated file (partial download or copy)".to_string()
        }
        (_, Err(_)) => "not a bbolt db".to_string(),
        (Trailer::Valid { .. }, Ok(db)) if crate::bytes::to_u64(body.len()) >= db.size() => {
            "saved snapshot (etcdctl snapshot save), sha256 trailer valid".to_string()
        }
        (Trailer::Mismatch { .. }, Ok(_)) => {
            "saved snapshot whose sha256 trailer does not match: modified or damaged after saving"
                .to_string()
        }
        (_, Ok(db)) if crate::bytes::to_u64(body.len()) < db.size() => {
            "truncated db: shorter than the pages its meta page counts (partial download or copy)"
                .to_string()
        }
        (_, Ok(_)) if name.ends_with(".snap.db") => {
            "db received from a leader (.snap.db), no trailer".to_string()
        }
        (_, Ok(_)) => "raw db copy (member/snap/db or a copy of it), no trailer".to_string(),
    };
    if let Trailer::Mismatch { .. } = trailer {
        let mut w = Warning::new(
            "snapshot.trailer.mismatch",
            Severity::Error,
            "the sha256 trailer does not match the file".into(),
            "take the snapshot again, or use it with `--skip-hash-check` only if nothing else is available",
        );
        w.file = Some(path.to_path_buf());
        r.warnings.push(w);
    }
    r.file = Some(FileReport {
        kind,
        trailer,
        size,
    });
    match db_res {
        Ok(db) => {
            let rep = db_part(path, size, &db, &src, r, opts);
            r.db = Some(rep);
        }
        Err(e) => r.unreadable.push(format!("db: {}", e.in_file(path))),
    }
    Ok(())
}

fn chosen_snap(name: &str, s: &snap::SnapFile) -> ChosenSnap {
    let store = v2store::Store::parse(s.data()).ok();
    let cs = &s.snapshot.metadata.conf_state;
    ChosenSnap {
        name: name.to_string(),
        term: s.term(),
        index: s.index(),
        voters: cs.voters.clone(),
        learners: cs.learners.clone(),
        v2_custom_content: store.as_ref().map(v2store::Store::has_custom_content),
        v2_user_keys: store.as_ref().map(v2store::Store::user_keys),
        v2_cluster_version: store
            .as_ref()
            .and_then(|s| s.cluster_version().map(String::from)),
    }
}

fn db_part(
    path: &Path,
    size: u64,
    db: &Db<'_>,
    src: &Source,
    r: &mut InspectReport,
    opts: InspectOptions,
) -> DbReport {
    let mut check = CheckReport::default();
    let ticker = super::WalkTicker::new(src, db.meta().pgid, None);
    let walked = if opts.status_walk {
        status::compute_observed(db, None, &mut check, &|n| ticker.tick(n))
    } else {
        Err(Error::new(ErrorKind::IntegrityCheckFailed(Vec::new())))
    };
    let (status, check_errors) = match walked {
        Ok(s) => (Some(s), Vec::new()),
        Err(e) => {
            let msgs = match &e.kind {
                ErrorKind::IntegrityCheckFailed(m) => m.clone(),
                _ => vec![e.to_string()],
            };
            (None, msgs)
        }
    };
    if !check_errors.is_empty() {
        let mut w = Warning::new(
            "db.check.failed",
            Severity::Error,
            format!(
                "the db fails bbolt's structural check: {}",
                check_errors.join("; ")
            ),
            "etcd may crash on this db; run `etcd-rescue check` and restore from a snapshot",
        );
        w.file = Some(path.to_path_buf());
        r.warnings.push(w);
    }
    let facts = match dbinfo::read(db) {
        Ok(f) => f,
        Err(e) => {
            r.unreadable
                .push(format!("db meta facts: {}", e.in_file(path)));
            DbFacts::default()
        }
    };
    for a in &facts.alarms {
        r.warnings.push(Warning::new(
            "db.alarm.active",
            Severity::Warning,
            format!("alarm {} raised by member {:016x} is active", a.alarm, a.member_id),
            if a.alarm == "NOSPACE" {
                "free space (compact, defrag, raise --quota-backend-bytes), then `etcdctl alarm disarm`"
            } else {
                "find the member whose data differs (`etcd-rescue compare`), replace it, then `etcdctl alarm disarm`"
            },
        ));
    }
    for p in &facts.problems {
        r.warnings.push(Warning::new(
            "db.meta.bad-value",
            Severity::Warning,
            p.clone(),
            "the db was written by an unknown tool or is damaged",
        ));
    }
    DbReport {
        path: path.to_path_buf(),
        file_size: size,
        status,
        check_errors,
        facts,
    }
}

fn list_leftovers(dir: &Path, out: &mut Vec<String>, dbs: &mut Vec<String>) {
    let Ok(names) = raftlog::list_names(dir) else {
        return;
    };
    for n in names {
        if n.ends_with(".snap.db") {
            dbs.push(n);
        } else if n.ends_with(".tmp") || n.ends_with(".broken") || n.starts_with("db.tmp") {
            out.push(dir.join(&n).display().to_string());
        }
    }
}

/// Reads the raft part; returns the log and every entry of the WAL (from the first file, after overwrites).
fn raft_part(
    w: &WalDir,
    snap_dir: Option<&Path>,
    r: &mut InspectReport,
) -> Option<(RaftLog, Vec<raftpb::Entry>)> {
    let log = match raftlog::load(w, snap_dir, false) {
        Ok(l) => l,
        Err(e) => {
            r.unreadable.push(format!("snap dir: {e}"));
            return None;
        }
    };
    for f in &log.findings {
        r.warnings.push(Warning::from_finding(f));
    }
    let segments = w.segments();
    let first_start = segments.first().map_or(0, |s| s.name.index);
    let full = wal::read_all(&log.decoded, &segments, 0, first_start.saturating_sub(1), 0);
    let commit = log.last_state.map_or(0, |s| s.commit);
    for f in &full.findings {
        let dup = log
            .findings
            .iter()
            .any(|g| g.code == f.code && g.at == f.at);
        if !dup && f.code != "wal.snapshot.not-found" && f.code != "wal.snapshot.term-mismatch" {
            r.warnings.push(Warning::from_finding(f));
        }
    }
    let snap_index = log.chosen.as_ref().map_or(0, snap::SnapFile::index);
    let last = full
        .entries
        .last()
        .map_or(0, |e| e.entry.index)
        .max(snap_index);
    if commit > last {
        r.warnings.push(Warning::new(
            "wal.commit-beyond-last",
            Severity::Error,
            format!("the HardState commit {commit} is beyond the last entry the WAL holds ({last}); etcd panics on start (commit out of range)"),
            "committed entries were lost from the WAL tail; restore the member from a snapshot or re-add it to the cluster",
        ));
    }
    if let Some(m) = log.read.metadata.or(full.metadata) {
        r.identity = Some(Identity {
            member_id: m.node_id,
            cluster_id: m.cluster_id,
            name: None,
        });
    }
    let mut leftovers = Vec::new();
    let mut snap_dbs = Vec::new();
    list_leftovers(&w.dir, &mut leftovers, &mut snap_dbs);
    if let Some(d) = snap_dir {
        list_leftovers(d, &mut leftovers, &mut snap_dbs);
    }
    for l in &leftovers {
        let (sev, msg, action) = if l.ends_with(".broken") {
            (
                Severity::Info,
                format!("{l}: etcd set this file aside as damaged (a torn WAL tail it repaired, or a .snap it could not load)"),
                "keep it for forensics; it can be deleted once the member runs fine",
            )
        } else {
            (
                Severity::Info,
                format!("{l}: a temporary file (preallocated WAL segment, or an interrupted write or defrag)"),
                "nothing to do; etcd removes or reuses it",
            )
        };
        let mut w = Warning::new("datadir.leftover", sev, msg, action);
        w.file = Some(PathBuf::from(l));
        r.warnings.push(w);
    }
    let chosen = log.chosen.as_ref().and_then(|c| {
        log.snaps
            .iter()
            .find(|s| s.selected)
            .map(|s| chosen_snap(&s.name, c))
    });
    let after: Vec<_> = log.read.entries.iter().collect();
    r.raft = Some(RaftReport {
        wal_dir: w.dir.clone(),
        wal_files: w.listing.segments.iter().map(|(n, _)| n.clone()).collect(),
        hard_state: log.last_state.map(HardStateJson::from),
        first_index: full.entries.first().map(|e| e.entry.index),
        first_term: full.entries.first().map(|e| e.entry.term),
        last_index: full.entries.last().map(|e| e.entry.index),
        last_term: full.entries.last().map(|e| e.entry.term),
        entries_after_snapshot: crate::bytes::to_u64(after.len()),
        committed_after_snapshot: crate::bytes::to_u64(log.read.committed().count()),
        uncommitted: crate::bytes::to_u64(
            full.entries
                .iter()
                .filter(|e| e.entry.index > commit)
                .count(),
        ),
        overwritten: crate::bytes::to_u64(full.overwritten.len()),
        stop: log.decoded.stop,
        wal_snapshots: log
            .wal_snaps
            .iter()
            .map(|&(term, index)| TermIndex { term, index })
            .collect(),
        snapshot: chosen,
        snap_files: log.snaps.clone(),
        snap_db_files: snap_dbs,
        leftovers,
    });
    // Membership from the WAL.
    let (snap_m, store) = match &log.chosen {
        Some(c) => {
            let st = v2store::Store::parse(c.data()).ok();
            (st.as_ref().map(membership::from_v2), st)
        }
        None => (None, None),
    };
    if log.chosen.is_some() && store.is_none() {
        r.unreadable
            .push("v2 store JSON of the chosen .snap".into());
    }
    let after_ents: Vec<&raftpb::Entry> = log.read.entries.iter().map(|e| &e.entry).collect();
    let snap_plus_wal = snap_m.clone().map(|m| {
        let (mut m2, _) = membership::apply_conf_changes(m, after_ents.iter().copied(), commit);
        membership::apply_attributes(&mut m2, after_ents.iter().copied(), commit);
        m2
    });
    let full_ents: Vec<&raftpb::Entry> = full.entries.iter().map(|e| &e.entry).collect();
    let (wal_m, events) =
        membership::apply_conf_changes(Membership::default(), full_ents.iter().copied(), commit);
    let wal_complete = full.entries.first().is_some_and(|e| e.entry.index == 1);
    let wal_m = wal_complete.then(|| {
        let mut m = wal_m;
        membership::apply_attributes(&mut m, full_ents.iter().copied(), commit);
        m
    });
    r.membership = Some(MembershipReport {
        db: None,
        snap: snap_m,
        snap_plus_wal,
        wal: wal_m,
        wal_conf_changes: events,
    });
    drop(full_ents);
    let entries = full.entries.into_iter().map(|e| e.entry).collect();
    Some((log, entries))
}

fn inspect_dirs(d: &Dirs, r: &mut InspectReport, opts: InspectOptions) -> Result<()> {
    let mut log = None;
    let mut full_entries: Vec<raftpb::Entry> = Vec::new();
    if let Some(wd) = &d.wal {
        match if wd.is_dir() {
            WalDir::open(wd)
        } else {
            Err(Error::new(ErrorKind::BadPath("no wal directory".into())).in_file(wd))
        } {
            Ok(w) => {
                if let Some((l, ents)) = raft_part(&w, d.snap.as_deref(), r) {
                    log = Some(l);
                    full_entries = ents;
                }
            }
            Err(e) => {
                r.unreadable.push(format!("WAL: {e}"));
                r.warnings.push(Warning::new(
                    "wal.missing",
                    Severity::Error,
                    format!("cannot read the WAL: {e}"),
                    "without the WAL, member and cluster ids and entries not yet in the db are unknown; use the db (or a snapshot) with `snapshot restore`",
                ));
            }
        }
    }
    if r.input == "wal-dir" {
        fill_name(r);
        return Ok(());
    }
    let db_path = d.snap.as_ref().map(|s| s.join("db"));
    let db_src = match &db_path {
        Some(p) if p.is_file() => match Source::open(p) {
            Ok(s) => Some(s),
            Err(e) => {
                r.unreadable.push(format!("db: {e}"));
                None
            }
        },
        Some(p) => {
            r.unreadable
                .push(format!("db: {} does not exist", p.display()));
            None
        }
        None => None,
    };
    let Some(src) = db_src else { return Ok(()) };
    let db_path = src.path().to_path_buf();
    let db = match Db::open(src.bytes()) {
        Ok(db) => db,
        Err(e) => {
            r.unreadable.push(format!("db: {}", e.in_file(&db_path)));
            return Ok(());
        }
    };
    let rep = db_part(
        &db_path,
        crate::bytes::to_u64(src.bytes().len()),
        &db,
        &src,
        r,
        opts,
    );
    // Membership from the db.
    match membership::from_db(&db) {
        Ok((m, problems)) => {
            for p in problems {
                r.warnings.push(Warning::new("db.members.bad", Severity::Warning, p, "the members bucket is damaged; restore from a snapshot or fix with member add/remove"));
            }
            if let Some(mr) = &mut r.membership {
                mr.db = m;
            } else {
                r.membership = Some(MembershipReport {
                    db: m,
                    snap: None,
                    snap_plus_wal: None,
                    wal: None,
                    wal_conf_changes: Vec::new(),
                });
            }
        }
        Err(e) => r
            .unreadable
            .push(format!("db members: {}", e.in_file(&db_path))),
    }
    fill_name(r);
    membership_warnings(r, rep.facts.consistent_index);
    // WAL versus db.
    if let Some(l) = &log {
        let wd = wal_db(l, &full_entries, &db, &rep, r);
        r.wal_db = wd;
    }
    r.db = Some(rep);
    Ok(())
}

/// The member's name, from the first source that knows it.
fn fill_name(r: &mut InspectReport) {
    if let (Some(id), Some(mr)) = (&mut r.identity, &r.membership) {
        let name = [&mr.db, &mr.snap_plus_wal, &mr.wal]
            .iter()
            .filter_map(|m| m.as_ref().and_then(|m| m.get(id.member_id)))
            .map(|m| m.name.clone())
            .find(|n| !n.is_empty());
        id.name = name;
    }
}

fn summary(m: &Membership) -> String {
    m.members
        .iter()
        .map(|x: &Member| {
            format!(
                "{:016x}{}",
                x.id,
                if x.is_learner { "(learner)" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Warns where membership sources disagree. A db behind the WAL (conf
/// changes committed after its consistent index `ci`) is expected to differ
/// until etcd replays them; that is reported as info.
fn membership_warnings(r: &mut InspectReport, ci: Option<u64>) {
    let Some(mr) = &r.membership else { return };
    let pending: Vec<u64> = mr
        .wal_conf_changes
        .iter()
        .filter(|e| e.committed && e.index > ci.unwrap_or(0))
        .map(|e| e.index)
        .collect();
    let mut sources: Vec<(&str, &Membership)> = Vec::new();
    if let Some(m) = &mr.db {
        sources.push(("db members bucket", m));
    }
    if let Some(m) = &mr.snap_plus_wal {
        sources.push((".snap v2 store + WAL conf changes", m));
    }
    if let Some(m) = &mr.wal {
        sources.push(("WAL conf changes", m));
    }
    let mut warns = Vec::new();
    if let Some((first_name, first)) = sources.first() {
        for (name, m) in sources.iter().skip(1) {
            let a: Vec<(u64, bool, &Vec<String>)> = first
                .members
                .iter()
                .map(|x| (x.id, x.is_learner, &x.peer_urls))
                .collect();
            let b: Vec<(u64, bool, &Vec<String>)> = m
                .members
                .iter()
                .map(|x| (x.id, x.is_learner, &x.peer_urls))
                .collect();
            if a != b {
                let explained = first_name.starts_with("db") && !pending.is_empty();
                warns.push(Warning::new(
                    "membership.disagree",
                    if explained { Severity::Info } else { Severity::Warning },
                    format!(
                        "membership differs: {first_name} has [{}], {name} has [{}]{}",
                        summary(first),
                        summary(m),
                        if explained {
                            format!("; conf changes at index {pending:?} are committed but not yet applied to the db (consistent index {})", ci.map_or_else(|| "absent".to_string(), |c| c.to_string()))
                        } else {
                            String::new()
                        }
                    ),
                    "if committed conf changes are beyond the db's consistent index this is expected until etcd replays them; otherwise trust the raft log (WAL/.snap) and fix the member list with `etcdctl member` or restore with --initial-cluster",
                ));
            }
        }
    }
    if let Some(id) = &r.identity {
        if let Some(m) = &mr.db {
            if !m.members.is_empty() && m.get(id.member_id).is_none() {
                warns.push(Warning::new(
                    "membership.self-missing",
                    Severity::Warning,
                    format!("member {:016x} (this WAL's owner) is not in the db's members bucket{}", id.member_id, if m.removed.contains(&id.member_id) { "; it was removed from the cluster" } else { "" }),
                    "this member was removed or the db comes from another member; do not start it as is",
                ));
            }
        }
    }
    r.warnings.extend(warns);
}

fn wal_db(
    l: &RaftLog,
    full: &[raftpb::Entry],
    db: &Db<'_>,
    rep: &DbReport,
    r: &mut InspectReport,
) -> Option<WalDbReport> {
    let ci = rep.facts.consistent_index?;
    let commit = l.last_state.map_or(0, |s| s.commit);
    let beyond: Vec<&raftpb::Entry> = full
        .iter()
        .filter(|e| e.index > ci && e.index <= commit)
        .collect();
    let mut by_kind = BTreeMap::new();
    for e in &beyond {
        let k = entry::payload(e).kind().to_string();
        *by_kind.entry(k).or_insert(0u64) += 1;
    }
    let expected = commit.saturating_sub(ci);
    let contiguous = match beyond.first() {
        Some(e) => e.index == ci.saturating_add(1),
        None => true,
    };
    let replay_complete = contiguous && crate::bytes::to_u64(beyond.len()) == expected;
    let db_revision = match &rep.status {
        Some(s) => Some(s.revision),
        None => crate::etcd::mvcc::last_revision(db)
            .ok()
            .map(|x| x.unwrap_or(0)),
    };
    let writes_beyond = beyond
        .iter()
        .any(|e| matches!(entry::payload(e), Payload::Request { .. }));
    let revision_after_replay =
        if let (true, false, Some(db_revision)) = (replay_complete, writes_beyond, db_revision) {
            // Nothing to apply: skip loading the key space (seconds on a large db).
            Some(
                [
                    rep.facts.scheduled_compact_revision,
                    rep.facts.finished_compact_revision,
                ]
                .iter()
                .flatten()
                .fold(db_revision, |a, b| a.max(*b)),
            )
        } else if replay_complete {
            match Model::from_db(
                db,
                &[
                    rep.facts.scheduled_compact_revision,
                    rep.facts.finished_compact_revision,
                ],
            ) {
                Ok(mut m) => {
                    for e in &beyond {
                        if let Payload::Request { irr, .. } = entry::payload(e) {
                            m.apply(&irr);
                        }
                    }
                    Some(m.revision)
                }
                Err(e) => {
                    r.unreadable.push(format!("db keyspace for replay: {e}"));
                    None
                }
            }
        } else {
            None
        };
    let snap_index = l.chosen.as_ref().map_or(0, snap::SnapFile::index);
    let needs_snap_db = snap_index > ci;
    if !beyond.is_empty() {
        r.warnings.push(Warning::new(
            "wal.ahead-of-db",
            Severity::Info,
            format!(
                "{} committed entries (index {}..{}) are in the WAL but not yet in the db (consistent index {ci}); etcd applies them when it starts",
                beyond.len(),
                ci.saturating_add(1),
                commit
            ),
            "keep the WAL with the db: a copy of member/snap/db alone would lose these entries",
        ));
    }
    if !replay_complete {
        r.warnings.push(Warning::new(
            "wal.replay.incomplete",
            Severity::Error,
            format!("the WAL does not hold every committed entry after the db's consistent index {ci} (up to commit {commit})"),
            "entries are missing between the db and the WAL; the member cannot catch up from its own files; restore it from a snapshot of a healthy member",
        ));
    }
    if needs_snap_db {
        let name = format!("{snap_index:016x}.snap.db");
        let present = r
            .raft
            .as_ref()
            .is_some_and(|x| x.snap_db_files.contains(&name));
        r.warnings.push(Warning::new(
            "db.behind-snapshot",
            if present { Severity::Info } else { Severity::Error },
            format!("the db's consistent index {ci} is below the snapshot index {snap_index}; etcd will look for {name} ({})", if present { "present" } else { "missing" }),
            if present { "nothing to do: etcd will use it" } else { "etcd will fail to start; restore the member from a snapshot" },
        ));
    }
    if let Some(t) = rep.facts.term {
        if t > l.last_state.map_or(t, |s| s.term) {
            r.warnings.push(Warning::new(
                "db.term-ahead",
                Severity::Warning,
                format!("the db's term {t} is above the WAL's HardState term"),
                "the db and the WAL do not belong together; check where the db came from",
            ));
        }
    }
    if ci > commit && commit > 0 {
        r.warnings.push(Warning::new(
            "db.ahead-of-wal",
            Severity::Warning,
            format!("the db's consistent index {ci} is above the WAL's commit {commit}"),
            "the db is newer than the WAL (copied from elsewhere?); etcd 3.5 starts but the member may diverge",
        ));
    }
    Some(WalDbReport {
        consistent_index: ci,
        commit,
        committed_beyond_db: crate::bytes::to_u64(beyond.len()),
        beyond_db_by_kind: by_kind,
        replay_complete,
        db_revision: db_revision.unwrap_or(0),
        revision_after_replay,
        needs_snap_db,
    })
}
