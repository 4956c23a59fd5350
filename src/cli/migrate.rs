//! `migrate`: etcdutl migrate's storage-version change, into a new data dir.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{emit_written, print_error, EXIT_UNREADABLE};
use etcd_rescue::ops::migrate::{migrate, MigrateOptions, MigrateReport};

/// Output format of `migrate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum MigrateOut {
    /// A report for people.
    Table,
    /// JSON.
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Does what `etcdutl migrate --data-dir DIR --target-version X.Y` does to the
storage version (meta/storageVersion set to X.Y.0 for 3.6+, removed for 3.5),
but into the new data dir --out: the db rewritten, the .snap files and the
WAL (from --wal-dir when given) copied. The input is only read. A downgrade
is refused, as etcdutl refuses it, when the WAL after the last snapshot holds
entries that need a newer etcd than the target (or cannot be read); --force
sets the version anyway.

Examples:
  etcd-rescue migrate /var/lib/etcd --target-version 3.5 --out /var/lib/etcd-3.5
  etcd-rescue migrate /var/lib/etcd --wal-dir /wal --target-version 3.6 --out /srv/etcd-new")]
pub(super) struct MigrateArgs {
    /// The data dir (holds member/).
    data_dir: PathBuf,
    /// Target storage version: 3.5, 3.6 or 3.7.
    #[arg(long)]
    target_version: String,
    /// The new data dir to write (absent or empty).
    #[arg(long)]
    out: PathBuf,
    /// The WAL dir, when etcd ran with --wal-dir.
    #[arg(long)]
    wal_dir: Option<PathBuf>,
    /// Downgrade although the WAL check fails, or set a version outside the plan.
    #[arg(long)]
    force: bool,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: MigrateOut,
}

pub(super) fn run(a: MigrateArgs) -> u8 {
    let o = MigrateOptions {
        data_dir: a.data_dir,
        wal_dir: a.wal_dir,
        out: a.out,
        target: a.target_version,
        force: a.force,
    };
    let r = match migrate(&o) {
        Ok(r) => r,
        Err(e) => {
            print_error(&e);
            return EXIT_UNREADABLE;
        }
    };
    emit_written(&r, a.write_out == MigrateOut::Json, render, false)
}

fn render(r: &MigrateReport) -> String {
    let sv = if r.storage_version.is_empty() {
        "absent".to_string()
    } else {
        r.storage_version.clone()
    };
    format!(
        "storage version {} -> {}{} (meta/storageVersion: {sv})\nwritten: {} ({} files copied besides the db; WAL from {})\n",
        r.from,
        r.to,
        if r.forced { ", forced" } else { "" },
        r.out.display(),
        r.files_copied.len(),
        r.wal_dir.display(),
    )
}
