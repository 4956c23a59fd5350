//! `upgrade-check`: what stops data dirs from being started by etcd 3.6 or 3.7.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::wal::Format;
use super::{emit, print_error, EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE};
use etcd_rescue::ops::upgrade_check::{parse_target, upgrade_check, UpgradeCheckReport};

const HELP: &str = "\
Examples:
  etcd-rescue upgrade-check /var/lib/etcd --to 3.6
  etcd-rescue upgrade-check node1/ node2/ node3/ --to 3.7 -w json

Blockers (codes): upgrade.v2-custom-content (3.6 refuses v2 keys in the .snap it loads),
upgrade.storage-newer (meta/storageVersion above the target), upgrade.skips-minor,
upgrade.learner-mismatch, upgrade.member-only-in-v2, upgrade.member-only-in-v3 (the v2 store
and the db's members bucket disagree), upgrade.wal-newer-entries, upgrade.unreadable.
JSON (-w json): {format_version (1), target, verdict (ready|blocked), members: [{path,
  written_by_at_least, written_by_source, storage_version, blockers: [{code, message,
  action}], notes: [text]}]}.
Stop the members first (the files of a running etcd change under the check).
Exit codes: 0 ready, 1 blocked, 2 cannot read a path or bad usage.";

#[derive(Debug, Args)]
#[command(after_help = HELP)]
pub(super) struct UpgradeCheckArgs {
    /// Data dirs or member dirs (stopped members).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The etcd minor version to upgrade to: 3.6 or 3.7.
    #[arg(long = "to")]
    to: String,
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: Format,
}

pub(super) fn run(a: &UpgradeCheckArgs) -> u8 {
    let Some(target) = parse_target(&a.to) else {
        eprintln!("Error: --to {}: expected 3.6 or 3.7", a.to);
        return EXIT_UNREADABLE;
    };
    let r = match upgrade_check(&a.paths, target) {
        Ok(r) => r,
        Err(e) => {
            print_error(&e);
            return EXIT_UNREADABLE;
        }
    };
    let out = match a.write_out {
        Format::Json => serde_json::to_string_pretty(&r).unwrap_or_default() + "\n",
        Format::Table => render(&r),
    };
    if let Err(e) = emit(&out) {
        print_error(&e);
        return EXIT_UNREADABLE;
    }
    if r.verdict == "ready" {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    }
}

fn render(r: &UpgradeCheckReport) -> String {
    let mut o = String::new();
    for m in &r.members {
        let _ = writeln!(o, "{}", m.path.display());
        let _ = writeln!(
            o,
            "  written by  {}",
            match (&m.written_by_at_least, &m.written_by_source) {
                (Some(v), Some(s)) => format!("etcd {v} or newer (from {s})"),
                _ => "unknown".into(),
            }
        );
        let _ = writeln!(
            o,
            "  storage     {}",
            m.storage_version.as_deref().unwrap_or("-")
        );
        for b in &m.blockers {
            let _ = writeln!(
                o,
                "  BLOCKED  {}: {} (to do: {})",
                b.code, b.message, b.action
            );
        }
        for n in &m.notes {
            let _ = writeln!(o, "  note     {n}");
        }
        if m.blockers.is_empty() {
            let _ = writeln!(o, "  ready for {}", r.target);
        }
    }
    let _ = writeln!(o, "verdict: {} (upgrade to {})", r.verdict, r.target);
    o
}
