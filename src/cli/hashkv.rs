//! `hashkv`: etcd's HashKV offline, printed as etcdutl 3.6 `hashkv` does.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::output::{table_with, Align, Border};
use super::{emit_with_notes, print_error, EXIT_UNREADABLE};
use etcd_rescue::etcd::mvcc::{HashKv, TombstoneRule};
use etcd_rescue::ops::hashkv::{hashkv, HashKvOptions, HashKvReport, RuleChoice};

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
    /// `"Hash" : …` lines.
    Fields,
}

/// Whose etcdutl `hashkv` output to follow (only the table differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum CompatArg {
    /// Follow the etcd that wrote the file (`meta/storageVersion` 3.7+ → 3.7, else 3.6).
    Auto,
    /// etcdutl 3.6: ASCII table.
    #[value(name = "3.6")]
    V36,
    /// etcdutl 3.7: table in Unicode box characters.
    #[value(name = "3.7")]
    V37,
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
    /// Print as this etcd version's etcdutl would.
    #[arg(long, value_enum, default_value = "auto")]
    compat: CompatArg,
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
            let border = match a.compat {
                CompatArg::V36 => Border::Ascii,
                CompatArg::V37 => Border::Box,
                CompatArg::Auto if r.storage_version.as_ref().is_some_and(|v| v.at_least(3, 7)) => {
                    Border::Box
                }
                CompatArg::Auto => Border::Ascii,
            };
            emit_with_notes("note", &notes(&r), &render(&r.hash, a.write_out, border))
        }
        Err(e) => {
            print_error(&e);
            EXIT_UNREADABLE
        }
    }
}

/// The notes for stderr: which tombstone rule, and whether the other gives another hash.
fn notes(r: &HashKvReport) -> Vec<String> {
    let mut notes = Vec::new();
    if r.newer_than_known() {
        let v = r
            .storage_version
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        notes.push(format!(
            "{}: written by etcd {v} (meta/storageVersion), newer than any etcd this tool knows (3.4 to 3.7): the hash follows etcd 3.7's HashKV; confirm with `etcdctl endpoint hashkv` or etcdutl {v} before trusting a mismatch or a match",
            r.db_path.display()
        ));
    }
    notes.push(format!(
        "tombstone rule: {}{}",
        r.hash.rule,
        if r.auto_rule {
            ", chosen automatically"
        } else {
            ""
        }
    ));
    if r.hash.rules_differ {
        notes.push(format!(
            "the key bucket holds a tombstone at the compact revision {}: etcd before 3.5.16 \
             (--tombstone-rule legacy) gives a different hash",
            r.hash.compact_revision
        ));
    } else {
        notes.push("both tombstone rules give this hash".into());
    }
    notes
}

/// etcdutl 3.6 `hashkv` output (`printer*.go` `DBHashKV`).
fn render(h: &HashKv, w: HashKvOut, border: Border) -> String {
    let row = vec![
        h.hash.to_string(),
        h.hash_revision.to_string(),
        h.compact_revision.to_string(),
    ];
    match w {
        HashKvOut::Simple => format!("{}\n", row.join(", ")),
        HashKvOut::Table => table_with(
            &["hash", "hash revision", "compact revision"],
            &[row],
            Align::Right,
            border,
        ),
        HashKvOut::Fields => format!(
            "\"Hash\" : {}\n\"Hash revision\" : {}\n\"Compact revision\" : {}\n",
            h.hash, h.hash_revision, h.compact_revision
        ),
        HashKvOut::Json => format!(
            "{{\"hash\":{},\"hashRevision\":{},\"compactRevision\":{}}}\n",
            h.hash, h.hash_revision, h.compact_revision
        ),
    }
}
