//! `repair db`, `repair wal`: damaged member files into ones etcd starts from.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::{emit_written, print_error, EXIT_PROBLEMS, EXIT_UNREADABLE};
use etcd_rescue::error::{Error, ErrorKind};
use etcd_rescue::ops::repair::db::{revert_meta, DbRepairReport, Position};
use etcd_rescue::ops::repair::wal::{repair_wal, WalRepairReport};

/// Output format of `repair`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum RepairOut {
    /// A report for people.
    Table,
    /// JSON.
    Json,
}

/// `repair` subcommands.
#[derive(Debug, Subcommand)]
pub(super) enum RepairCommand {
    /// A copy of a db that uses its older meta page (drops the last transaction).
    Db(DbArgs),
    /// A copy of a member whose WAL is cut after its last good record, or rebuilt from the db.
    Wal(WalArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Copies DIR (a data dir or member dir) into --out and repairs the WAL of the
copy so that etcd starts from it; DIR is only read.

* A WAL ending in a torn or corrupt record, or whose last file was cut short,
  is cut after its last good record; the damaged file is kept beside it as
  <name>.broken (as etcd's own wal.Repair does for a torn tail).
* Damage in the middle of the log (readable records after it) is refused
  unless --force; the message says which entries cutting there loses and
  whether the db already holds them (its consistent index).
* When what is left cannot start etcd (it ends below the db's consistent
  index, or lost the membership), the WAL is rebuilt from the db: a snapshot
  record at the db's consistent index and term with the db's members
  (learners kept as learners), the same member and cluster IDs, and a .snap
  at that index; the old WAL files are kept as .broken. In a cluster the
  member then catches up from the leader.
* That .snap carries the v2 store (etcd 3.4/3.5 --enable-v2 keys, e.g.
  Patroni's): the input's newest readable .snap at or below the consistent
  index, plus the readable WAL entries after it up to the damage, with the
  membership set from the db (members, removed members, cluster version).
  v2 writes between the index it reaches and the consistent index were in
  the damaged part and are reported lost, unless the member shows no v2 use
  or runs etcd 3.6+ (which applies no v2 requests).

The report gives the damage, the entry indexes lost, whether the db holds
them, and what the output's WAL ends at. JSON (-w json): input, output,
action (none|cut|rebuilt), damage {kind, file, offset, tail, records_after,
message}, lost {entries, first_index, last_index, kept_last_index}, db_consistent_index,
db_term, db_holds_lost, broken_files, rebuilt {reason, index, term,
member_id, cluster_id, voters, learners, snap_file, entries_dropped,
v2_snap, v2_store_index, v2_entries_applied, v2_keys, v2_in_use,
v2_lost_after, v2_keys_not_carried}, last_index, commit, next_steps.

Exit codes: 0 written (or nothing to repair), nothing the db lacks lost; 1
written but committed entries the db lacks were lost (or v2 writes the
rebuilt .snap may miss: rebuilt.v2_lost_after), or refused (nothing
written: mid-log damage without --force, or no way to a startable WAL);
2 unreadable input or bad usage.

Examples:
  etcd-rescue repair wal /var/lib/etcd --out /var/lib/etcd-repaired
  etcd-rescue repair wal /copies/node2 --out /tmp/node2 --force -w json")]
pub(super) struct WalArgs {
    /// The data dir or member dir.
    dir: PathBuf,
    /// The new dir to write (must not exist, or be empty).
    #[arg(long)]
    out: PathBuf,
    /// Also cut damage in the middle of the log (losing what follows it).
    #[arg(long)]
    force: bool,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: RepairOut,
}

#[derive(Debug, Args)]
#[command(after_help = "\
--revert-meta writes a copy of DB whose newer meta page is replaced by the
older one (as `bbolt surgery revert-meta-page`): the last transaction is
dropped, the fix for a db whose newest transaction was damaged by power loss
(a root pointing at a garbage page, page cycles, \"failed to get all
reachable pages\"). The copy is checked as `check` does before it is renamed
into place; when the older meta is unusable too, nothing is written and
`salvage` is the way out. The report says which consistent index, term and
revision the copy falls back to and, given the member's WAL (--wal, or DB
given as a member or data dir), whether the WAL still holds every committed
entry after that index: then nothing is lost, etcd re-applies them when it
starts on the copy with the member's WAL.

JSON (-w json): input, db_path, output, slots [{slot, txid, root, pgid,
problem}], kept_slot, kept_txid, dropped_txid, already_in_use, result
{consistent_index, term, revision, compact_revision}, dropped (same, or null),
check_verdict, check_notes, trailer_dropped, wal {wal_dir, snapshot_index,
first_index, last_index, commit, entries_to_replay, holds_all, reason} or
null, next_steps.

Exit codes: 0 written, nothing known lost; 1 written but the WAL cannot
replay what was dropped, or refused (nothing written: the message says why
and what to do); 2 unreadable input or bad usage.

Examples:
  etcd-rescue repair db /var/lib/etcd --revert-meta --out /tmp/db.reverted
  etcd-rescue repair db broken.db --revert-meta --out fixed.db --wal /var/lib/etcd/member/wal")]
pub(super) struct DbArgs {
    /// The db file, or a member or data dir (its member/snap/db and WAL).
    db: PathBuf,
    /// Use the older meta page (the repair this command makes; required).
    #[arg(long)]
    revert_meta: bool,
    /// Where to write the new db (must not exist, or be empty).
    #[arg(long)]
    out: PathBuf,
    /// The member's WAL: a data dir, member dir or WAL dir.
    #[arg(long)]
    wal: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: RepairOut,
}

pub(super) fn run(c: RepairCommand) -> u8 {
    match c {
        RepairCommand::Db(a) => run_db(&a),
        RepairCommand::Wal(a) => run_wal(&a),
    }
}

fn fail(e: &Error) -> u8 {
    print_error(e);
    if matches!(e.kind, ErrorKind::Refused(_)) {
        EXIT_PROBLEMS
    } else {
        EXIT_UNREADABLE
    }
}

fn run_db(a: &DbArgs) -> u8 {
    if !a.revert_meta {
        return fail(&Error::new(ErrorKind::Usage(
            "name the repair: --revert-meta (use the older meta page)".into(),
        )));
    }
    let r = match revert_meta(&a.db, &a.out, a.wal.as_deref()) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    emit_written(&r, a.write_out == RepairOut::Json, render_db, r.lossy())
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn pos(p: &Position) -> String {
    format!(
        "consistent index {}, term {}, revision {}, compact revision {}",
        opt(p.consistent_index),
        opt(p.term),
        opt(p.revision),
        opt(p.compact_revision)
    )
}

fn render_db(r: &DbRepairReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "reverted meta of {} -> {}",
        r.db_path.display(),
        r.output.display()
    );
    for sl in &r.slots {
        let _ = writeln!(
            s,
            "  meta {}:    txid {}, root page {}, {} pages{}",
            sl.slot,
            opt(sl.txid),
            opt(sl.root),
            opt(sl.pgid),
            sl.problem
                .as_ref()
                .map_or_else(String::new, |p| format!(" (invalid: {p})"))
        );
    }
    let _ = writeln!(
        s,
        "  kept:      meta {} (txid {}){}; transaction {} dropped",
        r.kept_slot,
        r.kept_txid,
        if r.already_in_use {
            ", which bbolt already used (the newer meta is invalid)"
        } else {
            ""
        },
        opt(r.dropped_txid)
    );
    let _ = writeln!(s, "  result:    {}", pos(&r.result));
    match &r.dropped {
        Some(d) => {
            let _ = writeln!(s, "  dropped:   {}", pos(d));
        }
        None => {
            let _ = writeln!(
                s,
                "  dropped:   the dropped transaction's tree cannot be read"
            );
        }
    }
    let _ = writeln!(
        s,
        "  check:     {}{}",
        r.check_verdict,
        if r.check_notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.check_notes.join("; "))
        }
    );
    if r.trailer_dropped {
        let _ = writeln!(
            s,
            "  trailer:   the input's sha256 trailer is not carried over (it would not match)"
        );
    }
    match &r.wal {
        Some(w) => {
            let _ = writeln!(
                s,
                "  wal:       {}: snapshot {}, entries {}..{}, commit {}; {} committed entries after the consistent index to re-apply: {}",
                w.wal_dir.display(),
                w.snapshot_index,
                opt(w.first_index),
                opt(w.last_index),
                w.commit,
                w.entries_to_replay,
                if w.holds_all {
                    "all in the WAL, nothing lost".to_string()
                } else {
                    format!("NOT all replayable: {}", w.reason.as_deref().unwrap_or("?"))
                }
            );
        }
        None => {
            let _ = writeln!(s, "  wal:       not given");
        }
    }
    for n in &r.next_steps {
        let _ = writeln!(s, "  next:      {n}");
    }
    s
}

fn run_wal(a: &WalArgs) -> u8 {
    let r = match repair_wal(&a.dir, &a.out, a.force) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    emit_written(&r, a.write_out == RepairOut::Json, render_wal, r.lossy())
}

fn render_wal(r: &WalRepairReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "repair wal {} -> {} ({})",
        r.input.display(),
        r.output
            .as_ref()
            .map_or_else(|| "nothing written".into(), |p| p.display().to_string()),
        r.action
    );
    if let Some(d) = &r.damage {
        let _ = writeln!(
            s,
            "  damage:    {:?} at offset {} of {} ({}){}",
            d.kind,
            d.offset,
            d.file,
            if d.tail { "tail" } else { "middle of the log" },
            if d.message.is_empty() {
                String::new()
            } else {
                format!(": {}", d.message)
            }
        );
    }
    let _ = writeln!(
        s,
        "  lost:      {} readable entries{}{}; db consistent index {}{}",
        r.lost.entries,
        r.lost
            .kept_last_index
            .filter(|_| r.damage.is_some())
            .map_or_else(String::new, |k| format!(", everything after index {k}")),
        match (r.lost.first_index, r.lost.last_index) {
            (Some(a), Some(b)) => format!(" (indexes {a}..{b})"),
            _ => String::new(),
        },
        opt(r.db_consistent_index),
        match r.db_holds_lost {
            Some(true) => ": the db already holds them",
            Some(false) => ": some are NOT in the db",
            None => "",
        }
    );
    if !r.broken_files.is_empty() {
        let _ = writeln!(s, "  kept:      {}", r.broken_files.join(", "));
    }
    if let Some(b) = &r.rebuilt {
        let _ = writeln!(s, "  rebuilt:   {}", b.reason);
        let _ = writeln!(
            s,
            "             snapshot at index {} term {}, member {}, cluster {}, voters {}{}, {}",
            b.index,
            b.term,
            b.member_id,
            b.cluster_id,
            b.voters.join(","),
            if b.learners.is_empty() {
                String::new()
            } else {
                format!(", learners {}", b.learners.join(","))
            },
            b.snap_file
        );
        let _ = writeln!(
            s,
            "             v2 store: {}{}",
            match b.v2_store_index {
                Some(i) => format!(
                    "{} keys as of index {i} ({} + {} WAL entries)",
                    b.v2_keys,
                    b.v2_snap.as_deref().unwrap_or("empty store"),
                    b.v2_entries_applied
                ),
                None => "not readable, membership only".into(),
            },
            b.v2_lost_after
                .map_or_else(String::new, |a| format!("; v2 writes after {a} LOST"))
        );
    }
    let _ = writeln!(
        s,
        "  result:    WAL ends at index {}, commit {}",
        opt(r.last_index),
        opt(r.commit)
    );
    for n in &r.next_steps {
        let _ = writeln!(s, "  next:      {n}");
    }
    s
}
