//! `wal dump`: every WAL record, decoded.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::{print_error, EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE};
use etcd_rescue::error::Severity;
use etcd_rescue::etcd::ids::id_x;
use etcd_rescue::ops::inspect::action_for;
use etcd_rescue::ops::wal::{dump_to, Body, DumpEvent, DumpOptions, DumpRecord};

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

/// Buffered stdout that stops quietly on a closed pipe.
struct Out {
    w: std::io::BufWriter<std::io::StdoutLock<'static>>,
    failed: Option<std::io::Error>,
}

impl Out {
    fn new() -> Out {
        Out {
            w: std::io::BufWriter::new(std::io::stdout().lock()),
            failed: None,
        }
    }

    fn line(&mut self, s: &str) {
        use std::io::Write;
        if self.failed.is_none() {
            if let Err(e) = self
                .w
                .write_all(s.as_bytes())
                .and_then(|()| self.w.write_all(b"\n"))
            {
                self.failed = Some(e);
            }
        }
    }

    fn finish(mut self) -> Result<(), etcd_rescue::error::Error> {
        use std::io::Write;
        let r = match self.failed.take() {
            Some(e) => Err(e),
            None => self.w.flush(),
        };
        match r {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(
                etcd_rescue::error::Error::new(etcd_rescue::error::ErrorKind::Io {
                    op: "write",
                    message: e.to_string(),
                }),
            ),
            _ => Ok(()),
        }
    }
}

fn run_dump(a: &DumpArgs) -> u8 {
    let opts = DumpOptions {
        raw: a.raw,
        start_index: a.start_index,
        end_index: a.end_index,
        types: a.types.clone(),
    };
    let mut out = Out::new();
    let mut file_names: Vec<String> = Vec::new();
    let res = dump_to(&a.path, &opts, |ev| match ev {
        DumpEvent::Start { wal, files } => {
            file_names = files.iter().map(|f| f.name.clone()).collect();
            if a.write_out == Format::Table {
                out.line(&format!("WAL {}", wal.display()));
                for f in files {
                    out.line(&format!(
                        "  {} seq={} first-index={} size={}",
                        f.name, f.seq, f.first_index, f.size
                    ));
                }
                out.line("FILE   OFFSET     TYPE        TERM    INDEX  DATA");
            }
        }
        DumpEvent::Record(rec) => match a.write_out {
            Format::Json => out.line(&serde_json::to_string(&rec).unwrap_or_default()),
            Format::Table => out.line(&table_line(&rec, &file_names)),
        },
    });
    let r = match res {
        Ok(r) => r,
        Err(e) => {
            print_error(&e);
            return EXIT_UNREADABLE;
        }
    };
    match a.write_out {
        Format::Json => {
            for f in &r.findings {
                let v = serde_json::json!({
                    "type": "finding",
                    "code": f.code,
                    "severity": f.severity,
                    "at": f.at,
                    "message": f.message,
                    "action": action_for(f.code),
                });
                out.line(&v.to_string());
            }
            out.line(
                &serde_json::json!({"type": "end", "stop": r.stop, "records": r.shown}).to_string(),
            );
        }
        Format::Table => {
            out.line(&format!(
                "{} records; stop: {}",
                r.shown,
                serde_json::to_string(&r.stop).unwrap_or_default()
            ));
            for f in &r.findings {
                out.line(&format!(
                    "{:?}: {}: {}: {}",
                    f.severity, f.code, f.at, f.message
                ));
                let action = action_for(f.code);
                if !action.is_empty() {
                    out.line(&format!("  -> {action}"));
                }
            }
        }
    }
    if let Err(e) = out.finish() {
        print_error(&e);
        return EXIT_UNREADABLE;
    }
    if r.findings.iter().any(|f| f.severity == Severity::Error) {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    }
}

fn table_line(rec: &DumpRecord, files: &[String]) -> String {
    let file_no = files.iter().position(|f| *f == rec.file).unwrap_or(0);
    let (term, index, text) = match &rec.body {
        Body::Metadata(m) => (
            String::new(),
            String::new(),
            format!(
                "member_id={} cluster_id={}",
                id_x(m.node_id),
                id_x(m.cluster_id)
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
    format!(
        "{:<6} {:<10} {:<9} {:>6} {:>8}  {}{}",
        file_no,
        format!("{:#x}", rec.offset),
        tname,
        term,
        index,
        text,
        crc
    )
}
