//! `wal dump`: every WAL record, decoded.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::{emit, print_error, EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE};
use crate::error::Severity;
use crate::ops::wal::{dump, Body, DumpOptions, DumpReport};

/// Output format of the inspection commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Format {
    /// Text for people.
    Table,
    /// JSON (stable schema, see `--help`).
    Json,
}

#[derive(Debug, Subcommand)]
pub(super) enum WalCommand {
    /// Decode every record and entry of a WAL (like etcd-dump-logs).
    #[command(after_help = DUMP_HELP)]
    Dump(DumpArgs),
}

const DUMP_HELP: &str = "\
Examples:
  etcd-rescue wal dump /var/lib/etcd                     # data dir: member/wal
  etcd-rescue wal dump /var/lib/etcd/member/wal -w json --type put,delete_range,txn
  etcd-rescue wal dump member/wal --start-index 1000 --end-index 1100
  etcd-rescue wal dump member/wal --raw                  # go on past CRC mismatches

JSON (-w json): one object per line. Records: {\"file\", \"offset\", \"type\"
(metadata|entry|state|crc|snapshot|unknown), \"crc\", \"crc_ok\", ...}; metadata adds
\"member_id\", \"cluster_id\" (16-digit hex); entry adds \"term\", \"index\", \"entry_type\",
\"committed\", \"superseded\", \"kind\" (noop|conf_change|conf_change_v2|request|v2|unknown);
a request adds \"request\" (put|delete_range|txn|compaction|lease_grant|lease_revoke|alarm|auth_*|
cluster_version_set|...), \"request_id\" and \"irr\" (the decoded InternalRaftRequest), a v2 entry adds
\"v2\" (method, path, val, ...), a conf change adds \"change\", \"member_id\", \"context\"; state adds \"term\", \"vote\" (hex),
\"commit\"; snapshot adds \"index\", \"term\", \"voters\", \"learners\". Then one line per
finding: {\"type\":\"finding\", \"code\", \"severity\", \"at\", \"message\"}, and a last line
{\"type\":\"end\", \"stop\":{\"reason\":...}, \"records\": n}.
--type takes record types (metadata, entry, state, crc, snapshot) or entry kinds and
request names (conf_change, v2, noop, put, txn, ...), comma-separated.
Exit codes: 0 read to the end (a torn last record is normal), 1 corruption found, 2 unreadable.";

#[derive(Debug, Args)]
pub(super) struct DumpArgs {
    /// WAL dir, a single .wal file, a member dir or a data dir.
    path: PathBuf,
    /// Only entries with index ≥ N.
    #[arg(long, value_name = "N")]
    start_index: Option<u64>,
    /// Only entries with index ≤ N.
    #[arg(long, value_name = "N")]
    end_index: Option<u64>,
    /// Only these record types or entry kinds (comma-separated).
    #[arg(long = "type", value_delimiter = ',', value_name = "TYPE")]
    types: Vec<String>,
    /// Go on past CRC mismatches and damaged frames, reporting each with file and offset.
    #[arg(long)]
    raw: bool,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: Format,
}

pub(super) fn run(cmd: WalCommand) -> u8 {
    match cmd {
        WalCommand::Dump(a) => run_dump(&a),
    }
}

fn run_dump(a: &DumpArgs) -> u8 {
    let opts = DumpOptions {
        raw: a.raw,
        start_index: a.start_index,
        end_index: a.end_index,
        types: a.types.clone(),
    };
    let r = match dump(&a.path, &opts) {
        Ok(r) => r,
        Err(e) => {
            print_error(&e);
            return EXIT_UNREADABLE;
        }
    };
    let out = match a.write_out {
        Format::Json => render_json(&r),
        Format::Table => render_table(&r),
    };
    if let Err(e) = emit(&out) {
        print_error(&e);
        return EXIT_UNREADABLE;
    }
    if r.findings.iter().any(|f| f.severity == Severity::Error) {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    }
}

fn render_json(r: &DumpReport) -> String {
    let mut out = String::new();
    for rec in &r.records {
        out.push_str(&serde_json::to_string(rec).unwrap_or_default());
        out.push('\n');
    }
    for f in &r.findings {
        let v = serde_json::json!({
            "type": "finding",
            "code": f.code,
            "severity": f.severity,
            "at": f.at,
            "message": f.message,
        });
        out.push_str(&v.to_string());
        out.push('\n');
    }
    let end = serde_json::json!({"type": "end", "stop": r.stop, "records": r.records.len()});
    out.push_str(&end.to_string());
    out.push('\n');
    out
}

fn render_table(r: &DumpReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "WAL {}", r.wal.display());
    for f in &r.files {
        let _ = writeln!(
            out,
            "  {} seq={} first-index={} size={}",
            f.name, f.seq, f.first_index, f.size
        );
    }
    let _ = writeln!(out, "FILE   OFFSET     TYPE        TERM    INDEX  DATA");
    let file_no = |name: &str| r.files.iter().position(|f| f.name == name).unwrap_or(0);
    for rec in &r.records {
        let (term, index, text) = match &rec.body {
            Body::Metadata(m) => (
                String::new(),
                String::new(),
                format!(
                    "member_id={:016x} cluster_id={:016x}",
                    m.node_id, m.cluster_id
                ),
            ),
            Body::Entry {
                term,
                index,
                committed,
                superseded,
                payload,
                ..
            } => {
                let mut t = payload.summary();
                if !committed {
                    t.push_str("  [uncommitted]");
                }
                if *superseded {
                    t.push_str("  [superseded]");
                }
                (term.to_string(), index.to_string(), t)
            }
            Body::State { term, vote, commit } => (
                String::new(),
                String::new(),
                format!("term={term} vote={vote} commit={commit}"),
            ),
            Body::Crc {} => (String::new(), String::new(), format!("crc={:08x}", rec.crc)),
            Body::Snapshot {
                index,
                term,
                voters,
                ..
            } => (
                String::new(),
                String::new(),
                format!(
                    "snapshot term={term} index={index}{}",
                    voters
                        .as_ref()
                        .map(|v| format!(" voters={}", v.join(",")))
                        .unwrap_or_default()
                ),
            ),
            Body::Undecodable { error } => (
                String::new(),
                String::new(),
                format!("undecodable: {error}"),
            ),
        };
        let crc = if rec.crc_ok { "" } else { "  [CRC MISMATCH]" };
        let tname = serde_json::to_value(rec.rtype)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<6} {:<10} {:<9} {:>6} {:>8}  {}{}",
            file_no(&rec.file),
            format!("{:#x}", rec.offset),
            tname,
            term,
            index,
            text,
            crc
        );
    }
    let _ = writeln!(
        out,
        "{} records; stop: {}",
        r.records.len(),
        serde_json::to_string(&r.stop).unwrap_or_default()
    );
    for f in &r.findings {
        let _ = writeln!(out, "{:?}: {}: {}: {}", f.severity, f.code, f.at, f.message);
    }
    out
}
