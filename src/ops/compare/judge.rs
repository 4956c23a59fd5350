//! `compare`'s judgement: findings, the common revision, the verdict, the
//! best seed and the bump advice, from the member rows alone. Nothing here
//! reads a file, so it is tested on rows written by hand.

use std::collections::BTreeSet;

use crate::etcd::membership::id_hex;

use super::{
    BumpAdvice, BumpForSnapshot, CompareFinding, Kind, MemberRow, Seed, Verdict,
    BUMP_MARGIN_DIVISOR, BUMP_MARGIN_MIN,
};

/// The revision every input holding data can be hashed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CommonRevision {
    /// The rows holding data (not empty, with a revision).
    pub data: Vec<usize>,
    /// The lowest current revision among them, if not compacted past.
    pub hash_revision: Option<i64>,
    /// The highest compact revision among them.
    pub max_compact: Option<i64>,
    /// Why there is no hash revision, when there is none though data is.
    pub note: Option<String>,
}

/// The common hash revision R: the lowest current revision among the inputs
/// that hold data, unless a member is compacted past it.
pub(super) fn common_revision(rows: &[MemberRow]) -> CommonRevision {
    let data: Vec<usize> = (0..rows.len())
        .filter(|&i| {
            rows.get(i)
                .is_some_and(|r| !r.empty && r.revision.is_some())
        })
        .collect();
    let min_current = data
        .iter()
        .filter_map(|&i| rows.get(i).and_then(|r| r.revision))
        .min();
    let max_compact = data
        .iter()
        .filter_map(|&i| rows.get(i).and_then(|r| r.compact_revision))
        .max();
    let mut note = None;
    let hash_revision = match (min_current, max_compact) {
        (Some(cur), Some(c)) if c > cur => {
            note = Some(format!(
                "no common revision can be hashed: the lowest current revision is {cur} but a member is compacted at {c}; the members behind cannot be checked against the others"
            ));
            None
        }
        (Some(cur), _) => Some(cur),
        _ => None,
    };
    CommonRevision {
        data,
        hash_revision,
        max_compact,
        note,
    }
}

/// `divergent` when any finding but `lagging` is present.
pub(super) fn verdict(findings: &[CompareFinding]) -> Verdict {
    if findings.iter().any(|f| f.kind != Kind::Lagging) {
        Verdict::Divergent
    } else {
        Verdict::Consistent
    }
}

fn labels(rows: &[MemberRow], idx: &[usize]) -> Vec<String> {
    idx.iter()
        .filter_map(|&i| rows.get(i).map(|r| r.path.clone()))
        .collect()
}

fn show(rows: &[MemberRow], idx: &[usize]) -> String {
    labels(rows, idx).join(", ")
}

/// Groups of row indexes by a key, largest group first (ties: first seen).
fn group_by<K: Ord + Clone>(
    rows: &[MemberRow],
    key: impl Fn(&MemberRow) -> Option<K>,
) -> Vec<(K, Vec<usize>)> {
    let mut groups: Vec<(K, Vec<usize>)> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let Some(k) = key(r) else { continue };
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, v)) => v.push(i),
            None => groups.push((k, vec![i])),
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
    groups
}

/// A `different-data` finding from the HashKV column at the common revision
/// `rev` (none without one), and the first row of each group, largest group
/// first, for listing the differing keys. `keys_listed`: whether the keys
/// will be listed (else the finding says how to).
pub(super) fn different_data(
    rows: &[MemberRow],
    rev: Option<i64>,
    keys_listed: bool,
) -> Option<(CompareFinding, Vec<usize>)> {
    let rev = rev?;
    let groups = group_by(rows, |r| r.hash_kv);
    if groups.len() < 2 {
        return None;
    }
    let members: Vec<usize> = groups.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    let desc: Vec<String> = groups
        .iter()
        .map(|(h, v)| format!("[{}] hash {h}", show(rows, v)))
        .collect();
    let firsts = groups
        .iter()
        .filter_map(|(_, v)| v.first().copied())
        .collect();
    let finding = CompareFinding {
        kind: Kind::DifferentData,
        members: labels(rows, &members),
        detail: format!(
            "the key spaces differ at revision {rev}: {}. They were restored from different snapshots, written separately after a split, or one is corrupt; do not start them together: keep the largest agreeing group (see the best seed), and restore or re-add the others from it{}",
            desc.join(" vs "),
            if keys_listed { "" } else { " (`--keys` lists the first differing keys)" }
        ),
        groups: groups.iter().map(|(_, v)| labels(rows, v)).collect(),
        keys: Vec::new(),
    };
    Some((finding, firsts))
}

pub(super) fn empty_members(rows: &[MemberRow], out: &mut Vec<CompareFinding>) {
    let empty: Vec<usize> = (0..rows.len())
        .filter(|&i| rows.get(i).is_some_and(|r| r.empty))
        .collect();
    let full = rows.iter().any(|r| !r.empty);
    if empty.is_empty() || !full {
        return;
    }
    out.push(CompareFinding {
        kind: Kind::EmptyMember,
        members: labels(rows, &empty),
        detail: format!(
            "{} hold no data while the others do (only some members were restored, or a dir was wiped); started like this the member would join as a new, empty one or form its own cluster: restore it from the same snapshot as the others, or remove it from the cluster and add it back so it copies the leader's data",
            show(rows, &empty)
        ),
        groups: Vec::new(),
        keys: Vec::new(),
    });
}

pub(super) fn identity_findings(rows: &[MemberRow], out: &mut Vec<CompareFinding>) {
    // Cluster ids.
    let by_cluster = group_by(rows, |r| r.cluster_id);
    if by_cluster.len() > 1 {
        let members: Vec<usize> = by_cluster
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        let desc: Vec<String> = by_cluster
            .iter()
            .map(|(c, v)| format!("[{}] cluster {}", show(rows, v), id_hex(*c)))
            .collect();
        out.push(CompareFinding {
            kind: Kind::ClusterIdMismatch,
            members: labels(rows, &members),
            detail: format!(
                "the members belong to different clusters: {}; they were bootstrapped or restored separately (another --initial-cluster-token or --initial-cluster): restore every member from the same snapshot with the same --initial-cluster and --initial-cluster-token",
                desc.join(", ")
            ),
            groups: by_cluster.iter().map(|(_, v)| labels(rows, v)).collect(),
            keys: Vec::new(),
        });
    }
    // Duplicate member ids.
    for (id, v) in group_by(rows, |r| r.member_id) {
        if v.len() < 2 {
            continue;
        }
        out.push(CompareFinding {
            kind: Kind::DuplicateMember,
            members: labels(rows, &v),
            detail: format!(
                "{} carry the same member id {} (the same --name and peer URLs used twice in a restore, or a dir copied): only one of them may run; restore the others with their own --name and --initial-advertise-peer-urls",
                show(rows, &v),
                id_hex(id)
            ),
            groups: Vec::new(),
            keys: Vec::new(),
        });
    }
    // Membership.
    let by_members = group_by(rows, |r| {
        if r.input == "snapshot" {
            None
        } else {
            r.membership.clone()
        }
    });
    if by_members.len() > 1 {
        let members: Vec<usize> = by_members
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        let desc: Vec<String> = by_members
            .iter()
            .map(|(m, v)| {
                format!(
                    "[{}] believe {{{}}}",
                    show(rows, v),
                    m.iter().map(|x| id_hex(*x)).collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        out.push(CompareFinding {
            kind: Kind::MembershipMismatch,
            members: labels(rows, &members),
            detail: format!(
                "the members disagree about who is in the cluster: {}; restore every member with the same --initial-cluster, or fix the member list with `etcdctl member remove/add` on the majority and re-create the odd ones",
                desc.join("; ")
            ),
            groups: by_members.iter().map(|(_, v)| labels(rows, v)).collect(),
            keys: Vec::new(),
        });
    }
    // Stale members: not in any membership the others hold.
    let mut stale = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let Some(id) = r.member_id else { continue };
        let others: Vec<&Vec<u64>> = rows
            .iter()
            .enumerate()
            .filter(|(j, o)| {
                *j != i
                    && o.input != "snapshot"
                    && o.member_id != Some(id)
                    && o.cluster_id == r.cluster_id
            })
            .filter_map(|(_, o)| o.membership.as_ref())
            .collect();
        if !others.is_empty() && others.iter().all(|m| !m.contains(&id)) {
            stale.push(i);
        }
    }
    if !stale.is_empty() {
        out.push(CompareFinding {
            kind: Kind::StaleMember,
            members: labels(rows, &stale),
            detail: format!(
                "{}: the member id is not in the membership the other members hold (an old data dir reused after `member remove`/`member add`, or a dir from another cluster): do not start it; wipe it and let the member join with --initial-cluster-state existing after `etcdctl member add`, or restore it from the same snapshot as the others",
                stale
                    .iter()
                    .filter_map(|&i| rows.get(i).map(|r| format!(
                        "{} ({})",
                        r.path,
                        r.member_id.map(id_hex).unwrap_or_default()
                    )))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            groups: Vec::new(),
            keys: Vec::new(),
        });
    }
}

/// The raft position a member stands for: its commit (etcd applies up to it
/// on start), else the db's consistent index.
fn position(r: &MemberRow) -> Option<u64> {
    r.raft_commit.or(r.consistent_index)
}

pub(super) fn lagging(
    rows: &[MemberRow],
    rev: Option<i64>,
    max_compact: Option<i64>,
    out: &mut Vec<CompareFinding>,
) {
    let Some(top) = rows
        .iter()
        .filter(|r| !r.empty)
        .filter_map(MemberRow::effective_revision)
        .max()
    else {
        return;
    };
    let tops: Vec<&MemberRow> = rows
        .iter()
        .filter(|r| !r.empty && r.effective_revision() == Some(top))
        .collect();
    // With hashes: only members in the same group as a top member lag (the
    // others are already `different-data`).
    let top_hashes: BTreeSet<u32> = tops.iter().filter_map(|r| r.hash_kv).collect();
    let top_position = tops
        .iter()
        .filter(|r| r.input != "snapshot")
        .filter_map(|r| position(r))
        .min();
    let mut behind = Vec::new();
    let mut split = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if r.empty {
            continue;
        }
        let Some(e) = r.effective_revision() else {
            continue;
        };
        if e >= top {
            continue;
        }
        let same_history = match (rev, r.hash_kv) {
            (Some(_), Some(h)) => top_hashes.contains(&h),
            _ => true,
        };
        if !same_history {
            continue;
        }
        // Same raft position but fewer revisions: not behind, but restored
        // from an older snapshot (raft will never send it the difference).
        let raft_level = match (position(r), top_position) {
            (Some(p), Some(t)) => r.input != "snapshot" && p >= t,
            _ => false,
        };
        if raft_level {
            split.push((i, e));
        } else {
            behind.push((i, e));
        }
    }
    let at = |v: &[(usize, i64)]| {
        v.iter()
            .filter_map(|(i, e)| {
                rows.get(*i)
                    .map(|r| format!("{} is at revision {e}", r.path))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !split.is_empty() {
        let mut idx: Vec<usize> = split.iter().map(|(i, _)| *i).collect();
        let top_idx: Vec<usize> = (0..rows.len())
            .filter(|&i| {
                rows.get(i)
                    .is_some_and(|r| !r.empty && r.effective_revision() == Some(top))
            })
            .collect();
        let groups = vec![labels(rows, &top_idx), labels(rows, &idx)];
        idx.extend(top_idx.iter().copied());
        out.push(CompareFinding {
            kind: Kind::DifferentData,
            members: labels(rows, &idx),
            detail: format!(
                "{} while [{}] reached revision {top}, yet they stand at the same raft index: raft considers them in sync, so the missing revisions will never be sent and each member serves different data (members restored from different snapshots); restore every member from the same snapshot",
                at(&split),
                show(rows, &top_idx)
            ),
            groups,
            keys: Vec::new(),
        });
    }
    if behind.is_empty() {
        return;
    }
    let idx: Vec<usize> = behind.iter().map(|(i, _)| *i).collect();
    let unchecked = rev.is_none() && max_compact.is_some();
    out.push(CompareFinding {
        kind: Kind::Lagging,
        members: labels(rows, &idx),
        detail: format!(
            "{} behind the newest member (revision {top}){}: started with the others it catches up from the leader; as a restore source it would lose the newer revisions, so seed from the best seed",
            at(&behind),
            if unchecked {
                "; its data could not be hashed at a common revision (compacted past it), so the shared history is not verified"
            } else {
                ""
            }
        ),
        groups: Vec::new(),
        keys: Vec::new(),
    });
}

pub(super) fn best_seed(rows: &[MemberRow]) -> Option<Seed> {
    let groups = group_by(rows, |r| if r.empty { None } else { Some(r.hash_kv) });
    let biggest = groups.first().map_or(0, |(_, v)| v.len());
    // Among the largest groups, the newest member.
    let mut best: Option<(usize, (i64, u64, u64))> = None;
    for (_, v) in groups.iter().filter(|(_, v)| v.len() == biggest) {
        for &i in v {
            let Some(r) = rows.get(i) else { continue };
            let key = (
                r.effective_revision().unwrap_or(0),
                r.consistent_index.unwrap_or(0),
                r.raft_commit.unwrap_or(0),
            );
            if best.as_ref().is_none_or(|(_, k)| key > *k) {
                best = Some((i, key));
            }
        }
    }
    let (i, (rev, _, _)) = best?;
    let r = rows.get(i)?;
    Some(Seed {
        member: r.path.clone(),
        reason: format!(
            "newest (revision {rev}) among the largest group of {biggest} input(s) that agree{}",
            if r.input == "snapshot" {
                ""
            } else {
                "; take `etcdctl snapshot save` from it, or use its member/snap/db with --skip-hash-check"
            }
        ),
    })
}

pub(super) fn bump_advice(rows: &[MemberRow], seed: Option<&Seed>) -> Option<BumpAdvice> {
    let highest = rows.iter().filter_map(|r| r.revision_reached).max()?;
    let margin = BUMP_MARGIN_MIN.max(highest / BUMP_MARGIN_DIVISOR);
    let mut restore_from = Vec::new();
    for r in rows {
        let is_seed = seed.is_some_and(|s| s.member == r.path);
        if r.input != "snapshot" && !is_seed {
            continue;
        }
        let Some(rev) = r.revision else { continue };
        restore_from.push(BumpForSnapshot {
            from: r.path.clone(),
            revision: rev,
            bump_revision: highest.saturating_sub(rev).saturating_add(margin),
        });
    }
    Some(BumpAdvice {
        highest_revision: highest,
        margin,
        restore_from,
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    /// A data-dir row at `rev`, member `id` of cluster 1 holding members 1..=3.
    fn row(path: &str, id: u64, rev: i64, hash: u32) -> MemberRow {
        MemberRow {
            path: path.into(),
            input: "data-dir",
            name: None,
            member_id: Some(id),
            cluster_id: Some(1),
            membership: Some(vec![1, 2, 3]),
            membership_source: Some("wal"),
            revision: Some(rev),
            revision_after_replay: None,
            revision_reached: Some(rev),
            compact_revision: Some(-1),
            consistent_index: Some(u64::try_from(rev).unwrap()),
            raft_term: Some(2),
            raft_commit: Some(u64::try_from(rev).unwrap()),
            hash_kv: Some(hash),
            status_hash: None,
            empty: false,
            unreadable: Vec::new(),
        }
    }

    fn kinds(rows: &[MemberRow]) -> Vec<Kind> {
        let mut out = Vec::new();
        if let Some((f, _)) = different_data(rows, common_revision(rows).hash_revision, true) {
            out.push(f);
        }
        empty_members(rows, &mut out);
        identity_findings(rows, &mut out);
        let c = common_revision(rows);
        lagging(rows, c.hash_revision, c.max_compact, &mut out);
        out.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn agreeing_members_are_consistent() {
        let rows = [row("a", 1, 10, 7), row("b", 2, 10, 7), row("c", 3, 10, 7)];
        assert!(kinds(&rows).is_empty());
        assert_eq!(common_revision(&rows).hash_revision, Some(10));
        assert_eq!(verdict(&[]), Verdict::Consistent);
    }

    #[test]
    fn a_member_behind_on_the_same_history_lags() {
        let rows = [row("a", 1, 10, 7), row("b", 2, 10, 7), row("c", 3, 8, 7)];
        assert_eq!(kinds(&rows), [Kind::Lagging]);
        let seed = best_seed(&rows).unwrap();
        assert_eq!(seed.member, "a");
    }

    #[test]
    fn different_hashes_split_the_data() {
        let rows = [row("a", 1, 10, 7), row("b", 2, 10, 7), row("c", 3, 10, 9)];
        let (f, firsts) = different_data(&rows, Some(10), false).unwrap();
        assert_eq!(f.groups, [vec!["a", "b"], vec!["c"]]);
        assert_eq!(firsts, [0, 2]);
        assert!(f.detail.contains("`--keys`"));
        assert_eq!(verdict(&[f]), Verdict::Divergent);
    }

    #[test]
    fn identity_problems() {
        let mut other = row("c", 9, 10, 7);
        other.cluster_id = Some(2);
        let rows = [row("a", 1, 10, 7), row("b", 1, 10, 7), other];
        let k = kinds(&rows);
        assert!(k.contains(&Kind::ClusterIdMismatch), "{k:?}");
        assert!(k.contains(&Kind::DuplicateMember), "{k:?}");
    }

    #[test]
    fn compacted_past_the_lowest_revision_has_no_common_revision() {
        let mut ahead = row("b", 2, 20, 7);
        ahead.compact_revision = Some(15);
        let c = common_revision(&[row("a", 1, 10, 7), ahead]);
        assert_eq!(c.hash_revision, None);
        assert_eq!(c.max_compact, Some(15));
        assert!(c.note.is_some());
    }

    #[test]
    fn bump_covers_the_highest_revision_reached_plus_margin() {
        let mut snap = row("s.db", 0, 100, 7);
        snap.input = "snapshot";
        let mut a = row("a", 1, 100, 7);
        a.revision_reached = Some(250_000);
        let rows = [snap, a];
        let seed = best_seed(&rows);
        let b = bump_advice(&rows, seed.as_ref()).unwrap();
        assert_eq!(b.highest_revision, 250_000);
        assert_eq!(b.margin, 2_500);
        let s = b.restore_from.iter().find(|r| r.from == "s.db").unwrap();
        assert_eq!(s.bump_revision, 250_000 - 100 + 2_500);
    }
}
