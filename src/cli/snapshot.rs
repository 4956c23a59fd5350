//! `snapshot status` (and later `snapshot restore`), etcdutl-compatible.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::output::{humanize_bytes, table, Align};
use super::{emit, print_error, WriteOut, EXIT_OK, EXIT_UNREADABLE};
use crate::etcd::status::{Compat, DbStatus};
use crate::ops::status::{status_observed, StatusOptions};

#[derive(Debug, Subcommand)]
pub(super) enum SnapshotCommand {
    /// Print hash, revision, total keys and total size of a snapshot (as etcdutl does).
    #[command(after_help = STATUS_EXAMPLES)]
    Status(StatusArgs),
}

const STATUS_EXAMPLES: &str = "\
Examples:
  etcd-rescue snapshot status backup.db
  etcd-rescue snapshot status /var/lib/etcd -w table      # a data dir: uses member/snap/db
  etcd-rescue snapshot status backup.db -w json --verify-trailer";

/// Which etcd's meaning of TOTAL KEYS and the VERSION column to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum CompatArg {
    /// Follow the etcd that wrote the file (storage version 3.6+ → 3.6).
    Auto,
    /// etcd 3.4/3.5: every pair of every bucket, no version column.
    #[value(name = "3.5")]
    V35,
    /// etcd 3.6+: live user keys, with a version column.
    #[value(name = "3.6")]
    V36,
}

#[derive(Debug, Args)]
pub(super) struct StatusArgs {
    /// Snapshot file, bbolt db, member dir or data dir.
    path: PathBuf,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "simple")]
    write_out: WriteOut,
    /// Print as this etcd version's etcdutl would.
    #[arg(long, value_enum, default_value = "auto")]
    compat: CompatArg,
    /// Also verify the sha256 trailer of a saved snapshot (warns on stderr if it does not match).
    #[arg(long)]
    verify_trailer: bool,
}

pub(super) fn run(cmd: SnapshotCommand) -> u8 {
    match cmd {
        SnapshotCommand::Status(a) => run_status(&a),
    }
}

fn run_status(a: &StatusArgs) -> u8 {
    let opts = StatusOptions {
        compat: match a.compat {
            CompatArg::Auto => None,
            CompatArg::V35 => Some(Compat::V35),
            CompatArg::V36 => Some(Compat::V36),
        },
        verify_trailer: a.verify_trailer,
    };
    let bar = super::progress::Bar::new("reading");
    let result = status_observed(&a.path, opts, bar.callback());
    bar.finish();
    match result {
        Ok(r) => {
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
            if let Err(e) = emit(&render_status(&r.status, a.write_out)) {
                print_error(&e);
                return EXIT_UNREADABLE;
            }
            EXIT_OK
        }
        Err(e) => {
            // A file that fails the integrity check is refused like an unreadable
            // one: no status can be given for it (etcdutl also fails).
            print_error(&e);
            EXIT_UNREADABLE
        }
    }
}

/// etcdutl's status output, byte for byte (`printer*.go` `DBStatus`).
pub(crate) fn render_status(s: &DbStatus, w: WriteOut) -> String {
    let v36 = s.compat == Compat::V36;
    match w {
        WriteOut::Simple | WriteOut::Table => {
            let mut headers = vec!["hash", "revision", "total keys", "total size"];
            let mut row = vec![
                format!("{:x}", s.hash),
                s.revision.to_string(),
                s.total_key.to_string(),
                humanize_bytes(s.total_size),
            ];
            if v36 {
                headers.push("version");
                row.push(s.version.clone());
            }
            if w == WriteOut::Simple {
                format!("{}\n", row.join(", "))
            } else {
                table(&headers, &[row], Align::Right)
            }
        }
        WriteOut::Json => {
            // Field order and names of etcdutl's `snapshot.Status` JSON.
            #[derive(serde::Serialize)]
            #[serde(rename_all = "camelCase")]
            struct Json<'s> {
                hash: u32,
                revision: i64,
                total_key: u64,
                total_size: u64,
                #[serde(skip_serializing_if = "Option::is_none")]
                version: Option<&'s str>,
            }
            let j = Json {
                hash: s.hash,
                revision: s.revision,
                total_key: s.total_key,
                total_size: s.total_size,
                version: v36.then_some(s.version.as_str()),
            };
            format!("{}\n", serde_json::to_string(&j).unwrap_or_default())
        }
        WriteOut::Fields => {
            let mut out = format!(
                "\"Hash\" : {}\n\"Revision\" : {}\n\"Keys\" : {}\n\"Size\" : {}\n",
                s.hash, s.revision, s.total_key, s.total_size
            );
            if v36 {
                out.push_str(&format!("\"Version\" : {}\n", s.version));
            }
            out
        }
    }
}
