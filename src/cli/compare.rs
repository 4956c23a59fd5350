//! `compare`: several stopped members (and snapshots) side by side.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::output::{table, Align};
use super::wal::Format;
use super::{emit, print_error, EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE};
use etcd_rescue::etcd::membership::id_hex;
use etcd_rescue::ops::compare::{compare, CompareOptions, CompareReport, Verdict};

const HELP: &str = "\
Examples:
  etcd-rescue compare /backup/n1 /backup/n2 /backup/n3        # copies of stopped data dirs
  etcd-rescue compare n1/ n2/ n3/ --keys -w json | jq .findings
  etcd-rescue compare n1/ n2/ n3/ snapshot.db                 # how far to bump when restoring it

Each PATH is a data dir (holding member/), a member dir, or a snapshot/db file.
The table has one row per PATH; HASHKV is etcd's HashKV at the highest revision every
member can hash (the lowest current revision, at or above the highest compact revision).
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
  findings:[{kind, members, detail, groups?, keys?}], members:[row], best_seed
  {member, reason}, bump {highest_revision, margin, restore_from:[{from, revision,
  bump_revision}]}, notes}. IDs are 16-digit hex strings.
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
        Some(rev) => format!("hashkv@{rev}"),
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
                opt(m.member_id.map(id_hex)),
                opt(m.cluster_id.map(id_hex)),
                m.membership.as_ref().map_or_else(
                    || "-".into(),
                    |v| v.iter().map(|x| id_hex(*x)).collect::<Vec<_>>().join(","),
                ),
                rev,
                opt(m.compact_revision),
                opt(m.consistent_index),
                match (m.raft_term, m.raft_commit) {
                    (Some(t), Some(c)) => format!("{t}/{c}"),
                    _ => "-".into(),
                },
                opt(m.hash_kv.map(|h| format!("{h:x}"))),
                opt(m.status_hash.map(|h| format!("{h:x}"))),
            ]
        })
        .collect();
    let mut out = table(&heads, &rows, Align::Left);
    for m in &r.members {
        for u in &m.unreadable {
            let _ = writeln!(out, "unreadable: {}: {u}", m.path);
        }
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    if r.findings.is_empty() {
        out.push_str("findings: none\n");
    } else {
        out.push_str("findings:\n");
        for f in &r.findings {
            let _ = writeln!(
                out,
                "  {} [{}]: {}",
                f.kind.name(),
                f.members.join(", "),
                f.detail
            );
            for k in &f.keys {
                let _ = writeln!(
                    out,
                    "    keys differing at revision {} between {} (a) and {} (b){}:",
                    k.revision,
                    k.a,
                    k.b,
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
            Verdict::Consistent => "consistent",
            Verdict::Divergent => "divergent",
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
