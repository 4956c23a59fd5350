//! `check`: everything that can be verified offline about a snapshot or db,
//! before anyone trusts it for a restore.
//!
//! One walk does the bbolt structural check, the etcd schema check and the
//! status figures; the sha256 trailer is verified in a second pass over the file.
//! For a data dir or member dir, the WAL and `.snap` files are read as
//! `inspect` reads them (CRC chain, metadata, snapshot/WAL agreement, the
//! db's consistent index against the WAL) and their problems join the list.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Finding, Location, Result, Severity};
use crate::etcd::datadir::InputKind;
use crate::etcd::dbinfo::{self, DbFacts};
use crate::etcd::schema;
use crate::etcd::schema_check::{KeyStats, SchemaCheck};
use crate::etcd::status::{self, DbStatus};
use crate::formats::bbolt::{CheckReport, Db, MetaSlot, PageStats, Progress};
use crate::formats::trailer::{self, Trailer};

use super::input::Opened;
use super::verdict::Verdict;
use super::ProgressFn;

/// What kind of file a db input is, judged from its length and trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// `etcdctl snapshot save` output: db + sha256 trailer.
    SavedSnapshot,
    /// A copy of `member/snap/db`: no trailer, a whole number of pages.
    RawDbCopy,
    /// Shorter than the db it describes: a partial download or copy.
    Truncated,
    /// Longer than the db and not a whole number of pages, without a trailer.
    ExtraBytes,
    /// A saved snapshot whose sha256 trailer was cut: fewer than 32 bytes
    /// follow the db (a download or copy cut short).
    PartialTrailer,
}

impl FileKind {
    /// A phrase for people.
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::SavedSnapshot => {
                "saved snapshot (etcdctl snapshot save, with sha256 trailer)"
            }
            FileKind::RawDbCopy => "raw db copy (member/snap/db; no integrity hash)",
            FileKind::Truncated => "truncated file (partial download or copy)",
            FileKind::ExtraBytes => "db with unexpected extra bytes at the end",
            FileKind::PartialTrailer => {
                "saved snapshot cut short: part of its sha256 trailer is missing (truncated download or copy)"
            }
        }
    }
}

/// Sizes that tell what a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sizes {
    /// File length.
    pub file: u64,
    /// `pgid * page_size`.
    pub db: u64,
    /// Page size.
    pub page_size: u32,
    /// High-water mark.
    pub pages: u64,
}

/// The meta pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MetaInfo {
    /// Slot in use.
    pub chosen: u8,
    /// txid of the meta in use.
    pub txid: u64,
    /// Both slots.
    pub slots: [MetaSlot; 2],
}

/// The result of checking one input.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// The path given.
    pub path: PathBuf,
    /// The db file checked.
    pub db_path: PathBuf,
    /// What the file is.
    pub file_kind: FileKind,
    /// Sizes.
    pub sizes: Sizes,
    /// The trailer, verified.
    pub trailer: Trailer,
    /// Meta pages.
    pub meta: MetaInfo,
    /// etcdutl status figures, when the structure allows them.
    pub status: Option<DbStatus>,
    /// etcd facts of the db (meta, cluster, leases, auth, alarms).
    pub facts: DbFacts,
    /// Counts of the key bucket.
    pub keys: KeyStats,
    /// Page statistics.
    pub pages: PageStats,
    /// Every problem, most severe first within each source.
    pub findings: Vec<Finding>,
    /// Findings not listed because there were too many of one code.
    pub suppressed: Vec<(&'static str, u64)>,
    /// True when the verdict is `sound` or `sound-with-notes` (no finding is an error).
    pub sound: bool,
    /// How far the input can be trusted (see [`Verdict`]).
    pub verdict: Verdict,
    /// What to do, one sentence each, when the verdict is not `sound`: the
    /// next step that works today for each damaged part, and what is still usable.
    pub next_steps: Vec<String>,
}

/// Options of `check`.
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// Verify the sha256 trailer (a second pass over the file).
    pub verify_trailer: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            verify_trailer: true,
        }
    }
}

fn classify(file_len: u64, db_size: u64, page_size: u32) -> FileKind {
    let tail = file_len.saturating_sub(db_size);
    if trailer::has_trailer(file_len) {
        FileKind::SavedSnapshot
    } else if file_len < db_size {
        FileKind::Truncated
    } else if tail > 0 && tail < u64::try_from(trailer::TRAILER_LEN).unwrap_or(32) {
        // The db is whole (pgid * page_size, a multiple of 512) and fewer than
        // 32 bytes follow it: what is left of a trailer.
        FileKind::PartialTrailer
    } else if file_len % u64::from(page_size) == 0 {
        FileKind::RawDbCopy
    } else {
        FileKind::ExtraBytes
    }
}

/// Checks one input (snapshot file, db, member dir or data dir).
pub fn check_path(path: &Path, opts: CheckOptions) -> Result<CheckResult> {
    check_path_observed(path, opts, None)
}

/// [`check_path`], reporting progress of the walk.
pub fn check_path_observed(
    path: &Path,
    opts: CheckOptions,
    progress: Option<ProgressFn>,
) -> Result<CheckResult> {
    let input = Opened::open(path)?;
    let (db_path, src) = (&input.db_path, &input.source);
    let total_pages = input.db().map_or(0, |d| d.meta().pgid);
    let ticker = input.ticker(total_pages, progress);
    let release = |n: u64| ticker.tick(n);
    // The sha256 is taken on its own thread, beside the walk.
    let standalone = input.kind == InputKind::File;
    let data = src.bytes();
    let body = Trailer::body(data);
    let deferred = CheckOptions {
        verify_trailer: false,
    };
    let (r, digest) = super::beside_sha256(
        src,
        body,
        opts.verify_trailer && body.len() < data.len(),
        |digest| {
            let r = check_bytes(data, db_path, standalone, &release, deferred);
            (r, digest())
        },
    );
    let mut r = r?;
    // Without a trailer nothing was hashed, and check_bytes has said so.
    if let Some(computed) = digest {
        r.trailer = Trailer::from_digests(data.get(body.len()..).unwrap_or_default(), &computed);
        let db_size = r.sizes.db;
        let loc = Location {
            file: Some(db_path.clone()),
            ..Location::default()
        };
        let extra = trailer_findings(
            &r.trailer,
            &mut r.file_kind,
            r.sizes.file,
            db_size,
            standalone,
            &loc,
        );
        // Findings about the file come first, as check_bytes orders them.
        r.findings.splice(0..0, extra);
    }
    r.path = path.to_path_buf();
    if input.kind != InputKind::File {
        raft_findings(path, &mut r);
    }
    if let Some((pid, _)) = src.lock_holder() {
        r.findings.insert(
            0,
            Finding {
                code: "file.live",
                severity: Severity::Info,
                at: Location {
                    file: Some(db_path.clone()),
                    ..Location::default()
                },
                message: crate::ops::status::live_note(db_path, pid),
            },
        );
    }
    judge(&mut r, input.kind != InputKind::File);
    Ok(r)
}

/// Whether an `inspect` warning is about the raft side of a data dir (WAL,
/// `.snap`, membership, leftovers, db against WAL), which the db walk of
/// `check` does not see.
fn is_raft_code(code: &str) -> bool {
    ["wal.", "snap.", "membership.", "datadir."]
        .iter()
        .any(|p| code.starts_with(p))
        || matches!(
            code,
            "db.behind-snapshot" | "db.ahead-of-wal" | "db.term-ahead" | "db.tmp"
        )
}

/// Adds the WAL and `.snap` findings of a data dir or member dir, read by
/// the same reader as `inspect`.
fn raft_findings(path: &Path, r: &mut CheckResult) {
    let at = |file: Option<PathBuf>, offset: Option<u64>| Location {
        file,
        page: None,
        offset,
    };
    match super::inspect::inspect_with(path, super::inspect::InspectOptions { status_walk: false })
    {
        Ok(rep) => {
            for w in rep.warnings.iter().filter(|w| is_raft_code(w.code)) {
                r.findings.push(Finding {
                    code: w.code,
                    severity: w.severity,
                    at: at(w.file.clone(), w.offset),
                    message: format!("{} (to do: {})", w.message, w.action),
                });
            }
            // What could not be read at all, except the db (checked above).
            for u in rep.unreadable.iter().filter(|u| !u.starts_with("db")) {
                r.findings.push(Finding {
                    code: "datadir.unreadable",
                    severity: Severity::Error,
                    at: at(Some(path.to_path_buf()), None),
                    message: format!("cannot read {u}"),
                });
            }
        }
        Err(e) => r.findings.push(Finding {
            code: "datadir.unreadable",
            severity: Severity::Error,
            at: at(Some(path.to_path_buf()), None),
            message: format!("cannot read the WAL and .snap files: {e}"),
        }),
    }
}

/// Sets the verdict, `sound` and the next steps from the findings.
/// `in_data_dir`: the db was found in a data dir or member dir whose WAL
/// and `.snap` files were read too.
fn judge(r: &mut CheckResult, in_data_dir: bool) {
    let has = |code: &str| r.findings.iter().any(|f| f.code == code);
    // etcd can start on the db only when its buckets and keyspace read whole.
    let usable =
        r.status.is_some() && !has("etcd.schema.missing-bucket") && !has("etcd.meta.unreadable");
    r.verdict = Verdict::of(&r.findings, usable);
    r.sound = r.verdict.is_sound();
    r.next_steps = if r.verdict.is_sound() {
        Vec::new()
    } else {
        next_steps(r, in_data_dir)
    };
}

/// Codes about the db's own bytes (structure and etcd schema).
fn is_db_damage(f: &Finding) -> bool {
    f.severity == Severity::Error
        && (f.code.starts_with("bbolt.") || f.code.starts_with("etcd."))
        && f.code != "bbolt.meta.newer-invalid"
}

/// The next step that works today for each damaged part, and what is
/// still usable. One sentence each.
fn next_steps(r: &CheckResult, in_data_dir: bool) -> Vec<String> {
    let has = |code: &str| r.findings.iter().any(|f| f.code == code);
    let db = r.db_path.display();
    let mut steps = Vec::new();
    let db_damaged = r.findings.iter().any(is_db_damage);
    let raft_damage: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error && is_raft_code(f.code))
        .collect();
    let revision = r.status.as_ref().map(|s| s.revision);
    let ci = r.facts.consistent_index;
    let salvage = format!(
        "`etcd-rescue salvage {db} --out NEW.db` copies every key the pages still hold (and lists what it could not), then `etcd-rescue snapshot restore NEW.db --skip-hash-check ...` restores it"
    );

    let cut = r.file_kind == FileKind::PartialTrailer || r.file_kind == FileKind::Truncated;
    if cut {
        steps.push(format!(
            "{db}: the download or copy was cut short; fetch it again (compare its size with the source's)"
        ));
        if r.file_kind == FileKind::PartialTrailer && !db_damaged {
            steps.push(format!(
                "if this is the only copy: every db page is there and passes the checks above, only the integrity proof is gone; `etcd-rescue snapshot restore {db} --skip-hash-check ...` restores it as it is"
            ));
        }
    } else if has("snapshot.trailer.mismatch") {
        steps.push(format!(
            "{db} was changed after it was saved: use another copy of the snapshot, another member's data dir or an older snapshot that `check` calls sound"
        ));
    }
    if has("bbolt.meta.newer-invalid") {
        let ci = ci.map_or_else(|| "its consistent index".to_string(), |c| c.to_string());
        steps.push(if in_data_dir {
            format!(
                "the entries of the lost transaction are still in this member's WAL (after index {ci}): start etcd on this data dir as it is (a copy of it first): etcd replays the WAL from the db's consistent index; or take the data from another member"
            )
        } else {
            format!(
                "if {db} came from a member's data dir, that member's WAL still holds the lost entries (after index {ci}): start etcd on that data dir (a copy of it first), which replays them; otherwise use another member or a newer snapshot"
            )
        });
    }
    if db_damaged {
        steps.push(if r.verdict == Verdict::Unusable {
            format!("{db} cannot be used by etcd as it is: {salvage}; or use another member's data dir or an older snapshot that `check` calls sound")
        } else {
            format!("{salvage}; or use another member's data dir or an older snapshot that `check` calls sound")
        });
    }
    if !raft_damage.is_empty() {
        let parts: Vec<String> = raft_damage
            .iter()
            .take(3)
            .map(|f| {
                let file =
                    f.at.file
                        .as_ref()
                        .map_or_else(String::new, |p| format!("{} ", p.display()));
                let off =
                    f.at.offset
                        .map_or_else(String::new, |o| format!("at offset {o} "));
                format!("{file}{off}[{}]", f.code)
            })
            .collect();
        steps.push(format!(
            "damaged: the member's WAL or .snap files ({}); etcd will not start on this data dir as it is, and the entries the damaged part held are lost from this member",
            parts.join(", ")
        ));
        if !db_damaged && !cut && !has("bbolt.meta.newer-invalid") {
            steps.push(format!(
                "still usable: the db {db} is sound{}; `etcd-rescue snapshot restore {db} --skip-hash-check ...` restores it (what only the WAL held after that is lost)",
                match (revision, ci) {
                    (Some(rev), Some(ci)) => format!(" up to revision {rev} (consistent index {ci})"),
                    (Some(rev), None) => format!(" up to revision {rev}"),
                    _ => String::new(),
                }
            ));
        }
        steps.push(
            "a healthy member's data dir holds the entries this member lost: restore from that member (or from its snapshot) if one exists".into(),
        );
    }
    if steps.is_empty() {
        steps.push(format!(
            "{salvage}; or use another member's data dir or an older snapshot that `check` calls sound"
        ));
    }
    steps
}

/// Checks a db held in memory (`db_path` names it in findings). `standalone`:
/// the file was given by itself, not found in a data dir, so a missing trailer
/// is worth a note.
pub fn check_bytes(
    data: &[u8],
    db_path: &Path,
    standalone: bool,
    progress: Progress<'_>,
    opts: CheckOptions,
) -> Result<CheckResult> {
    let db_path = db_path.to_path_buf();
    let db = Db::open(data).map_err(|e| e.in_file(&db_path))?;
    let file_len = crate::bytes::to_u64(data.len());
    let sizes = Sizes {
        file: file_len,
        db: db.size(),
        page_size: db.page_size(),
        pages: db.meta().pgid,
    };
    let mut findings = Vec::new();
    let at = |page: Option<u64>| Location {
        file: Some(db_path.clone()),
        page,
        offset: page.and_then(|p| db.offset_of(p)),
    };

    // What the file is, and its trailer.
    let mut file_kind = classify(file_len, db.size(), db.page_size());
    let trailer = Trailer::inspect(data, opts.verify_trailer);
    findings.extend(trailer_findings(
        &trailer,
        &mut file_kind,
        file_len,
        db.size(),
        standalone,
        &at(None),
    ));
    if file_kind == FileKind::Truncated {
        findings.push(Finding::error(
            "file.truncated",
            at(None),
            format!(
                "file has {file_len} bytes but the db spans {} ({} pages of {}): a partial download or copy; fetch it again",
                db.size(),
                db.meta().pgid,
                db.page_size()
            ),
        ));
    }
    if let Some((slot, problem)) = db.meta_choice().other_problem() {
        findings.push(meta_finding(&db, slot, problem, at(Some(u64::from(slot)))));
    }

    // One walk: structure, schema, status.
    let mut report = CheckReport::default();
    let mut schema_check = SchemaCheck::default();
    let status = status::compute_with(&db, None, &mut report, progress, &mut schema_check).ok();
    for mut f in report.findings {
        f.at.file = Some(db_path.clone());
        findings.push(f);
    }
    let has = |name: &[u8]| db.bucket(name).map(|b| b.is_some()).unwrap_or(false);
    let facts = match dbinfo::read(&db) {
        Ok(f) => f,
        Err(e) => {
            findings.push(Finding::error(
                "etcd.meta.unreadable",
                at(None),
                format!("the meta, cluster, lease, auth or alarm bucket cannot be read: {e}"),
            ));
            DbFacts::default()
        }
    };
    for a in &facts.alarms {
        findings.push(Finding::warning(
            "etcd.alarm.active",
            at(None),
            format!(
                "alarm {} raised by member {:x}: a restore keeps it; disarm it (etcdctl alarm disarm) once the cause is fixed",
                a.alarm, a.member_id
            ),
        ));
    }
    if let Some(v) = status.as_ref().and_then(super::status::newer_version) {
        findings.push(Finding {
            code: "db.version.newer",
            severity: Severity::Info,
            at: at(None),
            message: super::status::newer_version_note(&v),
        });
    }
    schema_check.finish(&facts, has(schema::KEY), has(schema::META));
    for mut f in schema_check.findings {
        f.at.file = Some(db_path.clone());
        findings.push(f);
    }
    let sound = !findings.iter().any(|f| f.severity == Severity::Error);
    let mut r = CheckResult {
        path: db_path.clone(),
        db_path,
        file_kind,
        sizes,
        trailer,
        meta: MetaInfo {
            chosen: db.meta_choice().chosen,
            txid: db.meta().txid,
            slots: db.meta_choice().slots,
        },
        status,
        facts,
        keys: schema_check.stats,
        pages: report.stats,
        findings,
        suppressed: schema_check.suppressed,
        sound,
        verdict: Verdict::Sound,
        next_steps: Vec::new(),
    };
    judge(&mut r, false);
    Ok(r)
}

/// What a meta's transaction holds: its consistent index and revision, or
/// why they cannot be read.
fn meta_state(db: &Db<'_>) -> String {
    let ci = dbinfo::read(db).map(|f| f.consistent_index);
    let rev = crate::etcd::keyspace::Revisions::read(db).map(|r| r.current);
    match (ci, rev) {
        (Ok(ci), Ok(rev)) => format!(
            "consistent index {}, revision {rev}",
            ci.map_or_else(|| "absent".to_string(), |c| c.to_string())
        ),
        (Err(e), _) | (_, Err(e)) => format!("unreadable tree ({e})"),
    }
}

/// The finding for an invalid meta page. bbolt silently uses the other one;
/// when the invalid one was the newer, its transaction is lost: damage.
fn meta_finding(
    db: &Db<'_>,
    slot: u8,
    problem: crate::error::MetaProblem,
    at: Location,
) -> Finding {
    let used = db.meta();
    match db.stored_meta(slot).filter(|m| m.txid > used.txid) {
        Some(lost) => {
            let (lost_state, used_state) = (meta_state(&db.with_meta(lost)), meta_state(db));
            let what = if lost_state == used_state {
                "(both trees hold the same consistent index and revision here)"
            } else {
                "and the consistent index and revision go back to the older meta's"
            };
            Finding::error(
                "bbolt.meta.newer-invalid",
                at,
                format!(
                    "meta page {slot}, the newer one (txid {} as stored: {lost_state}), is invalid ({problem}); bbolt silently falls back to meta page {} (txid {}: {used_state}), so transaction {} is lost {what}",
                    lost.txid,
                    1 - slot,
                    used.txid,
                    lost.txid,
                ),
            )
        }
        None => Finding::warning(
            "bbolt.meta.invalid",
            at,
            format!(
                "meta page {slot} is invalid ({problem}); it was the older one, so nothing is lost: the other one (txid {}) is used, as bbolt does",
                used.txid
            ),
        ),
    }
}

/// What the trailer says about the file: findings, and a truncated file
/// recognised by a digest mismatch.
fn trailer_findings(
    trailer: &Trailer,
    file_kind: &mut FileKind,
    file_len: u64,
    db_size: u64,
    standalone: bool,
    at: &Location,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    match (&*file_kind, trailer) {
        (FileKind::SavedSnapshot, Trailer::Mismatch { stored, computed }) => {
            // A trailer-length file whose digest does not match: modified, or a
            // truncated download whose length happens to be 32 mod 512.
            if file_len.saturating_sub(32) < db_size {
                *file_kind = FileKind::Truncated;
            }
            findings.push(Finding::error(
                "snapshot.trailer.mismatch",
                at.clone(),
                format!(
                    "sha256 trailer does not match the file (stored {stored}, computed {computed}): the file was {} after it was saved; a restore refuses it (etcdutl: `expected sha256 ...`)",
                    if *file_kind == FileKind::Truncated { "cut short" } else { "modified or damaged" }
                ),
            ));
        }
        (FileKind::PartialTrailer, _) => findings.push(Finding::error(
            "snapshot.trailer.partial",
            at.clone(),
            format!(
                "only {} of the 32 bytes of the sha256 trailer follow the db ({db_size} bytes): the download or copy was cut short, so the file's integrity cannot be verified (a restore refuses it without --skip-hash-check)",
                file_len.saturating_sub(db_size)
            ),
        )),
        (FileKind::ExtraBytes, _) => findings.push(Finding::warning(
            "file.extra-bytes",
            at.clone(),
            format!(
                "{} bytes follow the db ({db_size} bytes) and they are not a sha256 trailer: the file was appended to or is not what it seems; the db itself is checked below",
                file_len.saturating_sub(db_size)
            ),
        )),
        (FileKind::RawDbCopy, _) if standalone => findings.push(Finding {
            code: "snapshot.trailer.absent",
            severity: Severity::Info,
            at: at.clone(),
            message: "no sha256 trailer: a raw db copy, not `etcdctl snapshot save` output; restore needs --skip-hash-check and may lack what was only in the WAL".into(),
        }),
        _ => {}
    }
    findings
}

/// Checks several inputs; an input that cannot be read gives its error.
pub fn check_all(
    paths: &[PathBuf],
    opts: CheckOptions,
    progress: Option<ProgressFn>,
) -> Vec<Result<CheckResult, Error>> {
    paths
        .iter()
        .map(|p| check_path_observed(p, opts, progress.clone()))
        .collect()
}
