//! The command line: clap definitions, dispatch, rendering, exit codes.
//! Only this module prints.

mod check;
mod compare;
mod diff;
mod get;
mod hashkv;
mod inspect;
mod keys;
pub mod output;
pub mod progress;
mod salvage;
mod snapshot;
mod space;
pub mod style;
mod v2;
mod wal;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

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
    after_help = "Examples (recovering a cluster that lost quorum):\n  \
        etcd-rescue inspect /copies/node1 /copies/node2 /copies/node3     # what each member holds\n  \
        etcd-rescue compare /copies/node1 /copies/node2 /copies/node3     # who agrees, best seed, bump\n  \
        etcd-rescue check /backups/etcd-2026-11-21.db                     # is the snapshot sound?\n  \
        etcd-rescue snapshot restore /backups/etcd-2026-11-21.db --name n1 --initial-cluster ... \n\n\
        Exit codes: 0 ok, 1 problems found, 2 could not read or bad usage.\n\
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
    /// Recover what a damaged db still holds into a new, valid db.
    Salvage(salvage::SalvageArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  etcd-rescue completions bash > /etc/bash_completion.d/etcd-rescue\n  etcd-rescue completions zsh > \"${fpath[1]}/_etcd-rescue\"\n  etcd-rescue completions fish > ~/.config/fish/completions/etcd-rescue.fish"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout.
    #[command(
        after_help = "Example:\n  etcd-rescue man > /usr/local/share/man/man1/etcd-rescue.1"
    )]
    Man,
    /// etcd's HashKV (MVCC hash of the key space) at a revision, offline.
    Hashkv(hashkv::HashKvArgs),
    /// Report what a data dir, member dir, WAL dir or snapshot file holds, and what disagrees.
    Inspect(inspect::InspectArgs),
    /// Compare stopped members and snapshots: identity, membership, data; best seed and bump.
    Compare(compare::CompareArgs),
    /// Write-ahead log commands.
    #[command(subcommand)]
    Wal(wal::WalCommand),
    /// List the keyspace at a revision, or every stored revision of it.
    #[command(after_help = keys::KEYS_EXAMPLES)]
    Keys(keys::KeysArgs),
    /// Show one key's value, decoded for a person (JSON, Kubernetes, text, hexdump).
    #[command(after_help = get::GET_EXAMPLES)]
    Get(get::GetArgs),
    /// Keys added, removed and changed between two snapshots or members.
    #[command(after_help = diff::DIFF_EXAMPLES)]
    Diff(diff::DiffArgs),
    /// Where the bytes go: largest keys, most revisions, totals per prefix.
    #[command(after_help = space::SPACE_EXAMPLES)]
    Space(space::SpaceArgs),
    /// The v2 store (etcd 3.4/3.5 --enable-v2 keys, e.g. Patroni): ls, get.
    #[command(subcommand)]
    V2(v2::V2Command),
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

fn emit_bytes(b: &[u8]) -> u8 {
    match emit(&String::from_utf8_lossy(b)) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            print_error(&e);
            EXIT_UNREADABLE
        }
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Snapshot(c) => snapshot::run(c),
        Command::Check(a) => check::run(&a),
        Command::Salvage(a) => salvage::run(&a),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "etcd-rescue", &mut out);
            emit_bytes(&out)
        }
        Command::Man => {
            let mut out = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut out) {
                Ok(()) => emit_bytes(&out),
                Err(e) => {
                    eprintln!("Error: rendering the man page: {e}");
                    EXIT_UNREADABLE
                }
            }
        }
        Command::Hashkv(a) => hashkv::run(&a),
        Command::Inspect(a) => inspect::run(&a),
        Command::Compare(a) => compare::run(&a),
        Command::Wal(c) => wal::run(c),
        Command::Keys(a) => keys::run(&a),
        Command::Get(a) => get::run(&a),
        Command::Diff(a) => diff::run(&a),
        Command::Space(a) => space::run(&a),
        Command::V2(c) => v2::run(c),
    };
    ExitCode::from(code)
}
