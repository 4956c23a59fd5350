//! `upgrade-check`: what stops a data dir (or each member of a set) from
//! being started by etcd 3.6 or 3.7, each with what to do.
//!
//! The rules, from etcd's source (read, not copied):
//! * v2 custom content: 3.6 loads the `.snap` it would choose and refuses to
//!   start when its v2 store holds more than etcd's own `/0` and the empty
//!   `/1` (`AssertNoV2StoreContent`, `--v2-deprecation=write-only` default).
//!   Confirmed on a real 3.5.36 dir: `testdata/etcd-3.5.36/v2-content`.
//!   3.7 reads no `.snap` at all, but a dir reaches 3.7 only through 3.6.
//! * storage version newer than the target: the schema check at start-up
//!   (`schema.Validate`) has no migration plan from a newer minor and refuses
//!   (`version "3.7.0" is not supported`, real 3.6.17 on a 3.7.3 dir).
//! * learner flags that disagree between the v2 store (`.snap` + WAL) and the
//!   db's `members` bucket (etcd #19557), and members present in one store and
//!   not the other (the "zombie member", #20967/#20995): 3.6 makes the
//!   `members` bucket the authority, so what only the v2 store says is lost
//!   or contradicted after the upgrade.
//! * WAL entries needing a newer etcd than the target (3.6's
//!   `storage/wal/version.go`): of the fields etcd writes, only
//!   `DowngradeVersionTestRequest` (3.6, and its own `ver`) is above 3.5.
//! * one minor step at a time: the last writer (at least the cluster or
//!   storage version on disk) must be the target's previous minor or newer.
//!   etcd has no explicit check, but real 3.7.3 started on a dir 3.5.36 wrote
//!   panics applying its WAL (`unmarshal should never fail`; recorded in
//!   `testdata/upgrade-check/`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Result, Severity};
use crate::etcd::membership::Membership;
use crate::etcd::version::Version;
use crate::ops::inspect::{self, InspectReport};

/// One thing that stops the upgrade.
#[derive(Debug, Clone, Serialize)]
pub struct Blocker {
    /// Stable code (see `codes.rs`).
    pub code: &'static str,
    /// What was found.
    pub message: String,
    /// What to do.
    pub action: String,
}

/// The verdict for one path.
#[derive(Debug, Clone, Serialize)]
pub struct MemberVerdict {
    /// The path given.
    pub path: PathBuf,
    /// The etcd that last wrote it was at least this `MAJOR.MINOR`, and from which file.
    pub written_by_at_least: Option<String>,
    /// Where that was read.
    pub written_by_source: Option<String>,
    /// `meta/storageVersion`.
    pub storage_version: Option<String>,
    /// What stops the upgrade; empty when ready.
    pub blockers: Vec<Blocker>,
    /// Things worth knowing that do not block.
    pub notes: Vec<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct UpgradeCheckReport {
    /// Version of this JSON schema.
    pub format_version: u32,
    /// `3.6` or `3.7`.
    pub target: String,
    /// Per path.
    pub members: Vec<MemberVerdict>,
    /// `ready` or `blocked`.
    pub verdict: &'static str,
}

/// Parses `--to`: `3.6` or `3.7` (a full version is cut to its minor).
pub fn parse_target(s: &str) -> Option<(i64, i64)> {
    let v = Version::parse(s).or_else(|| Version::parse(&format!("{s}.0")))?;
    ((v.major, v.minor) == (3, 6) || (v.major, v.minor) == (3, 7)).then_some((v.major, v.minor))
}

fn minor(v: &str) -> Option<(i64, i64)> {
    Version::parse(v).map(|v| (v.major, v.minor))
}

/// Runs the check on every path; an unreadable path is an error.
pub fn upgrade_check(paths: &[PathBuf], target: (i64, i64)) -> Result<UpgradeCheckReport> {
    let mut members = Vec::new();
    for p in paths {
        members.push(check_one(p, target)?);
    }
    let verdict = if members.iter().all(|m| m.blockers.is_empty()) {
        "ready"
    } else {
        "blocked"
    };
    Ok(UpgradeCheckReport {
        format_version: 1,
        target: format!("{}.{}", target.0, target.1),
        members,
        verdict,
    })
}

fn check_one(path: &Path, target: (i64, i64)) -> Result<MemberVerdict> {
    let r = inspect::inspect(path)?;
    let t = format!("{}.{}", target.0, target.1);
    let v = r.versions.clone().unwrap_or_default();
    let mut b = Vec::new();
    let mut notes = Vec::new();
    if r.db.is_none() {
        b.push(Blocker {
            code: "upgrade.unreadable",
            message: format!("no readable db: {}", r.unreadable.join("; ")),
            action: "upgrade-check needs a data dir or member dir with member/snap/db".into(),
        });
    }
    // Storage version newer than the target.
    if let Some(sv) = v.storage_version.as_deref() {
        if minor(sv).is_some_and(|m| m > target) {
            b.push(Blocker {
                code: "upgrade.storage-newer",
                message: format!("the db's storage version is {sv}, newer than {t}: etcd {t} refuses to start (`version \"{sv}\" is not supported`)"),
                action: format!("this dir was written by a newer etcd; downgrade the cluster first (`etcdctl downgrade validate/enable {t}`) or, offline, `etcdutl migrate --data-dir DIR --target-version {t}`"),
            });
        }
    }
    // One minor step at a time.
    if let Some(w) = v
        .written_by_at_least
        .as_deref()
        .and_then(|w| minor(&format!("{w}.0")))
    {
        if w.0 == target.0 && w.1 + 1 < target.1 {
            b.push(Blocker {
                code: "upgrade.skips-minor",
                message: format!(
                    "last written by etcd {}.{} (or a newer binary in a {}.{} cluster, from {}); etcd upgrades one minor version at a time (etcd 3.7.3 started on a 3.5.36 dir panics applying its WAL: `unmarshal should never fail`)",
                    w.0, w.1, w.0, w.1, v.written_by_source.as_deref().unwrap_or("-")
                ),
                action: format!("upgrade to {}.{} first (start the cluster on it until its storage version is {}.{}.0), then to {t}", target.0, target.1 - 1, target.0, target.1 - 1),
            });
        }
    }
    // v2 custom content (3.6 refuses; 3.7 is reached through 3.6).
    if let Some(s) = r.raft.as_ref().and_then(|rf| rf.snapshot.as_ref()) {
        if s.v2_custom_content == Some(true) {
            let by_3_6 = target == (3, 6);
            b.push(Blocker {
                code: "upgrade.v2-custom-content",
                message: format!(
                    "the v2 store of {} holds custom content ({} user keys under /1){}",
                    s.name,
                    s.v2_user_keys.map_or_else(|| "some".into(), |n| n.to_string()),
                    if by_3_6 { "; etcd 3.6 refuses to start: `detected disallowed custom content in v2store for stage --v2-deprecation=write-only`" } else { "; the dir must pass through 3.6, which refuses it" }
                ),
                action: "on 3.5 with --enable-v2, list the v2 keys (`etcd-rescue v2 ls DIR -r`, or etcdutl 3.5.26+ `check v2store`), move the data to v3, delete the v2 keys (v2 HTTP API DELETE), and let a new .snap be written (--snapshot-count) before upgrading".into(),
            });
        }
    }
    // Membership stores: the v2 store against the db bucket. The v2 store
    // etcd 3.5 holds is the newest .snap plus the WAL after it, or, before
    // the first .snap, the WAL from index 1.
    if let Some(mr) = &r.membership {
        let pending = r
            .warnings
            .iter()
            .any(|w| w.code == "membership.disagree" && w.severity == Severity::Info);
        if let (Some(db), Some(v2)) = (&mr.db, mr.snap_plus_wal.as_ref().or(mr.wal.as_ref())) {
            if pending {
                notes.push("membership conf changes are committed beyond the db's consistent index; the stores are compared after etcd applies them: start the member once on its current version, then rerun".into());
            } else {
                membership_blockers(db, v2, target, &mut b, &mut notes);
            }
        }
    }
    // WAL entries needing a newer etcd than the target.
    if let Some(need) = wal_min_version(&r) {
        if minor(&need).is_some_and(|m| m > target) {
            b.push(Blocker {
                code: "upgrade.wal-newer-entries",
                message: format!("committed WAL entries need etcd {need} (DowngradeVersionTestRequest), newer than {t}"),
                action: "wait for a snapshot past these entries on the newer version (or remove them with etcd's own tools); do not start an older etcd on this WAL".into(),
            });
        }
    }
    if inspect::written_by_3_7(&r) && target == (3, 7) {
        notes.push("already written by etcd 3.7; .snap files are not read by 3.7".into());
    }
    Ok(MemberVerdict {
        path: path.to_path_buf(),
        written_by_at_least: v.written_by_at_least,
        written_by_source: v.written_by_source,
        storage_version: v.storage_version,
        blockers: b,
        notes,
    })
}

fn membership_blockers(
    db: &Membership,
    v2: &Membership,
    target: (i64, i64),
    b: &mut Vec<Blocker>,
    notes: &mut Vec<String>,
) {
    let ids = |m: &Membership| {
        m.members
            .iter()
            .map(|x| (x.id, x.is_learner))
            .collect::<BTreeMap<u64, bool>>()
    };
    let (a, c) = (ids(db), ids(v2));
    for (id, learner) in &a {
        match c.get(id) {
            None => b.push(Blocker {
                code: "upgrade.member-only-in-v3",
                message: format!("member {id:x} is in the db's members bucket but not in the v2 store (.snap + WAL)"),
                action: "a zombie member (etcd #20967): remove it with `etcdctl member remove` on the current version (or upgrade through 3.5.26+, which repairs the stores) before upgrading".into(),
            }),
            // etcd 3.5.1-3.5.19 left a promoted learner a learner in the
            // bucket (#19557). 3.6 repairs that one direction at start
            // (`SyncLearnerPromotionIfNeeded`, and a promotion replayed from
            // the WAL is forced into the bucket): seen on real 3.6.17, which
            // logs "Syncing member in v3store". 3.7 reads no v2 store.
            Some(false) if *learner && target == (3, 6) => notes.push(format!(
                "member {id:x} is a learner in the db's members bucket but a voter in the v2 store (etcd #19557, a promotion made on 3.5.1-3.5.19); etcd 3.6 corrects the bucket when it starts (it logs \"Syncing member in v3store\"), so this does not block"
            )),
            Some(l) if l != learner => b.push(Blocker {
                code: "upgrade.learner-mismatch",
                message: format!("member {id:x} is {} in the db's members bucket but {} in the v2 store", if *learner { "a learner" } else { "a voter" }, if *l { "a learner" } else { "a voter" }),
                action: if *learner {
                    "etcd #19557: start this member once on etcd 3.6 (which copies the promotion into the bucket) before going to 3.7, or promote/re-add it on the current version".into()
                } else {
                    "the bucket says voter where the raft log says learner, and etcd 3.6 does not correct that direction: promote the member (`etcdctl member promote`) or remove and re-add it on the current version so both stores agree, then upgrade".into()
                },
            }),
            Some(_) => {}
        }
    }
    for id in c.keys().filter(|id| !a.contains_key(id)) {
        b.push(Blocker {
            code: "upgrade.member-only-in-v2",
            message: format!("member {id:x} is in the v2 store (.snap + WAL) but not in the db's members bucket; etcd 3.6 reads only the bucket"),
            action: "a zombie member (etcd #20967/#20995): upgrade through etcd 3.5.26+ (which syncs the bucket from the v2 store) or re-add/remove the member on the current version before upgrading".into(),
        });
    }
}

/// The highest version committed WAL entries need, when above 3.5 (only
/// `DowngradeVersionTestRequest` is).
fn wal_min_version(r: &InspectReport) -> Option<String> {
    let rf = r.raft.as_ref()?;
    let wal = crate::etcd::raftlog::WalDir::open(&rf.wal_dir).ok()?;
    let snap_dir = rf.wal_dir.parent().map(|m| m.join("snap"));
    let log = crate::etcd::raftlog::load(&wal, snap_dir.as_deref(), false).ok()?;
    crate::etcd::entry::newest_version_needed(log.read.committed().map(|e| &e.entry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::member::Member;

    fn m(ids: &[(u64, bool)]) -> Membership {
        Membership {
            members: ids
                .iter()
                .map(|&(id, is_learner)| Member {
                    id,
                    is_learner,
                    ..Member::default()
                })
                .collect(),
            removed: Vec::new(),
        }
    }

    // Plain data for the cases no etcd at hand produces (zombies, a voter
    // in the bucket that the raft log calls a learner); the real #19557 case
    // is tested on a real 3.5.1 cluster in tests/cmd_upgrade_check.rs.
    #[test]
    fn zombie_and_learner_mismatch_are_blockers() {
        let (mut b, mut n) = (Vec::new(), Vec::new());
        membership_blockers(
            &m(&[(1, false), (2, true)]),
            &m(&[(1, false), (2, false), (3, false)]),
            (3, 7),
            &mut b,
            &mut n,
        );
        let codes: Vec<_> = b.iter().map(|x| x.code).collect();
        assert_eq!(
            codes,
            ["upgrade.learner-mismatch", "upgrade.member-only-in-v2"]
        );
        // To 3.6, a learner in the bucket that the v2 store calls a voter is
        // repaired by etcd itself: a note. The other direction blocks.
        let (mut b, mut n) = (Vec::new(), Vec::new());
        membership_blockers(
            &m(&[(1, false), (2, true), (5, false)]),
            &m(&[(1, false), (2, false), (5, true)]),
            (3, 6),
            &mut b,
            &mut n,
        );
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!(b.len(), 1);
        assert!(
            b[0].message.starts_with("member 5 is a voter"),
            "{:?}",
            b[0]
        );
        let (mut b, mut n) = (Vec::new(), Vec::new());
        membership_blockers(
            &m(&[(1, false), (4, false)]),
            &m(&[(1, false)]),
            (3, 6),
            &mut b,
            &mut n,
        );
        assert_eq!(b[0].code, "upgrade.member-only-in-v3");
        let (mut b, mut n) = (Vec::new(), Vec::new());
        membership_blockers(&m(&[(1, false)]), &m(&[(1, false)]), (3, 6), &mut b, &mut n);
        assert!(b.is_empty() && n.is_empty());
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target("3.6"), Some((3, 6)));
        assert_eq!(parse_target("3.7.3"), Some((3, 7)));
        assert_eq!(parse_target("3.5"), None);
    }
}
