//! `salvage`: recover a damaged db into a new one.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::style::{paint, Style};
use super::{emit_written, print_error, EXIT_UNREADABLE};
use etcd_rescue::ops::salvage::{salvage, SalvageReport};

/// Output format of `salvage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum SalvageOut {
    /// A report for people.
    Table,
    /// JSON.
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Reads every page of DAMAGED that looks like a leaf (reachable from the tree
or not), keeps the newest readable version of each key (deleted keys stay
deleted), copies the other buckets that can still be read whole, and writes
a new valid db to --out, marked compacted at the newest revision found.
The input is only read. Restore the result with
`snapshot restore NEW.db --skip-hash-check` (ours or etcdutl's).

Everything not carried over is listed: keys (`tree.lost_keys`, null when the
original tree cannot be read to the end) and whole buckets (`lost_buckets`:
name, entries readable before it failed or null when not found, reason,
consequence). Losing `auth`, `authUsers` or `authRoles` is said loudly: the
restored cluster would come up with auth off or without users.

JSON (-w json): input, output, page_size, scan {slots, leaf_pages,
revision_entries, unreadable_elements, min_revision, max_revision}, keys_seen,
keys_recovered, keys_deleted, compact_revision, buckets [{name, state
(recovered|copied|lost), entries, reason}], lost_buckets [...], warnings
[strings], tree {readable, tree_live_keys, lost_keys, stale_keys,
reappeared_keys, lost_examples}, written {...}.

Exit codes: 0 written, nothing known lost; 1 written, some data lost or
damage found (see the report); 2 nothing written (not a bbolt db, nothing of
etcd's in it, bad --out).

Examples:
  etcd-rescue salvage /backup/broken.db --out /tmp/salvaged.db
  etcd-rescue salvage /var/lib/etcd/member/snap/db --out salvaged.db -w json
  etcd-rescue snapshot restore salvaged.db --skip-hash-check --data-dir /var/lib/etcd-new")]
pub(super) struct SalvageArgs {
    /// The damaged db or snapshot file.
    damaged: PathBuf,
    /// Where to write the new db (must not exist, or be empty).
    #[arg(long)]
    out: PathBuf,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: SalvageOut,
}

pub(super) fn run(a: &SalvageArgs) -> u8 {
    let r = match salvage(&a.damaged, &a.out) {
        Ok(r) => r,
        Err(e) => {
            print_error(&e);
            return EXIT_UNREADABLE;
        }
    };
    emit_written(&r, a.write_out == SalvageOut::Json, render, r.lossy())
}

fn render(r: &SalvageReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "salvaged {} -> {}",
        r.input.display(),
        r.output.display()
    );
    let _ = writeln!(
        s,
        "  scan:      {} page slots, {} leaf pages, {} revision entries, {} unreadable elements (page size {})",
        r.scan.slots, r.scan.leaf_pages, r.scan.revision_entries, r.scan.unreadable_elements, r.page_size
    );
    let _ = writeln!(
        s,
        "  keys:      {} recovered (newest version each), {} deleted, revisions {}..{}",
        r.keys_recovered,
        r.keys_deleted,
        r.scan.min_revision.map_or("-".into(), |v| v.to_string()),
        r.scan.max_revision.map_or("-".into(), |v| v.to_string()),
    );
    if let Some(c) = r.compact_revision {
        let _ = writeln!(
            s,
            "  new db:    compacted at revision {c}; {} pages",
            r.written.pgid
        );
    }
    for b in &r.buckets {
        let _ = writeln!(
            s,
            "  bucket {:<16} {:<9} {} entries{}",
            b.name,
            b.state,
            b.entries,
            if b.state == "lost" {
                " (see LOST below)".to_string()
            } else {
                String::new()
            }
        );
    }
    let t = &r.tree;
    if let (true, Some(lost)) = (t.readable, t.lost_keys) {
        let _ = writeln!(
            s,
            "  vs tree:   {} live keys in the original tree: {lost} lost, {} only in an older version, {} reappeared from free pages",
            t.tree_live_keys, t.stale_keys, t.reappeared_keys
        );
        if !t.lost_examples.is_empty() {
            let _ = writeln!(s, "  lost:      {}", t.lost_examples.join(", "));
        }
    } else {
        let _ = writeln!(
            s,
            "  vs tree:   the original key tree cannot be read to the end, so what was lost cannot be listed exactly"
        );
    }
    // Lost buckets: grouped by reason (a damaged root loses them all at
    // once), then what each loss means.
    let mut reasons: Vec<&str> = Vec::new();
    for b in &r.lost_buckets {
        if !reasons.contains(&b.reason.as_str()) {
            reasons.push(&b.reason);
        }
    }
    for reason in reasons {
        let names: Vec<String> = r
            .lost_buckets
            .iter()
            .filter(|b| b.reason == reason)
            .map(|b| match b.entries_seen {
                Some(n) if n > 0 => format!("{} (at least {n} entries)", b.name),
                _ => b.name.clone(),
            })
            .collect();
        let _ = writeln!(
            s,
            "  {}      buckets not carried over: {} ({reason})",
            paint("LOST", Style::Bad),
            names.join(", ")
        );
    }
    for b in &r.lost_buckets {
        let _ = writeln!(s, "    {}: {}", b.name, b.consequence);
    }
    for w in r.warnings.iter().filter(|w| w.starts_with("AUTH")) {
        let _ = writeln!(s, "  {}", paint(w, Style::Bad));
    }
    s
}
