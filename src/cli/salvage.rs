//! `salvage`: recover a damaged db into a new one.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{emit, print_error, EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE};
use crate::ops::salvage::{salvage, SalvageReport};

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

Exit codes: 0 written, nothing known lost; 1 written, some data lost or
damage found (see the report); 2 nothing written.

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
    let text = match a.write_out {
        SalvageOut::Json => format!("{}\n", serde_json::to_string(&r).unwrap_or_default()),
        SalvageOut::Table => render(&r),
    };
    if let Err(e) = emit(&text) {
        print_error(&e);
        return EXIT_UNREADABLE;
    }
    if r.lossy() {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    }
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
            b.reason
                .as_ref()
                .map(|x| format!(" ({x})"))
                .unwrap_or_default()
        );
    }
    let t = &r.tree;
    if t.readable {
        let _ = writeln!(
            s,
            "  vs tree:   {} live keys in the original tree: {} lost, {} only in an older version, {} reappeared from free pages",
            t.tree_live_keys, t.lost_keys, t.stale_keys, t.reappeared_keys
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
    s
}
