//! `hashkv`: etcd's HashKV offline, printed as etcdutl 3.6 `hashkv` does.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::output::{table, Align};
use super::{emit, print_error, EXIT_OK, EXIT_UNREADABLE};
use crate::etcd::mvcc::{HashKv, TombstoneRule};
use crate::ops::hashkv::{hashkv, HashKvOptions, RuleChoice};

const EXAMPLES: &str = "\
Examples:
  etcd-rescue hashkv /var/lib/etcd -w json          # compare with `etcdctl endpoint hashkv`
  etcd-rescue hashkv backup.db --rev 1200
  etcd-rescue hashkv backup.db --tombstone-rule legacy   # as etcd < 3.5.16 computes it";

/// Output format of `hashkv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum HashKvOut {
    /// `hash, hash revision, compact revision` on one line.
    Simple,
    /// A bordered table.
    Table,
    /// `{"hash":…,"hashRevision":…,"compactRevision":…}`.
    Json,
}

/// Tombstone-at-compact-revision rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum RuleArg {
    /// The 3.5.16 rule (the rules differ only on files compacted by 3.5.16+).
    Auto,
    /// etcd 3.5.16+, 3.4.34+, 3.6: skip a tombstone at the compact revision.
    #[value(name = "3.5.16")]
    V3516,
    /// etcd before 3.5.16 / 3.4.34: hash it; `--rev` equal to the compact revision is refused.
    Legacy,
}

/// Compute etcd's HashKV (as `etcdctl endpoint hashkv` reports it) from a db.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub(super) struct HashKvArgs {
    /// Snapshot file, bbolt db, member dir or data dir.
    path: PathBuf,
    /// Revision to hash at (default: the current revision).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
    rev: i64,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "simple")]
    write_out: HashKvOut,
    /// Whether a tombstone at exactly the compact revision is hashed.
    #[arg(long, value_enum, default_value = "auto")]
    tombstone_rule: RuleArg,
}

pub(super) fn run(a: &HashKvArgs) -> u8 {
    let opts = HashKvOptions {
        rev: a.rev,
        rule: match a.tombstone_rule {
            RuleArg::Auto => RuleChoice::Auto,
            RuleArg::V3516 => RuleChoice::Fixed(TombstoneRule::V3516),
            RuleArg::Legacy => RuleChoice::Fixed(TombstoneRule::Legacy),
        },
    };
    match hashkv(&a.path, opts) {
        Ok(r) => {
            for n in &r.notes {
                eprintln!("note: {n}");
            }
            if let Err(e) = emit(&render(&r.hash, a.write_out)) {
                print_error(&e);
                return EXIT_UNREADABLE;
            }
            EXIT_OK
        }
        Err(e) => {
            print_error(&e);
            EXIT_UNREADABLE
        }
    }
}

/// etcdutl 3.6 `hashkv` output (`printer*.go` `DBHashKV`).
fn render(h: &HashKv, w: HashKvOut) -> String {
    let row = vec![
        h.hash.to_string(),
        h.hash_revision.to_string(),
        h.compact_revision.to_string(),
    ];
    match w {
        HashKvOut::Simple => format!("{}\n", row.join(", ")),
        HashKvOut::Table => table(
            &["hash", "hash revision", "compact revision"],
            &[row],
            Align::Right,
        ),
        HashKvOut::Json => format!(
            "{{\"hash\":{},\"hashRevision\":{},\"compactRevision\":{}}}\n",
            h.hash, h.hash_revision, h.compact_revision
        ),
    }
}
