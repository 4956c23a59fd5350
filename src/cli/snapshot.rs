//! `snapshot status` and `snapshot restore`, etcdutl-compatible.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::output::{humanize_bytes, table, table_with, Align, Border};
use super::{
    emit, emit_with_notes, print_error, WriteOut, EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE,
};
use etcd_rescue::error::ErrorKind;
use etcd_rescue::etcd::status::{Compat, DbStatus};
use etcd_rescue::ops::restore::{restore, RestoreOptions, RestoreReport};
use etcd_rescue::ops::status::{live_note, status_observed, StatusOptions, StatusWarning};

#[derive(Debug, Subcommand)]
pub(super) enum SnapshotCommand {
    /// Print hash, revision, total keys and total size of a snapshot (as etcdutl does).
    #[command(after_help = STATUS_EXAMPLES)]
    Status(StatusArgs),
    /// Write a new etcd data dir (db, .snap, WAL) from a snapshot, as etcdutl does;
    /// with --out-dir, one data dir for every member of --initial-cluster.
    #[command(after_help = RESTORE_EXAMPLES)]
    Restore(RestoreArgs),
}

const RESTORE_EXAMPLES: &str = "\
Examples:
  etcd-rescue snapshot restore backup.db --data-dir /var/lib/etcd-new
  etcd-rescue snapshot restore backup.db --name n1 \\
      --initial-cluster n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380,n3=https://10.0.0.3:2380 \\
      --initial-advertise-peer-urls https://10.0.0.1:2380 --data-dir /var/lib/etcd-new
  etcd-rescue snapshot restore backup.db --out-dir restored \\
      --initial-cluster n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380,n3=https://10.0.0.3:2380
      # writes restored/n1.etcd, restored/n2.etcd, restored/n3.etcd from the same snapshot
  etcd-rescue snapshot restore member/snap/db --skip-hash-check --bump-revision 1000000000 --mark-compacted

Exit codes: 0 restored; 1 the snapshot was refused (bad sha256 trailer, damaged
structure), or, from a data dir, refused or restored without some committed
entries it could not replay (listed); 2 could not read, bad flags, or a
non-empty target.";

/// Output of `snapshot restore`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum RestoreOut {
    /// A table of members (name, id, data dir) and the cluster id.
    Table,
    /// JSON.
    Json,
}

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)]
pub(super) struct RestoreArgs {
    /// Snapshot file (`etcdctl snapshot save` output), a raw db with
    /// --skip-hash-check, or a data dir / member dir: its db with every
    /// committed WAL entry applied. Several member dirs: the best one is used.
    #[arg(required = true, num_args = 1..)]
    path: Vec<PathBuf>,
    /// Human-readable name of the member to restore.
    #[arg(long, default_value = etcd_rescue::ops::restore::DEFAULT_NAME)]
    name: String,
    /// Initial cluster configuration: name=peer-url,... (every member)
    /// [default: default=http://localhost:2380; required with --out-dir].
    #[arg(long)]
    initial_cluster: Option<String>,
    /// Initial cluster token (member and cluster ids depend on it).
    #[arg(long, default_value = etcd_rescue::etcd::member::DEFAULT_TOKEN)]
    initial_cluster_token: String,
    /// This member's peer URLs, comma-separated (must equal its --initial-cluster URLs).
    #[arg(long, default_value = etcd_rescue::ops::restore::DEFAULT_PEER_URL, value_delimiter = ',')]
    initial_advertise_peer_urls: Vec<String>,
    /// Data dir to create (must be absent or empty) [default: <name>.etcd].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// WAL dir to create (must be absent) [default: <data-dir>/member/wal].
    #[arg(long)]
    wal_dir: Option<PathBuf>,
    /// Write <out-dir>/<name>.etcd for EVERY member of --initial-cluster from this one
    /// snapshot (instead of --name/--data-dir/--wal-dir); start each member on its dir.
    #[arg(long, conflicts_with_all = ["data_dir", "wal_dir"])]
    out_dir: Option<PathBuf>,
    /// Accept a file without a sha256 trailer (a raw db copy), or do not verify it.
    #[arg(long)]
    skip_hash_check: bool,
    /// Add this much to the latest revision (with --mark-compacted), so that
    /// clients never see revisions go backwards.
    #[arg(long, default_value_t = 0)]
    bump_revision: u64,
    /// Mark revisions up to the bumped one compacted (with --bump-revision), so
    /// watchers re-list instead of missing events.
    #[arg(long)]
    mark_compacted: bool,
    /// Write what this etcdutl version's restore writes (3.5, 3.6, 3.7)
    /// [default: from the snapshot's storage version; none means 3.5]. 3.6 for
    /// a 3.7 snapshot is refused (etcd 3.6 will not start on it); 3.5 is allowed.
    #[arg(long, value_name = "VERSION", value_parser = parse_output_version)]
    output_version: Option<etcd_rescue::etcd::restore::OutputVersion>,
    /// Accepted for etcdutl compatibility and ignored: the input is read
    /// through a read-only map of its own size.
    #[arg(long, value_name = "BYTES")]
    initial_memory_map_size: Option<u64>,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: RestoreOut,
}

const STATUS_EXAMPLES: &str = "\
Examples:
  etcd-rescue snapshot status backup.db
  etcd-rescue snapshot status /var/lib/etcd -w table      # a data dir: uses member/snap/db
  etcd-rescue snapshot status backup.db -w json --verify-trailer";

/// Which etcd's meaning of TOTAL KEYS and the VERSION column to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum CompatArg {
    /// Follow the etcd that wrote the file (its `meta/storageVersion`: none → 3.5, 3.6 → 3.6, 3.7+ → 3.7).
    Auto,
    /// etcd 3.4/3.5: every pair of every bucket, no version column.
    #[value(name = "3.5")]
    V35,
    /// etcd 3.6: live user keys, with a version column.
    #[value(name = "3.6")]
    V36,
    /// etcd 3.7: as 3.6, with the table drawn in Unicode box characters.
    #[value(name = "3.7")]
    V37,
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
        SnapshotCommand::Restore(a) => run_restore(a),
    }
}

fn run_restore(a: RestoreArgs) -> u8 {
    let _ = a.initial_memory_map_size;
    let mut paths = a.path.into_iter();
    let o = RestoreOptions {
        snapshot: paths.next().unwrap_or_default(),
        more_inputs: paths.collect(),
        name: a.name,
        initial_cluster_given: a.initial_cluster.is_some(),
        initial_cluster: a
            .initial_cluster
            .unwrap_or_else(|| etcd_rescue::ops::restore::DEFAULT_INITIAL_CLUSTER.to_string()),
        token: a.initial_cluster_token,
        advertise_peer_urls: a.initial_advertise_peer_urls,
        data_dir: a.data_dir,
        wal_dir: a.wal_dir,
        out_dir: a.out_dir,
        skip_hash_check: a.skip_hash_check,
        bump_revision: a.bump_revision,
        mark_compacted: a.mark_compacted,
        output_version: a.output_version,
    };
    let size = std::fs::metadata(&o.snapshot)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map_or(0, |m| m.len());
    let spinner = super::progress::Spinner::start("restoring", size);
    let result = restore(&o);
    drop(spinner);
    match result {
        Ok(r) => {
            if let Err(e) = emit(&render_restore(&r, a.write_out)) {
                print_error(&e);
                return EXIT_UNREADABLE;
            }
            // From a data dir: committed entries that could not be replayed
            // (a 3.4 password, auth enable, ...) are missing from what was written.
            if r.replay.as_ref().is_some_and(|p| !p.not_applied.is_empty()) {
                EXIT_PROBLEMS
            } else {
                EXIT_OK
            }
        }
        Err(e) => {
            print_error(&e);
            if matches!(e.kind, ErrorKind::Refused(_)) {
                EXIT_PROBLEMS
            } else {
                EXIT_UNREADABLE
            }
        }
    }
}

fn parse_output_version(s: &str) -> Result<etcd_rescue::etcd::restore::OutputVersion, String> {
    use etcd_rescue::etcd::restore::OutputVersion;
    OutputVersion::parse(s)
        .ok_or_else(|| format!("expected one of {}", OutputVersion::NAMES.join(", ")))
}

fn render_restore(r: &RestoreReport, w: RestoreOut) -> String {
    match w {
        RestoreOut::Json => format!("{}\n", serde_json::to_string(r).unwrap_or_default()),
        RestoreOut::Table => {
            let rows: Vec<Vec<String>> = r
                .members
                .iter()
                .map(|m| {
                    vec![
                        m.name.clone(),
                        // As etcd prints it (`%x`, `etcdctl member list`); JSON keeps id_hex.
                        etcd_rescue::etcd::ids::id_x(m.id),
                        m.peer_urls.join(","),
                        m.data_dir.display().to_string(),
                    ]
                })
                .collect();
            let mut out = table(
                &["name", "member id", "peer urls", "data dir"],
                &rows,
                Align::Left,
            );
            out.push_str(&format!(
                "cluster id: {}\n",
                etcd_rescue::etcd::ids::id_x(r.cluster_id)
            ));
            out.push_str(&output_line(&r.output));
            if r.members.len() > 1 {
                out.push_str(
                    "start each member on its data dir with --name <name> and the same --initial-cluster and --initial-cluster-token\n",
                );
            }
            out.push_str(&format!(
                "revision: {}{}; consistent index: {}; hash check: {}\n",
                r.db.latest_revision,
                r.db.bumped_revision
                    .map(|b| format!(" (bumped to {b}, marked compacted)"))
                    .unwrap_or_default(),
                r.db.consistent_index,
                match r.hash_check {
                    etcd_rescue::ops::restore::HashCheck::Verified => "sha256 verified",
                    etcd_rescue::ops::restore::HashCheck::Skipped => "skipped (--skip-hash-check)",
                    etcd_rescue::ops::restore::HashCheck::Absent =>
                        "no trailer (--skip-hash-check)",
                    etcd_rescue::ops::restore::HashCheck::DataDir => "none (a data dir's db)",
                }
            ));
            if let Some(w) = &r.replay {
                out.push_str(&replay_lines(w));
            }
            out
        }
    }
}

/// What the WAL replay of a data-dir restore did, for people.
fn replay_lines(w: &etcd_rescue::ops::dir_restore::WalReplay) -> String {
    let mut out = String::new();
    if let Some(c) = &w.chosen {
        out.push_str(&format!(
            "restored from {} ({} inputs): {}\n",
            w.input.display(),
            c.candidates.len(),
            c.reason
        ));
    }
    let range = w
        .applied_range
        .map(|[a, b]| format!(" (index {a}..{b})"))
        .unwrap_or_default();
    out.push_str(&format!(
        "WAL replay: {} committed entries applied{range} after the db's consistent index {}, {} of them writes; revision {} -> {} (a restore of the db alone would stop at {})\n",
        w.entries_applied, w.consistent_index, w.writes, w.db_revision, w.revision_reached, w.db_revision
    ));
    if w.commit < w.consistent_index {
        out.push_str(&format!(
            "note: the WAL's readable commit {} is below the db's consistent index {}: the db already holds everything the WAL does; it was restored as it is\n",
            w.commit, w.consistent_index
        ));
    }
    match w.uncommitted_range {
        Some([a, b]) => out.push_str(&format!(
            "not applied: {} uncommitted entries (index {a}..{b}, past the WAL's commit {})\n",
            w.uncommitted, w.commit
        )),
        None => out.push_str("uncommitted entries: none\n"),
    }
    if let Some(c) = w.compaction {
        out.push_str(&format!("compaction applied at revision {c}\n"));
    }
    let list = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} x{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !w.not_applied.is_empty() {
        out.push_str(&format!(
            "warning: not replayed (their effect is missing from the output): {}\n",
            list(&w.not_applied)
        ));
    }
    if w.passwords_hashed > 0 {
        out.push_str(&format!(
            "auth: {} password(s) sent by etcd 3.4 bcrypt-hashed as etcd does at apply (new salt, same password)\n",
            w.passwords_hashed
        ));
    }
    if !w.refused.is_empty() {
        out.push_str(&format!(
            "refused by etcd's apply rules (no-ops, as in etcd): {}\n",
            list(&w.refused)
        ));
    }
    if w.auth_enabled {
        out.push_str(
            "note: auth was enabled (in the db or by a replayed entry); the replay assumed every request was permitted\n",
        );
    }
    out
}

fn run_status(a: &StatusArgs) -> u8 {
    let opts = StatusOptions {
        compat: match a.compat {
            CompatArg::Auto => None,
            CompatArg::V35 => Some(Compat::V35),
            CompatArg::V36 => Some(Compat::V36),
            CompatArg::V37 => Some(Compat::V37),
        },
        verify_trailer: a.verify_trailer,
    };
    let bar = super::progress::Bar::new("reading");
    let result = status_observed(&a.path, opts, bar.callback());
    bar.finish();
    match result {
        Ok(r) => {
            let warnings: Vec<String> = r
                .warnings
                .iter()
                .map(|w| status_warning(&r.db_path, w))
                .collect();
            emit_with_notes("warning", &warnings, &render_status(&r.status, a.write_out))
        }
        Err(e) => {
            // A file that fails the integrity check is refused like an unreadable
            // one: no status can be given for it (etcdutl also fails).
            print_error(&e);
            EXIT_UNREADABLE
        }
    }
}

/// A `snapshot status` warning in words, naming the db file.
fn status_warning(db_path: &std::path::Path, w: &StatusWarning) -> String {
    let at = db_path.display();
    match w {
        StatusWarning::Live { pid } => live_note(db_path, *pid),
        StatusWarning::MetaInvalid {
            slot,
            problem,
            chosen,
            txid,
        } => format!("{at}: meta page {slot} is invalid ({problem}); using meta page {chosen} (txid {txid})"),
        StatusWarning::Truncated {
            db_size,
            pgid,
            page_size,
            file_size,
        } => format!(
            "{at}: file is truncated: the db spans {db_size} bytes (high-water mark {pgid} x page size {page_size}), the file has {file_size}; pages past the end are missing (partial download or copy?)"
        ),
        StatusWarning::NewerThanKnown { version } => format!(
            "{at}: written by etcd {version} (meta/storageVersion), newer than any etcd this tool knows (3.4 to 3.7): the figures are computed with etcd 3.7's rules and printed as etcdutl 3.7 would; hash, revision and size do not depend on the version, but TOTAL KEYS and the output layout of etcdutl {version} may differ; use that version's etcdutl to confirm"
        ),
        StatusWarning::TrailerMismatch { stored, computed } => format!(
            "{at}: sha256 trailer does not match the file (stored {stored}, computed {computed}): the file was modified or damaged after it was saved"
        ),
    }
}

/// etcdutl's status output, byte for byte (`printer*.go` `DBStatus`).
pub(crate) fn render_status(s: &DbStatus, w: WriteOut) -> String {
    let v36 = s.compat.live_keys();
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
                let border = if s.compat == Compat::V37 {
                    Border::Box
                } else {
                    Border::Ascii
                };
                table_with(&headers, &[row], Align::Right, border)
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

/// Which etcdutl's output was written, and why.
fn output_line(o: &etcd_rescue::ops::restore::OutputChoice) -> String {
    let why = if o.forced {
        "forced by --output-version".to_string()
    } else if o.storage_version.is_empty() {
        "the snapshot has no storage version".to_string()
    } else {
        format!("the snapshot's storage version is {}", o.storage_version)
    };
    format!(
        "written as etcdutl {} restores ({why})\n",
        o.version.as_str()
    )
}
