//! `compare`: several stopped members (and snapshots) side by side.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::output::{table, Align};
use super::style::{paint, Style};
use super::wal::Format;
use super::{emit, print_error, EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE};
use etcd_rescue::etcd::ids::id_x;
use etcd_rescue::ops::compare::{compare, CompareOptions, CompareReport, Kind, Verdict};

const HELP: &str = "\
Examples:
  etcd-rescue compare /backup/n1 /backup/n2 /backup/n3        # copies of stopped data dirs
  etcd-rescue compare n1/ n2/ n3/ --keys -w json | jq .findings
  etcd-rescue compare n1/ n2/ n3/ snapshot.db                 # how far to bump when restoring it

Each PATH is a data dir (holding member/), a member dir, or a snapshot/db file.
The table has one row per PATH. HASHKV AT REV R is etcd's HashKV at revision R, the highest
revision every member can hash (the lowest current revision, at or above the highest
compact revision), in decimal as `etcdctl endpoint hashkv --rev R` prints it; GROUP names
the inputs that agree (the same HashKV at R): A is the largest group, and the findings and
the best seed name the same groups. STATUS HASH is `etcdutl snapshot status`'s hash (hex,
as etcdutl prints it). Member and cluster IDs are printed as etcd prints them (`%x`, as
`etcdctl member list` and etcd's logs); JSON keeps 16-digit hex.
Findings (kind: what it means):
  different-data       key spaces differ at that revision (groups of agreeing members)
  empty-member         a dir without data beside members that have some
  cluster-id-mismatch  members carry different cluster ids
  membership-mismatch  members disagree about who is in the cluster
  duplicate-member     two dirs have the same member id
  stale-member         a dir's id is not in the membership the others hold
  lagging              same history, behind the others (a warning only)
Best seed: the newest member of the largest agreeing group.
Bump: --bump-revision = highest revision any member reached (uncommitted WAL entries
  included) - the restored revision + margin, margin = max(1000, highest / 100), to cover
  writes that reached a member not given here or a copy taken while etcd ran.
JSON (-w json): {verdict, hash_revision, compact_revision, tombstone_rule,
  groups:[{group, hash_kv, revision, members}],
  findings:[{kind, members, detail, groups?, group_names?, keys?:[{a, b, a_group,
  b_group, revision, keys, truncated}]}], members:[{path, input, name, member_id,
  cluster_id, membership, membership_source, revision, revision_after_replay,
  revision_reached, compact_revision, consistent_index, raft_term, raft_commit,
  hash_kv, hash_kv_revision, group, status_hash, empty, unreadable?}],
  best_seed {member, group, reason}, bump {highest_revision, margin,
  restore_from:[{from, revision, bump_revision}]}, notes}.
  IDs are 16-digit hex strings; hashes are numbers (hash_kv as etcdctl prints it).
Exit codes: 0 consistent, 1 divergent, 2 a PATH could not be read.";

/// Compare stopped members and snapshots: identity, membership, data.
#[derive(Debug, Args)]
#[command(after_help = HELP)]
pub(super) struct CompareArgs {
    /// Data dirs, member dirs or snapshot files (at least two).
    #[arg(required = true, num_args = 2..)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: Format,
    /// List the first differing keys between groups that disagree.
    #[arg(long)]
    keys: bool,
    /// How many differing keys `--keys` lists per pair of groups.
    #[arg(long, default_value_t = 20, requires = "keys")]
    max_keys: usize,
}

pub(super) fn run(a: &CompareArgs) -> u8 {
    let opts = CompareOptions {
        keys: if a.keys { a.max_keys.max(1) } else { 0 },
    };
    let spinner =
        super::progress::Spinner::start("comparing", super::progress::total_bytes(&a.paths));
    let result = compare(&a.paths, opts);
    drop(spinner);
    match result {
        Ok(r) => {
            let out = match a.write_out {
                Format::Json => match serde_json::to_string_pretty(&r) {
                    Ok(s) => s + "\n",
                    Err(e) => {
                        eprintln!("Error: cannot render JSON: {e}");
                        return EXIT_UNREADABLE;
                    }
                },
                Format::Table => render(&r),
            };
            if let Err(e) = emit(&out) {
                print_error(&e);
                return EXIT_UNREADABLE;
            }
            match r.verdict {
                Verdict::Consistent => EXIT_OK,
                Verdict::Divergent => EXIT_PROBLEMS,
            }
        }
        Err(e) => {
            print_error(&e);
            EXIT_UNREADABLE
        }
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |x| x.to_string())
}

fn render(r: &CompareReport) -> String {
    let hash_head = match r.hash_revision {
        Some(rev) => format!("hashkv at rev {rev}"),
        None => "hashkv".into(),
    };
    let heads = [
        "member",
        "name",
        "member id",
        "cluster id",
        "membership",
        "revision",
        "compact",
        "consistent index",
        "term/commit",
        "group",
        hash_head.as_str(),
        "status hash",
    ];
    let rows: Vec<Vec<String>> = r
        .members
        .iter()
        .map(|m| {
            let rev = match (m.revision, m.revision_after_replay) {
                (Some(a), Some(b)) => format!("{a} (wal {b})"),
                (a, _) => opt(a),
            };
            vec![
                m.path.clone(),
                m.name.clone().unwrap_or_else(|| "-".into()),
                opt(m.member_id.map(id_x)),
                opt(m.cluster_id.map(id_x)),
                m.membership.as_ref().map_or_else(
                    || "-".into(),
                    |v| v.iter().map(|x| id_x(*x)).collect::<Vec<_>>().join(","),
                ),
                rev,
                match m.compact_revision {
                    Some(c) if c < 0 => "none".into(),
                    c => opt(c),
                },
                opt(m.consistent_index),
                match (m.raft_term, m.raft_commit) {
                    (Some(t), Some(c)) => format!("{t}/{c}"),
                    _ => "-".into(),
                },
                m.group.clone().unwrap_or_else(|| "-".into()),
                // Decimal, as `etcdctl endpoint hashkv` prints it.
                opt(m.hash_kv),
                opt(m.status_hash.map(|h| format!("{h:x}"))),
            ]
        })
        .collect();
    let mut out = table(&heads, &rows, Align::Left);
    for m in &r.members {
        for u in &m.unreadable {
            let _ = writeln!(out, "{}: {}: {u}", paint("unreadable", Style::Warn), m.path);
        }
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    if let (Some(rev), false) = (r.hash_revision, r.groups.is_empty()) {
        let _ = writeln!(
            out,
            "groups that agree (the same HashKV at revision {rev}):"
        );
        for g in &r.groups {
            let _ = writeln!(
                out,
                "  group {}: hashkv {} at revision {}: {}",
                g.group,
                g.hash_kv,
                g.revision,
                g.members.join(", ")
            );
        }
    }
    if r.findings.is_empty() {
        out.push_str("findings: none\n");
    } else {
        out.push_str("findings:\n");
        for f in &r.findings {
            let style = if f.kind == Kind::Lagging {
                Style::Warn
            } else {
                Style::Bad
            };
            let _ = writeln!(
                out,
                "  {} [{}]: {}",
                paint(f.kind.name(), style),
                f.members.join(", "),
                f.detail
            );
            for k in &f.keys {
                let side = |path: &str, g: &Option<String>| match g {
                    Some(g) => format!("group {g} ({path})"),
                    None => path.to_string(),
                };
                let _ = writeln!(
                    out,
                    "    keys differing at revision {} between {} (a) and {} (b){}:",
                    k.revision,
                    side(&k.a, &k.a_group),
                    side(&k.b, &k.b_group),
                    if k.truncated { ", first ones" } else { "" }
                );
                for d in &k.keys {
                    let _ = writeln!(
                        out,
                        "      {:?}  a: {}  b: {}",
                        d.key,
                        d.a_mod_revision
                            .map_or_else(|| "absent".into(), |v| format!("mod {v}")),
                        d.b_mod_revision
                            .map_or_else(|| "absent".into(), |v| format!("mod {v}")),
                    );
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "verdict: {}",
        match r.verdict {
            Verdict::Consistent => paint("consistent", Style::Good),
            Verdict::Divergent => paint("divergent", Style::Bad),
        }
    );
    if let Some(s) = &r.best_seed {
        let _ = writeln!(out, "best seed: {} ({})", s.member, s.reason);
    }
    if let Some(b) = &r.bump {
        let _ = writeln!(
            out,
            "highest revision reached: {} (margin for --bump-revision: {})",
            b.highest_revision, b.margin
        );
        for x in &b.restore_from {
            let _ = writeln!(
                out,
                "  restoring {} (revision {}): --bump-revision {} --mark-compacted",
                x.from, x.revision, x.bump_revision
            );
        }
    }
    out
}
