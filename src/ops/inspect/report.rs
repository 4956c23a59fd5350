//! `inspect`'s report: the types it returns, and the warnings with their codes and actions.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Finding, Severity};
use crate::etcd::dbinfo::DbFacts;
use crate::etcd::membership::{self, ser_id, Membership};
use crate::etcd::raftlog::SnapEntry;
use crate::etcd::status::DbStatus;
use crate::formats::proto::raftpb;
use crate::formats::trailer::Trailer;
use crate::formats::wal::Stop;
use crate::ops::verdict::Verdict;

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
    pub(super) fn new(
        code: &'static str,
        severity: Severity,
        message: String,
        action: &str,
    ) -> Warning {
        Warning {
            code,
            severity,
            file: None,
            offset: None,
            message,
            action: action.into(),
        }
    }

    pub(super) fn from_finding(f: &Finding) -> Warning {
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

/// What to do about a WAL or `.snap` finding, for every command that reports
/// one (`inspect`, `check`, `wal dump`, `v2 ls`).
pub fn action_for(code: &str) -> &'static str {
    match code {
        "wal.tail.torn" | "wal.frame.past-end" => {
            "nothing to do: etcd drops the incomplete last record when it starts (it keeps a copy as <file>.broken)"
        }
        "wal.tail.data-after-end" => "nothing to do unless entries are missing; etcd zeroes these bytes when it opens the WAL",
        "wal.crc.mismatch" | "wal.record.unmarshal" | "wal.frame.too-large" | "wal.crc.seed-mismatch" => {
            "etcd will refuse to start from this WAL; keep a copy of the dir. The db (member/snap/db) is not part of the WAL: `etcd-rescue check <data dir>` says whether it is sound and up to which revision, and `etcd-rescue snapshot restore <data dir>/member/snap/db --skip-hash-check` restores it (what only the WAL held after the damage is lost); `etcd-rescue wal dump --raw` shows the records past the damage; or restore the member from a snapshot of a healthy member"
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

/// What the files say about etcd versions, each with where it was read.
#[derive(Debug, Clone, Serialize, Default)]
pub struct VersionsReport {
    /// `meta/storageVersion` of the db (written by 3.6+ once the cluster version is 3.6+).
    pub storage_version: Option<String>,
    /// `cluster/clusterVersion` of the db.
    pub cluster_version: Option<String>,
    /// The last committed cluster-version change in the WAL (`ClusterVersionSet`
    /// request, or a v2 `PUT /0/version` of 3.4).
    pub wal_cluster_version: Option<String>,
    /// `/0/version` in the v2 store of the chosen `.snap`.
    pub snap_cluster_version: Option<String>,
    /// The etcd that last wrote the dir was at least this `MAJOR.MINOR` (a member's
    /// version is never below the cluster or storage version it writes).
    pub written_by_at_least: Option<String>,
    /// Which of the above `written_by_at_least` comes from.
    pub written_by_source: Option<String>,
    /// Where etcd 3.7+ starts: it reads no `.snap` file but the newest WAL snapshot
    /// record at or below the HardState commit (then the db, then the WAL after it).
    pub start_3_7: Option<TermIndex>,
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
    /// Versions on disk: which etcd wrote the dir, where 3.7 starts.
    pub versions: Option<VersionsReport>,
    /// For a single file.
    pub file: Option<FileReport>,
    /// Warnings, each with what to do.
    pub warnings: Vec<Warning>,
    /// Parts that could not be read, with why.
    pub unreadable: Vec<String>,
    /// The verdict, on `check`'s levels ([`Verdict`]): an error-severity
    /// warning or an unreadable part is `damaged`, or `unusable` when the db
    /// fails the structural check or neither a db nor a WAL could be read.
    pub verdict: Verdict,
}

impl InspectReport {
    /// Whether nothing of etcd's could be read: a single file that is not a
    /// db, `.snap` or WAL file etcd wrote (empty, text, ...). `inspect`
    /// exits 2 for it, as for a path it cannot open.
    pub fn nothing_readable(&self) -> bool {
        self.input == "db-file" && self.db.is_none()
    }

    /// Sets [`InspectReport::verdict`] from the warnings and unreadable parts.
    pub(super) fn judge(&mut self) {
        let mut worst = self.warnings.iter().map(|w| w.severity).max();
        if !self.unreadable.is_empty() {
            worst = Some(Severity::Error);
        }
        let check_failed = self.warnings.iter().any(|w| w.code == "db.check.failed");
        let usable = !check_failed
            && (self.db.is_some() || self.raft.is_some() || self.input == "snap-file");
        self.verdict = Verdict::of_worst(worst, usable);
    }

    /// Whether any warning is of warning or error severity.
    pub fn has_problems(&self) -> bool {
        self.warnings
            .iter()
            .any(|w| w.severity >= Severity::Warning)
            || !self.unreadable.is_empty()
    }
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
