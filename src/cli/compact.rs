//! `compact` and `defrag`: etcd's compaction and defragmentation, offline,
//! into a new db file.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{emit_written, print_error, EXIT_UNREADABLE};
use etcd_rescue::etcd::keyspace::Revisions;
use etcd_rescue::etcd::mvcc::TombstoneRule;
use etcd_rescue::ops::compact::{compact, CompactOptions, CompactReport};

/// Output format of `compact` and `defrag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum CompactOut {
    /// A report for people.
    Table,
    /// JSON.
    Json,
}

const JSON_DOC: &str = "\
JSON (-w json): command, input, db_path, output, before {current, compact,
finished_compact, scheduled_compact}, compact_revision, tombstone_rule
(\"3.5.16\" or \"legacy\"; null for defrag), kept {keys_seen,
keys_kept, tombstones_kept, ignored_tombstones} (null for defrag),
records_before, records_after, records_dropped, bytes_dropped,
alarms_removed [{member_id, alarm}], alarms_left, sizes {input_file,
input_db, output_file}, written {page_size, pgid, ...}, check {verdict,
findings, revisions}, notes.

Exit codes: 0 written and checked; 2 nothing written (unreadable input,
revision refused, --out not empty, or the new file failed its check).";

#[derive(Debug, Args)]
#[command(after_help = format!("\
Does offline what `etcdctl compact R` followed by `etcdctl defrag` does:
for every key, the revisions at or below R are dropped except the newest
one of the key's current generation (a key deleted at or below R loses its
whole history; a delete at exactly R is kept, as etcd keeps it until the
next compaction); revisions above R are kept. meta/finishedCompactRev and
meta/scheduledCompactRev are set to R. The result is written compactly (no
free pages, pages filled as etcd's defrag fills them) to --out; every other
bucket is copied. The new file is checked as `check` checks a db before it
is renamed into place; the input is only read.

Refused as etcd refuses it: R above the current revision (\"mvcc: required
revision is a future revision\"), R at or below the db's compact revision
(\"has been compacted\"). --rev 0 compacts at the current revision.
A delete at exactly R is kept as etcd 3.5.16+, 3.4.34+ and 3.6+ keep it;
--tombstone-rule legacy drops it as older etcd does (use it when the
cluster runs such an etcd, so that HashKV agrees across members).
--disarm drops NOSPACE alarm records, so a member restored from the result
does not come up read-only.

{JSON_DOC}

Examples:
  etcd-rescue compact /backup/etcd.db --rev 0 --out /tmp/small.db --disarm
  etcd-rescue compact /var/lib/etcd --rev 812345 --out compacted.db -w json
  etcd-rescue snapshot restore compacted.db --skip-hash-check --data-dir /var/lib/etcd-new"))]
pub(super) struct CompactArgs {
    /// Snapshot file, db file, member dir or data dir.
    input: PathBuf,
    /// Compact at this revision (0: the current revision).
    #[arg(long)]
    rev: i64,
    /// Where to write the new db (must not exist, or be empty).
    #[arg(long)]
    out: PathBuf,
    /// Drop NOSPACE alarm records from the alarm bucket.
    #[arg(long)]
    disarm: bool,
    /// Compact as etcd 3.5.16+/3.4.34+/3.6+ does (keeps a delete at exactly
    /// --rev until the next compaction) or as older etcd does (drops it).
    #[arg(long, value_enum, default_value = "3.5.16")]
    tombstone_rule: RuleArg,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: CompactOut,
}

/// `--tombstone-rule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum RuleArg {
    /// etcd 3.5.16+, 3.4.34+, 3.6, 3.7.
    #[value(name = "3.5.16")]
    V3516,
    /// etcd before 3.5.16 / 3.4.34.
    Legacy,
}

#[derive(Debug, Args)]
#[command(after_help = format!("\
Does offline what `etcdctl defrag` does: every bucket, key and value copied
into a new file without free pages (pages filled as etcd's defrag fills
them); revisions, compaction marks and everything else unchanged. The new
file is checked as `check` checks a db before it is renamed into place; the
input is only read. Memory stays flat: the buckets are streamed.

{JSON_DOC}

Examples:
  etcd-rescue defrag /var/lib/etcd --out /tmp/defragged.db
  etcd-rescue defrag snapshot.db --out small.db --disarm -w json"))]
pub(super) struct DefragArgs {
    /// Snapshot file, db file, member dir or data dir.
    input: PathBuf,
    /// Where to write the new db (must not exist, or be empty).
    #[arg(long)]
    out: PathBuf,
    /// Drop NOSPACE alarm records from the alarm bucket.
    #[arg(long)]
    disarm: bool,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: CompactOut,
}

pub(super) fn run_compact(a: &CompactArgs) -> u8 {
    run(
        CompactOptions {
            input: a.input.clone(),
            out: a.out.clone(),
            rev: Some(a.rev),
            disarm: a.disarm,
            rule: match a.tombstone_rule {
                RuleArg::V3516 => TombstoneRule::V3516,
                RuleArg::Legacy => TombstoneRule::Legacy,
            },
        },
        a.write_out,
    )
}

pub(super) fn run_defrag(a: &DefragArgs) -> u8 {
    run(
        CompactOptions {
            input: a.input.clone(),
            out: a.out.clone(),
            rev: None,
            disarm: a.disarm,
            rule: TombstoneRule::V3516,
        },
        a.write_out,
    )
}

fn run(o: CompactOptions, w: CompactOut) -> u8 {
    let r = match compact(&o) {
        Ok(r) => r,
        Err(e) => {
            print_error(&e);
            return EXIT_UNREADABLE;
        }
    };
    for n in &r.notes {
        eprintln!("{}: {n}", r.command);
    }
    emit_written(&r, w == CompactOut::Json, render, false)
}

#[allow(clippy::cast_precision_loss)]
fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

fn compact_rev(r: &Revisions) -> String {
    if r.finished_compact.is_some() || r.scheduled_compact.is_some() {
        r.compact.to_string()
    } else {
        "none".into()
    }
}

fn render(r: &CompactReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} {} -> {}",
        if r.command == "compact" {
            "compacted"
        } else {
            "defragmented"
        },
        r.db_path.display(),
        r.output.display()
    );
    let b = &r.before;
    let _ = writeln!(
        s,
        "  revision:  current {}, compact revision {} -> {}",
        b.current,
        compact_rev(b),
        compact_rev(&r.check.revisions)
    );
    let _ = writeln!(
        s,
        "  records:   {} -> {} in the key bucket ({} dropped, {} of keys and values)",
        r.records_before,
        r.records_after,
        r.records_dropped,
        mib(r.bytes_dropped)
    );
    if let (Some(k), Some(at)) = (&r.kept, r.compact_revision) {
        let _ = writeln!(
            s,
            "  keys:      {} with a revision at or below {at}: {} kept ({} of them deletes at exactly {at}), {} gone with their history",
            k.keys_seen,
            k.keys_kept,
            k.tombstones_kept,
            k.keys_seen.saturating_sub(k.keys_kept)
        );
    }
    for a in &r.alarms_removed {
        let _ = writeln!(
            s,
            "  alarm:     {} of member {:x} removed",
            a.alarm, a.member_id
        );
    }
    let z = &r.sizes;
    #[allow(clippy::cast_precision_loss)]
    let pct = if z.input_file > 0 {
        100.0 * z.output_file as f64 / z.input_file as f64
    } else {
        0.0
    };
    let _ = writeln!(
        s,
        "  size:      {} ({} bytes) -> {} ({} bytes, {pct:.1}%), {} pages of {} bytes, no free pages",
        mib(z.input_file),
        z.input_file,
        mib(z.output_file),
        z.output_file,
        r.written.pgid,
        r.written.page_size
    );
    let _ = writeln!(
        s,
        "  check:     {}{}",
        r.check.verdict.name(),
        if r.check.findings.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.check.findings.join("; "))
        }
    );
    s
}
