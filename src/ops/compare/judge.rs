//! `compare`'s judgement: findings, the common revision, the verdict, the
//! best seed and the bump advice, from the member rows alone. Nothing here
//! reads a file, so it is tested on rows written by hand.

use std::collections::BTreeSet;

use crate::etcd::ids::id_x;

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

/// One group of inputs whose data agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Group {
    /// `A`, `B`, ... (largest group first).
    pub name: String,
    /// Their HashKV at the common revision.
    pub hash: u32,
    /// Row indexes, in the order given.
    pub rows: Vec<usize>,
}

/// The groups of inputs that agree: the same HashKV at the common revision,
/// and not split off as "same raft index, fewer revisions" (see
/// [`behind`]). Largest first (ties: first seen), named `A`, `B`, ... The
/// table's GROUP column, the findings and the best seed all use these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Groups {
    /// The groups.
    pub list: Vec<Group>,
}

/// `A`..`Z`, then `G27`, `G28`, ...
fn group_name(n: usize) -> String {
    match u8::try_from(n).ok().filter(|&n| n < 26) {
        Some(n) => char::from(b'A' + n).to_string(),
        None => format!("G{}", n.saturating_add(1)),
    }
}

impl Groups {
    /// The group of row `i`.
    pub fn of(&self, i: usize) -> Option<&Group> {
        self.list.iter().find(|g| g.rows.contains(&i))
    }

    /// `group A [a, b]`.
    fn describe(&self, rows: &[MemberRow], g: &Group) -> String {
        format!("group {} [{}]", g.name, show(rows, &g.rows))
    }

    /// The distinct groups of `idx`, in group order.
    fn covering(&self, idx: &[usize]) -> Vec<&Group> {
        self.list
            .iter()
            .filter(|g| idx.iter().any(|i| g.rows.contains(i)))
            .collect()
    }

    /// `path (group A)`, or the path alone when row `i` has no group.
    fn tag(&self, rows: &[MemberRow], i: usize) -> String {
        let path = rows.get(i).map(|r| r.path.clone()).unwrap_or_default();
        match self.of(i) {
            Some(g) => format!("{path} (group {})", g.name),
            None => path,
        }
    }
}

/// The agreeing groups of `rows` hashed at `rev` (none without hashes).
pub(super) fn agreement_groups(rows: &[MemberRow], rev: Option<i64>) -> Groups {
    if rev.is_none() {
        return Groups::default();
    }
    let split: Vec<(usize, i64)> = behind(rows, rev).map(|b| b.split).unwrap_or_default();
    let keyed: Vec<(u32, Option<i64>, usize)> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.empty)
        .filter_map(|(i, r)| {
            let h = r.hash_kv?;
            let s = split.iter().find(|(j, _)| *j == i).map(|(_, e)| *e);
            Some((h, s, i))
        })
        .collect();
    // Key: the hash, and for a split-off row its own revision.
    type Key = (u32, Option<i64>);
    let mut groups: Vec<(Key, Vec<usize>)> = Vec::new();
    for (h, s, i) in keyed {
        match groups.iter_mut().find(|(k, _)| *k == (h, s)) {
            Some((_, v)) => v.push(i),
            None => groups.push(((h, s), vec![i])),
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
    Groups {
        list: groups
            .into_iter()
            .enumerate()
            .map(|(n, ((hash, _), rows))| Group {
                name: group_name(n),
                hash,
                rows,
            })
            .collect(),
    }
}

/// A `different-data` finding from the HashKV column at the common revision
/// `rev` (none without one), and the first row of each group, largest group
/// first, for listing the differing keys. `keys_listed`: whether the keys
/// will be listed (else the finding says how to).
pub(super) fn different_data(
    rows: &[MemberRow],
    groups: &Groups,
    rev: Option<i64>,
    keys_listed: bool,
) -> Option<(CompareFinding, Vec<usize>)> {
    let rev = rev?;
    let hashes: BTreeSet<u32> = groups.list.iter().map(|g| g.hash).collect();
    if hashes.len() < 2 {
        return None;
    }
    let members: Vec<usize> = groups
        .list
        .iter()
        .flat_map(|g| g.rows.iter().copied())
        .collect();
    let desc: Vec<String> = groups
        .list
        .iter()
        .map(|g| format!("{} hash {}", groups.describe(rows, g), g.hash))
        .collect();
    let firsts = groups
        .list
        .iter()
        .filter_map(|g| g.rows.first().copied())
        .collect();
    let finding = CompareFinding {
        kind: Kind::DifferentData,
        members: labels(rows, &members),
        detail: format!(
            "the key spaces differ at revision {rev} (HashKV at revision {rev}, as `etcdctl endpoint hashkv --rev {rev}` prints it): {}. They were restored from different snapshots, written separately after a split, or one is corrupt; do not start them together: keep the largest agreeing group (see the best seed), and restore or re-add the others from it{}",
            desc.join(" vs "),
            if keys_listed { "" } else { " (`--keys` lists the first differing keys)" }
        ),
        groups: groups.list.iter().map(|g| labels(rows, &g.rows)).collect(),
        group_names: groups.list.iter().map(|g| g.name.clone()).collect(),
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
        group_names: Vec::new(),
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
            .map(|(c, v)| format!("[{}] cluster {}", show(rows, v), id_x(*c)))
            .collect();
        out.push(CompareFinding {
            kind: Kind::ClusterIdMismatch,
            members: labels(rows, &members),
            detail: format!(
                "the members belong to different clusters: {}; they were bootstrapped or restored separately (another --initial-cluster-token or --initial-cluster): restore every member from the same snapshot with the same --initial-cluster and --initial-cluster-token",
                desc.join(", ")
            ),
            groups: by_cluster.iter().map(|(_, v)| labels(rows, v)).collect(),
            group_names: Vec::new(),
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
                id_x(id)
            ),
            groups: Vec::new(),
            group_names: Vec::new(),
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
                    m.iter().map(|x| id_x(*x)).collect::<Vec<_>>().join(", ")
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
            group_names: Vec::new(),
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
                        r.member_id.map(id_x).unwrap_or_default()
                    )))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            groups: Vec::new(),
            group_names: Vec::new(),
            keys: Vec::new(),
        });
    }
}

/// The raft position a member stands for: its commit (etcd applies up to it
/// on start), else the db's consistent index.
fn position(r: &MemberRow) -> Option<u64> {
    r.raft_commit.or(r.consistent_index)
}

/// Who is behind the newest member on the same history.
pub(super) struct Behind {
    /// The newest revision.
    pub top: i64,
    /// Rows at the top revision.
    pub top_rows: Vec<usize>,
    /// Same raft position as the top, fewer revisions: different data.
    pub split: Vec<(usize, i64)>,
    /// Behind in raft too: lagging.
    pub behind: Vec<(usize, i64)>,
}

/// Rows behind the newest member, on the same history as it (with hashes:
/// the same HashKV at `rev` as a top member).
pub(super) fn behind(rows: &[MemberRow], rev: Option<i64>) -> Option<Behind> {
    let top = rows
        .iter()
        .filter(|r| !r.empty)
        .filter_map(MemberRow::effective_revision)
        .max()?;
    let top_rows: Vec<usize> = (0..rows.len())
        .filter(|&i| {
            rows.get(i)
                .is_some_and(|r| !r.empty && r.effective_revision() == Some(top))
        })
        .collect();
    let tops: Vec<&MemberRow> = top_rows.iter().filter_map(|&i| rows.get(i)).collect();
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
    Some(Behind {
        top,
        top_rows,
        split,
        behind,
    })
}

pub(super) fn lagging(
    rows: &[MemberRow],
    groups: &Groups,
    rev: Option<i64>,
    max_compact: Option<i64>,
    out: &mut Vec<CompareFinding>,
) {
    let Some(Behind {
        top,
        top_rows: top_idx,
        split,
        behind,
    }) = behind(rows, rev)
    else {
        return;
    };
    let at = |v: &[(usize, i64)]| {
        v.iter()
            .map(|(i, e)| format!("{} is at revision {e}", groups.tag(rows, *i)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !split.is_empty() {
        let mut idx: Vec<usize> = split.iter().map(|(i, _)| *i).collect();
        idx.extend(top_idx.iter().copied());
        let involved = groups.covering(&idx);
        let (group_rows, group_names): (Vec<Vec<String>>, Vec<String>) = if involved.is_empty() {
            let split_idx: Vec<usize> = split.iter().map(|(i, _)| *i).collect();
            (
                vec![labels(rows, &top_idx), labels(rows, &split_idx)],
                Vec::new(),
            )
        } else {
            (
                involved.iter().map(|g| labels(rows, &g.rows)).collect(),
                involved.iter().map(|g| g.name.clone()).collect(),
            )
        };
        let tops = top_idx
            .iter()
            .map(|&i| groups.tag(rows, i))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(CompareFinding {
            kind: Kind::DifferentData,
            members: labels(rows, &idx),
            detail: format!(
                "{} while [{tops}] reached revision {top}, yet they stand at the same raft index: raft considers them in sync, so the missing revisions will never be sent and each member serves different data (members restored from different snapshots); restore every member from the same snapshot",
                at(&split),
            ),
            groups: group_rows,
            group_names,
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
        group_names: Vec::new(),
        keys: Vec::new(),
    });
}

/// The newest of `idx` (revision, then consistent index, then commit).
fn newest(rows: &[MemberRow], idx: impl IntoIterator<Item = usize>) -> Option<(usize, i64)> {
    let mut best: Option<(usize, (i64, u64, u64))> = None;
    for i in idx {
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
    best.map(|(i, (rev, _, _))| (i, rev))
}

/// The best seed: the newest member of the largest agreeing group, named as
/// the table and the findings name it. Inputs without a hash (damaged db,
/// no common revision) are seeds only when nothing could be hashed.
pub(super) fn best_seed(rows: &[MemberRow], groups: &Groups, rev: Option<i64>) -> Option<Seed> {
    let tail = |r: &MemberRow| {
        if r.input == "snapshot" {
            ""
        } else {
            "; take `etcdctl snapshot save` from it, or use its member/snap/db with --skip-hash-check"
        }
    };
    let Some(first) = groups.list.first() else {
        let (i, rev) = newest(
            rows,
            (0..rows.len()).filter(|&i| rows.get(i).is_some_and(|r| !r.empty)),
        )?;
        let r = rows.get(i)?;
        return Some(Seed {
            member: r.path.clone(),
            group: None,
            reason: format!(
                "newest input (revision {rev}); its data could not be compared with the others at a common revision, so agreement is not verified{}",
                tail(r)
            ),
        });
    };
    let biggest = first.rows.len();
    let tied: Vec<&Group> = groups
        .list
        .iter()
        .filter(|g| g.rows.len() == biggest)
        .collect();
    let (i, newest_rev) = newest(rows, tied.iter().flat_map(|g| g.rows.iter().copied()))?;
    let r = rows.get(i)?;
    let g = groups.of(i)?;
    let at = rev.map_or_else(String::new, |v| format!(" at revision {v}"));
    let reason = if tied.len() == 1 {
        format!(
            "newest (revision {newest_rev}) of group {}, the largest group of inputs that agree ({biggest}: the same HashKV{at}){}",
            g.name,
            tail(r)
        )
    } else {
        format!(
            "newest (revision {newest_rev}) of group {}; groups {} are the same size ({biggest} input(s) each), so no majority agrees: list the differing keys (`--keys`) and decide which group holds the right data before restoring{}",
            g.name,
            tied.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(" and "),
            tail(r)
        )
    };
    Some(Seed {
        member: r.path.clone(),
        group: Some(g.name.clone()),
        reason,
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
            hash_kv_revision: Some(rev),
            group: None,
            status_hash: None,
            empty: false,
            unreadable: Vec::new(),
        }
    }

    fn kinds(rows: &[MemberRow]) -> Vec<Kind> {
        let mut out = Vec::new();
        let c = common_revision(rows);
        let g = agreement_groups(rows, c.hash_revision);
        if let Some((f, _)) = different_data(rows, &g, c.hash_revision, true) {
            out.push(f);
        }
        empty_members(rows, &mut out);
        identity_findings(rows, &mut out);
        lagging(rows, &g, c.hash_revision, c.max_compact, &mut out);
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
        let g = agreement_groups(&rows, Some(8));
        let seed = best_seed(&rows, &g, Some(8)).unwrap();
        assert_eq!(seed.member, "a");
        assert_eq!(seed.group.as_deref(), Some("A"));
    }

    #[test]
    fn different_hashes_split_the_data() {
        let rows = [row("a", 1, 10, 7), row("b", 2, 10, 7), row("c", 3, 10, 9)];
        let g = agreement_groups(&rows, Some(10));
        let (f, firsts) = different_data(&rows, &g, Some(10), false).unwrap();
        assert_eq!(f.groups, [vec!["a", "b"], vec!["c"]]);
        assert_eq!(f.group_names, ["A", "B"]);
        assert_eq!(firsts, [0, 2]);
        assert!(f.detail.contains("`--keys`"));
        assert!(f.detail.contains("group A [a, b] hash 7"), "{}", f.detail);
        assert!(f.detail.contains("group B [c] hash 9"), "{}", f.detail);
        let seed = best_seed(&rows, &g, Some(10)).unwrap();
        assert_eq!(seed.group.as_deref(), Some("A"));
        assert!(seed.reason.contains("group A"), "{}", seed.reason);
        assert_eq!(verdict(&[f]), Verdict::Divergent);
    }

    /// A damaged member (no hash) is never the seed while others are hashed;
    /// a tie between groups is said, not hidden.
    #[test]
    fn seeds_come_from_hashed_groups_and_ties_are_said() {
        let mut broken = row("x", 4, 50, 0);
        broken.hash_kv = None;
        let rows = [row("a", 1, 10, 7), row("b", 2, 10, 9), broken];
        let g = agreement_groups(&rows, Some(10));
        assert_eq!(g.list.len(), 2);
        let seed = best_seed(&rows, &g, Some(10)).unwrap();
        assert_ne!(seed.member, "x");
        assert!(seed.reason.contains("no majority"), "{}", seed.reason);
        assert_eq!(g.of(2), None);
    }

    /// Same hash, same raft index, fewer revisions: its own group, and the
    /// finding names the groups the table shows.
    #[test]
    fn a_split_member_is_its_own_group() {
        let mut c = row("c", 3, 8, 7);
        c.raft_commit = Some(10);
        c.consistent_index = Some(10);
        let rows = [row("a", 1, 10, 7), row("b", 2, 10, 7), c];
        let g = agreement_groups(&rows, Some(8));
        assert_eq!(g.list.len(), 2);
        assert_eq!(g.of(2).map(|x| x.name.as_str()), Some("B"));
        let mut out = Vec::new();
        lagging(&rows, &g, Some(8), Some(-1), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].group_names, ["A", "B"]);
        assert!(out[0].detail.contains("c (group B)"), "{}", out[0].detail);
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
        let g = agreement_groups(&rows, Some(100));
        let seed = best_seed(&rows, &g, Some(100));
        let b = bump_advice(&rows, seed.as_ref()).unwrap();
        assert_eq!(b.highest_revision, 250_000);
        assert_eq!(b.margin, 2_500);
        let s = b.restore_from.iter().find(|r| r.from == "s.db").unwrap();
        assert_eq!(s.bump_revision, 250_000 - 100 + 2_500);
    }
}
