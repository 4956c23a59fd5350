//! `compare`: read a set of stopped members (data dirs, member dirs) and
//! snapshots, and say whether they hold the same cluster and the same data.
//!
//! Steps:
//! 1. every input is read in parallel with [`inspect_with`] without its db
//!    walk (identity from the WAL metadata, membership, HardState, consistent
//!    index, the revision after WAL replay), plus the db's current revision
//!    from the last key ([`mvcc::last_revision`], a few pages);
//! 2. the common hash revision R is the lowest current revision among the
//!    inputs that hold data; it must be at or above the highest compact
//!    revision, or no common revision can be hashed (a note says so);
//! 3. one walk per db, in parallel: the `snapshot status` walk (status hash
//!    and structural check) with HashKV at R riding along
//!    ([`HashKvVisitor`]; a `keep` pass first only on compacted dbs);
//! 4. findings are derived from the rows (see [`Kind`]); the verdict is
//!    `divergent` when any finding but `lagging` is present.
//!
//! Snapshot files carry no member identity: they take part in the data
//! comparison (hash, lagging, bump) but not in the identity checks.
//! A member whose db fails the structural check gets no hashes (the row says
//! why) and is left out of the data comparison.
//!
//! Bump advice: `--bump-revision` = highest revision reached − the restored
//! revision + margin. "Reached" is per member: the revision after replaying
//! its committed WAL entries (exact when the WAL holds them all, else one per
//! committed entry beyond the db, an upper bound), plus one per uncommitted
//! WAL entry (a txn or put raises the revision by one at most). The margin,
//! max(1000, highest / 100), covers writes that reached a member not given
//! here, or a copy taken while etcd still ran; a larger bump only makes
//! revisions jump further, a smaller one can make watchers miss events.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::etcd::keydiff::{self, KeyDifference};
use crate::etcd::membership::{self, Membership};
use crate::etcd::mvcc::{self, HashKvPlan, HashKvVisitor, TombstoneRule};
use crate::etcd::status;
use crate::formats::bbolt::CheckReport;
use crate::formats::bbolt::Db;
use crate::formats::trailer::Trailer;
use crate::ops::inspect::{inspect_with, InspectOptions, InspectReport};
use crate::source::Source;

use super::input::Opened;

mod judge;

use judge::CommonRevision;

/// Margin added to the smallest bump: at least this many revisions.
pub const BUMP_MARGIN_MIN: i64 = 1_000;
/// Margin added to the smallest bump: at least this share (1/N) of the highest revision.
pub const BUMP_MARGIN_DIVISOR: i64 = 100;

/// Options of `compare`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompareOptions {
    /// List up to this many differing keys between groups (0 = do not diff).
    pub keys: usize,
}

/// A finding kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Key spaces differ at the common revision.
    DifferentData,
    /// A member dir without data beside members that have some.
    EmptyMember,
    /// Members carry different cluster ids.
    ClusterIdMismatch,
    /// Members disagree about who is in the cluster.
    MembershipMismatch,
    /// Two dirs have the same member id.
    DuplicateMember,
    /// A dir's member id is not in the membership the others hold.
    StaleMember,
    /// Same history, behind the others (a warning).
    Lagging,
}

impl Kind {
    /// The stable name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::DifferentData => "different-data",
            Kind::EmptyMember => "empty-member",
            Kind::ClusterIdMismatch => "cluster-id-mismatch",
            Kind::MembershipMismatch => "membership-mismatch",
            Kind::DuplicateMember => "duplicate-member",
            Kind::StaleMember => "stale-member",
            Kind::Lagging => "lagging",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct CompareFinding {
    /// What kind.
    pub kind: Kind,
    /// The inputs concerned (as given).
    pub members: Vec<String>,
    /// What was found and what to do.
    pub detail: String,
    /// For `different-data`: the groups of inputs that agree, largest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Vec<String>>,
    /// The names (`A`, `B`, ...) of `groups`, as in the members' `group` and
    /// the top-level `groups`; empty when the inputs could not be hashed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_names: Vec<String>,
    /// For `different-data` with `--keys`: first differing keys between the
    /// first group and each other group.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyDiffReport>,
}

/// Differing keys between two inputs.
#[derive(Debug, Clone, Serialize)]
pub struct KeyDiffReport {
    /// Side a.
    pub a: String,
    /// Side b.
    pub b: String,
    /// The group of side a.
    pub a_group: Option<String>,
    /// The group of side b.
    pub b_group: Option<String>,
    /// At this revision.
    pub revision: i64,
    /// The first differing keys, in key order.
    pub keys: Vec<KeyDifference>,
    /// More keys differ than listed.
    pub truncated: bool,
}

/// [`membership::ser_id`] (the shared id serializer) for an optional id.
fn ser_opt_id<S: Serializer>(id: &Option<u64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match id {
        Some(i) => membership::ser_id(i, s),
        None => s.serialize_none(),
    }
}

/// [`membership::ser_ids`] (the shared ids serializer) for an optional list.
fn ser_opt_ids<S: Serializer>(
    ids: &Option<Vec<u64>>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match ids {
        Some(v) => membership::ser_ids(v, s),
        None => s.serialize_none(),
    }
}

/// One input's row.
#[derive(Debug, Clone, Serialize)]
pub struct MemberRow {
    /// The input as given.
    pub path: String,
    /// data-dir, member-dir, snapshot, empty-dir.
    pub input: &'static str,
    /// Member name, when a source records it.
    pub name: Option<String>,
    /// Member id (WAL metadata).
    #[serde(serialize_with = "ser_opt_id")]
    pub member_id: Option<u64>,
    /// Cluster id (WAL metadata).
    #[serde(serialize_with = "ser_opt_id")]
    pub cluster_id: Option<u64>,
    /// The member ids it believes are in the cluster.
    #[serde(serialize_with = "ser_opt_ids")]
    pub membership: Option<Vec<u64>>,
    /// Where `membership` comes from (`wal`, `snap+wal`, `db`).
    pub membership_source: Option<&'static str>,
    /// The db's current revision (`snapshot status` REVISION, raised to the compact revision).
    pub revision: Option<i64>,
    /// The revision the member reaches when etcd replays its committed WAL entries.
    pub revision_after_replay: Option<i64>,
    /// An upper bound of the highest revision it ever reached: after replay,
    /// plus one per uncommitted WAL entry.
    pub revision_reached: Option<i64>,
    /// The compact revision (-1: never compacted).
    pub compact_revision: Option<i64>,
    /// The db's consistent index.
    pub consistent_index: Option<u64>,
    /// Raft HardState term.
    pub raft_term: Option<u64>,
    /// Raft HardState commit.
    pub raft_commit: Option<u64>,
    /// HashKV at the common revision.
    pub hash_kv: Option<u32>,
    /// The revision `hash_kv` was taken at (the report's `hash_revision`),
    /// null when there is no hash.
    pub hash_kv_revision: Option<i64>,
    /// The agreeing group (`A`, `B`, ...) this input belongs to, as the
    /// findings and the best seed name it; null when it has no hash.
    pub group: Option<String>,
    /// `snapshot status` hash of the db.
    pub status_hash: Option<u32>,
    /// The input holds no data (no db, or no key revisions).
    pub empty: bool,
    /// What could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

impl MemberRow {
    /// The highest revision this input stands for.
    pub fn effective_revision(&self) -> Option<i64> {
        self.revision_after_replay.or(self.revision)
    }
}

/// The best seed for a restore.
#[derive(Debug, Clone, Serialize)]
pub struct Seed {
    /// The input.
    pub member: String,
    /// Its agreeing group, null when nothing could be hashed.
    pub group: Option<String>,
    /// Why.
    pub reason: String,
}

/// The smallest safe `--bump-revision` for one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct BumpForSnapshot {
    /// The input restored from.
    pub from: String,
    /// Its revision.
    pub revision: i64,
    /// `--bump-revision` to pass.
    pub bump_revision: i64,
}

/// Bump advice.
#[derive(Debug, Clone, Serialize)]
pub struct BumpAdvice {
    /// Highest revision any member reached, WAL entries included.
    pub highest_revision: i64,
    /// The margin added (max(1000, highest/100)).
    pub margin: i64,
    /// Per restorable input (snapshots, and the seed's db).
    pub restore_from: Vec<BumpForSnapshot>,
}

/// `consistent` or `divergent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// No divergence found (lagging members allowed).
    Consistent,
    /// Some finding other than `lagging`.
    Divergent,
}

/// What `compare` found.
#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    /// The verdict.
    pub verdict: Verdict,
    /// Revision the HashKV column is at, if any.
    pub hash_revision: Option<i64>,
    /// Highest compact revision among the inputs.
    pub compact_revision: Option<i64>,
    /// The tombstone rule used for HashKV.
    pub tombstone_rule: TombstoneRule,
    /// The groups of inputs that agree at `hash_revision`, largest first.
    pub groups: Vec<GroupReport>,
    /// Findings.
    pub findings: Vec<CompareFinding>,
    /// One row per input, in the order given.
    pub members: Vec<MemberRow>,
    /// The best seed for a restore.
    pub best_seed: Option<Seed>,
    /// Bump advice.
    pub bump: Option<BumpAdvice>,
    /// Notes (why no hash revision, ...).
    pub notes: Vec<String>,
}

/// One group of inputs whose data agree.
#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    /// `A`, `B`, ...
    pub group: String,
    /// Their HashKV (decimal, as `etcdctl endpoint hashkv` prints it).
    pub hash_kv: u32,
    /// The revision it was taken at.
    pub revision: i64,
    /// The inputs, as given.
    pub members: Vec<String>,
}

/// The input's db path, for the hash pass.
fn db_path_of(path: &Path, r: &InspectReport) -> Option<PathBuf> {
    match r.input {
        "db-file" => Some(path.to_path_buf()),
        _ => r.db.as_ref().map(|d| d.path.clone()),
    }
}

/// Whether the dir holds nothing at all (a wiped data dir).
fn no_entries(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}

fn is_empty_dir(path: &Path) -> bool {
    path.is_dir()
        && !path.join("member").exists()
        && !path.join("wal").exists()
        && !path.join("snap").exists()
}

fn row_from(path: &Path, r: &InspectReport, last: Option<i64>) -> MemberRow {
    let db = r.db.as_ref();
    let compact = db.map(|d| {
        d.facts
            .finished_compact_revision
            .unwrap_or(-1)
            .max(d.facts.scheduled_compact_revision.unwrap_or(-1))
    });
    let revision = last.map(|l| l.max(compact.unwrap_or(-1)));
    let (membership, membership_source) = membership_of(r);
    let hs = r.raft.as_ref().and_then(|x| x.hard_state);
    let wd = r.wal_db.as_ref();
    let after_replay = wd.and_then(|w| {
        w.revision_after_replay.or_else(|| {
            // Replay incomplete: each committed entry beyond the db adds at most one revision.
            i64::try_from(w.committed_beyond_db)
                .ok()
                .map(|n| w.db_revision.saturating_add(n))
        })
    });
    let uncommitted = r
        .raft
        .as_ref()
        .map_or(0, |x| i64::try_from(x.uncommitted).unwrap_or(0));
    let reached = after_replay
        .or(revision)
        .map(|v| v.saturating_add(uncommitted));
    let input = match r.input {
        "db-file" => "snapshot",
        other => other,
    };
    MemberRow {
        path: path.display().to_string(),
        input,
        name: r.identity.as_ref().and_then(|i| i.name.clone()),
        member_id: r.identity.as_ref().map(|i| i.member_id),
        cluster_id: r.identity.as_ref().map(|i| i.cluster_id),
        membership,
        membership_source,
        revision,
        revision_after_replay: after_replay.filter(|a| Some(*a) != revision),
        revision_reached: reached,
        compact_revision: compact,
        consistent_index: db.and_then(|d| d.facts.consistent_index),
        raft_term: hs.map(|h| h.term),
        raft_commit: hs.map(|h| h.commit),
        hash_kv: None,
        hash_kv_revision: None,
        group: None,
        status_hash: None,
        empty: last.is_none() && r.file.is_none(),
        unreadable: r.unreadable.clone(),
    }
}

/// The membership a member believes: raft's view (snapshot + WAL conf
/// changes, or the WAL alone when it holds the whole history), else the db.
fn membership_of(r: &InspectReport) -> (Option<Vec<u64>>, Option<&'static str>) {
    let Some(m) = &r.membership else {
        return (None, None);
    };
    let pick = |m: &Membership| m.ids();
    if let Some(x) = m.snap_plus_wal.as_ref().filter(|x| !x.members.is_empty()) {
        return (Some(pick(x)), Some("snap+wal"));
    }
    if let Some(x) = m.wal.as_ref().filter(|x| !x.members.is_empty()) {
        return (Some(pick(x)), Some("wal"));
    }
    if let Some(x) = m.db.as_ref().filter(|x| !x.members.is_empty()) {
        return (Some(pick(x)), Some("db"));
    }
    (None, None)
}

/// Runs `compare` on `paths`.
pub fn compare(paths: &[PathBuf], opts: CompareOptions) -> Result<CompareReport> {
    let rule = TombstoneRule::V3516;
    // 1. Read every input, one at a time: each one's WAL records are held
    //    while it is read (tens of MiB for a full WAL dir), so the heap stays
    //    that of one member; the db walks below run in parallel.
    let read: Vec<Result<(MemberRow, Option<PathBuf>)>> = paths
        .iter()
        .map(|p| -> Result<(MemberRow, Option<PathBuf>)> {
            if is_empty_dir(p) && !no_entries(p) {
                // A parent folder given by mistake (say, the one holding the
                // copies n1/, n2/, n3/): an input error, not an empty member.
                let inside: Vec<String> = std::fs::read_dir(p)
                    .map(|d| {
                        d.filter_map(std::result::Result::ok)
                            .filter(|e| {
                                let q = e.path();
                                q.join("member").is_dir() || q.join("wal").is_dir()
                            })
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                let hint = if inside.is_empty() {
                    String::new()
                } else {
                    let mut inside = inside;
                    inside.sort();
                    format!(
                        "; it holds data dirs ({}): give each of them instead",
                        inside.join(", ")
                    )
                };
                return Err(Error::new(ErrorKind::BadPath(format!(
                    "not a member's data dir or member dir: it has no member/, snap/ or wal/ and no db{hint}"
                )))
                .in_file(p)
                .with_path_hint("give each member's data dir (the dir holding member/), member dir or snapshot file"));
            }
            if is_empty_dir(p) {
                return Ok((empty_row(p), None));
            }
            let r = inspect_with(p, InspectOptions { status_walk: false })?;
            if r.input == "wal-dir" || r.input == "wal-file" || r.input == "snap-file" {
                return Err(Error::new(ErrorKind::BadPath(
                    "not a data dir, member dir or snapshot: give the data dir (the one holding member/)".into(),
                ))
                .in_file(p));
            }
            if r.input == "db-file" && r.db.is_none() {
                return Err(Error::new(ErrorKind::BadPath(format!(
                    "not a readable snapshot or db: {}",
                    r.unreadable.join("; ")
                )))
                .in_file(p));
            }
            let db_path = db_path_of(p, &r);
            let last = match &db_path {
                Some(d) => {
                    let input = Opened::open_db_file(d)?;
                    let db = input.db_body()?;
                    mvcc::last_revision(&db).map_err(|e| input.locate(e))?
                }
                None => None,
            };
            Ok((row_from(p, &r, last), db_path))
        })
        .collect();
    let mut rows = Vec::new();
    let mut dbs = Vec::new();
    for r in read {
        let (row, db) = r?;
        rows.push(row);
        dbs.push(db);
    }
    // 2. The common revision.
    let CommonRevision {
        data,
        hash_revision,
        max_compact,
        note,
    } = judge::common_revision(&rows);
    let notes: Vec<String> = note.into_iter().collect();
    // 3. One walk per db: the status hash and structural check, with HashKV
    //    at R riding along.
    let walks: Vec<(usize, Result<Walked>)> = (0..rows.len())
        .into_par_iter()
        .filter_map(|i| dbs.get(i).cloned().flatten().map(|p| (i, p)))
        .map(|(i, p)| {
            let at = hash_revision.filter(|_| data.contains(&i));
            (i, walk(&p, at, rule))
        })
        .collect();
    for (i, w) in walks {
        let w = w?;
        if let Some(row) = rows.get_mut(i) {
            row.status_hash = w.status_hash;
            row.hash_kv = w.hash_kv;
            row.hash_kv_revision = w.hash_kv.and(hash_revision);
            row.unreadable.extend(w.problem);
        }
    }
    // 4. The agreeing groups, named once for the table, the findings and the seed.
    let groups = judge::agreement_groups(&rows, hash_revision);
    for (i, row) in rows.iter_mut().enumerate() {
        row.group = groups.of(i).map(|g| g.name.clone());
    }
    // 5. Findings.
    let mut findings = Vec::new();
    if let Some((mut finding, firsts)) =
        judge::different_data(&rows, &groups, hash_revision, opts.keys > 0)
    {
        if let (Some(rev), true) = (hash_revision, opts.keys > 0) {
            if let Some((&a, others)) = firsts.split_first() {
                for &b in others {
                    finding
                        .keys
                        .push(key_diff(&rows, &dbs, a, b, rev, opts.keys)?);
                }
            }
        }
        findings.push(finding);
    }
    judge::empty_members(&rows, &mut findings);
    judge::identity_findings(&rows, &mut findings);
    judge::lagging(&rows, &groups, hash_revision, max_compact, &mut findings);
    let verdict = judge::verdict(&findings);
    let best_seed = judge::best_seed(&rows, &groups, hash_revision);
    let group_reports = groups
        .list
        .iter()
        .filter_map(|g| {
            Some(GroupReport {
                group: g.name.clone(),
                hash_kv: g.hash,
                revision: hash_revision?,
                members: g
                    .rows
                    .iter()
                    .filter_map(|&i| rows.get(i).map(|r| r.path.clone()))
                    .collect(),
            })
        })
        .collect();
    let bump = judge::bump_advice(&rows, best_seed.as_ref());
    Ok(CompareReport {
        verdict,
        hash_revision,
        compact_revision: max_compact,
        tombstone_rule: rule,
        groups: group_reports,
        findings,
        members: rows,
        best_seed,
        bump,
        notes,
    })
}

fn empty_row(p: &Path) -> MemberRow {
    MemberRow {
        path: p.display().to_string(),
        input: "empty-dir",
        name: None,
        member_id: None,
        cluster_id: None,
        membership: None,
        membership_source: None,
        revision: None,
        revision_after_replay: None,
        revision_reached: None,
        compact_revision: None,
        consistent_index: None,
        raft_term: None,
        raft_commit: None,
        hash_kv: None,
        hash_kv_revision: None,
        group: None,
        status_hash: None,
        empty: true,
        unreadable: Vec::new(),
    }
}

struct Walked {
    status_hash: Option<u32>,
    hash_kv: Option<u32>,
    problem: Option<String>,
}

fn walk(db_path: &Path, at: Option<i64>, rule: TombstoneRule) -> Result<Walked> {
    let input = Opened::open_db_file(db_path)?;
    let in_file = |e: Error| input.locate(e);
    let db = input.db_body()?;
    let plan = match at {
        Some(rev) => Some(HashKvPlan::new(&db, rev, rule).map_err(in_file)?),
        None => None,
    };
    let mut report = CheckReport::default();
    let ticker = input.ticker(db.meta().pgid, None);
    let tick = |n: u64| ticker.tick(n);
    let (status, hash_kv) = match &plan {
        Some(plan) => {
            let mut v = HashKvVisitor::new(plan);
            let s = status::compute_with(&db, None, &mut report, &tick, &mut v);
            (s, v.hash())
        }
        None => (
            status::compute_observed(&db, None, &mut report, &tick),
            None,
        ),
    };
    Ok(match status {
        Ok(s) => Walked {
            status_hash: Some(s.hash),
            hash_kv,
            problem: None,
        },
        // A damaged db: its hashes are not trusted; the row says why.
        Err(e) => Walked {
            status_hash: None,
            hash_kv: None,
            problem: Some(format!("{}", in_file(e))),
        },
    })
}

fn key_diff(
    rows: &[MemberRow],
    dbs: &[Option<PathBuf>],
    a: usize,
    b: usize,
    rev: i64,
    limit: usize,
) -> Result<KeyDiffReport> {
    let open = |i: usize| -> Result<Source> {
        let p = dbs
            .get(i)
            .cloned()
            .flatten()
            .ok_or_else(|| Error::new(ErrorKind::BadPath("no db".into())))?;
        Source::open(&p)
    };
    let (sa, sb) = (open(a)?, open(b)?);
    let (da, db) = (
        Db::open(Trailer::body(sa.bytes()))?,
        Db::open(Trailer::body(sb.bytes()))?,
    );
    let (ka, kb) = rayon::join(
        || keydiff::state_at(&da, rev),
        || keydiff::state_at(&db, rev),
    );
    let (ka, kb) = (
        ka.map_err(|e| e.in_file(sa.path()))?,
        kb.map_err(|e| e.in_file(sb.path()))?,
    );
    let (keys, truncated) = keydiff::first_differences(&ka, &kb, limit);
    let name = |i: usize| rows.get(i).map(|r| r.path.clone()).unwrap_or_default();
    let group = |i: usize| rows.get(i).and_then(|r| r.group.clone());
    Ok(KeyDiffReport {
        a: name(a),
        b: name(b),
        a_group: group(a),
        b_group: group(b),
        revision: rev,
        keys,
        truncated,
    })
}
