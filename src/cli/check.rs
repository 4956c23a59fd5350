//! `check`: verify snapshots and dbs before trusting them.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::output::humanize_bytes;
use super::style::{paint, Style};
use super::{emit, print_error, EXIT_OK, EXIT_UNREADABLE};
use etcd_rescue::error::Severity;
use etcd_rescue::formats::trailer::Trailer;
use etcd_rescue::ops::check::{check_all, CheckOptions, CheckResult};
use etcd_rescue::ops::verdict::Verdict;

/// Output format of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum CheckOut {
    /// A report for people.
    Table,
    /// One JSON document: `{"sound": bool, "inputs": [...]}`.
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Checks: the sha256 trailer (saved snapshot, raw db copy, truncated or modified
file), both bbolt meta pages, the bbolt structural check (what `bbolt check`
finds, plus key order, without panicking where bbolt does), and etcd's schema:
revision keys and KeyValue records, tombstones, meta keys and compaction marks,
members, leases, auth and alarm records.

Verdicts (JSON `verdict`) and exit codes:
  sound             0  nothing to report
  sound-with-notes  0  usable as it is; the notes say what to know
  damaged           1  data lost or unverifiable; `next_steps` names the way out
  unusable          1  read, but etcd cannot use it (salvage may still recover keys)
A path that cannot be read at all exits 2.

JSON (-w json): {\"sound\", \"inputs\": [{\"path\", \"db_path\", \"file_kind\"
(saved-snapshot|raw-db-copy|truncated|extra-bytes|partial-trailer), \"sizes\",
\"trailer\" {\"state\", ...}, \"meta\", \"status\", \"facts\", \"keys\", \"pages\",
\"findings\" [{\"code\", \"severity\", \"at\" {\"file\", \"page\", \"offset\"}, \"message\"}],
\"suppressed\", \"sound\", \"verdict\", \"next_steps\" [strings]}]}; an input that
cannot be read is {\"path\", \"sound\": false, \"error\"}.

Examples:
  etcd-rescue check backup.db
  etcd-rescue check /backups/*.db -w json | jq '.inputs[] | select(.sound | not) | .path'
  etcd-rescue check /var/lib/etcd                     # the data dir's member/snap/db")]
pub(super) struct CheckArgs {
    /// Snapshot files, bbolt dbs, member dirs or data dirs.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: CheckOut,
    /// Skip the sha256 trailer verification (one pass over the file less).
    #[arg(long)]
    skip_hash_check: bool,
}

pub(super) fn run(a: &CheckArgs) -> u8 {
    let opts = CheckOptions {
        verify_trailer: !a.skip_hash_check,
    };
    let bar = super::progress::Bar::new("checking");
    let results = check_all(&a.paths, opts, bar.callback());
    bar.finish();
    let mut code = EXIT_OK;
    for r in &results {
        code = code.max(match r {
            Ok(c) => c.verdict.exit_code(),
            Err(_) => EXIT_UNREADABLE,
        });
    }
    let out = match a.write_out {
        CheckOut::Json => render_json(&a.paths, &results),
        CheckOut::Table => {
            let mut s = String::new();
            for (p, r) in a.paths.iter().zip(&results) {
                match r {
                    Ok(c) => s.push_str(&render_text(c)),
                    Err(e) => {
                        print_error(e);
                        let _ = writeln!(s, "{}: could not be read\n", p.display());
                    }
                }
            }
            s
        }
    };
    if let Err(e) = emit(&out) {
        print_error(&e);
        return EXIT_UNREADABLE;
    }
    code
}

fn render_text(c: &CheckResult) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", c.path.display());
    if c.db_path != c.path {
        let _ = writeln!(s, "  db:        {}", c.db_path.display());
    }
    let _ = writeln!(s, "  file:      {}", c.file_kind.describe());
    let trailer = match &c.trailer {
        Trailer::Absent => "absent".to_string(),
        Trailer::Unverified { .. } => "present, not verified".to_string(),
        Trailer::Valid { sha256 } => format!("valid (sha256 {sha256})"),
        Trailer::Mismatch { .. } => "MISMATCH".to_string(),
    };
    let _ = writeln!(s, "  trailer:   {trailer}");
    let _ = writeln!(
        s,
        "  size:      {} file, {} db ({} pages of {} bytes), meta {} in use (txid {})",
        humanize_bytes(c.sizes.file),
        humanize_bytes(c.sizes.db),
        c.sizes.pages,
        c.sizes.page_size,
        c.meta.chosen,
        c.meta.txid
    );
    if let Some(st) = &c.status {
        let _ = writeln!(
            s,
            "  status:    hash {:x}, revision {}, {} keys (etcdutl snapshot status)",
            st.hash, st.revision, st.total_key
        );
    }
    let (f, k) = (&c.facts, &c.keys);
    let opt = |v: Option<i64>| v.map_or("-".to_string(), |x| x.to_string());
    let _ = writeln!(
        s,
        "  keyspace:  {} revisions ({} tombstones), revisions {}..{}, compacted at {} (scheduled {})",
        k.key_entries,
        k.tombstones,
        opt(k.first_revision),
        opt(k.last_revision),
        opt(f.finished_compact_revision),
        opt(f.scheduled_compact_revision)
    );
    let _ = writeln!(
        s,
        "  raft:      consistent index {}, term {}",
        f.consistent_index.map_or("-".into(), |x| x.to_string()),
        f.term.map_or("-".into(), |x| x.to_string())
    );
    for fd in &c.findings {
        let sev = match fd.severity {
            Severity::Error => paint("error  ", Style::Bad),
            Severity::Warning => paint("warning", Style::Warn),
            Severity::Info => "info   ".to_string(),
        };
        let _ = writeln!(s, "  {sev}  {}: {}", fd.code, fd.message);
    }
    for (code, n) in &c.suppressed {
        let _ = writeln!(s, "  ...      {code}: {n} more not listed");
    }
    let style = match c.verdict {
        Verdict::Sound => Style::Good,
        Verdict::SoundWithNotes => Style::Warn,
        Verdict::Damaged | Verdict::Unusable => Style::Bad,
    };
    let _ = writeln!(s, "  verdict:   {}", paint(c.verdict.headline(), style));
    for step in &c.next_steps {
        let _ = writeln!(s, "  next:      {step}");
    }
    s.push('\n');
    s
}

fn render_json(
    paths: &[PathBuf],
    results: &[Result<CheckResult, etcd_rescue::error::Error>],
) -> String {
    let inputs: Vec<serde_json::Value> = paths
        .iter()
        .zip(results)
        .map(|(p, r)| match r {
            Ok(c) => serde_json::to_value(c).unwrap_or_default(),
            Err(e) => serde_json::json!({
                "path": p,
                "sound": false,
                "error": e.to_string(),
            }),
        })
        .collect();
    let sound = results.iter().all(|r| r.as_ref().is_ok_and(|c| c.sound));
    format!(
        "{}\n",
        serde_json::json!({ "sound": sound, "inputs": inputs })
    )
}
