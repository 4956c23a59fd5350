//! The command line: clap definitions, dispatch, rendering, exit codes.
//! Only this module prints.

mod check;
mod compare;
mod hashkv;
mod inspect;
pub mod output;
mod snapshot;
mod wal;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::error::Error;

/// Exit code: everything is fine.
pub const EXIT_OK: u8 = 0;
/// Exit code: the input was read and problems were found.
pub const EXIT_PROBLEMS: u8 = 1;
/// Exit code: the input could not be read, or bad usage.
pub const EXIT_UNREADABLE: u8 = 2;

/// Output format (`-w`/`--write-out`, as etcdutl names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WriteOut {
    /// One line, comma-separated.
    Simple,
    /// A bordered table.
    Table,
    /// JSON.
    Json,
    /// `"Field" : value` lines.
    Fields,
}

/// Read etcd's on-disk data without a running etcd.
#[derive(Debug, Parser)]
#[command(
    name = "etcd-rescue",
    version,
    about = "Read, check and restore etcd's on-disk data without a running etcd",
    after_help = "Exit codes: 0 ok, 1 problems found, 2 could not read or bad usage.\n\
                  Inputs are opened read-only and never locked; nothing is written except to a new path you name."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// etcdutl-compatible snapshot commands.
    #[command(subcommand)]
    Snapshot(snapshot::SnapshotCommand),
    /// Verify snapshots and dbs offline: trailer, bbolt structure, etcd schema.
    Check(check::CheckArgs),
    /// etcd's HashKV (MVCC hash of the key space) at a revision, offline.
    Hashkv(hashkv::HashKvArgs),
    /// Report what a data dir, member dir, WAL dir or snapshot file holds, and what disagrees.
    Inspect(inspect::InspectArgs),
    /// Compare stopped members and snapshots: identity, membership, data; best seed and bump.
    Compare(compare::CompareArgs),
    /// Write-ahead log commands.
    #[command(subcommand)]
    Wal(wal::WalCommand),
}

/// Prints an error once, on stderr, the way etcdutl does (`Error: ...`).
pub fn print_error(e: &Error) {
    let _ = writeln!(std::io::stderr(), "Error: {e}");
}

/// Writes to stdout; a closed pipe is not an error.
pub fn emit(s: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::new(crate::error::ErrorKind::Io {
                op: "write",
                message: e.to_string(),
            }))
        }
        _ => Ok(()),
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Snapshot(c) => snapshot::run(c),
        Command::Check(a) => check::run(&a),
        Command::Hashkv(a) => hashkv::run(&a),
        Command::Inspect(a) => inspect::run(&a),
        Command::Compare(a) => compare::run(&a),
        Command::Wal(c) => wal::run(c),
    };
    ExitCode::from(code)
}
