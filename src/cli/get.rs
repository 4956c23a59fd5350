//! `get`: one key's value, decoded for a person (or raw).

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::keys::{json_line, lease_cell, text_or_base64, ListFormat, Out};
use super::{EXIT_OK, EXIT_PROBLEMS};
use etcd_rescue::etcd::values::{self, Decoded};
use etcd_rescue::ops::get::{get, Found, GetReport};

/// Most bytes of a binary value shown as a hexdump (`--raw` writes all).
const HEXDUMP_MAX: usize = 64 * 1024;

pub(super) const GET_EXAMPLES: &str = "\
Examples:
  etcd-rescue get backup.db /registry/pods/default/nginx
  etcd-rescue get backup.db /config/app --rev 1200
  etcd-rescue get backup.db /registry/secrets/kube-system/token --raw > value.bin
  etcd-rescue get backup.db foo -w json | jq -r .value

The value is shown as: pretty-printed JSON; a Kubernetes object (apiVersion, kind,
namespace/name from the k8s protobuf envelope, then a hexdump); a kube-apiserver
encrypted value (provider and key name); text; or a hexdump.
Exit codes: 0 found, 1 the key does not exist at that revision (deleted or never
written), 2 could not read the file or revision compacted / in the future.";

#[derive(Debug, Args)]
pub(super) struct GetArgs {
    /// Snapshot file, bbolt db, member dir or data dir.
    path: PathBuf,
    /// The key (exact bytes of the argument; in bash, `$'\xff'` for binary).
    key: std::ffi::OsString,
    /// Revision to read at (0: current).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
    rev: i64,
    /// Write the value's bytes to stdout, nothing else.
    #[arg(long, conflicts_with = "write_out")]
    raw: bool,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum)]
    write_out: Option<ListFormat>,
}

#[derive(Serialize)]
struct GetJson<'s> {
    #[serde(flatten)]
    kv: super::keys::KvJson<'s>,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    k8s: Option<values::K8sObject<'s>>,
}

pub(super) fn run(a: &GetArgs) -> u8 {
    let mut out = Out::new();
    let r = match get(&a.path, a.key.as_encoded_bytes(), a.rev) {
        Ok(r) => r,
        Err(e) => return out.fail(&e),
    };
    let Found::Live {
        create_revision,
        mod_revision,
        version,
        lease,
        value,
    } = &r.found
    else {
        let why = match &r.found {
            Found::Deleted(d) => format!("was deleted at revision {}", d.main),
            _ => "does not exist".into(),
        };
        eprintln!(
            "{}: key \"{}\" {why} (read at revision {})",
            r.db_path.display(),
            values::printable(&r.key),
            r.rev
        );
        return EXIT_PROBLEMS;
    };
    let kv = etcd_rescue::formats::proto::KeyValueRef {
        key: &r.key,
        create_revision: *create_revision,
        mod_revision: *mod_revision,
        version: *version,
        value,
        lease: *lease,
    };
    let res = if a.raw {
        out.write(value)
    } else if a.write_out == Some(ListFormat::Json) {
        let d = values::decode(value);
        let j = GetJson {
            kv: super::keys::KvJson::new(&kv, true, false),
            kind: d.kind_name(),
            k8s: match d {
                Decoded::K8s(o) => Some(o),
                _ => None,
            },
        };
        json_line(&j).and_then(|l| out.line(&l))
    } else {
        out.write(render(&r, &kv).as_bytes())
    };
    match res.and_then(|()| out.flush()) {
        Ok(()) => EXIT_OK,
        Err(e) => out.fail(&e),
    }
}

/// The person-readable rendering.
fn render(r: &GetReport, kv: &etcd_rescue::formats::proto::KeyValueRef<'_>) -> String {
    let (key_text, _) = text_or_base64(kv.key);
    let mut s = format!(
        "key:      {}\nrevision: create {}, mod {}, version {}, lease {} (read at {})\n",
        key_text.map_or_else(|| values::printable(kv.key), str::to_owned),
        kv.create_revision,
        kv.mod_revision,
        kv.version,
        lease_cell(kv.lease),
        r.rev
    );
    let n = kv.value.len();
    let body = match values::decode(kv.value) {
        Decoded::Empty => {
            s.push_str("value:    empty\n");
            return s;
        }
        Decoded::Json(t) => {
            s.push_str(&format!("value:    {n} bytes, JSON\n"));
            values::pretty_json(t) + "\n"
        }
        Decoded::Text(t) => {
            s.push_str(&format!("value:    {n} bytes, text\n"));
            if t.ends_with('\n') {
                t.to_owned()
            } else {
                format!("{t}\n")
            }
        }
        Decoded::K8s(o) => {
            let name = match (o.namespace, o.name) {
                (Some(ns), Some(n)) if !ns.is_empty() => format!(" {ns}/{n}"),
                (_, Some(n)) => format!(" {n}"),
                _ => String::new(),
            };
            s.push_str(&format!(
                "value:    {n} bytes, Kubernetes object {} {}{name}{}\n",
                o.api_version.unwrap_or("?"),
                o.kind.unwrap_or("?"),
                o.content_encoding
                    .filter(|e| !e.is_empty())
                    .map(|e| format!(" (content encoding {e})"))
                    .unwrap_or_default()
            ));
            match values::proto_dump(o.raw) {
                Some(d) => format!(
                    "object fields (protobuf field numbers; names need the Kubernetes schema):\n{d}"
                ),
                None => values::hexdump(kv.value, HEXDUMP_MAX),
            }
        }
        Decoded::K8sEncrypted { provider, key_name } => {
            s.push_str(&format!(
                "value:    {n} bytes, encrypted by kube-apiserver (provider {provider}, key {}); reading it needs the encryption key\n",
                key_name.unwrap_or("?")
            ));
            values::hexdump(kv.value, HEXDUMP_MAX)
        }
        Decoded::Binary => {
            s.push_str(&format!("value:    {n} bytes, binary\n"));
            values::hexdump(kv.value, HEXDUMP_MAX)
        }
    };
    s.push_str("---\n");
    s.push_str(&body);
    s
}
