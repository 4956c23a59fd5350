//! The command line: clap definitions, dispatch, rendering, exit codes.
//! Only this module prints.

mod check;
mod compact;
mod compare;
mod diff;
mod get;
mod hashkv;
mod inspect;
mod k8s;
mod keys;
mod migrate;
pub mod output;
mod patroni;
pub mod progress;
mod repair;
mod salvage;
mod snapshot;
mod space;
pub mod style;
mod upgrade_check;
mod v2;
mod wal;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use etcd_rescue::error::Error;

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

/// Commands, in the order of a recovery: look, compare, check, restore
/// (or salvage), then the tools for a closer look.
#[derive(Debug, Subcommand)]
enum Command {
    /// Report what a data dir, member dir, WAL dir or snapshot file holds, and what disagrees.
    Inspect(inspect::InspectArgs),
    /// Compare stopped members and snapshots: identity, membership, data; best seed and bump.
    Compare(compare::CompareArgs),
    /// Verify snapshots and dbs offline: trailer, bbolt structure, etcd schema.
    Check(check::CheckArgs),
    /// etcdutl-compatible snapshot commands.
    #[command(subcommand)]
    Snapshot(snapshot::SnapshotCommand),
    /// Recover what a damaged db still holds into a new, valid db.
    Salvage(salvage::SalvageArgs),
    /// etcd's compaction at a revision, offline, written compactly into a new db file.
    Compact(compact::CompactArgs),
    /// etcd's defragmentation, offline: a compact copy of the db in a new file.
    Defrag(compact::DefragArgs),
    /// Repair a member's db or WAL into a new path that etcd starts from.
    #[command(subcommand)]
    Repair(repair::RepairCommand),
    /// Change a data dir's storage version (as etcdutl migrate), into a new data dir.
    Migrate(migrate::MigrateArgs),
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
    /// etcd's HashKV (MVCC hash of the key space) at a revision, offline.
    Hashkv(hashkv::HashKvArgs),
    /// The v2 store (etcd 3.4/3.5 --enable-v2 keys, e.g. Patroni): ls, get.
    #[command(subcommand)]
    V2(v2::V2Command),
    /// Patroni (PostgreSQL HA) clusters in etcd: members, leader, history, config, advisories.
    #[command(after_help = patroni::EXAMPLES)]
    Patroni(patroni::PatroniArgs),
    /// Kubernetes objects: list, decode (and decrypt), usage, at any revision.
    #[command(subcommand, after_help = k8s::K8S_EXAMPLES)]
    K8s(k8s::K8sCommand),
    /// What stops stopped members from being upgraded to etcd 3.6 or 3.7, each with what to do.
    UpgradeCheck(upgrade_check::UpgradeCheckArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  etcd-rescue completions bash > /etc/bash_completion.d/etcd-rescue\n  etcd-rescue completions zsh > \"${fpath[1]}/_etcd-rescue\"\n  etcd-rescue completions fish > ~/.config/fish/completions/etcd-rescue.fish"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout, or write one page per command.
    #[command(
        after_help = "Examples:\n  etcd-rescue man > /usr/local/share/man/man1/etcd-rescue.1\n  etcd-rescue man --out-dir /usr/local/share/man/man1     # etcd-rescue.1 and etcd-rescue-<command>.1 for every command"
    )]
    Man {
        /// Write etcd-rescue.1 and a page for every command (etcd-rescue-check.1, ...)
        /// into this dir (new or empty) instead of printing the main page.
        #[arg(long)]
        out_dir: Option<std::path::PathBuf>,
    },
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
            Err(Error::new(etcd_rescue::error::ErrorKind::Io {
                op: "write",
                message: e.to_string(),
            }))
        }
        _ => Ok(()),
    }
}

/// The end of a command that read its input: each of `notes` on stderr as
/// `<label>: <note>`, then `text` on stdout; the exit code.
pub fn emit_with_notes(label: &str, notes: &[String], text: &str) -> u8 {
    for n in notes {
        eprintln!("{label}: {n}");
    }
    match emit(text) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            print_error(&e);
            EXIT_UNREADABLE
        }
    }
}

/// The end of a command that wrote a new file or dir: its report as one JSON
/// line or as `table` renders it, on stdout; exit 1 when `lost` (the report
/// says something could not be carried over), else 0.
pub fn emit_written<R: serde::Serialize>(
    r: &R,
    json: bool,
    table: impl FnOnce(&R) -> String,
    lost: bool,
) -> u8 {
    let text = if json {
        format!("{}\n", serde_json::to_string(r).unwrap_or_default())
    } else {
        table(r)
    };
    match emit(&text) {
        Ok(()) if lost => EXIT_PROBLEMS,
        Ok(()) => EXIT_OK,
        Err(e) => {
            print_error(&e);
            EXIT_UNREADABLE
        }
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

/// Writes the main page and one page per command into `dir` (new or empty),
/// so that every page the main page names exists.
fn man_pages(dir: &std::path::Path) -> u8 {
    let non_empty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
    if non_empty {
        eprintln!(
            "Error: --out-dir {} is not empty; name a new or empty dir (then copy the pages where man finds them)",
            dir.display()
        );
        return EXIT_UNREADABLE;
    }
    let written =
        std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(Cli::command(), dir));
    match written {
        Ok(()) => {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .map(|d| {
                    d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            emit_bytes(format!("{}\n", names.join("\n")).as_bytes())
        }
        Err(e) => {
            eprintln!("Error: writing the man pages into {}: {e}", dir.display());
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
        Command::Migrate(a) => migrate::run(a),
        Command::Compact(a) => compact::run_compact(&a),
        Command::Defrag(a) => compact::run_defrag(&a),
        Command::Repair(c) => repair::run(c),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "etcd-rescue", &mut out);
            emit_bytes(&out)
        }
        Command::Man { out_dir: Some(dir) } => man_pages(&dir),
        Command::Man { out_dir: None } => {
            let mut out = Vec::new();
            let cmd = Cli::command().disable_help_subcommand(true);
            match clap_mangen::Man::new(cmd).render(&mut out) {
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
        Command::K8s(c) => k8s::run(&c),
        Command::V2(c) => v2::run(c),
        Command::Patroni(a) => patroni::run(&a),
        Command::UpgradeCheck(a) => upgrade_check::run(&a),
    };
    ExitCode::from(code)
}
