//! `diff`: keys added, removed and changed between two snapshots or members.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::keys::{json_line, KvJson, ListFormat, Out};
use super::{EXIT_OK, EXIT_PROBLEMS};
use etcd_rescue::error::Result;
use etcd_rescue::etcd::values::printable;
use etcd_rescue::ops::diff::{diff, Change, DiffOptions};
use etcd_rescue::ops::k8s::LsFilter;

pub(super) const DIFF_EXAMPLES: &str = "\
Examples:
  etcd-rescue diff monday.db tuesday.db
  etcd-rescue diff /backup/member-1 /backup/member-2 --rev 5000   # two members at one revision
  etcd-rescue diff before.db after.db --prefix /registry/configmaps/ -w json | jq -c .
  etcd-rescue diff backup.db restored.db --ignore-revisions
  etcd-rescue diff monday.db tuesday.db --k8s -n shop             # Kubernetes objects, as k8s diff

Each side is read as etcd would serve it: at --rev, or each at its own current
revision. A key is changed when its value, lease, create/mod revision or version
differ (only value and lease with --ignore-revisions).
Output: '+' added (only in B), '-' removed (only in A), '~' changed, with the fields.
With --k8s the Kubernetes objects are compared instead of keys, decoded (and
decrypted with --encryption-config), by resource/namespace/name with the changed
fields, exactly as `etcd-rescue k8s diff A B` prints them; --prefix is then
kube-apiserver's --etcd-prefix (default /registry/).
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
    /// Only keys starting with this prefix (with --k8s: kube-apiserver's
    /// --etcd-prefix, default /registry/).
    #[arg(long)]
    prefix: Option<std::ffi::OsString>,
    /// Compare values and leases only.
    #[arg(long, conflicts_with = "k8s")]
    ignore_revisions: bool,
    /// Compare Kubernetes objects (added, removed, changed fields) instead of keys.
    #[arg(long)]
    k8s: bool,
    /// With --k8s: only this resource (kubectl's names and short names).
    #[arg(long, requires = "k8s")]
    resource: Option<String>,
    /// With --k8s: only this namespace.
    #[arg(short = 'n', long, requires = "k8s")]
    namespace: Option<String>,
    /// With --k8s: kube-apiserver's EncryptionConfiguration, to decrypt values.
    #[arg(long, value_name = "FILE", requires = "k8s")]
    encryption_config: Option<PathBuf>,
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
    if a.k8s {
        return super::k8s::diff_objects(super::k8s::ObjectDiff {
            a: &a.a,
            b: &a.b,
            prefix: a.prefix.as_ref().map(|p| p.to_string_lossy().into_owned()),
            rev: a.rev,
            filter: LsFilter {
                resource: a.resource.clone(),
                namespace: a.namespace.clone(),
            },
            encryption_config: a.encryption_config.as_deref(),
            write_out: a.write_out,
        });
    }
    let opts = DiffOptions {
        rev: a.rev,
        prefix: a
            .prefix
            .as_ref()
            .map(|p| p.as_encoded_bytes().to_vec())
            .unwrap_or_default(),
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
