//! `diff`: keys added, removed and changed between two snapshots or members.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::keys::{json_line, KvJson, ListFormat, Out};
use super::{EXIT_OK, EXIT_PROBLEMS};
use etcd_rescue::error::Result;
use etcd_rescue::etcd::values::printable;
use etcd_rescue::ops::diff::{diff, Change, DiffOptions};

pub(super) const DIFF_EXAMPLES: &str = "\
Examples:
  etcd-rescue diff monday.db tuesday.db
  etcd-rescue diff /backup/member-1 /backup/member-2 --rev 5000   # two members at one revision
  etcd-rescue diff before.db after.db --prefix /registry/configmaps/ -w json | jq -c .
  etcd-rescue diff backup.db restored.db --ignore-revisions

Each side is read as etcd would serve it: at --rev, or each at its own current
revision. A key is changed when its value, lease, create/mod revision or version
differ (only value and lease with --ignore-revisions).
Output: '+' added (only in B), '-' removed (only in A), '~' changed, with the fields.
Exit codes, like diff(1): 0 no differences, 1 differences found, 2 could not read.";

#[derive(Debug, Args)]
pub(super) struct DiffArgs {
    /// The first snapshot, db, member dir or data dir (A).
    a: PathBuf,
    /// The second one (B).
    b: PathBuf,
    /// Read both sides at this revision (0: each at its current revision).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
    rev: i64,
    /// Only keys starting with this prefix.
    #[arg(long, default_value = "")]
    prefix: std::ffi::OsString,
    /// Compare values and leases only.
    #[arg(long)]
    ignore_revisions: bool,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
    write_out: ListFormat,
}

#[derive(Serialize)]
struct ChangeJson<'s> {
    change: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'s str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_base64: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    a: Option<KvJson<'s>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    b: Option<KvJson<'s>>,
}

pub(super) fn run(a: &DiffArgs) -> u8 {
    let opts = DiffOptions {
        rev: a.rev,
        prefix: a.prefix.as_encoded_bytes().to_vec(),
        ignore_revisions: a.ignore_revisions,
    };
    let mut out = Out::new();
    let json = a.write_out == ListFormat::Json;
    let mut lines: Vec<String> = Vec::new();
    let mut sink = |c: &Change<'_>| -> Result<()> {
        let (change, kv, fields, ka, kb) = match c {
            Change::Added(b) => ("added", b, Vec::new(), None, Some(b)),
            Change::Removed(a) => ("removed", a, Vec::new(), Some(a), None),
            Change::Changed { a, b, fields } => ("changed", a, fields.clone(), Some(a), Some(b)),
        };
        if json {
            let (key, key_base64) = super::keys::text_or_base64(kv.key);
            let j = ChangeJson {
                change,
                key,
                key_base64,
                fields,
                a: ka.map(|k| KvJson::new(k, false, false)),
                b: kb.map(|k| KvJson::new(k, false, false)),
            };
            return out.line(&json_line(&j)?);
        }
        let line = match c {
            Change::Added(b) => format!(
                "+ {}  (create {}, mod {}, version {}, {} bytes)",
                printable(b.key),
                b.create_revision,
                b.mod_revision,
                b.version,
                b.value.len()
            ),
            Change::Removed(a) => format!(
                "- {}  (mod {}, version {}, {} bytes)",
                printable(a.key),
                a.mod_revision,
                a.version,
                a.value.len()
            ),
            Change::Changed { a, b, fields } => format!(
                "~ {}  ({}; mod {} -> {}, {} -> {} bytes)",
                printable(a.key),
                fields.join(", "),
                a.mod_revision,
                b.mod_revision,
                a.value.len(),
                b.value.len()
            ),
        };
        lines.push(line);
        Ok(())
    };
    let s = match diff(&a.a, &a.b, &opts, &mut sink) {
        Ok(s) => s,
        Err(e) => return out.fail(&e),
    };
    let mut finish = || -> Result<()> {
        if !json {
            out.line(&format!("--- a: {} (revision {})", s.a.display(), s.a_rev))?;
            out.line(&format!("+++ b: {} (revision {})", s.b.display(), s.b_rev))?;
            for l in &lines {
                out.line(l)?;
            }
            out.line(&format!(
                "{} added, {} removed, {} changed, {} unchanged",
                s.added, s.removed, s.changed, s.unchanged
            ))?;
        }
        out.flush()
    };
    match finish() {
        Ok(()) if s.differs() => EXIT_PROBLEMS,
        Ok(()) => EXIT_OK,
        Err(e) => out.fail(&e),
    }
}
